import { checkFiniteNumber, createRng, InvalidArgumentError } from '@vlfer/core';
import {
  bootstrapInterval,
  finiteStatistic,
  meanStd,
  resampling,
  sortedQuantile,
  type BootstrapInterval,
  type MeanStd,
  type ResampleOptions,
} from './aggregate.js';
import { unweightedAverageRecall, weightedAverageRecall } from './classification.js';
import { auroc, oscrFromScores } from './open-set.js';
import { checkKnownUnknownIndices, checkLabels, checkOpenSetScores, checkSameLength } from './validate.js';

/**
 * 95 % (or `confidence`) percentile bootstrap intervals of UAR and WAR over the n items of one run, from the same
 * resamples (`bootstrapInterval`; items resampled with replacement; a class missing from a resample is left out of
 * that resample's UAR, as `unweightedAverageRecall` does).
 * @param yTrue [n] class ids @param yPred [n] predicted class ids
 */
export function classificationIntervals(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  options: ResampleOptions & { numClasses?: number },
): { uar: BootstrapInterval; war: BootstrapInterval } {
  checkSameLength(yTrue, yPred, ['yTrue', 'yPred'], 'classificationIntervals');
  checkLabels(yTrue, 'yTrue', 'classificationIntervals', options.numClasses);
  checkLabels(yPred, 'yPred', 'classificationIntervals', options.numClasses);
  const n = yTrue.length;
  const t = new Int32Array(n);
  const p = new Int32Array(n);
  const fill = (idx: Int32Array) => {
    for (let i = 0; i < n; i++) {
      t[i] = yTrue[idx[i]!]!;
      p[i] = yPred[idx[i]!]!;
    }
  };
  return {
    uar: bootstrapInterval({
      ...options,
      n,
      statistic: (idx) => (fill(idx), unweightedAverageRecall(t, p, options.numClasses)),
    }),
    war: bootstrapInterval({ ...options, n, statistic: (idx) => (fill(idx), weightedAverageRecall(t, p)) }),
  };
}

/** Known-ness scores and closed-set predictions of one open-set run. */
export interface OpenSetScores {
  /** [nKnown] known-ness scores of known-class items (higher = more known: MSP, max logit, energy …). */
  knownScores: ArrayLike<number>;
  /** [nUnknown] known-ness scores of unknown-class items. */
  unknownScores: ArrayLike<number>;
  /** [nKnown] predicted known class of each known item. */
  knownPredictions: ArrayLike<number>;
  /** [nKnown] true class of each known item. */
  knownLabels: ArrayLike<number>;
}

/**
 * Bootstrap intervals of AUROC (ties ½) and OSCR (threshold definition) for any known-ness score, stratified: known
 * and unknown items are resampled separately, so every resample keeps nKnown knowns and nUnknown unknowns. Item i of
 * `indices`/`strata` numbering is known item i for i < nKnown, unknown item i − nKnown after.
 */
export function openSetIntervals(
  scores: OpenSetScores,
  options: Omit<ResampleOptions, 'strata'>,
): { auroc: BootstrapInterval; oscr: BootstrapInterval } {
  const { knownScores, unknownScores, knownPredictions, knownLabels } = scores;
  checkOpenSetScores(scores, 'openSetIntervals');
  const nk = knownScores.length;
  const nu = unknownScores.length;
  const strata = Int32Array.from({ length: nk + nu }, (_, i) => (i < nk ? 0 : 1));
  checkKnownUnknownIndices(options.indices, nk, 'openSetIntervals');
  const sk = new Float64Array(nk);
  const su = new Float64Array(nu);
  const correct = new Array<number>(nk);
  const fill = (idx: Int32Array) => {
    for (let i = 0; i < nk; i++) {
      const j = idx[i]!;
      sk[i] = knownScores[j]!;
      correct[i] = knownPredictions[j] === knownLabels[j] ? 1 : 0;
    }
    for (let i = 0; i < nu; i++) su[i] = unknownScores[idx[nk + i]! - nk]!;
  };
  const common = { ...options, n: nk + nu, strata };
  return {
    auroc: bootstrapInterval({ ...common, statistic: (idx) => (fill(idx), auroc(sk, su)) }),
    oscr: bootstrapInterval({
      ...common,
      statistic: (idx) => (fill(idx), oscrFromScores(Array.from(sk), Array.from(su), correct, 'threshold')),
    }),
  };
}

/** log Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-14). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = c[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b). Where one argument is large and the other small (Student's t of
 * many degrees of freedom: b = ½), the two large log Γ values cancel to a few digits; there log Γ(a + b) − log Γ(a)
 * comes from its asymptotic series, s·log a + Σₖ (−1)ᵏ⁺¹ (Bₖ₊₁(s) − Bₖ₊₁(0)) / (k(k + 1) aᵏ) (Bernoulli
 * polynomials; terms to a⁻³, the next below 1e-17 beyond a = 1e4).
 */
function logBeta(a: number, b: number): number {
  const [big, small] = a >= b ? [a, b] : [b, a];
  if (big < 1e4 || small > 1) return logGamma(a) + logGamma(b) - logGamma(a + b);
  const s = small;
  const ratio =
    s * Math.log(big) +
    (s * (s - 1)) / (2 * big) -
    (s * (s - 1) * (2 * s - 1)) / (12 * big * big) +
    (s * s * (s - 1) * (s - 1)) / (12 * big ** 3);
  return logGamma(small) - ratio;
}

/**
 * Regularised incomplete beta I_x(a, b) by its continued fraction (modified Lentz). `y` = 1 − x, given by callers
 * that know it exactly (1 − x in floating point keeps few digits of it where x is near 1); `logs` = [log x, log y],
 * given by callers that know them beyond what x and y hold (an x below the smallest double: Student's t with |t|
 * near the largest).
 */
function incompleteBeta(x: number, a: number, b: number, y = 1 - x, logs?: readonly [number, number]): number {
  if (x <= 0 && !(logs && Number.isFinite(logs[0]))) return 0;
  if (y <= 0) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(y, b, a, x, logs && [logs[1], logs[0]]);
  // log x as log1p(−y) near 1 (a·log x with a large multiplies its rounding)
  const [lx, ly] = logs ?? [x > 0.5 ? Math.log1p(-y) : Math.log(x), y > 0.5 ? Math.log1p(-x) : Math.log(y)];
  const front = Math.exp(lx * a + ly * b - logBeta(a, b)) / a;
  // 1 + 1/(1 + d₁/(1 + d₂/(1 + …))): d₂ₘ = m(b − m)x/((a + 2m − 1)(a + 2m)),
  // d₂ₘ₊₁ = −(a + m)(a + b + m)x/((a + 2m)(a + 2m + 1))
  const f = continuedFraction(
    1,
    1,
    (k) => {
      const [i, m] = [k - 1, Math.floor((k - 1) / 2)];
      if (i === 0) return 1;
      if (i % 2 === 0) return (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
      return -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    },
    1e-15,
    401,
  );
  return front * (f - 1);
}

/**
 * b₀ + a₁/(b + a₂/(b + a₃/(b + …))), every partial denominator `b`, by the modified Lentz method: to relative `tol`,
 * or after `terms` terms (the incomplete beta function's fraction and erfc's).
 */
function continuedFraction(b0: number, b: number, a: (k: number) => number, tol: number, terms: number): number {
  const tiny = 1e-300;
  let f = b0;
  let c = b0;
  let d = 0;
  for (let k = 1; k <= terms; k++) {
    const ak = a(k);
    d = b + ak * d;
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    c = b + ak / c;
    if (Math.abs(c) < tiny) c = tiny;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < tol) break;
  }
  return f;
}

/**
 * Lower tail of the standard normal, Φ(−x) for x ≥ 0, to about 1e-15 relative: by erf's series of positive terms,
 * ½ − e^(−z²)·Σ 2ⁿ z²ⁿ⁺¹/(1·3·…·(2n + 1))/√π with z = x/√2, below z = 1 (the tail is above 0.078 there, so the
 * difference keeps its digits), and by the continued fraction of erfc from there (at most 190 terms; modified Lentz).
 */
function normalLowerTail(x: number): number {
  const z = x / Math.SQRT2;
  if (z < 1) {
    // erf(z) = 2/√π · e^(−z²) · Σₙ 2ⁿ z²ⁿ⁺¹ / (1·3·…·(2n + 1))
    let term = z;
    let sum = z;
    for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
      term *= (2 * z * z) / (2 * n + 1);
      sum += term;
    }
    return 0.5 - (sum * Math.exp(-z * z)) / Math.sqrt(Math.PI);
  }
  // erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …))))
  const f = continuedFraction(z, z, (k) => k / 2, 1e-16, 499);
  return (0.5 * Math.exp(-z * z)) / (Math.sqrt(Math.PI) * f);
}

/**
 * The lower tail P(T ≤ −|t|) of Student's t with many degrees of freedom ν, by its expansion about the normal
 * distribution, Φ(−|t|) + φ(t)·Σₖ gₖ(|t|)/νᵏ to ν⁻⁴: g₁ = (t³ + t)/4, g₂ = (3t⁷ − 7t⁵ − 5t³ − 3t)/96,
 * g₃ = (t¹¹ − 11t⁹ + 14t⁷ + 6t⁵ − 3t³ − 15t)/384, g₄ = (15t¹⁵ − 375t¹³ + 2225t¹¹ − 2141t⁹ − 939t⁷ − 213t⁵ + 915t³ +
 * 945t)/92160 (found with mpmath at 250 digits, each to 1e-9 of its integers). gₖ grows as t⁴ᵏ⁻¹, so the series is
 * one in t⁴/ν: with t⁴ ≤ ν/100 the first omitted term is below 1e-15 of the tail.
 */
function studentTLowerTailExpansion(x: number, v: number): number {
  const x2 = x * x;
  const phi = Math.exp(-x2 / 2) / Math.sqrt(2 * Math.PI);
  if (phi === 0) return normalLowerTail(x); // |t| > 38.6: below the doubles (and g₄ would overflow)
  const g1 = (x * (x2 + 1)) / 4;
  const g2 = (x * (((3 * x2 - 7) * x2 - 5) * x2 - 3)) / 96;
  const g3 = (x * (((((x2 - 11) * x2 + 14) * x2 + 6) * x2 - 3) * x2 - 15)) / 384;
  const g4 =
    (x * (((((((15 * x2 - 375) * x2 + 2225) * x2 - 2141) * x2 - 939) * x2 - 213) * x2 + 915) * x2 + 945)) / 92160;
  return normalLowerTail(x) + phi * ((((g4 / v + g3) / v + g2) / v + g1) / v);
}

/**
 * CDF of Student's t distribution with `df` degrees of freedom, for every finite t and df > 0, the tails to their
 * relative digits down to the smallest normal doubles (|t| up to the largest): against mpmath at 80 digits (2,300
 * random pairs, df 0.1 … 1e7, |t| 0.03 … 1e12), within 2e-14 relative for df < 10, 1.2e-13 below 100, 2.5e-11 for df
 * 100 … 1e6 (the incomplete beta function's continued fraction) and 4e-15 from 1e6 (the expansion about the normal,
 * `studentTLowerTail`); 0 where the tail is below the smallest double, never NaN.
 * @param df degrees of freedom > 0 @throws InvalidArgumentError for a `t` or `df` that is no number, or df ≤ 0
 */
export function studentTCdf(t: number, df: number): number {
  if (t === Infinity || t === -Infinity) {
    checkFiniteNumber(df, { functionName: 'studentTCdf', argument: 'df' }, { min: 0, minExclusive: true });
    return t > 0 ? 1 : 0;
  }
  checkFiniteNumber(t, { functionName: 'studentTCdf', argument: 't' });
  checkFiniteNumber(df, { functionName: 'studentTCdf', argument: 'df' }, { min: 0, minExclusive: true });
  const tail = studentTLowerTail(t, df);
  return t > 0 ? 1 - tail : tail;
}

/**
 * P(T ≤ −|t|) with `df` degrees of freedom, held to its relative digits in the far tail: from df = 1e3 where
 * t⁴ ≤ df/100, the expansion about the normal (`studentTLowerTailExpansion`); elsewhere the incomplete beta function's
 * continued fraction, which converges slowly and loses digits near the centre as df grows (4e-10 at df 1e8, 4e-9 at
 * 1e9, 1.5e-3 at 1e15), at x = df/(df + t²), taken with its logarithm so that no t² or df/t² leaves the doubles.
 */
function studentTLowerTail(t: number, df: number): number {
  const x = Math.abs(t);
  // below 1e-200 degrees of freedom the mass is at ±∞: P(−|t| < T < 0) ≈ (df/2)·asinh(|t|/√df) < 1e-196 for any
  // double t, so the tail is ½ (the fraction lost it there: 0 at df 1e-308, NaN at 5e-324)
  if (df < 1e-200) return 0.5;
  if (df >= 1e3 && x * x * x * x <= df / 100) return studentTLowerTailExpansion(x, df);
  // log(1 + t²/df), and x = df/(df + t²) with 1 − x and their logs
  let l: number, xb: number, yb: number, logs: [number, number];
  if (x * x <= df) {
    const r = (x * x) / df; // t²/df ≤ 1
    l = Math.log1p(r);
    [xb, yb, logs] = [1 / (1 + r), r / (1 + r), [-l, Math.log(r) - l]];
  } else {
    const ls = Math.log(df) - 2 * Math.log(x); // df/t² < 1, which may underflow: by its logarithm
    const s = Math.exp(ls);
    l = Math.log1p(s) - ls;
    [xb, yb, logs] = [s / (1 + s), 1 / (1 + s), [-l, -Math.log1p(s)]];
  }
  // the tail is below c·(1 + t²/df)^(−(df − 1)/2)·df/((df − 1)|t|) with c < 0.4 (∫ₓ (df + u²)^(−(df+1)/2) du ≤
  // (df + x²)^(−(df−1)/2)/((df − 1)x)): where that is below the doubles, the fraction (slow there) is not needed
  if (df > 1 && Math.log((0.4 * df) / (df - 1) / x) - ((df - 1) / 2) * l < -746) return 0;
  return 0.5 * incompleteBeta(xb, df / 2, 0.5, yb, logs);
}

/**
 * Quantile (inverse CDF) of Student's t distribution, by bisection on the tail P(T ≤ −t) = min(p, 1 − p) (1 − p is
 * exact for p ≥ ½), so that a p of 1e-20 or 1 − 1e-15 keeps its digits (mpmath to 1e-13 relative; near p = ½,
 * where the tail is held to 1e-16 absolute, to 1e-16/φ(t) in t: 1.4e-10 relative at p = ½ − 1e-7); ±Infinity where
 * the quantile is beyond the doubles (p = 1e-300 at df ½, and every p ≠ ½ below df 1e-200).
 * @param p probability in (0, 1) @param df degrees of freedom > 0
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1))
    throw new InvalidArgumentError({
      functionName: 'studentTQuantile',
      argument: 'p',
      message: `must be in (0, 1), got ${p}`,
    });
  if (!(df > 0 && Number.isFinite(df)))
    throw new InvalidArgumentError({
      functionName: 'studentTQuantile',
      argument: 'df',
      message: `must be a finite number > 0, got ${df}`,
    });
  if (p === 0.5) return 0;
  const q = p < 0.5 ? p : 1 - p;
  let lo = 0;
  let hi = 1;
  while (studentTLowerTail(hi, df) > q) {
    hi *= 2;
    if (hi === Infinity) return p < 0.5 ? -Infinity : Infinity; // beyond the doubles (p 1e-300 at df ½: ±1e600)
  }
  for (let i = 0; i < 2000 && hi - lo > 1e-15 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (studentTLowerTail(mid, df) > q) lo = mid;
    else hi = mid;
  }
  const t = (lo + hi) / 2;
  return p < 0.5 ? -t : t;
}

export interface SeedSummary extends MeanStd {
  /** Lower bound of the t-interval of the mean; null with a single value (no spread to estimate). */
  lower: number | null;
  upper: number | null;
  confidence: number;
}

/**
 * Summary of one metric across seeds (or folds): mean, sample std (n − 1) and the Student t confidence interval of
 * the mean, mean ± t_{n−1, (1+confidence)/2} · std / √n (assumes the per-seed values are i.i.d. and roughly normal;
 * with 3–5 seeds the interval is wide, as it should be). As `scipy.stats.t.interval(confidence, n − 1, mean, sem)`.
 * @param values [n] the metric of each seed
 */
export function seedSummary(values: readonly number[], options: { confidence?: number } = {}): SeedSummary {
  const confidence = options.confidence ?? 0.95;
  // (1 + confidence) / 2 must stay below 1 in doubles: 1 − 1e-16 does not
  if (!(confidence > 0 && (1 + confidence) / 2 < 1))
    throw new InvalidArgumentError({
      functionName: 'seedSummary',
      argument: 'confidence',
      message: `must be in (0, 1) with (1 + confidence) / 2 below 1 in doubles, got ${confidence}`,
    });
  const ms = meanStd(values);
  if (!Number.isFinite(ms.mean) || !Number.isFinite(ms.std))
    throw new InvalidArgumentError({
      functionName: 'seedSummary',
      argument: 'values',
      message: `their mean or standard deviation overflows a double (${ms.mean}, ${ms.std}); scale the values`,
    });
  if (ms.n < 2) return { ...ms, lower: null, upper: null, confidence };
  const half = (studentTQuantile((1 + confidence) / 2, ms.n - 1) * ms.std) / Math.sqrt(ms.n);
  return { ...ms, lower: ms.mean - half, upper: ms.mean + half, confidence };
}

export interface PairedTest {
  /** Statistic of method A and of method B on all items. */
  estimateA: number;
  estimateB: number;
  /** estimateA − estimateB. */
  difference: number;
  /** Percentile bootstrap interval of the difference (paired: both methods see the same resampled items). */
  lower: number;
  upper: number;
  /** Two-sided p-value of H0: no difference (see `pairedBootstrapTest`). */
  pValue: number;
  confidence: number;
  iterations: number;
  seed: number;
}

/**
 * Paired bootstrap test of the difference of a metric between two methods scored on the SAME n items: each resample
 * draws items with replacement and evaluates both methods on it, δ*_b = A(idx_b) − B(idx_b). Returns the
 * difference δ̂ on all items, its percentile interval, and the two-sided p-value of the null-centred bootstrap
 * (Efron & Tibshirani 1993, §16.4; Koehn 2004 for paired MT evaluation): p = (1 + #{b : |δ*_b − δ̂| ≥ |δ̂|}) / (B + 1).
 * On few items this p can be far below what the items allow: when every resample gives the same difference (6 items,
 * A right on all, B wrong on all) none is "as extreme" and p = 1/(B + 1), where the exact permutation test's smallest p
 * is 2/2⁶ = 0.031. Read `pairedPermutationTest`'s p there; the bootstrap p is for hundreds of items.
 * `indices` replays explicit resamples (exact parity with a NumPy computation given the same indices).
 * @param options.statisticA metric of method A on resampled item indices (length n)
 */
export function pairedBootstrapTest(
  options: ResampleOptions & {
    n: number;
    statisticA: (indices: Int32Array) => number;
    statisticB: (indices: Int32Array) => number;
  },
): PairedTest {
  const { n, statisticA, statisticB, seed } = options;
  const r = resampling(n, options, 'pairedBootstrapTest');
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const whereA = { functionName: 'pairedBootstrapTest', argument: 'statisticA' };
  const whereB = { functionName: 'pairedBootstrapTest', argument: 'statisticB' };
  const estimateA = finiteStatistic(statisticA(all), whereA);
  const estimateB = finiteStatistic(statisticB(all), whereB);
  const difference = estimateA - estimateB;
  const deltas = new Float64Array(r.iterations);
  r.forEach(
    (idx, b) => (deltas[b] = finiteStatistic(statisticA(idx), whereA, b) - finiteStatistic(statisticB(idx), whereB, b)),
  );
  let extreme = 0;
  // a relative tolerance so that floating-point noise in equal differences counts as "as extreme" (as SciPy does)
  const tol = 1e-12 * Math.max(1, Math.abs(difference));
  for (const d of deltas) if (Math.abs(d - difference) >= Math.abs(difference) - tol) extreme++;
  deltas.sort();
  const alpha = 1 - r.confidence;
  return {
    estimateA,
    estimateB,
    difference,
    lower: sortedQuantile(deltas, alpha / 2),
    upper: sortedQuantile(deltas, 1 - alpha / 2),
    pValue: (1 + extreme) / (r.iterations + 1),
    confidence: r.confidence,
    iterations: r.iterations,
    seed,
  };
}

export interface PermutationTest {
  difference: number;
  pValue: number;
  /** Number of sign patterns evaluated (2ⁿ when exact). */
  permutations: number;
  exact: boolean;
}

/**
 * Paired permutation (approximate randomisation) test of H0 "methods A and B are exchangeable on each item": every
 * item's two outputs are swapped with probability ½ and the metric difference recomputed. `difference(swapped)`
 * must return metric(A′) − metric(B′), where A′ takes B's output on the items with swapped[i] = 1 and vice versa.
 * Exact (all 2ⁿ swap patterns, p = #{|δ_π| ≥ |δ̂|} / 2ⁿ) when 2ⁿ ≤ `iterations`: the p of
 * `scipy.stats.permutation_test(..., permutation_type='samples')`, two-sided (the swap distribution is symmetric, so
 * 2·min of its one-sided tails equals the |δ| form). Else Monte Carlo over R random patterns with
 * p = (1 + #{|δ_π| ≥ |δ̂|}) / (R + 1) (Phipson & Smyth 2010), which is not SciPy's Monte Carlo p: SciPy doubles the
 * smaller one-sided (1 + count) / (R + 1), so its p is up to 1/(R + 1) larger (e.g. 2/2001 where this gives 1/2001).
 * Both are valid p-values; neither equals the other draw for draw.
 */
export function pairedPermutationTest(options: {
  n: number;
  difference: (swapped: Uint8Array) => number;
  seed: number;
  iterations?: number;
}): PermutationTest {
  const { n, difference, seed } = options;
  const iterations = options.iterations ?? 9999;
  const fail = (argument: string, message: string): never => {
    throw new InvalidArgumentError({ functionName: 'pairedPermutationTest', argument, message });
  };
  if (!Number.isInteger(n) || n <= 0) fail('n', `must be a positive integer, got ${n}`);
  if (!Number.isInteger(iterations) || iterations < 1)
    fail('iterations', `must be a positive integer, got ${iterations}`);
  if (!Number.isSafeInteger(seed)) fail('seed', `must be an integer, got ${seed}`);
  // a NaN is never "as extreme": it gave p = 0, which an exact test cannot give
  const where = { functionName: 'pairedPermutationTest', argument: 'difference' };
  let pattern = 0;
  const diff = (s: Uint8Array) => finiteStatistic(difference(s), where, pattern++);
  const swapped = new Uint8Array(n);
  const observed = finiteStatistic(difference(swapped), where);
  const tol = 1e-12 * Math.max(1, Math.abs(observed));
  const isExtreme = (d: number) => Math.abs(d) >= Math.abs(observed) - tol;
  if (n < 31 && 2 ** n <= iterations) {
    const total = 2 ** n;
    let extreme = 0;
    for (let mask = 0; mask < total; mask++) {
      for (let i = 0; i < n; i++) swapped[i] = (mask >>> i) & 1;
      if (isExtreme(diff(swapped))) extreme++;
    }
    return { difference: observed, pValue: extreme / total, permutations: total, exact: true };
  }
  const rng = createRng(seed);
  let extreme = 0;
  for (let b = 0; b < iterations; b++) {
    for (let i = 0; i < n; i++) swapped[i] = rng.next() < 0.5 ? 1 : 0;
    if (isExtreme(diff(swapped))) extreme++;
  }
  return { difference: observed, pValue: (1 + extreme) / (iterations + 1), permutations: iterations, exact: false };
}
