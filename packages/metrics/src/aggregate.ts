import { createRng, describeKind, InvalidArgumentError } from '@vlfer/core';

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
  folds.forEach((f, i) => {
    for (const k of keys)
      if (typeof f[k] !== 'number')
        throw new InvalidArgumentError({
          functionName: 'averageFolds',
          argument: 'folds',
          message: `fold ${i}'s '${k}' is ${describeKind(f[k])} (${JSON.stringify(f[k])}); expected a number`,
        });
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

/** How the bootstrap draws its resamples; shared by every bootstrap function of this package. */
export interface ResampleOptions {
  /** Seed of the RNG (`createRng` of @vlfer/core) that draws the resample indices. */
  seed: number;
  /** Number of resamples B; default 1000. Ignored when `indices` is given (B = indices.length). */
  iterations?: number;
  /** Two-sided confidence level in (0, 1); default 0.95. */
  confidence?: number;
  /**
   * Explicit resamples (B arrays of n item indices in [0, n)) used instead of the seeded RNG, e.g. to reproduce a
   * NumPy/SciPy computation exactly (RNG streams cannot be shared across languages).
   */
  indices?: readonly ArrayLike<number>[];
  /**
   * A group id per item: each group is resampled within itself (stratified bootstrap; e.g. known vs unknown samples,
   * so that every resample has both). Resample position p keeps the group of item p.
   */
  strata?: ArrayLike<number>;
}

interface CheckedResampling {
  iterations: number;
  confidence: number;
  /** Calls `visit` with each resample (the array is reused between calls). */
  forEach(visit: (idx: Int32Array, b: number) => void): void;
}

/** Validate resample options for n items and return a resample iterator. */
export function resampling(n: number, options: ResampleOptions, functionName: string): CheckedResampling {
  const fail = (argument: string, message: string): never => {
    throw new InvalidArgumentError({ functionName, argument, message });
  };
  if (!Number.isInteger(n) || n <= 0) fail('n', `must be a positive integer, got ${n}`);
  const { indices, strata, seed } = options;
  const iterations = indices ? indices.length : (options.iterations ?? 1000);
  const confidence = options.confidence ?? 0.95;
  if (!Number.isInteger(iterations) || iterations < 1)
    fail(indices ? 'indices' : 'iterations', `must be a positive integer number of resamples, got ${iterations}`);
  if (!(confidence > 0 && confidence < 1)) fail('confidence', `must be in (0, 1), got ${confidence}`);
  if (!Number.isSafeInteger(seed)) fail('seed', `must be an integer, got ${seed}`);
  if (indices) {
    indices.forEach((r, b) => {
      if (r.length !== n) fail('indices', `resample ${b} has ${r.length} indices, expected n = ${n}`);
      for (let i = 0; i < n; i++)
        if (!Number.isInteger(r[i]) || r[i]! < 0 || r[i]! >= n)
          fail('indices', `resample ${b}, position ${i} holds ${r[i]}; expected an integer in [0, ${n})`);
    });
  }
  let groups: Int32Array[] | null = null;
  if (strata) {
    if (strata.length !== n) fail('strata', `has length ${strata.length}, expected n = ${n}`);
    const byId = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const g = strata[i]!;
      if (!Number.isFinite(g)) fail('strata', `index ${i} is ${g}`);
      const members = byId.get(g) ?? [];
      members.push(i);
      byId.set(g, members);
    }
    groups = [...byId.values()].map((m) => Int32Array.from(m));
  }
  return {
    iterations,
    confidence,
    forEach(visit) {
      const idx = new Int32Array(n);
      if (indices) {
        indices.forEach((r, b) => {
          for (let i = 0; i < n; i++) idx[i] = r[i]!;
          visit(idx, b);
        });
        return;
      }
      const rng = createRng(seed);
      for (let b = 0; b < iterations; b++) {
        if (groups) {
          for (const g of groups) for (const p of g) idx[p] = g[rng.int(g.length)]!;
        } else for (let i = 0; i < n; i++) idx[i] = rng.int(n);
        visit(idx, b);
      }
    },
  };
}

/** Quantile p of sorted values with linear interpolation (NumPy's default `np.percentile` method). */
export function sortedQuantile(sorted: Float64Array, p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Percentile bootstrap confidence interval of a statistic over n samples, resampling indices with
 * replacement from a seeded RNG (same seed → same interval), or from explicit `indices`.
 * Bounds: the (1 − confidence)/2 and (1 + confidence)/2 quantiles of the B resampled statistics, linearly
 * interpolated as `np.percentile`.
 * @param options.statistic receives the resampled indices (length n) and returns the statistic
 */
/**
 * A statistic's value on one (re)sample, or an error naming the argument and the resample: a NaN sorts to the end
 * and turns into an interval bound or a p-value that looks like a number.
 * @param resample the resample's index, or undefined for the full sample
 */
export function finiteStatistic(
  value: number,
  where: { functionName: string; argument: string },
  resample?: number,
): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new InvalidArgumentError({
    ...where,
    message: `returned ${String(value)} on ${resample === undefined ? 'the full sample' : `resample ${resample}`}; it must return a finite number on every resample (a metric of a resample that lacks a class, say, must be defined for it)`,
  });
}

export function bootstrapInterval(
  options: ResampleOptions & { n: number; statistic: (indices: Int32Array) => number },
): BootstrapInterval {
  const { n, statistic, seed } = options;
  const r = resampling(n, options, 'bootstrapInterval');
  const where = { functionName: 'bootstrapInterval', argument: 'statistic' };
  const estimate = finiteStatistic(statistic(Int32Array.from({ length: n }, (_, i) => i)), where);
  const stats = new Float64Array(r.iterations);
  r.forEach((idx, b) => (stats[b] = finiteStatistic(statistic(idx), where, b)));
  stats.sort();
  const alpha = 1 - r.confidence;
  return {
    estimate,
    lower: sortedQuantile(stats, alpha / 2),
    upper: sortedQuantile(stats, 1 - alpha / 2),
    confidence: r.confidence,
    iterations: r.iterations,
    seed,
  };
}
