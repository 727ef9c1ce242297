import {
  argmaxRows,
  assertArrayLike,
  checkOneOf,
  InvalidArgumentError,
  maxRows,
  scoreRows,
  type Scores,
} from '@vlfer/core';
import { checkLabels, checkSameClassCount, checkSameLength, checkScores } from './validate.js';

/**
 * Area under the ROC curve for separating known (positive) from unknown (negative) samples by a
 * known-ness score (higher = more likely known). Equals P(score_known > score_unknown), where a tie counts
 * 0.5 (`ties: 'half'`, the Mann–Whitney / sklearn value) or 0 (`ties: 'zero'`, what the ARPL/HESP
 * `metric_ood` code computes, since it removes the known sample first on a tie).
 * O((n+m) log(n+m)); inputs are not modified.
 * @param knownScores [n] scores of known-class samples
 * @param unknownScores [m] scores of unknown-class samples
 * @returns a fraction in [0, 1]
 */
export function auroc(
  knownScores: ArrayLike<number>,
  unknownScores: ArrayLike<number>,
  options: { ties?: 'half' | 'zero' } = {},
): number {
  checkScores(knownScores, 'knownScores', 'auroc');
  checkScores(unknownScores, 'unknownScores', 'auroc');
  // a misspelt rule ('Half') must not fall through to the other one
  const ties = checkOneOf(options.ties ?? 'half', ['half', 'zero'], { functionName: 'auroc', argument: 'ties' });
  const k = Float64Array.from(knownScores as ArrayLike<number>).sort();
  const u = Float64Array.from(unknownScores as ArrayLike<number>).sort();
  // For each known score count unknowns strictly below (lo) and equal (hi - lo), by a merge walk.
  let wins = 0;
  let equal = 0;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < k.length; i++) {
    const s = k[i]!;
    while (lo < u.length && u[lo]! < s) lo++;
    if (hi < lo) hi = lo;
    while (hi < u.length && u[hi]! <= s) hi++;
    wins += lo;
    equal += hi - lo;
  }
  const total = k.length * u.length;
  return (wins + (ties === 'half' ? 0.5 * equal : 0)) / total;
}

/**
 * True-negative rate on unknowns at a true-positive rate on knowns of `targetTpr` (default 0.95).
 * `variant: 'standard'` (default): the best TNR over thresholds t (accept when score ≥ t) whose TPR ≥ target.
 * `variant: 'arpl'`: ARPL's `get_curve` — sweep up through the merged sorted scores (a tie removes the known
 * first) and take the first point with the smallest |TPR − target|; on small sets that can be the most lenient
 * threshold (e.g. TNR 0 for perfectly separated scores), so use it only to reproduce ARPL/HESP numbers.
 * @returns a fraction in [0, 1]
 */
export function tnrAtTpr(
  knownScores: ArrayLike<number>,
  unknownScores: ArrayLike<number>,
  options: { targetTpr?: number; variant?: 'standard' | 'arpl' } = {},
): number {
  checkScores(knownScores, 'knownScores', 'tnrAtTpr');
  checkScores(unknownScores, 'unknownScores', 'tnrAtTpr');
  const target = options.targetTpr ?? 0.95;
  const variant = checkOneOf(options.variant ?? 'standard', ['standard', 'arpl'], {
    functionName: 'tnrAtTpr',
    argument: 'variant',
  });
  if (!(target >= 0 && target <= 1))
    throw new InvalidArgumentError({
      functionName: 'tnrAtTpr',
      argument: 'targetTpr',
      message: `must be in [0, 1], got ${target}`,
    });
  const k = Float64Array.from(knownScores as ArrayLike<number>).sort();
  const u = Float64Array.from(unknownScores as ArrayLike<number>).sort();
  const nk = k.length;
  const nu = u.length;
  if (variant === 'standard') {
    // the highest threshold keeping TPR ≥ target is the ceil(target·nk)-th largest known score; with none needed
    // (target 0), a threshold above every score rejects every unknown
    const need = Math.ceil(target * nk - 1e-12);
    if (need <= 0) return 1;
    const t = k[nk - need]!;
    let below = 0;
    while (below < nu && u[below]! < t) below++;
    return below / nu;
  }
  let tp = nk;
  let fp = nu;
  let bestGap = Math.abs(tp / nk - target);
  let bestFp = fp;
  let ik = 0;
  let iu = 0;
  while (ik < nk || iu < nu) {
    if (ik < nk && (iu === nu || !(u[iu]! < k[ik]!))) {
      ik++;
      tp--;
    } else {
      iu++;
      fp--;
    }
    const gap = Math.abs(tp / nk - target);
    if (gap < bestGap) {
      bestGap = gap;
      bestFp = fp;
    }
  }
  return 1 - bestFp / nu;
}

/**
 * Max over classes of each row: the known-ness score of a `[n, K]` logit matrix (`maxRows` of @vlfer/core: finite,
 * −Infinity allowed beside finite values). @param functionName the caller named in errors @returns [n]
 */
export function maxScores(logits: Scores, argument = 'logits', functionName = 'maxScores'): number[] {
  return maxRows(logits, argument, functionName);
}

export interface OscrOptions {
  /**
   * `'threshold'` (default): the open-set classification rate curve CCR(t) vs FPR(t) over every distinct
   * threshold t on the max-logit score, from (0, 0), trapezoid rule. CCR(t) = fraction of known samples
   * that are correctly classified with score ≥ t; FPR(t) = fraction of unknown samples with score ≥ t.
   * `'arpl'`: the ARPL/HESP `compute_oscr` code, including its index quirks (CCR from position k+1, FPR from k,
   * the n−1 point left at 0). It differs slightly. ARPL sorts the pooled scores with numpy's default `argsort`,
   * which is not stable: with tied scores (`tiedScores`) its value depends on the order numpy happens to leave
   * them in. vlfer sorts stably (ties in input order: known before unknown), which equals numpy's
   * `argsort(kind='stable')`, and equals the ARPL code exactly when no score is tied.
   * @default 'threshold'
   */
  variant?: 'threshold' | 'arpl';
}

/**
 * Open-set classification rate (OSCR, Dhamija et al. 2018) from known and unknown logits.
 * @param knownLogits [nKnown, K] logits over the K known classes (a Tensor2D or rows)
 * @param knownLabels [nKnown] class ids in [0, K)
 * @param unknownLogits [nUnknown, K]
 * @returns a fraction in [0, 1]
 */
export function oscr(
  knownLogits: Scores,
  knownLabels: ArrayLike<number>,
  unknownLogits: Scores,
  options: OscrOptions = {},
): number {
  const known = scoreRows(knownLogits, 'knownLogits', 'oscr');
  const unknown = scoreRows(unknownLogits, 'unknownLogits', 'oscr');
  checkSameClassCount(known, unknown, 'oscr');
  checkSameLength(known, knownLabels, ['knownLogits', 'knownLabels'], 'oscr');
  if (unknown.length === 0)
    throw new InvalidArgumentError({
      functionName: 'oscr',
      argument: 'unknownLogits',
      message: 'is empty; at least one unknown sample is required',
    });
  checkLabels(knownLabels, 'knownLabels', 'oscr', known[0]?.length ?? 0);
  checkOneOf(options.variant ?? 'threshold', ['threshold', 'arpl'], { functionName: 'oscr', argument: 'variant' });
  const sk = maxScores(known, 'knownLogits', 'oscr');
  const su = maxScores(unknown, 'unknownLogits', 'oscr');
  const pred = argmaxRows(known);
  return oscrFromScores(
    sk,
    su,
    pred.map((p, i) => (p === knownLabels[i] ? 1 : 0)),
    options.variant,
  );
}

/** OSCR from validated known-ness scores and per-known-sample correctness (1/0); internal (not re-exported by the index). */
export function oscrFromScores(sk: number[], su: number[], correct: number[], variant: OscrOptions['variant']): number {
  return (variant ?? 'threshold') === 'arpl' ? oscrArpl(sk, su, correct) : oscrThreshold(sk, su, correct);
}

function oscrThreshold(sk: number[], su: number[], correct: number[]): number {
  // Sweep thresholds from high to low; group equal scores so ties move CCR and FPR together.
  type Item = { s: number; known: boolean; correct: number };
  const items: Item[] = [
    ...sk.map((s, i) => ({ s, known: true, correct: correct[i]! })),
    ...su.map((s) => ({ s, known: false, correct: 0 })),
  ];
  items.sort((a, b) => b.s - a.s);
  let ccrCount = 0;
  let fpCount = 0;
  let prevX = 0;
  let prevY = 0;
  let area = 0;
  let i = 0;
  while (i < items.length) {
    const s = items[i]!.s;
    while (i < items.length && items[i]!.s === s) {
      if (items[i]!.known) ccrCount += items[i]!.correct;
      else fpCount++;
      i++;
    }
    const x = fpCount / su.length;
    const y = ccrCount / sk.length;
    area += ((x - prevX) * (y + prevY)) / 2;
    prevX = x;
    prevY = y;
  }
  return area;
}

/**
 * ARPL's `compute_oscr`. numpy's default argsort (introsort, not stable) cannot be reproduced on ties; a stable
 * sort is used, as numpy's `argsort(kind='stable')`.
 */
function oscrArpl(sk: number[], su: number[], correct: number[]): number {
  const predict = [...sk, ...su];
  const n = predict.length;
  const kTarget = [...correct, ...su.map(() => 0)];
  const uTarget = [...sk.map(() => 0), ...su.map(() => 1)];
  const idx = predict.map((_, i) => i).sort((a, b) => predict[a]! - predict[b]! || a - b);
  const sK = idx.map((j) => kTarget[j]!);
  const sU = idx.map((j) => uTarget[j]!);
  // suffix sums
  const sufK = new Array<number>(n + 1).fill(0);
  const sufU = new Array<number>(n + 1).fill(0);
  for (let j = n - 1; j >= 0; j--) {
    sufK[j] = sufK[j + 1]! + sK[j]!;
    sufU[j] = sufU[j + 1]! + sU[j]!;
  }
  const ccr = new Array<number>(n + 2).fill(0);
  const fpr = new Array<number>(n + 2).fill(0);
  for (let k = 0; k < n - 1; k++) {
    ccr[k] = sufK[k + 1]! / sk.length;
    fpr[k] = sufU[k]! / su.length;
  }
  ccr[n] = 0;
  fpr[n] = 0;
  ccr[n + 1] = 1;
  fpr[n + 1] = 1;
  // sorted(zip(FPR, CCR), reverse=True): lexicographic descending on (FPR, CCR)
  const roc = fpr.map((f, j) => [f, ccr[j]!] as const).sort((a, b) => b[0] - a[0] || b[1] - a[1]);
  let area = 0;
  for (let j = 0; j <= n; j++) area += (roc[j]![0] - roc[j + 1]![0]) * ((roc[j]![1] + roc[j + 1]![1]) / 2);
  return area;
}

/**
 * Tied known-ness scores: how many of the nKnown + nUnknown samples, pooled as ARPL's `compute_oscr` pools them,
 * have a score exactly equal (`===`) to that of at least one other sample (known or unknown). 0 means every score
 * is distinct, so no metric depends on how a sort orders equal scores; otherwise the ARPL OSCR of the reference code
 * (numpy's unstable argsort) may differ from vlfer's (stable sort), and tie-heavy numbers should not be compared
 * across tools. @param knownScores [nKnown] @param unknownScores [nUnknown] @returns a count in [0, nKnown + nUnknown]
 */
export function tiedScores(knownScores: ArrayLike<number>, unknownScores: ArrayLike<number>): number {
  assertArrayLike(knownScores, 'knownScores', 'tiedScores');
  assertArrayLike(unknownScores, 'unknownScores', 'tiedScores');
  const counts = new Map<number, number>();
  for (const xs of [knownScores, unknownScores])
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i]! === 0 ? 0 : xs[i]!; // -0 and 0 are one value
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
  let n = 0;
  for (const c of counts.values()) if (c > 1) n += c;
  return n;
}

/**
 * The open-set metrics under one family of definitions:
 * - `standard`: AUROC with ties counted ½ (Mann–Whitney, sklearn), OSCR as the area under the CCR–FPR curve over
 *   every threshold (Dhamija et al.), TNR at the highest threshold keeping TPR ≥ 95 %;
 * - `arpl`: what the ARPL code (and HESP, which copies it) computes: AUROC with ties counted 0 (`metric_ood`),
 *   `compute_oscr` with its index quirks, and `get_curve`'s TNR at the point closest to TPR 95 %.
 * HESP's published numbers use `arpl`; on small or tied sets the two differ (OSCR by up to 0.5, TNR by up to 1: perfectly separated
 * scores give TNR 1 in `standard` and 0 in `arpl`, as `metric_ood`).
 */
export const OPEN_SET_METRIC_FAMILIES = ['standard', 'arpl'] as const;
export type OpenSetMetricFamily = (typeof OPEN_SET_METRIC_FAMILIES)[number];

export interface OpenSetMetrics {
  /** Known (positive) vs unknown by max logit, fraction. */
  auroc: number;
  /** Open-set classification rate, fraction. */
  oscr: number;
  /** True-negative rate at 95 % true-positive rate, fraction. */
  tnrAtTpr95: number;
}

export interface OpenSetReport {
  /** Closed-set accuracy on known samples (argmax of the logits), fraction. */
  closedSetAccuracy: number;
  /** Both families of definitions, computed on the same scores. */
  standard: OpenSetMetrics;
  arpl: OpenSetMetrics;
  nKnown: number;
  nUnknown: number;
  /**
   * Samples whose known-ness score (max logit) equals another sample's (`tiedScores`). With ties, ARPL's OSCR as the
   * reference code computes it depends on numpy's unstable sort; vlfer's `arpl.oscr` is its stable-sort value.
   */
  ties: number;
}

/** Flat, self-describing metric names for files: `auroc_standard`, `oscr_arpl`, `tnr_at_tpr95_standard` … */
export function flattenOpenSetReport(r: OpenSetReport): Record<string, number> {
  const out: Record<string, number> = {
    closed_set_accuracy: r.closedSetAccuracy,
    n_known: r.nKnown,
    n_unknown: r.nUnknown,
    ties: r.ties,
  };
  for (const f of OPEN_SET_METRIC_FAMILIES) {
    out[`auroc_${f}`] = r[f].auroc;
    out[`oscr_${f}`] = r[f].oscr;
    out[`tnr_at_tpr95_${f}`] = r[f].tnrAtTpr95;
  }
  return out;
}

/**
 * All open-set metrics from known/unknown logits in both families of definitions (`OPEN_SET_METRIC_FAMILIES`),
 * with max logit as the known-ness score.
 * @param knownLogits [nKnown, K]; @param knownLabels [nKnown]; @param unknownLogits [nUnknown, K]
 */
export function openSetReport(
  knownLogits: Scores,
  knownLabels: ArrayLike<number>,
  unknownLogits: Scores,
): OpenSetReport {
  const known = scoreRows(knownLogits, 'knownLogits', 'openSetReport');
  const unknown = scoreRows(unknownLogits, 'unknownLogits', 'openSetReport');
  checkSameClassCount(known, unknown, 'openSetReport');
  checkSameLength(known, knownLabels, ['knownLogits', 'knownLabels'], 'openSetReport');
  checkLabels(knownLabels, 'knownLabels', 'openSetReport', known[0]?.length ?? 0);
  if (unknown.length === 0)
    throw new InvalidArgumentError({
      functionName: 'openSetReport',
      argument: 'unknownLogits',
      message: 'is empty; at least one unknown sample is required',
    });
  const sk = maxScores(known, 'knownLogits', 'openSetReport');
  const su = maxScores(unknown, 'unknownLogits', 'openSetReport');
  const pred = argmaxRows(known);
  return reportFromScores(
    Array.from(sk),
    Array.from(su),
    pred.map((p, i) => (p === knownLabels[i] ? 1 : 0)),
  );
}

/**
 * The open-set report of checked known-ness scores and per-known-item correctness — the one place both families of
 * every metric are assembled, for `openSetReport` (max logit, argmax) and `openSetReportFromScores` (any score).
 * @param sk [nKnown] known items' scores; @param su [nUnknown]; @param correct [nKnown] 1 where the known item's
 *   closed-set prediction is its label
 */
export function reportFromScores(sk: number[], su: number[], correct: number[]): OpenSetReport {
  return {
    closedSetAccuracy: correct.reduce((a: number, b) => a + b, 0) / sk.length,
    standard: {
      auroc: auroc(sk, su, { ties: 'half' }),
      oscr: oscrFromScores(sk, su, correct, 'threshold'),
      tnrAtTpr95: tnrAtTpr(sk, su, { variant: 'standard' }),
    },
    arpl: {
      auroc: auroc(sk, su, { ties: 'zero' }),
      oscr: oscrFromScores(sk, su, correct, 'arpl'),
      tnrAtTpr95: tnrAtTpr(sk, su, { variant: 'arpl' }),
    },
    nKnown: sk.length,
    nUnknown: su.length,
    ties: tiedScores(sk, su),
  };
}

/**
 * ROC curve of known (positive) vs unknown scores: one point per distinct threshold, from (0, 0) to (1, 1),
 * thresholds descending (ties move both rates together, so the trapezoid area equals `auroc` with ties 0.5).
 * @returns points { fpr, tpr, threshold } (threshold +Infinity for the origin)
 */
export function rocCurve(
  knownScores: ArrayLike<number>,
  unknownScores: ArrayLike<number>,
): { fpr: number; tpr: number; threshold: number }[] {
  checkScores(knownScores, 'knownScores', 'rocCurve');
  checkScores(unknownScores, 'unknownScores', 'rocCurve');
  const items = [
    ...Array.from(knownScores, (s) => ({ s, known: true })),
    ...Array.from(unknownScores, (s) => ({ s, known: false })),
  ].sort((a, b) => b.s - a.s);
  const pts = [{ fpr: 0, tpr: 0, threshold: Number.POSITIVE_INFINITY }];
  let tp = 0;
  let fp = 0;
  let i = 0;
  while (i < items.length) {
    const s = items[i]!.s;
    while (i < items.length && items[i]!.s === s) {
      if (items[i]!.known) tp++;
      else fp++;
      i++;
    }
    pts.push({ fpr: fp / unknownScores.length, tpr: tp / knownScores.length, threshold: s });
  }
  return pts;
}
