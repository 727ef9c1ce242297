/**
 * @file Per-item outcomes of a run (`ResultRow.items`): built from what the methods return, and checked against the
 * row's confusion matrix, so that bootstrap intervals over items and paired tests between runs read true data.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { confusionMatrix } from '@vlfer/metrics';
import type { ItemOutcomes, ResultRow } from './ablations.js';

/**
 * An item's id: its path relative to the dataset root when it lies inside it (as `evaluateZeroShot` names items),
 * else the path itself. The same file gives the same id in every run on that dataset, so two runs pair up.
 */
export function itemIdUnder(root: string, path: string): string {
  const r = relative(resolve(root), resolve(path));
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : path;
}

/**
 * Per-item outcomes in id order (code-unit order of the ids), from parallel arrays `[n]` in any order.
 * @param labels true class index (-1: an open-set unknown item) @param knownness open-set only: higher = more known
 * @throws Error when the arrays differ in length or an id repeats (the row could not be paired item by item)
 */
export function itemOutcomes(
  ids: readonly string[],
  labels: readonly number[],
  predicted: readonly number[],
  knownness?: readonly number[],
): ItemOutcomes {
  const n = ids.length;
  if (labels.length !== n || predicted.length !== n || (knownness && knownness.length !== n))
    throw new Error(
      `per-item outcomes: ${n} ids, ${labels.length} labels, ${predicted.length} predictions${knownness ? `, ${knownness.length} known-ness scores` : ''} (expected one of each per item)`,
    );
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0,
  );
  for (let i = 1; i < n; i++)
    if (ids[order[i]!] === ids[order[i - 1]!])
      throw new Error(`per-item outcomes: item id '${ids[order[i]!]}' appears twice (ids must name one item each)`);
  return {
    ids: order.map((i) => ids[i]!),
    labels: order.map((i) => labels[i]!),
    predicted: order.map((i) => predicted[i]!),
    ...(knownness ? { knownness: order.map((i) => knownness[i]!) } : {}),
  };
}

/** Whether a row holds open-set results (known and unknown items): it reports `n_known`. */
export const isOpenSetRow = (row: Pick<ResultRow, 'metrics'>): boolean => row.metrics.n_known !== undefined;

const sameNumbers = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * What is wrong with a row's `items`, or null (also null for a row without items, written before they existed):
 * the arrays are parallel, the ids unique and sorted, labels and predictions index `labelNames` (labels -1 only in
 * open-set rows, which also need a known-ness score per item), and the confusion matrix recomputed from the items
 * (open-set: the known items) is the row's; open-set rows: the unknown items number `n_unknown`, and the known-ness
 * scores are the row's ROC `scores`.
 */
export function itemsProblem(row: ResultRow): string | null {
  const it = row.items;
  if (!it) return null;
  const n = it.ids.length;
  const k = row.labelNames.length;
  const open = isOpenSetRow(row);
  if (it.labels.length !== n || it.predicted.length !== n || (it.knownness && it.knownness.length !== n))
    return `items hold ${n} ids, ${it.labels.length} labels, ${it.predicted.length} predictions${it.knownness ? ` and ${it.knownness.length} known-ness scores` : ''} (expected one of each per item)`;
  for (let i = 1; i < n; i++)
    if (!(it.ids[i - 1]! < it.ids[i]!))
      return `items.ids[${i}] '${it.ids[i]}' is not after '${it.ids[i - 1]}' (ids must be unique and sorted)`;
  for (let i = 0; i < n; i++) {
    const [l, p] = [it.labels[i]!, it.predicted[i]!];
    if (l >= k || (l < 0 && (!open || l !== -1)))
      return `items.labels[${i}] is ${l}, expected a class index in [0, ${k})${open ? ' or -1 (unknown)' : ''}`;
    if (p >= k) return `items.predicted[${i}] is ${p}, expected a class index in [0, ${k})`;
  }
  const known = it.labels.flatMap((l, i) => (l >= 0 ? [i] : []));
  const cm = confusionMatrix(
    known.map((i) => it.labels[i]!),
    known.map((i) => it.predicted[i]!),
    k,
  );
  if (cm.some((r, i) => !sameNumbers(r, row.confusionMatrix[i] ?? [])))
    return `the confusion matrix recomputed from items differs from the row's (items and metrics disagree)`;
  if (!open) return n === row.metrics.n ? null : `items hold ${n} items, metrics.n says ${row.metrics.n}`;
  if (!it.knownness) return 'items of an open-set row need knownness (one known-ness score per item)';
  if (n - known.length !== row.metrics.n_unknown)
    return `items hold ${n - known.length} unknown items, metrics.n_unknown says ${row.metrics.n_unknown}`;
  if (row.scores) {
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const ku = [true, false].map((isKnown) => sorted(it.knownness!.filter((_, i) => it.labels[i]! >= 0 === isKnown)));
    if (!sameNumbers(ku[0]!, sorted(row.scores.known)) || !sameNumbers(ku[1]!, sorted(row.scores.unknown)))
      return 'the known-ness scores of items differ from the row’s ROC scores';
  }
  return null;
}
