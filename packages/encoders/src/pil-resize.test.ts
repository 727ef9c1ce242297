import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { pilResize, type PilFilter } from './pil-resize.js';
import { OPENAI_CLIP_PREPROCESSOR } from './preprocess.js';
import { preprocessImages } from './node/preprocess.js';

// SHA-256 of Pillow 9.4 `Image.resize` outputs, made by the Python snippet in this package's README.
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test-data', 'pillow-resize.json'), 'utf8')) as {
  resize: { width: number; height: number; channels: number; outWidth: number; outHeight: number; filter: PilFilter; sha256: string }[];
  fer2013: { file: string; expClipSha256: string; clipSha256: string }[];
};
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function generate(w: number, h: number, c: number): Uint8Array {
  const a = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) a[(y * w + x) * c + k] = (7 * x + 13 * y + 50 * k + ((x * y) % 31)) % 256;
  return a;
}

describe('pilResize is bit-exact with Pillow', () => {
  for (const t of fixture.resize) {
    it(`${t.width}x${t.height}x${t.channels} → ${t.outWidth}x${t.outHeight} ${t.filter}`, () => {
      expect(sha(pilResize(generate(t.width, t.height, t.channels), t.width, t.height, t.channels, t.outWidth, t.outHeight, t.filter))).toBe(t.sha256);
    });
  }
  it('real FER2013 JPEGs: sharp decode + pilResize equals PIL open + convert(RGB) + resize', async () => {
    for (const f of fixture.fer2013) {
      const { data, info } = await sharp(sharedPath('data', 'fer2013-privatetest', ...f.file.split('/'))).raw().toBuffer({ resolveWithObject: true });
      const rgb = info.channels === 3 ? data : Uint8Array.from({ length: info.width * info.height * 3 }, (_, i) => data[Math.floor(i / 3)]!);
      expect(sha(pilResize(rgb, info.width, info.height, 3, 224, 224, 'bilinear'))).toBe(f.expClipSha256);
      expect(sha(pilResize(rgb, info.width, info.height, 3, 224, 224, 'bicubic'))).toBe(f.clipSha256);
    }
  });
  it('preprocessImages(exp-clip) equals the Pillow pixels / 255', async () => {
    const f = fixture.fer2013[0]!;
    const path = sharedPath('data', 'fer2013-privatetest', ...f.file.split('/'));
    const pv = await preprocessImages([path], 'exp-clip', OPENAI_CLIP_PREPROCESSOR);
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    const rgb = info.channels === 3 ? data : Uint8Array.from({ length: info.width * info.height * 3 }, (_, i) => data[Math.floor(i / 3)]!);
    const px = pilResize(rgb, info.width, info.height, 3, 224, 224, 'bilinear');
    const back = new Uint8Array(224 * 224 * 3);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 224 * 224; p++) back[p * 3 + c] = Math.round(pv.data[c * 224 * 224 + p]! * 255);
    expect(sha(back)).toBe(sha(px));
    expect(sha(px)).toBe(f.expClipSha256);
  });
});
