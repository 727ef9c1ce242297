import { describe, expect, it } from 'vitest';
import { tensor, type Tensor2D } from '@vlfer/core';
import {
  fitClosedSetMethod,
  fitClosedSetMethodSteps,
  fitLinearProbe,
  minimizeLbfgs,
  probeLogits,
  probeProbabilities,
  selectFewShot,
  sweepLinearProbe,
  takeRows,
  tipAdapterLogits,
} from './index.js';

const t = (data: number[], dims: [number, number]): Tensor2D => tensor(Float32Array.from(data), dims);
const train = { features: t([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9], [4, 2]), labels: [0, 0, 1, 1] };

describe('probe inputs that gave NaN or an unnamed TypeError are refused by name', () => {
  it('prediction takes what the fit takes: finite features, a whole probe', () => {
    const probe = fitLinearProbe(train.features, train.labels, { maxIterations: 50 });
    expect(() => probeLogits(probe, t([NaN, 1], [1, 2]))).toThrow(
      /'features' passed to 'probeLogits': row 0, column 0 is NaN/,
    );
    expect(() => probeProbabilities(probe, t([Infinity, 1], [1, 2]))).toThrow(
      /'features' passed to 'probeProbabilities'/,
    );
    expect(() => probeLogits({ ...probe, coef: new Float64Array(1) }, t([1, 1], [1, 2]))).toThrow(
      /'probe' passed to 'probeLogits': has 1 coef values, expected 4/,
    );
  });
  it('a sweep whose score is not finite stops, naming the C', () => {
    const validation = { features: t([1, 0, 0, 1], [2, 2]), labels: [0, 1] };
    expect(() => sweepLinearProbe(train, validation, { score: () => NaN, maxIterations: 20 })).toThrow(
      /'score' passed to 'sweepLinearProbe': returned NaN for C = 0\.000001/,
    );
  });
  it('L-BFGS refuses a gradient that is not finite at the start', () => {
    expect(() =>
      minimizeLbfgs((x, g) => {
        g[0] = NaN;
        return x[0]! ** 2;
      }, Float64Array.of(1)),
    ).toThrow(/'fg' passed to 'minimizeLbfgs': the gradient at x0 is NaN at index 0/);
  });
  it('Tip-Adapter: a test feature equal to a cache key has affinity 1 at any β (rounding gave > 1, then Infinity)', () => {
    // a 512-d row whose unit-row dot with itself rounds to 1 + 2e-15 in float64
    let s = 5;
    const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296);
    const w = t(
      Array.from({ length: 1024 }, (_, i) => (i % 512 === 0 ? 1 : 0.001)),
      [2, 512],
    );
    for (let it = 0; it < 200; it++) {
      const x = Float32Array.from({ length: 512 }, () => rand() - 0.5);
      const f = t(Array.from(x), [1, 512]);
      const base = tipAdapterLogits(f, { keys: f, labels: [0] }, w, { beta: 1 }).data[0]!;
      for (const beta of [1e12, 1e17])
        expect(tipAdapterLogits(f, { keys: f, labels: [0] }, w, { beta }).data[0]).toBeLessThanOrEqual(base);
    }
  });
  it('missing arguments are named', () => {
    expect(() => fitLinearProbe(train.features, undefined as never)).toThrow(
      /'labels' passed to 'fitLinearProbe'.*undefined/,
    );
    expect(() => takeRows(train.features, undefined as never)).toThrow(/'indices' passed to 'takeRows'/);
    expect(() => tipAdapterLogits(t([1, 0], [1, 2]), undefined as never, t([1, 0, 0, 1], [2, 2]))).toThrow(
      /'cache' passed to 'tipAdapterLogits'/,
    );
    expect(() => fitClosedSetMethod('zero-shot', undefined as never)).toThrow(
      /'inputs' passed to 'fitClosedSetMethod'/,
    );
    expect(() =>
      fitClosedSetMethod('zero-shot', {
        numClasses: NaN,
        test: train.features,
        zeroShotLogits: t(Array(8).fill(0), [4, 2]),
      }),
    ).toThrow(/'numClasses' passed to 'fitClosedSetMethod': expected a positive integer, got NaN/);
  });
});

describe('a closed-set fit checks every part it reads, by its own name, before any fit', () => {
  const validation = { features: t([1, 0, 0, 1], [2, 2]), labels: [0, 1] };
  it('test features: NaN before the C sweep (it came after 15 fits), a wrong width named as the test part', () => {
    // the first step throws: no fit was made (the check came after the sweep's 15 fits)
    const steps = fitClosedSetMethodSteps('linear-probe', {
      numClasses: 2,
      train,
      validation,
      test: t([1, NaN], [1, 2]),
    });
    expect(() => steps.next()).toThrow(/'test' passed to 'fitClosedSetMethod': row 0, column 1 is NaN/);
    expect(() =>
      fitClosedSetMethod('linear-probe', { numClasses: 2, train, validation, test: t([1, 0, 0], [1, 3]) }),
    ).toThrow(/'test' passed to 'fitClosedSetMethod': expected shape \[\*, 2\], got \[1, 3\]/);
  });
  it('zero-shot logits: the shape [test rows, classes] and finite values, named zeroShotLogits', () => {
    const test = t([1, 0], [1, 2]);
    for (const bad of [NaN, Infinity, -Infinity])
      expect(() =>
        fitClosedSetMethod('zero-shot', { numClasses: 2, test, zeroShotLogits: t([bad, 0], [1, 2]) }),
      ).toThrow(/'zeroShotLogits' passed to 'fitClosedSetMethod': row 0, column 0 is -?(NaN|Infinity)/);
    expect(() =>
      fitClosedSetMethod('zero-shot', { numClasses: 2, test, zeroShotLogits: t([0, 0, 1], [1, 3]) }),
    ).toThrow(/'zeroShotLogits' passed to 'fitClosedSetMethod': expected shape \[1, 2\]/);
    // zero-shot does not read the test features: any values there are not its business
    const nanTest = t([NaN, NaN, NaN], [1, 3]);
    expect(
      fitClosedSetMethod('zero-shot', { numClasses: 2, test: nanTest, zeroShotLogits: t([0, 1], [1, 2]) }).predicted,
    ).toEqual([1]);
  });
  it("a sweep's validation part is named as such; selectFewShot without options says what it expects", () => {
    expect(() => sweepLinearProbe(train, { features: validation.features, labels: [0, 7] })).toThrow(
      /'validation\.labels' passed to 'sweepLinearProbe'/,
    );
    expect(() => sweepLinearProbe(train, { features: t([], [0, 2]), labels: [] })).toThrow(
      /'validation\.features' passed to 'sweepLinearProbe': has shape \[0, 2\]/,
    );
    expect(() => sweepLinearProbe({ ...train, labels: [0, 0, 1] }, validation)).toThrow(
      /'train\.labels' passed to 'sweepLinearProbe': has length 3 but 'train\.features' has 4 rows/,
    );
    expect(() => selectFewShot([0, 1], 1, undefined as never)).toThrow(
      /'options' passed to 'selectFewShot': expected \{ seed, numClasses\? \}, got undefined/,
    );
  });
});
