import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { photoLikeJpeg } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@vlfer/core';
import { decodeImage, JPEG_DECODERS, JPEG_WASM_MAX_PIXELS, pillowDraftScale } from './decode.js';

const dir = join(import.meta.dirname, '..', '..', 'test-data', 'decoding');
const pillow = JSON.parse(readFileSync(join(dir, 'pillow-rgb.json'), 'utf8')) as Record<
  string,
  { rgb: number[]; width: number; height: number }
>;
const asRgb = (d: { data: Uint8Array; channels: number }) =>
  d.channels === 3 ? Array.from(d.data) : Array.from(d.data).flatMap((v) => [v, v, v]);

describe('jpegDecoder: the native, WebAssembly and libvips builds of libjpeg-turbo give the same bytes', () => {
  const variants = Object.keys(pillow).filter((f) => f.startsWith('jpeg-'));
  for (const jpegDecoder of JPEG_DECODERS)
    it(`'${jpegDecoder}' gives Pillow's bytes for every JPEG coding variant`, async () => {
      expect(variants.length).toBe(12);
      for (const f of variants) {
        const d = await decodeImage(join(dir, f), { jpegDecoder });
        expect([d.width, d.height], f).toEqual([pillow[f]!.width, pillow[f]!.height]);
        expect(asRgb(d), f).toEqual(pillow[f]!.rgb);
      }
    });
  it("a JPEG on either side of 'auto''s threshold decodes to the same bytes with each decoder", async () => {
    // 448×448 is exactly the threshold (WebAssembly), 640×480 above it (libvips)
    expect(JPEG_WASM_MAX_PIXELS).toBe(448 * 448);
    for (const [w, h] of [
      [448, 448],
      [640, 480],
    ] as const) {
      const jpeg = await photoLikeJpeg(w, h);
      expect(JPEG_DECODERS).toEqual(['auto', 'native', 'wasm', 'libvips']);
      const [auto, native, wasm, libvips] = await Promise.all(
        JPEG_DECODERS.map((jpegDecoder) => decodeImage(jpeg, { jpegDecoder })),
      );
      expect([auto!.width, auto!.height, auto!.channels]).toEqual([w, h, 3]);
      expect(Buffer.from(native!.data).equals(Buffer.from(auto!.data)), `${w}x${h} native`).toBe(true);
      expect(Buffer.from(wasm!.data).equals(Buffer.from(auto!.data)), `${w}x${h} wasm`).toBe(true);
      expect(Buffer.from(libvips!.data).equals(Buffer.from(auto!.data)), `${w}x${h} libvips`).toBe(true);
    }
  });
});

describe("draft: reduced-scale JPEG decoding at Pillow's draft size (opt-in)", () => {
  it("pillowDraftScale is Pillow 9.4's JpegImageFile.draft scale", () => {
    const t = { width: 224, height: 224 };
    // min(⌊w / 224⌋, ⌊h / 224⌋) rounded down to 8, 4, 2 or 1
    expect(pillowDraftScale(1920, 1080, t)).toBe(4); // min(8, 4)
    expect(pillowDraftScale(640, 480, t)).toBe(2); // min(2, 2)
    expect(pillowDraftScale(447, 5000, t)).toBe(1); // min(1, 22)
    expect(pillowDraftScale(1343, 1343, t)).toBe(4); // 5 → 4
    expect(pillowDraftScale(1792, 1792, t)).toBe(8);
    expect(pillowDraftScale(48, 48, t)).toBe(1);
  });
  it('a JPEG 4× the target decodes at ⌈w/4⌉ × ⌈h/4⌉, close to the exact decode averaged over 4×4 blocks', async () => {
    const [w, h] = [1343, 1010];
    const jpeg = await photoLikeJpeg(w, h);
    const draft = await decodeImage(jpeg, { draft: { width: 224, height: 224 } });
    expect([draft.width, draft.height, draft.channels]).toEqual([Math.ceil(w / 4), Math.ceil(h / 4), 3]);
    const exact = await decodeImage(jpeg);
    let sum = 0;
    let n = 0;
    for (let y = 0; y + 4 <= h; y += 4)
      for (let x = 0; x + 4 <= w; x += 4)
        for (let c = 0; c < 3; c++) {
          let box = 0;
          for (let dy = 0; dy < 4; dy++)
            for (let dx = 0; dx < 4; dx++) box += exact.data[3 * ((y + dy) * w + x + dx) + c]!;
          sum += Math.abs(box / 16 - draft.data[3 * ((y / 4) * draft.width + x / 4) + c]!);
          n++;
        }
    expect(sum / n).toBeLessThan(1.5);
  });
  it('without the native decoder, changes nothing where Pillow would not shrink by 4 or more (640×480); never for FER2013 48² or PNGs', async () => {
    const draft = { width: 224, height: 224 };
    const jpeg = await photoLikeJpeg(640, 480);
    for (const jpegDecoder of ['wasm', 'libvips'] as const) {
      const same = Buffer.from((await decodeImage(jpeg, { draft, jpegDecoder })).data).equals(
        Buffer.from((await decodeImage(jpeg)).data),
      );
      expect(same, jpegDecoder).toBe(true);
    }
    for (const f of ['jpeg-420.jpg', 'png-rgb.png']) {
      const d = await decodeImage(join(dir, f), { draft });
      expect(asRgb(d), f).toEqual(pillow[f]!.rgb);
    }
  });
  it('bad options are argument errors naming the option', async () => {
    const f = join(dir, 'jpeg-420.jpg');
    await expect(decodeImage(f, { jpegDecoder: 'fast' as never })).rejects.toThrow(InvalidArgumentError);
    await expect(decodeImage(f, { jpegDecoder: 'fast' as never })).rejects.toThrow(/options\.jpegDecoder.*'wasm'/);
    await expect(decodeImage(f, { draft: { width: 0, height: 224 } })).rejects.toThrow(
      /options\.draft.*positive whole pixels/,
    );
  });
});
