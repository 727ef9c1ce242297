import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage, pillowCmykToRgb } from './preprocess.js';

// Pillow 9.4 (Debian python3-pil) `Image.open(f).convert('RGB')` of each file, in test-data/decoding/pillow-rgb.json.
const dir = join(import.meta.dirname, '..', '..', 'test-data', 'decoding');
const pillow = JSON.parse(readFileSync(join(dir, 'pillow-rgb.json'), 'utf8')) as Record<string, { rgb: number[]; width: number; height: number; pillowMode: string }>;
const asRgb = (d: { data: Uint8Array; channels: number }) => (d.channels === 3 ? Array.from(d.data) : Array.from(d.data).flatMap((v) => [v, v, v]));

describe('decoding matches Pillow where libvips would not (16-bit, CMYK, ICC profiles ignored, no EXIF rotation)', () => {
  for (const f of ['grey16.png', 'grey16-alpha.png', 'rgb16.png', 'rgba16.png', 'cmyk.jpg', 'p3.jpg', 'exif6.jpg']) {
    it(`${f} (Pillow mode ${pillow[f]!.pillowMode}) gives Pillow's RGB bytes exactly`, async () => {
      const d = await decodeImage(join(dir, f));
      expect([d.width, d.height]).toEqual([pillow[f]!.width, pillow[f]!.height]);
      expect(asRgb(d)).toEqual(pillow[f]!.rgb);
    });
  }
  it("16-bit grey saturates like Pillow (1000 → 255, not libvips' 1000 / 257 ≈ 4); CMYK uses Pillow's formula", () => {
    expect(Array.from(pillowCmykToRgb(Uint8Array.of(30, 225, 70, 10)))).toEqual([216, 29, 178]);
    expect(Array.from(pillowCmykToRgb(Uint8Array.of(0, 0, 0, 255)))).toEqual([0, 0, 0]);
  });
});
