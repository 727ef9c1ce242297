import { describeValue } from './describe.js';
import { DataFormatError, throwIfAborted } from './errors.js';
import { bfloat16ToNumber, float16ToNumber } from './safetensors.js';
import { readZipEntries } from './zip.js';

/**
 * Reader for PyTorch checkpoints without PyTorch and without running any code from the file: a restricted
 * unpickler that understands the opcodes `torch.save` and `torch.jit.save` emit and emulates only the few
 * callables a checkpoint of tensors needs (tensor and parameter rebuilders, OrderedDict, TorchScript type tags,
 * object construction without calling any constructor). Anything else is refused with the global named.
 *
 * Supported files (zip format, PyTorch ≥ 1.6):
 * - `torch.save(state_dict)`: a dict of tensors (e.g. Exp-CLIP heads `{ 'mlp.weight': [4096, D] }`, plain CLIP
 *   state dicts);
 * - `torch.save(module)`: a pickled nn.Module; tensors are collected from its `_parameters`/`_buffers`/`_modules`;
 * - TorchScript archives (`torch.jit.save`, e.g. OpenAI's `ViT-B-32.pt` as the `clip` package downloads it):
 *   the module object's tensor attributes, keyed by attribute path (`visual.conv1.weight`).
 * Storages: float32, float16, bfloat16, float64 (converted to float32); contiguous tensors only.
 * Every input ends in a result or a DataFormatError naming the file (the parser is bounded by the input size).
 */
export interface TorchTensor {
  dims: number[];
  data: Float32Array;
}

export interface TorchCheckpoint {
  /** Tensors by state-dict key (dotted attribute path for modules). */
  tensors: Record<string, TorchTensor>;
  /** 'state-dict' (a dict at the root), 'module' (a pickled nn.Module) or 'torchscript' (a `torch.jit.save` archive). */
  kind: 'state-dict' | 'module' | 'torchscript';
}

const STORAGE_WIDTH: Record<string, number> = { FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8 };

interface Global {
  kind: 'global';
  module: string;
  name: string;
}
interface StorageRef {
  kind: 'storage';
  type: string;
  key: string;
}
interface PyObject {
  kind: 'object';
  cls: string;
  attrs: Map<string, unknown>;
}
const isGlobal = (v: unknown, module: string, n: string): boolean =>
  typeof v === 'object' &&
  v !== null &&
  (v as Global).kind === 'global' &&
  (v as Global).module === module &&
  (v as Global).name === n;
/** Limits of one checkpoint read; the defaults hold every checkpoint PyTorch writes with room to spare. */
export interface TorchReadOptions {
  /** Most bytes the archive's deflated entries may inflate to in total (default 64 MiB + 4 × the file size). */
  inflateBudget?: number;
  /** Most pickle opcodes executed (default 2^24 = 16,777,216; a CLIP state dict needs a few thousand). */
  opcodeBudget?: number;
  /** Most values the pickle stack, its marks and its memo may hold at once (default 2^22 = 4,194,304). */
  objectBudget?: number;
  /**
   * Most float32 values produced in total (default 16 M + the bytes of the file and of the storages read, i.e. several
   * times the values the file can hold): tensors sharing one storage are copied per tensor, so 300 tensors
   * over one large storage are refused instead of taking 300 × its memory.
   */
  outputBudget?: number;
  /** `readTorchCheckpointAsync` only: checked whenever the parser yields; an aborted read throws AbortedError. */
  signal?: AbortSignal;
}

const DEFAULT_OPCODES = 2 ** 24;
const DEFAULT_OBJECTS = 2 ** 22;
/** Opcodes (or converted values) between two yields to the event loop. */
const SLICE = 1 << 16;

/**
 * Read every tensor of a PyTorch zip checkpoint (synchronously; `readTorchCheckpointAsync` yields to the event
 * loop while it works). Bounded: each zip entry is inflated at most once, within a budget relative to the file; the
 * unpickler runs iteratively within an opcode and object budget; the tensors produced stay within an output
 * budget. Past any budget: a DataFormatError naming the file and the budget.
 * @param name the file name for error messages
 */
export function readTorchCheckpoint(
  bytes: Uint8Array,
  name = '<checkpoint bytes>',
  options: TorchReadOptions = {},
): TorchCheckpoint {
  const steps = parseCheckpoint(bytes, name, options);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * `readTorchCheckpoint` that yields to the event loop after every slice of work (65,536 opcodes, 1 M converted
 * values or 65,536 traversed values) and checks `options.signal` there, so a CLI's signal handlers run during a long parse (a second Ctrl-C exits at once).
 * @throws AbortedError when the signal fires; DataFormatError as `readTorchCheckpoint`
 */
export async function readTorchCheckpointAsync(
  bytes: Uint8Array,
  name = '<checkpoint bytes>',
  options: TorchReadOptions = {},
): Promise<TorchCheckpoint> {
  const what = `reading ${name}`;
  throwIfAborted(options.signal, what);
  const steps = parseCheckpoint(bytes, name, options);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await yieldToEventLoop();
    throwIfAborted(options.signal, what);
  }
}

const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => {
    const g = globalThis as { setImmediate?: (f: () => void) => unknown };
    if (g.setImmediate) g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });

/** A short description of a pickled value for messages: never recursive, never long. */
const describe = (v: unknown): string => (v === null ? 'None' : describeValue(v));

/** A lazily converted tensor: validated when the pickle rebuilds it, its float32 data produced only if collected. */
class PendingTensor {
  data: Float32Array | undefined;
  constructor(
    readonly dims: number[],
    readonly raw: Uint8Array,
    readonly type: string,
    readonly width: number,
    readonly offset: number,
    readonly count: number,
  ) {}
}

function* parseCheckpoint(
  bytes: Uint8Array,
  name: string,
  options: TorchReadOptions,
): Generator<void, TorchCheckpoint, void> {
  const fail = (message: string, cause?: unknown): never => {
    throw new DataFormatError({ file: name, message, ...(cause ? { cause } : {}) });
  };
  const files = readZipEntries(bytes, name, {
    ...(options.inflateBudget !== undefined ? { inflateBudget: options.inflateBudget } : {}),
  });
  // only what a checkpoint of tensors needs is read: the pickle, its storages and the byte order (TorchScript's code/ is never inflated)
  const read = (k: string): Uint8Array | undefined => files[k]?.read();
  const pklName = Object.keys(files)
    .filter((k) => k.endsWith('/data.pkl') || k === 'data.pkl')
    .sort((a, b) => a.length - b.length)[0];
  if (!pklName) return fail(`no data.pkl inside; entries: ${Object.keys(files).slice(0, 5).join(', ') || '(none)'}`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const torchscript =
    files[`${prefix}constants.pkl`] !== undefined || Object.keys(files).some((k) => k.startsWith(`${prefix}code/`));
  const byteorderBytes = read(`${prefix}byteorder`);
  if (byteorderBytes && new TextDecoder().decode(byteorderBytes).trim() !== 'little')
    fail('big-endian checkpoints are not supported');
  let storageBytes = 0;
  const seenEntries = new Set<string>();
  const readStorage = (k: string): Uint8Array | undefined => {
    const raw = read(k);
    if (raw && !seenEntries.has(k)) {
      seenEntries.add(k);
      storageBytes += raw.byteLength;
    }
    return raw;
  };
  const root = yield* unpickle(
    read(pklName)!,
    (storage, offset, size, stride) => {
      return rebuildTensor(readStorage, prefix, storage, offset, size, stride, fail);
    },
    fail,
    {
      opcodes: options.opcodeBudget ?? DEFAULT_OPCODES,
      objects: options.objectBudget ?? DEFAULT_OBJECTS,
    },
  );
  const pending: Record<string, PendingTensor> = {};
  let kind: TorchCheckpoint['kind'];
  if (root instanceof Map) {
    kind = 'state-dict';
    for (const [k, v] of root) if (v instanceof PendingTensor) pending[keyText(k, fail)] = v;
  } else if (typeof root === 'object' && root !== null && (root as PyObject).kind === 'object') {
    kind = torchscript ? 'torchscript' : 'module';
    yield* collectModuleTensors(root as PyObject, pending, fail);
  } else {
    return fail(`the pickle holds ${describe(root)}, neither a dict of tensors nor a module`);
  }
  if (Object.keys(pending).length === 0) fail('the checkpoint holds no tensors');
  // the output budget: every collected tensor is a float32 copy of its storage slice
  const outputBudget = options.outputBudget ?? 16 * 1024 * 1024 + bytes.length + storageBytes;
  let produced = 0;
  const tensors: Record<string, TorchTensor> = {};
  for (const [key, p] of Object.entries(pending)) {
    if (!p.data) {
      produced += p.count;
      if (produced > outputBudget)
        fail(
          `the tensors would hold ${produced}+ float32 values, past the budget of ${outputBudget} (${options.outputBudget !== undefined ? 'outputBudget' : '16 M + the bytes of the file and of its storages'}); '${key}' and others share storages many times over, which no checkpoint PyTorch writes needs`,
        );
      p.data = yield* convert(p);
    }
    tensors[key] = { dims: p.dims, data: p.data };
  }
  return { tensors, kind };
}

/** A dict key as text: strings and numbers; anything else is refused (a state dict is keyed by names). */
function keyText(k: unknown, fail: (m: string) => never): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  return fail(`a dict holding a tensor is keyed by ${describe(k)}, expected a string`);
}

/** The float32 values of a pending tensor, yielding between slices. */
function* convert(p: PendingTensor): Generator<void, Float32Array, void> {
  const sv = new DataView(p.raw.buffer, p.raw.byteOffset, p.raw.byteLength);
  const data = new Float32Array(p.count);
  const o0 = p.offset * p.width;
  const { width, type } = p;
  for (let i = 0; i < p.count; i++) {
    const o = o0 + i * width;
    data[i] =
      width === 4
        ? sv.getFloat32(o, true)
        : width === 8
          ? sv.getFloat64(o, true)
          : type === 'HalfStorage'
            ? float16ToNumber(sv.getUint16(o, true))
            : bfloat16ToNumber(sv.getUint16(o, true));
    if ((i & (SLICE * 16 - 1)) === SLICE * 16 - 1) yield;
  }
  return data;
}

/**
 * Tensors of a module object: nn.Module `_parameters`/`_buffers`/`_modules` dicts, or TorchScript attributes.
 * Iterative (an explicit work list, not recursion, so 200,000 nested dicts cannot overflow the call stack); every
 * dict and object is visited once (pickles can hold cycles and shared values through the memo).
 */
function* collectModuleTensors(
  root: PyObject,
  out: Record<string, PendingTensor>,
  fail: (m: string) => never,
): Generator<void, void, void> {
  const seen = new Set<unknown>();
  const work: Array<{ v: unknown; path: string }> = [{ v: root, path: '' }];
  const join = (prefix: string, key: unknown) => {
    const k = keyText(key, fail);
    return prefix ? `${prefix}.${k}` : k;
  };
  let steps = 0;
  while (work.length > 0) {
    if ((++steps & (SLICE - 1)) === 0) yield;
    const { v, path } = work.pop()!;
    if (v instanceof PendingTensor) {
      out[path] = v;
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    if (v instanceof Map) {
      seen.add(v);
      const items = [...v];
      for (let i = items.length - 1; i >= 0; i--) work.push({ v: items[i]![1], path: join(path, items[i]![0]) });
      continue;
    }
    if ((v as PyObject).kind !== 'object') continue;
    seen.add(v);
    const a = (v as PyObject).attrs;
    const later: Array<{ v: unknown; path: string }> = [];
    if (a.has('_parameters') || a.has('_modules')) {
      // a pickled nn.Module: parameters and buffers at this level, then the child modules
      for (const dictName of ['_parameters', '_buffers']) {
        const d = a.get(dictName);
        if (d instanceof Map) for (const [k, x] of d) if (x instanceof PendingTensor) out[join(path, k)] = x;
      }
      const mods = a.get('_modules');
      if (mods instanceof Map)
        for (const [k, x] of mods)
          if (typeof x === 'object' && x !== null && (x as PyObject).kind === 'object')
            later.push({ v: x, path: join(path, k) });
    } else {
      for (const [k, x] of a) later.push({ v: x, path: join(path, k) });
    }
    for (let i = later.length - 1; i >= 0; i--) work.push(later[i]!);
  }
}

function rebuildTensor(
  read: (entry: string) => Uint8Array | undefined,
  prefix: string,
  storage: unknown,
  offset: unknown,
  size: unknown,
  stride: unknown,
  fail: (m: string) => never,
): PendingTensor {
  const s = storage as StorageRef;
  if (typeof s !== 'object' || s === null || s.kind !== 'storage') fail('a tensor without a storage');
  if (!Number.isSafeInteger(offset) || (offset as number) < 0)
    fail(`tensor storage offset ${describe(offset)} is not a non-negative safe integer`);
  if (!Array.isArray(size) || !size.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0))
    fail(`tensor size ${describe(size)} is not a list of non-negative integers`);
  const bad = (size as number[]).find((d) => !Number.isSafeInteger(d));
  if (bad !== undefined)
    fail(`tensor size ${describe(size)}: ${bad} is not a safe integer (at most 2^53 - 1 = ${Number.MAX_SAFE_INTEGER})`);
  if (
    !Array.isArray(stride) ||
    stride.length !== (size as number[]).length ||
    !stride.every((d) => Number.isSafeInteger(d))
  )
    fail(`tensor stride ${describe(stride)} does not match size ${describe(size)}`);
  const dims = size as number[];
  const raw = read(`${prefix}data/${s.key}`);
  if (!raw) fail(`storage data/${s.key} is missing`);
  const width =
    STORAGE_WIDTH[s.type] ?? fail(`storage type ${s.type} is not supported (float32, float16, bfloat16, float64)`);
  let expect = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    if (dims[i]! > 1 && (stride as number[])[i] !== expect)
      fail(`non-contiguous tensor (size [${dims.join(', ')}], stride [${(stride as number[]).join(', ')}])`);
    expect *= dims[i]!;
  }
  const count = expect;
  if (!Number.isSafeInteger(count) || ((offset as number) + count) * width > raw!.byteLength)
    fail(
      `storage data/${s.key} (${raw!.byteLength} bytes) is too short for ${count} ${s.type.replace('Storage', '')} values at offset ${String(offset)}`,
    );
  return new PendingTensor(dims, raw!, s.type, width, offset as number, count);
}

/**
 * The restricted unpickler: a loop over opcodes (no recursion), yielding every few thousand of them. Every opcode
 * consumes at least one byte and every read is bounds-checked, so it ends on any input; the opcodes executed (plus
 * the elements copied) stay within `budget.opcodes`, and the stack, its marks and the memo within `budget.objects`.
 */
function* unpickle(
  pkl: Uint8Array,
  tensor: (storage: unknown, offset: unknown, size: unknown, stride: unknown) => PendingTensor,
  fail: (m: string) => never,
  budget: { opcodes: number; objects: number },
): Generator<void, unknown, void> {
  const dv = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const decoder = new TextDecoder();
  let pos = 0;
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const marks: number[] = [];
  const need = (n: number, what: string) => {
    if (n < 0 || pos + n > pkl.length) fail(`pickle truncated inside ${what} at byte ${pos}`);
  };
  const u8 = () => {
    need(1, 'an opcode argument');
    return pkl[pos++]!;
  };
  const line = () => {
    const s = pos;
    while (pos < pkl.length && pkl[pos] !== 0x0a) pos++;
    if (pos >= pkl.length) fail(`pickle truncated inside a GLOBAL name at byte ${s}`);
    return decoder.decode(pkl.subarray(s, pos++));
  };
  const text = (n: number) => {
    need(n, 'a string');
    const s = decoder.decode(pkl.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail(`pickle stack underflow at byte ${pos - 1}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail(`pickle stack underflow at byte ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined || m > stack.length) fail(`pickle MARK missing at byte ${pos - 1}`);
    return stack.splice(m!);
  };
  const asMap = (v: unknown, op: string): Map<unknown, unknown> => {
    if (!(v instanceof Map)) fail(`${op} on a ${v === null ? 'None' : typeof v} at byte ${pos - 1}, expected a dict`);
    return v as Map<unknown, unknown>;
  };
  const asList = (v: unknown, op: string): unknown[] => {
    if (!Array.isArray(v)) fail(`${op} on a non-list at byte ${pos - 1}`);
    return v as unknown[];
  };
  const u32 = () => {
    need(4, 'a length');
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const newObject = (cls: unknown): PyObject => {
    const g = cls as Global;
    if (typeof g !== 'object' || g === null || g.kind !== 'global') fail(`NEWOBJ of a non-class at byte ${pos - 1}`);
    return { kind: 'object', cls: `${g.module}.${g.name}`, attrs: new Map() };
  };
  const call = (fn: unknown, args: unknown): unknown => {
    const a = Array.isArray(args) ? args : fail(`REDUCE with non-tuple arguments at byte ${pos - 1}`);
    if (
      isGlobal(fn, 'collections', 'OrderedDict') ||
      isGlobal(fn, 'builtins', 'dict') ||
      isGlobal(fn, '__builtin__', 'dict')
    )
      return new Map();
    if (isGlobal(fn, 'torch._utils', '_rebuild_tensor_v2') || isGlobal(fn, 'torch._utils', '_rebuild_tensor'))
      return tensor(a[0], a[1], a[2], a[3]);
    if (
      isGlobal(fn, 'torch._utils', '_rebuild_parameter') ||
      isGlobal(fn, 'torch._utils', '_rebuild_parameter_with_state')
    )
      return a[0];
    if (isGlobal(fn, 'torch.jit._pickle', 'restore_type_tag')) return a[0];
    if (
      isGlobal(fn, 'torch.jit._pickle', 'build_intlist') ||
      isGlobal(fn, 'torch.jit._pickle', 'build_tensorlist') ||
      isGlobal(fn, 'torch.jit._pickle', 'build_doublelist') ||
      isGlobal(fn, 'torch.jit._pickle', 'build_boollist')
    )
      return a[0];
    if (isGlobal(fn, 'copyreg', '_reconstructor') || isGlobal(fn, 'copy_reg', '_reconstructor')) return newObject(a[0]);
    if (isGlobal(fn, 'torch', 'device')) return { kind: 'device', value: a[0] };
    // plain containers a pickled nn.Module holds (e.g. `_non_persistent_buffers_set = set()`), built as data
    if (
      isGlobal(fn, 'builtins', 'set') ||
      isGlobal(fn, '__builtin__', 'set') ||
      isGlobal(fn, 'builtins', 'frozenset') ||
      isGlobal(fn, '__builtin__', 'frozenset')
    ) {
      if (!Array.isArray(a[0])) return [];
      charge((a[0] as unknown[]).length);
      return [...(a[0] as unknown[])];
    }
    const g = fn as Global;
    return fail(
      `the checkpoint calls ${typeof g === 'object' && g !== null && g.kind === 'global' ? `${g.module}.${g.name}` : describe(g)}, which a checkpoint of tensors does not need; refusing to load it`,
    );
  };
  let work = 0;
  const charge = (n: number) => {
    work += n;
    if (work > budget.opcodes)
      fail(
        `pickle exceeds the budget of ${budget.opcodes} opcodes (at byte ${pos - 1}); no checkpoint of tensors needs that many`,
      );
  };
  let ops = 0;
  for (;;) {
    if (pos >= pkl.length) fail('pickle ended without STOP');
    charge(1);
    if ((++ops & (SLICE - 1)) === 0) {
      if (stack.length + marks.length + memo.size > budget.objects)
        fail(
          `pickle holds more than ${budget.objects} values at once on its stack and memo (at byte ${pos}); no checkpoint of tensors needs that many`,
        );
      yield;
    }
    const op = pkl[pos++]!;
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        need(8, 'FRAME');
        pos += 8;
        break; // FRAME
      case 0x63: {
        const module = line();
        stack.push({ kind: 'global', module, name: line() } satisfies Global);
        break;
      } // GLOBAL
      case 0x93: {
        const n = pop();
        const m = pop();
        if (typeof n !== 'string' || typeof m !== 'string') fail(`STACK_GLOBAL of non-strings at byte ${pos - 1}`);
        stack.push({ kind: 'global', module: m as string, name: n as string } satisfies Global);
        break;
      }
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x64: {
        const items = popMark();
        const d = new Map();
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
        stack.push(d);
        break;
      } // DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x28:
        marks.push(stack.length);
        break; // MARK
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push([pop()]);
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      } // TUPLE3
      case 0x58:
        stack.push(text(u32()));
        break; // BINUNICODE
      case 0x8c:
        stack.push(text(u8()));
        break; // SHORT_BINUNICODE
      case 0x8d: {
        need(8, 'BINUNICODE8');
        const n = dv.getBigUint64(pos, true);
        pos += 8;
        if (n > BigInt(pkl.length)) fail(`string length ${n} exceeds the pickle`);
        stack.push(text(Number(n)));
        break;
      }
      case 0x42: {
        const n = u32();
        need(n, 'BINBYTES');
        stack.push(pkl.slice(pos, pos + n));
        pos += n;
        break;
      } // BINBYTES
      case 0x43: {
        const n = u8();
        need(n, 'SHORT_BINBYTES');
        stack.push(pkl.slice(pos, pos + n));
        pos += n;
        break;
      } // SHORT_BINBYTES
      case 0x4a: {
        need(4, 'BININT');
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      }
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d: {
        need(2, 'BININT2');
        stack.push(dv.getUint16(pos, true));
        pos += 2;
        break;
      }
      case 0x8a: {
        // LONG1
        const n = u8();
        need(n, 'LONG1');
        let v = 0n;
        for (let i = 0; i < n; i++) v |= BigInt(pkl[pos + i]!) << BigInt(8 * i);
        if (n > 0 && pkl[pos + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: {
        need(8, 'BINFLOAT');
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68: {
        const k = u8();
        if (!memo.has(k)) fail(`BINGET of unknown memo key ${k}`);
        stack.push(memo.get(k));
        break;
      }
      case 0x6a: {
        const k = u32();
        if (!memo.has(k)) fail(`LONG_BINGET of unknown memo key ${k}`);
        stack.push(memo.get(k));
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 3)
          fail(`unsupported persistent id ${describe(pid)} at byte ${pos - 1}`);
        const t = (pid as unknown[])[1] as Global;
        stack.push({
          kind: 'storage',
          type: typeof t === 'object' && t !== null && t.kind === 'global' ? t.name : describe(t),
          key: keyText((pid as unknown[])[2], fail),
        } satisfies StorageRef);
        break;
      }
      case 0x52: {
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      } // REDUCE
      case 0x81: {
        const args = pop();
        const cls = pop();
        void args;
        stack.push(newObject(cls));
        break;
      } // NEWOBJ
      case 0x62: {
        // BUILD: object state; for module objects the state is their attribute dict
        const state = pop();
        const obj = top();
        if (typeof obj === 'object' && obj !== null && (obj as PyObject).kind === 'object') {
          const st = Array.isArray(state) ? state[0] : state; // (dict, slots) form
          if (st instanceof Map) for (const [k, v] of st) (obj as PyObject).attrs.set(keyText(k, fail), v);
        }
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        asMap(top(), 'SETITEM').set(k, v);
        break;
      }
      case 0x75: {
        const items = popMark();
        const d = asMap(top(), 'SETITEMS');
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case 0x61: {
        const v = pop();
        asList(top(), 'APPEND').push(v);
        break;
      }
      case 0x65: {
        const items = popMark();
        const l = asList(top(), 'APPENDS');
        for (const x of items) l.push(x);
        break;
      }
      case 0x2e:
        return pop(); // STOP
      default:
        return fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}
