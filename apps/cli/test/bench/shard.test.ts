import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@vlfer/core';
import { runCli, runCliAsync } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ablationArgs, ENTRY as entry, ROWS_FILE, rowsWithoutTiming } from './ablation-cli.js';

const run = (args: string[], env: Record<string, string> = {}) => runCliAsync(entry, args, { env });

describe('bench:ablations on shards (array jobs) and their merge', () => {
  it('n shard processes at once + merge write what one process writes (random n); a missing shard is refused', async () => {
    const n = 2 + createRng(Date.now() % 1000).int(3); // 2..4
    const one = mkdtempSync(join(tmpdir(), 'vlfer-shard-one-'));
    const many = mkdtempSync(join(tmpdir(), 'vlfer-shard-many-'));
    expect((await run(ablationArgs(one))).code).toBe(0);
    // the shards run concurrently, as array tasks would, sharing the results directory and the feature cache;
    // shard 0 reads its index from SLURM's variables, the others from --shard
    const shards = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        run(
          i === 0 ? ablationArgs(many) : [...ablationArgs(many), '--shard', `${i}/${n}`],
          i === 0 ? { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: String(n) } : {},
        ),
      ),
    );
    for (const s of shards) expect(s.code, s.stderr).toBe(0);
    expect(shards[0]!.stderr).toMatch(
      new RegExp(`shard 0/${n} \\(SLURM_ARRAY_TASK_ID=0 of SLURM_ARRAY_TASK_COUNT=${n}\\)`),
    );
    expect(existsSync(join(many, ROWS_FILE))).toBe(false); // shards write only their own files
    // a missing shard is named
    const lost = join(many, 'shards', 'exp-clip-zero-shot__prompt-x-preprocess', `${n - 1}-of-${n}.jsonl`);
    const kept = readFileSync(lost);
    rmSync(lost);
    const refused = runCli(entry, [...ablationArgs(many), '--merge', String(n)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `cannot merge exp-clip-zero-shot/prompt-x-preprocess: shard ${n - 1}/${n} wrote nothing .*; run .* \\(shard ${n - 1}/${n}\\) has no row`,
      ),
    );
    writeFileSync(lost, kept);
    const merged = runCli(entry, [...ablationArgs(many), '--merge', String(n)]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(rowsWithoutTiming(many)).toEqual(rowsWithoutTiming(one));
    expect(readFileSync(join(many, 'summary.csv'), 'utf8')).toBe(readFileSync(join(one, 'summary.csv'), 'utf8'));
  }, 300_000);
});
