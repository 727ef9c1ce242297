import { defineLabelSet, EXP_CLIP_CLASS_ORDER, tensor2d, type Tensor4D } from '@vlfer/core';
import { loadReferences } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { arplLogits } from '@vlfer/losses';
import {
  applyVisualPrompt,
  clampPatchCentre,
  coopPromptText,
  ensembleLogits,
  knownClassTexts,
  knownness,
  negativePromptText,
} from './index.js';

const MAFW_11 = defineLabelSet('mafw-11', EXP_CLIP_CLASS_ORDER);

describe('HESP prompts', () => {
  it('aligns class texts with labels by default; reproduces the alphabetical bug on request', () => {
    // HESP split [10,5,6] in HESP ids = disappointment, sad, surprise; in canonical ids [10, 1, 4]
    const known = [10, 1, 4];
    expect(knownClassTexts(known, MAFW_11)).toEqual(['Sad', 'Surprise', 'Disappointment']);
    expect(knownClassTexts(known, MAFW_11, { referenceBehaviour: { alphabeticalClassNames: true } })).toEqual([
      'Disappointment',
      'Sad',
      'Surprise',
    ]);
    expect(() => knownClassTexts([1, 4, 1], MAFW_11)).toThrow(/'knownClassIds'.*names class id 1 twice/);
    expect(coopPromptText('Angry', 4)).toBe('X X X X Angry.');
    expect(coopPromptText('Angry').split(' ').length).toBe(17);
    expect(negativePromptText('Sad')).toBe('This video is not Sad.');
  });
});

describe('visual prompt', () => {
  it('adds the patch at the location in pixel space and leaves the rest', () => {
    const frames: Tensor4D = { dtype: 'float32', data: new Float32Array(2 * 3 * 8 * 8).fill(0.5), dims: [2, 3, 8, 8] };
    const patch = {
      dtype: 'float32' as const,
      data: Float32Array.from({ length: 3 * 2 * 2 }, (_, i) => i / 10),
      dims: [3, 2, 2] as [number, number, number],
    };
    const out = applyVisualPrompt(frames, patch, { row: 3, col: 5 });
    // frame 1, channel 2, pixel (row 2 + 1, col 4 + 0) gets patch[2][1][0] = 10/10
    expect(out.data[((1 * 3 + 2) * 8 + 3) * 8 + 4]).toBeCloseTo(0.5 + 1.0, 6);
    expect(out.data[0]).toBe(0.5);
    expect(frames.data[((1 * 3 + 2) * 8 + 3) * 8 + 4]).toBe(0.5);
    expect(clampPatchCentre({ row: 5, col: 300 })).toEqual({ row: 28, col: 195 });
    expect(() => applyVisualPrompt(frames, patch, { row: 0, col: 0 })).toThrow(/does not fit/);
  });
  it('clampPatchCentre refuses what no patch fits and places odd patches that applyVisualPrompt accepts', () => {
    // NaN came out as NaN; a 56-pixel patch in a 10-pixel frame got centre −19
    expect(() => clampPatchCentre({ row: NaN, col: 3 })).toThrow(/'location\.row'.*got NaN/);
    expect(() => clampPatchCentre({ row: 3, col: 3 }, 56, 10)).toThrow(/'size'.*a 56-pixel patch has no centre/);
    // a patch as large as the frame got a centre that applyVisualPrompt refused
    expect(() => clampPatchCentre({ row: 0, col: 0 }, 224, 224)).toThrow(/at most 223 pixels, 222 for an even patch/);
    expect(clampPatchCentre({ row: 0, col: 0 }, 222, 224)).toEqual({ row: 111, col: 111 });
    const odd = {
      dtype: 'float32' as const,
      data: new Float32Array(3 * 3 * 3),
      dims: [3, 3, 3] as [number, number, number],
    };
    const frames = {
      dtype: 'float32' as const,
      data: new Float32Array(3 * 8 * 8),
      dims: [1, 3, 8, 8] as [number, number, number, number],
    };
    for (const at of [
      { row: 0, col: 0 },
      { row: 99, col: 99 },
      { row: 4.4, col: 2 },
    ]) {
      const c = clampPatchCentre(at, 3, 8);
      expect(c.row >= 1 && c.row <= 6 && Number.isInteger(c.row)).toBe(true);
      expect(() => applyVisualPrompt(frames, odd, c)).not.toThrow();
    }
  });
});

describe('ensemble scoring', () => {
  it('ARPL logits equal the reference, ensemble averages, known-ness is the max', () => {
    const a = loadReferences().arpl;
    const l = arplLogits(tensor2d(a.x), tensor2d(a.centers));
    let m = 0;
    l.data.forEach((v, i) => {
      m = Math.max(m, Math.abs(v - a.logits.flat()[i]!));
    });
    expect(m).toBeLessThan(1e-5);
    const e = ensembleLogits(
      tensor2d([
        [10, 2],
        [0, 4],
      ]),
      tensor2d([
        [2, 6],
        [1, 1],
      ]),
    );
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
