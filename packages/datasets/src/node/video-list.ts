import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { DataFormatError, quoteInput, runStepsSync } from '@vlfer/core';
import { readTextFile } from '@vlfer/core/node';
import { differingNumbers, isImageFile, nameOrderInversion } from '../media.js';
import {
  dropResolvedDuplicates,
  isDfewSplitCsv,
  parseDfewSplitCsv,
  parseVideoListText,
  type LabelScheme,
  type ParseVideoListOptions,
} from '../parsers.js';
import { outsideRootMessage } from '../paths.js';
import { countLabels, type LoadResult, type VideoItem } from '../types.js';
import { checkRootDir, explainFsError, readDirEntriesForScan, readDirForScan } from './scan-errors.js';

/** The frame images of a frame directory, sorted by name (Python's `sorted(glob(dir/*))` for ASCII names). */
export function listFrames(frameDir: string): string[] {
  return frameNames(frameDir).map((n) => join(frameDir, n));
}

/**
 * The file names of `listFrames`, in its order: Python's `sorted()`, by code point (UTF-8 byte order; JavaScript's
 * sort compares UTF-16 units, which puts names past U+FFFF before U+E000…U+FFFF). An entry named like a frame that is
 * a folder, or a link to no file, is refused by name (it was counted as a frame and failed when read).
 * @throws DataFormatError naming the entry
 */
function frameNames(frameDir: string): string[] {
  const names: string[] = [];
  for (const e of readDirEntriesForScan(frameDir, 'the frame directory')) {
    if (!isImageFile(e.name)) continue;
    const path = join(frameDir, e.name);
    const target = e.isSymbolicLink() ? statSync(path, { throwIfNoEntry: false }) : e;
    if (!target?.isFile())
      throw new DataFormatError({
        file: path,
        message: `is named like a frame but is ${e.isDirectory() ? 'a folder' : target ? 'a link to a folder or device' : 'a link to nothing'}; frame directories hold image files`,
      });
    names.push(e.name);
  }
  return names
    .map((n) => ({ n, key: Buffer.from(n) }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ n }) => n);
}

/** Clips of a list whose frames, in name order, are not in the order of their numbers (`nameOrderInversion`). */
class FrameOrderCheck {
  /** by list line: the clip's folder and its first two frame names out of number order, or null */
  private readonly byLine = new Map<number, { dir: string; pair: [string, string] | null }>();

  /** Note one clip's frame names (sorted by name). */
  add(line: number, dir: string, names: readonly string[]): void {
    this.byLine.set(line, { dir, pair: nameOrderInversion(names) });
  }

  /** The warning for the clips of `file` that were kept (`items`: a duplicate dropped is not counted), or none. */
  warnings(file: string, items: readonly { line: number }[]): string[] {
    const noted = items.flatMap((it) => {
      const c = this.byLine.get(it.line);
      return c ? [{ line: it.line, ...c }] : [];
    });
    const out = noted.filter((c) => c.pair !== null);
    const f = out[0];
    if (!f) return [];
    const [a, b] = f.pair!;
    const { first, second, at } = differingNumbers(a, b)!;
    const width = Math.max(5, first.length);
    const padded = `${b.slice(0, at)}${second.padStart(width, '0')}${b.slice(at + second.length)}`;
    return [
      `${file}: the frames of ${out.length} of ${noted.length} clip${noted.length === 1 ? '' : 's'} are numbered with numbers of different widths (first at line ${f.line}, ${quoteInput(f.dir)}: '${a}' sorts before '${b}'); frames are taken in name order, as the reference loaders' sorted(glob(dir/*)) takes them, which is not time order there: rename them with numbers zero-padded to one width (e.g. '${b}' → '${padded}') for time order`,
    ];
  }
}

export interface VideoListOptions extends Omit<ParseVideoListOptions, 'file'> {
  /** Annotation list, one clip per line: `<frame_dir> <num_frames> <label> [label text]`. */
  file: string;
  /** Prefix for relative frame directories. @default the annotation file's directory */
  root?: string;
  /**
   * The scheme of a text list when `labelScheme` is not given (a dataset's own lists: e.g. 'mafw-hesp' for HESP's
   * MAFW lists). @default 'dfer-clip'. DFEW's own split file is read with DFEW's ids ('dfew-original') whatever this
   * says; a `labelScheme` other than 'dfew-original' is refused for it.
   */
  defaultLabelScheme?: LabelScheme;
  /**
   * `'count'` (default): each frame dir must exist and hold exactly `num_frames` images (and frames numbered
   * with numbers of different widths, whose name order is not time order, are warned of in `warnings`);
   * `'exists'`: it must exist; `'none'`: no file-system check.
   */
  checkFrames?: 'count' | 'exists' | 'none';
}

/** `path` with its symbolic links followed where it exists (one directory reached through a link is one clip). */
export function realPath(path: string): string {
  try {
    // the C library's realpath: one call, where Node's JS one lstats every component (0.75 s of 65,000 listed images)
    return realpathSync.native(path);
  } catch {
    return resolve(path); // not there (frames unchecked): as spelt, resolved
  }
}

/** Whether `path` is `root` or lies under it (lexically: links are not resolved). */
export function isInside(root: string, path: string): boolean {
  const r = relative(resolve(root), resolve(path));
  return r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}

/**
 * Video annotation lists as used by DFER-CLIP, Exp-CLIP and HESP (`parseVideoListText`), with frame directories
 * resolved and checked. Errors name the file, line and field: a missing frame dir, a frame-count mismatch, a label
 * out of range, a label text that contradicts the id, a duplicate clip.
 * Frame directories with spaces in their path are not supported (the format is space-separated). Paths are
 * normalised before the duplicate check (`./frames/a/` and `frames/a/.` are one clip); a path that leaves `root`
 * (`../x`, or an absolute path elsewhere that `rebase` did not produce) is refused unless `allowOutsideRoot`
 * (`normalizeListedPath`; symbolic links inside the root are followed). DFEW's own split files (`set_N.csv`,
 * `video_name,label`) are read too (`parseDfewSplitCsv`: clip folders `{n:05d}` under `root` or in its
 * `clip_224x224_part_<k>` folders, `dfewPartFolders`; frames counted, DFEW's
 * ids: a `labelScheme` other than 'dfew-original' is refused); `labelScheme` in the result says how the ids were read.
 */
export function loadVideoList(options: VideoListOptions): VideoList {
  return runStepsSync(videoListSteps(options));
}

/** What `loadVideoList` returns: the clips, and the label scheme and warnings of the list. */
export type VideoList = LoadResult<VideoItem> & { labelScheme: LabelScheme; warnings: string[] };

/**
 * `loadVideoList` as steps, one per listed clip (each a stat and a read of its frame folder): run with `runSteps` (a
 * signal and the event loop served between clips: FERV39k's list takes seconds, more on a network file system) or
 * composed into a larger load (`yield*`, as HESP's). The same result as `loadVideoList`.
 */
export function* videoListSteps(options: VideoListOptions): Generator<void, VideoList, void> {
  const { file } = options;
  const root = options.root ?? join(file, '..');
  const text = readTextFile(file, 'annotation list');
  const dfew = isDfewSplitCsv(text);
  // DFEW's own split file names no frame counts: `dfewSplitAsList` reads every clip folder to count its frames (and
  // refuses a missing or empty one), so the folders are not read a second time below
  const check = dfew ? 'none' : (options.checkFrames ?? 'count');
  const labelScheme = dfew ? dfewScheme(options) : (options.labelScheme ?? options.defaultLabelScheme ?? 'dfer-clip');
  const order = new FrameOrderCheck();
  const listText = dfew ? yield* dfewSplitAsList(text, file, root, order) : text;
  const { entries, dropped, labelSet } = parseVideoListText(listText, { ...options, labelScheme });
  // a root that relative frame directories are read under must exist (a mistyped one is named as such)
  if (options.root !== undefined && check !== 'none' && entries.some((e) => !isAbsolute(e.dir)))
    checkRootDir(options.root, 'root', 'loadVideoList');
  const listed: VideoItem[] = [];
  for (const e of entries) {
    const frameDir = isAbsolute(e.dir) ? e.dir : join(root, e.dir);
    // relative paths were checked by the parser; an absolute one (not from the caller's rebase) must lie under root
    if (isAbsolute(e.dir) && !e.rebased && !options.allowOutsideRoot && !isInside(root, frameDir))
      throw new DataFormatError({ file, line: e.line, field: 'frame_dir', message: outsideRootMessage(e.dir, root) });
    if (check !== 'none') checkFrameDir(frameDir, e, check, options, order);
    listed.push({
      frameDir,
      numFrames: e.numFrames,
      label: e.label,
      line: e.line,
      ...(e.rebased ? { rebased: true } : {}),
    });
    yield;
  }
  // one directory spelt two ways (relative and absolute, rebased and not) is one clip: a duplicate, never two items
  const unique = dropResolvedDuplicates(listed, (it) => realPath(it.frameDir), {
    file,
    policy: options.duplicates ?? 'error',
    what: 'frame directory',
    dropped,
  });
  const items = unique.rows;
  return {
    items,
    labelSet,
    counts: countLabels(items, labelSet.names.length),
    dropped: unique.dropped,
    source: file,
    labelScheme,
    warnings: order.warnings(file, items),
  };
}

/**
 * DFEW's own split file (`parseDfewSplitCsv`) as the video list it stands for, line for line (errors keep the CSV's
 * line numbers): `<clip folder> <frames in root/clip folder> <DFEW id>`. @throws DataFormatError naming the CSV line
 * of a clip whose folder is missing or holds no frame images
 */
function* dfewSplitAsList(
  text: string,
  file: string,
  root: string,
  order: FrameOrderCheck,
): Generator<void, string, void> {
  const rows = parseDfewSplitCsv(text, file);
  checkRootDir(root, 'root', 'loadVideoList');
  const lines = new Array<string>(rows.at(-1)!.line).fill('');
  const inParts = dfewPartFolders(root);
  for (const r of rows) {
    const found = inParts(r.clip);
    const folder = 'folder' in found ? found.folder : r.clip;
    const dir = join(root, folder);
    let frames: string[] = [];
    let why = 'holds no frame images';
    try {
      if (statSync(dir).isDirectory()) frames = frameNames(dir);
      else why = 'is not a directory';
    } catch (error) {
      why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : explainFsError(error);
    }
    if (frames.length === 0)
      throw new DataFormatError({
        file,
        line: r.line,
        field: 'video_name',
        message: `clip ${r.clip}: ${quoteInput(dir)} ${why}${'missing' in found ? ` (${found.missing})` : ''}`,
      });
    order.add(r.line, dir, frames);
    lines[r.line - 1] = `${folder} ${frames.length} ${r.label}`;
    yield;
  }
  return lines.join('\n');
}

/**
 * Where clip folder `clip` (`{n:05d}`) lies under `root`, relative to it: `root/clip` itself, else in the part folders
 * DFEW ships `Clip/clip_224x224` in (`clip_224x224_part_1` … `_part_11`: subfolders whose name ends in `_part_<k>`),
 * first in part ⌈n / 1600⌉, where DFEW puts clip n (a look at that one folder), then in the other parts (each read
 * once, for re-packed copies). Other entries of the part folders (`.DS_Store`) are never read as clips.
 * @returns the folder, or a note on where it was looked for (the clip is then missing)
 */
function dfewPartFolders(root: string): (clip: string) => { folder: string } | { missing: string } {
  let parts: { name: string; k: number }[] | undefined;
  const contents = new Map<string, Set<string>>();
  const entries = (part: string) => {
    let set = contents.get(part);
    if (!set) contents.set(part, (set = new Set(readDirForScan(join(root, part), 'a DFEW part folder'))));
    return set;
  };
  return (clip) => {
    if (existsSync(join(root, clip))) return { folder: clip };
    parts ??= readDirForScan(root, 'the DFEW clip root')
      .flatMap((name) => {
        const m = /^\S+_part_(\d+)$/i.exec(name);
        return m && isDirectory(join(root, name)) ? [{ name, k: Number(m[1]) }] : [];
      })
      .sort((a, b) => a.k - b.k || (a.name < b.name ? -1 : 1));
    const expected = Math.ceil(Number(clip) / 1600);
    for (const p of parts.filter((q) => q.k === expected))
      if (existsSync(join(root, p.name, clip))) return { folder: join(p.name, clip) };
    for (const p of parts.filter((q) => q.k !== expected))
      if (entries(p.name).has(clip)) return { folder: join(p.name, clip) };
    const range = parts.length ? `${parts[0]!.name} … ${parts.at(-1)!.name}` : '';
    return {
      missing: parts.length
        ? `looked for in root and its ${parts.length} part folder${parts.length === 1 ? '' : 's'} (${range}); DFEW puts clip ${Number(clip)} in part ${expected}: is that part extracted there?`
        : "root must be DFEW's folder of clip folders, or of its clip_224x224_part_<n> folders: Clip/clip_224x224",
    };
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // a broken link among the parts: not a part folder
  }
}

/**
 * The label scheme `loadVideoList` reads each of `files` with when no `labelScheme` is given — DFEW's own ids
 * ('dfew-original') for DFEW's split files, `defaultScheme` for text lists — when that is one scheme for all of them,
 * else null. A file not readable here counts as a text list (loading it names the problem). What a rerun compares a
 * recorded scheme with: left out, and named as what leaving it out means, are one choice.
 */
export function unsetLabelScheme(files: readonly string[], defaultScheme: LabelScheme): LabelScheme | null {
  const schemes = new Set(
    files.map((file) => {
      let dfew = false;
      try {
        dfew = isDfewSplitCsv(readFileSync(file, 'utf8'));
      } catch {
        /* unreadable here: a text list as far as this says; loading it names the problem */
      }
      return dfew ? 'dfew-original' : defaultScheme;
    }),
  );
  return schemes.size === 1 ? [...schemes][0]! : null;
}

/** The label scheme of a DFEW split file: DFEW's own ids, whatever the default; another given scheme is refused. */
function dfewScheme(options: VideoListOptions): 'dfew-original' {
  const scheme = options.labelScheme ?? 'dfew-original';
  if (scheme !== 'dfew-original')
    throw new DataFormatError({
      file: options.file,
      field: 'label',
      message: `DFEW's own split file holds DFEW's 1-based ids (1 happy … 7 fear); label scheme '${scheme}' does not apply: leave labelScheme unset (a DFEW split file is read with 'dfew-original', a text list with the dataset's default), or give 'dfew-original' where every list is DFEW's`,
    });
  return 'dfew-original';
}

/**
 * The frame directory of list entry `e` exists (and, with `check` 'count', holds exactly its `num_frames` images,
 * whose names go to `order`).
 * @throws DataFormatError naming the list, line and field
 */
function checkFrameDir(
  frameDir: string,
  e: { line: number; numFrames: number },
  check: 'count' | 'exists',
  options: VideoListOptions,
  order: FrameOrderCheck,
): void {
  const { file } = options;
  let isDir = false;
  let why = 'does not exist';
  try {
    isDir = statSync(frameDir).isDirectory();
    if (!isDir) why = 'is not a directory';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') why = explainFsError(error);
  }
  if (!isDir)
    throw new DataFormatError({
      file,
      line: e.line,
      field: 'frame_dir',
      message: `frame directory ${quoteInput(frameDir)} ${why}${options.rebase || why !== 'does not exist' ? '' : " (to map the authors' absolute paths, pass rebase: { from, to } (CLI --rebase <from>=<to>))"}`,
    });
  if (check === 'count') {
    const names = frameNames(frameDir);
    order.add(e.line, frameDir, names);
    const n = names.length;
    if (n !== e.numFrames)
      throw new DataFormatError({
        file,
        line: e.line,
        field: 'num_frames',
        message: `says ${e.numFrames} frames but ${quoteInput(frameDir)} holds ${n} images`,
      });
  }
}
