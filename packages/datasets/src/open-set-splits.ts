import { createRng, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import {
  BASIC_7,
  canonicalExpression,
  EXP_CLIP_CLASS_ORDER,
  MAFW_11,
  matchClassName,
  NATIVE_LABELS,
} from './label-sets.js';

/** One known/unknown class split. Class ids are in the split's `labelSet` (canonical order). */
export interface OpenSetSplit {
  /** Position in the protocol's list of 20 (HESP runs them largest-known first: index 19 − run); null for a split given by its known classes. */
  index: number | null;
  /** Known class ids, in the protocol's listed order. */
  known: number[];
  /** All other class ids, ascending. */
  unknown: number[];
  /** Openness 1 − sqrt(2K / (K + C)) (Scheirer et al.), K known of C classes. */
  openness: number;
  labelSet: LabelSet;
}

/** Openness of a split with `numKnown` of `numClasses` classes known. */
export function openness(numKnown: number, numClasses: number): number {
  return 1 - Math.sqrt((2 * numKnown) / (numKnown + numClasses));
}

/**
 * HESP's published split lists (`split.py`, `splits_2024`), in HESP's own label ids.
 * MAFW ids are HESP's MAFW order (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Neutral, 5 Sad, 6 Surprise, 7 Contempt,
 * 8 Anxiety, 9 Helplessness, 10 Disappointment). HESP did not release its AFEW/DFEW label order; vlfer reads
 * those ids in the same alphabetical order (AFEW's folder order), which is an assumption, documented as such. A
 * third-party fork (GoldExperiencejojo/HESP, 2025, not the authors) added DFEW lists in DFER-CLIP's order (DFEW's
 * 1-based CSV label − 1: 0 happiness … 6 fear), to which its loader applies the split ids unchanged: under that
 * reading DFEW split 0 `[6, 1]` is fear, sadness (here: surprise, disgust). `BASIC_7` is in DFER-CLIP's order, so
 * `explicitOpenSetSplit([6, 1], BASIC_7)` (CLI `--known 6,1`) runs it.
 */
const HESP_SPLITS = {
  mafw: [
    [10, 5, 6],
    [1, 5, 3],
    [1, 10, 2],
    [6, 2, 4],
    [2, 8, 9],
    [2, 5, 10, 0, 4],
    [0, 5, 2, 6, 8],
    [1, 10, 3, 7, 4],
    [4, 1, 6, 3, 2],
    [8, 0, 4, 3, 6],
    [2, 4, 7, 10, 1, 0],
    [9, 10, 5, 4, 1, 2],
    [6, 9, 1, 10, 7, 2],
    [10, 4, 8, 9, 0, 5],
    [5, 2, 3, 8, 9, 4],
    [4, 2, 5, 8, 1, 9, 6, 3],
    [2, 9, 6, 1, 0, 8, 3, 4],
    [5, 4, 8, 0, 10, 3, 6, 1],
    [0, 7, 6, 9, 2, 4, 5, 1],
    [2, 3, 6, 0, 7, 9, 10, 1],
  ],
  afew: [
    [5, 3],
    [6, 3],
    [1, 5],
    [1, 2],
    [0, 4],
    [3, 1, 2],
    [0, 4, 1],
    [2, 3, 5],
    [6, 3, 4],
    [4, 6, 5],
    [6, 0, 3, 5],
    [2, 1, 6, 0],
    [5, 3, 4, 1],
    [0, 2, 3, 1],
    [3, 4, 0, 2],
    [2, 5, 3, 6, 1],
    [3, 0, 4, 6, 1],
    [6, 0, 4, 1, 5],
    [5, 6, 1, 3, 4],
    [4, 6, 2, 1, 0],
  ],
  dfew: [
    [6, 1],
    [5, 4],
    [4, 0],
    [3, 1],
    [1, 5],
    [1, 4, 6],
    [0, 1, 5],
    [1, 3, 5],
    [2, 1, 5],
    [0, 2, 1],
    [0, 1, 2, 5],
    [6, 5, 2, 1],
    [3, 5, 1, 4],
    [5, 0, 2, 3],
    [5, 4, 0, 2],
    [2, 4, 0, 3, 6],
    [3, 5, 1, 0, 2],
    [0, 6, 5, 4, 3],
    [4, 0, 2, 5, 6],
    [4, 0, 1, 5, 6],
  ],
} as const;

/**
 * The seed of vlfer's FERV39k open-set splits. HESP defines no FERV39k protocol; vlfer derives one in HESP's shape
 * (`ferv39kOpenSetSplits`): 20 splits in 4 groups of 5 with 2 / 3 / 4 / 5 known classes (as AFEW/DFEW, also 7
 * classes), drawn by `generateOpenSetSplits` with this seed over `BASIC_7`'s canonical ids.
 */
export const FERV39K_SPLIT_SEED = 39;

/** Datasets with a 20-split known/unknown protocol: HESP's three published lists and vlfer's derived FERV39k one. */
export type HespSplitDataset = keyof typeof HESP_SPLITS | 'ferv39k';

function makeSplit(index: number | null, known: number[], labelSet: LabelSet): OpenSetSplit {
  const c = labelSet.names.length;
  const unknown = Array.from({ length: c }, (_, i) => i).filter((i) => !known.includes(i));
  return { index, known, unknown, openness: openness(known.length, c), labelSet };
}

/**
 * HESP's 20 known/unknown splits for a dataset (4 groups of 5: MAFW 3/5/6/8 known, AFEW/DFEW 2/3/4/5),
 * with class ids converted to the canonical order of `MAFW_11` / `BASIC_7`.
 */
export function hespOpenSetSplits(dataset: HespSplitDataset): OpenSetSplit[] {
  if (dataset === 'ferv39k') return ferv39kOpenSetSplits();
  const labelSet = dataset === 'mafw' ? MAFW_11 : BASIC_7;
  const hespNames = NATIVE_LABELS['mafw-hesp'].names;
  return HESP_SPLITS[dataset].map((ids, index) =>
    makeSplit(
      index,
      ids.map((id) => labelSet.names.indexOf(hespNames[id]!)),
      labelSet,
    ),
  );
}

/**
 * New splits in HESP's shape for any label set, deterministic from `seed`: for each entry of `knownCounts`,
 * `perGroup` distinct random known-class subsets (groups in the order given).
 * @default perGroup 5
 */
export function generateOpenSetSplits(options: {
  labelSet: LabelSet;
  knownCounts: number[];
  perGroup?: number;
  seed: number;
}): OpenSetSplit[] {
  const { labelSet, knownCounts, seed } = options;
  const perGroup = options.perGroup ?? 5;
  const c = labelSet.names.length;
  const rng = createRng(seed);
  const out: OpenSetSplit[] = [];
  for (const k of knownCounts) {
    if (!Number.isInteger(k) || k < 1 || k >= c)
      throw new InvalidArgumentError({
        functionName: 'generateOpenSetSplits',
        argument: 'knownCounts',
        message: `${k} must be an integer in [1, ${c - 1}] for ${c} classes`,
      });
    const seen = new Set<string>();
    let guard = 0;
    while (seen.size < perGroup) {
      if (++guard > 10_000)
        throw new InvalidArgumentError({
          functionName: 'generateOpenSetSplits',
          argument: 'perGroup',
          message: `cannot draw ${perGroup} distinct subsets of ${k} from ${c} classes`,
        });
      const known = rng.shuffled(Array.from({ length: c }, (_, i) => i)).slice(0, k);
      const key = [...known].sort((a, b) => a - b).join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(makeSplit(out.length, known, labelSet));
    }
  }
  return out;
}

/**
 * vlfer's FERV39k open-set protocol (HESP published none): the 20 splits HESP's AFEW/DFEW protocol has — 4 groups
 * of 5 distinct known-class subsets with 2, 3, 4 and 5 of the 7 classes known, every other class unknown — drawn
 * with `generateOpenSetSplits({ labelSet: BASIC_7, knownCounts: [2, 3, 4, 5], seed: FERV39K_SPLIT_SEED })`. Class
 * ids are `BASIC_7`'s canonical order (0 happiness, 1 sadness, 2 neutral, 3 anger, 4 surprise, 5 disgust, 6 fear),
 * which is the order of the DFER-CLIP FERV39k lists; the lists are pinned by a test, so a change of the generator
 * shows up there.
 */
export function ferv39kOpenSetSplits(): OpenSetSplit[] {
  return generateOpenSetSplits({ labelSet: BASIC_7, knownCounts: [2, 3, 4, 5], seed: FERV39K_SPLIT_SEED });
}

/**
 * A split given by its known class ids (e.g. `--known 0,3,5`). Ids must be distinct integers of `labelSet`, at
 * least one class must stay unknown.
 * @throws InvalidArgumentError naming the offending id
 */
export function explicitOpenSetSplit(known: readonly number[], labelSet: LabelSet): OpenSetSplit {
  const c = labelSet.names.length;
  const fail = (message: string): never => {
    throw new InvalidArgumentError({ functionName: 'explicitOpenSetSplit', argument: 'known', message });
  };
  if (known.length < 2) fail(`needs at least 2 known classes, got ${known.length}`);
  known.forEach((k, i) => {
    if (!Number.isInteger(k) || k < 0 || k >= c) fail(`class id ${k} is outside ${labelSet.id} (0..${c - 1})`);
    if (known.indexOf(k) !== i) fail(`class id ${k} (${labelSet.names[k]}) is listed twice`);
  });
  if (known.length >= c)
    fail(`all ${c} classes of ${labelSet.id} are known; an open-set split needs at least one unknown class`);
  return makeSplit(null, [...known], labelSet);
}

/**
 * A split moved into another label set by class name: the same known classes, as `labelSet`'s ids, and every other
 * class of `labelSet` unknown. Published splits (`hespOpenSetSplits`) name classes by their ids in the protocol's own
 * label set; a run whose label set orders the classes differently (`fer2013-7-native`, `--classes` in another order)
 * must use this, not the ids, or it trains on other classes than the protocol's. Both label sets must hold the same
 * classes (by name, aliases allowed: `angry` is `anger`), or the split would not be the protocol's.
 * @throws InvalidArgumentError (argument `labelSet`, or `errorsName`) naming the classes one set has and the other
 * lacks
 */
export function splitInLabelSet(
  split: OpenSetSplit,
  labelSet: LabelSet,
  /** whose argument an error names @default { functionName: 'splitInLabelSet', argument: 'labelSet' } */
  errorsName: { functionName: string; argument: string } = { functionName: 'splitInLabelSet', argument: 'labelSet' },
): OpenSetSplit {
  const from = split.labelSet;
  const key = (n: string) => canonicalExpression(n) ?? n.trim().toLowerCase();
  const missing = from.names.filter((n) => matchClassName(labelSet, n) < 0);
  const extra = labelSet.names.filter((n) => !from.names.some((m) => key(m) === key(n)));
  const notExpressions = extra.filter((n) => canonicalExpression(n) === undefined);
  if (missing.length > 0 || extra.length > 0 || from.names.length !== labelSet.names.length)
    throw new InvalidArgumentError({
      ...errorsName,
      message:
        `${split.index === null ? 'the split' : `split ${split.index}`} is over the classes of ${from.id} (${from.names.join(', ')}), label set ${labelSet.id} has ` +
        `${labelSet.names.join(', ')}` +
        (missing.length ? `; it lacks ${missing.join(', ')}` : '') +
        (extra.length ? `; ${extra.join(', ')} ${extra.length > 1 ? 'are' : 'is'} not in the split's classes` : '') +
        (notExpressions.length
          ? ` (${notExpressions.join(', ')}: no expression name vlfer knows; the names are ${EXP_CLIP_CLASS_ORDER.join(', ')}, or usual spellings such as angry or happy)`
          : '') +
        '; give known class ids instead',
    });
  const known = split.known.map((k) => matchClassName(labelSet, from.names[k]!));
  return makeSplit(split.index, known, labelSet);
}

export interface OpenSetPartition<T> {
  /** Items of known classes with labels remapped to 0..K−1 in ascending class-id order (HESP's `sorted(known).index`). */
  known: (T & { label: number; originalLabel: number })[];
  /** Items of unknown classes (label kept as the original id). */
  unknown: T[];
  /** Original class id of each remapped known label. */
  knownClassIds: number[];
}

/**
 * Partition labelled items by a split: known items get labels 0..K−1 in the order of `knownOrder` (default: ascending
 * class ids, HESP's `sorted(known).index`), unknown items keep their class id.
 * @param options.knownOrder the split's known class ids in label order (a permutation of `split.known`)
 * @throws InvalidArgumentError (argument `knownOrder`) when it is not a permutation of the known ids
 */
export function partitionBySplit<T extends { label: number }>(
  items: readonly T[],
  split: OpenSetSplit,
  options: { knownOrder?: readonly number[] } = {},
): OpenSetPartition<T> {
  const ascending = [...split.known].sort((a, b) => a - b);
  const order = options.knownOrder;
  if (
    order &&
    (order.length !== ascending.length || [...order].sort((a, b) => a - b).some((k, i) => k !== ascending[i]))
  )
    throw new InvalidArgumentError({
      functionName: 'partitionBySplit',
      argument: 'knownOrder',
      message: `[${order.join(', ')}] is not an order of the known class ids [${ascending.join(', ')}]`,
    });
  const knownClassIds = order ? [...order] : ascending;
  const known: (T & { label: number; originalLabel: number })[] = [];
  const unknown: T[] = [];
  for (const it of items) {
    const k = knownClassIds.indexOf(it.label);
    if (k >= 0) known.push({ ...it, label: k, originalLabel: it.label });
    else unknown.push(it);
  }
  return { known, unknown, knownClassIds };
}

/**
 * The released HESP code's numbering of known classes: ascending HESP ids (`sorted(known).index` on the ids of its
 * MAFW annotation order, `NATIVE_LABELS['mafw-hesp']`: the seven basic classes alphabetically, then contempt,
 * anxiety, helplessness, disappointment; vlfer reads AFEW/DFEW ids in the same order). With HESP's alphabetically
 * sorted prompt names (`referenceBehaviour.alphabeticalClassNames`), known label j must be numbered this way to pair
 * with the prompt the reference pairs it with.
 * @param known class ids of `labelSet` @returns the same ids in HESP's label order
 * @throws InvalidArgumentError (argument `known`) for a class HESP's order does not have
 */
export function hespReferenceKnownOrder(known: readonly number[], labelSet: LabelSet): number[] {
  const hesp = NATIVE_LABELS['mafw-hesp'].names as readonly string[];
  const position = (id: number) => {
    const name = labelSet.names[id];
    const p = name === undefined ? -1 : hesp.indexOf(canonicalExpression(name) ?? '');
    if (p < 0)
      throw new InvalidArgumentError({
        functionName: 'hespReferenceKnownOrder',
        argument: 'known',
        message: `class id ${id} (${name ?? 'not in ' + labelSet.id}) is not one of HESP's classes (${hesp.join(', ')})`,
      });
    return p;
  };
  const positions = new Map(known.map((k) => [k, position(k)]));
  return [...known].sort((a, b) => positions.get(a)! - positions.get(b)!);
}
