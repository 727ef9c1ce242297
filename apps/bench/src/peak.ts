import * as ort from 'onnxruntime-node';
import { buildModel } from '@vlfer/core';
import { ortSessionOptions } from '@vlfer/core/node';
import { median } from './torch.js';

/**
 * The machine's fp32 matmul peak as ONNX Runtime reaches it: an n×n · n×n MatMul graph (written with @vlfer/core's
 * ONNX builder) on a CPU session with the bench's thread count. One untimed run, then the median of `reps`.
 * A benchmark row that is compute-bound is reported as a fraction of this number (see {@link fractionOfPeak}).
 * @returns GFLOP/s = 2·n³ / median seconds, with the timings behind it
 */
export async function matmulPeakOrt(options: { threads: number; n?: number; reps?: number }): Promise<MatmulPeak> {
  const n = options.n ?? 2048;
  const reps = options.reps ?? 5;
  if (!Number.isInteger(n) || n < 1) throw new Error(`matmulPeakOrt: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(reps) || reps < 1)
    throw new Error(`matmulPeakOrt: reps must be a positive integer, got ${reps}`);
  const bytes = buildModel({
    name: 'matmul-peak',
    nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }],
    inputs: [
      { name: 'a', type: 'float32', dims: [n, n] },
      { name: 'b', type: 'float32', dims: [n, n] },
    ],
    outputs: [{ name: 'c', type: 'float32', dims: [n, n] }],
  });
  const s = await ort.InferenceSession.create(
    bytes,
    ortSessionOptions({ device: 'cpu', intraOpNumThreads: options.threads }) as ort.InferenceSession.SessionOptions,
  );
  try {
    const a = new ort.Tensor(
      'float32',
      Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.001)),
      [n, n],
    );
    const b = new ort.Tensor(
      'float32',
      Float32Array.from({ length: n * n }, (_, i) => Math.cos(i * 0.001)),
      [n, n],
    );
    await s.run({ a, b });
    const seconds: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await s.run({ a, b });
      seconds.push((performance.now() - t0) / 1000);
    }
    return {
      engine: 'onnxruntime',
      n,
      threads: options.threads,
      seconds,
      gflops: gemmFlops(n) / median(seconds) / 1e9,
    };
  } finally {
    await s.release();
  }
}

/** A measured fp32 GEMM rate: `engine` multiplied two n×n matrices `seconds.length` times at `threads` threads. */
export interface MatmulPeak {
  engine: string;
  n: number;
  threads: number;
  seconds: number[];
  gflops: number;
}

/** FLOPs of an n×n · n×n matrix product (one multiply and one add per term). */
export const gemmFlops = (n: number): number => 2 * n ** 3;

/**
 * The reference peak of a run: the fastest of the GEMM rates measured in it (ORT's, and PyTorch's and numpy's
 * with `--vs torch`), so that no row is flattered by a slower BLAS. @throws when none was measured
 */
export function referencePeak(peaks: readonly Pick<MatmulPeak, 'engine' | 'gflops'>[]): {
  engine: string;
  gflops: number;
} {
  const ok = peaks.filter((p) => Number.isFinite(p.gflops) && p.gflops > 0);
  if (!ok.length) throw new Error('referencePeak: no positive GEMM rate was measured');
  const best = ok.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  return { engine: best.engine, gflops: best.gflops };
}

/**
 * How much of the machine's matmul peak a timed row reaches: (flops / seconds) / peak.
 * @param flops the row's matmul FLOPs (from {@link visionFlops} etc.)
 * @param seconds its measured time
 * @param peakGflops the reference peak in GFLOP/s
 * @returns achieved GFLOP/s and the fraction (1 = the peak)
 */
export function fractionOfPeak(
  flops: number,
  seconds: number,
  peakGflops: number,
): { gflops: number; fraction: number } {
  for (const [name, v] of [
    ['flops', flops],
    ['seconds', seconds],
    ['peakGflops', peakGflops],
  ] as const)
    if (!Number.isFinite(v) || v <= 0) throw new Error(`fractionOfPeak: ${name} must be a positive number, got ${v}`);
  const gflops = flops / seconds / 1e9;
  return { gflops, fraction: gflops / peakGflops };
}

/** The fields of a Hugging Face CLIP tower config (vision_config / text_config) that set its cost. */
export interface TowerConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  /** vision: image_size and patch_size set the token count */
  image_size?: number;
  patch_size?: number;
}

/** How a tower's FLOPs are counted ({@link towerFlops}). */
export interface TowerFlopsOptions {
  /** sequence length (vision: (image/patch)² + 1; text: 77) */
  tokens?: number;
  /**
   * count the last layer as vlfer's vision graphs run it: keys and values over all tokens, the query, attention
   * output, out_proj and MLP for the class token only (`clsOnly` in @vlfer/encoders' clip-graphs: image_embeds reads
   * nothing else). The PyTorch peer runs the whole layer, so its rows leave it false.
   */
  clsOnlyLastLayer?: boolean;
}

/**
 * Matmul FLOPs of one CLIP tower forward for one input, split into the weight products (patch embedding,
 * q/k/v/out, fc1/fc2, projection: x·W) and the attention products (Q·Kᵀ and P·V, both activation × activation).
 * Elementwise ops, LayerNorm and softmax are not counted (they are memory-bound and small beside these).
 */
export function towerFlops(
  c: TowerConfig,
  projectionDim: number,
  { tokens, clsOnlyLastLayer = false }: TowerFlopsOptions = {},
): { weights: number; attention: number } {
  const D = c.hidden_size,
    I = c.intermediate_size,
    L = c.num_hidden_layers;
  const vision = c.image_size !== undefined && c.patch_size !== undefined;
  const T = tokens ?? (vision ? (c.image_size! / c.patch_size!) ** 2 + 1 : 77);
  if (![D, I, L, T, projectionDim].every((v) => Number.isInteger(v) && v > 0))
    throw new Error(
      `towerFlops: hidden_size, intermediate_size, num_hidden_layers, tokens and projectionDim must be positive integers`,
    );
  if (clsOnlyLastLayer && !vision)
    throw new Error('towerFlops: clsOnlyLastLayer applies to a vision tower (image_size and patch_size)');
  const patch = vision ? 2 * (T - 1) * D * 3 * c.patch_size! ** 2 : 0;
  // the last layer's query rows: all T, or the class token alone
  const Q = clsOnlyLastLayer ? 1 : T;
  const layerWeights = (q: number) => 2 * (T * 2 * D * D + q * (2 * D * D + 2 * D * I)); // k, v over T; q, out, fc1, fc2 over q
  const weights = patch + (L - 1) * layerWeights(T) + layerWeights(Q) + 2 * D * projectionDim;
  const attention = (L - 1) * 2 * 2 * T * T * D + 2 * 2 * Q * T * D;
  return { weights, attention };
}

/** Matmul FLOPs of a tower forward for `count` inputs (`options`: see {@link towerFlops}). */
export function forwardFlops(
  c: TowerConfig,
  projectionDim: number,
  count: number,
  options?: TowerFlopsOptions,
): number {
  const f = towerFlops(c, projectionDim, options);
  return count * (f.weights + f.attention);
}

/**
 * Matmul FLOPs of a tower forward plus the vector-Jacobian product to its inputs with frozen weights (no weight
 * gradients): each weight product x·W needs one more (dy·Wᵀ), each attention product two (both operands are
 * activations). This is `bench:vjp`'s work and, per tower, `bench:hesp-step`'s (`options`: see {@link towerFlops}).
 */
export function forwardVjpFlops(
  c: TowerConfig,
  projectionDim: number,
  count: number,
  options?: TowerFlopsOptions,
): number {
  const f = towerFlops(c, projectionDim, options);
  return count * (2 * f.weights + 3 * f.attention);
}

/**
 * Matmul FLOPs of one Exp-CLIP head training step: y = x·W (batch×dim·dim×out), logits = ŷ·tᵀ (batch×out·out×batch);
 * backward: dW = xᵀ·dy and dŷ = dlogits·t (the features and targets are constants, so no other gradients).
 */
export function headStepFlops(batch: number, dim: number, outDim: number): number {
  if (![batch, dim, outDim].every((v) => Number.isInteger(v) && v > 0))
    throw new Error(`headStepFlops: batch, dim and outDim must be positive integers, got ${batch}, ${dim}, ${outDim}`);
  return 2 * (2 * batch * dim * outDim) + 2 * (2 * batch * batch * outDim);
}

/** A row's matmul work: the GEMM-rate table of a bench result, with every peak it measured and the reference. */
export interface PeakRecord {
  /** the CPU model (also in `environment.cpu` of the provenance) */
  cpu: string;
  threads: number;
  /** ONNX Runtime's 2048² GEMM rate in the vlfer process: the best of its measurements */
  ort: MatmulPeak;
  /** every ONNX Runtime measurement's GFLOP/s (before the rounds, after them) */
  ortGflops?: number[];
  /** torch.mm's and numpy.dot's in the torch peer (with `--vs torch`): each engine's best over the rounds */
  torch?: unknown[];
  /** how many peer rounds the torch entries were taken from */
  torchRounds?: number;
  /** the fastest of them: rows' `fractionOfPeak` divide by this */
  reference: { engine: string; gflops: number };
}

/** The GEMM rates measured by a torch peer run (entries with an `error` are kept in the record but not compared). */
export function torchPeaks(result: Record<string, unknown> | undefined): MatmulPeak[] {
  const list = Array.isArray(result?.matmulPeak) ? (result.matmulPeak as Record<string, unknown>[]) : [];
  return list
    .filter((p) => typeof p.gflops === 'number')
    .map((p) => ({ ...(p as unknown as MatmulPeak), engine: `torch peer: ${String(p.engine)}` }));
}

/**
 * The {@link PeakRecord} of a run: ORT's peak measurements (the benches take one before their rounds and one after)
 * and, with `--vs torch`, the peer's result of every round (each measures torch.mm and numpy.dot). Each engine's
 * best measurement counts: a GEMM timed while anything else ran understates the peak, and an understated peak
 * overstates every fraction of it (fractions above 1 were seen when a peak was timed while other work started).
 */
export function peakRecord(
  cpu: string,
  ort: MatmulPeak | readonly MatmulPeak[],
  torchResults?: Record<string, unknown> | readonly Record<string, unknown>[],
): PeakRecord {
  const orts = Array.isArray(ort) ? (ort as readonly MatmulPeak[]) : [ort as MatmulPeak];
  if (orts.length === 0) throw new Error('peakRecord: at least one ONNX Runtime peak measurement is needed');
  const bestOrt = orts.reduce((x, y) => (y.gflops > x.gflops ? y : x));
  const results =
    torchResults === undefined
      ? undefined
      : Array.isArray(torchResults)
        ? (torchResults as readonly Record<string, unknown>[])
        : [torchResults as Record<string, unknown>];
  // each torch engine's best entry over the rounds (entries with an error are kept when no round timed that engine)
  const byEngine = new Map<string, Record<string, unknown>>();
  const rate = (x: Record<string, unknown>) => (typeof x.gflops === 'number' ? x.gflops : -1);
  for (const r of results ?? [])
    for (const p of (Array.isArray(r.matmulPeak) ? r.matmulPeak : []) as Record<string, unknown>[]) {
      const had = byEngine.get(String(p.engine));
      if (!had || rate(p) > rate(had)) byEngine.set(String(p.engine), p);
    }
  const torch = [...byEngine.values()];
  return {
    cpu,
    threads: bestOrt.threads,
    ort: bestOrt,
    ortGflops: orts.map((p) => p.gflops),
    ...(results ? { torch, torchRounds: results.length } : {}),
    reference: referencePeak([bestOrt, ...torchPeaks({ matmulPeak: torch })]),
  };
}

/**
 * A bench's {@link PeakRecord} once its rounds are done: ORT's peak is timed again at the same thread count and
 * counted with `before` (the one timed before the rounds), with the peer's result of every round (none without
 * `--vs torch`); each engine's best measurement is the reference.
 */
export async function peakAfterRounds(
  cpu: string,
  before: MatmulPeak,
  torchResults: readonly Record<string, unknown>[],
): Promise<PeakRecord> {
  const after = await matmulPeakOrt({ threads: before.threads, n: before.n });
  return peakRecord(cpu, [before, after], torchResults.length ? torchResults : undefined);
}

/** One line for the console: the peaks and which is the reference. */
export function describePeak(p: PeakRecord): string {
  const t = torchPeaks(p.torch ? { matmulPeak: p.torch } : undefined);
  return `fp32 matmul peak (${p.ort.n}² GEMM, ${p.threads} threads, ${p.cpu}): ORT ${p.ort.gflops.toFixed(0)} GFLOP/s${t.map((x) => `, ${x.engine} ${x.gflops.toFixed(0)}`).join('')}; rows are fractions of ${p.reference.gflops.toFixed(0)} (${p.reference.engine})`;
}

/** The console line after the peak: each side's matmul rate as a percentage of the reference peak. */
export function describeMatmulRates(vlfer: { fraction: number }, torch?: { fraction: number }): string {
  const pct = (f: { fraction: number }) => `${(100 * f.fraction).toFixed(0)} %`;
  return `matmul rate: vlfer ${pct(vlfer)}${torch ? `, PyTorch ${pct(torch)}` : ''} of the peak`;
}
