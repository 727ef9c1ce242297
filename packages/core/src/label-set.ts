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
