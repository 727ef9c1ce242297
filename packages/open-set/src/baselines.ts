import {
  assertFiniteValues,
  assertShape,
  cosineLogits,
  InvalidArgumentError,
  LOGIT_SCALE_EXPECTED,
  logitScaleInRange,
  runStepsSync,
  type Tensor2D,
} from '@vlfer/core';

/*
 * Post-hoc open-set (out-of-distribution) scores over a frozen model's logits or features. Every function returns
 * one known-ness score per sample, HIGHER = MORE LIKELY KNOWN, so the scores plug straight into `auroc(known,
 * unknown)` and the score argument of `@vlfer/metrics`' bootstrap intervals. All arithmetic is float64; outputs are
 * plain `number[]` of length n.
 */

function checkFinite(x: Tensor2D, argument: string, functionName: string): void {
  assertShape(x, [null, null], argument, functionName);
  if (x.dims[1] === 0)
    throw new InvalidArgumentError({ functionName, argument, message: 'has 0 columns; expected at least one class' });
  assertFiniteValues(x, argument, functionName);
}

/**
 * Maximum softmax probability (MSP): max_k softmax(z)_k — Hendrycks & Gimpel, "A Baseline for Detecting
 * Misclassified and Out-of-Distribution Examples in Neural Networks", ICLR 2017.
 * @param logits [n, K] logits over the K known classes
 * @returns [n] scores in [1/K, 1] (1/K for equal logits); higher = more likely known
 */
export function maxSoftmaxScore(logits: Tensor2D): number[] {
  checkFinite(logits, 'logits', 'maxSoftmaxScore');
  const [n, k] = logits.dims;
  return Array.from({ length: n }, (_, i) => {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits.data[i * k + j]!);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits.data[i * k + j]! - m);
    return 1 / s; // exp(max − max) / Σ exp(z − max)
  });
}

/**
 * Maximum logit (MaxLogit): max_k z_k — Hendrycks, Basart, Mazeika, Zou, Kwon, Mostajabi, Steinhardt, Song,
 * "Scaling Out-of-Distribution Detection for Real-World Settings", ICML 2022.
 * @param logits [n, K] @returns [n] scores; higher = more likely known
 */
export function maxLogitScore(logits: Tensor2D): number[] {
  checkFinite(logits, 'logits', 'maxLogitScore');
  const [n, k] = logits.dims;
  return Array.from({ length: n }, (_, i) => {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits.data[i * k + j]!);
    return m;
  });
}

/**
 * Energy score: −E(x; T) = T · logsumexp_k(z_k / T) — Liu, Wang, Owens, Li, "Energy-based Out-of-distribution
 * Detection", NeurIPS 2020 (the paper's score is the negative free energy; T = 1 is its default and the setting
 * of its main results). Max-shifted for stability.
 * @param logits [n, K] @param options.temperature T > 0, default 1
 * @returns [n] scores; higher = more likely known
 */
export function energyScore(logits: Tensor2D, options: { temperature?: number } = {}): number[] {
  checkFinite(logits, 'logits', 'energyScore');
  const t = options.temperature ?? 1;
  if (!(Number.isFinite(t) && t > 0))
    throw new InvalidArgumentError({
      functionName: 'energyScore',
      argument: 'temperature',
      message: `must be a finite number > 0, got ${t}`,
    });
  const [n, k] = logits.dims;
  // shifted by the raw maximum before dividing: z / T overflows to ±Infinity at small T (and ∞ − ∞ is NaN), while
  // (z − max z) / T only goes to −Infinity, whose exp is 0; T · logsumexp(z / T) = max z + T · log Σ exp((z − max z) / T)
  return Array.from({ length: n }, (_, i) => {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits.data[i * k + j]!);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp((logits.data[i * k + j]! - m) / t);
    return m + t * Math.log(s);
  });
}

function unitRows(x: Tensor2D, argument: string, functionName: string): Float64Array {
  const [n, d] = x.dims;
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x.data[i * d + j]! ** 2;
    if (s === 0)
      throw new InvalidArgumentError({ functionName, argument, message: `row ${i} has zero norm; cannot normalise` });
    const norm = Math.sqrt(s);
    for (let j = 0; j < d; j++) out[i * d + j] = x.data[i * d + j]! / norm;
  }
  return out;
}

/**
 * Deep k-nearest-neighbour score: −‖ẑ − ẑ_(k)‖₂, the negative Euclidean distance from the L2-normalised test feature
 * to its k-th nearest L2-normalised training (known-class) feature — Sun, Ming, Zhu, Li, "Out-of-Distribution
 * Detection with Deep Nearest Neighbors", ICML 2022. The paper uses k = 50 on CIFAR-10 (the default here) and
 * k = 1000 on full ImageNet (k = 10 with a 1 % sample of it); choose k for the size of your training bank.
 * Exact search (O(n·m·D)), no approximate index.
 * @param features [n, D] test features (any norm; each row is normalised)
 * @param bank [m, D] training features of the known classes (normalised the same way), m ≥ k
 * @param options.k the neighbour rank, an integer in [1, m]; default 50
 * @returns [n] scores in [−2, 0]; higher = more likely known
 */
export function knnScore(features: Tensor2D, bank: Tensor2D, options: { k?: number } = {}): number[] {
  return runStepsSync(knnScoreSteps(features, bank, options));
}

/**
 * `knnScore` as steps (`runSteps` of @vlfer/core runs them with event-loop turns and a signal check between them):
 * each step scores a block of up to four test rows against the whole bank and yields how many rows are scored. The
 * scores are `knnScore`'s, bit for bit: each distance sums its squared differences in the same order.
 * @throws InvalidArgumentError (as `knnScore`) at the first step
 */
export function* knnScoreSteps(
  features: Tensor2D,
  bank: Tensor2D,
  options: { k?: number } = {},
): Generator<number, number[], void> {
  checkFinite(features, 'features', 'knnScore');
  checkFinite(bank, 'bank', 'knnScore');
  const d = features.dims[1];
  assertShape(bank, [null, d], 'bank', 'knnScore');
  const k = options.k ?? 50;
  const m = bank.dims[0];
  if (!Number.isInteger(k) || k < 1 || k > m)
    throw new InvalidArgumentError({
      functionName: 'knnScore',
      argument: 'k',
      message: `must be an integer in [1, ${m}] (the bank has ${m} rows), got ${k}`,
    });
  const f = unitRows(features, 'features', 'knnScore');
  const b = unitRows(bank, 'bank', 'knnScore');
  const n = features.dims[0];
  const scores = new Array<number>(n);
  const dist = new Float64Array(4 * m);
  for (let i0 = 0; i0 < n; i0 += 4) {
    const rows = Math.min(4, n - i0);
    if (rows === 4) blockDistances(f, b, d, m, i0, dist);
    else for (let q = 0; q < rows; q++) rowDistances(f, b, d, m, i0 + q, dist.subarray(q * m, (q + 1) * m));
    for (let q = 0; q < rows; q++) scores[i0 + q] = -kthSmallest(dist.subarray(q * m, (q + 1) * m), k);
    yield i0 + rows;
  }
  return scores;
}

/** Euclidean distances of feature row `i` to every bank row, into `out` [m]. */
function rowDistances(f: Float64Array, b: Float64Array, d: number, m: number, i: number, out: Float64Array): void {
  for (let r = 0; r < m; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const t = f[i * d + j]! - b[r * d + j]!;
      s += t * t;
    }
    out[r] = Math.sqrt(s);
  }
}

/**
 * `rowDistances` of feature rows i0 … i0 + 3 at once, into `out` [4, m]: each bank value is loaded once for the four
 * rows, and each row's sum runs over j in order (the same bits as `rowDistances`).
 */
function blockDistances(f: Float64Array, b: Float64Array, d: number, m: number, i0: number, out: Float64Array): void {
  const [o0, o1, o2, o3] = [i0 * d, (i0 + 1) * d, (i0 + 2) * d, (i0 + 3) * d];
  for (let r = 0; r < m; r++) {
    const ob = r * d;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let j = 0; j < d; j++) {
      const v = b[ob + j]!;
      const t0 = f[o0 + j]! - v,
        t1 = f[o1 + j]! - v,
        t2 = f[o2 + j]! - v,
        t3 = f[o3 + j]! - v;
      s0 += t0 * t0;
      s1 += t1 * t1;
      s2 += t2 * t2;
      s3 += t3 * t3;
    }
    out[r] = Math.sqrt(s0);
    out[m + r] = Math.sqrt(s1);
    out[2 * m + r] = Math.sqrt(s2);
    out[3 * m + r] = Math.sqrt(s3);
  }
}

/**
 * The k-th smallest value of `a` (1-based; `a` holds no NaN), which `a` sorted ascending has at k − 1 (−0 before +0,
 * as the typed array's sort puts them): Hoare's selection with a median-of-three pivot, in place (`a` is reordered),
 * O(length) on average.
 * @throws InvalidArgumentError for a k that is not an integer in [1, a.length]
 */
export function kthSmallest(a: Float64Array, k: number): number {
  if (!(Number.isInteger(k) && k >= 1 && k <= a.length))
    throw new InvalidArgumentError({
      functionName: 'kthSmallest',
      argument: 'k',
      message: `must be an integer in [1, ${a.length}] (the array's length), got ${k}`,
    });
  const nan = a.findIndex(Number.isNaN);
  if (nan >= 0)
    throw new InvalidArgumentError({
      functionName: 'kthSmallest',
      argument: 'a',
      message: `index ${nan} is NaN; NaN has no place in an ascending order`,
    });
  const v = select(a, k);
  if (v !== 0) return v;
  // a zero: −0 where the sorted array has one at k − 1 (after every negative value)
  let below = 0,
    negativeZeros = 0;
  for (const x of a) {
    if (x < 0) below++;
    else if (x === 0 && Object.is(x, -0)) negativeZeros++;
  }
  return k - 1 - below < negativeZeros ? -0 : 0;
}

/** `kthSmallest` without the check and the sign of zero: the selection itself. */
function select(a: Float64Array, k: number): number {
  let lo = 0,
    hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const [x, y, z] = [a[lo]!, a[mid]!, a[hi]!];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo,
      j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    // [lo, j] ≤ pivot ≤ [i, hi]; between them, values equal to the pivot
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/**
 * Zero-shot CLIP + MSP, the "CLIP" open-set baseline of HESP's tables (Liu et al., ACM MM 2024): the
 * known-class logits of zero-shot CLIP, scale · cos(image feature, class text feature) (`cosineLogits` of
 * @vlfer/core), scored by the maximum softmax probability (`maxSoftmaxScore`). The predicted class is the argmax.
 * @param imageFeatures [n, E] image (or pooled clip) embeddings
 * @param textFeatures [K, E] one text embedding per known class
 * @param options.scale CLIP's exp(logit_scale), 100 for OpenAI checkpoints (default)
 * @returns scores [n] (higher = more likely known), predictions [n] in [0, K), logits [n, K]
 */
export function zeroShotMspScore(
  imageFeatures: Tensor2D,
  textFeatures: Tensor2D,
  options: { scale?: number } = {},
): { scores: number[]; predictions: number[]; logits: Tensor2D } {
  // each input named for its own non-finite value (the logits they make are named by maxSoftmaxScore otherwise)
  checkFinite(imageFeatures, 'imageFeatures', 'zeroShotMspScore');
  assertShape(textFeatures, [null, imageFeatures.dims[1]], 'textFeatures', 'zeroShotMspScore');
  checkFinite(textFeatures, 'textFeatures', 'zeroShotMspScore');
  if (textFeatures.dims[0] === 0)
    throw new InvalidArgumentError({
      functionName: 'zeroShotMspScore',
      argument: 'textFeatures',
      message: 'has no rows; expected one per class',
    });
  const scale = options.scale ?? 100;
  if (!logitScaleInRange(scale))
    throw new InvalidArgumentError({
      functionName: 'zeroShotMspScore',
      argument: 'scale',
      message: `must be ${LOGIT_SCALE_EXPECTED}, got ${scale}`,
    });
  const { logits } = cosineLogits(imageFeatures, textFeatures, scale);
  const k = logits.dims[1];
  const predictions = Array.from({ length: logits.dims[0] }, (_, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits.data[i * k + j]! > logits.data[i * k + best]!) best = j;
    return best;
  });
  return { scores: maxSoftmaxScore(logits), predictions, logits };
}
