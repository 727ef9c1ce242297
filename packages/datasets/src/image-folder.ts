import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DataFormatError, type LabelSet } from '@vlfer/core';
import { verifyImage, isImageFile, type ImageVerification } from './image-check.js';
import { BASIC_7, BASIC_8, canonicalExpression, MAFW_11 } from './label-sets.js';
import { countLabels, DropCounter, type ImageItem, type LoadResult } from './types.js';

export interface ImageFolderOptions {
  /** Label set the folder names map into. @default BASIC_7, BASIC_8 or MAFW_11 by the number of class folders */
  labelSet?: LabelSet;
  /** @default 'header' */
  verify?: ImageVerification;
  /**
   * What to do with files that are not images (README, .DS_Store, …) at the root or inside class folders:
   * `'error'` stops, `'skip'` leaves them out and reports their count in `dropped`.
   * @default 'error'
   */
  extraFiles?: 'error' | 'skip';
}

/**
 * Load a class-folder image set (`root/<class>/<image>`), as CAER-S, FER2013 exports and face-cropped
 * RAF-DB/AffectNet folders are laid out. Folder names are matched case-insensitively to canonical
 * expressions (`angry` → anger, `happy` → happiness, …); an unknown folder is an error.
 * Items are sorted by class id, then file name, so the order is reproducible.
 */
export async function loadImageFolder(root: string, options: ImageFolderOptions = {}): Promise<LoadResult<ImageItem>> {
  return loadClassFolder(root, { ...options, accept: isImageFile, kind: 'image', verify: options.verify ?? 'header' });
}

export const VIDEO_EXTENSIONS = new Set(['.mp4', '.avi', '.mov', '.mkv', '.webm', '.flv', '.mpg', '.mpeg', '.m4v', '.wmv']);

/**
 * Load a class-folder set of video files (`root/<class>/<video>`), e.g. raw AFEW or CAER clips, for decoding with
 * ffmpeg (`@vlfer/encoders` videoFileClip). Same folder-name matching and errors as `loadImageFolder`.
 */
export async function loadVideoFolder(root: string, options: Omit<ImageFolderOptions, 'verify'> = {}): Promise<LoadResult<ImageItem>> {
  return loadClassFolder(root, { ...options, accept: (f) => VIDEO_EXTENSIONS.has(extname(f).toLowerCase()), kind: 'video', verify: 'none' });
}

async function loadClassFolder(root: string, options: ImageFolderOptions & { accept: (name: string) => boolean; kind: 'image' | 'video' }): Promise<LoadResult<ImageItem>> {
  let entries: string[];
  try {
    entries = readdirSync(root).sort();
  } catch (error) {
    throw new DataFormatError({ file: root, message: `cannot read the ${options.kind} folder (${(error as Error).message}); expected root/<class>/<${options.kind}> directories`, cause: error });
  }
  const dropped = new DropCounter();
  const extra = options.extraFiles ?? 'error';
  const classDirs: { dir: string; name: string }[] = [];
  for (const e of entries) {
    const p = join(root, e);
    if (statSync(p).isDirectory()) classDirs.push({ dir: p, name: e });
    else if (extra === 'skip') dropped.add('non-directory entry at the root');
    else throw new DataFormatError({ file: p, message: "a file at the root of a class-folder image set; expected only class directories (pass extraFiles: 'skip' to ignore)" });
  }
  if (classDirs.length === 0) throw new DataFormatError({ file: root, message: `no class directories found; expected root/<class>/<${options.kind}>` });
  const labelSet = options.labelSet ?? (classDirs.length <= 7 ? BASIC_7 : classDirs.length === 8 ? BASIC_8 : MAFW_11);
  const items: ImageItem[] = [];
  const seen = new Map<number, string>();
  for (const { dir, name } of classDirs) {
    const canonical = canonicalExpression(name);
    const label = canonical === undefined ? -1 : labelSet.names.indexOf(canonical);
    if (label < 0) {
      throw new DataFormatError({ file: dir, message: `unknown class folder '${name}'; expected one of: ${labelSet.names.join(', ')} (or a common spelling such as angry, happy, sad)` });
    }
    if (seen.has(label)) throw new DataFormatError({ file: dir, message: `class '${labelSet.names[label]}' already comes from folder '${seen.get(label)}'` });
    seen.set(label, name);
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (!options.accept(f) || !statSync(p).isFile()) {
        if (extra === 'skip') { dropped.add(`not a${options.kind === 'image' ? 'n image' : ' video'} file`); continue; }
        const exts = options.kind === 'image' ? '.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif' : [...VIDEO_EXTENSIONS].join(', ');
        throw new DataFormatError({ file: p, message: `not a${options.kind === 'image' ? 'n image' : ' video'} file (expected ${exts}); pass extraFiles: 'skip' to ignore` });
      }
      items.push({ path: p, label });
    }
  }
  items.sort((a, b) => a.label - b.label || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const it of items) await verifyImage(it.path, options.verify ?? 'none');
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: dropped.list(), source: root };
}

/**
 * Every image file under `root` (recursively, sorted by path), e.g. an unlabelled training set such as
 * CAER-S train, whose class folders Exp-CLIP ignores. Non-image files are counted, not returned.
 */
export function listImages(root: string): { paths: string[]; skipped: number } {
  const paths: string[] = [];
  let skipped = 0;
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch (error) {
      throw new DataFormatError({ file: dir, message: `cannot read directory (${(error as Error).message})`, cause: error });
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (isImageFile(e)) paths.push(p);
      else skipped++;
    }
  };
  walk(root);
  if (paths.length === 0) throw new DataFormatError({ file: root, message: 'no image files found (.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif)' });
  return { paths, skipped };
}
