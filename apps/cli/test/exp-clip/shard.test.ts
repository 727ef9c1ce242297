import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@vlfer/core';
import { runCli, runCliAsync, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

const entry = 'apps/cli/test/exp-clip/entry.ts';
const run = (args: string[], env: Record<string, string> = {}) => runCliAsync(entry, args, { env });

describe('exp-clip eval on shards (array jobs) and their merge', () => {
  it('n concurrent shard processes + merge publish exactly the files of one unsharded run (random n); an unfinished shard is refused', async () => {
    const n = 2 + createRng(Date.now() % 997).int(2); // 2..3 shards over 5 units
    const work = mkdtempSync(join(tmpdir(), 'vlfer-eval-shard-'));
    const args = (out: string, cache: string) => [
      'eval',
      '--dataset',
      'fer2013',
      '--root',
      sharedPath('data', 'fer2013-privatetest'),
      '--model',
      sharedPath('fixtures', 'tiny-clip'),
      '--prompts',
      '1,4',
      '--limit',
      '70',
      '--batch-size',
      '16',
      '--no-progress',
      '--cache-dir',
      cache,
      '--out',
      out,
    ];
    const one = await run(args(join(work, 'one'), join(work, 'cache-one')));
    expect(one.code, one.stderr).toBe(0);
    const shardArgs = args(join(work, 'many'), join(work, 'cache-many'));
    const shards = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        run(
          i === 0 ? shardArgs : [...shardArgs, '--shard', `${i}/${n}`],
          i === 0 ? { JOB_COMPLETION_INDEX: '0', VLFER_SHARD_COUNT: String(n) } : {},
        ),
      ),
    );
    for (const s of shards) expect(s.code, s.stderr).toBe(0);
    expect(shards[0]!.stderr).toMatch(
      new RegExp(`shard 0/${n} \\(JOB_COMPLETION_INDEX=0 of VLFER_SHARD_COUNT=${n}\\)`),
    );
    expect(shards.map((s) => s.stdout).join('')).toMatch(/shard \d\/\d encoded \d+ images/);
    const total = shards.reduce((a, s) => a + Number(/encoded (\d+) images/.exec(s.stdout)![1]), 0);
    expect(total).toBe(70); // every image encoded once, by exactly one shard
    const marker = join(work, 'many', 'shards', `${n - 1}-of-${n}.json`);
    const kept = readFileSync(marker);
    rmSync(marker);
    const refused = runCli(entry, [...shardArgs, '--merge', String(n)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`cannot merge ${n} shards in .*: shard ${n - 1}/${n} has not finished`));
    writeFileSync(marker, kept);
    const merged = runCli(entry, [...shardArgs, '--merge', String(n)]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stderr).toMatch(/merging \d shards: 70 images were encoded by the shards/);
    expect(merged.stdout).toMatch(/70 images\/frames: 0 encoded in .*, 70 from the cache/);
    for (const f of ['metrics.json', 'predictions.csv', 'confusion-matrix.csv'])
      expect(readFileSync(join(work, 'many', f), 'utf8'), f).toBe(readFileSync(join(work, 'one', f), 'utf8'));
    // a shard run with other options does not merge
    const other = await run([...shardArgs.map((a) => (a === '70' ? '60' : a)), '--shard', `0/${n}`]);
    expect(other.code).toBe(0);
    const mismatch = runCli(entry, [...shardArgs, '--merge', String(n)]);
    expect(mismatch.stderr).toMatch(new RegExp(`shard 0/${n} ran with other options`));
    // without --out each shard would publish into its own new default directory: refused before anything runs
    const noOut = shardArgs.slice(0, -2);
    for (const extra of [
      ['--shard', `0/${n}`],
      ['--merge', String(n)],
    ]) {
      const r = runCli(entry, [...noOut, ...extra]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/needs --out, one directory given to every shard and to the merge/);
    }
  }, 300_000);
  it('exp-clip train: shards fill the feature and target caches, training from them gives the head of one process', async () => {
    const work = mkdtempSync(join(tmpdir(), 'vlfer-train-shard-'));
    const unlabelled = join(work, 'unlabelled');
    mkdirSync(unlabelled);
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      const p = join(unlabelled, `${String(i).padStart(3, '0')}.png`);
      writeFileSync(
        p,
        await sharp(
          new Uint8Array(32 * 32 * 3).map((_, k) => (i * 31 + k * ((i % 5) + 1)) % 256),
          { raw: { width: 32, height: 32, channels: 3 } },
        )
          .png()
          .toBuffer(),
      );
      lines.push(
        JSON.stringify({ path: p, embedding: Array.from({ length: 32 }, (_, k) => Math.cos(i * 1.3 + k * 0.7)) }),
      );
    }
    writeFileSync(join(work, 'targets.jsonl'), `${lines.join('\n')}\n`);
    const args = (dir: string) => [
      'train',
      '--unlabelled',
      unlabelled,
      '--model',
      sharedPath('fixtures', 'tiny-clip'),
      '--teacher',
      'import',
      '--targets',
      join(work, 'targets.jsonl'),
      '--output-dim',
      '32',
      '--epochs',
      '3',
      '--batch',
      '8',
      '--encode-batch-size',
      '8',
      '--no-progress',
      '--cache-dir',
      join(work, `cache-${dir}`),
      '--out',
      join(work, dir),
    ];
    const one = await run(args('one'));
    expect(one.code, one.stderr).toBe(0);
    const shards = await Promise.all([0, 1, 2].map((i) => run([...args('many'), '--shard', `${i}/3`])));
    for (const s of shards) expect(s.code, s.stderr).toBe(0);
    expect(shards[1]!.stderr).toMatch(/shard 1\/3: 2 of 5 units, 16 images encoded with their targets/);
    const refused = runCli(entry, [...args('many'), '--merge', '4']);
    expect(refused.stderr).toMatch(
      /cannot train from 4 shards in .*: shard 0\/4 has not finished .*; shard 3\/4 has not finished/,
    );
    const merged = runCli(entry, [...args('many'), '--merge', '3']);
    expect(merged.code, merged.stderr).toBe(0);
    expect(
      readFileSync(join(work, 'many', 'head.safetensors')).equals(readFileSync(join(work, 'one', 'head.safetensors'))),
    ).toBe(true);
  }, 300_000);
});
