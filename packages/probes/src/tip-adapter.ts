import { assertArrayLike, assertShape, checkClassIds, InvalidArgumentError, type Tensor2D } from '@vlfer/core';

export interface TipAdapterOptions {
  /** Residual ratio α weighting the cache logits; default 1. */
  alpha?: number;
  /** Sharpness β of the affinity φ(x) = exp(−β(1 − x)); default 5.5. */
  beta?: number;
  /** Scale of the zero-shot CLIP logits; default 100 (OpenAI CLIP's exp(logit_scale), as Tip-Adapter's code). */
  scale?: number;
}

function unit(x: Tensor2D, argument: string): Float64Array {
  const [n, d] = x.dims;
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x.data[i * d + j]! ** 2;
    if (!(s > 0) || !Number.isFinite(s))
      throw new InvalidArgumentError({
        functionName: 'tipAdapterLogits',
        argument,
        message: `row ${i} has norm ${Math.sqrt(s)}; expected a finite non-zero feature`,
      });
    const norm = Math.sqrt(s);
    for (let j = 0; j < d; j++) out[i * d + j] = x.data[i * d + j]! / norm;
  }
  return out;
}

/** α, β and scale with their defaults (1, 5.5, 100). @throws InvalidArgumentError naming one that is not finite */
export function tipAdapterSettings(options: TipAdapterOptions): Required<TipAdapterOptions> {
  const alpha = options.alpha ?? 1;
  const beta = options.beta ?? 5.5;
  const scale = options.scale ?? 100;
  // the paper's α and β are ≥ 0 (a negative β makes exp(−β(1 − cos)) grow to Infinity), CLIP's scale is > 0
  for (const [name, v, min] of [
    ['alpha', alpha, '≥ 0'],
    ['beta', beta, '≥ 0'],
    ['scale', scale, '> 0'],
  ] as const)
    if (!Number.isFinite(v) || v < 0 || (min === '> 0' && v === 0))
      throw new InvalidArgumentError({
        functionName: 'tipAdapterLogits',
        argument: name,
        message: `must be a finite number ${min}, got ${v}`,
      });
  return { alpha, beta, scale };
}

/**
 * The cache values: one class id in [0, k) per cache key (`m` keys).
 * @throws InvalidArgumentError naming 'cache.labels' for another length or an id out of range
 */
export function checkCacheLabels(labels: ArrayLike<number>, m: number, k: number): void {
  assertArrayLike(labels, 'cache.labels', 'tipAdapterLogits');
  if (labels.length !== m)
    throw new InvalidArgumentError({
      functionName: 'tipAdapterLogits',
      argument: 'cache.labels',
      message: `has length ${labels.length} but 'cache.keys' has ${m} rows`,
    });
  checkClassIds(
    labels,
    { functionName: 'tipAdapterLogits', argument: 'cache.labels' },
    k,
    `classWeights has ${k} rows`,
  );
}

/**
 * Tip-Adapter, the training-free cache classifier of Zhang et al., "Tip-Adapter: Training-free Adaption of CLIP for
 * Few-shot Classification", ECCV 2022 (eq. 6): logits = α · exp(−β(1 − f·Fᵀ)) · L + scale · f · Wᵀ, with f the
 * L2-normalised test features, F the L2-normalised few-shot training features (the cache keys), L their one-hot
 * labels (the cache values) and W the L2-normalised class text embeddings (zero-shot CLIP's classifier). The defaults
 * α = 1, β = 5.5 are the paper's ImageNet setting (its ablations, §4.3); the released code searches both on a
 * validation split per dataset. The keys are used as given (the paper averages 10 augmented views per image).
 * @param features [n, D] test image features
 * @param cache.keys [N·K, D] few-shot training features; cache.labels [N·K] their class ids in [0, C)
 * @param classWeights [C, D] class text embeddings
 * @returns [n, C] logits (float32; float64 inside)
 * Stages: {@link tipAdapterSettings}, {@link checkCacheLabels} → L2-normalise f, F, W → cache + zero-shot logits.
 */
export function tipAdapterLogits(
  features: Tensor2D,
  cache: { keys: Tensor2D; labels: ArrayLike<number> },
  classWeights: Tensor2D,
  options: TipAdapterOptions = {},
): Tensor2D {
  assertShape(features, [null, null], 'features', 'tipAdapterLogits');
  const d = features.dims[1];
  if (typeof cache !== 'object' || cache === null)
    throw new InvalidArgumentError({
      functionName: 'tipAdapterLogits',
      argument: 'cache',
      message: `expected { keys: [N·K, ${d}] tensor, labels: [N·K] class ids }, got ${String(cache)}`,
    });
  assertShape(cache.keys, [null, d], 'cache.keys', 'tipAdapterLogits');
  assertShape(classWeights, [null, d], 'classWeights', 'tipAdapterLogits');
  const { alpha, beta, scale } = tipAdapterSettings(options);
  const n = features.dims[0];
  const m = cache.keys.dims[0];
  const k = classWeights.dims[0];
  checkCacheLabels(cache.labels, m, k);
  const f = unit(features, 'features');
  const keys = unit(cache.keys, 'cache.keys');
  const w = unit(classWeights, 'classWeights');
  const out = new Float32Array(n * k);
  const row = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let r = 0; r < m; r++) {
      let a = 0;
      for (let t = 0; t < d; t++) a += f[i * d + t]! * keys[r * d + t]!;
      // a ≤ 1 for unit rows; rounding gave 1 + 2e-15 for a feature equal to a key, and at a huge β exp(β·2e-15) > 1
      row[cache.labels[r]!]! += Math.exp(-beta * (1 - Math.min(a, 1)));
    }
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += f[i * d + t]! * w[j * d + t]!;
      out[i * k + j] = alpha * row[j]! + scale * s;
    }
  }
  return { dtype: 'float32', data: out, dims: [n, k] };
}
