import { NORM_EPSILON, checkInfoNceInputs, type InfoNceInputs, type InfoNceResult } from './info-nce.js';

/**
 * The test oracle of `InfoNceGraph` (not exported from the package): the same loss and gradient in float64 TypeScript
 * loops, written independently of the ONNX graph, for the PyTorch-reference and finite-difference tests.
 * Steps: Z = X·Wᵀ → I = normalise(Z), T̂ = normalise(T) → L = s·I·T̂ᵀ → row and column softmaxes, loss, hits →
 * dW = dZᵀX.
 */
export function symmetricInfoNceReference(inputs: InfoNceInputs): InfoNceResult {
  const { n, d, e } = checkInfoNceInputs(inputs, 'symmetricInfoNceReference');
  const s = inputs.scale ?? 100;
  const X = inputs.features.data;
  const Z = projectRows(X, inputs.weight.data, n, d, e);
  const zn = Float64Array.from({ length: n }, (_, i) => rowNorm(Z, i, e));
  const I = Z.map((v, k) => v / zn[Math.floor(k / e)]!);
  const T = inputs.targets.data;
  const Tn = Float64Array.from({ length: n * e }, (_, k) => T[k]! / rowNorm(T, Math.floor(k / e), e));
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let o = 0; o < e; o++) acc += I[i * e + o]! * Tn[j * e + o]!;
      L[i * n + j] = s * acc;
    }
  const { P, Q, loss, correct } = symmetricSoftmaxes(L, n);
  return { loss, gradWeight: weightGradient({ X, I, Tn, zn, P, Q, n, d, e, s }), correct };
}

/** Z = X·Wᵀ: X [n, d], W [e, d] → [n·e] in float64. */
function projectRows(X: ArrayLike<number>, W: ArrayLike<number>, n: number, d: number, e: number): Float64Array {
  const Z = new Float64Array(n * e);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < e; o++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += X[i * d + k]! * W[o * d + k]!;
      Z[i * e + o] = acc;
    }
  return Z;
}

/** ‖row r‖ of a row-major [·, e] matrix, clamped at `NORM_EPSILON`. */
function rowNorm(M: ArrayLike<number>, r: number, e: number): number {
  let acc = 0;
  for (let o = 0; o < e; o++) acc += M[r * e + o]! ** 2;
  return Math.max(Math.sqrt(acc), NORM_EPSILON);
}

/**
 * Row softmax P and column softmax Q of the logits L [n·n], the symmetric loss mean_i ½(CE(L_i·, i) + CE(L_·i, i))
 * and the in-batch hits (rows whose argmax, first on ties, is the diagonal).
 */
function symmetricSoftmaxes(
  L: Float64Array,
  n: number,
): { P: Float64Array; Q: Float64Array; loss: number; correct: number } {
  const P = new Float64Array(n * n),
    Q = new Float64Array(n * n);
  let loss = 0,
    correct = 0;
  for (let i = 0; i < n; i++) {
    let mr = -Infinity,
      mc = -Infinity,
      best = 0;
    for (let j = 0; j < n; j++) {
      mr = Math.max(mr, L[i * n + j]!);
      mc = Math.max(mc, L[j * n + i]!);
      if (L[i * n + j]! > L[i * n + best]!) best = j;
    }
    let sr = 0,
      sc = 0;
    for (let j = 0; j < n; j++) {
      sr += Math.exp(L[i * n + j]! - mr);
      sc += Math.exp(L[j * n + i]! - mc);
    }
    for (let j = 0; j < n; j++) {
      P[i * n + j] = Math.exp(L[i * n + j]! - mr) / sr;
      Q[j * n + i] = Math.exp(L[j * n + i]! - mc) / sc;
    }
    // (m − zᵢᵢ) + log s: m + log s − zᵢᵢ cancels catastrophically when zᵢᵢ is the large maximum
    loss += 0.5 * (mr - L[i * n + i]! + Math.log(sr)) + 0.5 * (mc - L[i * n + i]! + Math.log(sc));
    if (best === i) correct++;
  }
  return { P, Q, loss: loss / n, correct };
}

/** dW [e·d] = dZᵀX with G = (P + Q − 2·Id)/(2n), dI = s·G·T̂, dZ = (dI − I⟨I, dI⟩)/‖Z‖ (row by row). */
function weightGradient(a: {
  X: ArrayLike<number>;
  I: Float64Array;
  Tn: Float64Array;
  zn: Float64Array;
  P: Float64Array;
  Q: Float64Array;
  n: number;
  d: number;
  e: number;
  s: number;
}): Float32Array {
  const { X, I, Tn, zn, P, Q, n, d, e, s } = a;
  const grad = new Float64Array(e * d); // summed in float64, returned as float32
  const dI = new Float64Array(e),
    dZ = new Float64Array(e);
  for (let i = 0; i < n; i++) {
    dI.fill(0);
    for (let j = 0; j < n; j++) {
      const g = (P[i * n + j]! + Q[i * n + j]! - (i === j ? 2 : 0)) / (2 * n);
      if (g !== 0) for (let o = 0; o < e; o++) dI[o]! += s * g * Tn[j * e + o]!;
    }
    let c = 0;
    for (let o = 0; o < e; o++) c += I[i * e + o]! * dI[o]!;
    for (let o = 0; o < e; o++) dZ[o] = (dI[o]! - I[i * e + o]! * c) / zn[i]!;
    for (let o = 0; o < e; o++) for (let k = 0; k < d; k++) grad[o * d + k]! += dZ[o]! * X[i * d + k]!;
  }
  return Float32Array.from(grad);
}
