import { createRng, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import {
  DATASETS,
  explicitOpenSetSplit,
  hespOpenSetSplits,
  partitionBySplit,
  type OpenSetSplit,
  type VideoItem,
} from '@vlfer/datasets';
import { loadVideoList, resolveLabelSet } from '@vlfer/datasets/node';
import type { HespOptions } from './options.js';

export interface HespData {
  labelSet: LabelSet;
  /** Where the label set came from (given, from a file, or the dataset's default). */
  labelSetReason: string;
  split: OpenSetSplit;
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
}

/**
 * Load both lists and apply the open-set split (HESP's list or explicit known ids, checked); a seeded share of the
 * known training clips becomes the validation part. The label set is the dataset's unless `labelSet`/`classes` give
 * one; HESP's split lists index the dataset's own classes, so a split index needs a label set of that size.
 * Errors name the list, line and field.
 */
export function loadHespData(options: HespOptions): HespData {
  const defaultId = options.dataset === 'mafw' ? 'mafw-11' : 'basic-7';
  const resolved = resolveLabelSet(options, defaultId);
  const labelSet = resolved.labelSet!; // defined: there is a fallback
  const nDataset = options.dataset === 'mafw' ? 11 : 7;
  if (options.splitIndex !== undefined && labelSet.names.length !== nDataset) {
    throw new InvalidArgumentError({
      functionName: 'loadHespData',
      argument: 'splitIndex',
      message: `HESP's ${options.dataset} splits index ${nDataset} classes but the label set has ${labelSet.names.length} (${labelSet.names.join(', ')}); give known class ids instead`,
    });
  }
  const labelScheme = options.labelScheme ?? DATASETS[options.dataset].hesp.labelScheme;
  const list = (file: string) =>
    loadVideoList({
      file,
      labelScheme,
      labelSet,
      duplicates: options.duplicates,
      allowOutsideRoot: options.allowOutsideRoot,
      ...(options.root ? { root: options.root } : {}),
      ...(options.rebase ? { rebase: options.rebase } : {}),
    }).items;
  const split = options.known
    ? explicitOpenSetSplit(options.known, labelSet)
    : hespOpenSetSplits(options.dataset)[options.splitIndex!]!;
  const train = partitionBySplit(list(options.trainAnnotations), split).known;
  const test = partitionBySplit(list(options.testAnnotations), split);
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
  const warnings: string[] = [];
  for (const [part, items, file] of [
    ['training', train, options.trainAnnotations],
    ['test', test.known, options.testAnnotations],
  ] as const) {
    const missing = split.known.filter((k) => !items.some((i) => i.originalLabel === k));
    if (missing.length)
      warnings.push(
        `known class${missing.length > 1 ? 'es' : ''} ${missing.map((k) => `${k} (${labelSet.names[k]})`).join(', ')} ${missing.length > 1 ? 'have' : 'has'} no ${part} clips in ${file}: ${part === 'training' ? (missing.length > 1 ? 'only their names (the text prompts) represent them' : 'only its name (the text prompt) represents it') : 'closed-set accuracy and the open-set numbers are over the other known classes'}`,
      );
  }
  const order = createRng(options.seed + 17).shuffled(train.map((_, i) => i));
  const nVal = Math.floor(options.valFraction * train.length);
  const valSet = new Set(order.slice(0, nVal));
  return {
    labelSet,
    labelSetReason: resolved.reason,
    split,
    train: train.filter((_, i) => !valSet.has(i)),
    val: train.filter((_, i) => valSet.has(i)),
    testKnown: test.known,
    testUnknown: test.unknown,
    warnings,
  };
}
