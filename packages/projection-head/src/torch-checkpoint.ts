import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { bfloat16ToNumber, DataFormatError, float16ToNumber } from '@vlfer/core';

/**
 * Reader for PyTorch's zip checkpoints (`torch.save`, format since 1.6): `<name>/data.pkl` (a pickle whose
 * tensors are persistent ids `('storage', torch.FloatStorage, key, location, numel)` rebuilt by
 * `torch._utils._rebuild_tensor_v2`) plus raw little-endian storages at `<name>/data/<key>`.
 * Only what state_dicts of plain tensors need is supported; anything else (arbitrary classes) is an error,
 * so no code from the file is ever executed.
 */
export interface TorchTensor {
  dims: number[];
  data: Float32Array;
}

const STORAGE_WIDTH: Record<string, number> = { FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8 };

interface Global { kind: 'global'; module: string; name: string }
interface StorageRef { kind: 'storage'; type: string; key: string; numel: number }
type Value = unknown;
const MARK = Symbol('mark');

/** Read every tensor of a PyTorch zip checkpoint, keyed by state_dict name. */
export function readTorchCheckpoint(source: string | Uint8Array, name = typeof source === 'string' ? source : '<checkpoint bytes>'): Record<string, TorchTensor> {
  const fail = (message: string, cause?: unknown): never => { throw new DataFormatError({ file: name, message, cause }); };
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(typeof source === 'string' ? readFileSync(source) : source);
  } catch (error) {
    return fail(`not a PyTorch zip checkpoint (${(error as Error).message}); legacy pre-1.6 pickled files are not supported, re-save with torch.save`, error);
  }
  const pklName = Object.keys(files).find((k) => k.endsWith('/data.pkl') || k === 'data.pkl');
  if (!pklName) return fail(`no data.pkl inside; entries: ${Object.keys(files).slice(0, 5).join(', ')}`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = files[`${prefix}byteorder`] ? new TextDecoder().decode(files[`${prefix}byteorder`]) : 'little';
  if (byteorder.trim() !== 'little') fail(`byteorder '${byteorder}' is not supported`);
  const pkl = files[pklName]!;
  const dv = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  let pos = 0;
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  const marks: number[] = [];
  const u8 = () => pkl[pos++]!;
  const line = () => { const s = pos; while (pkl[pos] !== 0x0a) pos++; return new TextDecoder().decode(pkl.subarray(s, pos++)); };
  const text = (n: number) => { const s = new TextDecoder().decode(pkl.subarray(pos, pos + n)); pos += n; return s; };
  const popMark = (): Value[] => { const m = marks.pop(); if (m === undefined) fail('pickle MARK missing'); return stack.splice(m!); };
  const isGlobal = (v: Value, module: string, n: string) => typeof v === 'object' && v !== null && (v as Global).kind === 'global' && (v as Global).module === module && (v as Global).name === n;
  const tensorOf = (args: Value[]): TorchTensor => {
    const [storage, offset, size, stride] = args as [StorageRef, number, number[], number[]];
    if (storage?.kind !== 'storage') fail('tensor without a storage');
    const raw = files[`${prefix}data/${storage.key}`];
    if (!raw) fail(`storage data/${storage.key} is missing`);
    const width = STORAGE_WIDTH[storage.type] ?? fail(`storage type ${storage.type} is not supported (float32/16, bfloat16, float64)`);
    const count = size.reduce((a, b) => a * b, 1);
    // contiguous row-major check
    let expect = 1;
    for (let i = size.length - 1; i >= 0; i--) { if (size[i]! > 1 && stride[i] !== expect) fail(`non-contiguous tensor (size [${size}], stride [${stride}])`); expect *= size[i]!; }
    const sv = new DataView(raw!.buffer, raw!.byteOffset, raw!.byteLength);
    if ((offset + count) * width > raw!.byteLength) fail(`storage data/${storage.key} is too short`);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const o = (offset + i) * width;
      data[i] = width === 4 ? sv.getFloat32(o, true) : width === 8 ? sv.getFloat64(o, true) : storage.type === 'HalfStorage' ? float16ToNumber(sv.getUint16(o, true)) : bfloat16ToNumber(sv.getUint16(o, true));
    }
    return { dims: size, data };
  };
  const call = (fn: Value, args: Value[]): Value => {
    if (isGlobal(fn, 'collections', 'OrderedDict') || isGlobal(fn, 'builtins', 'dict')) return new Map<string, Value>();
    if (isGlobal(fn, 'torch._utils', '_rebuild_tensor_v2') || isGlobal(fn, 'torch._utils', '_rebuild_tensor')) return tensorOf(args);
    if (isGlobal(fn, 'torch._utils', '_rebuild_parameter')) return args[0];
    const g = fn as Global;
    return fail(`the checkpoint calls ${g?.module}.${g?.name}, which a state_dict of tensors does not need; refusing to load it`);
  };
  for (;;) {
    if (pos >= pkl.length) fail('pickle ended without STOP');
    const op = u8();
    switch (op) {
      case 0x80: pos++; break; // PROTO
      case 0x95: pos += 8; break; // FRAME
      case 0x63: { const module = line(); stack.push({ kind: 'global', module, name: line() } satisfies Global); break; } // GLOBAL
      case 0x93: { const n = stack.pop() as string; const m = stack.pop() as string; stack.push({ kind: 'global', module: m, name: n } satisfies Global); break; } // STACK_GLOBAL
      case 0x7d: stack.push(new Map<string, Value>()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([stack.pop()]); break; // TUPLE1
      case 0x86: { const b = stack.pop(); const a = stack.pop(); stack.push([a, b]); break; }
      case 0x87: { const c = stack.pop(); const b = stack.pop(); const a = stack.pop(); stack.push([a, b, c]); break; }
      case 0x58: stack.push(text(dv.getUint32((pos += 4) - 4, true))); break; // BINUNICODE
      case 0x8c: stack.push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: { const n = Number(dv.getBigUint64(pos, true)); pos += 8; stack.push(text(n)); break; } // BINUNICODE8
      case 0x4a: stack.push(dv.getInt32((pos += 4) - 4, true)); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(dv.getUint16((pos += 2) - 2, true)); break; // BININT2
      case 0x8a: { const n = u8(); let v = 0n; for (let i = 0; i < n; i++) v |= BigInt(pkl[pos + i]!) << BigInt(8 * i); if (n > 0 && pkl[pos + n - 1]! & 0x80) v -= 1n << BigInt(8 * n); pos += n; stack.push(Number(v)); break; } // LONG1
      case 0x47: stack.push(dv.getFloat64((pos += 8) - 8, false)); break; // BINFLOAT (big-endian)
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4e: stack.push(null); break; // NONE
      case 0x71: memo.set(u8(), stack[stack.length - 1]); break; // BINPUT
      case 0x72: memo.set(dv.getUint32((pos += 4) - 4, true), stack[stack.length - 1]); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, stack[stack.length - 1]); break; // MEMOIZE
      case 0x68: stack.push(memo.get(u8())); break; // BINGET
      case 0x6a: stack.push(memo.get(dv.getUint32((pos += 4) - 4, true))); break; // LONG_BINGET
      case 0x51: { // BINPERSID
        const pid = stack.pop() as Value[];
        if (!Array.isArray(pid) || pid[0] !== 'storage') fail('unsupported persistent id');
        stack.push({ kind: 'storage', type: (pid[1] as Global).name, key: String(pid[2]), numel: Number(pid[4]) } satisfies StorageRef);
        break;
      }
      case 0x52: { const args = stack.pop() as Value[]; const fn = stack.pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x62: stack.pop(); break; // BUILD: object state (e.g. state_dict _metadata) is not needed
      case 0x73: { const v = stack.pop(); const k = stack.pop(); (stack[stack.length - 1] as Map<string, Value>).set(String(k), v); break; } // SETITEM
      case 0x75: { const items = popMark(); const d = stack[stack.length - 1] as Map<string, Value>; for (let i = 0; i < items.length; i += 2) d.set(String(items[i]), items[i + 1]); break; } // SETITEMS
      case 0x61: { const v = stack.pop(); (stack[stack.length - 1] as Value[]).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); (stack[stack.length - 1] as Value[]).push(...items); break; } // APPENDS
      case 0x2e: { // STOP
        const root = stack.pop();
        if (!(root instanceof Map)) fail('the pickle does not hold a dict (state_dict)');
        const out: Record<string, TorchTensor> = {};
        for (const [k, v] of root as Map<string, Value>) if (v && typeof v === 'object' && 'data' in (v as object)) out[k] = v as TorchTensor;
        return out;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}
