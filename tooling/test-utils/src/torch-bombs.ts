/**
 * Hostile PyTorch checkpoints, built in memory (no large files in the repository): the inputs of issue 22 item 8
 * that made the checkpoint reader run for minutes, exhaust memory or crash V8. Used by the parser tests and as
 * seeds of the fuzz tests (tooling/repo-checks/src/fuzz/targets.ts).
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';

const enc = new TextEncoder();

/** Pickle opcode helpers (protocol 2). */
const op = {
  proto: [0x80, 0x02],
  global: (module: string, name: string) => [0x63, ...enc.encode(`${module}\n${name}\n`)],
  str: (s: string) => {
    const b = enc.encode(s);
    if (b.length > 255) throw new Error('str: use short strings');
    return [0x8c, b.length, ...b];
  },
  int: (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    return [0x4a, ...b];
  },
  mark: [0x28],
  tuple: [0x74],
  tuple1: [0x85],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  persid: [0x51],
  reduce: [0x52],
  setitem: [0x73],
  newfalse: [0x89],
  newobj: [0x81],
  build: [0x62],
  none: [0x4e],
  stop: [0x2e],
};

interface Entry {
  name: string;
  /** the bytes as stored in the archive (deflated when `size` is given) */
  data: Uint8Array;
  /** the inflated size of a deflated entry */
  size?: number;
  crc: number;
}

/** A zip archive (no ZIP64) of stored or raw-deflated entries. */
function zip(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const method = e.size === undefined ? 0 : 8;
    const size = e.size ?? e.data.length;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, e.crc, true);
    lv.setUint32(18, e.data.length, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, e.crc, true);
    cv.setUint32(20, e.data.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, e.data);
    central.push(cd);
    offset += local.length + e.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const b of [...parts, ...central, eocd]) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

const stored = (name: string, data: Uint8Array): Entry => ({ name, data, crc: crc32(data) });

/**
 * A raw-deflate stream of `mib` MiB of one repeated byte, built from copies of one compressed MiB (about 1 KB each),
 * so a 1 GiB entry costs about 1 MB and no gigabyte is ever allocated.
 */
function deflatedRepeat(byte: number, mib: number): Entry & { size: number } {
  const block = Buffer.alloc(1 << 20, byte);
  const chunk = deflateRawSync(block, { finishFlush: constants.Z_SYNC_FLUSH }); // non-final, byte-aligned
  const data = new Uint8Array(chunk.length * mib + 2);
  let crc = 0;
  for (let i = 0; i < mib; i++) {
    data.set(chunk, i * chunk.length);
    crc = crc32(block, crc);
  }
  data.set([0x03, 0x00], chunk.length * mib); // a final, empty fixed-Huffman block
  return { name: '', data, size: mib << 20, crc };
}

/** The pickle of one `_rebuild_tensor_v2(storage '0' (FloatStorage), offset 0, size (n,), stride (1,))`. */
const tensorRef = (n: number) => [
  ...op.global('torch._utils', '_rebuild_tensor_v2'),
  ...op.mark,
  ...op.mark,
  ...op.str('storage'),
  ...op.global('torch', 'FloatStorage'),
  ...op.str('0'),
  ...op.str('cpu'),
  ...op.int(n),
  ...op.tuple,
  ...op.persid,
  ...op.int(0),
  ...op.int(n),
  ...op.tuple1,
  ...op.int(1),
  ...op.tuple1,
  ...op.newfalse,
  ...op.global('collections', 'OrderedDict'),
  ...op.emptyTuple,
  ...op.reduce,
  ...op.tuple,
  ...op.reduce,
];

/**
 * A state dict of `refs` tensors `t0 … t{refs-1}` that all cover one float32 storage whose zip entry is deflated and
 * inflates to `mib` MiB (each tensor covers its first `values` float32 values, default all). Issue 22: `refs` 301 and `mib` 1024 is a 1 MB file that ran for more than 9 minutes.
 */
export function sharedStorageBomb(options: { refs: number; mib: number; values?: number }): Uint8Array {
  const n = options.values ?? (options.mib << 20) / 4;
  const pkl: number[] = [...op.proto, ...op.emptyDict];
  for (let i = 0; i < options.refs; i++) pkl.push(...op.str(`t${i}`), ...tensorRef(n), ...op.setitem);
  pkl.push(...op.stop);
  return zip([
    stored('archive/data.pkl', Uint8Array.from(pkl)),
    { ...deflatedRepeat(0, options.mib), name: 'archive/data/0' },
    stored('archive/byteorder', enc.encode('little')),
  ]);
}

/**
 * A checkpoint whose `data.pkl` is `mib` MiB of NONE opcodes, deflated (no STOP): the 146 KB file of issue 22 that
 * crashed V8 (`Fatal JavaScript invalid size error`) had 150 MB of them. With `stored: true` the pickle is stored
 * uncompressed instead (then `mib` is better small).
 */
export function noneOpcodeBomb(options: { mib: number; stored?: boolean }): Uint8Array {
  const pkl = options.stored
    ? stored('archive/data.pkl', new Uint8Array(options.mib << 20).fill(0x4e))
    : { ...deflatedRepeat(0x4e, options.mib), name: 'archive/data.pkl' };
  return zip([pkl]);
}

/**
 * A pickled module object whose attribute `a` holds `depth` nested dicts (`{a: {a: … {} }}`), with a float32 tensor
 * `x` of 2 values at the bottom (its key: `a.a.….a.x`). Issue 22: 200,000 levels overflowed the call stack.
 */
export function nestedDictPickle(depth: number): Uint8Array {
  const pkl: number[] = [...op.proto, ...op.global('__main__', 'Deep'), ...op.emptyTuple, ...op.newobj];
  pkl.push(...op.emptyDict); // the BUILD state
  for (let i = 0; i < depth; i++) pkl.push(...op.str('a'), ...op.emptyDict);
  pkl.push(...op.str('x'), ...tensorRef(2), ...op.setitem);
  for (let i = 0; i < depth; i++) pkl.push(...op.setitem);
  pkl.push(...op.build, ...op.stop);
  return zip([
    stored('archive/data.pkl', Uint8Array.from(pkl)),
    stored('archive/data/0', new Uint8Array(Float32Array.of(1.5, -2).buffer)),
  ]);
}

/**
 * A valid state dict `t0 … t{refs-1}` (no `mlp.weight`), each a 2-value tensor over one small stored storage: its
 * pickle runs about 24 opcodes per tensor, so parsing takes time proportional to `refs` (the signal tests catch the
 * reader mid-parse with it).
 */
export function manyTensorsCheckpoint(refs: number): Uint8Array {
  const one = Uint8Array.from([...tensorRef(2), ...op.setitem]);
  const parts: Uint8Array[] = [Uint8Array.from([...op.proto, ...op.emptyDict])];
  for (let i = 0; i < refs; i++) parts.push(Uint8Array.from(op.str(`t${i}`)), one);
  parts.push(Uint8Array.from(op.stop));
  return zip([
    stored('archive/data.pkl', Buffer.concat(parts)),
    stored('archive/data/0', new Uint8Array(Float32Array.of(1.5, -2).buffer)),
  ]);
}
