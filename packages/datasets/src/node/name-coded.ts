import { statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { checkOneOf, DataFormatError, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { BASIC_7 } from '../label-sets.js';
import { hiddenFileText, isHiddenName, isImageFile, isSystemFolder } from '../media.js';
import { expressionLabel } from '../parsers.js';
import { KDEF_VIEWS, NAME_CODES, parseCodedName, type KdefView, type NameCodedDatasetId } from '../name-coded.js';
import { DropCounter, loadResult, type ImageItem, type LoadResult } from '../types.js';
import { verifyImages, type ImageVerification } from './image-check.js';
import { refuseLinkedTwice } from './image-folder.js';
import { checkRootDir, explainFsError, readDirForScan } from './scan-errors.js';

export interface NameCodedOptions {
  /** The dataset's folder: its images anywhere below it (KDEF: `KDEF/AF01/AF01ANS.JPG`; JAFFE: `jaffe/KA.AN1.39.tiff`). */
  root: string;
  dataset: NameCodedDatasetId;
  /** KDEF: the views read (`['S']`: the 980 straight images). @default all five */
  views?: readonly KdefView[];
  /** @default BASIC_7 */
  labelSet?: LabelSet;
  /** Images of an expression not in the label set: `'error'` or `'drop'` (counted by expression). @default 'error' */
  outOfSet?: 'error' | 'drop';
  /** Files that are not images, or images whose names do not follow the dataset's form: `'error'` or `'skip'` (counted). @default 'error' */
  extraFiles?: 'error' | 'skip';
  /**
   * A second file of one image (its name again, in any case, elsewhere below the root: an unzip done twice): `'error'`
   * or `'drop'` (the first in path order kept, the others counted). @default 'error'
   */
  duplicates?: 'error' | 'drop';
  /** @default 'none' */
  verify?: ImageVerification;
}

/**
 * Every file below `dir` (hidden ones too), by path relative to `root`, sorted; hidden and system folders
 * (`isSystemFolder`: a `.Trash-1000` copy, `__MACOSX`, an empty `lost+found`) are not entered, and counted in
 * `drops`.
 */
function filesBelow(root: string, drops: DropCounter, dir = root, out: string[] = []): string[] {
  for (const name of readDirForScan(dir, 'the folder').sort()) {
    const path = join(dir, name);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (error) {
      throw new DataFormatError({ file: path, message: explainFsError(error), cause: error });
    }
    // (never data: left out and counted; an empty lost+found of a mount point stopped every run when refused)
    if (isDir && isSystemFolder(name)) drops.add('hidden or system folder');
    else if (isDir) filesBelow(root, drops, path, out);
    else out.push(relative(root, path));
  }
  return out;
}

/** `loadNameCoded`'s options checked, with their defaults. @throws InvalidArgumentError naming the option */
function checkNameCodedOptions(options: NameCodedOptions) {
  const fn = 'loadNameCoded';
  checkRootDir(options.root, 'root', fn);
  const dataset = checkOneOf(options.dataset, ['kdef', 'jaffe'], { functionName: fn, argument: 'dataset' });
  if (options.views !== undefined) {
    const bad = options.views.filter((v) => !(KDEF_VIEWS as readonly string[]).includes(v));
    if (dataset !== 'kdef' || options.views.length === 0 || bad.length > 0)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'views',
        message:
          dataset !== 'kdef'
            ? `${dataset} has no views (KDEF has)`
            : `expected a non-empty list of ${KDEF_VIEWS.join(', ')}, got ${JSON.stringify(options.views)}`,
      });
  }
  return {
    dataset,
    views: new Set<string>(options.views ?? KDEF_VIEWS),
    outOfSet: checkOneOf(options.outOfSet ?? 'error', ['error', 'drop'], { functionName: fn, argument: 'outOfSet' }),
    extra: checkOneOf(options.extraFiles ?? 'error', ['error', 'skip'], { functionName: fn, argument: 'extraFiles' }),
    duplicates: checkOneOf(options.duplicates ?? 'error', ['error', 'drop'], {
      functionName: fn,
      argument: 'duplicates',
    }),
    labelSet: options.labelSet ?? BASIC_7,
  };
}

/**
 * A dataset whose labels are coded in its file names (`NameCodedDatasetId`: KDEF, JAFFE): every image below `root`,
 * labelled by its name (`parseCodedName`), in path order; KDEF's restricted to `views`. A file that is not an image,
 * or an image named otherwise (a copy renamed by hand, a thumbnail), is an error naming it and the form expected,
 * unless `extraFiles: 'skip'`.
 * @throws DataFormatError naming the file; InvalidArgumentError naming the option
 */
export async function loadNameCoded(options: NameCodedOptions): Promise<LoadResult<ImageItem>> {
  const { dataset, views, outOfSet, extra, duplicates, labelSet } = checkNameCodedOptions(options);
  const drops = new DropCounter();
  const items: ImageItem[] = [];
  const seen = new Map<string, string>(); // image name (upper case, no extension) → its first path
  for (const rel of filesBelow(options.root, drops)) {
    const path = join(options.root, rel);
    const name = basename(rel);
    const code = isImageFile(name) ? parseCodedName(dataset, name) : undefined;
    if (!code) {
      const hidden = isHiddenName(name);
      const why = hidden ? 'hidden file' : isImageFile(name) ? 'not named in the dataset’s form' : 'not an image file';
      if (extra === 'error')
        throw new DataFormatError({
          file: path,
          message: `is ${hidden ? hiddenFileText(name) : why}: expected ${NAME_CODES[dataset].form}; pass extraFiles: 'skip' (CLI --extra-files skip) to leave such files out`,
        });
      drops.add(why);
      continue;
    }
    // the image's identity: its name, and for JAFFE its subject and number (the number names one photograph)
    const image = code.id ?? name.slice(0, name.lastIndexOf('.')).toUpperCase();
    const first = seen.get(image);
    if (first !== undefined) {
      if (duplicates === 'error')
        throw new DataFormatError({
          file: path,
          message: `is image ${image} again (first at ${first}): a second copy; remove one, or pass duplicates: 'drop' (CLI --duplicates drop) to keep the first`,
        });
      drops.add('image named again (a second copy)');
      continue;
    }
    seen.set(image, path);
    if (code.view && !views.has(code.view)) {
      drops.add(`view ${code.view} not asked for`);
      continue;
    }
    const label = expressionLabel(code.expression, labelSet, outOfSet, drops, {
      file: path,
      says: 'is',
      things: 'images',
    });
    if (label !== undefined) items.push({ path, label });
  }
  refuseLinkedTwice(items);
  await verifyImages(items, options.verify ?? 'none');
  return loadResult(items, labelSet, drops, options.root);
}
