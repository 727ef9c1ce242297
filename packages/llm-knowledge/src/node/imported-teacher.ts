import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve, sep } from 'node:path';
import { DataFormatError, quoteInput, textLines } from '@vlfer/core';
import { forEachJsonLine, hashBytes, hashFile, readBytesFile, readTextFile } from '@vlfer/core/node';
import { validateTarget, type Teacher } from '../teacher.js';
import {
  BEYOND_FLOAT32,
  beyondFloat32,
  bytesSource,
  forEachMatrixRow,
  npyLayout,
  safetensorsLayout,
  withFileSource,
  type ByteSource,
  type MatrixLayout,
} from './target-matrix.js';

/**
 * Targets computed elsewhere (e.g. by the reference BLIP-2 extraction on a GPU machine) and imported.
 *
 * How the reference defines a target (Exp-CLIP `models/BLIP2_T5.py`): the image, resized to 224×224 bilinear and
 * scaled to [0,1] with no normalisation, goes through BLIP-2 `pretrain_flant5xxl` (EVA ViT-g → ln_vision →
 * Q-Former, 32 queries → t5_proj, 4096-d); the 32 query embeddings are concatenated with the T5 token embeddings
 * of the instruction (tokenised with `</s>`), the FlanT5-XXL encoder runs once, its final layer norm output at all
 * 32 + L positions is mean-pooled (no mask) and L2-normalised: one 4096-d vector per image, same instruction for all.
 *
 * Accepted files:
 * - `.npy`: float32/float16/float64 `[N, E]`, C order, with `keys` — a text file of N image paths, one per line;
 * - `.safetensors`: tensor `targets` `[N, E]`, image paths in `__metadata__.paths` (JSON array) or in `keys`;
 * - `.jsonl`: one `{"path": "...", "embedding": [...]}` per line.
 * Relative paths are resolved against `root` (default: the folder of `file`; `trainHead` passes its image set's
 * folder). Lookup is by absolute path, then by file name when unique.
 * Every target is validated on import (finite, non-zero, one dimension for all), naming the file and row.
 */
export interface ImportedTargetsOptions {
  file: string;
  keys?: string;
  /** Directory relative image paths are resolved against. @default the directory of `file` */
  root?: string;
}

/**
 * Parse a NumPy `.npy` file holding a 2-D little-endian float array (bounds-checked: any input ends in a result
 * or a DataFormatError naming `file`). @returns dims [N, E] and the values as float32
 */
export function parseNpy(bytes: Uint8Array, file: string): { dims: [number, number]; data: Float32Array } {
  const src = bytesSource(bytes, file);
  return matrixOf(src, npyLayout(src));
}

/** Every row of the matrix at `layout` in one float32 array `[N·E]`. */
function matrixOf(src: ByteSource, layout: MatrixLayout): { dims: [number, number]; data: Float32Array } {
  const e = layout.dims[1];
  const data = new Float32Array(layout.dims[0] * e);
  forEachMatrixRow(src, layout, (row, i) => data.set(row, i * e));
  return { dims: layout.dims, data };
}

/** The image paths of a keys file, one per non-blank line, and the 1-based file line of each (for messages). */
function readKeyLines(file: string): { keys: string[]; lines: number[] } {
  const keys: string[] = [];
  const lines: number[] = [];
  // (a byte-order mark dropped, a UTF-16 file named as one, by readTextFile)
  textLines(readTextFile(file, 'keys file')).forEach((l, i) => {
    const key = l.trim();
    if (!key) return;
    keys.push(key);
    lines.push(i + 1);
  });
  return { keys, lines };
}

/**
 * Imported targets by absolute image path (relative keys resolved against `root`), each validated on `add`
 * (finite, non-zero, one dimension for all; a key listed twice is an error naming the row).
 */
export class TargetTable {
  readonly byPath = new Map<string, Float32Array>();
  /** The row (or line) each absolute key came from, for messages. */
  private readonly rowOf = new Map<string, number>();
  /** Which image took each key's target, and whether by its file name: one row is one image's. */
  private readonly claimed = new Map<string, { image: string; byName: boolean }>();
  /**
   * Keys that may be matched by file name: bare file names and absolute paths (written on another machine, or files
   * moved since, as face crops in another cache folder). A relative key with a folder names one file under `root`.
   */
  private readonly byNameKeys = new Set<string>();
  dim: number | undefined;
  constructor(
    readonly file: string,
    readonly root: string,
    /** The file the image paths came from, when not `file` (the keys of a `.npy`): named for a bad or repeated path. */
    readonly keysFile: string = file,
  ) {}

  /**
   * @param row the target's 1-based row in `file` (a JSON-lines file: its line)
   * @param keyLine the key's line in `keysFile` where that is another file (blank lines skipped there)
   */
  add(key: string, v: Float32Array, row: number, keyLine = row): void {
    const { file } = this;
    const keys = this.keysFile;
    if (typeof key !== 'string' || !key)
      throw new DataFormatError({ file: keys, line: keyLine, message: 'expected a non-empty image path' });
    validateTarget(v, {
      item: key,
      line: row,
      teacher: file,
      ...(this.dim !== undefined ? { dim: this.dim } : {}),
    });
    this.dim ??= v.length;
    // resolved (and so normalised: `a/./x.jpg`, `a//x.jpg`) whether relative or absolute, so that one image is one key
    const abs = resolve(this.root, key);
    if (this.byPath.has(abs))
      throw new DataFormatError({
        file: keys,
        line: keyLine,
        ...(keys === file ? { field: 'path' } : {}),
        message: `'${key}' has a target already (listed twice)`,
      });
    this.byPath.set(abs, v);
    this.rowOf.set(abs, keyLine);
    if (!/[\\/]/.test(key) || isAbsolute(key)) this.byNameKeys.add(abs);
  }

  /**
   * The lookup of an image's target: by absolute path, then by file name when only one key that is a bare file name
   * or an absolute path has that name, and that key names no file here, or a file of the image's bytes (the same
   * image moved: face crops in another cache folder). A relative key with a folder names one file under `root` and is
   * that file's only (a `Happy/0007.png` key is never `Sad/0007.png`'s), and a key's row is one image's: a second
   * image that reaches it is an error naming both, since one of them would train on the other's target. The returned
   * function throws a DataFormatError naming an image without a target, or such a pair.
   */
  lookup(): (image: string) => Float32Array {
    const byName = new Map<string, string | null>(); // file name → its one such key, or null when several have it
    for (const p of this.byNameKeys) {
      const n = basename(p);
      byName.set(n, byName.has(n) ? null : p);
    }
    // Windows separators are part of a name here: said when a lookup fails
    const backslash =
      sep === '/' && [...this.byPath.keys()].some((p) => p.includes('\\'))
        ? "; some keys hold '\\', which is no path separator on this system: write them with '/'"
        : '';
    return (img) => {
      const exact = resolve(img);
      const named = this.byPath.has(exact) ? exact : byName.get(basename(exact));
      // a key that is another file here, of other bytes, is that file's (not this image's of the same name)
      const key = named && (named === exact || !existsSync(named) || sameBytes(named, exact)) ? named : undefined;
      if (!key) {
        // the same letters in the other Unicode form (macOS writes names decomposed): said, not matched
        const other = [exact.normalize('NFC'), exact.normalize('NFD')].find((p) => p !== exact && this.byPath.has(p));
        const form = other
          ? `; the key ${quoteInput(other)} is this path in Unicode ${other === exact.normalize('NFC') ? 'NFC (composed)' : 'NFD (decomposed, as macOS writes names)'} form: write the keys in the form of the file names`
          : '';
        throw new DataFormatError({
          file: this.file,
          message: `no target for image '${img}' (looked up by absolute path, relative paths of ${this.keysFile === this.file ? 'the file' : this.keysFile} taken from ${this.root}, and by unique file name among keys that are bare names or absolute paths, a key that is a file here holding the image's bytes)${backslash}${form}`,
        });
      }
      this.claim(key, exact, key !== exact);
      return this.byPath.get(key)!;
    };
  }

  /** Records that `image` takes `key`'s target. @throws DataFormatError when another image took it already */
  private claim(key: string, image: string, byName: boolean): void {
    const first = this.claimed.get(key);
    if (!first) {
      this.claimed.set(key, { image, byName });
      return;
    }
    if (first.image === image) return;
    const why =
      first.byName && byName
        ? 'neither has a key of its own: both were matched by its file name'
        : `'${byName ? image : first.image}' has no key of its own and was matched by its file name`;
    throw new DataFormatError({
      file: this.keysFile,
      line: this.rowOf.get(key)!,
      message: `the target of '${key}' is reached by two images, '${first.image}' and '${image}': ${why}; list every image in ${this.keysFile === this.file ? 'the file' : 'the keys file'} by its path (relative to ${this.root})`,
    });
  }
}

/** Whether two files hold the same bytes (sizes first, then SHA-256). */
function sameBytes(a: string, b: string): boolean {
  try {
    return statSync(a).size === statSync(b).size && hashFile(a) === hashFile(b);
  } catch {
    return false; // one is unreadable: not shown to be the same image
  }
}

/** Adds the rows of a `.jsonl` targets file (`{"path": "...", "embedding": [...]}` per line) to `table`, in order. */
export function addJsonlTargets(file: string, table: TargetTable): void {
  // row by row as the file is read: a JSON-lines file of 4096-d targets passes 512 MiB (one string) at 6,000 images
  forEachJsonLine<{ path?: unknown; embedding?: unknown }>(
    file,
    (row, line) => {
      if (row === null || typeof row !== 'object')
        throw new DataFormatError({ file, line, message: 'expected {"path": ..., "embedding": [...]}' });
      if (typeof row.path !== 'string')
        throw new DataFormatError({ file, line, field: 'path', message: 'expected a string image path' });
      if (!Array.isArray(row.embedding) || !row.embedding.every((x) => typeof x === 'number'))
        throw new DataFormatError({
          file,
          line,
          field: 'embedding',
          message: 'expected an array of numbers (NaN/Infinity are not JSON)',
        });
      refuseBeyondFloat32(row.embedding as number[], { file, line, item: row.path });
      table.add(row.path, Float32Array.from(row.embedding as number[]), line);
    },
    { what: 'targets file' },
  );
}

/** Refuse a value `beyondFloat32`. @throws DataFormatError naming the file, the row and the value */
function refuseBeyondFloat32(values: ArrayLike<number>, where: { file: string; line: number; item: string }): void {
  for (let i = 0; i < values.length; i++)
    if (beyondFloat32(values[i]!))
      throw new DataFormatError({
        file: where.file,
        line: where.line,
        message: `the teacher target of '${where.item}' holds ${values[i]} at index ${i}, ${BEYOND_FLOAT32}`,
      });
}

/** The image paths of a safetensors targets file: `keys` when given, else the JSON array in `__metadata__.paths`. */
function safetensorsKeys(
  metadata: Record<string, string>,
  file: string,
  keysFile: string | undefined,
  root: string,
): { keys: string[]; keyLines?: number[] } {
  if (!keysFile) return { keys: metadataPaths(metadata, file) };
  const { keys, lines } = readKeyLines(keysFile);
  // two lists of paths for one file: the keys are used where the file's own list is none or names the same images
  // in the same order (spelt alike or not: ./a.png, an absolute path), else which row is whose would be a guess
  let own: unknown;
  try {
    own = JSON.parse(metadata.paths ?? '');
  } catch {
    own = undefined;
  }
  const same = (a: string, b: string) => resolve(root, a) === resolve(root, b);
  if (
    Array.isArray(own) &&
    own.length > 0 &&
    !(own.length === keys.length && keys.every((k, i) => same(k, `${own[i]}`)))
  )
    throw new DataFormatError({
      file: keysFile,
      message: `lists other image paths (or another order) than ${file}'s __metadata__.paths; give the keys once (drop keys: the file names its rows itself)`,
    });
  return { keys, keyLines: lines };
}

/** The JSON array of image paths in a safetensors targets file's `__metadata__.paths`. */
function metadataPaths(metadata: Record<string, string>, file: string): string[] {
  if (!metadata.paths)
    throw new DataFormatError({
      file,
      field: '__metadata__.paths',
      message: 'no image paths: put a JSON array in __metadata__.paths or pass `keys`',
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata.paths);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string'))
    throw new DataFormatError({ file, field: '__metadata__.paths', message: 'expected a JSON array of image paths' });
  return parsed as string[];
}

/**
 * The `[N, E]` targets of a `.npy` (with `keysFile`) or `.safetensors` file (tensor `targets`) and their N image
 * paths. @throws DataFormatError naming the file for another extension, a missing tensor or missing keys
 */
export function readTargetMatrix(
  bytes: Uint8Array,
  file: string,
  keysFile: string | undefined,
  /** the folder relative paths are taken from (to compare a keys file with a safetensors file's own paths) */
  root: string = dirname(file),
): { dims: number[]; data: Float32Array; keys: string[]; keyLines?: number[] } {
  const src = bytesSource(bytes, file);
  const { layout, keys, keyLines } = targetMatrixLayout(src, keysFile, root);
  return { ...matrixOf(src, layout), keys, ...(keyLines ? { keyLines } : {}) };
}

/**
 * The layout of a `.npy` (with `keysFile`) or `.safetensors` targets matrix and its N image paths, read from the
 * file's header only. @throws DataFormatError naming the file for another extension, a missing tensor or missing keys
 */
function targetMatrixLayout(
  src: ByteSource,
  keysFile: string | undefined,
  root: string,
): { layout: MatrixLayout; keys: string[]; keyLines?: number[] } {
  const { file } = src;
  const ext = extname(file).toLowerCase();
  if (ext === '.npy') {
    const layout = npyLayout(src);
    if (!keysFile)
      throw new DataFormatError({
        file,
        message: 'a .npy needs `keys`: a text file with one image path per row (CLI --keys)',
      });
    const { keys, lines } = readKeyLines(keysFile);
    return { layout, keys, keyLines: lines };
  }
  if (ext === '.safetensors') {
    const { layout, metadata } = safetensorsLayout(src);
    return { layout, ...safetensorsKeys(metadata, file, keysFile, root) };
  }
  throw new DataFormatError({
    file,
    message: `unsupported target file '${ext}'; expected .npy, .safetensors or .jsonl`,
  });
}

/**
 * A teacher that looks targets up in an imported file.
 * Stages: {@link addJsonlTargets} or {@link readTargetMatrix} → {@link TargetTable} → its lookup.
 */
export function importedTeacher(options: ImportedTargetsOptions): Teacher {
  const { file } = options;
  const table = new TargetTable(file, options.root ?? join(file, '..'), options.keys ?? file);
  if (extname(file).toLowerCase() === '.jsonl') addJsonlTargets(file, table);
  else
    withFileSource(file, (src) => {
      // row by row from the file: a matrix beyond 2 GiB reads, and no copy of it is kept beside the rows
      const { layout, keys, keyLines } = targetMatrixLayout(src, options.keys, table.root);
      if (keys.length !== layout.dims[0])
        throw new DataFormatError({
          file: options.keys ?? file,
          message: `${keys.length} image paths for ${layout.dims[0]} target rows`,
        });
      forEachMatrixRow(src, layout, (row, i) => table.add(keys[i]!, row, i + 1, keyLines?.[i]));
    });
  const lookup = table.lookup();
  return {
    // targets are rows looked up by path, not computed from the image: no cache keyed by content (two images of one
    // content, as FER2013 has, would get each other's rows)
    keyedBy: 'path',
    // the folder relative paths are taken from decides which image gets which row: part of the id
    id: `import:${hashFile(file).slice(0, 16)}${options.keys ? `:${hashBytes(readBytesFile(options.keys, 'keys file')).slice(0, 8)}` : ''}:${hashBytes(Buffer.from(resolve(table.root))).slice(0, 8)}`,
    source: file,
    ...(table.dim !== undefined ? { dim: table.dim } : {}),
    async embed(images) {
      return images.map(lookup);
    },
  };
}
