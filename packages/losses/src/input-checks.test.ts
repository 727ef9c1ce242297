import { describe, expect, it } from 'vitest';
import { tensor, type Tensor2D } from '@vlfer/core';
import {
  arplLogits,
  arplLoss,
  checkInfoNceInputs,
  createAdam,
  createSgd,
  crossEntropy,
  multiStepLr,
  normalizedGradientStep,
  supConLoss,
} from './index.js';

const t = (data: number[], dims: [number, number]): Tensor2D => tensor(Float32Array.from(data), dims);
const centers = t([1, 0, 0, 1, 1, 1], [3, 2]);

describe('non-finite inputs and settings are refused by name, not turned into NaN', () => {
  it('the loss functions refuse NaN and Infinity in their inputs', () => {
    expect(() => crossEntropy(t([NaN, 2], [1, 2]), [1])).toThrow(
      /'logits' passed to 'crossEntropy': row 0, column 0 is NaN/,
    );
    expect(() => crossEntropy(t([Infinity, 2], [1, 2]), [1])).toThrow(/'logits'.*Infinity/);
    expect(() => crossEntropy(t([1, 2, 3, 4], [2, 2]), [1])).toThrow(/'labels'.*has length 1, logits has 2 rows/);
    // a class masked with −Infinity beside finite logits is no error (gradient 0 there, as PyTorch's)
    const masked = crossEntropy(t([2, -Infinity, 0.5, 1, 0, -Infinity], [2, 3]), [0, 1]);
    expect(masked.loss).toBeCloseTo(0.7573, 4);
    expect(masked.gradLogits.data[1]).toBe(0);
    expect(() => crossEntropy(t([2, -Infinity], [1, 2]), [1])).toThrow(/row 0 is −Infinity at its label 1/);
    // large equal logits: (m − z_y) + log s keeps log 2 (m + log s − z_y gave 0 at 1e17, 2.7e-9 off at 1e8)
    for (const z of [1e8, 1e17, 3e38]) {
      const centers = t([0, 0, 0, 0], [2, 2]);
      expect(crossEntropy(t([z, z], [1, 2]), [0]).loss).toBe(Math.LN2);
      // two equal logits z·0.5: log 2 + the margin term 0.15 (it was 0.15 alone at T = 1e-17)
      const arpl = arplLoss({ features: t([1, 0], [1, 2]), centers, labels: [0], radius: 0, temperature: 0.5 / z });
      expect(arpl.loss).toBeCloseTo(Math.LN2 + 0.15, 14);
    }
    // zero classes are the logits' fault, not the labels'
    expect(() => crossEntropy(t([], [1, 0]), [0])).toThrow(/'logits' passed to 'crossEntropy': has 0 columns/);
    expect(() => arplLoss({ features: t([NaN, 1, 1, 1], [2, 2]), centers, labels: [0, 1], radius: 0 })).toThrow(
      /'features' passed to 'arplLoss'.*NaN/,
    );
    expect(() =>
      arplLoss({
        features: t([1, 0, 0, 1], [2, 2]),
        centers: t([Infinity, 0, 0, 1, 1, 1], [3, 2]),
        labels: [0, 1],
        radius: 0,
      }),
    ).toThrow(/'centers' passed to 'arplLoss'.*Infinity/);
    expect(() =>
      arplLoss({ features: t([1, 0, 0, 1], [2, 2]), centers, labels: undefined as never, radius: 0 }),
    ).toThrow(/'labels' passed to 'arplLoss': expected an array, got undefined/);
    expect(() => arplLogits(t([NaN, 1], [1, 2]), centers)).toThrow(/'features' passed to 'arplLogits'/);
    expect(() => supConLoss({ features: t([Infinity, 0, 0.9, 0.1, 0, 1], [3, 2]), labels: [0, 0, 1] })).toThrow(
      /'features' passed to 'supConLoss'.*Infinity/,
    );
  });
  it('the InfoNCE inputs: a scale > 0 and finite matrices', () => {
    const inputs = {
      features: t([1, 0, 0, 1], [2, 2]),
      weight: t([1, 0, 0, 1, 1, 1], [3, 2]),
      targets: t([1, 0, 0, 0, 1, 0], [2, 3]),
    };
    expect(checkInfoNceInputs(inputs, 'f')).toEqual({ n: 2, d: 2, e: 3 });
    // 1e39 is finite in float64 but Infinity in the float32 graphs (loss and gradient NaN)
    for (const scale of [0, -100, NaN, Infinity, 1e39])
      expect(() => checkInfoNceInputs({ ...inputs, scale }, 'f')).toThrow(
        /'scale' passed to 'f': must be a number > 0 and ≤ 3\.4028234663852886e\+38/,
      );
    expect(() => checkInfoNceInputs({ ...inputs, targets: t([1, 0, 0, 0, NaN, 0], [2, 3]) }, 'f')).toThrow(
      /'targets' passed to 'f': row 1, column 1 is NaN/,
    );
  });
  it('the optimisers leave the parameters alone on a NaN gradient, and refuse a state without its buffers', () => {
    const p = { w: Float32Array.of(1, 2) };
    expect(() => createSgd(p, { lr: 0.1 }).step({ w: Float32Array.of(NaN, 1) })).toThrow(
      /'grads.w' passed to 'Sgd.step': index 0 is NaN: the step is not applied/,
    );
    expect(() => createAdam(p).step({ w: Float32Array.of(1, Infinity) })).toThrow(/'grads.w' passed to 'Adam.step'/);
    expect(Array.from(p.w)).toEqual([1, 2]);
    // moments restarting from zero under step 6's bias correction gave half the step
    expect(() => createAdam(p).loadState({ step: 5, buffers: {} })).toThrow(
      /'buffers' passed to 'Adam.loadState': lacks w.exp_avg, w.exp_avg_sq at step 5/,
    );
    expect(() => createSgd(p, { lr: 0.1, momentum: 0.9 }).loadState({ step: 3, buffers: {} })).toThrow(
      /lacks w at step 3/,
    );
    expect(() => createSgd(p, { lr: 0.1 }).loadState({ step: 3, buffers: {} })).not.toThrow(); // no momentum: no buffer
    expect(() => createAdam(p).loadState({ step: 0, buffers: {} })).not.toThrow();
    expect(() =>
      createSgd(p, { lr: 0.1, momentum: 0.9 }).loadState({ step: 1, buffers: { w: Float32Array.of(NaN, 0) } }),
    ).toThrow(/'buffers.w' passed to 'Sgd.loadState': index 0 is NaN; expected finite values/);
    expect(() =>
      createAdam(p).loadState({
        step: 1,
        buffers: { 'w.exp_avg': Float32Array.of(0, 0), 'w.exp_avg_sq': Float32Array.of(0, -1) },
      }),
    ).toThrow(/'buffers.w.exp_avg_sq'.*index 1 is -1; expected values ≥ 0/);
    const x = Float32Array.of(1, 2);
    expect(() => normalizedGradientStep(x, [Infinity, 1], 0.1)).toThrow(/'grad' passed to 'normalizedGradientStep'/);
    expect(Array.from(x)).toEqual([1, 2]);
  });
  it('multiStepLr checks its arguments', () => {
    expect(multiStepLr(0.1, 5, [1, 2])).toBeCloseTo(0.001, 15);
    expect(() => multiStepLr(0.1, NaN, [1, 2])).toThrow(/'epoch' passed to 'multiStepLr'/);
    expect(() => multiStepLr(0.1, 5, [1], -1)).toThrow(/'gamma'/);
    expect(() => multiStepLr(NaN, 5, [1])).toThrow(/'baseLr'/);
    expect(() => multiStepLr(0.1, 5, undefined as never)).toThrow(/'milestones'.*got undefined/);
    expect(() => multiStepLr(0.1, 5, [1, NaN])).toThrow(/'milestones\[1\]'/);
  });
});
