import { createRng, InvalidArgumentError } from '@vlfer/core';

export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
}

/** Mean and sample standard deviation of a list of numbers. */
export function meanStd(values: readonly number[]): MeanStd {
  if (values.length === 0)
    throw new InvalidArgumentError({ functionName: 'meanStd', argument: 'values', message: 'is empty' });
  values.forEach((v, i) => {
    if (!Number.isFinite(v))
      throw new InvalidArgumentError({ functionName: 'meanStd', argument: 'values', message: `index ${i} is ${v}` });
  });
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/**
 * Average per-fold metric records key by key (DFEW/MAFW protocol: metrics per fold, then the arithmetic mean).
 * Every fold must report the same numeric keys.
 * @param folds one record of metric name → value per fold
 */
export function averageFolds<K extends string>(folds: readonly Readonly<Record<K, number>>[]): Record<K, MeanStd> {
  if (folds.length === 0)
    throw new InvalidArgumentError({ functionName: 'averageFolds', argument: 'folds', message: 'is empty' });
  const keys = Object.keys(folds[0]!).sort() as K[];
  folds.forEach((f, i) => {
    const ks = Object.keys(f).sort();
    if (ks.join(',') !== keys.join(',')) {
      throw new InvalidArgumentError({
        functionName: 'averageFolds',
        argument: 'folds',
        message: `fold ${i} has keys [${ks.join(', ')}], fold 0 has [${keys.join(', ')}]`,
      });
    }
  });
  const out = {} as Record<K, MeanStd>;
  for (const k of keys) out[k] = meanStd(folds.map((f) => f[k]));
  return out;
}

export interface BootstrapInterval {
  /** The statistic on the full sample. */
  estimate: number;
  lower: number;
  upper: number;
  confidence: number;
  iterations: number;
  seed: number;
}

/**
 * Percentile bootstrap confidence interval of a statistic over n samples, resampling indices with
 * replacement from a seeded RNG (same seed → same interval).
 * @param options.statistic receives the resampled indices (length n) and returns the statistic
 */
export function bootstrapInterval(options: {
  n: number;
  statistic: (indices: Int32Array) => number;
  seed: number;
  iterations?: number;
  confidence?: number;
}): BootstrapInterval {
  const { n, statistic, seed } = options;
  const iterations = options.iterations ?? 1000;
  const confidence = options.confidence ?? 0.95;
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError({
      functionName: 'bootstrapInterval',
      argument: 'n',
      message: `must be a positive integer, got ${n}`,
    });
  if (!Number.isInteger(iterations) || iterations < 1)
    throw new InvalidArgumentError({
      functionName: 'bootstrapInterval',
      argument: 'iterations',
      message: `must be a positive integer, got ${iterations}`,
    });
  if (!(confidence > 0 && confidence < 1))
    throw new InvalidArgumentError({
      functionName: 'bootstrapInterval',
      argument: 'confidence',
      message: `must be in (0, 1), got ${confidence}`,
    });
  const rng = createRng(seed);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const estimate = statistic(all);
  const stats = new Float64Array(iterations);
  const idx = new Int32Array(n);
  for (let b = 0; b < iterations; b++) {
    for (let i = 0; i < n; i++) idx[i] = rng.int(n);
    stats[b] = statistic(idx);
  }
  stats.sort();
  const q = (p: number): number => {
    const pos = p * (iterations - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, iterations - 1);
    return stats[lo]! + (stats[hi]! - stats[lo]!) * (pos - lo);
  };
  const alpha = 1 - confidence;
  return { estimate, lower: q(alpha / 2), upper: q(1 - alpha / 2), confidence, iterations, seed };
}
