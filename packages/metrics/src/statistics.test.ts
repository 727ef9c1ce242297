import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import {
  bootstrapInterval,
  classificationIntervals,
  openSetIntervals,
  pairedBootstrapTest,
  pairedPermutationTest,
  seedSummary,
  studentTCdf,
  studentTQuantile,
  unweightedAverageRecall,
  weightedAverageRecall,
} from './index.js';

/** NumPy / scikit-learn / SciPy values on fixed inputs and stored resamples: tools/fixtures/metrics_statistics.py. */
interface Ref {
  closed: {
    yTrue: number[];
    predA: number[];
    predB: number[];
    indices: number[][];
    uar: [number, number, number];
    war: [number, number, number];
    paired: { estimateA: number; estimateB: number; difference: number; lower: number; upper: number; pValue: number };
  };
  open: {
    knownScores: number[];
    unknownScores: number[];
    knownLabels: number[];
    knownPredictions: number[];
    indices: number[][];
    auroc: [number, number, number];
    oscr: [number, number, number];
  };
  permutation: { yTrue: number[]; predA: number[]; predB: number[]; uar: [number, number]; war: [number, number] };
  seeds: { values: number[]; mean: number; std: number; lower: number; upper: number };
  tQuantiles: [number, number, number][];
}
const ref = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test-data', 'statistics.json'), 'utf8')) as Ref;
const triple = (ci: { estimate: number; lower: number; upper: number }) => [ci.estimate, ci.lower, ci.upper];
const near = (a: number[], b: number[], tol = 1e-12) =>
  a.forEach((v, i) => expect(Math.abs(v - b[i]!), `index ${i}: ${v} vs ${b[i]}`).toBeLessThanOrEqual(tol));

describe('bootstrap intervals per run equal NumPy/sklearn on the same resamples', () => {
  it('UAR and WAR intervals over items', () => {
    const { yTrue, predA, indices } = ref.closed;
    const ci = classificationIntervals(yTrue, predA, { seed: 0, indices });
    near(triple(ci.uar), ref.closed.uar);
    near(triple(ci.war), ref.closed.war);
    expect(ci.uar.iterations).toBe(200);
  });

  it('AUROC and OSCR intervals, stratified over known and unknown items, with tied scores', () => {
    const o = ref.open;
    const ci = openSetIntervals(o, { seed: 0, indices: o.indices });
    near(triple(ci.auroc), o.auroc);
    near(triple(ci.oscr), o.oscr);
  });

  it('bootstrapInterval without indices or strata draws the same stream as before (value pinned from ee2fa26)', () => {
    const y = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
    const stat = (idx: Int32Array) => Array.from(idx, (i) => y[i]!).reduce((a, b) => a + b, 0) / idx.length;
    expect(bootstrapInterval({ n: y.length, statistic: stat, seed: 42, iterations: 500 })).toEqual({
      estimate: 4,
      lower: 2.727272727272727,
      upper: 5.2727272727272725,
      confidence: 0.95,
      iterations: 500,
      seed: 42,
    });
  });

  it('seeded draws are reproducible, and stratified draws never cross strata', () => {
    const o = ref.open;
    const a = openSetIntervals(o, { seed: 5, iterations: 300 });
    expect(openSetIntervals(o, { seed: 5, iterations: 300 })).toEqual(a);
    expect(a.auroc.lower).toBeLessThanOrEqual(a.auroc.estimate);
    expect(a.auroc.upper).toBeGreaterThanOrEqual(a.auroc.estimate);
    const seen: number[][] = [];
    bootstrapInterval({
      n: 6,
      seed: 1,
      iterations: 50,
      strata: [0, 0, 0, 1, 1, 2],
      statistic: (idx) => (seen.push(Array.from(idx)), 0),
    });
    for (const r of seen.slice(1)) {
      expect(r.slice(0, 3).every((i) => i < 3)).toBe(true);
      expect(r.slice(3, 5).every((i) => i === 3 || i === 4)).toBe(true);
      expect(r[5]).toBe(5);
    }
  });

  it('rejects resamples of the wrong length or range, and ones crossing the known/unknown boundary', () => {
    const { yTrue, predA } = ref.closed;
    expect(() => classificationIntervals(yTrue, predA, { seed: 0, indices: [[0, 1]] })).toThrow(
      /'indices'.*resample 0 has 2 indices, expected n = 40/,
    );
    expect(() => classificationIntervals(yTrue, predA, { seed: 0, indices: [yTrue.map(() => 40)] })).toThrow(
      /position 0 holds 40/,
    );
    const o = ref.open;
    const crossing = [o.indices[0]!.map((_, i) => (i === 0 ? 20 : i))];
    expect(() => openSetIntervals(o, { seed: 0, indices: crossing })).toThrow(/crosses the known\/unknown boundary/);
    expect(() => classificationIntervals(yTrue, predA.slice(1), { seed: 0 })).toThrow(InvalidArgumentError);
  });
});

describe('paired tests between two methods on the same items', () => {
  it('paired bootstrap of a UAR difference equals NumPy on the same resamples (difference, CI, p-value)', () => {
    const { yTrue, predA, predB, indices } = ref.closed;
    const uarOf = (pred: number[]) => (idx: Int32Array) =>
      unweightedAverageRecall(
        Array.from(idx, (i) => yTrue[i]!),
        Array.from(idx, (i) => pred[i]!),
      );
    const t = pairedBootstrapTest({
      n: yTrue.length,
      statisticA: uarOf(predA),
      statisticB: uarOf(predB),
      seed: 0,
      indices,
    });
    const r = ref.closed.paired;
    near(
      [t.estimateA, t.estimateB, t.difference, t.lower, t.upper, t.pValue],
      [r.estimateA, r.estimateB, r.difference, r.lower, r.upper, r.pValue],
    );
  });

  it('exact paired permutation test equals scipy.stats.permutation_test (UAR and WAR, 2^14 patterns)', () => {
    const { yTrue, predA, predB } = ref.permutation;
    const diff = (metric: (t: number[], p: number[]) => number) => (swapped: Uint8Array) => {
      const a = predA.map((v, i) => (swapped[i] ? predB[i]! : v));
      const b = predB.map((v, i) => (swapped[i] ? predA[i]! : v));
      return metric(yTrue, a) - metric(yTrue, b);
    };
    const u = pairedPermutationTest({
      n: yTrue.length,
      difference: diff((t, p) => unweightedAverageRecall(t, p)),
      seed: 0,
      iterations: 2 ** 14,
    });
    expect(u.exact).toBe(true);
    near([u.difference, u.pValue], ref.permutation.uar);
    const w = pairedPermutationTest({
      n: yTrue.length,
      difference: diff(weightedAverageRecall),
      seed: 0,
      iterations: 2 ** 14,
    });
    near([w.difference, w.pValue], ref.permutation.war);
    // Monte Carlo: p within a few standard errors of the exact value; seeded, so reproducible
    const mc = pairedPermutationTest({
      n: yTrue.length,
      difference: diff(weightedAverageRecall),
      seed: 3,
      iterations: 4000,
    });
    expect(mc.exact).toBe(false);
    expect(Math.abs(mc.pValue - ref.permutation.war[1])).toBeLessThan(0.02);
    // identical methods: p = 1
    expect(pairedPermutationTest({ n: 5, difference: () => 0, seed: 0 }).pValue).toBe(1);
  });

  it('a statistic that returns NaN is named with its resample, not turned into a p-value or a bound', () => {
    // a NaN is never "as extreme": the exact test gave p = 0, the bootstrap p = 1 / (B + 1), the interval upper NaN
    const nanAt = (k: number) => (s: Uint8Array) => (s[0] && s[1] && k ? NaN : 0.1);
    expect(() => pairedPermutationTest({ n: 4, difference: nanAt(1), seed: 0 })).toThrow(
      /'difference' passed to 'pairedPermutationTest': returned NaN on resample \d+/,
    );
    expect(() => pairedPermutationTest({ n: 4, difference: () => NaN, seed: 0 })).toThrow(/on the full sample/);
    const sometimes = (idx: Int32Array) => (idx[0] === idx[1] ? NaN : 0.5);
    expect(() => bootstrapInterval({ n: 5, statistic: sometimes, seed: 1, iterations: 200 })).toThrow(
      /'statistic' passed to 'bootstrapInterval': returned NaN on resample \d+/,
    );
    const b = { n: 5, seed: 1, iterations: 200, statisticB: () => 0.5 };
    expect(() => pairedBootstrapTest({ ...b, statisticA: sometimes })).toThrow(/'statisticA'.*returned NaN/);
    expect(() => pairedPermutationTest({ n: 40, difference: () => 0, seed: 0.5 })).toThrow(/'seed'.*integer/);
  });
});

describe('across seeds: mean ± std and the t-interval of the mean', () => {
  it('equals scipy.stats.t.interval and t.ppf', () => {
    const s = seedSummary(ref.seeds.values);
    near([s.mean, s.std, s.lower!, s.upper!], [ref.seeds.mean, ref.seeds.std, ref.seeds.lower, ref.seeds.upper], 1e-12);
    // 1e-8: SciPy's own t.ppf is accurate to ~3e-9 here (scipy.stats.t.cdf(t.ppf(0.9, 30), 30) = 0.8999999995285,
    // while at vlfer's quantile it gives 0.8999999999999981)
    for (const [p, df, q] of ref.tQuantiles)
      expect(Math.abs(studentTQuantile(p, df) - q), `p ${p} df ${df}`).toBeLessThan(1e-8 * Math.max(1, Math.abs(q)));
  });

  it('a single seed has no interval; bad input names the argument', () => {
    expect(seedSummary([0.5])).toEqual({ mean: 0.5, std: 0, n: 1, lower: null, upper: null, confidence: 0.95 });
    expect(() => seedSummary([])).toThrow(/'values'.*empty/);
    expect(() => seedSummary([0.1, 0.2], { confidence: 1 })).toThrow(/'confidence'/);
    expect(() => studentTQuantile(0.5, 0)).toThrow(/'df'/);
    for (const df of [0, -1, NaN]) expect(() => studentTCdf(1, df)).toThrow(/'df' passed to 'studentTCdf'/);
  });

  it('studentTCdf keeps its digits at many degrees of freedom (log B and 1 − x taken without cancellation)', () => {
    // /usr/bin/python3 -c "from scipy import stats; print('%.17g' % stats.t.cdf(t, df))" (SciPy 1.10.1); the
    // difference log Γ(a + ½) − log Γ(a) of two numbers near 1e7 kept 1e-7 of it before (0.97725004 at df 1e10)
    const scipy = [
      [2, 3, 0.93033701572057848],
      [-0.3, 3, 0.39188164601995951],
      [2, 1e4, 0.97723636966928229],
      [-0.3, 1e4, 0.3820916956146661],
      [2, 1e6, 0.97724973307434038],
      [-0.3, 1e6, 0.3820886089894972],
      [2, 1e8, 0.97724986670204661],
      [-0.3, 1e8, 0.38208857812283192],
    ] as const;
    for (const [t, df, p] of scipy) expect(Math.abs(studentTCdf(t, df) - p), `t ${t} df ${df}`).toBeLessThan(1e-10);
    // the continued fraction loses digits near the centre as df grows (4e-9 at t 1.74, df 1e9; 0.97655 for 0.97500 at
    // t 1.96, df 1e15; 1 at 1e20), and a cap at df 1e9 lost the tails' relative digits: references by mpmath at 60
    // digits, /usr/bin/python3 -c "import mpmath as mp; mp.mp.dps = 60; df, x = mp.mpf(df), mp.mpf(abs(t));
    // print(mp.betainc(df / 2, mp.mpf(1) / 2, 0, df / (df + x * x), regularized=True) / 2)" (the lower tail)
    const many = [
      [1.74, 1e12, 0.95907049102103881],
      [-1.741, 8.66e8, 0.040841789438675578],
      [1.96, 1e15, 0.97500210485177943],
      [-3, 1e20, 0.0013498980316300945],
      [2, 1e5, 0.97724851827124677],
      [-1.7086839341572584, 15099.691415604231, 0.043765031286155798],
      [-8.5, 1e10, 9.4795360933290125e-18],
      [-20, 1e10, 2.7536351881296546e-89],
    ] as const;
    for (const [t, df, p] of many)
      expect(Math.abs(studentTCdf(t, df) - p) / Math.min(p, 1 - p), `t ${t} df ${df}`).toBeLessThan(1e-11);
    // quantiles in the far tails: p = 1e-20 was taken as 1 − (1 − p) = 1 and refused
    const quantiles = [
      [1e-20, 5, -15683.925454365776],
      [1e-20, 1e6, -9.2625410652916584],
      [1e-12, 1, -318309886183.79068],
      [1 - 1e-15, 30, 14.926307996864402],
      [0.975, 1e20, 1.9599639845400539],
    ] as const;
    for (const [p, df, q] of quantiles)
      expect(Math.abs(studentTQuantile(p, df) - q) / Math.abs(q), `p ${p} df ${df}`).toBeLessThan(1e-10);
    // |t| whose square leaves the doubles (t² overflowed: 0 for 3.2e-156, and quantiles stuck at -1.34e154), a tail
    // that grew with df across the switch to the expansion, NaN where a term overflowed at absurd df
    const far = [
      [-1e155, 1, 3.1830988618379067e-156],
      [-1e300, 0.3, 3.4950072338385859e-91],
      [-1.7, 9999.999999, 0.044581011363854079],
      [-1.7, 1e4, 0.044581011363852524],
    ] as const;
    for (const [t, df, p] of far) expect(Math.abs(studentTCdf(t, df) - p) / p, `t ${t} df ${df}`).toBeLessThan(1e-12);
    expect(studentTCdf(-1.7, 9999.999999)).toBeGreaterThan(studentTCdf(-1.7, 1e4));
    for (const [t, df] of [
      [-1e100, 1e300],
      [-3e20, 1e90],
    ])
      expect(studentTCdf(t!, df!), `t ${t} df ${df}`).toBe(0); // below the smallest double, not NaN
    expect(Math.abs(studentTQuantile(1e-300, 1) / -3.1830988618379067e299 - 1)).toBeLessThan(1e-12);
    expect(studentTQuantile(1e-300, 0.5)).toBe(-Infinity); // -1e600
    // at df → 0 the mass goes to ±∞: every CDF value is ½ (was 0 at df 1e-308, NaN at 5e-324)
    for (const df of [1e-201, 1e-308, 5e-324])
      expect([studentTCdf(-1, df), studentTCdf(1e300, df), studentTQuantile(0.4, df)], `df ${df}`).toEqual([
        0.5,
        0.5,
        -Infinity,
      ]);
  });
});
