import { describeValue } from './describe.js';
import { DataFormatError, InvalidArgumentError } from './errors.js';

/**
 * The safetensors format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }`, then the data.
 * vlfer reads F32, F16, BF16 and F64 (converted to float32), lists the integer buffers of `INTEGER_BUFFER_KEY`
 * without reading them, and writes F32. Runtime-neutral (bytes in, bytes out);
 * file reading and atomic writing are in `@vlfer/core/node`.
 */
export interface SafetensorsTensor {
  dims: number[];
  data: Float32Array;
}
export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
  /**
   * Keys of the integer buffers ({@link INTEGER_BUFFER_KEY}: `position_ids` that older Hugging Face CLIP checkpoints
   * hold, …), checked (shape, offsets) but not read. Absent when writing.
   */
  integerTensors?: string[];
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

const WIDTH: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** Integer and boolean dtypes: their entries are checked and listed (`integerTensors`), never decoded. */
const INTEGER_WIDTH: Record<string, number> = { I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };

/**
 * Integer buffers that checkpoints hold beside their weights, listed (`integerTensors`) and never read: position ids
 * (Hugging Face CLIP saves before transformers made them non-persistent), OpenAI CLIP's `input_resolution`,
 * `context_length` and `vocab_size`, BatchNorm's `num_batches_tracked`. Any other integer tensor is refused by its
 * dtype, so that a weight stored as integers is named as such, not as missing.
 */
export const INTEGER_BUFFER_KEY =
  /(^|\.)(position_ids|num_batches_tracked|input_resolution|context_length|vocab_size)$/;

/** Whether a header entry is an integer or boolean buffer vlfer lists without reading ({@link INTEGER_BUFFER_KEY}). */
function isIntegerInfo(key: string, info: unknown): boolean {
  const dtype = (info as { dtype?: unknown } | null)?.dtype;
  return typeof dtype === 'string' && Object.hasOwn(INTEGER_WIDTH, dtype) && INTEGER_BUFFER_KEY.test(key);
}
/** Headers larger than this are refused (the format's own reference limit is 100 MB). */
const MAX_HEADER = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type Fail = (message: string, field?: string) => never;

function failFor(name: string): Fail {
  return (message, field) => {
    throw new DataFormatError({ file: name, ...(field ? { field } : {}), message });
  };
}

/** The parsed JSON header of a safetensors file and where its data begins. */
export interface SafetensorsHeader {
  /** The header object: `{ name: { dtype, shape, data_offsets }, __metadata__? }`, not yet checked per entry. */
  header: Record<string, unknown>;
  /** Byte offset of the data section (8 + header length); `data_offsets` are relative to it. */
  base: number;
}

/**
 * Reads the 8-byte header length and the JSON header of a safetensors file. Throws a DataFormatError naming `name`
 * when the file is too short, the length exceeds the file (or 100 MB), the text is not UTF-8 JSON, it is not an
 * object, or it names a key twice (JSON.parse would keep only the last).
 */
export function readSafetensorsHeader(bytes: Uint8Array, name = '<safetensors bytes>'): SafetensorsHeader {
  const fail = failFor(name);
  if (bytes.length < 8) fail(`too short for a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(Math.min(MAX_HEADER, bytes.length - 8)))
    fail(`header length ${n64} exceeds the file size (${bytes.length} bytes)`);
  const n = Number(n64);
  let header: unknown;
  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    header = JSON.parse(headerText);
  } catch (error) {
    throw new DataFormatError({
      file: name,
      message: `header is not valid JSON (${(error as Error).message})`,
      cause: error,
    });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  // JSON.parse keeps the last of two equal keys: a second tensor (or field) of the same name must not hide the first
  const dup = duplicateJsonKey(headerText);
  if (dup)
    fail(`the header names ${dup.path} twice (at characters ${dup.first} and ${dup.second}); each key must be unique`);
  return { header: header as Record<string, unknown>, base: 8 + n };
}

/** One checked header entry: its dtype, shape, value count and byte range (relative to the data section). */
export interface SafetensorsEntry {
  key: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'F64';
  dims: number[];
  count: number;
  b: number;
  e: number;
}

/**
 * Checks the header entry `key` (`{ dtype, shape, data_offsets }`): a supported dtype, a shape of non-negative safe
 * integers, offsets `[begin, end]` that are safe integers with begin ≤ end, and a value count that fits a file.
 * Does not look at the data (see {@link decodeSafetensorsEntry}). Throws a DataFormatError naming `key`.
 */
export function checkSafetensorsEntry(key: string, info: unknown, name = '<safetensors bytes>'): SafetensorsEntry {
  return checkEntry(key, info, name, WIDTH) as SafetensorsEntry;
}

/** {@link checkSafetensorsEntry} for the dtypes of `widths` (float or integer). */
function checkEntry(
  key: string,
  info: unknown,
  name: string,
  widths: Record<string, number>,
): Omit<SafetensorsEntry, 'dtype'> & { dtype: string } {
  const fail = failFor(name);
  if (info === null || typeof info !== 'object' || Array.isArray(info))
    fail(`expected { dtype, shape, data_offsets }, found ${describeValue(info)}`, key);
  const { dtype, shape, data_offsets: off } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const width = typeof dtype === 'string' && Object.hasOwn(widths, dtype) ? widths[dtype] : undefined;
  if (!width)
    fail(
      `dtype ${describeValue(dtype)} is not supported (F32, F16, BF16, F64; integer and BOOL tensors are listed)`,
      key,
    );
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0))
    fail(`shape ${describeValue(shape)} is not a list of non-negative integers`, key);
  const unsafe = (shape as number[]).find((d) => !Number.isSafeInteger(d));
  if (unsafe !== undefined)
    fail(
      `shape ${describeValue(shape)}: ${unsafe} is not a safe integer (at most 2^53 - 1 = ${Number.MAX_SAFE_INTEGER}); a dimension this large cannot be a real tensor`,
      key,
    );
  if (
    !Array.isArray(off) ||
    off.length !== 2 ||
    !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
    off[1] < off[0]
  )
    fail(`data_offsets ${describeValue(off)} is not [begin, end] with 0 ≤ begin ≤ end (safe integers)`, key);
  const dims = shape as number[];
  const [b, e] = off as [number, number];
  const count = dims.reduce((a, c) => a * c, 1);
  if (!Number.isSafeInteger(count * width!))
    fail(`shape ${describeValue(shape)} holds ${count} values, more than any file can`, key);
  return { key, dtype: dtype as string, dims, count, b, e };
}

/**
 * The float32 values of a checked entry, read from the data section at `base`. Aligned little-endian F32 data is a
 * view of `bytes` (no copy); other dtypes are converted into a new array. Throws a DataFormatError naming the key
 * when the range runs past the file or does not hold `count` values of the dtype.
 */
export function decodeSafetensorsEntry(
  bytes: Uint8Array,
  base: number,
  t: SafetensorsEntry,
  name = '<safetensors bytes>',
): Float32Array {
  const fail = failFor(name);
  const { key, dtype, count, b, e } = t;
  if (base + e > bytes.length) fail(`data_offsets [${b}, ${e}] run past the end of the file`, key);
  if (e - b !== count * WIDTH[dtype]!) fail(`data_offsets [${b}, ${e}] do not hold ${count} ${dtype} values`, key);
  const raw = bytes.subarray(base + b, base + e);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dtype === 'F32' && raw.byteOffset % 4 === 0 && LITTLE_ENDIAN) {
    // a view of the file's bytes, not a copy: a CLIP checkpoint is hundreds of megabytes, and copying it into
    // fresh memory took longer than reading it
    return new Float32Array(raw.buffer, raw.byteOffset, count);
  }
  const data = new Float32Array(count);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true);
  } else {
    for (let i = 0; i < count; i++) {
      if (dtype === 'F64') data[i] = dv.getFloat64(i * 8, true);
      else if (dtype === 'F16') data[i] = float16ToNumber(dv.getUint16(i * 2, true));
      else data[i] = bfloat16ToNumber(dv.getUint16(i * 2, true));
    }
  }
  return data;
}

/**
 * Every byte of the data belongs to at most one tensor: throws a DataFormatError naming the later of two entries
 * whose non-empty byte ranges overlap (they would alias each other). Sorts `entries` in place by range.
 */
export function checkSafetensorsRanges(entries: SafetensorsEntry[], name = '<safetensors bytes>'): void {
  const fail = failFor(name);
  entries.sort((x, y) => x.b - y.b || x.e - y.e);
  let prev: SafetensorsEntry | undefined;
  for (const r of entries) {
    if (r.e === r.b) continue; // an empty tensor occupies no bytes
    if (prev && r.b < prev.e)
      fail(
        `data_offsets [${r.b}, ${r.e}] overlap those of '${prev.key}' [${prev.b}, ${prev.e}]; each tensor must own its bytes`,
        r.key,
      );
    prev = r;
  }
}

/** A safetensors file known by its header alone: where the data section begins, the checked entries, metadata. */
export interface SafetensorsIndex {
  /** Byte offset of the data section in the file (8 + header length); entry offsets are relative to it. */
  base: number;
  /** The floating-point tensors. */
  entries: Record<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Keys of the integer and BOOL tensors, checked but not indexed for reading (see `SafetensorsFile`). */
  integerTensors: string[];
}

/**
 * Check a safetensors header without its data: `head` holds at least the first 8 + N bytes of a file of
 * `fileSize` bytes. Every entry is checked as {@link decodeSafetensors} checks it — dtype, shape, offsets inside
 * the file (a truncated file is refused naming the first tensor past its end), byte count = values × width, no
 * overlaps — so a reader may then fetch any tensor's bytes at `base + b … base + e`.
 * @throws DataFormatError naming `name` and the field
 */
export function indexSafetensors(head: Uint8Array, fileSize: number, name = '<safetensors bytes>'): SafetensorsIndex {
  const fail = failFor(name);
  const { header, base } = readSafetensorsHeader(head, name);
  if (base > fileSize) fail(`header length ${base - 8} exceeds the file size (${fileSize} bytes)`);
  const entries: Record<string, SafetensorsEntry> = {};
  const integers: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [key, info] of Object.entries(header)) {
    if (key === '__metadata__') {
      metadata = checkMetadata(info, fail);
      continue;
    }
    const integer = isIntegerInfo(key, info);
    const t = checkEntry(key, info, name, integer ? INTEGER_WIDTH : WIDTH);
    if (base + t.e > fileSize)
      fail(`data_offsets [${t.b}, ${t.e}] run past the end of the file (${fileSize} bytes; truncated?)`, key);
    if (t.e - t.b !== t.count * (WIDTH[t.dtype] ?? INTEGER_WIDTH[t.dtype])!)
      fail(`data_offsets [${t.b}, ${t.e}] do not hold ${t.count} ${t.dtype} values`, key);
    if (integer) integers.push(t as SafetensorsEntry);
    else entries[key] = t as SafetensorsEntry;
  }
  checkSafetensorsRanges([...Object.values(entries), ...integers], name);
  return { base, entries, metadata, integerTensors: integers.map((t) => t.key) };
}

/**
 * {@link indexSafetensors} of a file read by ranges (`read(offset, length)`, fewer bytes only at its end, e.g. file
 * reads by descriptor): its 8-byte header length first (at most 100 MB and inside the file), then the header alone,
 * never the data. @throws DataFormatError naming `name`
 */
export function indexSafetensorsByRange(
  read: (offset: number, length: number) => Uint8Array,
  size: number,
  name = '<safetensors bytes>',
): SafetensorsIndex {
  const prefix = read(0, 8);
  const n = prefix.length === 8 ? new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true) : 0n;
  if (prefix.length === 8 && n > BigInt(Math.min(100_000_000, size - 8)))
    throw new DataFormatError({ file: name, message: `header length ${n} exceeds the file size (${size} bytes)` });
  // (a file under 8 bytes is refused by indexSafetensors, which sees all of it)
  return indexSafetensors(prefix.length === 8 ? read(0, 8 + Number(n)) : prefix, size, name);
}

/** Whether a checked entry's bytes can be used as float32 as they lie in the file (F32 on a little-endian host). */
export function isRawFloat32(t: SafetensorsEntry): boolean {
  return t.dtype === 'F32' && LITTLE_ENDIAN;
}

function checkMetadata(info: unknown, fail: Fail): Record<string, string> {
  if (
    info === null ||
    typeof info !== 'object' ||
    Array.isArray(info) ||
    !Object.values(info).every((v) => typeof v === 'string')
  )
    fail('expected an object of strings', '__metadata__');
  return info as Record<string, string>;
}

/**
 * Parse safetensors bytes. Every malformed header, offset or dtype is a DataFormatError naming `name` and the field.
 * Aligned F32 tensors are views of `bytes` (no copy: they share its buffer); other dtypes are converted to new
 * float32 arrays. Stages: {@link readSafetensorsHeader} → {@link checkSafetensorsEntry} and
 * {@link decodeSafetensorsEntry} per tensor → {@link checkSafetensorsRanges}.
 * @param name the file name used in error messages
 */
export function decodeSafetensors(bytes: Uint8Array, name = '<safetensors bytes>'): SafetensorsFile {
  const { header, base } = readSafetensorsHeader(bytes, name);
  const tensors: Record<string, SafetensorsTensor> = {};
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  const integerTensors: string[] = [];
  for (const [key, info] of Object.entries(header)) {
    if (key === '__metadata__') {
      metadata = checkMetadata(info, failFor(name));
      continue;
    }
    if (isIntegerInfo(key, info)) {
      const t = checkEntry(key, info, name, INTEGER_WIDTH) as SafetensorsEntry;
      if (base + t.e > bytes.length) failFor(name)(`data_offsets [${t.b}, ${t.e}] run past the end of the file`, key);
      if (t.e - t.b !== t.count * INTEGER_WIDTH[t.dtype]!)
        failFor(name)(`data_offsets [${t.b}, ${t.e}] do not hold ${t.count} ${t.dtype} values`, key);
      entries.push(t);
      integerTensors.push(key);
      continue;
    }
    const entry = checkSafetensorsEntry(key, info, name);
    entries.push(entry);
    tensors[key] = { dims: entry.dims, data: decodeSafetensorsEntry(bytes, base, entry, name) };
  }
  checkSafetensorsRanges(entries, name);
  return { tensors, metadata, integerTensors };
}

/**
 * The first key that appears twice in one object of a (valid) JSON text, with its path and character positions, or
 * undefined. An iterative scan (no recursion: the depth of the text does not matter).
 */
export function duplicateJsonKey(text: string): { path: string; first: number; second: number } | undefined {
  // per open container: whether it is an object, its keys (with positions) and its own name for the path
  const stack: Array<{ object: boolean; keys: Map<string, number>; name: string; expectKey: boolean }> = [];
  let pendingKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.object && top.expectKey) {
        const k = JSON.parse(text.slice(i, j + 1)) as string;
        const seen = top.keys.get(k);
        if (seen !== undefined) {
          const names = [...stack.slice(1).map((s) => s.name), k];
          const shown = names.length > 6 ? [...names.slice(0, 2), '…', ...names.slice(-3)] : names;
          const path = shown.map((p) => (p === '…' ? p : describeValue(p))).join(' → ');
          return { path: `key ${path}`, first: seen, second: i };
        }
        top.keys.set(k, i);
        top.expectKey = false;
        pendingKey = k;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const parent = stack[stack.length - 1];
      const name = parent?.object ? (pendingKey ?? '') : '[]';
      stack.push({ object: c === '{', keys: new Map(), name, expectKey: c === '{' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.object) top.expectKey = true;
    }
  }
  return undefined;
}

/** Serialise float32 tensors (sorted by name, 8-byte aligned header) with string metadata. */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort();
  // what the readers refuse is refused here too: metadata values other than strings, data other than float32
  for (const [k, v] of Object.entries(metadata))
    if (typeof v !== 'string')
      throw new InvalidArgumentError({
        functionName: 'encodeSafetensors',
        argument: 'metadata',
        message: `'${k}' is a ${typeof v}; safetensors metadata holds strings only (JSON.stringify it, or String(…))`,
      });
  for (const k of names)
    if (!(tensors[k]?.data instanceof Float32Array))
      throw new InvalidArgumentError({
        functionName: 'encodeSafetensors',
        argument: 'tensors',
        message: `'${k}' has data that is no Float32Array (${Array.isArray(tensors[k]?.data) ? 'a plain array: use Float32Array.from' : typeof tensors[k]?.data}); its bytes are written as they are`,
      });
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const k of names) {
    const t = tensors[k]!;
    if (!Array.isArray(t.dims) || !t.dims.every((d) => Number.isInteger(d) && d >= 0))
      throw new InvalidArgumentError({
        functionName: 'encodeSafetensors',
        argument: 'tensors',
        message: `'${k}' has dims ${JSON.stringify(t.dims)}; expected a list of non-negative integers`,
      });
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length)
      throw new InvalidArgumentError({
        functionName: 'encodeSafetensors',
        argument: 'tensors',
        message: `'${k}' has ${t.data.length} values for dims [${t.dims.join(', ')}]`,
      });
    header[k] = { dtype: 'F32', shape: t.dims, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  const head0 = new TextEncoder().encode(json);
  json += ' '.repeat((8 - ((8 + head0.length) % 8)) % 8);
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
