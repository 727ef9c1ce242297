import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, tensor2d } from '@vlfer/core';
import { maxAbsDiff } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import {
  CLIP_PROBE_C_GRID,
  FEW_SHOT_COUNTS,
  fitLinearProbe,
  minimizeLbfgs,
  probeLogits,
  probeProbabilities,
  selectFewShot,
  sweepLinearProbe,
  takeRows,
  tipAdapterLogits,
} from './index.js';

/** scikit-learn and NumPy outputs on fixed features: tools/fixtures/probes_reference.py. */
interface Ref {
  train: { features: number[][]; labels: number[] };
  validation: { features: number[][]; labels: number[] };
  test: number[][];
  fits: {
    c: number;
    coef: number[][];
    intercept: number[];
    proba: number[][];
    optimum: { coef: number[][]; intercept: number[]; proba: number[][] };
  }[];
  sweep: { bestIndex: number; c: number; score: number; order: number[]; scores: number[] };
  separable: {
    features: number[][];
    labels: number[];
    test: number[][];
    fits: { c: number; optimum: { coef: number[][]; intercept: number[]; proba: number[][] } }[];
  };
  tip: {
    keys: number[][];
    labels: number[];
    weights: number[][];
    features: number[][];
    default: number[][];
    alpha2beta1: number[][];
  };
}
const ref = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test-data', 'probes.json'), 'utf8')) as Ref;
const train = { features: tensor2d(ref.train.features), labels: ref.train.labels };
const validation = { features: tensor2d(ref.validation.features), labels: ref.validation.labels };
const test = tensor2d(ref.test);

describe('linear probe equals sklearn LogisticRegression(multinomial, lbfgs)', () => {
  for (const fit of ref.fits) {
    it(`C = ${fit.c}: the exact optimum to 1e-6, sklearn's probabilities to 1e-4 and its coefficients as close as sklearn gets`, () => {
      const probe = fitLinearProbe(train.features, train.labels, { c: fit.c, gradientTolerance: 1e-10 });
      expect(probe.optimizer.gradientNorm).toBeLessThan(1e-8); // 1e-10 is below f's rounding here: the line search stops first
      const proba = probeProbabilities(probe, test).flatMap((r) => Array.from(r));
      // the optimum of sklearn's objective (Newton's method with the exact Hessian)
      expect(maxAbsDiff(probe.coef, fit.optimum.coef.flat())).toBeLessThan(1e-6);
      expect(maxAbsDiff(probe.intercept, fit.optimum.intercept)).toBeLessThan(1e-6);
      expect(maxAbsDiff(proba, fit.optimum.proba.flat())).toBeLessThan(1e-6);
      // sklearn 1.2.1 lbfgs (tol 1e-12) itself stops 1.5e-5 / 1.1e-4 / 4.9e-4 (C = 0.01 / 1 / 100) from that optimum
      const sklearnGap = maxAbsDiff(fit.coef.flat(), fit.optimum.coef.flat());
      expect(maxAbsDiff(probe.coef, fit.coef.flat())).toBeLessThan(Math.max(1e-4, sklearnGap + 1e-6));
      expect(maxAbsDiff(proba, fit.proba.flat())).toBeLessThan(1e-4);
      expect(probeLogits(probe, test).dims).toEqual([10, 4]);
    });
  }

  it('separable classes at a large C: the exact optimum, where a stop test scaled by C·n stopped 10 % off it', () => {
    const s = ref.separable;
    for (const fit of s.fits) {
      const probe = fitLinearProbe(tensor2d(s.features), s.labels, { c: fit.c });
      expect(maxAbsDiff(probe.coef, fit.optimum.coef.flat()), `C = ${fit.c}`).toBeLessThan(1e-4);
      const proba = probeProbabilities(probe, tensor2d(s.test)).flatMap((r) => Array.from(r));
      expect(maxAbsDiff(proba, fit.optimum.proba.flat()), `C = ${fit.c}`).toBeLessThan(1e-4);
    }
  });

  it('the default tolerance already reaches the optimum to 1e-4 at every C', () => {
    for (const fit of ref.fits) {
      const probe = fitLinearProbe(train.features, train.labels, { c: fit.c });
      expect(maxAbsDiff(probe.coef, fit.optimum.coef.flat()), `C = ${fit.c}`).toBeLessThan(1e-4);
    }
  });

  it('the validation sweep picks the same C by the same parametric binary search', () => {
    const s = sweepLinearProbe(train, validation);
    expect(s.evaluated.map((e) => CLIP_PROBE_C_GRID.indexOf(e.c))).toEqual(ref.sweep.order);
    expect(s.evaluated.map((e) => e.score)).toEqual(ref.sweep.scores);
    // each fit says how it stopped
    expect(s.evaluated.every((e) => ['gradient', 'function', 'line-search', 'max-iterations'].includes(e.reason))).toBe(
      true,
    );
    expect(s.c).toBeCloseTo(ref.sweep.c, 12);
    expect(s.score).toBe(ref.sweep.score);
    expect(CLIP_PROBE_C_GRID.length).toBe(97);
    expect(CLIP_PROBE_C_GRID[48]).toBe(1);
  });

  it('rejects mismatched labels, bad classes and a non-positive C', () => {
    expect(() => fitLinearProbe(train.features, [0, 1])).toThrow(/'labels'.*length 2 but 'features' has 60 rows/);
    expect(() => fitLinearProbe(train.features, train.labels, { c: 0 })).toThrow(/'c'/);
    expect(() => fitLinearProbe(train.features, train.labels, { numClasses: 3 })).toThrow(/index 3 holds 3/);
    expect(() => fitLinearProbe(tensor2d([[1], [2]]), [0, 0])).toThrow(/at least 2 classes/);
    const probe = fitLinearProbe(train.features, train.labels);
    expect(() => probeLogits(probe, tensor2d([[1, 2]]))).toThrow(/expected shape \[\*, 8\]/);
  });
});

describe('L-BFGS', () => {
  it('minimises the Rosenbrock function from (−1.2, 1)', () => {
    const r = minimizeLbfgs(
      (x, g) => {
        const [a, b] = [x[0]!, x[1]!];
        g[0] = -400 * a * (b - a * a) - 2 * (1 - a);
        g[1] = 200 * (b - a * a);
        return 100 * (b - a * a) ** 2 + (1 - a) ** 2;
      },
      Float64Array.from([-1.2, 1]),
      { gradientTolerance: 1e-10 },
    );
    expect(r.gradientNorm).toBeLessThan(1e-6);
    expect(Math.abs(r.x[0]! - 1)).toBeLessThan(1e-8);
    expect(Math.abs(r.x[1]! - 1)).toBeLessThan(1e-8);
  });
});

describe('few-shot selection', () => {
  const labels = Array.from({ length: 50 }, (_, i) => i % 3);
  it('takes `shots` items of every class, seeded and deterministic', () => {
    for (const shots of FEW_SHOT_COUNTS.slice(0, 4)) {
      const a = selectFewShot(labels, shots, { seed: 7 });
      expect(a).toEqual(selectFewShot(labels, shots, { seed: 7 }));
      expect(a.length).toBe(3 * shots);
      expect(new Set(a).size).toBe(a.length);
      for (let c = 0; c < 3; c++) expect(a.slice(c * shots, (c + 1) * shots).every((i) => labels[i] === c)).toBe(true);
    }
    expect(selectFewShot(labels, 8, { seed: 8 })).not.toEqual(selectFewShot(labels, 8, { seed: 7 }));
    expect(takeRows(tensor2d([[1], [2], [3]]), [2, 0]).data).toEqual(Float32Array.from([3, 1]));
  });
  it('throws when a class has fewer items than shots, naming the class', () => {
    expect(() => selectFewShot([], 1, { seed: 0 })).toThrow(/'labels' passed to 'selectFewShot': is empty/);
    expect(() => selectFewShot(labels, 17, { seed: 1 })).toThrow(/class 2 has 16 item\(s\), fewer than 17 shots/);
    expect(() => selectFewShot(labels, 1, { seed: 1, numClasses: 4 })).toThrow(/class 3 has 0 item/);
    expect(() => selectFewShot(labels, 0, { seed: 1 })).toThrow(InvalidArgumentError);
  });
});

describe('Tip-Adapter', () => {
  const t = ref.tip;
  const args = [tensor2d(t.features), { keys: tensor2d(t.keys), labels: t.labels }, tensor2d(t.weights)] as const;
  it('equals the NumPy reference (defaults α = 1, β = 5.5, and α = 2, β = 1)', () => {
    expect(maxAbsDiff(tipAdapterLogits(...args).data, t.default.flat())).toBeLessThan(1e-4);
    expect(maxAbsDiff(tipAdapterLogits(...args, { alpha: 2, beta: 1 }).data, t.alpha2beta1.flat())).toBeLessThan(1e-4);
  });
  it('α = 0 is zero-shot CLIP; shape and label errors name the argument', () => {
    const z = tipAdapterLogits(...args, { alpha: 0 });
    expect(z.dims).toEqual([5, 3]);
    expect(() => tipAdapterLogits(args[0], { keys: tensor2d(t.keys), labels: [0, 1] }, args[2])).toThrow(
      /'cache.labels'.*length 2/,
    );
    expect(() => tipAdapterLogits(args[0], { keys: tensor2d(t.keys), labels: [0, 0, 1, 1, 2, 3] }, args[2])).toThrow(
      /index 5 holds 3/,
    );
    expect(() => tipAdapterLogits(args[0], args[1], tensor2d([[1, 2]]))).toThrow(/'classWeights'/);
  });
});
