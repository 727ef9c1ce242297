/**
 * A minimal ONNX ModelProto writer (protobuf wire format by hand, no dependencies) for the small
 * computation graphs vlfer runs on ONNX Runtime as a fast matrix engine: MatMul, elementwise ops, reductions.
 * Field numbers follow onnx/onnx.proto3.
 */
import { InvalidArgumentError } from './errors.js';

export type ElemType = 'float32' | 'int64' | 'int8';
const ELEM: Record<ElemType, number> = { float32: 1, int64: 7, int8: 3 };

class Writer {
  // small fields go to `cur`; large byte fields (weights) are kept as views and copied once, in finish()
  private parts: Uint8Array[] = [];
  private cur: number[] = [];
  length = 0;
  private flush(): void {
    if (this.cur.length) {
      this.parts.push(Uint8Array.from(this.cur));
      this.cur = [];
    }
  }
  private byte(b: number): void {
    this.cur.push(b);
    this.length++;
  }
  varint(v: number): this {
    let n = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n) b |= 0x80;
      this.byte(b);
    } while (n);
    return this;
  }
  key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.key(field, 0).varint(v);
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length);
    if (b.length > 1024) {
      this.flush();
      this.parts.push(b);
      this.length += b.length;
    } else for (const x of b) this.byte(x);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, w: Writer): this {
    this.key(field, 2).varint(w.length);
    this.flush();
    w.flush();
    for (const p of w.parts) this.parts.push(p);
    this.length += w.length;
    return this;
  }
  float(field: number, v: number): this {
    this.key(field, 5);
    for (const x of new Uint8Array(new Float32Array([v]).buffer)) this.byte(x);
    return this;
  }
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

export type AttrValue =
  number | number[] | { float: number } | { tensor: { type: ElemType; values: number[]; dims: number[] } };
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  /** operator set domain, e.g. `com.microsoft` for ONNX Runtime's contrib ops (`DynamicQuantizeMatMul`); default ONNX */
  domain?: string;
}
/** A graph input or output: name, element type and dims (string = symbolic dim). */
export interface ValueSpec {
  name: string;
  type: ElemType;
  dims: (number | string)[];
}

function attribute(name: string, v: AttrValue): Writer {
  const w = new Writer().str(1, name);
  if (typeof v === 'number')
    w.int(3, v).int(20, 2); // INT
  else if (Array.isArray(v)) {
    for (const x of v) w.int(8, x);
    w.int(20, 7);
  } // INTS
  else if ('float' in v)
    w.float(2, v.float).int(20, 1); // FLOAT
  else w.msg(5, tensorProto(v.tensor)).int(20, 4); // TENSOR
  return w;
}

function tensorProto(t: { type: ElemType; values: number[]; dims: number[] }): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, ELEM[t.type]);
  const raw =
    t.type === 'float32'
      ? new Uint8Array(Float32Array.from(t.values).buffer)
      : t.type === 'int8'
        ? new Uint8Array(Int8Array.from(t.values).buffer)
        : new Uint8Array(BigInt64Array.from(t.values.map(BigInt)).buffer);
  return w.bytes(9, raw);
}

/** A `Constant` node producing `name`. */
export function constant(name: string, type: ElemType, values: number[], dims: number[] = []): NodeSpec {
  return { op: 'Constant', inputs: [], outputs: [name], attrs: { value: { tensor: { type, values, dims } } } };
}

function valueInfo(v: ValueSpec): Writer {
  const shape = new Writer();
  for (const d of v.dims) shape.msg(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().str(2, d));
  const tensorType = new Writer().int(1, ELEM[v.type]).msg(2, shape);
  return new Writer().str(1, v.name).msg(2, new Writer().msg(1, tensorType));
}

/**
 * A tensor stored in the model (a frozen weight): float32, or int8 (quantized weights) when `data` is an Int8Array.
 * @param data row-major, length = product of dims
 */
export interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | Int8Array;
}

/** The operator sets a model imports: ONNX at `opset`, plus each other domain its nodes use (version 1). */
function opsetImports(nodes: readonly NodeSpec[], opset: number): Writer[] {
  const domains = [...new Set(nodes.map((n) => n.domain).filter((d): d is string => !!d))].sort();
  return [new Writer().str(1, '').int(2, opset), ...domains.map((d) => new Writer().str(1, d).int(2, 1))];
}

/**
 * A float32 tensor whose little-endian bytes ONNX Runtime reads from another file (ONNX external data,
 * `data_location: EXTERNAL`): `length` bytes at byte `offset` of `location`, a path relative to the folder the
 * runtime resolves external data against (the model's folder, or `session.model_external_initializers_file_folder_path`
 * for a model given as bytes). The JS heap never holds the values.
 */
export interface ExternalInitializer {
  name: string;
  dims: number[];
  external: { location: string; offset: number; length: number };
}

function initializerProto(t: Initializer | ExternalInitializer): Writer {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const bad = (message: string) =>
    new InvalidArgumentError({ functionName: 'buildModel', argument: `initializers.${t.name}`, message });
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, 'data' in t && t.data instanceof Int8Array ? ELEM.int8 : ELEM.float32).str(8, t.name);
  if ('data' in t) {
    if (t.data.length !== n) throw bad(`has ${t.data.length} values for dims [${t.dims.join(', ')}]`);
    return w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const { location, offset, length } = t.external;
  if (length !== 4 * n) throw bad(`external data of ${length} bytes for ${n} float32 values`);
  if (!location || !Number.isSafeInteger(offset) || offset < 0)
    throw bad(`external data needs a location and an offset ≥ 0, got ${JSON.stringify(t.external)}`);
  const entry = (k: string, v: string) => new Writer().str(1, k).str(2, v);
  w.msg(13, entry('location', location)).msg(13, entry('offset', String(offset)));
  return w.msg(13, entry('length', String(length))).int(14, 1); // data_location = EXTERNAL
}

/**
 * Serialise a graph to ONNX bytes (IR 8, default opset 17); initializers are written as raw little-endian data, or
 * as references to external data ({@link ExternalInitializer}).
 */
export function buildModel(options: {
  name: string;
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: (Initializer | ExternalInitializer)[];
  opset?: number;
}): Uint8Array {
  const g = new Writer();
  options.nodes.forEach((n, i) => {
    const w = new Writer();
    for (const x of n.inputs) w.str(1, x);
    for (const x of n.outputs) w.str(2, x);
    w.str(3, `${n.op}_${i}`).str(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) w.msg(5, attribute(k, v));
    if (n.domain) w.str(7, n.domain);
    g.msg(1, w);
  });
  g.str(2, options.name);
  for (const t of options.initializers ?? []) g.msg(5, initializerProto(t));
  for (const v of options.inputs) g.msg(11, valueInfo(v));
  for (const v of options.outputs) g.msg(12, valueInfo(v));
  const model = new Writer().int(1, 8).str(2, 'vlfer').msg(7, g);
  for (const imp of opsetImports(options.nodes, options.opset ?? 17)) model.msg(8, imp);
  return model.finish();
}
