import { compileWasmBase64 } from '@vlfer/core';
import { PROBE_KERNELS_WASM } from './probe-kernels-wasm.js';

/** Where the linear probe's objective runs (`LinearProbeOptions.kernel`). */
export const PROBE_KERNELS = ['wasm', 'js'] as const;
export type ProbeKernelName = (typeof PROBE_KERNELS)[number];

/**
 * The two products of the linear probe's objective over blocks of 4 feature rows: the logits z = W x + b and the
 * weight gradient Σ_r res_r x_rᵀ. `wasmProbeKernel` (WebAssembly SIMD, src/probe-kernels.wat) and `jsProbeKernel`
 * run the same float64 operations in the same order, so a fit gives the same bits on either (a NaN, which a fit never
 * reaches as its features are checked, may come out with another sign bit); the WebAssembly one is 2.9–4.0× faster
 * (scripts/fit-time.ts).
 */
export interface ProbeKernel {
  readonly name: ProbeKernelName;
  /** Starts an evaluation at θ = [W (k × D, row-major), b (k)], with the weight gradient at 0. */
  begin(theta: Float64Array): void;
  /**
   * The logits of rows i0 … i0 + 3 (those past the last row repeat row i0) into `z` [4, k]: z[r·k + j] = b_j +
   * Σ_t W[j, t] · x_(i0 + r)[t], summed in t order from b_j.
   */
  logits(i0: number): void;
  /** grad_W[j, t] += res[j]·x_0[t] + res[k + j]·x_1[t] + res[2k + j]·x_2[t] + res[3k + j]·x_3[t], left to right. */
  accumulate(i0: number): void;
  /** Writes the weight gradient [k, D] summed since `begin` into grad[0 … k·D). */
  end(grad: Float64Array): void;
  /** [4, k] logits of the last `logits` call. */
  readonly z: Float64Array;
  /** [4, k] residuals that `accumulate` reads (rows past the last row must be 0). */
  readonly res: Float64Array;
}

/** The 4 row offsets (in elements) of the block at i0: rows past n − 1 repeat row i0. */
function blockRows(i0: number, n: number, d: number): [number, number, number, number] {
  const at = (r: number) => (i0 + r < n ? i0 + r : i0) * d;
  return [at(0), at(1), at(2), at(3)];
}

/** The kernel in plain JavaScript. @param x [n, D] float64 features (kept, not copied) */
export function jsProbeKernel(x: Float64Array, [n, d]: readonly [number, number], k: number): ProbeKernel {
  const z = new Float64Array(4 * k);
  const res = new Float64Array(4 * k);
  const g = new Float64Array(k * d);
  let w: Float64Array = new Float64Array(0);
  return {
    name: 'js',
    z,
    res,
    begin: (theta) => {
      w = theta;
      g.fill(0);
    },
    logits: (i0) => blockLogits(w, x, blockRows(i0, n, d), d, k, z),
    accumulate: (i0) => blockGradient(g, x, blockRows(i0, n, d), d, k, res),
    end: (grad) => grad.set(g),
  };
}

/** z[r·k + j] = W_j · x_(row r) + b_j for the 4 rows starting at the offsets `at` of `x`. */
function blockLogits(
  theta: Float64Array,
  x: Float64Array,
  [a0, a1, a2, a3]: readonly [number, number, number, number],
  d: number,
  k: number,
  z: Float64Array,
): void {
  for (let j = 0; j < k; j++) {
    const b = theta[k * d + j]!;
    let s0 = b;
    let s1 = b;
    let s2 = b;
    let s3 = b;
    const wj = j * d;
    for (let t = 0; t < d; t++) {
      const w = theta[wj + t]!;
      s0 += w * x[a0 + t]!;
      s1 += w * x[a1 + t]!;
      s2 += w * x[a2 + t]!;
      s3 += w * x[a3 + t]!;
    }
    z[j] = s0;
    z[k + j] = s1;
    z[2 * k + j] = s2;
    z[3 * k + j] = s3;
  }
}

/** grad_W_j += Σ_r res[r·k + j] · x_(row r), row after row, for the block at `at`. */
function blockGradient(
  grad: Float64Array,
  x: Float64Array,
  [a0, a1, a2, a3]: readonly [number, number, number, number],
  d: number,
  k: number,
  res: Float64Array,
): void {
  for (let j = 0; j < k; j++) {
    const r0 = res[j]!;
    const r1 = res[k + j]!;
    const r2 = res[2 * k + j]!;
    const r3 = res[3 * k + j]!;
    const wj = j * d;
    for (let t = 0; t < d; t++)
      grad[wj + t] = grad[wj + t]! + r0 * x[a0 + t]! + r1 * x[a1 + t]! + r2 * x[a2 + t]! + r3 * x[a3 + t]!;
  }
}

interface ProbeKernelsWasm {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  logits4(
    x0: number,
    x1: number,
    x2: number,
    x3: number,
    wt: number,
    bias: number,
    d: number,
    k: number,
    k2: number,
    z: number,
  ): void;
  gradient4(x0: number, x1: number, x2: number, x3: number, grad: number, d: number, k: number, res: number): void;
}

let compiled: ReturnType<typeof compileWasmBase64> | null = null;
const PAGE = 65536;
/** A WebAssembly memory's largest size (wasm32: 65,536 pages of 64 KiB). */
const MAX_WASM_BYTES = 65536 * PAGE;

/**
 * The kernel in WebAssembly SIMD, with the features copied (as float64) into a fresh instance's memory, or undefined
 * where the runtime lacks WebAssembly SIMD or the features and buffers exceed a WebAssembly memory (4 GiB).
 * @param features [n, D] row-major
 */
export function wasmProbeKernel(
  features: ArrayLike<number>,
  [n, d]: readonly [number, number],
  k: number,
): ProbeKernel | undefined {
  const k2 = k + (k & 1);
  const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
  const WT = align(n * d * 8);
  const B = WT + align(d * k2 * 8);
  const G = B + align(k2 * 8);
  const Z = G + align(k * d * 8);
  const R = Z + align(4 * k * 8);
  const end = R + align(4 * k * 8);
  if (end > MAX_WASM_BYTES) return undefined;
  if (compiled === null) compiled = compileWasmBase64(PROBE_KERNELS_WASM);
  if (!compiled) return undefined;
  const wasm = new compiled.api.Instance(compiled.module).exports as ProbeKernelsWasm;
  wasm.memory.grow(Math.ceil(end / PAGE) - wasm.memory.buffer.byteLength / PAGE);
  const f64 = (at: number, length: number) => new Float64Array(wasm.memory.buffer, at, length);
  f64(0, n * d).set(features);
  const [wt, bias, g] = [f64(WT, d * k2), f64(B, k2), f64(G, k * d)];
  const bytes = (rows: number[]) => rows.map((at) => at * 8) as [number, number, number, number];
  return {
    name: 'wasm',
    z: f64(Z, 4 * k),
    res: f64(R, 4 * k),
    begin: (theta) => {
      for (let j = 0; j < k; j++) {
        for (let t = 0; t < d; t++) wt[t * k2 + j] = theta[j * d + t]!;
        bias[j] = theta[k * d + j]!;
      }
      g.fill(0);
    },
    logits: (i0) => wasm.logits4(...bytes(blockRows(i0, n, d)), WT, B, d, k, k2, Z),
    accumulate: (i0) => wasm.gradient4(...bytes(blockRows(i0, n, d)), G, d, k, R),
    end: (grad) => grad.set(g),
  };
}
