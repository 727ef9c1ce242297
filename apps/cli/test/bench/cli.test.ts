import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ablationArgs, ENTRY } from './ablation-cli.js';

describe('vlfer bench ablations command line', () => {
  it('ends quietly with its own status when its stdout is closed (`| head -1`, `| true`), without an EPIPE trace', async () => {
    const p = spawnCli(ENTRY, ['--list']);
    p.stdout.destroy(); // the reader goes away before the list is written
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((r) => p.on('close', r));
    expect([code, stderr]).toEqual([0, '']);
  });
  it('names a bad data config in a message, without a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-bench-cli-'));
    const file = join(dir, 'bench-data.json');
    writeFileSync(file, JSON.stringify({ videoSets: { mafw: { train: 'a.txt' } } }));
    const r = runCli(ENTRY, ['--data-config', file, '--results', join(dir, 'results')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vlfer: .*bench-data\.json: invalid bench data config:\n {2}videoSets\.mafw\.test: /);
    expect(r.stderr).not.toMatch(/\n\s+at .*\.ts:\d+/);
  }, 60_000);

  it('bench paper: a missing data root exits 1 naming the path (it exited 0 with every dataset skipped)', () => {
    const gone = join(mkdtempSync(join(tmpdir(), 'vlfer-bench-cli-')), 'no-such-root');
    const r = runCli('apps/cli/test/bench/paper-entry.ts', ['exp-clip-table2', '--data-root', gone]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `vlfer: --data-root: the data root ${gone} does not exist (given): give the folder that holds the datasets (--data-root or $VLFER_DATA)\n`,
    );
    expect(r.stdout).toBe('');
    // an empty --data-root (an unset variable) was read as the config's own root; hesp-table's flags for another table
    const empty = runCli('apps/cli/test/bench/paper-entry.ts', ['exp-clip-table2', '--data-root', '']);
    expect(empty.stderr).toBe('vlfer: --data-root: an empty path (an unset variable?)\n');
    const epochs = runCli('apps/cli/test/bench/paper-entry.ts', ['exp-clip-table2', '--epochs', '3']);
    expect(epochs.stderr).toBe('vlfer: --epochs: only with hesp-table\n');
  }, 60_000);
  it('flags that would do nothing or contradict each other, empty paths and a missing test set are refused by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-bench-cli-'));
    const only = ['--only', 'exp-clip-zero-shot/prompt-x-preprocess', '--results', join(dir, 'r')];
    const refusals: [string[], string][] = [
      [[...only, '--cpus', '8'], '--cpus: only with --emit'], // the whole grid ran here
      [
        [...only, '--emit', 'slurm', '--shard', '0/2'],
        '--emit: writes job files for every shard and the merge; leave out --shard',
      ],
      [
        [...only, '--emit', 'slurm', '--merge', '3'],
        '--emit: writes job files for every shard and the merge; leave out --merge',
      ],
      [[...only, '--shard', '0/2', '--merge', '2'], '--merge: merges the shards once all have run; leave out --shard'],
      [[...only, '--emit', 'k8s', '--time', '01:00:00'], '--time: only with --emit slurm'],
      [['--list', '--no-progress'], '--no-progress: only with runs or --emit (not --list or --merge)'],
      [[...only, '--emit', 'slurm', '--time', '99:99:99'], '--time: "99:99:99" is not a SLURM time limit'],
      [['--only', '', '--results', join(dir, 'r')], "--only: unknown ablation ''"], // it ran the default set
      [[...only, '--cache-dir', ''], '--cache-dir: an empty path (an unset variable?)'],
      [[...only, '--cache-dir', join(dir, 'file')], `--cache-dir: ${join(dir, 'file')} is a file`],
      // the pipeline's own option (`--root`) is no flag of bench: the shared assets are named instead
      [
        [...only, '--shared', join(dir, 'none')],
        `exp-clip-zero-shot/prompt-x-preprocess: the test set 'fer2013' at ${join(dir, 'none', 'data', 'fer2013-privatetest')} does not exist (in the shared assets: shared is ${join(dir, 'none')})`,
      ],
    ];
    writeFileSync(join(dir, 'file'), '');
    for (const [args, message] of refusals) {
      const r = runCli(ENTRY, args);
      expect([r.code, r.stderr.trim().split('\n').at(-1)], args.join(' ')).toEqual([
        1,
        expect.stringContaining(`vlfer: ${message}`),
      ]);
    }
    // unset VLFER_SHARD_COUNT beside JOB_COMPLETION_INDEX is named as the variable, not an internal function
    const env = runCli(ENTRY, only, { env: { JOB_COMPLETION_INDEX: '1' } });
    expect(env.stderr).toMatch(/^vlfer: environment variable VLFER_SHARD_COUNT: must be set/);
  }, 120_000);

  it("draws each run's pipeline progress on stderr, none with --no-progress (passed on to the jobs of --emit)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-bench-progress-'));
    const args = ablationArgs(join(dir, 'r'), { limit: 8 });
    const bars = runCli(ENTRY, args);
    expect(bars.code, bars.stderr).toBe(0);
    expect(bars.stderr).toMatch(/^\[1\/10\] exp-clip-zero-shot\/prompt-x-preprocess\|/);
    expect(bars.stderr).toMatch(/\nencode \[█+\] 100% \| 8\/8 images \|/);
    expect(bars.stderr).toMatch(/\nexp-clip-zero-shot\/prompt-x-preprocess: 10 runs, 0 already finished\n/);
    const quiet = runCli(
      ENTRY,
      ablationArgs(join(dir, 'q'), { limit: 8, cacheDir: join(dir, 'r', 'cache') }).concat('--no-progress'),
    );
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toMatch(/^\[1\/10\] /);
    expect(quiet.stderr).not.toMatch(/encode \[|images\/s/);
    const emit = runCli(ENTRY, [
      ...ablationArgs(join(dir, 'q')),
      '--emit',
      'slurm',
      '--emit-dir',
      join(dir, 'jobs'),
      '--no-progress',
    ]);
    expect(emit.code, emit.stderr).toBe(0);
    expect(readFileSync(join(dir, 'jobs', 'array.sbatch'), 'utf8')).toMatch(/ --no-progress\n/);
    // the merge job runs nothing: it gets no --no-progress, which it would refuse
    const merge = readFileSync(join(dir, 'jobs', 'merge.sbatch'), 'utf8');
    expect(merge).toMatch(/ --merge 4\n/);
    expect(merge).not.toMatch(/--no-progress/);
  }, 120_000);
  it('commander errors of bench carry the vlfer: prefix; help shows defaults as typed', () => {
    const bad = runCli(ENTRY, ['--shards', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^vlfer: option '--shards <n>' argument 'x' is invalid/);
    const help = runCli(ENTRY, ['--help']);
    expect(help.stdout).toMatch(/--results <dir> +results directory \(default: results\)/);
    expect(help.stdout).toMatch(/--job-command <words>[\s\S]*\(default: npx --no-install vlfer bench ablations\)/);
    expect(help.stdout).not.toMatch(/default: "/);
  }, 60_000);
});
