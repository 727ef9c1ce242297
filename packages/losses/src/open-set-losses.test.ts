import { tensor2d, type Tensor2D } from '@vlfer/core';
import { loadReferences, maxRelErr as relErr } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { arplLogitsBackward, arplLoss, crossEntropy, supConLoss } from './index.js';
import { supConAnchors } from './open-set-losses.js';

const ref = loadReferences();
/** Central finite difference of f at entry idx of t (float64 math inside f). */
function fd(t: Tensor2D, idx: number, f: (t: Tensor2D) => number, h = 1e-3): number {
  const p = Float32Array.from(t.data);
  p[idx] = p[idx]! + h;
  const m = Float32Array.from(t.data);
  m[idx] = m[idx]! - h;
  return (f({ ...t, data: p }) - f({ ...t, data: m })) / (2 * h);
}

describe('ARPL-style loss vs references.json (arpl), 1e-5 relative', () => {
  const a = ref.arpl;
  const r = arplLoss({ features: tensor2d(a.x), centers: tensor2d(a.centers), labels: a.labels, radius: a.radius });
  it('logits, loss and every gradient', () => {
    expect(relErr(r.logits.data, a.logits.flat())).toBeLessThan(1e-5);
    expect(Math.abs(r.loss - a.loss) / a.loss).toBeLessThan(1e-5);
    expect(relErr(r.gradFeatures.data, a.grad_x.flat())).toBeLessThan(1e-5);
    expect(relErr(r.gradCenters.data, a.grad_centers.flat())).toBeLessThan(1e-5);
    expect(Math.abs(r.gradRadius - a.grad_radius) / Math.abs(a.grad_radius)).toBeLessThan(1e-5);
  });
  it('agrees with finite differences on the radius (inactive margin → 0)', () => {
    const at = (R: number) =>
      arplLoss({ features: tensor2d(a.x), centers: tensor2d(a.centers), labels: a.labels, radius: R }).loss;
    expect((at(a.radius + 1e-3) - at(a.radius - 1e-3)) / 2e-3).toBeCloseTo(r.gradRadius, 4);
    expect(
      arplLoss({ features: tensor2d(a.x), centers: tensor2d(a.centers), labels: a.labels, radius: 100 }).gradRadius,
    ).toBe(0);
  });
  it("at a margin of exactly 0 passes the gradient, as torch's MarginRankingLoss (clamp_min) does", () => {
    // one sample at distance² / D = 1 from its centre, R = 2: h = 1 − 2 + 1 = 0
    const x = {
      features: tensor2d([[1, 1]]),
      centers: tensor2d([
        [0, 0],
        [3, 3],
      ]),
      labels: [0],
      radius: 2,
    };
    const r = arplLoss({ ...x, marginWeight: 0.1 });
    // torch: MarginRankingLoss(margin=1)(R, d, 1) = max(0, d − R + 1) has gradient −1 in R at 0 (weight 0.1, batch 1)
    expect(r.gradRadius).toBeCloseTo(-0.1, 12);
    expect(r.loss).toBeCloseTo(arplLoss({ ...x, marginWeight: 0 }).loss, 12);
  });
  it('rejects mismatched shapes and labels', () => {
    expect(() =>
      arplLoss({ features: tensor2d(a.x), centers: tensor2d([[1, 2]]), labels: a.labels, radius: 0 }),
    ).toThrow(/'centers'.*expected shape \[\*, 16\]/);
    expect(() =>
      arplLoss({ features: tensor2d(a.x), centers: tensor2d(a.centers), labels: [0, 1, 2, 3, 0, 1, 2, 0], radius: 0 }),
    ).toThrow(/index 3 holds 3/);
  });
  it('refuses a radius, temperature or margin weight that is no number, and an empty batch, instead of NaN or a dropped term', () => {
    const x = { features: tensor2d(a.x), centers: tensor2d(a.centers), labels: a.labels };
    // NaN fails `h >= 0` for every row: the margin term vanished and the loss looked fine
    expect(() => arplLoss({ ...x, radius: NaN })).toThrow(
      /'radius' passed to 'arplLoss': expected a finite number, got NaN/,
    );
    expect(() => arplLoss({ ...x } as unknown as Parameters<typeof arplLoss>[0])).toThrow(/'radius'.*got undefined/);
    for (const temperature of [0, -1, NaN])
      expect(() => arplLoss({ ...x, radius: 0, temperature })).toThrow(/'temperature'.*expected a finite number > 0/);
    expect(() => arplLoss({ ...x, radius: 0, marginWeight: NaN })).toThrow(/'marginWeight'/);
    const empty = {
      features: { dtype: 'float32' as const, data: new Float32Array(0), dims: [0, 16] as [number, number] },
    };
    expect(() => arplLoss({ ...x, ...empty, labels: [], radius: 0 })).toThrow(/'features'.*no rows/);
    expect(() => crossEntropy({ ...empty.features, dims: [0, 3] }, [])).toThrow(/'logits'.*no rows/);
    for (const temperature of [0, NaN])
      expect(() => supConLoss({ features: tensor2d(a.x), labels: a.labels, temperature })).toThrow(/'temperature'/);
  });
  it('arplLogitsBackward checks features and centers as well as dLogits', () => {
    const f = tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const dL = tensor2d([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    expect(() =>
      arplLogitsBackward(
        f,
        tensor2d([
          [1, 2, 3],
          [4, 5, 6],
        ]),
        dL,
      ),
    ).toThrow(/'centers'.*expected shape \[\*, 2\]/);
    const torn = { dtype: 'float32' as const, data: new Float32Array(5), dims: [3, 2] as [number, number] };
    expect(() =>
      arplLogitsBackward(
        torn,
        tensor2d([
          [1, 2],
          [3, 4],
        ]),
        dL,
      ),
    ).toThrow(/'features'.*data length 5/);
  });
});

describe('supervised contrastive loss vs references.json (supcon), 1e-5 relative', () => {
  const s = ref.supcon;
  it('loss and gradient', () => {
    const r = supConLoss({ features: tensor2d(s.features), labels: s.labels, temperature: s.temperature });
    expect(Math.abs(r.loss - s.loss) / s.loss).toBeLessThan(1e-5);
    expect(relErr(r.gradFeatures.data, s.grad_features.flat())).toBeLessThan(1e-5);
  });
  it('finite differences, and an error instead of NaN without positives', () => {
    const X = tensor2d(s.features);
    const r = supConLoss({ features: X, labels: s.labels });
    for (const idx of [0, 37, 127])
      expect(fd(X, idx, (t) => supConLoss({ features: t, labels: s.labels }).loss)).toBeCloseTo(
        r.gradFeatures.data[idx]!,
        3,
      );
    expect(() =>
      supConLoss({
        features: tensor2d([
          [1, 0],
          [0, 1],
        ]),
        labels: [0, 1],
      }),
    ).toThrow(/no anchor has a positive/);
  });
  it('supConAnchors: the samples that share their label with another, in index order', () => {
    expect(supConAnchors([0, 1, 0, 2, 2, 3])).toEqual([0, 2, 3, 4]);
    expect(supConAnchors([0, 1, 2])).toEqual([]);
    expect(supConAnchors([5, 5])).toEqual([0, 1]);
  });
});

describe('crossEntropy', () => {
  it('matches log-softmax and finite differences', () => {
    const L = tensor2d([
      [1, 2, 3],
      [0.5, -1, 0],
    ]);
    const r = crossEntropy(L, [2, 0]);
    const ls = (row: number[], y: number) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[y]!;
    expect(r.loss).toBeCloseTo((ls([1, 2, 3], 2) + ls([0.5, -1, 0], 0)) / 2, 6);
    expect(fd(L, 4, (t) => crossEntropy(t, [2, 0]).loss)).toBeCloseTo(r.gradLogits.data[4]!, 4);
  });
});
