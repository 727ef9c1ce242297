import { InvalidArgumentError } from './errors.js';

/**
 * An ordered set of class names: index i of `names` is label id i everywhere in vlfer.
 */
export interface LabelSet {
  /** Stable identifier, e.g. 'basic-7'. */
  readonly id: string;
  /** Class names in label-id order. */
  readonly names: readonly string[];
}

/** Create a frozen label set; names must be unique and non-empty. */
export function defineLabelSet(id: string, names: readonly string[]): LabelSet {
  const seen = new Set<string>();
  if (!id) throw new RangeError('defineLabelSet: empty id');
  for (const n of names) {
    if (typeof n !== 'string' || !n) throw new RangeError(`defineLabelSet(${id}): empty class name`);
    if (seen.has(n)) throw new RangeError(`defineLabelSet(${id}): duplicate class name '${n}'`);
    seen.add(n);
  }
  if (names.length < 1) throw new RangeError(`defineLabelSet(${id}): no class names`);
  return Object.freeze({ id, names: Object.freeze([...names]) });
}

/**
 * Label ids of class names: `names[i]`'s index in `labelSet.names` (what the metrics of @vlfer/metrics take), so
 * predictions that carry names (`classify`, a CSV of labels) meet the metrics without `names.indexOf(…)` by hand.
 * Exact, case-sensitive match.
 * @example unweightedAverageRecall(toIndices(trueNames, BASIC_7), toIndices(predictedNames, BASIC_7), 7)
 * @param names N class names
 * @returns N label ids
 * @throws InvalidArgumentError naming the first name (and its position) that is not in the label set
 */
export function toIndices(names: readonly string[], labelSet: LabelSet | readonly string[]): number[] {
  const classes = Array.isArray(labelSet) ? (labelSet as readonly string[]) : (labelSet as LabelSet).names;
  const where = Array.isArray(labelSet) ? 'the class list' : `label set '${(labelSet as LabelSet).id}'`;
  if (!Array.isArray(names))
    throw new InvalidArgumentError({ functionName: 'toIndices', argument: 'names', message: 'expected an array' });
  const index = new Map(classes.map((n, i) => [n, i]));
  return names.map((n, i) => {
    const id = index.get(n);
    if (id === undefined)
      throw new InvalidArgumentError({
        functionName: 'toIndices',
        argument: 'names',
        message: `names[${i}] '${String(n)}' is not in ${where} (${classes.join(', ')})`,
      });
    return id;
  });
}
