import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ENTRY } from './ablation-cli.js';

describe('vlfer bench ablations command line', () => {
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
  }, 60_000);
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
