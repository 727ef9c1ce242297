import { createRng, InvalidArgumentError } from '@vlfer/core';

/**
 * A seeded, class-stratified subset of `limit` items: each class keeps its share of the set (largest-remainder
 * rounding, at least one item for every class present when `limit` allows), the items of a class are drawn at
 * random from `seed`, and the subset keeps the input order. The same (items, limit, seed) always gives the same
 * subset, which `subsetId` names for run ids and outputs. `limit` ≥ the set size returns every item.
 * @returns the items and their indices in the input
 */
export function stratifiedSubset<T extends { label: number }>(
  items: readonly T[],
  options: { limit: number; seed: number },
): { items: T[]; indices: number[]; id: string } {
  const { limit, seed } = options;
  if (!Number.isInteger(limit) || limit <= 0)
    throw new InvalidArgumentError({
      functionName: 'stratifiedSubset',
      argument: 'limit',
      message: `must be a positive integer, got ${limit}`,
    });
  if (!Number.isInteger(seed))
    throw new InvalidArgumentError({
      functionName: 'stratifiedSubset',
      argument: 'seed',
      message: `must be an integer, got ${seed}`,
    });
  const id = subsetId(limit, seed);
  if (limit >= items.length) return { items: [...items], indices: items.map((_, i) => i), id };
  const byClass = new Map<number, number[]>();
  items.forEach((it, i) => {
    const l = byClass.get(it.label);
    if (l) l.push(i);
    else byClass.set(it.label, [i]);
  });
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  // largest-remainder allocation, then every present class gets ≥ 1 while items can be moved from the largest
  const quota = classes.map((c) => (limit * byClass.get(c)!.length) / items.length);
  const alloc = quota.map(Math.floor);
  let left = limit - alloc.reduce((a, b) => a + b, 0);
  const order = classes.map((_, k) => k).sort((a, b) => quota[b]! - alloc[b]! - (quota[a]! - alloc[a]!) || a - b);
  for (const k of order) {
    if (left === 0) break;
    alloc[k]!++;
    left--;
  }
  for (let k = 0; k < classes.length && limit >= classes.length; k++) {
    if (alloc[k] === 0) {
      const donor = alloc.indexOf(Math.max(...alloc));
      alloc[donor]!--;
      alloc[k] = 1;
    }
  }
  const rng = createRng(seed);
  const chosen: number[] = [];
  // a loop, not push(...): AffectNet's happiness class alone is more items than a call takes arguments (~120,000)
  classes.forEach((c, k) => {
    for (const i of rng.shuffled(byClass.get(c)!).slice(0, alloc[k])) chosen.push(i);
  });
  chosen.sort((a, b) => a - b);
  return { items: chosen.map((i) => items[i]!), indices: chosen, id };
}

/** The name of a stratified subset in run ids and outputs (`strat-n300-seed1`). */
export function subsetId(limit: number, seed: number): string {
  return `strat-n${limit}-seed${seed}`;
}
