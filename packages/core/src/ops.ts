import { InvalidArgumentError } from './errors.js';
import { checkFiniteNumber } from './options.js';
import { assertShape, groups, type Tensor2D } from './tensor.js';

/**
 * Scores or logits of n samples over C classes: a `[n, C]` tensor or an array of n rows. Every function that
 * takes scores accepts both (what `classify` returns and what a CSV reader produces).
 */
export type Scores = Tensor2D | readonly ArrayLike<number>[];

function isTensor(s: Scores): s is Tensor2D {
  return !Array.isArray(s) && typeof s === 'object' && s !== null && 'dims' in s && 'data' in s;
}

/**
 * The rows of a score matrix as views (no copy for tensors), checked: every row has the same non-zero length.
 * @throws InvalidArgumentError naming `argument` and `functionName` for anything that is neither form
 */
export function scoreRows(scores: Scores, argument: string, functionName: string): ArrayLike<number>[] {
  if (isTensor(scores)) {
    assertShape(scores, [null, null], argument, functionName);
    const [n, c] = scores.dims;
    return Array.from({ length: n }, (_, i) => scores.data.subarray(i * c, (i + 1) * c));
  }
  if (!Array.isArray(scores)) {
    throw new InvalidArgumentError({
      functionName,
      argument,
      message: `expected a [n, C] Tensor2D or an array of rows, got ${scores === null ? 'null' : typeof scores}`,
    });
  }
  const c = scores[0]?.length;
  scores.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || typeof (r as ArrayLike<number>).length !== 'number')
      throw new InvalidArgumentError({ functionName, argument, message: `row ${i} is not an array of numbers` });
    if (r.length !== c)
      throw new InvalidArgumentError({
        functionName,
        argument,
        message: `row ${i} has ${r.length} columns, row 0 has ${c}`,
      });
  });
  return scores as ArrayLike<number>[];
}

/** Index of the largest value of each row (first index on ties, like torch/numpy argmax). @param scores [n, C] */
export function argmaxRows(scores: Scores): number[] {
  return scoreRows(scores, 'scores', 'argmaxRows').map((r, i) => {
    if (r.length === 0)
      throw new InvalidArgumentError({ functionName: 'argmaxRows', argument: 'scores', message: `row ${i} is empty` });
    let best = 0;
    for (let j = 0; j < r.length; j++) {
      if (Number.isNaN(r[j]!))
        throw new InvalidArgumentError({
          functionName: 'argmaxRows',
          argument: 'scores',
          message: `row ${i}, column ${j} is NaN`,
        });
      if (r[j]! > r[best]!) best = j;
    }
    return best;
  });
}

/**
 * Largest value of each row, which must be finite: NaN and +Infinity are errors anywhere, −Infinity only where the
 * whole row is (a class masked with −Infinity beside finite ones is a finite max, as `max` in numpy or PyTorch).
 * @param scores [n, C] @param functionName the caller named in errors @returns [n]
 */
export function maxRows(scores: Scores, argument = 'scores', functionName = 'maxRows'): number[] {
  return scoreRows(scores, argument, functionName).map((r, i) => {
    if (r.length === 0) throw new InvalidArgumentError({ functionName, argument, message: `row ${i} is empty` });
    let m = -Infinity;
    for (let j = 0; j < r.length; j++) {
      const v = r[j]!;
      if (Number.isNaN(v) || v === Infinity)
        throw new InvalidArgumentError({
          functionName,
          argument,
          message: `row ${i}, column ${j} is ${v}; scores must be finite`,
        });
      if (v > m) m = v;
    }
    if (m === -Infinity)
      throw new InvalidArgumentError({
        functionName,
        argument,
        message: `row ${i} is −Infinity in every column; its max score must be finite`,
      });
    return m;
  });
}

/**
 * Softmax of each row (max-shifted, float64 accumulation). Values as {@link maxRows} takes them: NaN and +Infinity
 * are errors, −Infinity (a masked class, probability 0) only where the row has a finite value.
 * @param x [n, C] @returns [n, C] @throws InvalidArgumentError naming `argument` and `functionName`
 */
export function softmaxRows(x: Tensor2D, argument = 'x', functionName = 'softmaxRows'): Tensor2D {
  assertShape(x, [null, null], argument, functionName);
  const [n, c] = x.dims;
  const maxima = maxRows(x, argument, functionName);
  const out = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    const m = maxima[i]!;
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(x.data[i * c + j]! - m);
    for (let j = 0; j < c; j++) out[i * c + j] = Math.exp(x.data[i * c + j]! - m) / s;
  }
  return { dtype: 'float32', data: out, dims: [n, c] };
}

/**
 * Mean over groups of `size` consecutive columns: `[n, C·P]` → `[n, C]`. Exp-CLIP's prompt ensemble on logits
 * (`logits.view(n, C, P).mean(-1)`, prompts class-major).
 */
export function meanOfColumnGroups(x: Tensor2D, size: number): Tensor2D {
  assertShape(x, [null, null], 'x', 'meanOfColumnGroups');
  const [n, cp] = x.dims;
  const c = groups(size, cp, 'columns', { functionName: 'meanOfColumnGroups', argument: 'size' });
  // output cell (row r, class k) averages the `size` adjacent columns starting at r·cp + k·size
  const out = Float32Array.from({ length: n * c }, (_, cell) => {
    const start = Math.floor(cell / c) * cp + (cell % c) * size;
    let s = 0;
    for (let p = start; p < start + size; p++) s += x.data[p]!;
    return s / size;
  });
  return { dtype: 'float32', data: out, dims: [n, c] };
}

/** Norm clamp of the normalisations in cosine logits, as torch.nn.functional.normalize. */
export const COSINE_EPSILON = 1e-12;

export interface CosineLogits {
  /** [n, m] = scale · normalise(a) · normalise(b)ᵀ */
  logits: Tensor2D;
  /** Gradients of Σ dLogits ⊙ logits w.r.t. `a` and `b` (before normalisation). @param dLogits [n, m] */
  backward(dLogits: Tensor2D): { gradA: Tensor2D; gradB: Tensor2D };
}

/** Rows scaled to unit L2 norm (float64), with the clamped norms they were divided by. */
export interface UnitRows {
  /** [rows] max(‖x_r‖, {@link COSINE_EPSILON}) */
  norms: Float64Array;
  /** [rows, e] x_r / norms[r] */
  h: Float64Array;
}

/**
 * Normalises the first `rows` rows of `t` (`[rows, e]`) to unit L2 norm in float64, norms clamped at
 * {@link COSINE_EPSILON} (as torch.nn.functional.normalize).
 */
export function unitRows(t: Tensor2D, rows: number, e: number): UnitRows {
  checkRowsCols(rows, e, 'unitRows');
  if (!(t?.data?.length >= rows * e))
    throw new InvalidArgumentError({
      functionName: 'unitRows',
      argument: 't',
      message: `holds ${t?.data?.length ?? 'no'} values, fewer than the ${rows} × ${e} asked for`,
    });
  const norms = new Float64Array(rows);
  const h = new Float64Array(rows * e);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let k = 0; k < e; k++) s += t.data[r * e + k]! ** 2;
    norms[r] = Math.max(Math.sqrt(s), COSINE_EPSILON);
    for (let k = 0; k < e; k++) h[r * e + k] = t.data[r * e + k]! / norms[r]!;
  }
  return { norms, h };
}

/**
 * Gradient through {@link unitRows}: `d(x/|x|) = (dh − h⟨h, dh⟩) / |x|` per row.
 * @param dh [rows, e] gradient w.r.t. the unit rows @returns [rows, e] gradient w.r.t. the raw rows
 */
export function unitRowsBackward(dh: Float64Array, u: UnitRows, rows: number, e: number): Tensor2D {
  checkRowsCols(rows, e, 'unitRowsBackward');
  for (const [argument, length, want] of [
    ['dh', dh?.length, rows * e],
    ['u.h', u?.h?.length, rows * e],
    ['u.norms', u?.norms?.length, rows],
  ] as const)
    if (length !== want)
      throw new InvalidArgumentError({
        functionName: 'unitRowsBackward',
        argument,
        message: `holds ${length ?? 'no'} values, expected ${want} ([${argument === 'u.norms' ? rows : `${rows}, ${e}`}])`,
      });
  const out = new Float32Array(rows * e);
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (let k = 0; k < e; k++) c += u.h[r * e + k]! * dh[r * e + k]!;
    for (let k = 0; k < e; k++) out[r * e + k] = (dh[r * e + k]! - u.h[r * e + k]! * c) / u.norms[r]!;
  }
  return { dtype: 'float32', data: out, dims: [rows, e] };
}

/** `rows` and `e` of the unit-row kernels: non-negative integers. */
function checkRowsCols(rows: number, e: number, functionName: string): void {
  checkFiniteNumber(rows, { functionName, argument: 'rows' }, { min: 0, integer: true });
  checkFiniteNumber(e, { functionName, argument: 'e' }, { min: 0, integer: true });
}

/** `scale · A·Bᵀ` of unit rows: A [n, e], B [m, e] → float32 [n, m] (row-major data). */
function scaledDots(A: UnitRows, B: UnitRows, n: number, m: number, e: number, scale: number): Float32Array {
  const logits = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < e; k++) s += A.h[i * e + k]! * B.h[j * e + k]!;
      logits[i * m + j] = scale * s;
    }
  }
  return logits;
}

/** Gradients of `Σ dLogits ⊙ scale·A·Bᵀ` w.r.t. the unit rows: `[n, e]` for A and `[m, e]` for B (float64). */
function scaledDotsBackward(A: UnitRows, B: UnitRows, dLogits: Tensor2D, scale: number, e: number) {
  const [n, m] = dLogits.dims;
  const dah = new Float64Array(n * e);
  const dbh = new Float64Array(m * e);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const g = scale * dLogits.data[i * m + j]!;
      if (g === 0) continue;
      for (let k = 0; k < e; k++) {
        dah[i * e + k]! += g * B.h[j * e + k]!;
        dbh[j * e + k]! += g * A.h[i * e + k]!;
      }
    }
  }
  return { dah, dbh };
}

/**
 * The logit scales `cosineLogits` takes (CLIP's exp(logit_scale), 100): the logits are float32, and a scale outside
 * this range makes scale × cosine underflow to 0 (every class tied: all items predicted as the first class) or
 * overflow to ±Infinity, so the predictions would depend on it. Inside it the order of every cosine of magnitude
 * ≥ 1e-8 is kept.
 */
export const LOGIT_SCALE_RANGE = { min: 1e-30, max: 1e30 } as const;

/** Whether `scale` is a number within `LOGIT_SCALE_RANGE` (NaN and ±Infinity are not). */
export function logitScaleInRange(scale: unknown): scale is number {
  return typeof scale === 'number' && scale >= LOGIT_SCALE_RANGE.min && scale <= LOGIT_SCALE_RANGE.max;
}

/** What a logit scale must be, for error messages (a string literal: a bundle that uses none of this drops it). */
export const LOGIT_SCALE_EXPECTED =
  'a number from 1e-30 to 1e+30 (the logits are float32: a scale outside makes them underflow or overflow, which changes the predictions)';

/**
 * CLIP's logits: `scale · â · b̂ᵀ` with rows L2-normalised (norms clamped at 1e-12). Both methods use it:
 * Exp-CLIP zero-shot (image or pooled-clip features vs prompt features, scale 100) and HESP's CLIP branch
 * (pooled clip features vs CoOp prompt features) and negative-prompt loss. Float64 inside.
 * Kernels: {@link unitRows} → scaled dot products; backward: dot-product gradients → {@link unitRowsBackward}.
 * @param a [n, E] @param b [m, E] @param scale CLIP's exp(logit_scale), 100 for OpenAI checkpoints
 */
export function cosineLogits(a: Tensor2D, b: Tensor2D, scale: number): CosineLogits {
  assertShape(a, [null, null], 'a', 'cosineLogits');
  const e = a.dims[1];
  assertShape(b, [null, e], 'b', 'cosineLogits');
  if (!logitScaleInRange(scale))
    throw new InvalidArgumentError({
      functionName: 'cosineLogits',
      argument: 'scale',
      message: `must be ${LOGIT_SCALE_EXPECTED}, got ${scale}`,
    });
  const n = a.dims[0];
  const m = b.dims[0];
  const A = unitRows(a, n, e);
  const B = unitRows(b, m, e);
  const logits = scaledDots(A, B, n, m, e, scale);
  const backward = (dLogits: Tensor2D) => {
    assertShape(dLogits, [n, m], 'dLogits', 'cosineLogits.backward');
    const { dah, dbh } = scaledDotsBackward(A, B, dLogits, scale, e);
    return { gradA: unitRowsBackward(dah, A, n, e), gradB: unitRowsBackward(dbh, B, m, e) };
  };
  return { logits: { dtype: 'float32', data: logits, dims: [n, m] }, backward };
}

/** Element-wise `(a + b) / 2` of two equally shaped `[n, C]` tensors. */
export function averageTensors(a: Tensor2D, b: Tensor2D, functionName = 'averageTensors'): Tensor2D {
  assertShape(a, [null, null], 'a', functionName);
  assertShape(b, [a.dims[0], a.dims[1]], 'b', functionName);
  return { dtype: 'float32', data: a.data.map((x, i) => (x + b.data[i]!) / 2), dims: [a.dims[0], a.dims[1]] };
}
