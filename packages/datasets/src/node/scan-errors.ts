import { existsSync, lstatSync, readdirSync, readlinkSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { DataFormatError, InvalidArgumentError, quoteInput } from '@vlfer/core';

/**
 * What a file-system error code means for a path met while scanning a dataset, in words (instead of raw
 * `ELOOP: too many symbolic links encountered, stat '…'`).
 */
export function explainFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return danglingLinkTarget(e.path) === undefined
        ? `does not exist${missingPathNote(e.path)}`
        : `is a dangling symbolic link (its target ${quoteInput(danglingLinkTarget(e.path)!)} does not exist)`;
    case 'ELOOP':
      return 'is a symbolic link loop (following its links never reaches a file or directory)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: this user may not read it (check its permissions and those of its directories)';
    case 'ENOTDIR':
      return 'is not a directory (a path component is a file)';
    case 'ENAMETOOLONG':
      return 'has a name longer than the file system allows';
    case 'EIO':
      return 'could not be read (input/output error: a damaged disk or a lost network mount)';
    default:
      return `could not be read (${e?.code ? `${e.code}: ` : ''}${String(e?.message ?? error).slice(0, 200)})`;
  }
}

/**
 * Why a missing path may be there after all: a name that is not UTF-8 on the disk, or
 * where a missing path exists spelt in the other Unicode normalization form (macOS writes names decomposed, NFD; a
 * list typed or made on Linux or Windows has them composed, NFC: the same letters, other bytes), a note saying so.
 */
function missingPathNote(path: string | undefined): string {
  if (!path) return '';
  // a name listed from the disk that is not UTF-8 (Latin-1 from an old zip) reads with U+FFFD, a name no file has
  if (path.includes('\uFFFD'))
    return ' as read: a name on the path is not valid UTF-8 (its bytes read as �, e.g. Latin-1 names from an old zip); rename it in UTF-8 (e.g. `convmv -f latin1 -t utf8 -r --notest <folder>`)';
  const other = otherNormalizationForm(path);
  if (!other) return '';
  const { form } = other;
  const said =
    form === 'mixed'
      ? 'the same names with some in Unicode NFC form (composed) and some in NFD (decomposed, as macOS writes names)'
      : `the same name in Unicode ${form} form (${form === 'NFD' ? 'decomposed, as macOS writes names' : 'composed'})`;
  return ` as spelt, but ${quoteInput(other.path)}, ${said}, does: rename the file or the entry`;
}

/**
 * `path` as it exists with some of its names in the other Unicode normalization form, found name by name below the
 * deepest folder that exists as spelt (the folders above may be in either form: normalizing the whole path rewrote a
 * parent such as /home/jürgen into a path that does not exist), or undefined; `form` is 'mixed' where names were
 * found in both forms (a folder in NFC holding a file in NFD, listed the other way round).
 */
function otherNormalizationForm(path: string): { path: string; form: 'NFC' | 'NFD' | 'mixed' } | undefined {
  const parts = path.split(sep);
  const at = (n: number) => parts.slice(0, n).join(sep) || (parts[0] === '' ? sep : '.');
  let k = parts.length;
  while (k > 1 && !existsSync(at(k))) k--;
  let found = k === 1 && !existsSync(at(1)) ? '' : at(k);
  let form: 'NFC' | 'NFD' | 'mixed' | undefined;
  for (const name of parts.slice(found === '' ? 0 : k)) {
    const next = ([[name], [name.normalize('NFC'), 'NFC'], [name.normalize('NFD'), 'NFD']] as const)
      .map(([n, f]) => [found === '' ? n : join(found, n), n === name ? undefined : f] as const)
      .find(([p]) => existsSync(p));
    if (next === undefined) return undefined;
    found = next[0];
    if (next[1]) form = form === undefined || form === next[1] ? next[1] : 'mixed';
  }
  return form ? { path: found, form } : undefined;
}

/** The target of `path` when `path` itself is a symbolic link (whose target is then what is missing), else undefined. */
function danglingLinkTarget(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined; // nothing at all at this path
  }
}

/**
 * Check that a dataset root given by the caller is an existing directory, before anything is read under it (a
 * mistyped root would otherwise surface as a missing image or frame directory).
 * @param argument the option that holds it (`root`, `imageRoot`) @param functionName the function it was passed to
 * @throws InvalidArgumentError naming the option and the path: it does not exist, is a dangling link, is no directory
 */
export function checkRootDir(root: string, argument: string, functionName: string): void {
  let why: string | undefined;
  try {
    if (!statSync(root).isDirectory()) why = 'is not a directory';
  } catch (error) {
    why = explainFsError(error);
  }
  if (why)
    throw new InvalidArgumentError({
      functionName,
      argument,
      message: `the root ${quoteInput(resolve(root))} ${why}`,
    });
}

/** `statSync` of a path met while scanning `what`; errors name the path and say what the code means. */
export function statForScan(path: string, what: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    throw new DataFormatError({ file: path, message: `${what} ${explainFsError(error)}`, cause: error });
  }
}

/**
 * `readdirSync` of a directory met while scanning, each entry with its type (no stat per entry: a link's type is its
 * own); errors name the directory, say what the code means and add `expected` (what the directory should hold).
 */
export function readDirEntriesForScan(dir: string, what: string, expected = ''): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    throw new DataFormatError({
      file: dir,
      message: `${what} ${explainFsError(error)}${expected ? `; ${expected}` : ''}`,
      cause: error,
    });
  }
}

/** The entry names of {@link readDirEntriesForScan}. */
export function readDirForScan(dir: string, what: string, expected = ''): string[] {
  return readDirEntriesForScan(dir, what, expected).map((e) => e.name);
}
