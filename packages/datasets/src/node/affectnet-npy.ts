import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { checkOneOf, DataFormatError, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { BASIC_7, BASIC_8 } from '../label-sets.js';
import { hiddenFileText, isHiddenName, isImageFile } from '../media.js';
import { affectNetLabel, parseAffectNetExpNpy } from '../parsers.js';
import { DropCounter, loadResult, type ImageItem, type LoadResult } from '../types.js';
import { verifyImage, type ImageVerification } from './image-check.js';
import { checkRootDir, readDirForScan } from './scan-errors.js';

export interface AffectNetNpyOptions {
  /** A split of AffectNet's train_set/val_set release: `images/<id>.jpg` and `annotations/<id>_exp.npy`. */
  root: string;
  /** 7 (no contempt) or 8 classes. @default 7 */
  classes?: 7 | 8;
  /** @default BASIC_7 (`classes` 7) or BASIC_8 (8) */
  labelSet?: LabelSet;
  /** Images whose category is not in the label set (7 Contempt for 7 classes; 8–10 in train_set): `'error'` or `'drop'` (counted by category). @default 'error' */
  outOfSet?: 'error' | 'drop';
  /** Files in `images/` that are not images: `'error'` or `'skip'` (counted). @default 'error' */
  extraFiles?: 'error' | 'skip';
  /** @default 'none' (the 283,901 training images; 'header' reads each file's first bytes) */
  verify?: ImageVerification;
}

/**
 * AffectNet as its authors' train_set/val_set release lays it out: every image of `root/images/` with its expression
 * category read from `root/annotations/<id>_exp.npy` (`parseAffectNetExpNpy`; the valence, arousal and landmark
 * files beside it are not read). Items sorted by file name. An image without its `_exp.npy` is an error naming both.
 * @throws DataFormatError naming the directory or file
 */
export async function loadAffectNetNpy(options: AffectNetNpyOptions): Promise<LoadResult<ImageItem>> {
  const fn = 'loadAffectNetNpy';
  checkRootDir(options.root, 'root', fn);
  const classes = options.classes ?? 7;
  if (classes !== 7 && classes !== 8)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'classes',
      message: `expected 7 or 8, got ${String(classes)}`,
    });
  const outOfSet = checkOneOf(options.outOfSet ?? 'error', ['error', 'drop'], {
    functionName: fn,
    argument: 'outOfSet',
  });
  const extra = checkOneOf(options.extraFiles ?? 'error', ['error', 'skip'], {
    functionName: fn,
    argument: 'extraFiles',
  });
  const labelSet = options.labelSet ?? (classes === 8 ? BASIC_8 : BASIC_7);
  const [images, annotations] = [join(options.root, 'images'), join(options.root, 'annotations')];
  const expected = 'expected AffectNet train_set/val_set layout: images/<id>.jpg and annotations/<id>_exp.npy';
  const names = readDirForScan(images, 'the image folder', expected).sort();
  if (!existsSync(annotations))
    throw new DataFormatError({ file: annotations, message: `does not exist; ${expected}` });
  const drops = new DropCounter();
  const items: ImageItem[] = [];
  for (const name of names) {
    const path = join(images, name);
    if (!isImageFile(name)) {
      const hidden = isHiddenName(name);
      if (extra === 'error')
        throw new DataFormatError({
          file: path,
          message: `is ${hidden ? hiddenFileText(name) : 'not an image'}; pass extraFiles: 'skip' (CLI --extra-files skip) to leave such files out`,
        });
      drops.add(hidden ? 'hidden file' : 'not an image file');
      continue;
    }
    const npy = join(annotations, `${name.slice(0, name.length - extname(name).length)}_exp.npy`);
    if (!existsSync(npy)) throw new DataFormatError({ file: path, message: `has no expression annotation ${npy}` });
    const native = parseAffectNetExpNpy(readFileSync(npy), npy);
    const label = affectNetLabel(native, labelSet, outOfSet, drops, { file: npy });
    if (label === undefined) continue;
    await verifyImage(path, options.verify ?? 'none');
    items.push({ path, label });
  }
  return loadResult(items, labelSet, drops, options.root);
}
