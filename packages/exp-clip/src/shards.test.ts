import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { sharedPath } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateZeroShot } from './index.js';

// The merge's checks of shard records (item 11 of issue 22): which option differed, a null record, a count written
// as a string, an edited count. Two real shards of a 12-image folder on the random-weight tiny CLIP.
const model = sharedPath('fixtures', 'tiny-clip');
const work = mkdtempSync(join(tmpdir(), 'vlfer-expclip-shards-'));
const root = join(work, 'images');
const out = join(work, 'out');
const options = (cacheDir: string) => ({
  dataset: 'image-folder' as const,
  root,
  model,
  promptTypes: ['class_name' as const],
  batchSize: 4,
  out,
  cacheDir,
});
const record = (i: number) => join(out, 'shards', `${i}-of-2.json`);
const log: string[] = [];

beforeAll(async () => {
  for (const [c, f] of ['happy', 'sad', 'neutral'].entries()) {
    mkdirSync(join(root, f), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const px = new Uint8Array(32 * 32 * 3).map((_, k) => (c * 71 + i * 13 + k * 7) % 256);
      writeFileSync(
        join(root, f, `${i}.png`),
        await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
  }
  for (const index of [0, 1]) await evaluateZeroShot({ ...options(join(work, 'cache')), shard: { index, count: 2 } });
}, 120_000);

describe('exp-clip eval --merge checks each shard record', () => {
  it('merges two finished shards and reports what they encoded', async () => {
    // the shards claimed the directory for an evaluation, before any merge
    expect(readFileSync(join(out, '.vlfer-run-kind'), 'utf8')).toBe('exp-clip eval\n');
    const r = await evaluateZeroShot({ ...options(join(work, 'cache')), merge: 2 }, { log: (l) => log.push(l) });
    expect(r.results[0]!.folds[0]!.n).toBe(12);
    expect(log.join('\n')).toMatch(/merging 2 shards: 12 images were encoded by the shards/);
    // the same directories spelled otherwise (relative to another working directory, a trailing slash) are the same
    const cwd = process.cwd();
    try {
      process.chdir(work);
      const o = { ...options('cache/'), root: 'images/', out: './out' };
      expect((await evaluateZeroShot({ ...o, merge: 2, overwrite: true })).results[0]!.folds[0]!.n).toBe(12);
    } finally {
      process.chdir(cwd);
    }
  });
  it('a shard that fails before its record leaves no directory or claim; one into another kind of run is refused', async () => {
    const fresh = join(work, 'new', 'out');
    const failing = { ...options(join(work, 'cache')), out: fresh, root: join(work, 'no-images') };
    await expect(evaluateZeroShot({ ...failing, shard: { index: 0, count: 2 } })).rejects.toThrow(/no-images/);
    expect(existsSync(join(work, 'new'))).toBe(false);
    mkdirSync(fresh, { recursive: true });
    await expect(evaluateZeroShot({ ...failing, shard: { index: 0, count: 2 } })).rejects.toThrow(/no-images/);
    expect(readdirSync(fresh)).toEqual([]);
    writeFileSync(join(work, 'a-file'), 'x');
    await expect(
      evaluateZeroShot({ ...options(join(work, 'cache')), out: join(work, 'a-file'), shard: { index: 0, count: 2 } }),
    ).rejects.toThrow(/a-file is a file, not a directory; choose an output directory/);
    writeFileSync(join(fresh, '.vlfer-run-kind'), 'exp-clip train\n');
    writeFileSync(join(fresh, 'checkpoint.safetensors'), 'x');
    await expect(
      evaluateZeroShot({ ...options(join(work, 'cache')), out: fresh, shard: { index: 0, count: 2 } }),
    ).rejects.toThrow(/holds an unfinished run of 'exp-clip train'/);
  });
  it('names the one option that differed (only --cache-dir), with both values', async () => {
    await expect(evaluateZeroShot({ ...options(join(work, 'other-cache')), merge: 2 })).rejects.toThrow(
      new RegExp(
        `shard 0/2 ran with other options: cacheDir \\(--cache-dir\\) is "${join(work, 'cache')}" there, "${join(work, 'other-cache')}" here; shard 1/2 ran with other options: cacheDir \\(--cache-dir\\)`,
      ),
    );
  });
  it('a null record, units written as a string and an edited encoded count are refused, naming file and field', async () => {
    const kept = readFileSync(record(1), 'utf8');
    const merge = () => evaluateZeroShot({ ...options(join(work, 'cache')), merge: 2 });
    try {
      writeFileSync(record(1), 'null');
      await expect(merge()).rejects.toThrow(/1-of-2\.json: expected a shard record \(a JSON object\), got null/);
      writeFileSync(record(1), JSON.stringify({ ...JSON.parse(kept), units: '3' }));
      await expect(merge()).rejects.toThrow(
        /1-of-2\.json \(field 'units'\): expected a non-negative integer, got "3" \(a string\)/,
      );
      const r = JSON.parse(kept);
      r.counts.encoded = 100_000 + r.counts.encoded;
      writeFileSync(record(1), JSON.stringify(r));
      await expect(merge()).rejects.toThrow(/1-of-2\.json \(field 'checksum'\): does not match the record/);
    } finally {
      writeFileSync(record(1), kept);
    }
  });
});
