/**
 * @file Paired tests of two methods' outcomes on the same items, per metric (UAR, WAR; closed-set accuracy, AUROC,
 * OSCR): `pairedBootstrapTest` and `pairedPermutationTest` with the statistics of this package.
 */
import { InvalidArgumentError } from '@vlfer/core';
import type { ResampleOptions } from './aggregate.js';
import { auroc, oscrFromScores } from './open-set.js';
import { pairedBootstrapTest, pairedPermutationTest, type OpenSetScores, type PairedTest } from './statistics.js';
import { checkKnownUnknownIndices, checkLabels, checkOpenSetScores, checkSameLength } from './validate.js';

/** A paired bootstrap test with, for metrics of predictions, the paired permutation test's p-value. */
export interface PairedMetricTest extends PairedTest {
  /** Two-sided p-value of the paired permutation test (predictions swapped per item); null for score metrics. */
  permutationP: number | null;
}

/** Options of the paired tests: resampling (seed, iterations, confidence) and the permutation count. */
export type PairedTestOptions = Omit<ResampleOptions, 'strata'> & { permutations?: number };

/** A metric of classified items from their classes `t` and correctness `c` (1 = predicted right). */
type CorrectnessMetric = (t: Int32Array, c: Uint8Array) => number;

/**
 * UAR (`unweightedAverageRecall`: mean recall over the classes present) from per-item correctness, for the thousands
 * of resamples of a paired test: inputs are validated once by the caller, not in every resample
 * (`paired.test.ts` checks it equals `unweightedAverageRecall`).
 */
function uarOfCorrect(numClasses: number): CorrectnessMetric {
  const [support, hit] = [new Float64Array(numClasses), new Float64Array(numClasses)];
  return (t, c) => {
    support.fill(0);
    hit.fill(0);
    for (let i = 0; i < t.length; i++) (support[t[i]!]!++, (hit[t[i]!]! += c[i]!));
    let [sum, present] = [0, 0];
    for (let k = 0; k < numClasses; k++) if (support[k]! > 0) ((sum += hit[k]! / support[k]!), present++);
    return sum / present;
  };
}

/** WAR (`weightedAverageRecall`, accuracy) from per-item correctness. */
const warOfCorrect: CorrectnessMetric = (_t, c) => {
  let s = 0;
  for (let i = 0; i < c.length; i++) s += c[i]!;
  return s / c.length;
};

/** `metric` on the items of a resample (or a swap pattern), for method A and B (buffers reused between calls). */
function onResample(yTrue: ArrayLike<number>, predA: ArrayLike<number>, predB: ArrayLike<number>) {
  const n = yTrue.length;
  const [okA, okB] = [predA, predB].map((p) => Uint8Array.from({ length: n }, (_, i) => (p[i] === yTrue[i] ? 1 : 0)));
  const [t, a, b] = [new Int32Array(n), new Uint8Array(n), new Uint8Array(n)];
  return (metric: CorrectnessMetric) => ({
    statisticA: (idx: Int32Array) => {
      for (let i = 0; i < n; i++) ((t[i] = yTrue[idx[i]!]!), (a[i] = okA![idx[i]!]!));
      return metric(t, a);
    },
    statisticB: (idx: Int32Array) => {
      for (let i = 0; i < n; i++) ((t[i] = yTrue[idx[i]!]!), (b[i] = okB![idx[i]!]!));
      return metric(t, b);
    },
    difference: (swapped: Uint8Array) => {
      for (let i = 0; i < n; i++) {
        t[i] = yTrue[i]!;
        a[i] = swapped[i] ? okB![i]! : okA![i]!;
        b[i] = swapped[i] ? okA![i]! : okB![i]!;
      }
      return metric(t, a) - metric(t, b);
    },
  });
}

/**
 * Paired tests of UAR and WAR between two classifiers on the same n items: the paired bootstrap (both methods on
 * each resample of items; difference, percentile interval, p-value) and the paired permutation test (each item's
 * two predictions swapped with probability ½). A − B throughout.
 * @param yTrue [n] class ids @param predA [n] method A's predicted class ids @param predB [n] method B's
 */
export function pairedClassificationTests(
  yTrue: ArrayLike<number>,
  predA: ArrayLike<number>,
  predB: ArrayLike<number>,
  options: PairedTestOptions & { numClasses?: number },
): { uar: PairedMetricTest; war: PairedMetricTest } {
  const fn = 'pairedClassificationTests';
  checkSameLength(yTrue, predA, ['yTrue', 'predA'], fn);
  checkSameLength(yTrue, predB, ['yTrue', 'predB'], fn);
  for (const [v, name] of [
    [yTrue, 'yTrue'],
    [predA, 'predA'],
    [predB, 'predB'],
  ] as const)
    checkLabels(v, name, fn, options.numClasses);
  const { permutations, ...resample } = options;
  const on = onResample(yTrue, predA, predB);
  const test = (metric: CorrectnessMetric): PairedMetricTest => {
    const s = on(metric);
    const boot = pairedBootstrapTest({ ...resample, n: yTrue.length, ...s });
    const perm = pairedPermutationTest({
      n: yTrue.length,
      difference: s.difference,
      seed: options.seed,
      ...(permutations !== undefined ? { iterations: permutations } : {}),
    });
    return { ...boot, permutationP: perm.pValue };
  };
  return {
    uar: test(uarOfCorrect(options.numClasses ?? 1 + Array.from(yTrue).reduce((m, v) => Math.max(m, v), 0))),
    war: test(warOfCorrect),
  };
}

/** Both methods scored on the same items: equal counts and known labels, finite scores. */
function checkPairedOpenSet(a: OpenSetScores, b: OpenSetScores): void {
  const fn = 'pairedOpenSetTests';
  checkOpenSetScores(a, fn, 'a.');
  checkOpenSetScores(b, fn, 'b.');
  checkSameLength(a.knownScores, b.knownScores, ['a.knownScores', 'b.knownScores'], fn);
  checkSameLength(a.unknownScores, b.unknownScores, ['a.unknownScores', 'b.unknownScores'], fn);
  for (let i = 0; i < a.knownLabels.length; i++)
    if (a.knownLabels[i] !== b.knownLabels[i])
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'b.knownLabels',
        message: `index ${i} is ${b.knownLabels[i]}, a.knownLabels has ${a.knownLabels[i]}: the methods must be scored on the same items`,
      });
}

/**
 * Paired tests of two open-set methods on the same items (known item i and unknown item j the same in both):
 * AUROC (ties ½) and OSCR (threshold definition) by the paired bootstrap, stratified (knowns and unknowns resampled
 * separately, as `openSetIntervals`), and closed-set accuracy by the paired bootstrap and permutation tests. Scores
 * of two methods live on different scales, so AUROC and OSCR have no permutation test (`permutationP` null).
 */
export function pairedOpenSetTests(
  a: OpenSetScores,
  b: OpenSetScores,
  options: PairedTestOptions,
): { closedSetAccuracy: PairedMetricTest; auroc: PairedMetricTest; oscr: PairedMetricTest } {
  checkPairedOpenSet(a, b);
  const { permutations, ...resample } = options;
  const [nk, nu] = [a.knownScores.length, a.unknownScores.length];
  checkKnownUnknownIndices(options.indices, nk, 'pairedOpenSetTests');
  const strata = Int32Array.from({ length: nk + nu }, (_, i) => (i < nk ? 0 : 1));
  const view = (s: OpenSetScores) => {
    const [sk, su, correct] = [new Array<number>(nk), new Array<number>(nu), new Array<number>(nk)];
    return (idx: Int32Array) => {
      for (let i = 0; i < nk; i++) {
        sk[i] = s.knownScores[idx[i]!]!;
        correct[i] = s.knownPredictions[idx[i]!] === s.knownLabels[idx[i]!] ? 1 : 0;
      }
      for (let i = 0; i < nu; i++) su[i] = s.unknownScores[idx[nk + i]! - nk]!;
      return { sk, su, correct };
    };
  };
  const [va, vb] = [view(a), view(b)];
  const boot = (stat: (v: ReturnType<ReturnType<typeof view>>) => number): PairedMetricTest => ({
    ...pairedBootstrapTest({
      ...resample,
      n: nk + nu,
      strata,
      statisticA: (idx) => stat(va(idx)),
      statisticB: (idx) => stat(vb(idx)),
    }),
    permutationP: null,
  });
  const known = onResample(a.knownLabels, a.knownPredictions, b.knownPredictions)(warOfCorrect);
  const permutation = pairedPermutationTest({
    n: nk,
    difference: known.difference,
    seed: options.seed,
    ...(permutations !== undefined ? { iterations: permutations } : {}),
  });
  return {
    closedSetAccuracy: { ...boot((v) => v.correct.reduce((s, c) => s + c, 0) / nk), permutationP: permutation.pValue },
    auroc: boot((v) => auroc(v.sk, v.su)),
    oscr: boot((v) => oscrFromScores(v.sk, v.su, v.correct, 'threshold')),
  };
}
