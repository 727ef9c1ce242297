import { isAbsolute, relative, resolve } from 'node:path';
import { DataFormatError, InvalidArgumentError, runSteps, type LabelSet } from '@vlfer/core';
import {
  DATASETS,
  stratifiedSubset,
  type DatasetFormat,
  type DatasetId,
  type DatasetInfo,
  type NameCodedDatasetId,
  type DroppedCount,
  type ImageItem,
  type LoadResult,
  type VideoItem,
} from '@vlfer/datasets';
import {
  checkRootDir,
  ferPlusFolderUsage,
  loadAffectNetCsv,
  loadAffectNetNpy,
  loadNameCoded,
  loadCkPlus,
  loadFerPlusCsv,
  loadImageFolder,
  loadRafDb,
  loadVideoFolder,
  videoListSteps,
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
  /** The loader's warnings (video lists: frames numbered with numbers of different widths, taken in name order). */
  warnings: string[];
} & (
  | { kind: 'images'; items: ImageItem[] }
  | { kind: 'video-files'; items: ImageItem[] }
  | { kind: 'frames'; items: VideoItem[] }
);

/** A dataset's items as loaded, and whether they are images, video files or frame directories. */
export type LoadedEvalSet =
  { kind: 'images' | 'video-files'; loaded: LoadResult<ImageItem> } | { kind: 'frames'; loaded: LoadResult<VideoItem> };

/** What a format's loader is given: the options, the fold's annotation file (if any) and the label set to use. */
interface LoaderContext {
  options: EvalOptions;
  info: DatasetInfo;
  /** The fold's annotation file, if any. */
  annotations: string | undefined;
  /** The fold's annotation file; throws naming `annotations` when the format needs one and none was given. */
  need: () => string;
  /** What every loader takes: the label set, and the signal that stops a load between images. */
  given: { labelSet?: LabelSet; signal?: AbortSignal };
  dup: { duplicates: EvalOptions['duplicates']; allowOutsideRoot: boolean };
}

/** How class folders are read: non-image files, and folders named by label ids. */
const folderOptions = (o: EvalOptions) => ({
  extraFiles: o.extraFiles,
  ...(o.folderIds ? { folderIds: o.folderIds } : {}),
});

/**
 * FERPlus's per-folder label.csv holds the rows of its folder only, which `loadFerPlusCsv` checks against the Usage
 * asked for: its refusal said as the split's (the test split reads FER2013Test's rows, the train split FER2013Train's;
 * FER2013Valid's PublicTest rows are neither). @returns `error`, or the refusal naming `split` it stands for
 */
function otherFerPlusFolder(
  error: unknown,
  csv: string,
  usage: 'PrivateTest' | 'Training',
  split: EvalOptions['split'],
): unknown {
  const folderUsage = ferPlusFolderUsage(csv);
  if (!(error instanceof InvalidArgumentError && error.argument === 'usage') || folderUsage === undefined) return error;
  const want = usage === 'PrivateTest' ? 'FER2013Test' : 'FER2013Train';
  return new InvalidArgumentError({
    functionName: 'evaluateZeroShot',
    argument: 'split',
    message: `is '${split}', which reads FERPlus's ${usage} rows, but ${csv} is the label.csv of another folder (${folderUsage} rows): give ${want}/label.csv${folderUsage === 'PublicTest' ? " (FER2013Valid's PublicTest rows are neither split)" : ''}`,
    cause: error,
  });
}

/** One loader per dataset format (the @vlfer/datasets loaders with the evaluation's options). */
const LOADERS: Record<DatasetFormat, (c: LoaderContext) => Promise<LoadedEvalSet>> = {
  'image-folder': async ({ options, given }) => ({
    kind: 'images',
    loaded: await loadImageFolder(options.root, { ...given, ...folderOptions(options) }),
  }),
  'video-folder': async ({ options, given }) => ({
    kind: 'video-files',
    loaded: await loadVideoFolder(options.root, { ...given, ...folderOptions(options) }),
  }),
  'raf-db': async ({ options, annotations, given, dup }) => {
    const file = annotations ? { annotations } : {};
    return {
      kind: 'images',
      loaded: await loadRafDb({ root: options.root, split: options.split, ...file, ...given, ...dup }),
    };
  },
  affectnet: async ({ options, info, need, given, dup }) => ({
    kind: 'images',
    loaded: await loadAffectNetCsv({
      csv: need(),
      imageRoot: options.root,
      classes: info.classes ?? 7,
      ...given,
      outOfSet: 'drop',
      verify: 'header',
      ...dup,
    }),
  }),
  'affectnet-npy': async ({ options, info, given }) => ({
    kind: 'images',
    loaded: await loadAffectNetNpy({
      root: options.root,
      classes: info.classes ?? 7,
      ...given,
      outOfSet: 'drop',
      extraFiles: options.extraFiles,
    }),
  }),
  'name-coded': async ({ options, given }) => ({
    kind: 'images',
    loaded: await loadNameCoded({
      root: options.root,
      dataset: options.dataset as NameCodedDatasetId,
      ...(options.views ? { views: options.views } : {}),
      ...given,
      outOfSet: 'drop',
      extraFiles: options.extraFiles,
      duplicates: options.duplicates,
      verify: 'header',
    }),
  }),
  ckplus: async ({ options, given }) => ({
    kind: 'images',
    loaded: await loadCkPlus({
      root: options.root,
      ...(options.peakFrames !== undefined ? { peakFrames: options.peakFrames } : {}),
      neutralFrame: options.dataset === 'ckplus8',
      ...given,
      outOfSet: 'drop',
      extraFiles: options.extraFiles,
      verify: 'header',
    }),
  }),
  ferplus: async ({ options, need, given, dup }) => {
    const csv = need();
    const usage = options.split === 'test' ? 'PrivateTest' : 'Training';
    const loaded = await loadFerPlusCsv({
      csv,
      imageRoot: options.root,
      usage,
      ...given,
      verify: 'header',
      ...dup,
    }).catch((error: unknown) => {
      throw otherFerPlusFolder(error, csv, usage, options.split);
    });
    return { kind: 'images', loaded };
  },
  'video-list': async ({ options, info, need, given, dup }) => ({
    kind: 'frames',
    // a stat and a read of every clip's frame folder: stepped, so that Ctrl-C is seen (`videoListSteps`)
    loaded: await runSteps(
      videoListSteps({
        file: need(),
        root: options.root,
        ...(options.labelScheme ? { labelScheme: options.labelScheme } : {}),
        defaultLabelScheme: info.labelScheme ?? 'dfer-clip',
        ...(given.labelSet ? { labelSet: given.labelSet } : {}),
        ...(options.rebase ? { rebase: options.rebase } : {}),
        ...dup,
      }),
      { what: 'reading the dataset', ...(given.signal ? { signal: given.signal } : {}) },
    ),
  }),
};

/**
 * The annotation file of a fold: `options.annotations` with `{fold}` replaced (or as given for the whole set).
 * @throws InvalidArgumentError naming `folds` when a fold is asked for and the path has no `{fold}`
 */
export function foldAnnotations(options: Pick<EvalOptions, 'annotations'>, fold: number | null): string | undefined {
  if (fold !== null && !options.annotations?.includes('{fold}'))
    throw new InvalidArgumentError({
      functionName: 'loadEvalData',
      argument: 'folds',
      message: 'need an annotations path containing {fold}, e.g. DFEW_set_{fold}_test.txt',
    });
  return options.annotations && fold !== null
    ? options.annotations.replaceAll('{fold}', String(fold))
    : options.annotations;
}

/**
 * A class-folder dataset (or AffectNet's npy release, read from its root alone) reads no list: an annotation file
 * would be recorded in config.resolved.json as if it chose the items, and folds name list files; and every folder
 * under its root is data, so `out` may not lie there. A dataset read from its annotations has no class folders to
 * name by ids (`folderIds`).
 * @throws InvalidArgumentError naming `out`, `annotations`, `folds` or `folderIds`
 */
function refuseListOptions(options: EvalOptions, info: DatasetInfo): void {
  const folders = info.format === 'image-folder' || info.format === 'video-folder';
  if (!folders && options.folderIds)
    throw new InvalidArgumentError({
      functionName: 'loadEvalData',
      argument: 'folderIds',
      message: `dataset ${options.dataset} is read from its ${info.format === 'name-coded' ? 'file names' : info.format === 'ckplus' ? 'emotion files' : 'annotations'} (${info.description}), whose labels are read as the dataset's own; folderIds names class folders, which it has none of`,
    });
  if (!folders && info.annotations !== 'none') return; // read from its list: any out will do
  const rel = options.out === undefined ? '..' : relative(resolve(options.root), resolve(options.out));
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel)))
    throw new InvalidArgumentError({
      functionName: 'loadEvalData',
      argument: 'out',
      message: `${resolve(options.out!)} lies inside the dataset's root ${resolve(options.root)}: its files would be read as the dataset's; choose an output directory outside it`,
    });
  const given = options.annotations ? 'annotations' : options.folds ? 'folds' : undefined;
  if (given)
    throw new InvalidArgumentError({
      functionName: 'loadEvalData',
      argument: given,
      message: `dataset ${options.dataset} is read from ${folders ? 'the class folders' : 'the files'} under root (${info.description}); it takes no annotation file${given === 'folds' ? ' and has no folds' : ''}`,
    });
}

/**
 * Load one fold (or the whole set) with the @vlfer/datasets loaders, then take the stratified subset if asked.
 * @throws InvalidArgumentError for `folds` without `{fold}` or a missing `annotations`; DataFormatError for a set
 * with no items (and what the loaders throw)
 */
export async function loadEvalData(options: EvalOptions, fold: number | null, signal?: AbortSignal): Promise<EvalData> {
  const info: DatasetInfo = DATASETS[options.dataset as DatasetId];
  refuseListOptions(options, info);
  const annotations = foldAnnotations(options, fold);
  const need = () => {
    if (!annotations)
      throw new InvalidArgumentError({
        functionName: 'loadEvalData',
        argument: 'annotations',
        message: `is required for dataset ${options.dataset} (${info.description})`,
      });
    return annotations;
  };
  // a mistyped root is named as one (a video list checks its root itself: only relative frame dirs need it)
  if (info.format !== 'video-list') checkRootDir(options.root, 'root', 'loadEvalData');
  const { labelSet, reason } = resolveLabelSet(options, info.labelSet);
  const dup = { duplicates: options.duplicates, allowOutsideRoot: options.allowOutsideRoot };
  const given = { ...(labelSet ? { labelSet } : {}), ...(signal ? { signal } : {}) };
  const { kind, loaded } = await LOADERS[info.format]({ options, info, annotations, need, given, dup });
  if (loaded.items.length === 0)
    throw new DataFormatError({
      file: loaded.source,
      // what the loader left out says why (every file misnamed, skipped, or of a class not in the label set)
      message: `holds no items to evaluate${loaded.dropped.length > 0 ? ` (dropped: ${loaded.dropped.map((d) => `${d.count} ${d.reason}`).join(', ')})` : ''}`,
    });
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
    warnings: loaded.warnings ?? [],
  };
  return kind === 'frames'
    ? { ...base, kind, items: items as VideoItem[] }
    : { ...base, kind, items: items as ImageItem[] };
}
