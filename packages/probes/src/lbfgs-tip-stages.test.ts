import { describe, expect, it } from 'vitest';
import {
  lbfgsDirection,
  type LbfgsMemory,
  type LineSearch,
  type Point,
  pushCorrection,
  strongWolfeLineSearch,
  wolfeTests,
  zoomLineSearch,
} from './lbfgs.js';
import { checkCacheLabels, tipAdapterSettings } from './tip-adapter.js';

const v = (...x: number[]) => Float64Array.from(x);

/** φ(α) along d = −∇f(x0) for f(x) = ½ Σ cᵢ xᵢ², with an evaluation counter. */
function quadratic(c: number[], x0: number[]): { ls: LineSearch; calls: number[] } {
  const calls: number[] = [];
  const at = (alpha: number): Point => {
    const d = x0.map((x, i) => -c[i]! * x);
    const x = x0.map((xi, i) => xi + alpha * d[i]!);
    const g = Float64Array.from(x.map((xi, i) => c[i]! * xi));
    return {
      alpha,
      f: x.reduce((s, xi, i) => s + 0.5 * c[i]! * xi * xi, 0),
      g,
      dg: g.reduce((s, gi, i) => s + gi * d[i]!, 0),
    };
  };
  const ls: LineSearch = {
    evaluate: (alpha) => {
      calls.push(alpha);
      return at(alpha);
    },
    start: at(0),
    maxEvaluations: 20,
  };
  return { ls, calls };
}

describe('L-BFGS stages', () => {
  it('lbfgsDirection is −g without pairs and the exact Newton step after one pair on a 1-D quadratic', () => {
    const d = new Float64Array(2);
    const mem: LbfgsMemory = { S: [], Y: [], rho: [] };
    lbfgsDirection(v(2, -4), mem, d);
    expect(Array.from(d)).toEqual([-2, 4]);
    // f = 2x²: y = 4s, so H = 1/4 and the step from g = 8 is −2
    expect(pushCorrection(mem, v(1), v(4), 10)).toBe(true);
    const d1 = new Float64Array(1);
    lbfgsDirection(v(8), mem, d1);
    expect(d1[0]).toBeCloseTo(-2, 12);
  });
  it('pushCorrection skips a pair without curvature and keeps at most `memory` pairs', () => {
    const mem: LbfgsMemory = { S: [], Y: [], rho: [] };
    expect(pushCorrection(mem, v(1, 0), v(0, 1), 2)).toBe(false); // sᵀy = 0
    for (let k = 1; k <= 3; k++) pushCorrection(mem, v(k, 0), v(k, 0), 2);
    expect(mem.S.map((s) => s[0])).toEqual([2, 3]);
    expect(mem.rho).toEqual([1 / 4, 1 / 9]);
  });
  it('wolfeTests: the exact minimiser passes both conditions, a too-long step fails sufficient decrease', () => {
    const { ls } = quadratic([2], [1]);
    const { armijo, curvature } = wolfeTests(ls.start);
    const exact = ls.evaluate(0.5);
    expect(armijo(exact) && curvature(exact)).toBe(true);
    expect(armijo(ls.evaluate(1.2))).toBe(false);
  });
  it('strongWolfeLineSearch accepts a unit step on a well-scaled quadratic and zooms back from a long one', () => {
    const ok = quadratic([1], [3]);
    expect(strongWolfeLineSearch(ok.ls, 1)!.alpha).toBe(1);
    expect(ok.calls).toEqual([1]);
    const long = quadratic([1], [3]);
    const p = strongWolfeLineSearch(long.ls, 10)!;
    expect(Math.abs(p.dg)).toBeLessThanOrEqual(-0.9 * long.ls.start.dg);
    expect(long.calls.length).toBeGreaterThan(1);
  });
  it('zoomLineSearch stops at its evaluation budget and returns the best sufficient-decrease point, or null', () => {
    const q = quadratic([1], [3]);
    const used = { evaluations: q.ls.maxEvaluations };
    expect(zoomLineSearch(q.ls, q.ls.start, q.ls.evaluate(3), used)).toBeNull();
    const lo = q.ls.evaluate(0.2);
    expect(zoomLineSearch(q.ls, lo, q.ls.evaluate(3), used)).toBe(lo);
  });
});

describe('Tip-Adapter stages', () => {
  it('tipAdapterSettings fills the paper defaults and refuses a non-finite or negative β, α or scale', () => {
    expect(tipAdapterSettings({})).toEqual({ alpha: 1, beta: 5.5, scale: 100 });
    expect(tipAdapterSettings({ alpha: 0, beta: 0 })).toEqual({ alpha: 0, beta: 0, scale: 100 });
    expect(() => tipAdapterSettings({ beta: Number.NaN })).toThrow(/beta.*must be a finite number ≥ 0, got NaN/);
    // a negative β made exp(−β(1 − cos)) an Infinity logit
    expect(() => tipAdapterSettings({ beta: -1000 })).toThrow(/'beta'.*≥ 0, got -1000/);
    expect(() => tipAdapterSettings({ alpha: -1 })).toThrow(/'alpha'.*≥ 0, got -1/);
    expect(() => tipAdapterSettings({ scale: 0 })).toThrow(/'scale'.*> 0, got 0/);
  });
  it('checkCacheLabels refuses a wrong length and a class id out of range', () => {
    expect(() => checkCacheLabels([0, 1], 2, 2)).not.toThrow();
    expect(() => checkCacheLabels([0], 2, 2)).toThrow(/has length 1 but 'cache.keys' has 2 rows/);
    expect(() => checkCacheLabels([0, 2], 2, 2)).toThrow(
      /index 1 holds 2; expected an integer class id in \[0, 2\) \(classWeights has 2 rows\)/,
    );
  });
});
