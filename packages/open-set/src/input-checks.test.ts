import { describe, expect, it } from 'vitest';
import { tensor, type Tensor, type Tensor2D } from '@vlfer/core';
import { applyVisualPrompt, ensembleLogits, kthSmallest, knownness, zeroShotMspScore } from './index.js';

const t = (data: number[], dims: [number, number]): Tensor2D => tensor(Float32Array.from(data), dims);

describe('open-set inputs that gave wrong numbers or unnamed errors are refused by the function called', () => {
  it('zeroShotMspScore: a scale > 0 and at least one class, named as its own', () => {
    const image = t([1, 0], [1, 2]);
    const text = t([1, 0, 0, 1], [2, 2]);
    // scale −100 predicted class 1 for a feature equal to class 0, with MSP 1
    // and 1e-44 (every float32 logit 0: all tied) or 1e39 (Infinity) as cosineLogits refuses them
    for (const scale of [-100, 0, NaN, 1e-44, 1e39])
      expect(() => zeroShotMspScore(image, text, { scale })).toThrow(
        /'scale' passed to 'zeroShotMspScore': must be a number from 1e-30 to 1e\+30/,
      );
    expect(() => zeroShotMspScore(image, t([], [0, 2]))).toThrow(
      /'textFeatures' passed to 'zeroShotMspScore': has no rows/,
    );
    expect(zeroShotMspScore(image, text).predictions).toEqual([0]);
  });
  it('ensembleLogits names its own arguments and refuses values that are not finite', () => {
    const clip = t([1, 2, 3, 4], [2, 2]);
    expect(() => ensembleLogits(clip, t([1, 2], [2, 1]))).toThrow(
      /'arplLogits' passed to 'ensembleLogits': expected shape \[2, 2\], got \[2, 1\]/,
    );
    expect(() => ensembleLogits(t([1, NaN, 3, 4], [2, 2]), clip)).toThrow(
      /'clipLogits' passed to 'ensembleLogits': row 0, column 1 is NaN/,
    );
    expect(() => ensembleLogits(clip, t([1, 2, Infinity, 4], [2, 2]))).toThrow(
      /'arplLogits' passed to 'ensembleLogits': row 1, column 0 is Infinity/,
    );
    expect(Array.from(ensembleLogits(clip, t([3, 2, 1, 0], [2, 2])).data)).toEqual([2, 2, 2, 2]);
  });
  it('kthSmallest refuses NaN (it was sorted into wrong places)', () => {
    expect(() => kthSmallest(Float64Array.of(1, 0, NaN, 0), 3)).toThrow(/'a' passed to 'kthSmallest': index 2 is NaN/);
    expect(kthSmallest(Float64Array.of(1, 0, 2, 0), 3)).toBe(1);
  });
  it('knownness names itself; applyVisualPrompt names a patch or location that is none', () => {
    expect(() => knownness(t([NaN, 1], [1, 2]))).toThrow(/'ensemble' passed to 'knownness'/);
    const frames = { dtype: 'float32', data: new Float32Array(3 * 8 * 8), dims: [1, 3, 8, 8] } as Tensor<'R4'>;
    const patch = { dtype: 'float32', data: new Float32Array(12), dims: [3, 2, 2] } as Tensor<'R3'>;
    expect(() => applyVisualPrompt(frames, [[[1]]] as never, { row: 4, col: 4 })).toThrow(
      /'patch' passed to 'applyVisualPrompt'/,
    );
    expect(() => applyVisualPrompt(frames, patch, undefined as never)).toThrow(
      /'location' passed to 'applyVisualPrompt': expected \{ row, col \}/,
    );
  });
});
