import { quoteInput } from '@vlfer/core';

/** File extensions read as images (case-insensitive). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.bmp',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
]);
/** File extensions read as videos (decoded with ffmpeg). */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set([
  '.mp4',
  '.avi',
  '.mov',
  '.mkv',
  '.webm',
  '.flv',
  '.mpg',
  '.mpeg',
  '.m4v',
  '.wmv',
]);

/** The last component of a path (after its last `/` or `\\`). */
const baseName = (name: string): string => name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);

/**
 * Whether a file name (or path) is hidden: its name starts with '.' (macOS's `._001.jpg` resource forks beside copied
 * frames, `.DS_Store`). Hidden files are no media files and no dataset entries, as Python's `glob(dir/*)`, which the
 * reference loaders list frames with, skips them.
 */
export const isHiddenName = (name: string): boolean => baseName(name).startsWith('.');

/**
 * What the loaders say of a hidden file met where media files are read: "a hidden file (a macOS resource fork of
 * '1.png'), not read as an image whatever its extension".
 */
export function hiddenFileText(name: string, kind: 'image' | 'video' = 'image'): string {
  const base = baseName(name);
  const fork = base.startsWith('._') ? ` (a macOS resource fork of ${quoteInput(base.slice(2))})` : '';
  return `a hidden file${fork}, not read as a${kind === 'image' ? 'n image' : ' video'} whatever its extension`;
}

/**
 * Folders that operating systems, archivers and tools put beside data, by lower-case name: a macOS zip's resource
 * forks, a Synology NAS's thumbnails and recycle bin, Windows' recycle bin and system folder, a file system's
 * lost+found.
 */
const SYSTEM_FOLDERS: ReadonlySet<string> = new Set([
  '__macosx',
  '@eadir',
  '#recycle',
  '$recycle.bin',
  'system volume information',
  'lost+found',
]);

/**
 * Whether a folder is no data, by its name: a hidden folder (`.ipynb_checkpoints` of Jupyter, `.Trash-1000`, `.git`)
 * or one of the system folders above in any case (`__MACOSX` of a zip made on macOS, `@eaDir`, `$Recycle.Bin`,
 * `lost+found`). Such folders are never classes and never hold dataset images, and are left out, counted (Python's
 * `glob('**')` skips hidden folders too).
 */
export function isSystemFolder(name: string): boolean {
  const base = baseName(name);
  return base.startsWith('.') || SYSTEM_FOLDERS.has(base.toLowerCase());
}

/** The lower-case extension of a file name (or path), '' for a name without one and for a hidden file. */
function extension(name: string): string {
  const base = baseName(name);
  const dot = base.lastIndexOf('.');
  return dot <= 0 || isHiddenName(base) ? '' : base.slice(dot).toLowerCase();
}

/** Whether a file name (or path) is an image the loaders read: an image extension, not a hidden file. */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extension(name));
}

/** Whether a file name (or path) is a video the loaders read: a video extension, not a hidden file. */
export function isVideoFile(name: string): boolean {
  return VIDEO_EXTENSIONS.has(extension(name));
}

/** Compare two runs of digits by value (`2` < `10`, `007` = `7`). */
function compareDigitRuns(x: string, y: string): number {
  const [u, v] = [x.replace(/^0+(?=\d)/, ''), y.replace(/^0+(?=\d)/, '')];
  return u.length - v.length || (u < v ? -1 : u > v ? 1 : 0);
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/**
 * The numbers where two names first differ, when that is in a number: at the first differing character one name
 * goes on with a digit, and both names have a number there (the digit runs that hold or end at that character, and
 * where they start: `frame_10.jpg`, `frame_9.jpg` → `10`, `9` at 6; `img12.jpg`, `img1_b.jpg` → `12`, `1`), else
 * null (`frame.jpg`, `frame1.jpg`: one name has no number there; `a1b`, `a1c`: they differ in a letter).
 */
export function differingNumbers(a: string, b: string): { first: string; second: string; at: number } | null {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  if (!isDigit(a[p]) && !isDigit(b[p])) return null;
  while (p > 0 && isDigit(a[p - 1])) p--; // back to the start of a digit run both share the beginning of
  if (!isDigit(a[p]) || !isDigit(b[p])) return null;
  const run = (s: string) => /^\d+/.exec(s.slice(p))![0];
  return { first: run(a), second: run(b), at: p };
}

/**
 * The first two neighbours of `names` (a frame directory's files in name order, as `sorted(glob(dir/*))` gives them
 * to the reference loaders) whose numbers, where the names first differ, say the other order — `['10.jpg', '2.jpg']`
 * for frames numbered without zero padding, `['10000.jpg', '1001.jpg']` for padding that overflowed — or null when
 * name order is number order. Such a clip's frames are not in time order.
 */
export function nameOrderInversion(names: readonly string[]): [string, string] | null {
  for (let i = 1; i < names.length; i++) {
    const nums = differingNumbers(names[i - 1]!, names[i]!);
    if (nums && compareDigitRuns(nums.first, nums.second) > 0) return [names[i - 1]!, names[i]!];
  }
  return null;
}
