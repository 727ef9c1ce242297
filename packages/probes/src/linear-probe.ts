import { assertShape, checkClassIds, InvalidArgumentError, type Tensor2D } from '@vlfer/core';
import { minimizeLbfgs, type LbfgsOptions, type LbfgsResult } from './lbfgs.js';

/** A fitted multinomial logistic-regression probe: logits = x · Wᵀ + b. */
export interface LinearProbe {
  /** [C, D] row-major weights W (float64), as sklearn's `coef_`. */
  coef: Float64Array;
  /** [C] biases b, as sklearn's `intercept_` (they sum to 0: the start is 0 and the gradient keeps the sum). */
  intercept: Float64Array;
  numClasses: number;
  dim: number;
  /** The inverse L2 strength C it was fitted with. */
  c: number;
  /** Optimiser report (iterations, final gradient norm, stop reason). */
  optimizer: Omit<LbfgsResult, 'x'>;
}

export interface LinearProbeOptions extends LbfgsOptions {
  /** Inverse regularisation strength C (sklearn's `C`), > 0; default 1. */
  c?: number;
  /** Number of classes C; default 1 + the largest label. A class without items gets weights driven by the penalty only. */
  numClasses?: number;
  /** Stop when ‖∇f‖∞·max(1, C) ≤ this, f the per-sample objective of `fitLinearProbe`; default 1e-8. */
  gradientTolerance?: number;
}

function checkData(features: Tensor2D, labels: ArrayLike<number>, functionName: string, numClasses?: number): number {
  assertShape(features, [null, null], 'features', functionName);
  const [n, d] = features.dims;
  if (n === 0 || d === 0)
    throw new InvalidArgumentError({
      functionName,
      argument: 'features',
      message: `has shape [${n}, ${d}]; expected at least one row and one column`,
    });
  if (labels.length !== n)
    throw new InvalidArgumentError({
      functionName,
      argument: 'labels',
      message: `has length ${labels.length} but 'features' has ${n} rows`,
    });
  let max = 0;
  checkClassIds(labels, { functionName, argument: 'labels' }, numClasses);
  for (let i = 0; i < n; i++) max = Math.max(max, labels[i]!);
  for (let i = 0; i < features.data.length; i++)
    if (!Number.isFinite(features.data[i]!))
      throw new InvalidArgumentError({
        functionName,
        argument: 'features',
        message: `row ${Math.floor(i / d)}, column ${i % d} is ${features.data[i]}`,
      });
  const k = numClasses ?? max + 1;
  if (k < 2)
    throw new InvalidArgumentError({
      functionName,
      argument: 'numClasses',
      message: `a probe needs at least 2 classes, got ${k}`,
    });
  return k;
}

/**
 * Linear probe: multinomial logistic regression on frozen features, fitted by L-BFGS (`minimizeLbfgs`). Minimises
 * sklearn's `LogisticRegression(multi_class='multinomial', solver='lbfgs', C=c)` objective C·Σᵢ CE(softmax(W xᵢ + b),
 * yᵢ) + ½‖W‖² (the bias is not penalised), scaled by 1/(C·n) — the per-sample mean loss + ‖W‖²/(2·C·n), which has
 * the same minimiser and makes `gradientTolerance` per sample (sklearn 1.2 applies its `tol` to the unscaled sum).
 * Starts from W = 0, b = 0 as sklearn. Features are used as given (the CLIP paper does not normalise them for its
 * probes). Parity: equal to sklearn run to convergence to 1e-4 (coefficients, intercepts, probabilities;
 * probes.test.ts). sklearn's own defaults (tol 1e-4, max_iter 100, scipy's relative f-decrease stop of 64·ε) can
 * stop far from the optimum on ill-conditioned fits; vlfer's defaults (‖∇‖∞ ≤ 1e-8 / max(1, C) on that scaled
 * objective, 1000 iterations) do not, also on separable classes at C = 1e6 (probes.test.ts: the exact optimum to 1e-4;
 * the loss and its gradient are computed without the cancellation of log(1 + tiny) and p − 1). How the fit stopped is
 * in `optimizer.reason`: 'max-iterations' did not meet the stop test (at C ≥ 1e4 on nearly separable features the
 * test, 1e-8 / C, may not be met within 1000 iterations with the objective within 1e-10 of its optimum).
 * @param features [n, D] @param labels [n] class ids in [0, C)
 */
export function fitLinearProbe(
  features: Tensor2D,
  labels: ArrayLike<number>,
  options: LinearProbeOptions = {},
): LinearProbe {
  const k = checkData(features, labels, 'fitLinearProbe', options.numClasses);
  const c = options.c ?? 1;
  if (!(Number.isFinite(c) && c > 0))
    throw new InvalidArgumentError({ functionName: 'fitLinearProbe', argument: 'c', message: `must be > 0, got ${c}` });
  const [n, d] = features.dims;
  const x = Float64Array.from(features.data);
  const nw = k * d;
  const z = new Float64Array(k);
  const e = new Float64Array(k);
  const objective = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const xi = i * d;
      let m = -Infinity;
      let top = 0;
      for (let j = 0; j < k; j++) {
        let s = theta[nw + j]!;
        const wj = j * d;
        for (let t = 0; t < d; t++) s += theta[wj + t]! * x[xi + t]!;
        z[j] = s;
        if (s > m) [m, top] = [s, j];
      }
      // log-sum-exp as m + log1p(the other classes' share), and p_top − 1 as −(their probability): both exact where
      // an item is classified with confidence (a separable set at a large C), where log(1 + tiny) and p − 1 round away
      let rest = 0;
      for (let j = 0; j < k; j++) if (j !== top) rest += e[j] = Math.exp(z[j]! - m);
      const y = labels[i]!;
      loss += Math.log1p(rest) + (m - z[y]!); // m − z_y = 0 where the label is the top class
      for (let j = 0; j < k; j++) {
        const p = (j === top ? 1 : e[j]!) / (1 + rest);
        const r = j !== y ? p : j === top ? -rest / (1 + rest) : p - 1;
        grad[nw + j]! += r;
        const wj = j * d;
        for (let t = 0; t < d; t++) grad[wj + t]! += r * x[xi + t]!;
      }
    }
    let reg = 0;
    for (let t = 0; t < nw; t++) {
      reg += theta[t]! * theta[t]!;
      grad[t] = grad[t]! / n + theta[t]! / (c * n);
    }
    for (let j = 0; j < k; j++) grad[nw + j] = grad[nw + j]! / n;
    return loss / n + reg / (2 * c * n);
  };
  // the test applies to ∇f·max(1, C): at a large C the mean loss is so flat near the optimum of a separable set that
  // ‖∇f‖∞ ≤ 1e-8 held with the weights 10 % off (C = 1e6); scaled, it is the gradient of C·mean CE + ‖W‖²/(2n)
  const gradientTolerance = (options.gradientTolerance ?? 1e-8) / Math.max(1, c);
  const lbfgs = { ...options, gradientTolerance };
  const { x: theta, ...optimizer } = minimizeLbfgs(objective, new Float64Array(nw + k), lbfgs);
  return { coef: theta.slice(0, nw), intercept: theta.slice(nw), numClasses: k, dim: d, c, optimizer };
}

/**
 * Logits x · Wᵀ + b of a fitted probe (sklearn's `decision_function`).
 * @param features [n, D] @returns [n, C] (float32 tensor; computed in float64)
 */
export function probeLogits(probe: LinearProbe, features: Tensor2D): Tensor2D {
  assertShape(features, [null, probe.dim], 'features', 'probeLogits');
  const [n, d] = features.dims;
  const k = probe.numClasses;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) {
      let s = probe.intercept[j]!;
      for (let t = 0; t < d; t++) s += probe.coef[j * d + t]! * features.data[i * d + t]!;
      out[i * k + j] = s;
    }
  return { dtype: 'float32', data: out, dims: [n, k] };
}

/**
 * Class probabilities softmax(x · Wᵀ + b) (sklearn's `predict_proba`), in float64.
 * @param features [n, D] @returns n rows of C probabilities
 */
export function probeProbabilities(probe: LinearProbe, features: Tensor2D): Float64Array[] {
  assertShape(features, [null, probe.dim], 'features', 'probeProbabilities');
  const [n, d] = features.dims;
  const k = probe.numClasses;
  return Array.from({ length: n }, (_, i) => {
    const z = new Float64Array(k);
    const e = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      let s = probe.intercept[j]!;
      for (let t = 0; t < d; t++) s += probe.coef[j * d + t]! * features.data[i * d + t]!;
      z[j] = s;
    }
    const m = Math.max(...z);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(z[j]! - m);
    return z.map((v) => Math.exp(v - m) / sum);
  });
}

/** The CLIP paper's C grid: 10^(−6 + j/8), j = 0 … 96 (12 decades, 8 steps per decade). */
export const CLIP_PROBE_C_GRID: readonly number[] = Array.from({ length: 97 }, (_, j) => 10 ** (-6 + j / 8));

export interface ProbeSweepResult {
  /** The C with the best validation score (ties: the smaller C, i.e. the stronger penalty). */
  c: number;
  score: number;
  /** The probe fitted on the training set with that C. */
  probe: LinearProbe;
  /** Every C evaluated, in evaluation order. */
  evaluated: { c: number; score: number }[];
}

/**
 * Validation sweep of the L2 strength, the CLIP paper's linear-probe protocol (Radford et al. 2021, Appendix A.3:
 * λ swept over [1e-6, 1e6] on a log grid, found by a "parametric binary search" that starts at
 * {1e-6, 1e-4, 1e-2, 1, 1e2, 1e4, 1e6} and halves the interval around the peak to 8 steps per decade). Implemented
 * over C = 1/λ on `CLIP_PROBE_C_GRID` (symmetric, so the same set): evaluate grid indices 0, 16, …, 96, then around
 * the best index b evaluate b ± 8, b ± 4, b ± 2, b ± 1 (re-centring on the best after each step) — 7 + up to 8 fits.
 * `search: 'grid'` fits all 97. The score is validation accuracy unless `score` is given (e.g. UAR).
 * Refitting on train + validation with the chosen C is left to the caller (`fitLinearProbe`).
 * @param train { features [n, D], labels [n] } @param validation { features [m, D], labels [m] }
 */
export function sweepLinearProbe(
  train: { features: Tensor2D; labels: ArrayLike<number> },
  validation: { features: Tensor2D; labels: ArrayLike<number> },
  options: Omit<LinearProbeOptions, 'c'> & {
    search?: 'binary' | 'grid';
    score?: (yTrue: ArrayLike<number>, yPred: ArrayLike<number>) => number;
  } = {},
): ProbeSweepResult {
  const k = checkData(train.features, train.labels, 'sweepLinearProbe', options.numClasses);
  checkData(validation.features, validation.labels, 'sweepLinearProbe', k);
  assertShape(validation.features, [null, train.features.dims[1]], 'validation.features', 'sweepLinearProbe');
  const score =
    options.score ??
    ((t: ArrayLike<number>, p: ArrayLike<number>) => {
      let ok = 0;
      for (let i = 0; i < t.length; i++) if (t[i] === p[i]) ok++;
      return ok / t.length;
    });
  const fits = new Map<number, { score: number; probe: LinearProbe }>();
  const evaluated: { c: number; score: number }[] = [];
  const evalAt = (j: number) => {
    if (fits.has(j)) return;
    const c = CLIP_PROBE_C_GRID[j]!;
    const probe = fitLinearProbe(train.features, train.labels, { ...options, numClasses: k, c });
    const logits = probeLogits(probe, validation.features);
    const pred = Array.from({ length: logits.dims[0] }, (_, i) => {
      let best = 0;
      for (let q = 1; q < k; q++) if (logits.data[i * k + q]! > logits.data[i * k + best]!) best = q;
      return best;
    });
    const s = score(validation.labels, pred);
    fits.set(j, { score: s, probe });
    evaluated.push({ c, score: s });
  };
  const bestIndex = () => {
    let b = -1;
    for (const [j, r] of fits)
      if (b < 0 || r.score > fits.get(b)!.score || (r.score === fits.get(b)!.score && j < b)) b = j;
    return b;
  };
  if ((options.search ?? 'binary') === 'grid') for (let j = 0; j <= 96; j++) evalAt(j);
  else {
    for (let j = 0; j <= 96; j += 16) evalAt(j);
    for (const step of [8, 4, 2, 1]) {
      const b = bestIndex();
      if (b - step >= 0) evalAt(b - step);
      if (b + step <= 96) evalAt(b + step);
    }
  }
  const b = bestIndex();
  const best = fits.get(b)!;
  return { c: CLIP_PROBE_C_GRID[b]!, score: best.score, probe: best.probe, evaluated };
}
