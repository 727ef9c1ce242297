import { DataFormatError } from '@vlfer/core';

/**
 * Paths written in annotation files (AffectNet `subDirectory_filePath`, FERPlus `Image name`, RAF-DB image names,
 * video-list frame directories), normalised before they are compared or read:
 *
 * - POSIX normalisation: empty and `.` segments are removed and `..` cancels the segment before it, so
 *   `1/./x.jpg`, `1//x.jpg` and `1/y/../x.jpg` are all `1/x.jpg`, and `./frames/a/`, `frames/a/.` are `frames/a`.
 *   Duplicates are found on the normalised path (one image spelled two ways is one image).
 * - Backslashes are refused: the lists are POSIX paths (the official AffectNet, FERPlus, RAF-DB and DFEW/MAFW lists
 *   use `/`), and on Linux `a\b.jpg` is a file name, not a folder, so reading it either way could be wrong.
 * - A path that leaves its root (`../outside/secret.jpg`, `a/../../x`) is refused, naming the file, line and path,
 *   unless `allowOutsideRoot` (then its `..` segments are kept). Absolute paths: see `absolute`.
 *
 * The check is lexical: a symbolic link inside the root that points elsewhere is followed (data folders are often
 * assembled from links); the root is a boundary for what an annotation file can name, not a sandbox.
 */
export interface ListedPathOptions {
  file: string;
  line: number;
  field: string;
  /** What the path is relative to, for messages (e.g. "the image root"). */
  root: string;
  /** Keep paths that leave the root (`..` beyond the start). @default false */
  allowOutsideRoot?: boolean;
  /** Whether an absolute path is allowed (video lists; the loader then checks it lies under the root). @default false */
  absolute?: boolean;
}

const hint = 'pass allowOutsideRoot: true (CLI --allow-outside-root) if the list really points outside';

/** The normalised form of a listed path (see `ListedPathOptions`). @throws DataFormatError naming file, line, field */
export function normalizeListedPath(raw: string, o: ListedPathOptions): string {
  const shown = raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
  const fail = (message: string) => new DataFormatError({ file: o.file, line: o.line, field: o.field, message });
  if (raw.includes('\\'))
    throw fail(`'${shown}' contains a backslash; write paths with '/' (annotation lists are POSIX paths)`);
  if (raw.includes('\0')) throw fail(`'${shown.replaceAll('\0', '\\0')}' contains a NUL character`);
  const absolute = raw.startsWith('/');
  if (absolute && !o.absolute) throw fail(`'${shown}' is an absolute path; expected a path relative to ${o.root}`);
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (absolute)
        continue; // '/..' is '/'
      else if (o.allowOutsideRoot) out.push('..');
      else throw fail(`'${shown}' leaves ${o.root}; paths in the list must stay inside it (${hint})`);
    } else out.push(seg);
  }
  if (out.length === 0)
    throw fail(`'${shown}' names ${absolute ? 'the file-system root' : o.root} itself, not a file or folder in it`);
  return `${absolute ? '/' : ''}${out.join('/')}`;
}

/** The message for a path the loader found outside its root (absolute, or reached through `root`). */
export function outsideRootMessage(path: string, root: string): string {
  return `'${path.length > 200 ? `${path.slice(0, 200)}…` : path}' is outside the root '${root}'; paths in the list must stay inside it (map the authors' absolute paths with rebase: { from, to } (CLI --rebase <from>=<to>), give the folder that holds the data as root, --root, or ${hint})`;
}
