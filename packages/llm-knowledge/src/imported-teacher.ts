import { readFileSync } from 'node:fs';
import { basename, extname, isAbsolute, join, resolve } from 'node:path';
import { DataFormatError, float16ToNumber, hashFile, readSafetensors } from '@vlfer/core';
import type { Teacher } from './teacher.js';

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
 * Relative paths are resolved against `root`. Lookup is by absolute path, then by file name when unique.
 */
export interface ImportedTargetsOptions {
  file: string;
  keys?: string;
  /** Directory relative image paths are resolved against. @default the directory of `file` */
  root?: string;
}

function parseNpy(file: string): { dims: number[]; data: Float32Array } {
  const b = readFileSync(file);
  if (b[0] !== 0x93 || b.subarray(1, 6).toString() !== 'NUMPY') throw new DataFormatError({ file, message: 'not a .npy file (bad magic)' });
  const major = b[6]!;
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = b.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([<>|]?)([fi])(\d)'/.exec(header);
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape) throw new DataFormatError({ file, message: `cannot parse the .npy header ${header.trim()}` });
  if (descr[1] === '>' || descr[2] !== 'f') throw new DataFormatError({ file, message: `dtype ${descr[0]} not supported; expected little-endian float16/32/64` });
  if (fortran) throw new DataFormatError({ file, message: 'fortran_order arrays are not supported; save with np.ascontiguousarray' });
  const dims = shape[1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (dims.length !== 2) throw new DataFormatError({ file, message: `expected a 2-D [N, E] array, got shape (${dims.join(', ')})` });
  const width = Number(descr[3]);
  const count = dims[0]! * dims[1]!;
  const off = start + headerLen;
  if (b.length < off + count * width) throw new DataFormatError({ file, message: 'file is shorter than its shape says' });
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = width === 4 ? b.readFloatLE(off + 4 * i) : width === 8 ? b.readDoubleLE(off + 8 * i) : float16ToNumber(b.readUInt16LE(off + 2 * i));
  return { dims, data };
}

function readKeys(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  } catch (error) {
    throw new DataFormatError({ file, message: `cannot read the keys file (${(error as Error).message})`, cause: error });
  }
}

/** A teacher that looks targets up in an imported file. */
export function importedTeacher(options: ImportedTargetsOptions): Teacher {
  const { file } = options;
  const root = options.root ?? join(file, '..');
  const ext = extname(file).toLowerCase();
  const byPath = new Map<string, Float32Array>();
  let dim: number | undefined;
  const add = (key: string, v: Float32Array, line?: number) => {
    if (dim === undefined) dim = v.length;
    if (v.length !== dim) throw new DataFormatError({ file, ...(line ? { line } : {}), message: `target for '${key}' has ${v.length} values, others ${dim}` });
    byPath.set(isAbsolute(key) ? key : resolve(root, key), v);
  };
  if (ext === '.jsonl') {
    readFileSync(file, 'utf8').split(/\r?\n/).forEach((raw, i) => {
      if (!raw.trim()) return;
      let row: { path?: unknown; embedding?: unknown };
      try { row = JSON.parse(raw); } catch (error) { throw new DataFormatError({ file, line: i + 1, message: 'not valid JSON', cause: error }); }
      if (typeof row.path !== 'string') throw new DataFormatError({ file, line: i + 1, field: 'path', message: 'expected a string image path' });
      if (!Array.isArray(row.embedding) || !row.embedding.every((x) => typeof x === 'number')) throw new DataFormatError({ file, line: i + 1, field: 'embedding', message: 'expected an array of numbers' });
      add(row.path, Float32Array.from(row.embedding as number[]), i + 1);
    });
  } else {
    let dims: number[];
    let data: Float32Array;
    let keys: string[];
    if (ext === '.npy') {
      ({ dims, data } = parseNpy(file));
      if (!options.keys) throw new DataFormatError({ file, message: 'a .npy needs `keys`: a text file with one image path per row' });
      keys = readKeys(options.keys);
    } else if (ext === '.safetensors') {
      const f = readSafetensors(file);
      const t = f.tensors.targets;
      if (!t || t.dims.length !== 2) throw new DataFormatError({ file, field: 'targets', message: 'expected a 2-D tensor named targets [N, E]' });
      dims = t.dims;
      data = t.data;
      if (options.keys) keys = readKeys(options.keys);
      else if (f.metadata.paths) keys = JSON.parse(f.metadata.paths) as string[];
      else throw new DataFormatError({ file, field: '__metadata__.paths', message: 'no image paths: put a JSON array in __metadata__.paths or pass `keys`' });
    } else {
      throw new DataFormatError({ file, message: `unsupported target file '${ext}'; expected .npy, .safetensors or .jsonl` });
    }
    if (keys.length !== dims[0]) throw new DataFormatError({ file: options.keys ?? file, message: `${keys.length} image paths for ${dims[0]} target rows` });
    keys.forEach((k, i) => add(k, data.slice(i * dims[1]!, (i + 1) * dims[1]!)));
  }
  const byName = new Map<string, Float32Array | null>();
  for (const [p, v] of byPath) { const n = basename(p); byName.set(n, byName.has(n) ? null : v); }
  return {
    id: `import:${hashFile(file).slice(0, 16)}`,
    ...(dim !== undefined ? { dim } : {}),
    async embed(images) {
      return images.map((img) => {
        const v = byPath.get(resolve(img)) ?? byName.get(basename(img));
        if (!v) throw new DataFormatError({ file, message: `no target for image '${img}' (looked up by absolute path and by unique file name)` });
        return v;
      });
    },
  };
}
