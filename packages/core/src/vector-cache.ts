import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from './atomic-write.js';
import { DataFormatError } from './errors.js';

/** What cached vectors depend on besides the input content. Two runs share entries only if all fields match. */
export interface FeatureNamespace {
  modelId: string;
  dtype: string;
  preprocess: string;
  /** Anything else that changes the features (e.g. a frame-decoding recipe). */
  extra?: string;
}

/**
 * On-disk vector cache (encoder features, teacher targets): one little-endian float32 file per item at
 * `<dir>/<namespace hash>/<key[0:2]>/<key>.f32`, written atomically (temp file + rename), so an interrupted
 * run leaves only complete entries and a rerun recomputes just what is missing.
 */
export class FeatureCache {
  readonly root: string;
  readonly namespace: FeatureNamespace;

  constructor(options: { dir: string; namespace: FeatureNamespace }) {
    this.namespace = options.namespace;
    const ns = createHash('sha256').update(JSON.stringify([options.namespace.modelId, options.namespace.dtype, options.namespace.preprocess, options.namespace.extra ?? ''])).digest('hex').slice(0, 16);
    this.root = join(options.dir, ns);
    mkdirSync(this.root, { recursive: true });
    const meta = join(this.root, 'namespace.json');
    if (!existsSync(meta)) writeJsonAtomic(meta, options.namespace);
  }

  private path(key: string): string {
    if (!/^[0-9a-f]{8,}$/.test(key)) throw new RangeError(`FeatureCache key must be lowercase hex, got '${key}'`);
    return join(this.root, key.slice(0, 2), `${key}.f32`);
  }

  /** The cached vector, or undefined. @throws DataFormatError when a file has the wrong length */
  get(key: string, dim: number): Float32Array | undefined {
    const p = this.path(key);
    if (!existsSync(p)) return undefined;
    const buf = readFileSync(p);
    if (buf.byteLength !== dim * 4) throw new DataFormatError({ file: p, message: `cache entry holds ${buf.byteLength / 4} floats, expected ${dim}; delete it to recompute` });
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  }

  set(key: string, vector: Float32Array): void {
    writeFileAtomic(this.path(key), new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  }
}

/** SHA-256 (hex) of a file's content. */
export function hashFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** SHA-256 (hex) of bytes or of a UTF-8 string. */
export function hashBytes(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
