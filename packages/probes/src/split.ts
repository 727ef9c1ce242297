import { createRng, InvalidArgumentError } from '@vlfer/core';

/** Fractions of every class that go to each part of a {@link splitStratified} split (they sum to 1). */
export interface SplitFractions {
  train: number;
  validation: number;
  test: number;
}

/**
 * The split vlfer uses when a dataset has only one labelled set (FER2013 PrivateTest in the shared assets): 30 %
 * train, 20 % validation, 50 % test of every class. Half stays for the test, so the zero-shot row is still measured
 * on many items; the train part is large enough for 16 shots of FER2013's smallest class (disgust: 55 items → 16).
 */
export const DEFAULT_SPLIT_FRACTIONS: Readonly<SplitFractions> = { train: 0.3, validation: 0.2, test: 0.5 };

/** Indices into the input of each part of a split, ascending. */
export interface StratifiedSplit {
  train: number[];
  validation: number[];
  test: number[];
}

function checkFractions(f: SplitFractions): void {
  const parts = [f.train, f.validation, f.test];
  if (!parts.every((v) => Number.isFinite(v) && v >= 0) || Math.abs(parts.reduce((a, b) => a + b, 0) - 1) > 1e-9)
    throw new InvalidArgumentError({
      functionName: 'splitStratified',
      argument: 'fractions',
      message: `expected non-negative train, validation and test fractions that sum to 1, got ${JSON.stringify(f)}`,
    });
}

/**
 * The items grouped into units that a split keeps whole, in the order of each unit's first item by id: one unit per
 * distinct `groups` entry (e.g. the SHA-256 of each image file: byte-identical copies form one unit), or one per item
 * without `groups`. A unit's class is the label of its first item by id.
 */
function splitUnits(
  ids: readonly string[],
  labels: ArrayLike<number>,
  groups: readonly string[] | undefined,
): Map<number, number[][]> {
  const order = ids.map((_, i) => i).sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0));
  const units = new Map<string, number[]>();
  for (const i of order) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0)
      throw new InvalidArgumentError({
        functionName: 'splitStratified',
        argument: 'labels',
        message: `index ${i} holds ${y}; expected an integer class id ≥ 0`,
      });
    const key = groups ? groups[i]! : ids[i]!;
    const unit = units.get(key);
    if (unit) unit.push(i);
    else units.set(key, [i]);
  }
  const byClass = new Map<number, number[][]>();
  for (const unit of units.values()) {
    const y = labels[unit[0]!]!;
    const list = byClass.get(y);
    if (list) list.push(unit);
    else byClass.set(y, [unit]);
  }
  return byClass;
}

/**
 * How many of a class's u units go to test and to validation: ⌊u·test + ½⌋ and ⌊u·validation + ½⌋ (at most what is
 * left), the rest to train; where that leaves train none of two or more units although `train` > 0 (u = 3 at
 * 30/20/50 %: 2 test, 1 validation), one unit goes back to train from the larger of test and validation.
 */
function partSizes(u: number, f: SplitFractions): [test: number, validation: number] {
  let nTest = Math.floor(u * f.test + 0.5);
  let nVal = Math.min(u - nTest, Math.floor(u * f.validation + 0.5));
  if (u >= 2 && f.train > 0 && nTest + nVal === u) {
    if (nTest >= nVal) nTest--;
    else nVal--;
  }
  return [nTest, nVal];
}

/**
 * A seeded, class-stratified train/validation/test split of one labelled set. The items are ordered by id first
 * (so the split does not depend on the order a loader lists them in) and gathered into units (`groups`: items with
 * the same group, e.g. the same content hash, always land in the same part; without it every item is its own unit),
 * then every class's units are shuffled with `createRng(seed)` (the classes in ascending order, one generator for
 * all) and cut: ⌊u·test + ½⌋ units to test, ⌊u·validation + ½⌋ to validation (at most what is left), the rest to
 * train, which keeps one unit of a class of two or more ({@link partSizes}). The same ids, labels, groups, fractions and seed always give the same split; without `groups` (or with all
 * groups distinct) it is the per-item split of earlier versions.
 * @param ids [n] unique item ids (e.g. paths relative to the dataset root) @param labels [n] class ids (integers ≥ 0)
 * @param options.groups [n] optional unit key per item (e.g. SHA-256 of the file): equal keys stay in one part
 * @throws InvalidArgumentError on a length mismatch, a duplicated id, a bad label or bad fractions
 * @returns indices into `ids` of each part, ascending
 */
export function splitStratified(
  ids: readonly string[],
  labels: ArrayLike<number>,
  options: { seed: number; fractions?: SplitFractions; groups?: readonly string[] },
): StratifiedSplit {
  const fn = 'splitStratified';
  const f = options.fractions ?? DEFAULT_SPLIT_FRACTIONS;
  checkFractions(f);
  if (ids.length !== labels.length)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'labels',
      message: `has ${labels.length} entries for ${ids.length} ids`,
    });
  if (options.groups && options.groups.length !== ids.length)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'groups',
      message: `has ${options.groups.length} entries for ${ids.length} ids`,
    });
  if (new Set(ids).size !== ids.length)
    throw new InvalidArgumentError({ functionName: fn, argument: 'ids', message: 'holds a duplicated id' });
  const byClass = splitUnits(ids, labels, options.groups);
  const rng = createRng(options.seed, { functionName: fn, argument: 'seed' });
  const out: StratifiedSplit = { train: [], validation: [], test: [] };
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const units = rng.shuffled(byClass.get(c)!);
    const [nTest, nVal] = partSizes(units.length, f);
    // loops, not push(...): a part of a large class holds more items than a call takes arguments (~120,000)
    units.forEach((unit, k) => {
      const part = k < nTest ? out.test : k < nTest + nVal ? out.validation : out.train;
      for (const i of unit) part.push(i);
    });
  }
  for (const part of [out.train, out.validation, out.test]) part.sort((a, b) => a - b);
  return out;
}
