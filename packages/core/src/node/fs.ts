import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FileIoError } from '../errors.js';
import { decodeUtf8, hasUtf16Bom, utf16Error } from './lines.js';

/**
 * File writes that never leave a half-written file and whose errors name the file.
 *
 * Fault injection (for tests of the run machinery, never set in normal use): `VLFER_FAILPOINTS=write:N=CODE`
 * makes the N-th file write of the process fail with errno CODE (e.g. `write:3=ENOSPC`); `write:N+=CODE` fails
 * that write and every later one (a full disk stays full). `rename:N=CODE` and `unlink:N=CODE` do the same for
 * the renames and deletions of `renamePath`/`removePath` (used when a run's outputs are published); several
 * failpoints are separated by commas. Each kind has its own counter. `setWriteFailpoint`/`setFailpoint` do the
 * same in-process.
 */
export type FailpointKind = 'write' | 'rename' | 'unlink';
interface Failpoint {
  at: number;
  code: string;
  sticky: boolean;
}
const counts: Record<FailpointKind, number> = { write: 0, rename: 0, unlink: 0 };
const failpoints: Partial<Record<FailpointKind, Failpoint>> = parseFailpoints(process.env.VLFER_FAILPOINTS);

function parseFailpoints(spec: string | undefined): Partial<Record<FailpointKind, Failpoint>> {
  const out: Partial<Record<FailpointKind, Failpoint>> = {};
  if (!spec) return out;
  for (const part of spec.split(',')) {
    const m = /^(write|rename|unlink):(\d+)(\+?)=([A-Z]+)$/.exec(part.trim());
    if (!m)
      throw new Error(
        `VLFER_FAILPOINTS='${spec}': '${part}' is not of the form KIND:N=CODE or KIND:N+=CODE (KIND: write, rename, unlink)`,
      );
    out[m[1] as FailpointKind] = { at: Number(m[2]), code: m[4]!, sticky: m[3] === '+' };
  }
  return out;
}

/** In-process fault injection: the `at`-th operation of `kind` from now fails with `code` (and every later one when sticky). */
export function setFailpoint(
  kind: FailpointKind,
  spec: { at: number; code: string; sticky?: boolean } | undefined,
): void {
  counts[kind] = 0;
  if (spec) failpoints[kind] = { at: spec.at, code: spec.code, sticky: spec.sticky ?? false };
  else delete failpoints[kind];
}

/** In-process fault injection for file writes: `setFailpoint('write', spec)`. */
export function setWriteFailpoint(spec: { at: number; code: string; sticky?: boolean } | undefined): void {
  setFailpoint('write', spec);
}

/** How many operations of `kind` ran since the failpoint of that kind was last set (for tests that loop over them). */
export function failpointCount(kind: FailpointKind): number {
  return counts[kind];
}

function countOp(kind: FailpointKind, file: string): void {
  const n = ++counts[kind];
  const f = failpoints[kind];
  if (f && (n === f.at || (f.sticky && n > f.at))) {
    const e = Object.assign(new Error(`${f.code}: injected failure (VLFER_FAILPOINTS), ${kind} '${file}'`), {
      code: f.code,
    });
    throw e;
  }
}

function countWrite(file: string): void {
  countOp('write', file);
}

/** Rename `from` to `to` (atomic on POSIX within a file system). @throws FileIoError naming both */
export function renamePath(from: string, to: string): void {
  try {
    countOp('rename', to);
    renameSync(from, to);
  } catch (error) {
    throw new FileIoError({ file: to, operation: `move ${from} to`, cause: error });
  }
}

/** Delete a file if it exists. @throws FileIoError naming it */
export function removePath(path: string): void {
  try {
    countOp('unlink', path);
    rmSync(path, { force: true });
  } catch (error) {
    throw new FileIoError({ file: path, operation: 'delete', cause: error });
  }
}

/** fsync a directory so a rename inside it is durable (a no-op where directories cannot be opened). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on directories (EINVAL/EISDIR); the rename is then as durable as it gets
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Create a directory (and its parents), naming it on failure. The missing directories are made one at a time from
 * the nearest existing one: Node's `mkdirSync(…, { recursive: true })` never returns where mkdir answers ENOENT
 * under an existing directory (`/proc/x`), and a run would hang there.
 */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  try {
    for (const d of missing.reverse()) {
      try {
        mkdirSync(d);
      } catch (error) {
        // made meanwhile by another process (two runs sharing a cache): as good as made here
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw error;
      }
    }
    if (!missing.length && !statSync(dir).isDirectory()) mkdirSync(dir); // a file there: mkdir's own EEXIST names it
  } catch (error) {
    throw new FileIoError({ file: dir, operation: 'create directory', cause: error });
  }
}

/**
 * Write a file so that readers never see it half-written: write `.<name>.<pid>.<rand>.tmp` in the same
 * directory, fsync it, rename it over the target (atomic on POSIX file systems), fsync the directory.
 * Parent directories are created. With `durable: false` the fsyncs are skipped (still atomic against a crashed
 * process; after a power loss the file may be empty, which suits checksummed caches that recompute such entries).
 * @returns whether it wrote: false only for an `exclusive` write that found a file at `path`
 * @throws FileIoError naming `path` (not the temp file) on any I/O error
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  /**
   * `exclusive`: publish only where no file is at `path` (a hard link of the temp file, which fails on one there):
   * of processes writing one cache entry at once, the first keeps its content and the others read it
   */
  options: { durable?: boolean; exclusive?: boolean } = {},
): boolean {
  const durable = options.durable ?? true;
  const dir = dirname(path);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let written: boolean;
  for (let attempt = 0; ; attempt++) {
    ensureDir(dir);
    try {
      if (attempt === 0) countWrite(path);
      written = writeTempAndRename(path, bytes, durable, options.exclusive ?? false);
      break;
    } catch (error) {
      // the folder removed meanwhile (a cache cleared by hand while a run writes into it): made again, once
      // (made again by another run sharing the cache meanwhile, or still missing: ensureDir above either way)
      if (attempt === 0 && (error as { code?: string }).code === 'ENOENT') continue;
      throw new FileIoError({ file: path, operation: 'write', cause: error });
    }
  }
  if (durable && written) fsyncDir(dir);
  return written;
}

/** Where a file system has no hard links (FAT, some network and FUSE mounts): `exclusive` checks, then renames. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** Publish the temp file at `path`: renamed over it, or (`exclusive`) linked there unless a file is there already. */
function publishTemp(tmp: string, path: string, exclusive: boolean): boolean {
  if (!exclusive) {
    renameSync(tmp, path);
    return true;
  }
  try {
    linkSync(tmp, path);
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
    if (existsSync(path)) return false;
    renameSync(tmp, path);
    return true;
  }
  rmSync(tmp, { force: true });
  return true;
}

/**
 * Write `bytes` to a fresh temp file beside `path`, fsync it (`durable`) and publish it at `path` (`publishTemp`);
 * the temp file is removed on failure, and when an exclusive write finds a file there. @returns whether it wrote
 */
function writeTempAndRename(path: string, bytes: Uint8Array, durable: boolean, exclusive: boolean): boolean {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    const written = publishTemp(tmp, path, exclusive);
    if (!written) rmSync(tmp, { force: true });
    return written;
  } catch (error) {
    if (fd !== undefined)
      try {
        closeSync(fd);
      } catch {
        /* already failing; the write error is reported */
      }
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* the folder itself is gone or no folder: the write error says why */
    }
    throw error;
  }
}

/**
 * Whether `error` is a FileIoError of a folder that cannot be written (read-only, no permission, full, over quota):
 * what a cache may say instead of stopping a run whose results do not need it.
 */
export function isUnwritableDisk(error: unknown): error is FileIoError {
  return error instanceof FileIoError && ['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT'].includes(error.code ?? '');
}

/** `writeFileAtomic` for JSON with 2-space indentation and a trailing newline. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Append one line to a log file (created if missing). Not fsynced: a crash can tear the last line, which
 * `readJsonLines` repairs. @throws FileIoError naming `path`
 */
export function appendLine(path: string, line: string): void {
  try {
    countWrite(path);
    appendFileSync(path, line.endsWith('\n') ? line : `${line}\n`);
  } catch (error) {
    throw new FileIoError({ file: path, operation: 'append to', cause: error });
  }
}

/**
 * Read a UTF-8 text file, naming it and `what` it should be on failure. A UTF-8 byte-order mark (Windows editors and
 * Excel write one) is dropped. At most 512 MiB (one JavaScript string): `forEachLine` reads larger files line by line.
 * @throws DataFormatError for a UTF-16 file (`utf16Error`: a UTF-16 byte-order mark, or NUL bytes), which decoded as
 *   UTF-8 is garbage that no parser names, and for a file too large for one string; FileIoError when it cannot be read
 */
export function readTextFile(path: string, what = 'file'): string {
  const bytes = readBytesFile(path, what);
  const bom = hasUtf16Bom(bytes);
  if (bom || bytes.includes(0)) throw utf16Error(path, what, bom);
  const text = decodeUtf8(bytes, path, what);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Read a file's bytes, naming it and `what` it should be on failure (at most 2 GiB: `readFileSync`'s limit). */
export function readBytesFile(path: string, what = 'file'): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new FileIoError({ file: path, operation: `read the ${what}`, cause: error });
  }
}

/**
 * Write a file in place and fsync it (for files inside a private staging directory, renamed into place later).
 * @param displayName the path named in errors (the final location)
 */
export function writeFileDurable(path: string, data: string | Uint8Array, displayName = path): void {
  let fd: number | undefined;
  try {
    countWrite(displayName);
    ensureDir(dirname(path));
    fd = openSync(path, 'w');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (error) {
    throw new FileIoError({ file: displayName, operation: 'write', cause: error });
  } finally {
    if (fd !== undefined)
      try {
        closeSync(fd);
      } catch {
        /* the write error, if any, is what gets reported */
      }
  }
}
