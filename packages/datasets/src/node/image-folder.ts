import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkOneOf, DataFormatError, eventLoopPacer, quoteInput, type LabelSet } from '@vlfer/core';
import { inferLabelSet, matchClassName, NATIVE_LABELS, type NativeLabelScheme } from '../label-sets.js';
import { hiddenFileText, isHiddenName, isImageFile, isVideoFile, isSystemFolder, VIDEO_EXTENSIONS } from '../media.js';
import { DropCounter, loadResult, type ImageItem, type LoadResult } from '../types.js';
import { verifyImages, type ImageVerification } from './image-check.js';
import { readDirForScan, statForScan } from './scan-errors.js';

export interface ImageFolderOptions {
  /**
   * Label set the folder names map into (alias-aware: a folder `happy` matches a class `happiness`).
   * @default inferred from the folder names (`inferLabelSet`): the built-in set with exactly those classes, else the
   *   smallest built-in set holding them, else the folder names as a custom set; the reason is in `labelSetReason`
   */
  labelSet?: LabelSet;
  /** @default 'header' */
  verify?: ImageVerification;
  /**
   * Files that are not images (README, .DS_Store, …) at the root or inside class folders:
   * `'error'` stops, `'skip'` leaves them out and reports their count in `dropped`. @default 'error'
   */
  extraFiles?: 'error' | 'skip';
  /**
   * Class folders named by a dataset's native label ids, as third-party copies lay them out (RAF-DB `1` … `7`,
   * AffectNet `0` … `7`, FER2013 `0` … `6`): folder `k` is that dataset's class k (`NATIVE_LABELS`, e.g. RAF-DB's `1`
   * is surprise), then matched by name into `labelSet` (default: inferred from those classes). Left out, folders are
   * matched by their names.
   */
  folderIds?: NativeLabelScheme;
  /**
   * Stops the load between class folders and between images (every file is stat'ed and, with `verify`, its header
   * read: seconds on AffectNet-sized folders, in which Ctrl-C is now seen): an AbortedError.
   */
  signal?: AbortSignal;
}

/**
 * Load a class-folder image set (`root/<class>/<image>`), as CAER-S, FER2013 exports and face-cropped
 * RAF-DB/AffectNet folders are laid out. Items are sorted by class id, then file name (reproducible).
 * An unknown folder, two folders for one class, or a non-image file (unless skipped) is an error.
 */
export async function loadImageFolder(root: string, options: ImageFolderOptions = {}): Promise<LoadResult<ImageItem>> {
  return loadClassFolder(root, { ...options, accept: isImageFile, kind: 'image', verify: options.verify ?? 'header' });
}

/**
 * Load a class-folder set of video files (`root/<class>/<video>`), e.g. raw AFEW or CAER clips, for decoding with
 * ffmpeg (`@vlfer/encoders/node` videoFileClip). Same folder-name matching and errors as `loadImageFolder`.
 */
export async function loadVideoFolder(
  root: string,
  options: Omit<ImageFolderOptions, 'verify'> = {},
): Promise<LoadResult<ImageItem>> {
  return loadClassFolder(root, { ...options, accept: isVideoFile, kind: 'video', verify: 'none' });
}

type ClassFolderOptions = ImageFolderOptions & { accept: (name: string) => boolean; kind: 'image' | 'video' };

/**
 * The class directories at the root of a class-folder set, sorted by name. A hidden or system folder
 * (`.ipynb_checkpoints`, `__MACOSX`, `lost+found`: `isSystemFolder`) is never a class: left out, counted in
 * `dropped`. A file at the root is an error, or counted with `extraFiles: 'skip'`.
 * @throws DataFormatError when there is no class directory
 */
export function findClassDirs(
  root: string,
  kind: 'image' | 'video',
  extra: 'error' | 'skip',
  dropped: DropCounter,
): Array<{ dir: string; name: string }> {
  const entries = readDirForScan(root, `the ${kind} folder`, `expected root/<class>/<${kind}> directories`).sort();
  const classDirs: { dir: string; name: string }[] = [];
  for (const e of entries) {
    const p = join(root, e);
    const isDir = statForScan(p, 'this entry of the set root').isDirectory();
    const system = isDir && isSystemFolder(e);
    // a hidden or system folder is never a class: left out, and counted (a dataset root that is a mount point holds
    // an empty lost+found; refusing it stopped every run there)
    if (system) dropped.add('hidden or system folder at the root');
    else if (isDir) classDirs.push({ dir: p, name: e });
    else if (extra === 'skip') dropped.add('non-directory entry at the root');
    else
      throw new DataFormatError({
        file: p,
        message:
          "a file at the root of a class-folder set; expected only class directories (pass extraFiles: 'skip' (CLI --extra-files skip) to ignore)",
      });
  }
  if (classDirs.length === 0)
    throw new DataFormatError({ file: root, message: `no class directories found; expected root/<class>/<${kind}>` });
  return classDirs;
}

/**
 * The label of class folder `name` in `labelSet` (alias-aware), recorded in `seen`.
 * @throws DataFormatError when the folder is no class of the set, or a second folder for a class already seen
 */
export function classFolderLabel(
  labelSet: LabelSet,
  dir: string,
  name: string,
  seen: Map<number, string>,
  /** The folder's own name where `name` is the class its id stands for (`folderIds`). @default name */
  folder: string = name,
): number {
  const label = matchClassName(labelSet, name);
  if (label < 0) {
    const what = folder === name ? `class folder ${quoteInput(name)}` : `class folder ${quoteInput(folder)} (${name})`;
    const numbered =
      folder === name && /^\d+$/.test(name) ? ` Folders named by a dataset's label ids: ${numberedFolderHint}.` : '';
    throw new DataFormatError({
      file: dir,
      message: `${what} is not a class of label set '${labelSet.id}' (classes: ${labelSet.names.join(', ')}; common spellings such as angry, happy, sad match too). Give the dataset's classes (option classes or labelSet; CLI --classes or --label-set).${numbered}`,
    });
  }
  if (seen.has(label))
    throw new DataFormatError({
      file: dir,
      message: `class '${labelSet.names[label]}' already comes from folder ${quoteInput(seen.get(label) ?? '')}`,
    });
  seen.set(label, folder);
  return label;
}

const numberedFolderHint = "folderIds 'raf-db' (1 … 7), 'affectnet' (0 … 7) or 'fer2013' (0 … 6) (CLI --folder-ids)";

/**
 * The class a folder named by a native label id stands for (`folderIds`).
 * @throws DataFormatError naming the folder where its name is not one of the scheme's ids
 */
function folderIdClass(scheme: NativeLabelScheme, dir: string, name: string): string {
  const { base, names } = NATIVE_LABELS[scheme];
  const id = /^\d{1,3}$/.test(name) ? Number(name) : NaN;
  const cls = (names as readonly string[])[id - base];
  if (cls === undefined)
    throw new DataFormatError({
      file: dir,
      message: `class folder ${quoteInput(name)} is not one of ${scheme}'s label ids (folderIds '${scheme}': ${names.map((n, k) => `${k + base} ${n}`).join(', ')})`,
    });
  return cls;
}

/**
 * The accepted files of one class folder (sorted by name) as items of `label`. Another entry is an error, or
 * counted in `dropped` with `extraFiles: 'skip'`.
 */
export function classFolderItems(
  dir: string,
  name: string,
  label: number,
  options: Pick<ClassFolderOptions, 'accept' | 'kind' | 'extraFiles'>,
  dropped: DropCounter,
): ImageItem[] {
  const items: ImageItem[] = [];
  const what = `not a${options.kind === 'image' ? 'n image' : ' video'} file`;
  for (const f of readDirForScan(dir, `class folder '${name}'`).sort()) {
    const p = join(dir, f);
    const stat = statForScan(p, `this entry of class folder '${name}'`);
    if (!options.accept(f) || !stat.isFile()) {
      // a folder is said to be one: class folders are read one level deep; a hidden file ends in .jpg too
      const hidden = !stat.isDirectory() && isHiddenName(f);
      if (stat.isDirectory() && isSystemFolder(f)) {
        dropped.add('hidden or system folder inside a class folder'); // (no images of the set, whatever it holds)
        continue;
      }
      if ((options.extraFiles ?? 'error') === 'skip') {
        dropped.add(stat.isDirectory() ? 'folder inside a class folder' : hidden ? 'hidden file' : what);
        continue;
      }
      const exts =
        options.kind === 'image' ? '.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif' : [...VIDEO_EXTENSIONS].join(', ');
      const why = stat.isDirectory()
        ? `a folder inside class folder '${name}': class folders hold ${options.kind ?? 'image'} files, one level deep`
        : hidden
          ? hiddenFileText(f, options.kind)
          : `${what} (expected ${exts})`;
      throw new DataFormatError({
        file: p,
        message: `${why}; pass extraFiles: 'skip' (CLI --extra-files skip) to ignore`,
      });
    }
    items.push({ path: p, label });
  }
  return items;
}

/**
 * One file reached twice through links (a symbolic link in one class folder to a file of another, or of its own):
 * it would be two items, under two labels, silently (the video lists refuse the same).
 * @throws DataFormatError naming both paths
 */
export function refuseLinkedTwice(items: readonly ImageItem[]): void {
  // by device and inode: a symbolic link resolves to its target, a hard link is the same inode under another name
  const byFile = new Map<string, string>();
  for (const it of items) {
    const st = statSync(it.path, { bigint: true });
    // (a file system without inode numbers: by the link's target)
    const key = st.ino === 0n ? realpathSync(it.path) : `${st.dev}:${st.ino}`;
    const earlier = byFile.get(key);
    if (earlier !== undefined) {
      const target = realpathSync(it.path);
      const linked = target !== it.path || realpathSync(earlier) !== earlier;
      const how = linked ? `${target}, reached through a link` : 'hard links to one inode';
      throw new DataFormatError({
        file: it.path,
        message: `and ${earlier} are one file (${how}); a file is one item of one class: remove one of them`,
      });
    }
    byFile.set(key, it.path);
  }
}

/** Stages: {@link findClassDirs} → label set → per folder {@link classFolderLabel}, {@link classFolderItems} → verify. */
async function loadClassFolder(root: string, options: ClassFolderOptions): Promise<LoadResult<ImageItem>> {
  const dropped = new DropCounter();
  const extraFiles = checkOneOf(options.extraFiles ?? 'error', ['error', 'skip'], {
    functionName: options.kind === 'image' ? 'loadImageFolder' : 'loadVideoFolder',
    argument: 'extraFiles',
  });
  const classDirs = findClassDirs(root, options.kind, extraFiles, dropped);
  const classes = classDirs.map((c) => (options.folderIds ? folderIdClass(options.folderIds, c.dir, c.name) : c.name));
  let labelSet = options.labelSet;
  let labelSetReason: string | undefined;
  if (!labelSet) ({ labelSet, reason: labelSetReason } = inferLabelSet(classes));
  if (labelSetReason && options.folderIds)
    labelSetReason = `the folders are ${options.folderIds} label ids; ${labelSetReason.replace('the folders are exactly', 'they stand for exactly')}`;
  if (!options.folderIds && !options.labelSet && classes.every((c) => /^\d+$/.test(c)))
    labelSetReason += `; the folders are numbers: if they are a dataset's label ids, give folderIds (${numberedFolderHint})`;
  const items: ImageItem[] = [];
  const seen = new Map<number, string>();
  const pace = eventLoopPacer({ what: 'reading the dataset', signal: options.signal });
  for (const [k, { dir, name }] of classDirs.entries()) {
    await pace();
    const label = classFolderLabel(labelSet, dir, classes[k]!, seen, name);
    // a loop, not push(...): a class folder can hold more files than a call takes arguments
    for (const item of classFolderItems(dir, name, label, options, dropped)) items.push(item);
  }
  items.sort((a, b) => a.label - b.label || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  refuseLinkedTwice(items);
  await verifyImages(items, options.verify ?? 'none', options.signal);
  return { ...loadResult(items, labelSet, dropped, root), ...(labelSetReason ? { labelSetReason } : {}) };
}

/**
 * Every image file under `root` (recursively, sorted by path), e.g. an unlabelled training set such as
 * CAER-S train, whose class folders Exp-CLIP ignores. Non-image files are counted, not returned; hidden and system
 * folders (`.ipynb_checkpoints`, `.Trash-1000`, `__MACOSX`, `@eaDir`: `isSystemFolder`) are not entered, and listed
 * in `skippedFolders` (as Python's `glob('**')` skips hidden folders: their copies and thumbnails are no training data).
 */
export function listImages(root: string): { paths: string[]; skipped: number; skippedFolders: string[] } {
  const paths: string[] = [];
  const skippedFolders: string[] = [];
  let skipped = 0;
  const walk = (dir: string) => {
    const entries = readDirForScan(dir, 'this directory of the image set').sort();
    for (const e of entries) {
      const p = join(dir, e);
      if (!statForScan(p, 'this entry of the image set').isDirectory()) {
        if (isImageFile(e)) paths.push(p);
        else skipped++;
      } else if (isSystemFolder(e)) skippedFolders.push(p);
      else walk(p);
    }
  };
  walk(root);
  if (paths.length === 0)
    throw new DataFormatError({
      file: root,
      message: `no image files found (.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif)${skippedFolders.length ? ` outside the hidden and system folders, which are not read (${skippedFolders.map((p) => quoteInput(p)).join(', ')})` : ''}`,
    });
  return { paths, skipped, skippedFolders };
}
