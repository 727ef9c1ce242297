import { resolve } from 'node:path';
import { createRng, InvalidArgumentError, streamSeed, type LabelSet } from '@vlfer/core';
import {
  DATASETS,
  explicitOpenSetSplit,
  hespOpenSetSplits,
  hespReferenceKnownOrder,
  partitionBySplit,
  splitInLabelSet,
  type LabelScheme,
  type OpenSetSplit,
  type VideoItem,
} from '@vlfer/datasets';
import { loadVideoList, realPath, resolveLabelSet } from '@vlfer/datasets/node';
import type { HespOptions } from './options.js';

export interface HespData {
  labelSet: LabelSet;
  /** Where the label set came from (given, from a file, or the dataset's default). */
  labelSetReason: string;
  /** How each list's ids were read (`hespLabelScheme`, or 'dfew-original' for DFEW's own split file). */
  labelSchemes: { train: LabelScheme; test: LabelScheme };
  split: OpenSetSplit;
  /**
   * Known label j's class id in `labelSet`: ascending ids (HESP's `sorted(known).index`), or, with
   * `referenceBehaviour.alphabeticalClassNames`, the released code's numbering (`hespReferenceKnownOrder`).
   */
  knownClassIds: number[];
  train: (VideoItem & { originalLabel: number })[];
  val: (VideoItem & { originalLabel: number })[];
  testKnown: (VideoItem & { originalLabel: number })[];
  testUnknown: VideoItem[];
  /**
   * Known classes without clips in a part (training or test list): HESP still learns their prompt from the name, but
   * closed-set accuracy and the open-set numbers are then over the other known classes. Logged by `trainHesp` and
   * `evaluateHespRun`, and in metrics.json.
   */
  warnings: string[];
  /** The random streams the validation part was drawn with and training draws from (`hespStreamSeed`). */
  rngStreams: HespRngStreams;
}

/**
 * Versions of a HESP run's random streams. 1 (vlfer before 2026-12-05): seeds by sums (`seed · 1000003 + epoch` for
 * the epoch order, `… + epoch · 100003 + step + 1` for a step's draws, `seed + 17` for the validation part), so
 * epoch 0 step k drew the numbers of epoch k + 1's order, and seed 0's validation part those of epoch 17's order.
 * 2: each stream seeded by `streamSeed` of its name and indices, unrelated to the others. New runs use
 * `HESP_RNG_STREAMS`; a run resumes with the streams it started with (its checkpoint's key says which).
 */
export type HespRngStreams = 1 | 2;
export const HESP_RNG_STREAMS: HespRngStreams = 2;

/**
 * The seed of one of a HESP run's random streams: the validation part, an epoch's clip order, or a step's draws
 * (TSN frames, augmentations), in the given version of the streams (`HespRngStreams`).
 * @param epoch 0-based (order and batch) @param step 0-based within the epoch (batch)
 */
export function hespStreamSeed(
  rngStreams: HespRngStreams,
  seed: number,
  stream: 'validation' | 'epoch-order' | 'batch',
  epoch = 0,
  step = 0,
): number {
  if (rngStreams === 1) {
    if (stream === 'validation') return seed + 17;
    return stream === 'epoch-order' ? seed * 1_000_003 + epoch : seed * 1_000_003 + epoch * 100_003 + step + 1;
  }
  return stream === 'validation'
    ? streamSeed(seed, 'hesp/validation')
    : streamSeed(seed, `hesp/${stream}`, epoch, step);
}

/** Known label j's class name in the run's label set (`HespData.knownClassIds`). */
export function hespKnownNames(data: Pick<HespData, 'knownClassIds' | 'labelSet'>): string[] {
  return data.knownClassIds.map((k) => data.labelSet.names[k]!);
}

/** The label set a HESP run of `dataset` uses when given none: MAFW's 11 classes, else the basic 7. */
export function hespDefaultLabelSetId(dataset: HespOptions['dataset']): string {
  return dataset === 'mafw' ? 'mafw-11' : 'basic-7';
}

/**
 * The label set of a HESP run: the given one (`labelSet`/`classes`) or the dataset's default (MAFW: mafw-11, else
 * basic-7), with where it came from. With a split index, the label set must hold the classes of the dataset's
 * split lists (any order: the split is moved into it by class name, `hespSplit`).
 * @throws InvalidArgumentError (argument `splitIndex`) when a HESP split index meets a label set of other classes
 */
export function hespLabelSet(options: HespOptions): { labelSet: LabelSet; reason: string } {
  const resolved = resolveLabelSet(options, hespDefaultLabelSetId(options.dataset));
  const labelSet = resolved.labelSet!; // defined: there is a fallback
  if (options.splitIndex !== undefined) hespSplit(options, labelSet);
  return { labelSet, reason: resolved.reason };
}

/**
 * The run's open-set split: explicit `known` ids of the run's label set, or HESP's split `splitIndex` of the
 * dataset moved into the run's label set by class name (`splitInLabelSet`), so a label set in another order
 * (`fer2013-7-native`, `--classes` in another order) keeps the protocol's known classes.
 * @throws InvalidArgumentError (argument `known` or `splitIndex`)
 */
export function hespSplit(options: HespOptions, labelSet: LabelSet): OpenSetSplit {
  if (options.known) return explicitOpenSetSplit(options.known, labelSet);
  const split = hespOpenSetSplits(options.dataset)[options.splitIndex!]!;
  return splitInLabelSet(split, labelSet, { functionName: 'loadHespData', argument: 'splitIndex' });
}

/** What the run's lists' label ids mean: `labelScheme`, else the dataset's HESP lists' (MAFW: mafw-hesp, else dfer-clip). */
export function hespLabelScheme(options: Pick<HespOptions, 'labelScheme' | 'dataset'>): LabelScheme {
  return options.labelScheme ?? DATASETS[options.dataset].hesp.labelScheme;
}

/** One clip list of the run (training or test), read with the run's label scheme, root and path rules. */
function readHespList(
  options: HespOptions,
  labelSet: LabelSet,
  file: string,
): { items: VideoItem[]; labelScheme: LabelScheme; warnings: string[] } {
  return loadVideoList({
    file,
    ...(options.labelScheme ? { labelScheme: options.labelScheme } : {}),
    defaultLabelScheme: hespLabelScheme(options),
    labelSet,
    duplicates: options.duplicates,
    allowOutsideRoot: options.allowOutsideRoot,
    ...(options.root ? { root: options.root } : {}),
    ...(options.rebase ? { rebase: options.rebase } : {}),
  });
}

/**
 * Refuse clips listed for training and for testing (the same frame directory, normalised): a run trained on its test
 * clips reports inflated numbers. Every clip of both lists counts, whatever the split.
 * @throws InvalidArgumentError naming both lists, how many clips they share and the first (in test-list order)
 */
export function refuseSharedClips(
  options: Pick<HespOptions, 'trainAnnotations' | 'testAnnotations'>,
  train: readonly VideoItem[],
  test: readonly VideoItem[],
): void {
  // by real path: a folder reached through a symbolic link (or spelt otherwise) is the same clip
  const trainDirs = new Set(train.map((c) => realPath(c.frameDir)));
  const shared = test.filter((c) => trainDirs.has(realPath(c.frameDir)));
  if (shared.length > 0)
    throw new InvalidArgumentError({
      functionName: 'loadHespData',
      argument: 'testAnnotations',
      message: `the training list ${options.trainAnnotations} and the test list ${options.testAnnotations} share ${shared.length} clip${shared.length > 1 ? 's' : ''} (first: ${resolve(shared[0]!.frameDir)}): a run must not be tested on clips it was trained on; give disjoint lists`,
    });
}

/**
 * The notices for known classes without clips in the training or the test part (see `HespData.warnings`).
 * @param train known-class training clips @param testKnown known-class test clips
 */
export function missingClassWarnings(
  options: HespOptions,
  labelSet: LabelSet,
  split: OpenSetSplit,
  train: readonly { originalLabel: number }[],
  testKnown: readonly { originalLabel: number }[],
): string[] {
  const warnings: string[] = [];
  for (const [part, items, file] of [
    ['training', train, options.trainAnnotations],
    ['test', testKnown, options.testAnnotations],
  ] as const) {
    const missing = split.known.filter((k) => !items.some((i) => i.originalLabel === k));
    if (missing.length)
      warnings.push(
        `known class${missing.length > 1 ? 'es' : ''} ${missing.map((k) => `${k} (${labelSet.names[k]})`).join(', ')} ${missing.length > 1 ? 'have' : 'has'} no ${part} clips in ${file}: ${part === 'training' ? (missing.length > 1 ? 'only their names (the text prompts) represent them' : 'only its name (the text prompt) represents it') : 'closed-set accuracy and the open-set numbers are over the other known classes'}`,
      );
  }
  return warnings;
}

/**
 * Clips that HESP's sampling reads as one still frame, as its code does: a test clip of at most `frames` frames is
 * frame 0 `frames` times (segment centres), a training clip of fewer than `frames` (TSN). Counted from the lists'
 * frame counts; said so that a dataset of short clips is not scored as video without a word.
 * @param frames T, frames sampled per clip
 */
export function shortClipWarnings(
  frames: number,
  lists: { train: readonly VideoItem[]; test: readonly VideoItem[] },
  files: { train: string; test: string },
): string[] {
  const parts = [
    ['training', lists.train.filter((c) => c.numFrames < frames).length, lists.train.length, files.train, 'fewer than'],
    ['test', lists.test.filter((c) => c.numFrames <= frames).length, lists.test.length, files.test, 'at most'],
  ] as const;
  return parts
    .filter(([, short]) => short > 0)
    .map(
      ([part, short, n, file, than]) =>
        `${short} of the ${n} ${part} clips in ${file} have ${than} ${frames} frames: HESP's sampling (as its code) takes frame 0 for all ${frames} of them, so each is one still frame`,
    );
}

/**
 * The seeded validation part: `floor(valFraction · n)` of the known training clips, from the run's validation stream
 * (`hespStreamSeed`; version 1: seed `seed + 17`).
 * @returns the remaining training clips and the validation clips, each in list order
 */
export function splitValidation<T>(
  train: readonly T[],
  seed: number,
  valFraction: number,
  rngStreams: HespRngStreams = HESP_RNG_STREAMS,
): { train: T[]; val: T[] } {
  const order = createRng(hespStreamSeed(rngStreams, seed, 'validation')).shuffled(train.map((_, i) => i));
  const valSet = new Set(order.slice(0, Math.floor(valFraction * train.length)));
  return { train: train.filter((_, i) => !valSet.has(i)), val: train.filter((_, i) => valSet.has(i)) };
}

/**
 * Load both lists and apply the open-set split (HESP's list or explicit known ids, checked); a seeded share of the
 * known training clips becomes the validation part. The label set is the dataset's unless `labelSet`/`classes` give
 * one; HESP's split lists name the dataset's own classes, so a split index needs a label set of those classes (any
 * order).
 * Errors name the list, line and field.
 * Stages: `hespLabelSet` → lists + `refuseSharedClips` + `partitionBySplit` → `missingClassWarnings`,
 * `shortClipWarnings` → `splitValidation`.
 */
export function loadHespData(options: HespOptions, rngStreams: HespRngStreams = HESP_RNG_STREAMS): HespData {
  const { labelSet, reason } = hespLabelSet(options);
  const split = hespSplit(options, labelSet);
  const [trainRead, testRead] = [options.trainAnnotations, options.testAnnotations].map((f) =>
    readHespList(options, labelSet, f),
  ) as [ReturnType<typeof readHespList>, ReturnType<typeof readHespList>];
  const [trainList, testList] = [trainRead.items, testRead.items];
  refuseSharedClips(options, trainList, testList);
  // the released code numbers known labels by its own class ids and pairs them with alphabetical prompts
  const knownOrder = options.referenceBehaviour?.alphabeticalClassNames
    ? { knownOrder: hespReferenceKnownOrder(split.known, labelSet) }
    : {};
  const { known: train, knownClassIds } = partitionBySplit(trainList, split, knownOrder);
  const test = partitionBySplit(testList, split, knownOrder);
  if (train.length === 0)
    throw new InvalidArgumentError({
      functionName: 'loadHespData',
      argument: 'trainAnnotations',
      message: `${options.trainAnnotations} has no clips of the known classes (${split.known.map((k) => labelSet.names[k]).join(', ')})`,
    });
  if (test.known.length === 0 || test.unknown.length === 0)
    throw new InvalidArgumentError({
      functionName: 'loadHespData',
      argument: 'testAnnotations',
      message: `${options.testAnnotations} needs clips of both known and unknown classes (has ${test.known.length} known, ${test.unknown.length} unknown)`,
    });
  const warnings = [
    ...trainRead.warnings,
    ...testRead.warnings,
    ...missingClassWarnings(options, labelSet, split, train, test.known),
    ...shortClipWarnings(
      options.frames,
      { train, test: [...test.known, ...test.unknown] },
      { train: options.trainAnnotations, test: options.testAnnotations },
    ),
  ];
  const parts = splitValidation(train, options.seed, options.valFraction, rngStreams);
  if (options.selectOn === 'val' && parts.val.length === 0)
    warnings.push(
      `valFraction ${options.valFraction} of the ${train.length} known training clips holds out none: no epoch can be selected on validation accuracy, so the last epoch is kept (raise valFraction, or select on the test split as the reference does: selectOn 'test' with valFraction 0)`,
    );
  return {
    labelSet,
    labelSetReason: reason,
    labelSchemes: { train: trainRead.labelScheme, test: testRead.labelScheme },
    split,
    knownClassIds,
    ...parts,
    testKnown: test.known,
    testUnknown: test.unknown,
    warnings,
    rngStreams,
  };
}
