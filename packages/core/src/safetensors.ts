import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.js';
import { DataFormatError } from './errors.js';

/**
 * The safetensors format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }`, then the data.
 * vlfer reads F32, F16, BF16 and F64 (converted to float32) and writes F32.
 */
export interface SafetensorsTensor {
  dims: number[];
  data: Float32Array;
}
export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** IEEE 754 half-precision bits → number. */
export function float16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const bf16Scratch = new Uint32Array(1);
const bf16View = new Float32Array(bf16Scratch.buffer);
/** bfloat16 bits → number (the high half of a float32). */
export function bfloat16ToNumber(h: number): number {
  bf16Scratch[0] = h << 16;
  return bf16View[0]!;
}

/** Parse safetensors bytes (or a file path). @throws DataFormatError naming the file and what is wrong */
export function readSafetensors(source: string | Uint8Array, name = typeof source === 'string' ? source : '<safetensors bytes>'): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = typeof source === 'string' ? readFileSync(source) : source;
  } catch (error) {
    throw new DataFormatError({ file: name, message: `cannot read (${(error as Error).message})`, cause: error });
  }
  if (bytes.length < 8) throw new DataFormatError({ file: name, message: 'too short for a safetensors file' });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.length) throw new DataFormatError({ file: name, message: `header length ${n} exceeds the file size` });
  let header: Record<string, any>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    throw new DataFormatError({ file: name, message: 'header is not valid JSON', cause: error });
  }
  const base = 8 + n;
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [key, info] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const { dtype, shape, data_offsets: off } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const count = shape.reduce((a, b) => a * b, 1);
    const raw = bytes.subarray(base + off[0], base + off[1]);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = { F32: 4, F16: 2, BF16: 2, F64: 8 }[dtype];
    if (!width) throw new DataFormatError({ file: name, field: key, message: `dtype ${dtype} is not supported (F32, F16, BF16, F64)` });
    if (raw.length !== count * width || base + off[1] > bytes.length) throw new DataFormatError({ file: name, field: key, message: `data_offsets [${off.join(', ')}] do not hold ${count} ${dtype} values` });
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      if (dtype === 'F32') data[i] = dv.getFloat32(i * 4, true);
      else if (dtype === 'F64') data[i] = dv.getFloat64(i * 8, true);
      else if (dtype === 'F16') data[i] = float16ToNumber(dv.getUint16(i * 2, true));
      else data[i] = bfloat16ToNumber(dv.getUint16(i * 2, true));
    }
    tensors[key] = { dims: shape, data };
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}

/** Serialise float32 tensors (sorted by name, 8-byte aligned header) with string metadata. */
export function encodeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const k of names) {
    const t = tensors[k]!;
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new RangeError(`encodeSafetensors: '${k}' has ${t.data.length} values for dims [${t.dims.join(', ')}]`);
    header[k] = { dtype: 'F32', shape: t.dims, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let p = 8 + head.length;
  for (const k of names) {
    const d = tensors[k]!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}

/** Write a safetensors file atomically. */
export function writeSafetensors(path: string, tensors: Record<string, SafetensorsTensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
