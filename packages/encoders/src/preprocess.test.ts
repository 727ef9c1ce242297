import { createRng, tensor } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import {
  normalizePixels,
  OPENAI_CLIP_PREPROCESSOR,
  preprocessRgb,
  sampleClipAugmentation,
  type ClipAugmentation,
} from './index.js';

const cfg = OPENAI_CLIP_PREPROCESSOR;

describe('HESP training augmentation (runtime-neutral preprocessing)', () => {
  it('draws fitting crops with HESP area and flip rates', () => {
    const rng = createRng(4);
    const draws = Array.from({ length: 200 }, () => sampleClipAugmentation(rng));
    for (const d of draws) {
      expect(d.crop.x + d.crop.w).toBeLessThanOrEqual(224);
      expect(d.crop.y + d.crop.h).toBeLessThanOrEqual(224);
      expect(d.crop.w * d.crop.h).toBeGreaterThanOrEqual(0.08 * 224 * 224 * 0.9);
    }
    const flips = draws.filter((d) => d.flip).length;
    expect(flips).toBeGreaterThan(70);
    expect(flips).toBeLessThan(130);
  });
  it('crop and flip act on the pixels as expected, after the square resize', () => {
    // left half black, right half white
    const img = {
      data: new Uint8Array(224 * 224 * 3).map((_, i) => (Math.floor(i / 3) % 224 < 112 ? 0 : 255)),
      width: 224,
      height: 224,
      channels: 3 as const,
    };
    const run = (augmentation: ClipAugmentation | null) => {
      const out = new Float32Array(3 * 224 * 224);
      preprocessRgb(img, 'exp-clip', cfg, out, 0, { augmentation });
      return out;
    };
    const plain = run(null);
    expect([plain[0], plain[223]]).toEqual([0, 1]);
    const flipped = run({ flip: true, crop: { x: 0, y: 0, w: 224, h: 224 } });
    expect([flipped[0], flipped[223]]).toEqual([1, 0]);
    const rightCrop = run({ flip: false, crop: { x: 120, y: 0, w: 100, h: 100 } });
    expect(rightCrop.reduce((m, v) => Math.min(m, v), 1)).toBe(1); // only white pixels inside the crop
    expect(() => run({ flip: false, crop: { x: 200, y: 0, w: 100, h: 100 } })).toThrow(/does not fit a 224×224 image/);
  });
  it('checks the mode at run time and normalises with CLIP mean/std', () => {
    const img = { data: new Uint8Array(224 * 224), width: 224, height: 224, channels: 1 as const };
    expect(() => preprocessRgb(img, 'exp_clip' as never, cfg, new Float32Array(3 * 224 * 224), 0)).toThrow(
      /Argument 'mode' passed to 'preprocessRgb': expected one of 'clip', 'exp-clip', 'openai', got 'exp_clip'/,
    );
    const px = tensor<'R4'>(new Float32Array(3 * 4).fill(0.5), [1, 3, 2, 2]);
    const n = normalizePixels(px, cfg);
    expect(n.data[0]).toBeCloseTo((0.5 - cfg.mean[0]) / cfg.std[0], 6);
    expect(n.data[8]).toBeCloseTo((0.5 - cfg.mean[2]) / cfg.std[2], 6);
    expect(px.data[0]).toBe(0.5);
  });
});
