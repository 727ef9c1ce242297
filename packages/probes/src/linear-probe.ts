import {
  assertArrayLike,
  assertFiniteValues,
  assertShape,
  checkClassIds,
  checkOneOf,
  InvalidArgumentError,
  runStepsSync,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import {
  jsProbeKernel,
  PROBE_KERNELS,
  wasmProbeKernel,
  type ProbeKernel,
  type ProbeKernelName,
} from './probe-kernel.js';
import { lbfgsSteps, type LbfgsOptions, type LbfgsResult, type ObjectiveWithGradient } from './lbfgs.js';

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
  /**
   * Where the objective's products run: 'wasm' (WebAssembly SIMD; throws where the runtime lacks it or the features
   * exceed its 4 GiB memory) or 'js'. Default: 'wasm' where it can run, else 'js'. Both give the same bits.
   */
  kernel?: ProbeKernelName;
}

function checkData(
  features: Tensor2D,
  labels: ArrayLike<number>,
  functionName: string,
  numClasses?: number,
  /** the arguments' names, where they are parts of one (`train.features`) */
  part = '',
): number {
  const [fArg, lArg] = [`${part}features`, `${part}labels`];
  assertShape(features, [null, null], fArg, functionName);
  const [n, d] = features.dims;
  if (n === 0 || d === 0)
    throw new InvalidArgumentError({
      functionName,
      argument: fArg,
      message: `has shape [${n}, ${d}]; expected at least one row and one column`,
    });
  assertArrayLike(labels, lArg, functionName);
  if (labels.length !== n)
    throw new InvalidArgumentError({
      functionName,
      argument: lArg,
      message: `has length ${labels.length} but '${fArg}' has ${n} rows`,
    });
  let max = 0;
  checkClassIds(labels, { functionName, argument: lArg }, numClasses);
  for (let i = 0; i < n; i++) max = Math.max(max, labels[i]!);
  assertFiniteValues(features, fArg, functionName);
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
 * in `optimizer.reason`: 'max-iterations' did not meet the stop test, and such a fit can be far from the optimum: at
 * C ≥ 1e4 on nearly separable features 1000 iterations may not be enough (an independent test, n = 133, 5 imbalanced
 * classes, D = 16: at C = 1e4 the objective 1.1e-6 per sample above the optimum, held-out probabilities up to 0.62
 * apart, 3,989 iterations to converge; at C = 1e6, 23,140). sklearn's fit stops there too. Raise `maxIterations`
 * where it matters; a sweep records each fit's `reason` (`ProbeSweepResult.evaluated`).
 * @param features [n, D] @param labels [n] class ids in [0, C)
 */
export function fitLinearProbe(
  features: Tensor2D,
  labels: ArrayLike<number>,
  options: LinearProbeOptions = {},
): LinearProbe {
  return runStepsSync(fitLinearProbeSteps(features, labels, options));
}

/**
 * `fitLinearProbe` as a generator that yields the L-BFGS iterations done after each one but the last (`lbfgsSteps`):
 * run it with `runSteps` of @vlfer/core to keep a CLI's signals and progress alive during a fit of minutes. The
 * inputs are checked at the first `next()`. @param features [n, D] @param labels [n] @returns what `fitLinearProbe` returns
 */
export function* fitLinearProbeSteps(
  features: Tensor2D,
  labels: ArrayLike<number>,
  options: LinearProbeOptions = {},
): Generator<number, LinearProbe, void> {
  const k = checkData(features, labels, 'fitLinearProbe', options.numClasses);
  const c = options.c ?? 1;
  if (!(Number.isFinite(c) && c > 0))
    throw new InvalidArgumentError({ functionName: 'fitLinearProbe', argument: 'c', message: `must be > 0, got ${c}` });
  const [n, d] = features.dims;
  const nw = k * d;
  const objective = probeObjective(probeKernel(features, k, options.kernel), labels, [n, d], k, c);
  // the test applies to ∇f·max(1, C): at a large C the mean loss is so flat near the optimum of a separable set that
  // ‖∇f‖∞ ≤ 1e-8 held with the weights 10 % off (C = 1e6); scaled, it is the gradient of C·mean CE + ‖W‖²/(2n)
  const gradientTolerance = (options.gradientTolerance ?? 1e-8) / Math.max(1, c);
  const { kernel: _kernel, ...rest } = options;
  const lbfgs = { ...rest, gradientTolerance };
  const { x: theta, ...optimizer } = yield* lbfgsSteps(objective, new Float64Array(nw + k), lbfgs);
  return { coef: theta.slice(0, nw), intercept: theta.slice(nw), numClasses: k, dim: d, c, optimizer };
}

/**
 * The objective `fitLinearProbe` minimises — mean cross-entropy + ‖W‖²/(2·C·n) — and its gradient, over θ = [W (k × D),
 * b (k)]. Rows go through in blocks of 4 (`ProbeKernel`): the 4 dot products of a weight row share its loads and run
 * as 4 independent sums, and each gradient element takes the block's 4 updates in one load and store, in the order of
 * the rows — the same sums, term by term, as one row at a time. The kernel is WebAssembly SIMD where the runtime has
 * it (the same bits as the JavaScript one, 2.9–4.0× faster; scripts/fit-time.ts). @param kernel the features [n, D] in
 * a kernel (`probeKernel`) @param labels [n]
 */
function probeObjective(
  kernel: ProbeKernel,
  labels: ArrayLike<number>,
  [n, d]: readonly [number, number],
  k: number,
  c: number,
): ObjectiveWithGradient {
  const nw = k * d;
  const e = new Float64Array(k);
  const { z, res } = kernel;
  return (theta, grad) => {
    kernel.begin(theta);
    let loss = 0;
    const gb = new Float64Array(k);
    for (let i0 = 0; i0 < n; i0 += 4) {
      const rows = Math.min(4, n - i0);
      // a block past the last row repeats that row with a zero residual
      kernel.logits(i0);
      res.fill(0);
      for (let r = 0; r < rows; r++) loss += itemLossAndResidual(z, res, r * k, k, labels[i0 + r]!, e);
      for (let j = 0; j < k; j++) gb[j] = gb[j]! + res[j]! + res[k + j]! + res[2 * k + j]! + res[3 * k + j]!;
      kernel.accumulate(i0);
    }
    kernel.end(grad);
    let reg = 0;
    for (let t = 0; t < nw; t++) {
      reg += theta[t]! * theta[t]!;
      grad[t] = grad[t]! / n + theta[t]! / (c * n);
    }
    for (let j = 0; j < k; j++) grad[nw + j] = gb[j]! / n;
    return loss / n + reg / (2 * c * n);
  };
}

/**
 * The features [n, D] in the WebAssembly kernel, or the JavaScript one where the runtime has no WebAssembly SIMD or
 * they exceed its 4 GiB memory (`kernel` picks one: 'wasm' throws where it cannot run). Both give the same bits.
 */
function probeKernel(features: Tensor2D, k: number, kernel?: ProbeKernelName): ProbeKernel {
  if (kernel !== undefined) checkOneOf(kernel, PROBE_KERNELS, { functionName: 'fitLinearProbe', argument: 'kernel' });
  const dims = features.dims;
  const wasm = kernel === 'js' ? undefined : wasmProbeKernel(features.data, dims, k);
  if (!wasm && kernel === 'wasm')
    throw new InvalidArgumentError({
      functionName: 'fitLinearProbe',
      argument: 'kernel',
      message: "'wasm' cannot run here: the runtime has no WebAssembly SIMD, or the features exceed its 4 GiB memory",
    });
  return wasm ?? jsProbeKernel(Float64Array.from(features.data), dims, k);
}

/**
 * One item's cross-entropy from its logits `z[at … at + k)` with label `y`, and its residuals softmax − onehot written
 * to `r[at … at + k)` (`e` is scratch of length k): the log-sum-exp as max + log1p(the other classes' share), and
 * p_top − 1 as −(their probability), both exact where an item is classified with confidence (a separable set at a
 * large C), where log(1 + tiny) and p − 1 round away. @returns the item's loss
 */
function itemLossAndResidual(
  z: Float64Array,
  r: Float64Array,
  at: number,
  k: number,
  y: number,
  e: Float64Array,
): number {
  let m = -Infinity;
  let top = 0;
  for (let j = 0; j < k; j++) if (z[at + j]! > m) [m, top] = [z[at + j]!, j];
  let rest = 0;
  for (let j = 0; j < k; j++) if (j !== top) rest += e[j] = Math.exp(z[at + j]! - m);
  for (let j = 0; j < k; j++) {
    const p = (j === top ? 1 : e[j]!) / (1 + rest);
    r[at + j] = j !== y ? p : j === top ? -rest / (1 + rest) : p - 1;
  }
  return Math.log1p(rest) + (m - z[at + y]!); // m − z_y = 0 where the label is the top class
}

/**
 * A probe's weights as its size says (coef [C·D], intercept [C]) and features [n, D] finite, as `fitLinearProbe`
 * takes them: a NaN feature would give a NaN row of logits, a short coef NaN logits.
 */
function checkProbeInputs(probe: LinearProbe, features: Tensor2D, functionName: string): void {
  const k = probe?.numClasses;
  const d = probe?.dim;
  if (!Number.isInteger(k) || k < 1 || !Number.isInteger(d) || d < 1)
    throw new InvalidArgumentError({
      functionName,
      argument: 'probe',
      message: `expected a fitted probe (numClasses and dim positive integers), got numClasses ${k}, dim ${d}`,
    });
  for (const [name, arr, want] of [
    ['coef', probe.coef, k * d],
    ['intercept', probe.intercept, k],
  ] as const) {
    if (arr?.length !== want)
      throw new InvalidArgumentError({
        functionName,
        argument: 'probe',
        message: `has ${arr?.length ?? 'no'} ${name} values, expected ${want} (numClasses ${k} × dim ${d})`,
      });
    assertFiniteValues({ data: arr }, `probe.${name}`, functionName);
  }
  assertShape(features, [null, d], 'features', functionName);
  assertFiniteValues(features, 'features', functionName);
}

/**
 * Logits x · Wᵀ + b of a fitted probe (sklearn's `decision_function`).
 * @param features [n, D] @returns [n, C] (float32 tensor; computed in float64)
 */
export function probeLogits(probe: LinearProbe, features: Tensor2D): Tensor2D {
  checkProbeInputs(probe, features, 'probeLogits');
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
  checkProbeInputs(probe, features, 'probeProbabilities');
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
  /**
   * Every C evaluated, in evaluation order, with how its fit stopped (`reason`: 'max-iterations' did not meet the stop
   * test and may be far from that C's optimum; see `fitLinearProbe`).
   */
  evaluated: { c: number; score: number; reason: LbfgsResult['reason'] }[];
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
  options: ProbeSweepOptions = {},
): ProbeSweepResult {
  return runStepsSync(sweepLinearProbeSteps(train, validation, options));
}

/** Options of `sweepLinearProbe`: those of every fit but C, the search, and the validation score. */
export type ProbeSweepOptions = Omit<LinearProbeOptions, 'c'> & {
  search?: 'binary' | 'grid';
  score?: (yTrue: ArrayLike<number>, yPred: ArrayLike<number>) => number;
};

/** A sweep's validation score, which must be finite (a NaN never compares better, so C = 1e-6 won). */
function finiteScore(s: number, c: number): number {
  if (!Number.isFinite(s))
    throw new InvalidArgumentError({
      functionName: 'sweepLinearProbe',
      argument: 'score',
      message: `returned ${s} for C = ${c}; expected a finite number (higher is better)`,
    });
  return s;
}

/** Where a sweep is: fit `fit` of at most `fits` (1-based), `iteration` L-BFGS iterations into it. */
export interface ProbeProgress {
  fit: number;
  /** 97 for the grid; 15 for the binary search, which may need fewer */
  fits: number;
  iteration: number;
}

/**
 * The steps of one fit (`fitLinearProbeSteps`, which yields iterations) as the progress of fit `fit` of `fits`: a
 * sweep's fits, or a single fit reported as a sweep of one. @returns the fitted probe
 */
export function* fitProgress(
  steps: Generator<number, LinearProbe, void>,
  fit: number,
  fits: number,
): Generator<ProbeProgress, LinearProbe, void> {
  let r = steps.next();
  for (; !r.done; r = steps.next()) yield { fit, fits, iteration: r.value };
  return r.value;
}

/**
 * `sweepLinearProbe` as a generator that yields its progress after every L-BFGS iteration of every fit but each fit's
 * last (run it with `runSteps` of @vlfer/core; see `fitLinearProbeSteps`). @returns what `sweepLinearProbe` returns
 */
export function* sweepLinearProbeSteps(
  train: { features: Tensor2D; labels: ArrayLike<number> },
  validation: { features: Tensor2D; labels: ArrayLike<number> },
  options: ProbeSweepOptions = {},
): Generator<ProbeProgress, ProbeSweepResult, void> {
  const k = checkData(train.features, train.labels, 'sweepLinearProbe', options.numClasses, 'train.');
  checkData(validation.features, validation.labels, 'sweepLinearProbe', k, 'validation.');
  assertShape(validation.features, [null, train.features.dims[1]], 'validation.features', 'sweepLinearProbe');
  const score =
    options.score ??
    ((t: ArrayLike<number>, p: ArrayLike<number>) => {
      let ok = 0;
      for (let i = 0; i < t.length; i++) if (t[i] === p[i]) ok++;
      return ok / t.length;
    });
  const fits = new Map<number, { score: number; probe: LinearProbe }>();
  const evaluated: ProbeSweepResult['evaluated'] = [];
  const search = checkOneOf(options.search ?? 'binary', ['binary', 'grid'], {
    functionName: 'sweepLinearProbe',
    argument: 'search',
  });
  const grid = search === 'grid';
  const total = grid ? 97 : 15;
  function* evalAt(j: number): Generator<ProbeProgress, void, void> {
    if (fits.has(j)) return;
    const c = CLIP_PROBE_C_GRID[j]!;
    const probe = yield* fitProgress(
      fitLinearProbeSteps(train.features, train.labels, { ...options, numClasses: k, c }),
      evaluated.length + 1,
      total,
    );
    const logits = probeLogits(probe, validation.features);
    const pred = Array.from({ length: logits.dims[0] }, (_, i) => {
      let best = 0;
      for (let q = 1; q < k; q++) if (logits.data[i * k + q]! > logits.data[i * k + best]!) best = q;
      return best;
    });
    const s = finiteScore(score(validation.labels, pred), c);
    fits.set(j, { score: s, probe });
    evaluated.push({ c, score: s, reason: probe.optimizer.reason });
  }
  const bestIndex = () => {
    let b = -1;
    for (const [j, r] of fits)
      if (b < 0 || r.score > fits.get(b)!.score || (r.score === fits.get(b)!.score && j < b)) b = j;
    return b;
  };
  if (grid) for (let j = 0; j <= 96; j++) yield* evalAt(j);
  else {
    for (let j = 0; j <= 96; j += 16) yield* evalAt(j);
    for (const step of [8, 4, 2, 1]) {
      const b = bestIndex();
      if (b - step >= 0) yield* evalAt(b - step);
      if (b + step <= 96) yield* evalAt(b + step);
    }
  }
  const b = bestIndex();
  const best = fits.get(b)!;
  return { c: CLIP_PROBE_C_GRID[b]!, score: best.score, probe: best.probe, evaluated };
}

/**
 * The `onStep` of a `runSteps` over `sweepLinearProbeSteps` or `fitClosedSetMethodSteps` that reports to a pipeline's
 * `onProgress`: phase `phase`, `done` fits of at most `fits`, the current fit's L-BFGS iteration in `detail` — at each
 * new fit, else at most every `everyMs` milliseconds.
 */
export function probeProgress(
  onProgress: ProgressCallback | undefined,
  phase = 'fit',
  everyMs = 250,
): (step: ProbeProgress) => void {
  let fit = 0;
  let last = 0;
  return (step) => {
    const now = performance.now();
    if (!onProgress || (step.fit === fit && now - last < everyMs)) return;
    fit = step.fit;
    last = now;
    onProgress({ phase, done: step.fit - 1, total: step.fits, unit: 'fits', detail: { iteration: step.iteration } });
  };
}
