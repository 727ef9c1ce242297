import { statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { checkOneOf, DataFormatError, eventLoopPacer, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { readTextFile } from '@vlfer/core/node';
import { BASIC_7 } from '../label-sets.js';
import {
  dropResolvedDuplicates,
  isFerPlusLabelCsv,
  parseAffectNetCsvText,
  parseFerPlusCsvText,
  parseRafDbListText,
  type FerPlusUsage,
} from '../parsers.js';
import { countLabels, type DuplicatePolicy, type ImageItem, type LoadResult } from '../types.js';
import { verifyImage, type ImageVerification } from './image-check.js';
import { explainFsError } from './scan-errors.js';
import { realPath } from './video-list.js';

/**
 * The items of an annotation file's listed images: one file reached by two paths (`x.JPG`, a link in the image
 * folder) is a duplicate or a label conflict as `duplicates` says, never two items; then `checkListedImages`.
 * @param dropped the parser's counts, to which resolved duplicates are added
 */
async function listedImageItems(
  listed: { path: string; label: number; line: number }[],
  dropped: LoadResult<ImageItem>['dropped'],
  o: {
    file: string;
    field: string;
    verify: ImageVerification;
    duplicates: DuplicatePolicy | undefined;
    signal: AbortSignal | undefined;
  },
): Promise<{ items: ImageItem[]; dropped: LoadResult<ImageItem>['dropped'] }> {
  const policy = o.duplicates ?? 'error';
  // each path resolved once, serving the event loop (a realpath per row: seconds on AffectNet's list)
  const pace = eventLoopPacer({ what: 'reading the dataset', signal: o.signal });
  const resolved = new Map<string, string>();
  for (const it of listed) {
    await pace();
    resolved.set(it.path, realPath(it.path));
  }
  const unique = dropResolvedDuplicates(listed, (it) => resolved.get(it.path)!, {
    file: o.file,
    policy,
    what: 'image',
    dropped,
  });
  await checkListedImages(unique.rows, o.file, o.field, o.verify, o.signal);
  return { items: withoutLines(unique.rows), dropped: unique.dropped };
}

/**
 * Check the images an annotation file lists: each must exist (whatever `mode`; a stat per image), then pass
 * `verifyImage` under `mode`. An error names the annotation file, line and field, then the image and what is wrong.
 */
async function checkListedImages(
  items: readonly { path: string; line: number }[],
  list: string,
  field: string,
  mode: ImageVerification,
  signal: AbortSignal | undefined,
): Promise<void> {
  const pace = eventLoopPacer({ what: 'reading the dataset', signal });
  for (const it of items) {
    await pace();
    try {
      let kind: ReturnType<typeof statSync>;
      try {
        kind = statSync(it.path);
      } catch (error) {
        // a missing file, a file used as a directory, a link loop, a name too long, no permission: each named
        throw new DataFormatError({
          file: it.path,
          message: `the listed image ${explainFsError(error)}`,
          cause: error,
        });
      }
      if (!kind.isFile()) throw new DataFormatError({ file: it.path, message: 'the listed image is not a file' });
      await verifyImage(it.path, mode);
    } catch (error) {
      if (!(error instanceof DataFormatError)) throw error;
      throw new DataFormatError({ file: list, line: it.line, field, message: error.message, cause: error });
    }
  }
}

/** The loaders' items, without the line numbers the checks used. */
const withoutLines = (items: readonly (ImageItem & { line: number })[]): ImageItem[] =>
  items.map(({ path, label }) => ({ path, label }));

export interface RafDbOptions {
  /** RAF-DB `basic/` directory. */
  root: string;
  split: 'train' | 'test';
  /** @default 'aligned' (Image/aligned/<name>_aligned.jpg); 'original' uses Image/original/<name>.jpg */
  variant?: 'aligned' | 'original';
  /** @default <root>/EmoLabel/list_patition_label.txt (the official, misspelt, name) */
  annotations?: string;
  /** @default <root>/Image/<variant> */
  imageDir?: string;
  /** @default BASIC_7 */
  labelSet?: LabelSet;
  /** @default 'header' */
  verify?: ImageVerification;
  /** @default 'error' */
  duplicates?: DuplicatePolicy;
  /** Accept image names that leave the image folder (`../x.jpg`; `normalizeListedPath`). @default false */
  allowOutsideRoot?: boolean;
  /**
   * Stops the load between images (each listed image is stat'ed and, with `verify`, its header read: seconds to
   * minutes on AffectNet-sized lists, in which Ctrl-C is now seen): an AbortedError.
   */
  signal?: AbortSignal;
}

/**
 * RAF-DB basic expressions from `list_patition_label.txt` (`parseRafDbListText`), every listed image checked to exist
 * and (`verify`) to be an image; errors name the list's line.
 */
export async function loadRafDb(options: RafDbOptions): Promise<LoadResult<ImageItem>> {
  const variant = checkOneOf(options.variant ?? 'aligned', ['aligned', 'original'], {
    functionName: 'loadRafDb',
    argument: 'variant',
  });
  const file = options.annotations ?? join(options.root, 'EmoLabel', 'list_patition_label.txt');
  const imageDir = options.imageDir ?? join(options.root, 'Image', variant);
  const { entries, dropped } = parseRafDbListText(readTextFile(file, 'RAF-DB partition list'), {
    file,
    split: options.split,
    ...(options.labelSet ? { labelSet: options.labelSet } : {}),
    ...(options.duplicates ? { duplicates: options.duplicates } : {}),
    ...(options.allowOutsideRoot ? { allowOutsideRoot: true } : {}),
  });
  const labelSet = options.labelSet ?? BASIC_7;
  const listed = entries.map((e) => ({
    path: join(imageDir, variant === 'aligned' ? `${e.name.replace(/\.[^.]+$/, '')}_aligned.jpg` : e.name),
    label: e.label,
    line: e.line,
  }));
  // `x.jpg` and `x.JPG` name one aligned image: a duplicate, never two items
  const checked = {
    file,
    field: 'image name',
    verify: options.verify ?? 'header',
    duplicates: options.duplicates,
    signal: options.signal,
  };
  const { items, dropped: all } = await listedImageItems(listed, dropped, checked);
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: all, source: file };
}

export interface AffectNetOptions {
  /** `training.csv` or `validation.csv` from AffectNet's Manually_Annotated_file_lists. */
  csv: string;
  /** Directory that `subDirectory_filePath` is relative to (Manually_Annotated_Images). */
  imageRoot: string;
  /** 7 (no contempt) or 8 classes. @default 7 */
  classes?: 7 | 8;
  /** Label set the categories map into (alias-aware). @default BASIC_7 or BASIC_8 by `classes` */
  labelSet?: LabelSet;
  /** Rows whose category is not in the label set: `'error'` or `'drop'` (counted by category). @default 'error' */
  outOfSet?: 'error' | 'drop';
  /**
   * Beyond the existence every listed image is checked for.
   * @default 'none' (AffectNet is large; 'header' reads each file's first bytes)
   */
  verify?: ImageVerification;
  /** @default 'error' */
  duplicates?: DuplicatePolicy;
  /** Accept paths that leave `imageRoot` (`../x.jpg`; `normalizeListedPath`). @default false */
  allowOutsideRoot?: boolean;
  /**
   * Stops the load between images (each listed image is stat'ed and, with `verify`, its header read: seconds to
   * minutes on AffectNet-sized lists, in which Ctrl-C is now seen): an AbortedError.
   */
  signal?: AbortSignal;
}

/**
 * AffectNet CSV (`parseAffectNetCsvText`) with image paths under `imageRoot`: paths are normalised before the
 * duplicate check (`1/./x.jpg`, `1//x.jpg` are `1/x.jpg`); one that leaves `imageRoot` is refused unless
 * `allowOutsideRoot`.
 */
export async function loadAffectNetCsv(options: AffectNetOptions): Promise<LoadResult<ImageItem>> {
  const { entries, dropped, labelSet } = parseAffectNetCsvText(readTextFile(options.csv, 'AffectNet CSV'), {
    file: options.csv,
    ...options,
  });
  const listed = entries.map((e) => ({ path: join(options.imageRoot, e.path), label: e.label, line: e.line }));
  const { items, dropped: all } = await listedImageItems(listed, dropped, {
    file: options.csv,
    field: 'subDirectory_filePath',
    verify: options.verify ?? 'none',
    duplicates: options.duplicates,
    signal: options.signal,
  });
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: all, source: options.csv };
}

export interface FerPlusOptions {
  /**
   * `fer2013new.csv` (Usage, Image name, neutral, happiness, …, contempt, unknown, NF), or a per-folder `label.csv`
   * of the FERPlus repository (`data/FER2013Test/label.csv`: no header; its Usage is its folder's, or `usage`).
   */
  csv: string;
  /** Directory with FER2013Train/, FER2013Valid/, FER2013Test/ (the FERPlus image export). */
  imageRoot: string;
  /** Keep rows of this Usage only. */
  usage?: FerPlusUsage;
  /** @default BASIC_8 */
  labelSet?: LabelSet;
  /** Rows without a majority emotion or image name: `'drop'` (counted, FERPlus's own majority mode) or `'error'`. @default 'drop' */
  noMajority?: 'drop' | 'error';
  /** Beyond the existence every listed image is checked for. @default 'none' */
  verify?: ImageVerification;
  /**
   * Not used: an image that several rows name is the last row's (`parseFerPlusCsvText`), so no two items name one
   * image. Accepted so that options shared by every loader can be passed.
   */
  duplicates?: DuplicatePolicy;
  /** Accept image names that leave their image folder (`../x.png`; `normalizeListedPath`). @default false */
  allowOutsideRoot?: boolean;
  /**
   * Stops the load between images (each listed image is stat'ed and, with `verify`, its header read: seconds to
   * minutes on AffectNet-sized lists, in which Ctrl-C is now seen): an AbortedError.
   */
  signal?: AbortSignal;
}

const FERPLUS_DIRS: Record<FerPlusUsage, string> = {
  Training: 'FER2013Train',
  PublicTest: 'FER2013Valid',
  PrivateTest: 'FER2013Test',
};

/**
 * The Usage whose rows a file in one of FERPlus's image folders stands for (`FER2013Train/label.csv`: Training,
 * `FER2013Valid`: PublicTest, `FER2013Test`: PrivateTest), or undefined elsewhere.
 */
export function ferPlusFolderUsage(file: string): FerPlusUsage | undefined {
  const folder = basename(dirname(resolve(file)));
  return (Object.keys(FERPLUS_DIRS) as FerPlusUsage[]).find((u) => FERPLUS_DIRS[u] === folder);
}

/**
 * The Usage of a per-folder label.csv: its folder's (FER2013Train, FER2013Valid, FER2013Test), else `usage`.
 * @throws InvalidArgumentError naming `usage` where it is not the folder's
 */
function labelCsvUsage(options: FerPlusOptions): FerPlusUsage | undefined {
  const usage = ferPlusFolderUsage(options.csv);
  if (usage && options.usage && options.usage !== usage)
    throw new InvalidArgumentError({
      functionName: 'loadFerPlusCsv',
      argument: 'usage',
      message: `is ${options.usage}, but ${options.csv} is the label.csv of ${FERPLUS_DIRS[usage]}, whose rows are ${usage}`,
    });
  return usage ?? options.usage;
}

/**
 * FERPlus labels by majority vote (`parseFerPlusCsvText`: an image named by several rows is labelled by the last,
 * whose face its file holds; `warnings` names those whose rows disagree), images under
 * `imageRoot/FER2013{Train,Valid,Test}`.
 */
export async function loadFerPlusCsv(options: FerPlusOptions): Promise<LoadResult<ImageItem>> {
  const text = readTextFile(options.csv, 'FERPlus CSV');
  const folderUsage = isFerPlusLabelCsv(text) ? labelCsvUsage(options) : undefined;
  const { entries, dropped, labelSet, warnings } = parseFerPlusCsvText(text, {
    file: options.csv,
    ...options,
    ...(folderUsage ? { folderUsage } : {}),
  });
  const listed = entries.map((e) => ({
    path: join(options.imageRoot, FERPLUS_DIRS[e.usage], e.imageName),
    label: e.label,
    line: e.line,
  }));
  // rows are FERPlus's own (last row wins, `duplicates` unused): FER2013 faces deduplicated by links stay its rows
  await checkListedImages(listed, options.csv, 'Image name', options.verify ?? 'none', options.signal);
  const items = withoutLines(listed);
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped, source: options.csv, warnings };
}
