import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FileIoError } from '../errors.js';
import { ensureDir, isUnwritableDisk, writeFileAtomic, writeJsonAtomic } from './fs.js';

/**
 * What cached vectors depend on besides the input content. Two runs share entries only if all fields match.
 * `model` must identify the weights by content (e.g. `fingerprintFiles` of the model files), not by path:
 * replacing a model file in place then gives new entries instead of stale ones.
 */
export interface FeatureNamespace {
  /** Content fingerprint of the model (weights, tokenizer) or teacher. */
  model: string;
  dtype: string;
  preprocess: string;
  /** Anything else that changes the vectors (a frame-decoding recipe, an instruction). */
  extra?: string;
}

const MAGIC = [0x56, 0x4c, 0x46, 0x43, 0x02, 0, 0, 0]; // 'VLFC', version 2
/** Version 1 summed the values alone, so an entry copied under another key passed its check. */
const MAGIC_V1 = [0x56, 0x4c, 0x46, 0x43, 0x01, 0, 0, 0];
const HEADER = 32;

/**
 * On-disk vector cache (encoder features, teacher targets): one file per item at
 * `<dir>/<namespace hash>/<key[0:2]>/<key>.f32`, written atomically. Each entry carries a header with its
 * dimension and a SHA-256 of its namespace, its key and its values (`entrySum`), verified on every read: a damaged
 * entry (flipped bits, truncation, another format) or one moved or copied to another key or namespace (two images'
 * entries swapped) is counted in `corrupt`, reported through `onCorrupt` and treated as missing, so the caller
 * recomputes and overwrites it instead of using it. An entry of the first format (values summed alone) is treated as
 * missing and rewritten.
 */
export class FeatureCache {
  readonly root: string;
  readonly namespace: FeatureNamespace;
  /** The namespace's hash: the folder under `dir`, and part of every entry's checksum. */
  private readonly id: string;
  /** Entries that failed their check since construction. */
  corrupt = 0;
  private readonly onCorrupt: ((file: string, reason: string) => void) | undefined;

  constructor(options: {
    dir: string;
    namespace: FeatureNamespace;
    onCorrupt?: (file: string, reason: string) => void;
  }) {
    const ns = options.namespace;
    for (const k of ['model', 'dtype', 'preprocess'] as const) {
      if (typeof ns[k] !== 'string' || !ns[k])
        throw new TypeError(`FeatureCache: namespace.${k} must be a non-empty string`);
    }
    this.namespace = ns;
    this.onCorrupt = options.onCorrupt;
    const id = createHash('sha256')
      .update(JSON.stringify([ns.model, ns.dtype, ns.preprocess, ns.extra ?? '']))
      .digest('hex')
      .slice(0, 16);
    this.id = id;
    this.root = join(options.dir, id);
    ensureDir(this.root);
    const meta = join(this.root, 'namespace.json');
    if (!existsSync(meta)) writeJsonAtomic(meta, ns);
  }

  private path(key: string): string {
    if (!/^[0-9a-f]{8,128}$/.test(key))
      throw new RangeError(`FeatureCache key must be 8–128 lowercase hex digits, got '${key}'`);
    return join(this.root, key.slice(0, 2), `${key}.f32`);
  }

  /**
   * The cached vector, or undefined when absent or damaged (or of another dimension than `dim`). Without `dim`, the
   * entry's own (it is stored, and checked by the checksum as the values are).
   */
  get(key: string, dim?: number): Float32Array | undefined {
    const r = this.read(key, dim);
    if (typeof r !== 'string') return r;
    this.corrupt++;
    this.onCorrupt?.(this.path(key), r);
    return undefined;
  }

  /** The entry of `key`: its vector, undefined (absent, or of the format before checksums), or why it is damaged. */
  private read(key: string, dim: number | undefined): Float32Array | string | undefined {
    const p = this.path(key);
    let buf: Buffer;
    try {
      buf = readFileSync(p);
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return undefined;
      throw new FileIoError({ file: p, operation: 'read the cache entry', cause: error });
    }
    if (buf.length >= HEADER && MAGIC_V1.every((b, i) => buf[i] === b)) return undefined; // rewritten by the caller
    if (buf.length < HEADER || !MAGIC.every((b, i) => buf[i] === b)) return 'not a vlfer cache entry (bad header)';
    const stored = buf.readUInt32LE(8);
    if (dim !== undefined && stored !== dim) return `holds a ${stored}-d vector, expected ${dim}-d`;
    if (buf.length !== HEADER + 4 * stored) return `is ${buf.length} bytes, expected ${HEADER + 4 * stored}`;
    const body = buf.subarray(HEADER);
    if (!this.entrySum(key, body).equals(buf.subarray(16, 32)))
      return "checksum mismatch (the values were changed on disk, or the entry is another key's)";
    return new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  }

  /** The first 16 bytes of SHA-256(namespace hash, key, values): what binds an entry to its place. */
  private entrySum(key: string, body: Uint8Array): Buffer {
    return createHash('sha256').update(`${this.id}\0${key}\0`).update(body).digest().subarray(0, 16);
  }

  /**
   * Store a vector (atomic write) unless a sound entry of `key` is there already, and return what the cache holds:
   * of runs sharing a cache that compute one entry at once, the first keeps it and all use it (a teacher whose
   * answers vary in their last digits wrote a mix of two runs' answers, and neither run could be resumed on them).
   * A damaged entry, or one of another dimension, is replaced.
   */
  set(key: string, vector: Float32Array): Float32Array {
    const body = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
    const out = Buffer.alloc(HEADER + body.length);
    Buffer.from(MAGIC).copy(out, 0);
    out.writeUInt32LE(vector.length, 8);
    this.entrySum(key, body).copy(out, 16);
    body.copy(out, HEADER);
    if (this.write(key, out, true)) return vector;
    const held = this.read(key, vector.length);
    if (held instanceof Float32Array) return held;
    this.write(key, out, false);
    return vector;
  }

  /** Write an entry's bytes (`exclusive`: only where none is). @returns whether it wrote */
  private write(key: string, out: Buffer, exclusive: boolean): boolean {
    // not fsynced: an entry lost or emptied by a power cut fails its check and is recomputed
    try {
      return writeFileAtomic(this.path(key), out, { durable: false, exclusive });
    } catch (error) {
      // a read-only or full cache disk: say what can be done (the run's results do not need the cache)
      if (isUnwritableDisk(error))
        throw new FileIoError({
          file: error.file,
          operation: 'write the feature cache entry',
          cause: Object.assign(
            new Error(
              `${(error.cause as Error).message}; make the cache folder ${this.root} writable or free space there, or give the run another cache folder (exp-clip: or --no-cache)`,
            ),
            { code: error.code },
          ),
        });
      throw error;
    }
  }

  /** Remove an entry (absent: nothing to do); the next `get` of `key` misses. */
  delete(key: string): void {
    rmSync(this.path(key), { force: true });
  }
}
