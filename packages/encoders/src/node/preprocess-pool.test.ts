import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPath } from '@vlfer/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { loadClip } from './clip.js';
import { encodeImages } from './extract.js';
import { preprocessImages } from './preprocess.js';
import { batchSlices, createPreprocessPool } from './preprocess-pool.js';

const fer = sharedPath('data', 'fer2013-privatetest');
const paths = ['angry', 'happy', 'surprise'].flatMap((c) =>
  readdirSync(join(fer, c))
    .sort()
    .slice(0, 7)
    .map((f) => join(fer, c, f)),
);
const pool = createPreprocessPool({ workers: 2 });
afterAll(() => pool.close());

describe('preprocessing worker pool', () => {
  it('gives the same bytes as preprocessImages in every mode and both resizers, for files, buffers and raw RGB', async () => {
    const rgb = { rgb: Uint8Array.from({ length: 30 * 20 * 3 }, (_, i) => (i * 13) % 256), width: 30, height: 20 };
    const sources = [...paths, rgb];
    for (const mode of ['exp-clip', 'clip', 'openai'] as const)
      for (const resizer of ['pil', 'sharp'] as const) {
        const a = await preprocessImages(sources, mode, undefined, resizer);
        const b = await pool.run(sources, mode, undefined, resizer);
        expect(b.dims).toEqual([22, 3, 224, 224]);
        expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
      }
  }, 60_000);
  it('rejects with the failing file named, and keeps working afterwards', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'vlfer-pool-')), 'broken.png');
    writeFileSync(bad, 'not an image');
    await expect(pool.run([paths[0]!, bad], 'exp-clip')).rejects.toThrow(/broken\.png: cannot decode image/);
    expect((await pool.run(paths.slice(0, 3), 'exp-clip')).dims[0]).toBe(3);
  });
  it("writes into a caller's buffer and reuses its shared buffers from batch to batch without stale pixels", async () => {
    const out = new Float32Array(22 * 3 * 224 * 224).fill(7);
    const batches = [paths.slice(0, 8), paths.slice(8, 11), paths.slice(11, 21), paths.slice(3, 4)];
    for (const batch of batches) {
      const want = await preprocessImages(batch, 'clip');
      const got = await pool.run(batch, 'clip', undefined, 'pil', { out });
      expect(got.data.buffer).toBe(out.buffer);
      expect(Buffer.from(got.data.buffer, 0, got.data.byteLength).equals(Buffer.from(want.data.buffer))).toBe(true);
    }
    expect(out[out.length - 1]).toBe(7);
    await expect(pool.run(paths.slice(0, 2), 'clip', undefined, 'pil', { out: new Float32Array(10) })).rejects.toThrow(
      /out.*at least 2·3·224·224 = 301056 values, got 10 values/,
    );
  }, 60_000);
  it('checks its arguments and refuses work once closed', async () => {
    expect(() => createPreprocessPool({ workers: 0 })).toThrow(/workers.*positive integer, got 0/);
    const p = createPreprocessPool({ workers: 1 });
    await p.close();
    await expect(p.run(paths.slice(0, 1), 'exp-clip')).rejects.toThrow(/closed/);
  });
  it('encodeImages with a pool returns the same features as without', async () => {
    const clip = await loadClip({ model: sharedPath('fixtures', 'tiny-clip'), towers: ['vision'] });
    const a = await encodeImages({ model: clip, items: paths, mode: 'exp-clip', batchSize: 8 });
    const b = await encodeImages({ model: clip, items: paths, mode: 'exp-clip', batchSize: 8, preprocessPool: pool });
    await clip.dispose();
    expect(Array.from(b.features.data)).toEqual(Array.from(a.features.data));
  }, 60_000);
});

describe('batchSlices: how a batch is shared among the workers', () => {
  it('contiguous slices of ceil(count / workers), covering every image once, none empty', () => {
    expect(batchSlices(10, 3)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
      { start: 8, end: 10 },
    ]);
    // fewer images than workers: one slice each, the rest idle; ceil can leave a worker without a slice
    expect(batchSlices(2, 4)).toEqual([
      { start: 0, end: 1 },
      { start: 1, end: 2 },
    ]);
    expect(batchSlices(5, 4)).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 4 },
      { start: 4, end: 5 },
    ]);
    expect(batchSlices(0, 3)).toEqual([]);
  });
});
