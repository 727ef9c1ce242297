/**
 * A real SLURM run of an emitted array job (Debian slurm-wlm + munge, a private single-node cluster started by
 * tooling/slurm/start-cluster.sh as root). Runs when the SLURM daemons are installed and the tests run as root;
 * otherwise the test is reported as skipped with that reason in its name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runCli, sharedPath } from '@vlfer/test-utils';
import { afterAll, describe, expect, it } from 'vitest';

const have = (b: string) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0;
const missing = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol'].filter((b) => !have(b));
const reason = missing.length
  ? `not installed: ${missing.join(', ')} (apt-get install slurm-wlm munge)`
  : process.getuid?.() !== 0
    ? 'not root (slurmd runs jobs as root here)'
    : '';
const entry = 'apps/bench/src/bench-ablations.ts';
const work = mkdtempSync(join(tmpdir(), 'vlfer-slurm-test-'));
const cluster = join(work, 'cluster');
const common = (results: string) => [
  '--only',
  'exp-clip-zero-shot/prompt-x-preprocess',
  '--shared',
  sharedPath(),
  '--limit',
  '24',
  '--results',
  results,
  '--cache-dir',
  join(results, 'cache'),
];
const rows = (results: string) =>
  readFileSync(join(results, 'exp-clip-zero-shot__prompt-x-preprocess.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, finishedAt: _f, ...rest } = JSON.parse(l);
      void _s;
      void _f;
      return JSON.stringify(rest).replaceAll(results, '<results>');
    });

afterAll(() => {
  if (!reason) spawnSync(join(repoRoot, 'tooling/slurm/stop-cluster.sh'), [cluster]);
});

describe.skipIf(Boolean(reason))(`a real SLURM array job${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('the emitted sbatch array (1 and 2 tasks) and its dependent merge give the single-process results', async () => {
    const conf = execFileSync(join(repoRoot, 'tooling/slurm/start-cluster.sh'), [cluster], { encoding: 'utf8' }).trim();
    const env = { ...process.env, SLURM_CONF: conf };
    const t0 = Date.now();
    const single = runCli(entry, common(join(work, 'single')), { timeoutMs: 300_000 });
    expect(single.code, single.stderr).toBe(0);
    const times: Record<string, number> = { 'one process': (Date.now() - t0) / 1000 };
    for (const shards of [1, 2]) {
      const results = join(work, `array-${shards}`);
      const emit = runCli(entry, [
        ...common(results),
        '--emit',
        'slurm',
        '--shards',
        String(shards),
        '--cpus',
        String(2 / shards),
        '--mem',
        '3G',
        '--time',
        '00:30:00',
        '--emit-dir',
        join(work, `job-${shards}`),
      ]);
      expect(emit.code, emit.stderr).toBe(0);
      const t1 = Date.now();
      const submitted = execFileSync('bash', [join(work, `job-${shards}`, 'submit.sh')], {
        encoding: 'utf8',
        env,
        cwd: repoRoot,
      });
      const [, array, merge] = /array job (\d+), merge job (\d+)/.exec(submitted)!;
      for (let i = 0; i < 600; i++) {
        if (execFileSync('squeue', ['-h', '-j', `${array},${merge}`], { encoding: 'utf8', env }).trim() === '') break;
        await new Promise((r) => setTimeout(r, 500));
      }
      times[`${shards}-task array + merge`] = (Date.now() - t1) / 1000;
      const state = execFileSync('scontrol', ['show', 'job', merge!], { encoding: 'utf8', env });
      expect(
        state,
        readFileSync(join(work, `job-${shards}`, 'logs', `vlfer-ablations-merge-${merge}.out`), 'utf8'),
      ).toMatch(/JobState=COMPLETED/);
      expect(rows(results)).toEqual(rows(join(work, 'single')));
      expect(readFileSync(join(results, 'summary.csv'), 'utf8')).toBe(
        readFileSync(join(work, 'single', 'summary.csv'), 'utf8'),
      );
    }
    console.log(
      `wall time (s): ${Object.entries(times)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`,
    );
  }, 900_000);
});
