/**
 * An ordered set of class names: index i of `names` is label id i everywhere in vlfer.
 */
export interface LabelSet {
  /** Stable identifier, e.g. 'exp-clip-7'. */
  readonly id: string;
  /** Class names in label-id order. */
  readonly names: readonly string[];
}

/** Create a frozen label set; names must be unique and non-empty. */
export function defineLabelSet(id: string, names: readonly string[]): LabelSet {
  const seen = new Set<string>();
  for (const n of names) {
    if (!n) throw new RangeError(`defineLabelSet(${id}): empty class name`);
    if (seen.has(n)) throw new RangeError(`defineLabelSet(${id}): duplicate class name '${n}'`);
    seen.add(n);
  }
  return Object.freeze({ id, names: Object.freeze([...names]) });
}
