import { defineLabelSet, tensor2d, type Tensor4D } from '@vlfer/core';
import { loadReferences } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { applyVisualPrompt, arplLogits, clampPatchCentre, coopPromptText, ensembleLogits, knownClassTexts, knownness, negativePromptText } from './index.js';

const MAFW_11 = defineLabelSet('mafw-11', ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear', 'contempt', 'anxiety', 'helplessness', 'disappointment']);

describe('HESP prompts', () => {
  it('aligns class texts with labels by default; reproduces the alphabetical bug on request', () => {
    // HESP split [10,5,6] in HESP ids = disappointment, sad, surprise; in canonical ids [10, 1, 4]
    const known = [10, 1, 4];
    expect(knownClassTexts(known, MAFW_11)).toEqual(['Sad', 'Surprise', 'Disappointment']);
    expect(knownClassTexts(known, MAFW_11, { referenceBehaviour: { alphabeticalClassNames: true } })).toEqual(['Disappointment', 'Sad', 'Surprise']);
    expect(coopPromptText('Angry', 4)).toBe('X X X X Angry.');
    expect(coopPromptText('Angry').split(' ').length).toBe(17);
    expect(negativePromptText('Sad')).toBe('This video is not Sad.');
  });
});

describe('visual prompt', () => {
  it('adds the patch at the location in pixel space and leaves the rest', () => {
    const frames: Tensor4D = { dtype: 'float32', data: new Float32Array(2 * 3 * 8 * 8).fill(0.5), dims: [2, 3, 8, 8] };
    const patch = { dtype: 'float32' as const, data: Float32Array.from({ length: 3 * 2 * 2 }, (_, i) => i / 10), dims: [3, 2, 2] as [number, number, number] };
    const out = applyVisualPrompt(frames, patch, { row: 3, col: 5 });
    // frame 1, channel 2, pixel (row 2 + 1, col 4 + 0) gets patch[2][1][0] = 10/10
    expect(out.data[((1 * 3 + 2) * 8 + 3) * 8 + 4]).toBeCloseTo(0.5 + 1.0, 6);
    expect(out.data[0]).toBe(0.5);
    expect(frames.data[((1 * 3 + 2) * 8 + 3) * 8 + 4]).toBe(0.5);
    expect(clampPatchCentre({ row: 5, col: 300 })).toEqual({ row: 28, col: 195 });
    expect(() => applyVisualPrompt(frames, patch, { row: 0, col: 0 })).toThrow(/does not fit/);
  });
});

describe('ensemble scoring', () => {
  it('ARPL logits equal the reference, ensemble averages, known-ness is the max', () => {
    const a = loadReferences().arpl;
    const l = arplLogits(tensor2d(a.x), tensor2d(a.centers));
    let m = 0;
    l.data.forEach((v, i) => { m = Math.max(m, Math.abs(v - a.logits.flat()[i]!)); });
    expect(m).toBeLessThan(1e-5);
    const e = ensembleLogits(tensor2d([[10, 2], [0, 4]]), tensor2d([[2, 6], [1, 1]]));
    expect(Array.from(e.data)).toEqual([6, 4, 0.5, 2.5]);
    expect(knownness(e)).toEqual({ scores: [6, 2.5], predictions: [0, 1] });
  });
});

describe('CAM location rule', () => {
  it('puts the patch at the centroid of the hottest region of the 7×7 map', async () => {
    const { camPatchLocation } = await import('./index.js');
    const cam = new Float32Array(49);
    cam[2 * 7 + 5] = 1; // cell (row 2, col 5): centre pixel (80, 176)
    cam[2 * 7 + 4] = 0.9;
    const loc = camPatchLocation(cam, 7);
    expect(loc.row).toBeGreaterThan(72);
    expect(loc.row).toBeLessThan(88);
    expect(loc.col).toBeGreaterThan(150);
    expect(loc.col).toBeLessThan(176);
    const corner = new Float32Array(49);
    corner[0] = 5;
    expect(camPatchLocation(corner, 7)).toEqual({ row: 28, col: 28 }); // clamped so the 56-px patch fits
    expect(() => camPatchLocation(new Float32Array(10), 7)).toThrow(/not 7×7/);
  });
});

describe('HESP training augmentation', () => {
  it('draws fitting crops, and crop + flip act on the pixels as expected', async () => {
    const { createRng } = await import('@vlfer/core');
    const { sampleClipAugmentation, loadAugmentedFrames } = await import('./index.js');
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
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const sharp = (await import('sharp')).default;
    // left half black, right half white, 224x224
    const px = new Uint8Array(224 * 224 * 3).map((_, i) => ((Math.floor(i / 3) % 224) < 112 ? 0 : 255));
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-aug-')), 'f.png');
    writeFileSync(file, await sharp(px, { raw: { width: 224, height: 224, channels: 3 } }).png().toBuffer());
    const plain = await loadAugmentedFrames([file], null);
    expect(plain.data[0]).toBe(0);
    expect(plain.data[223]).toBe(1);
    const flipped = await loadAugmentedFrames([file], { flip: true, crop: { x: 0, y: 0, w: 224, h: 224 } });
    expect(flipped.data[0]).toBe(1);
    expect(flipped.data[223]).toBe(0);
    const rightCrop = await loadAugmentedFrames([file], { flip: false, crop: { x: 120, y: 0, w: 100, h: 100 } });
    expect(rightCrop.data.reduce((m, v) => Math.min(m, v), 1)).toBe(1); // only white pixels inside the crop
  });
});
