import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, InvalidArgumentError, runStepsSync, tensor2d } from '@vlfer/core';
import { auroc } from '@vlfer/metrics';
import { maxAbsDiff } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import {
  energyScore,
  knnScore,
  knnScoreSteps,
  kthSmallest,
  maxLogitScore,
  maxSoftmaxScore,
  zeroShotMspScore,
} from './index.js';

/** NumPy re-implementations on fixed inputs: tools/fixtures/open_set_baselines.py. */
const ref = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test-data', 'baselines.json'), 'utf8')) as Record<
  string,
  number[][] & number[]
>;
const logits = tensor2d(ref.logits!);
const features = tensor2d(ref.features!);
const bank = tensor2d(ref.bank!);
const text = tensor2d(ref.text!);

describe('open-set baseline scores equal their NumPy references', () => {
  it('MSP, MaxLogit and energy (T = 1 and 2) over logits, including a row with large logits', () => {
    expect(maxAbsDiff(maxSoftmaxScore(logits), ref.msp!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(maxLogitScore(logits), ref.maxLogit!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(energyScore(logits), ref.energy!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(energyScore(logits, { temperature: 2 }), ref.energyT2!)).toBeLessThan(1e-12);
  });

  it('deep KNN: negative distance to the k-th nearest normalised training feature', () => {
    expect(maxAbsDiff(knnScore(features, bank, { k: 1 }), ref.knnK1!)).toBeLessThan(1e-12);
    expect(maxAbsDiff(knnScore(features, bank, { k: 3 }), ref.knnK3!)).toBeLessThan(1e-12);
    // the same feature in the bank is at distance 0
    expect(knnScore(tensor2d([ref.bank![0]!]), bank, { k: 1 })[0]).toBeCloseTo(0, 12);
  });

  it('deep KNN in steps of four rows: the scores of a plain sort of every distance, bit for bit (ties, exact matches)', () => {
    const rng = createRng(3);
    for (const [n, m, d, k] of [
      [9, 40, 7, 5],
      [4, 17, 3, 17],
      [1, 8, 16, 1],
      [6, 30, 5, 12],
    ] as const) {
      // values on a coarse grid: many equal distances; the bank's first row is the first feature row (distance 0)
      const grid = (rows: number) =>
        Array.from({ length: rows }, () => Array.from({ length: d }, () => rng.int(5) - 2 || 1));
      const f = grid(n);
      const b = [f[0]!, ...grid(m - 1)];
      const unit = (r: number[]) => r.map((v) => v / Math.sqrt(r.reduce((s, x) => s + x ** 2, 0)));
      const plain = f.map((row) => {
        const u = unit(row);
        const dist = Float64Array.from(b.map(unit), (v) => Math.sqrt(v.reduce((s, x, j) => s + (u[j]! - x) ** 2, 0)));
        return -dist.sort()[k - 1]!;
      });
      const steps = knnScoreSteps(tensor2d(f), tensor2d(b), { k });
      const yielded: number[] = [];
      let r = steps.next();
      for (; !r.done; r = steps.next()) yielded.push(r.value);
      expect(r.value.map((v, i) => Object.is(v, plain[i]))).toEqual(plain.map(() => true));
      expect(yielded).toEqual(Array.from({ length: Math.ceil(n / 4) }, (_, i) => Math.min(4 * (i + 1), n)));
      expect(runStepsSync(knnScoreSteps(tensor2d(f), tensor2d(b), { k }))).toEqual(
        knnScore(tensor2d(f), tensor2d(b), { k }),
      );
    }
    for (let t = 0; t < 500; t++) {
      const a = Float64Array.from({ length: 1 + rng.int(40) }, () => [-0, 0, -1, 1, 2, Infinity][rng.int(6)]!);
      const k = 1 + rng.int(a.length);
      expect(Object.is(kthSmallest(a.slice(), k), a.slice().sort()[k - 1])).toBe(true);
    }
    for (const k of [0, 3, 1.5, Number.NaN])
      expect(() => kthSmallest(Float64Array.of(1, 2), k)).toThrow(/'k' passed to 'kthSmallest': must be an integer/);
  });

  it('zero-shot CLIP + MSP: softmax of 100·cos(image, text), its max and argmax', () => {
    const z = zeroShotMspScore(features, text);
    expect(maxAbsDiff(z.logits.data, ref.zeroShotLogits!.flat())).toBeLessThan(1e-4); // float32 logits
    expect(maxAbsDiff(z.scores, ref.zeroShotMsp!)).toBeLessThan(1e-5);
    expect(z.predictions).toEqual(ref.zeroShotPred);
  });

  it('higher = more known: knowns with a confident logit score above flat unknowns for every score', () => {
    const known = tensor2d([
      [9, 0, 0],
      [0, 8, 1],
    ]);
    const unknown = tensor2d([
      [1, 1, 1],
      [2, 1.5, 1.8],
    ]);
    for (const f of [maxSoftmaxScore, maxLogitScore, energyScore]) expect(auroc(f(known), f(unknown))).toBe(1);
  });

  it('throws on shape mismatch, non-finite values, a bad k or temperature', () => {
    expect(() => knnScore(features, tensor2d([[1, 2, 3]]), { k: 1 })).toThrow(/'bank'.*expected shape \[\*, 5\]/);
    expect(() => knnScore(features, bank, { k: 13 })).toThrow(/must be an integer in \[1, 12\]/);
    expect(() => knnScore(features, bank)).toThrow(InvalidArgumentError); // default k = 50 > 12 rows
    expect(() => knnScore(tensor2d([[0, 0, 0, 0, 0]]), bank, { k: 1 })).toThrow(/row 0 has zero norm/);
    expect(() => maxSoftmaxScore(tensor2d([[1, Number.NaN]]))).toThrow(/row 0, column 1 is NaN/);
    expect(() => energyScore(logits, { temperature: 0 })).toThrow(/temperature/);
    // z / T overflowed to Infinity at a tiny T, and ∞ − ∞ gave NaN: T · logsumexp(z / T) → max z as T → 0
    expect(energyScore(tensor2d([[0.5, 2, -1]]), { temperature: 1e-300 })).toEqual([2]);
    expect(() => zeroShotMspScore(features, tensor2d([[1, 2]]))).toThrow(/'textFeatures'/);
    expect(() => zeroShotMspScore(tensor2d([[1, Number.NaN]]), tensor2d([[1, 0]]))).toThrow(
      /'imageFeatures' passed to 'zeroShotMspScore': row 0, column 1 is NaN/,
    );
    expect(() => maxLogitScore({ dtype: 'float32', data: new Float32Array(0), dims: [2, 0] })).toThrow(/0 columns/);
  });
});
