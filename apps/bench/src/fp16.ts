import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataFormatError, decodeProtobuf, readVarint, type ProtobufField as Field } from '@vlfer/core';
import { writeFileAtomic } from '@vlfer/core/node';

/**
 * Convert an ONNX model's float32 weights to float16 storage with `keep_io_types` semantics: every float
 * initializer is stored as float16 and a `Cast` to float32 restores it under its original name, so the graph's
 * computation, inputs and outputs stay float32 (the "fp16 weights" variant of onnxruntime's float16 tools).
 * Halves the weight bytes; on GPUs it is the first step towards fp16 compute. External data is read from the
 * model's directory and the float16 weights are embedded in the output model.
 */

function varintBytes(v: bigint): number[] {
  const o: number[] = [];
  let n = BigInt.asUintN(64, v);
  do {
    let x = Number(n & 0x7fn);
    n >>= 7n;
    if (n) x |= 0x80;
    o.push(x);
  } while (n);
  return o;
}

function encode(fields: readonly Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const f of fields) {
    const head = varintBytes(BigInt((f.field << 3) | f.wire));
    const body = f.wire === 0 ? Uint8Array.from(varintBytes(f.varint!)) : f.raw;
    const len = f.wire === 2 ? varintBytes(BigInt(body.length)) : [];
    const chunk = new Uint8Array(head.length + len.length + body.length);
    chunk.set(head, 0);
    chunk.set(len, head.length);
    chunk.set(body, head.length + len.length);
    parts.push(chunk);
    size += chunk.length;
  }
  const out = new Uint8Array(size);
  let p = 0;
  for (const c of parts) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

const str = (f: Field) => new TextDecoder().decode(f.raw);
const lenField = (field: number, bytes: Uint8Array): Field => ({ field, wire: 2, raw: bytes });
const strField = (field: number, s: string): Field => lenField(field, new TextEncoder().encode(s));
const intField = (field: number, v: number): Field => ({ field, wire: 0, raw: new Uint8Array(0), varint: BigInt(v) });

/** IEEE half bits of a float (round to nearest even, overflow to ±Inf). */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function float32ToFloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = mant >> 13;
  const rem = mant & 0x1fff;
  let r = (e << 10) | half;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) r++;
  return sign | r;
}

/** A float32 view over a copy of the bytes (Node Buffers' slice() is a view, not a copy). */
function floatsOf(bytes: Uint8Array, count: number): Float32Array {
  const copy = new Uint8Array(count * 4);
  copy.set(bytes.subarray(0, count * 4));
  return new Float32Array(copy.buffer);
}

function tensorFloats(t: Field[], modelDir: string, file: string): Float32Array | undefined {
  const dtype = t.find((f) => f.field === 2)?.varint;
  if (dtype !== 1n) return undefined;
  const dims = t
    .filter((f) => f.field === 1)
    .flatMap((f) =>
      f.wire === 0
        ? [Number(f.varint)]
        : (() => {
            const v: number[] = [];
            let p = 0;
            while (p < f.raw.length) {
              const [x, q] = readVarint(f.raw, p, '<packed dims>');
              v.push(Number(x));
              p = q;
            }
            return v;
          })(),
    );
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = t.find((f) => f.field === 9);
  if (raw) return floatsOf(raw.raw, count);
  const fd = t.find((f) => f.field === 4);
  if (fd && fd.wire === 2) return floatsOf(fd.raw, count);
  const ext = t.filter((f) => f.field === 13).map((f) => decodeProtobuf(f.raw));
  if (ext.length > 0) {
    const kv = Object.fromEntries(
      ext.map((e) => [str(e.find((f) => f.field === 1)!), str(e.find((f) => f.field === 2)!)]),
    );
    const path = join(modelDir, kv.location!);
    let data: Uint8Array;
    try {
      data = readFileSync(path);
    } catch (error) {
      throw new DataFormatError({
        file: path,
        message: `external data of ${file} not readable (${(error as Error).message})`,
        cause: error,
      });
    }
    const off = Number(kv.offset ?? 0);
    return floatsOf(data.subarray(off, off + 4 * count), count);
  }
  return count === 0 ? new Float32Array(0) : undefined;
}

/** Write `out` as the float16-weight version of the model at `path` (atomic). Returns the number of tensors converted. */
export function convertToFp16Weights(path: string, out: string): number {
  const model = decodeProtobuf(new Uint8Array(readFileSync(path)));
  const gi = model.findIndex((f) => f.field === 7);
  if (gi < 0) throw new DataFormatError({ file: path, message: 'no graph in the model' });
  const graph = decodeProtobuf(model[gi]!.raw);
  const casts: Field[] = [];
  let converted = 0;
  const newGraph: Field[] = [];
  for (const f of graph) {
    if (f.field !== 5) {
      newGraph.push(f);
      continue;
    }
    const t = decodeProtobuf(f.raw);
    const values = tensorFloats(t, dirname(path), path);
    if (!values || values.length < 16) {
      newGraph.push(f);
      continue;
    }
    const name = str(t.find((x) => x.field === 8)!);
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = float32ToFloat16Bits(values[i]!);
    const kept = t.filter((x) => x.field === 1);
    newGraph.push(
      lenField(
        5,
        encode([...kept, intField(2, 10), strField(8, `${name}__fp16`), lenField(9, new Uint8Array(half.buffer))]),
      ),
    );
    casts.push(
      lenField(
        1,
        encode([
          strField(1, `${name}__fp16`),
          strField(2, name),
          strField(3, `cast_fp16_${converted}`),
          strField(4, 'Cast'),
          lenField(5, encode([strField(1, 'to'), intField(3, 1), intField(20, 2)])),
        ]),
      ),
    );
    converted++;
  }
  // graphs from older exporters also list initializers as graph inputs; the Cast now defines those names
  const castNames = new Set(casts.map((c) => str(decodeProtobuf(c.raw).find((x) => x.field === 2)!)));
  for (let i = newGraph.length - 1; i >= 0; i--) {
    const f = newGraph[i]!;
    if (f.field === 11 && castNames.has(str(decodeProtobuf(f.raw).find((x) => x.field === 1)!))) newGraph.splice(i, 1);
  }
  // Cast nodes first (they depend only on initializers), then the original nodes
  const firstNode = newGraph.findIndex((f) => f.field === 1);
  newGraph.splice(firstNode < 0 ? 0 : firstNode, 0, ...casts);
  model[gi] = lenField(7, encode(newGraph));
  writeFileAtomic(out, encode(model));
  return converted;
}
