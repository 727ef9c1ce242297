import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

describe('vlfer bench ablations command line', () => {
  it('names a bad data config in a message, without a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-bench-cli-'));
    const file = join(dir, 'bench-data.json');
    writeFileSync(file, JSON.stringify({ videoSets: { mafw: { train: 'a.txt' } } }));
    const r = runCli('apps/cli/test/bench/entry.ts', ['--data-config', file, '--results', join(dir, 'results')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vlfer: .*bench-data\.json: invalid bench data config:\n {2}videoSets\.mafw\.test: /);
    expect(r.stderr).not.toMatch(/\n\s+at .*\.ts:\d+/);
  }, 60_000);
});
