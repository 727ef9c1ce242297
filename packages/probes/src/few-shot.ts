import {
  assertArrayLike,
  assertShape,
  checkClassIds,
  createRng,
  InvalidArgumentError,
  type Tensor2D,
} from '@vlfer/core';

/** The shot counts of the few-shot protocols (CoOp, Tip-Adapter, the CLIP paper's few-shot probes). */
export const FEW_SHOT_COUNTS = [1, 2, 4, 8, 16] as const;

/**
 * Seeded few-shot selection: `shots` items of every class 0 … C−1, drawn without replacement by a seeded shuffle
 * (`createRng(seed).shuffled` of @vlfer/core) of each class's item indices, taken in class order, the classes one
 * after another and indices ascending within a class. The same labels, shots and seed always give the same indices.
 * Throws when a class has fewer than `shots` items (including none), naming the class and its count.
 * @param labels [n] class ids in [0, C) @param shots items per class, a positive integer (typically 1, 2, 4, 8, 16)
 * @returns C·shots item indices
 */
export function selectFewShot(
  labels: ArrayLike<number>,
  shots: number,
  options: { seed: number; numClasses?: number },
): number[] {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError({
      functionName: 'selectFewShot',
      argument: 'options',
      message: `expected { seed, numClasses? }, got ${String(options)}`,
    });
  if (!Number.isInteger(shots) || shots < 1)
    throw new InvalidArgumentError({
      functionName: 'selectFewShot',
      argument: 'shots',
      message: `must be a positive integer, got ${shots}`,
    });
  if (labels.length === 0)
    throw new InvalidArgumentError({ functionName: 'selectFewShot', argument: 'labels', message: 'is empty' });
  const byClass: number[][] = [];
  checkClassIds(labels, { functionName: 'selectFewShot', argument: 'labels' }, options.numClasses);
  for (let i = 0; i < labels.length; i++) (byClass[labels[i]!] ??= []).push(i);
  const k = options.numClasses ?? byClass.length;
  const rng = createRng(options.seed, { functionName: 'selectFewShot', argument: 'seed' });
  const out: number[] = [];
  for (let c = 0; c < k; c++) {
    const items = byClass[c] ?? [];
    if (items.length < shots)
      throw new InvalidArgumentError({
        functionName: 'selectFewShot',
        argument: 'labels',
        message: `class ${c} has ${items.length} item(s), fewer than ${shots} shots (${shots} shots need ${shots} items of every class)`,
      });
    out.push(
      ...rng
        .shuffled(items)
        .slice(0, shots)
        .sort((a, b) => a - b),
    );
  }
  return out;
}

/**
 * The rows of a `[n, D]` feature matrix at `indices` (e.g. from `selectFewShot`), in that order.
 * @returns [indices.length, D]
 */
export function takeRows(features: Tensor2D, indices: readonly number[]): Tensor2D {
  assertShape(features, [null, null], 'features', 'takeRows');
  assertArrayLike(indices, 'indices', 'takeRows');
  const [n, d] = features.dims;
  const out = new Float32Array(indices.length * d);
  indices.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= n)
      throw new InvalidArgumentError({
        functionName: 'takeRows',
        argument: 'indices',
        message: `index ${i} holds ${r}; expected a row in [0, ${n})`,
      });
    out.set(features.data.subarray(r * d, (r + 1) * d), i * d);
  });
  return { dtype: 'float32', data: out, dims: [indices.length, d] };
}
