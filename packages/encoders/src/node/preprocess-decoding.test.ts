import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { photoLikeJpeg, sharedPath } from '@vlfer/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@vlfer/core';
import { preprocessImages } from './preprocess.js';
import { createPreprocessPool } from './preprocess-pool.js';

const fer = sharedPath('data', 'fer2013-privatetest');
const ferPaths = readdirSync(join(fer, 'happy'))
  .sort()
  .slice(0, 4)
  .map((f) => join(fer, 'happy', f));
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: Float32Array, b: Float32Array) => bytes(a).equals(bytes(b));
const pool = createPreprocessPool({ workers: 2 });
afterAll(() => pool.close());

describe('preprocessing with decoding options', () => {
  it('jpegDecoder: every decoder gives the default bytes in every mode (FER2013 and a 640×480 photo)', async () => {
    const sources = [...ferPaths, await photoLikeJpeg(640, 480)];
    for (const mode of ['exp-clip', 'clip', 'openai'] as const) {
      const exact = await preprocessImages(sources, mode);
      for (const jpegDecoder of ['native', 'wasm', 'libvips'] as const)
        expect(same((await preprocessImages(sources, mode, undefined, 'pil', { jpegDecoder })).data, exact.data)).toBe(
          true,
        );
    }
  });
  it('a batch mixing sources decoded at once and sources that wait for a decoder gives each image its own bytes', async () => {
    // plain JPEGs and small PNGs are decoded and resized back to back (decodeImageNow); a CMYK JPEG, a 16-bit PNG
    // go through decodeImage's asynchronous decoders in between
    const decoding = join(import.meta.dirname, '..', '..', '..', 'image', 'test-data', 'decoding');
    const sources = [
      ferPaths[0]!,
      join(decoding, 'cmyk.jpg'),
      await photoLikeJpeg(640, 480),
      join(decoding, 'grey16.png'),
      join(decoding, 'png-rgb.png'),
      { rgb: Uint8Array.from({ length: 3 * 300 * 240 }, (_, i) => (i * 7) % 256), width: 300, height: 240 },
      ferPaths[1]!,
    ];
    const per = 3 * 224 * 224;
    for (const mode of ['exp-clip', 'clip'] as const) {
      const batch = await preprocessImages(sources, mode);
      for (const [i, src] of sources.entries())
        expect(
          same(batch.data.subarray(i * per, (i + 1) * per), (await preprocessImages([src], mode)).data),
          `${mode} ${i}`,
        ).toBe(true);
    }
  });
  it('draft: a 1344×1008 JPEG is decoded at 336×252 and lands within a few grey levels of the exact pixels; the pool gives the same bytes', async () => {
    const big = await photoLikeJpeg(1344, 1008);
    const sources = [big, ...ferPaths];
    for (const mode of ['exp-clip', 'clip', 'openai'] as const) {
      const exact = await preprocessImages(sources, mode);
      const draft = await preprocessImages(sources, mode, undefined, 'pil', { draft: true });
      const per = 3 * 224 * 224;
      // FER2013 images are too small to draft: unchanged
      expect(same(draft.data.subarray(per), exact.data.subarray(per))).toBe(true);
      let max = 0;
      let sum = 0;
      for (let i = 0; i < per; i++) {
        const d = Math.abs(draft.data[i]! - exact.data[i]!);
        max = Math.max(max, d);
        sum += d;
      }
      expect(max, mode).toBeGreaterThan(0); // a reduced-scale decode, not the exact one
      // in grey levels: / 255 for 'exp-clip', / (255 · std ≈ 70) for the normalised modes
      const level = mode === 'exp-clip' ? 1 / 255 : 1 / (255 * 0.27);
      expect(sum / per / level, mode).toBeLessThan(1.5);
      const pooled = await pool.run(sources, mode, undefined, 'pil', { draft: true });
      expect(same(pooled.data, draft.data)).toBe(true);
    }
  }, 60_000);
  it('a draft that is not a boolean or an unknown decoder is an argument error naming the option, before any decode', async () => {
    const bad = (o: object) => preprocessImages(ferPaths, 'exp-clip', undefined, 'pil', o);
    await expect(bad({ draft: 'yes' })).rejects.toThrow(InvalidArgumentError);
    await expect(bad({ draft: 'yes' })).rejects.toThrow(/draft.*true or false/);
    await expect(bad({ jpegDecoder: 'gpu' })).rejects.toThrow(/jpegDecoder.*'libvips'/);
    await expect(pool.run(ferPaths, 'exp-clip', undefined, 'pil', { draft: 1 as never })).rejects.toThrow(/draft/);
  });
});
