import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  pairedClassificationTests,
  pairedOpenSetTests,
  unweightedAverageRecall,
  weightedAverageRecall,
  type PairedMetricTest,
} from './index.js';

/** NumPy / scikit-learn / SciPy values on fixed inputs and stored resamples: tools/fixtures/metrics_paired.py. */
type Ref = Omit<PairedMetricTest, 'confidence' | 'iterations' | 'seed' | 'permutationP'> & { permutationP?: number };
interface Side {
  knownScores: number[];
  unknownScores: number[];
  knownPredictions: number[];
}
const ref = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test-data', 'paired.json'), 'utf8')) as {
  closed: { yTrue: number[]; predA: number[]; predB: number[]; indices: number[][]; uar: Ref; war: Ref };
  open: {
    knownLabels: number[];
    a: Side;
    b: Side;
    indices: number[][];
    auroc: Ref;
    oscr: Ref;
    closedSetAccuracy: Ref;
  };
};
const fields = ['estimateA', 'estimateB', 'difference', 'lower', 'upper', 'pValue'] as const;
function expectSame(got: PairedMetricTest, want: Ref, what: string) {
  for (const f of fields)
    expect(Math.abs(got[f] - want[f]), `${what}.${f}: ${got[f]} vs ${want[f]}`).toBeLessThan(1e-12);
  if (want.permutationP !== undefined)
    expect(got.permutationP, `${what}.permutationP`).toBeCloseTo(want.permutationP, 12);
  else expect(got.permutationP, `${what}.permutationP`).toBeNull();
}

describe('paired tests of two methods on the same items equal NumPy/sklearn/SciPy on the same resamples', () => {
  it('closed set: UAR and WAR differences (paired bootstrap CI and p; exact paired permutation p)', () => {
    const c = ref.closed;
    const t = pairedClassificationTests(c.yTrue, c.predA, c.predB, {
      seed: 0,
      indices: c.indices,
      permutations: 2 ** 12,
      numClasses: 3,
    });
    expectSame(t.uar, c.uar, 'uar');
    expectSame(t.war, c.war, 'war');
    expect(t.uar.iterations).toBe(150);
  });

  it('open set: AUROC, OSCR and closed-set accuracy, stratified over known and unknown items, scores on different scales', () => {
    const o = ref.open;
    const side = (s: Side) => ({ ...s, knownLabels: o.knownLabels });
    const t = pairedOpenSetTests(side(o.a), side(o.b), { seed: 0, indices: o.indices, permutations: 2 ** 12 });
    expectSame(t.auroc, o.auroc, 'auroc');
    expectSame(t.oscr, o.oscr, 'oscr');
    expectSame(t.closedSetAccuracy, o.closedSetAccuracy, 'closedSetAccuracy');
  });

  it('seeded: the same seed gives the same result; different items are refused, naming the argument', () => {
    const o = ref.open;
    const a = { ...o.a, knownLabels: o.knownLabels };
    const b = { ...o.b, knownLabels: o.knownLabels };
    const one = pairedOpenSetTests(a, b, { seed: 4, iterations: 200, permutations: 500 });
    expect(pairedOpenSetTests(a, b, { seed: 4, iterations: 200, permutations: 500 })).toEqual(one);
    expect(() =>
      pairedOpenSetTests(a, { ...b, knownLabels: o.knownLabels.map((l) => (l + 1) % 3) }, { seed: 0 }),
    ).toThrow(/'b\.knownLabels'.*same items/);
    expect(() => pairedOpenSetTests(a, { ...b, unknownScores: [1] }, { seed: 0 })).toThrow(/'b\.unknownScores'/);
    // predictions and labels are class ids (they were counted as wrong predictions), explicit resamples stay on their side
    const bad = (v: number) => [v, ...Array.from(b.knownPredictions).slice(1)];
    expect(() => pairedOpenSetTests(a, { ...b, knownPredictions: bad(Number.NaN) }, { seed: 0 })).toThrow(
      /'b\.knownPredictions'.*index 0/,
    );
    expect(() => pairedOpenSetTests({ ...a, knownPredictions: bad(2.5) }, b, { seed: 0 })).toThrow(
      /'a\.knownPredictions'.*index 0/,
    );
    const nk = a.knownScores.length;
    const crossing = [Int32Array.from({ length: nk + a.unknownScores.length }, (_, i) => (i === 0 ? nk : i))];
    expect(() => pairedOpenSetTests(a, b, { seed: 0, indices: crossing })).toThrow(
      `Argument 'indices' passed to 'pairedOpenSetTests': resample 0, position 0 holds ${nk}, which crosses the known/unknown boundary at ${nk}`,
    );
    const c = ref.closed;
    expect(() => pairedClassificationTests(c.yTrue, c.predA, c.predB.slice(1), { seed: 0 })).toThrow(/'predB'/);
    // UAR and WAR inside the tests are unweightedAverageRecall and weightedAverageRecall, also with a class absent
    // from yTrue (left out of UAR) and without numClasses
    const y = [0, 0, 2, 2, 2, 3, 3, 0];
    const [pa, pb] = [
      [0, 1, 2, 2, 0, 3, 1, 0],
      [1, 1, 2, 0, 0, 3, 3, 0],
    ];
    const u = pairedClassificationTests(y, pa, pb, { seed: 1, iterations: 50, permutations: 50 });
    expect(u.uar.estimateA).toBeCloseTo(unweightedAverageRecall(y, pa), 14);
    expect(u.uar.estimateB).toBeCloseTo(unweightedAverageRecall(y, pb), 14);
    expect(u.war.estimateA).toBeCloseTo(weightedAverageRecall(y, pa), 14);
    // identical methods: no difference, p = 1 for both tests
    const same = pairedClassificationTests(c.yTrue, c.predA, c.predA, { seed: 0, iterations: 100, permutations: 100 });
    expect([same.war.difference, same.war.pValue, same.war.permutationP]).toEqual([0, 1, 1]);
  });
});
