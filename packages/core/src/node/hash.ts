import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileIoError } from '../errors.js';
import { isUnwritableDisk, readTextFile, writeJsonAtomic } from './fs.js';

/** SHA-256 (hex) of bytes or of a UTF-8 string. */
export function hashBytes(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The read buffer of `hashFile`, made once: a fresh 4 MiB per file was most of the cost of hashing small frames. */
let hashBuffer: Buffer | undefined;

/** SHA-256 (hex) of a file's content, read in 4 MiB chunks. @throws FileIoError naming the file */
export function hashFile(path: string): string {
  const h = createHash('sha256');
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    // (synchronous throughout: no other call can use the buffer meanwhile)
    const buf = (hashBuffer ??= Buffer.allocUnsafe(4 << 20));
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } catch (error) {
    throw new FileIoError({ file: path, operation: 'hash', cause: error });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * Content hashes by file state: `fileStateKey` → SHA-256. A file's entry is found again only while its real path,
 * size, mtime, inode and ctime are the same, so a file rewritten or replaced in place (even with its size, mtime and
 * inode restored: only the kernel sets ctime) is hashed again. Keep one for a process to hash each file once.
 */
export type FileHashIndex = Map<string, string>;

/**
 * The state of a file that keys its hash (`hashFileIndexed`, `fingerprintFiles`) and tells that it is still the file
 * read earlier: real path, size, mtime, inode, ctime (nanoseconds).
 * @throws FileIoError naming the file when it cannot be stat'ed (absent, unreadable folder)
 */
export function fileStateKey(path: string): string {
  try {
    const st = statSync(path, { bigint: true });
    // ctime too: `cp -p`/`touch -r` can restore size, mtime and inode, but nothing but the kernel sets ctime
    // (the C library's realpath: one call, where Node's JS one lstats every component of every frame's path)
    return `${realpathSync.native(path)}|${st.size}|${st.mtimeNs}|${st.ino}|${st.ctimeNs}`;
  } catch (error) {
    throw new FileIoError({ file: path, operation: 'read', cause: error });
  }
}

/**
 * SHA-256 (hex) of a file's content, from `index` when the file is in the state it was hashed in (`FileHashIndex`),
 * else read (`hashFile`) and remembered there.
 * @throws FileIoError naming the file
 */
export function hashFileIndexed(path: string, index: FileHashIndex): string {
  const key = fileStateKey(path);
  let digest = index.get(key);
  if (digest === undefined) {
    digest = hashFile(path);
    index.set(key, digest);
  }
  return digest;
}

/**
 * A content fingerprint of files (model weights, tokenizer, configs): SHA-256 over each file's name and content
 * hash. Hashing a large model takes seconds, so each file's hash is remembered in `<indexDir>/fingerprints.json`
 * by real path + size + mtime + inode + ctime (nanoseconds); a file replaced or rewritten in place is hashed again,
 * even when its size, mtime and inode were kept (`cp -p` over it: only the kernel sets ctime). Without `indexDir`
 * every file is hashed. The index is merged with what other processes saved meanwhile (runs sharing a cache folder)
 * and keeps the last `FINGERPRINT_INDEX_ENTRIES` entries saved.
 * @param files `{ name: path }`; the names (e.g. `onnx/vision_model.onnx`) enter the fingerprint, so the same
 *   bytes under another role give another fingerprint
 */
export function fingerprintFiles(files: Readonly<Record<string, string>>, options: { indexDir?: string } = {}): string {
  const indexPath = options.indexDir ? join(options.indexDir, 'fingerprints.json') : undefined;
  const index = indexPath ? readFingerprintIndex(indexPath) : new Map<string, string>();
  const added = new Map<string, string>();
  const h = createHash('sha256');
  for (const name of Object.keys(files).sort()) {
    const path = files[name]!;
    const key = fileStateKey(path);
    let digest = index.get(key);
    if (digest === undefined) {
      digest = hashFile(path);
      added.set(key, digest);
    }
    h.update(`${name}\0${digest}\n`);
  }
  if (indexPath && added.size > 0) saveFingerprintIndex(indexPath, added);
  return h.digest('hex');
}

/**
 * The saved hash index (`fileStateKey` → SHA-256): empty where it is absent or cannot be read for its permissions
 * (as an unwritable one: the index only spares hashing), rebuilt where it is damaged (not UTF-8 JSON, not an object);
 * an entry that is not a SHA-256 is dropped. @throws FileIoError for other read failures (EIO, a folder)
 */
function readFingerprintIndex(indexPath: string): Map<string, string> {
  const index = new Map<string, string>();
  let value: unknown;
  try {
    value = JSON.parse(readTextFile(indexPath, 'fingerprint index'));
  } catch (error) {
    if (error instanceof FileIoError && error.code !== 'ENOENT' && !isUnwritableDisk(error)) throw error;
    return index; // absent, unreadable or damaged: rebuilt from the files hashed now
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return index;
  for (const [key, digest] of Object.entries(value)) {
    if (typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest)) index.set(key, digest);
  }
  return index;
}

/**
 * The most entries the index keeps (the oldest saved go first). Entries of files rewritten since stay until then: one
 * of another machine sharing the cache folder, whose copy of a model at the same path has another inode and ctime,
 * looks the same from here, and dropping it made each machine hash its model again at every run.
 */
export const FINGERPRINT_INDEX_ENTRIES = 4096;

/**
 * Save `added` into the index as it is on disk now (another process sharing the cache folder may have saved its own
 * entries since this one read it), `added` last, at most `FINGERPRINT_INDEX_ENTRIES` (the oldest dropped). Two
 * processes saving at the same instant can still lose one's entries, which only costs hashing those files again.
 * Where the folder cannot be written (a read-only or full cache disk) the index is left as it was: the fingerprint is
 * exact either way (a read-only cache that holds every feature served a run whose fingerprint index lacked the model
 * files' state until the write stopped it).
 */
function saveFingerprintIndex(indexPath: string, added: ReadonlyMap<string, string>): void {
  const entries = [...readFingerprintIndex(indexPath)].filter(([key]) => !added.has(key)).concat([...added]);
  const merged = Object.fromEntries(entries.slice(-FINGERPRINT_INDEX_ENTRIES));
  try {
    writeJsonAtomic(indexPath, merged);
  } catch (error) {
    if (!isUnwritableDisk(error)) throw error;
  }
}
