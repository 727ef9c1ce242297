import {
  assertArrayLike,
  assertFiniteValues,
  assertShape,
  checkClassIds,
  checkFiniteNumber,
  InvalidArgumentError,
  maxRows,
  type Tensor2D,
} from '@vlfer/core';

/**
 * HESP's open-set losses (ARPL-style reciprocal points and supervised contrastive), with analytic gradients.
 * Sizes are small (batch × known classes × 512), so they run in float64 TypeScript; the heavy products of HESP
 * (through the CLIP towers) run in ONNX Runtime graphs.
 */

/** `labels` [n]: one class id per feature row, in [0, k); a mean over no rows is refused (it would be NaN). */
function labelsOk(labels: ArrayLike<number>, n: number, k: number, fn: string, rows = 'features'): void {
  assertArrayLike(labels, 'labels', fn);
  if (n === 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: rows,
      message: 'has no rows: the mean loss over an empty batch is undefined',
    });
  if (labels.length !== n)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'labels',
      message: `has length ${labels.length}, ${rows} has ${n} rows`,
    });
  if (k === 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: rows === 'logits' ? 'logits' : 'centers',
      message: rows === 'logits' ? 'has 0 columns; expected one per class' : 'has no rows; expected one per class',
    });
  checkClassIds(labels, { functionName: fn, argument: 'labels' }, k);
}

/** Features and centers of the ARPL functions: [batch, D] and [K, D], finite. */
function checkArplInputs(X: Tensor2D, C: Tensor2D, fn: string): void {
  assertShape(X, [null, null], 'features', fn);
  assertShape(C, [null, X.dims[1]], 'centers', fn);
  assertFiniteValues(X, 'features', fn);
  assertFiniteValues(C, 'centers', fn);
}

/** logits_bk = ‖x_b − c_k‖²/D − x_b·c_k in float64. */
function logitsF64(X: Tensor2D, C: Tensor2D): Float64Array {
  const [b, d] = X.dims;
  const k = C.dims[0];
  const L = new Float64Array(b * k);
  for (let i = 0; i < b; i++)
    for (let j = 0; j < k; j++) {
      let dist = 0,
        dot = 0;
      for (let t = 0; t < d; t++) {
        const xi = X.data[i * d + t]!,
          cj = C.data[j * d + t]!;
        dist += (xi - cj) ** 2;
        dot += xi * cj;
      }
      L[i * k + j] = dist / d - dot;
    }
  return L;
}

/** gX += Σ_k dL_bk · ∂logits_bk/∂x_b and gC += Σ_b dL_bk · ∂logits_bk/∂c_k (∂/∂x = 2(x − c)/D − c, ∂/∂c = −2(x − c)/D − x). */
function accumulateLogitsBackward(
  X: Tensor2D,
  C: Tensor2D,
  dL: ArrayLike<number>,
  gX: Float64Array,
  gC: Float64Array,
): void {
  const [b, d] = X.dims;
  const k = C.dims[0];
  for (let i = 0; i < b; i++)
    for (let j = 0; j < k; j++) {
      const g = dL[i * k + j]!;
      if (g === 0) continue;
      for (let t = 0; t < d; t++) {
        const xi = X.data[i * d + t]!,
          cj = C.data[j * d + t]!;
        gX[i * d + t]! += g * ((2 * (xi - cj)) / d - cj);
        gC[j * d + t]! += g * ((-2 * (xi - cj)) / d - xi);
      }
    }
}

/**
 * ARPL logits (HESP inference): logits_bk = ‖x_b − c_k‖²/D − x_b·c_k.
 * @param features [batch, D] @param centers [K, D] @returns [batch, K]
 */
export function arplLogits(features: Tensor2D, centers: Tensor2D): Tensor2D {
  checkArplInputs(features, centers, 'arplLogits');
  return {
    dtype: 'float32',
    data: Float32Array.from(logitsF64(features, centers)),
    dims: [features.dims[0], centers.dims[0]],
  };
}

/**
 * Backward of `arplLogits`: the gradients of Σ dLogits ⊙ logits w.r.t. features and centers.
 * @param dLogits [batch, K]
 */
export function arplLogitsBackward(
  features: Tensor2D,
  centers: Tensor2D,
  dLogits: Tensor2D,
): { gradFeatures: Tensor2D; gradCenters: Tensor2D } {
  checkArplInputs(features, centers, 'arplLogitsBackward');
  assertShape(dLogits, [features.dims[0], centers.dims[0]], 'dLogits', 'arplLogitsBackward');
  assertFiniteValues(dLogits, 'dLogits', 'arplLogitsBackward');
  const gX = new Float64Array(features.data.length);
  const gC = new Float64Array(centers.data.length);
  accumulateLogitsBackward(features, centers, dLogits.data, gX, gC);
  return {
    gradFeatures: { dtype: 'float32', data: Float32Array.from(gX), dims: features.dims },
    gradCenters: { dtype: 'float32', data: Float32Array.from(gC), dims: centers.dims },
  };
}

/** Temperatures divide: > 0 and finite. */
const positive = { min: 0, minExclusive: true } as const;

export interface ArplOptions {
  /** x: [batch, D] clip features (HESP: mean of 8 frame embeddings, not normalised). */
  features: Tensor2D;
  /** c: [K, D] reciprocal points (HESP: CLIP embeddings of the K negative visual prompt images). */
  centers: Tensor2D;
  /** [batch] known-class ids in [0, K). */
  labels: ArrayLike<number>;
  /** R, the learnable radius (HESP init 0). */
  radius: number;
  /** @default 1 */
  temperature?: number;
  /** Weight of the margin term (HESP `weight_pl`). @default 0.1 */
  marginWeight?: number;
}

export interface ArplResult {
  loss: number;
  /** logits_bk = ‖x_b − c_k‖² / D − x_b·c_k, [batch, K]. */
  logits: Tensor2D;
  gradFeatures: Tensor2D;
  gradCenters: Tensor2D;
  gradRadius: number;
}

/**
 * HESP's MYARPLoss: logits_k = ‖x − c_k‖²/D − x·c_k; loss = CE(logits / T, y) +
 * w · mean_b max(0, ‖x_b − c_{y_b}‖²/D − R + 1) (`MarginRankingLoss(margin=1)` with target 1).
 */
export function arplLoss(options: ArplOptions): ArplResult {
  const fn = 'arplLoss';
  const { features: X, centers: C, labels, radius } = options;
  checkArplInputs(X, C, fn);
  const [b, d] = X.dims;
  const k = C.dims[0];
  labelsOk(labels, b, k, fn);
  // a NaN radius would fail `h >= 0` for every row and drop the margin term, silently
  checkFiniteNumber(radius, { functionName: fn, argument: 'radius' });
  const T = checkFiniteNumber(options.temperature ?? 1, { functionName: fn, argument: 'temperature' }, positive);
  const w = checkFiniteNumber(options.marginWeight ?? 0.1, { functionName: fn, argument: 'marginWeight' }, { min: 0 });
  const L = logitsF64(X, C);
  const dL = new Float64Array(b * k); // dLoss/dlogits
  let ce = 0;
  for (let i = 0; i < b; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, L[i * k + j]! / T);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(L[i * k + j]! / T - m);
    const y = labels[i]!;
    ce += m - L[i * k + y]! / T + Math.log(s); // (m − z_y) + log s, as crossEntropy
    for (let j = 0; j < k; j++) dL[i * k + j] = (Math.exp(L[i * k + j]! / T - m) / s - (j === y ? 1 : 0)) / (b * T);
  }
  const gX = new Float64Array(b * d);
  const gC = new Float64Array(k * d);
  accumulateLogitsBackward(X, C, dL, gX, gC);
  let margin = 0;
  let gR = 0;
  for (let i = 0; i < b; i++) {
    const y = labels[i]!;
    let dist = 0;
    for (let t = 0; t < d; t++) dist += (X.data[i * d + t]! - C.data[y * d + t]!) ** 2;
    const h = dist / d - radius + 1;
    // at h = 0 too, as torch's clamp_min (MarginRankingLoss) passes the gradient where its input equals the bound
    if (h >= 0) {
      margin += h;
      gR -= w / b;
      for (let t = 0; t < d; t++) {
        const g = ((w / b) * 2 * (X.data[i * d + t]! - C.data[y * d + t]!)) / d;
        gX[i * d + t]! += g;
        gC[y * d + t]! -= g;
      }
    }
  }
  return {
    loss: ce / b + (w * margin) / b,
    logits: { dtype: 'float32', data: Float32Array.from(L), dims: [b, k] },
    gradFeatures: { dtype: 'float32', data: Float32Array.from(gX), dims: [b, d] },
    gradCenters: { dtype: 'float32', data: Float32Array.from(gC), dims: [k, d] },
    gradRadius: gR,
  };
}

export interface SupConOptions {
  /** [batch, D] features (normalised inside). */
  features: Tensor2D;
  labels: ArrayLike<number>;
  /** τ. @default 0.5 */
  temperature?: number;
  /** Multiply the loss by τ (HESP `ConLoss(scale_by_temperature=True)`). @default true */
  scaleByTemperature?: boolean;
}

/**
 * Supervised contrastive loss (Khosla et al.), as HESP's ConLoss: f = normalise(x), s_ij = f_i·f_j / τ;
 * ℓ_i = −(1/|P(i)|) Σ_{p∈P(i)} [s_ip − log Σ_{a≠i} exp(s_ia)] over anchors with positives; loss = τ · mean ℓ_i.
 * @throws InvalidArgumentError when no anchor has a positive (the reference returns NaN)
 */
export function supConLoss(options: SupConOptions): { loss: number; gradFeatures: Tensor2D } {
  const fn = 'supConLoss';
  const { features: X, labels } = options;
  assertShape(X, [null, null], 'features', fn);
  assertFiniteValues(X, 'features', fn);
  const [n, d] = X.dims;
  labelsOk(labels, n, Number.MAX_SAFE_INTEGER, fn); // any class id below 2⁵³ − 1
  const tau = checkFiniteNumber(options.temperature ?? 0.5, { functionName: fn, argument: 'temperature' }, positive);
  const factor = (options.scaleByTemperature ?? true) ? tau : 1;
  const { f, norms } = normalizeRowsF64(X);
  const S = scaledGram(f, n, d, tau);
  const anchors = supConAnchors(labels);
  if (anchors.length === 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'labels',
      message: 'no two samples share a label, so no anchor has a positive (the loss is undefined)',
    });
  const { loss, G } = supConOnSimilarities(S, n, labels, anchors, factor);
  return { loss, gradFeatures: { dtype: 'float32', data: supConBackward(G, f, norms, n, d, tau), dims: [n, d] } };
}

/** Rows of X [n, d] divided by their L2 norms (clamped at 1e-12), in float64: f [n·d] and the norms [n]. */
function normalizeRowsF64(X: Tensor2D): { f: Float64Array; norms: Float64Array } {
  const [n, d] = X.dims;
  const norms = new Float64Array(n);
  const f = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += X.data[i * d + t]! ** 2;
    norms[i] = Math.max(Math.sqrt(s), 1e-12);
    for (let t = 0; t < d; t++) f[i * d + t] = X.data[i * d + t]! / norms[i]!;
  }
  return { f, norms };
}

/** s_ij = f_i·f_j / τ for rows of f [n·d]: [n·n]. */
function scaledGram(f: Float64Array, n: number, d: number, tau: number): Float64Array {
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += f[i * d + t]! * f[j * d + t]!;
      S[i * n + j] = s / tau;
    }
  return S;
}

/** The anchors of SupCon: samples with at least one other sample of their label, in index order. */
export function supConAnchors(labels: ArrayLike<number>): number[] {
  const n = labels.length;
  const anchors: number[] = [];
  for (let i = 0; i < n; i++)
    if (Array.from({ length: n }, (_, j) => j !== i && labels[j] === labels[i]).some(Boolean)) anchors.push(i);
  return anchors;
}

/**
 * SupCon from the similarities S [n·n]: loss = factor · mean over anchors of ℓ_i, and G = ∂loss/∂S [n·n] (row i:
 * softmax over a ≠ i minus the positives' share, scaled by factor / |anchors|).
 */
function supConOnSimilarities(
  S: Float64Array,
  n: number,
  labels: ArrayLike<number>,
  anchors: readonly number[],
  factor: number,
): { loss: number; G: Float64Array } {
  const G = new Float64Array(n * n); // dLoss/dS
  let loss = 0;
  for (const i of anchors) {
    let m = -Infinity;
    for (let a = 0; a < n; a++) if (a !== i) m = Math.max(m, S[i * n + a]!);
    let z = 0;
    for (let a = 0; a < n; a++) if (a !== i) z += Math.exp(S[i * n + a]! - m);
    const lse = m + Math.log(z);
    const pos = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i && labels[j] === labels[i]);
    let li = 0;
    for (const p of pos) li -= S[i * n + p]! - lse;
    li /= pos.length;
    loss += li;
    const scale = factor / anchors.length;
    for (let a = 0; a < n; a++)
      if (a !== i)
        G[i * n + a]! += scale * (Math.exp(S[i * n + a]! - lse) - (labels[a] === labels[i] ? 1 / pos.length : 0));
  }
  return { loss: (factor * loss) / anchors.length, G };
}

/**
 * Chain ∂loss/∂S [n·n] through s_ij = f_i·f_j / τ and f = x / ‖x‖: the gradient w.r.t. the raw features [n·d].
 */
function supConBackward(
  G: Float64Array,
  f: Float64Array,
  norms: Float64Array,
  n: number,
  d: number,
  tau: number,
): Float32Array {
  const grad = new Float32Array(n * d);
  const df = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    df.fill(0);
    for (let j = 0; j < n; j++) {
      const g = (G[i * n + j]! + G[j * n + i]!) / tau;
      if (g !== 0) for (let t = 0; t < d; t++) df[t]! += g * f[j * d + t]!;
    }
    let c = 0;
    for (let t = 0; t < d; t++) c += f[i * d + t]! * df[t]!;
    for (let t = 0; t < d; t++) grad[i * d + t] = (df[t]! - f[i * d + t]! * c) / norms[i]!;
  }
  return grad;
}

/**
 * Mean softmax cross-entropy and its gradient w.r.t. the logits.
 * @param logits [n, C] @param labels [n]
 */
export function crossEntropy(logits: Tensor2D, labels: ArrayLike<number>): { loss: number; gradLogits: Tensor2D } {
  assertShape(logits, [null, null], 'logits', 'crossEntropy');
  const [n, c] = logits.dims;
  labelsOk(labels, n, c, 'crossEntropy', 'logits');
  // as maxRows takes them: NaN and +Infinity refused, −Infinity a masked class (beside a finite value, off the label)
  maxRows(logits, 'logits', 'crossEntropy');
  for (let i = 0; i < n; i++)
    if (logits.data[i * c + labels[i]!] === -Infinity)
      throw new InvalidArgumentError({
        functionName: 'crossEntropy',
        argument: 'logits',
        message: `row ${i} is −Infinity at its label ${labels[i]}: the loss is infinite`,
      });
  const g = new Float32Array(n * c);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, logits.data[i * c + j]!);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(logits.data[i * c + j]! - m);
    // (m − z_y) + log s: m + log s − z_y cancels catastrophically when z_y is the large maximum ([1e17, 1e17] gave 0)
    loss += m - logits.data[i * c + labels[i]!]! + Math.log(s);
    for (let j = 0; j < c; j++)
      g[i * c + j] = (Math.exp(logits.data[i * c + j]! - m) / s - (j === labels[i] ? 1 : 0)) / n;
  }
  return { loss: loss / n, gradLogits: { dtype: 'float32', data: g, dims: [n, c] } };
}
