import { DataFormatError, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import {
  DATASETS,
  stratifiedSubset,
  type DatasetId,
  type DatasetInfo,
  type DroppedCount,
  type ImageItem,
  type LoadResult,
  type VideoItem,
} from '@vlfer/datasets';
import {
  loadAffectNetCsv,
  loadFerPlusCsv,
  loadImageFolder,
  loadRafDb,
  loadVideoFolder,
  loadVideoList,
  resolveLabelSet,
} from '@vlfer/datasets/node';
import type { EvalOptions } from './options.js';

/** One fold (or the whole set) of an evaluation dataset, ready to encode. */
export type EvalData = {
  fold: number | null;
  labelSet: LabelSet;
  dropped: DroppedCount[];
  source: string;
  /** How the label set was chosen (given, the dataset's, or inferred from folders). */
  labelSetReason: string;
  /** Items before the subset. */
  total: number;
  /** Name of the stratified subset, or null for the whole set. */
  subset: string | null;
} & (
  | { kind: 'images'; items: ImageItem[] }
  | { kind: 'video-files'; items: ImageItem[] }
  | { kind: 'frames'; items: VideoItem[] }
);

/** Load one fold (or the whole set) with the @vlfer/datasets loaders, then take the stratified subset if asked. */
export async function loadEvalData(options: EvalOptions, fold: number | null): Promise<EvalData> {
  const info: DatasetInfo = DATASETS[options.dataset as DatasetId];
  if (fold !== null && !options.annotations?.includes('{fold}'))
    throw new InvalidArgumentError({
      functionName: 'loadEvalData',
      argument: 'folds',
      message: 'need an annotations path containing {fold}, e.g. DFEW_set_{fold}_test.txt',
    });
  const annotations =
    options.annotations && fold !== null ? options.annotations.replaceAll('{fold}', String(fold)) : options.annotations;
  const need = () => {
    if (!annotations)
      throw new InvalidArgumentError({
        functionName: 'loadEvalData',
        argument: 'annotations',
        message: `is required for dataset ${options.dataset} (${info.description})`,
      });
    return annotations;
  };
  const { labelSet, reason } = resolveLabelSet(options, info.labelSet);
  const dup = { duplicates: options.duplicates, allowOutsideRoot: options.allowOutsideRoot };
  let loaded: LoadResult<ImageItem> | LoadResult<VideoItem>;
  let kind: EvalData['kind'];
  switch (info.format) {
    case 'image-folder':
      loaded = await loadImageFolder(options.root, {
        ...(labelSet ? { labelSet } : {}),
        extraFiles: options.extraFiles,
      });
      kind = 'images';
      break;
    case 'video-folder':
      loaded = await loadVideoFolder(options.root, {
        ...(labelSet ? { labelSet } : {}),
        extraFiles: options.extraFiles,
      });
      kind = 'video-files';
      break;
    case 'raf-db':
      loaded = await loadRafDb({
        root: options.root,
        split: options.split,
        ...(annotations ? { annotations } : {}),
        ...(labelSet ? { labelSet } : {}),
        ...dup,
      });
      kind = 'images';
      break;
    case 'affectnet':
      loaded = await loadAffectNetCsv({
        csv: need(),
        imageRoot: options.root,
        classes: info.classes ?? 7,
        ...(labelSet ? { labelSet } : {}),
        outOfSet: 'drop',
        verify: 'header',
        ...dup,
      });
      kind = 'images';
      break;
    case 'ferplus':
      loaded = await loadFerPlusCsv({
        csv: need(),
        imageRoot: options.root,
        usage: options.split === 'test' ? 'PrivateTest' : 'Training',
        ...(labelSet ? { labelSet } : {}),
        verify: 'header',
        ...dup,
      });
      kind = 'images';
      break;
    case 'video-list':
      loaded = loadVideoList({
        file: need(),
        root: options.root,
        labelScheme: options.labelScheme ?? info.labelScheme ?? 'dfer-clip',
        ...(labelSet ? { labelSet } : {}),
        ...(options.rebase ? { rebase: options.rebase } : {}),
        ...dup,
      });
      kind = 'frames';
      break;
  }
  if (loaded.items.length === 0)
    throw new DataFormatError({ file: loaded.source, message: 'holds no items to evaluate' });
  const sub = options.limit
    ? stratifiedSubset(loaded.items as { label: number }[], { limit: options.limit, seed: options.subsetSeed })
    : undefined;
  const items = sub ? sub.items : loaded.items;
  const base = {
    fold,
    labelSet: loaded.labelSet,
    dropped: loaded.dropped,
    source: loaded.source,
    labelSetReason: reason || loaded.labelSetReason || `the dataset's label set '${loaded.labelSet.id}'`,
    total: loaded.items.length,
    subset: sub && sub.items.length < loaded.items.length ? sub.id : null,
  };
  return kind === 'frames'
    ? { ...base, kind, items: items as VideoItem[] }
    : { ...base, kind, items: items as ImageItem[] };
}
