import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRng } from '@vlfer/core';
import { repoRoot, runCli, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

const entry = 'apps/cli/test/bench/entry.ts';
const tsx = join(
  dirname(createRequire(join(repoRoot, 'package.json')).resolve('tsx/package.json')),
  'dist',
  'loader.mjs',
);
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
/** The rows without their timing fields (seconds, finishedAt), the results directory written as <results>: what a sharded run must reproduce byte for byte. */
const rowsWithoutTiming = (results: string, file: string) =>
  readFileSync(join(results, file), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, finishedAt: _f, ...rest } = JSON.parse(l);
      void _s;
      void _f;
      return JSON.stringify(rest).replaceAll(results, '<results>');
    });
const run = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, ['--conditions=@vlfer/source', '--import', tsx, join(repoRoot, entry), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    p.on('close', (code) => resolve({ code, stderr }));
  });

describe('bench:ablations on shards (array jobs) and their merge', () => {
  it('n shard processes at once + merge write what one process writes (random n); a missing shard is refused', async () => {
    const n = 2 + createRng(Date.now() % 1000).int(3); // 2..4
    const one = mkdtempSync(join(tmpdir(), 'vlfer-shard-one-'));
    const many = mkdtempSync(join(tmpdir(), 'vlfer-shard-many-'));
    expect((await run(common(one))).code).toBe(0);
    // the shards run concurrently, as array tasks would, sharing the results directory and the feature cache;
    // shard 0 reads its index from SLURM's variables, the others from --shard
    const shards = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        run(
          i === 0 ? common(many) : [...common(many), '--shard', `${i}/${n}`],
          i === 0 ? { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: String(n) } : {},
        ),
      ),
    );
    for (const s of shards) expect(s.code, s.stderr).toBe(0);
    expect(shards[0]!.stderr).toMatch(
      new RegExp(`shard 0/${n} \\(SLURM_ARRAY_TASK_ID=0 of SLURM_ARRAY_TASK_COUNT=${n}\\)`),
    );
    const file = 'exp-clip-zero-shot__prompt-x-preprocess.jsonl';
    expect(existsSync(join(many, file))).toBe(false); // shards write only their own files
    // a missing shard is named
    const lost = join(many, 'shards', 'exp-clip-zero-shot__prompt-x-preprocess', `${n - 1}-of-${n}.jsonl`);
    const kept = readFileSync(lost);
    rmSync(lost);
    const refused = runCli(entry, [...common(many), '--merge', String(n)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `cannot merge exp-clip-zero-shot/prompt-x-preprocess: shard ${n - 1}/${n} wrote nothing .*; run .* \\(shard ${n - 1}/${n}\\) has no row`,
      ),
    );
    writeFileSync(lost, kept);
    const merged = runCli(entry, [...common(many), '--merge', String(n)]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(rowsWithoutTiming(many, file)).toEqual(rowsWithoutTiming(one, file));
    expect(readFileSync(join(many, 'summary.csv'), 'utf8')).toBe(readFileSync(join(one, 'summary.csv'), 'utf8'));
  }, 300_000);
});
