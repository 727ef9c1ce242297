import { describeValue } from './describe.js';
import { runSteps, runStepsSync } from './concurrency.js';
import { DataFormatError } from './errors.js';
import type { ProgressCallback } from './options.js';
import { bfloat16ToNumber, float16ToNumber, INTEGER_BUFFER_KEY } from './safetensors.js';
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
  /** Floating-point tensors by state-dict key (dotted attribute path for modules), as float32. */
  tensors: Record<string, TorchTensor>;
  /**
   * Keys of the integer buffers (`INTEGER_BUFFER_KEY`: OpenAI CLIP's `input_resolution`, `context_length` and
   * `vocab_size`, position ids, BatchNorm's `num_batches_tracked`), not read; any other integer tensor is refused.
   */
  integerTensors: string[];
  /** 'state-dict' (a dict at the root), 'module' (a pickled nn.Module) or 'torchscript' (a `torch.jit.save` archive). */
  kind: 'state-dict' | 'module' | 'torchscript';
}

const STORAGE_WIDTH: Record<string, number> = { FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8 };
/** Integer and boolean storages: their tensors are checked (size, bytes) and listed, never converted. */
const INTEGER_STORAGE_WIDTH: Record<string, number> = {
  LongStorage: 8,
  IntStorage: 4,
  ShortStorage: 2,
  CharStorage: 1,
  ByteStorage: 1,
  BoolStorage: 1,
};

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
  /**
   * Progress of the conversion to float32 (the bulk of the work for a large checkpoint): phase `read checkpoint`,
   * one event per tensor in `tensors` (first with done 0).
   */
  onProgress?: ProgressCallback;
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
  return runStepsSync(parseCheckpoint(bytes, name, options));
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
  return runSteps(parseCheckpoint(bytes, name, options), { what, signal: options.signal, sliceMs: 0 });
}

/** A short description of a pickled value for messages: never recursive, never long. */
const describe = (v: unknown): string => (v === null ? 'None' : describeValue(v));

/** A lazily converted tensor: validated when the pickle rebuilds it, its float32 data produced only if collected. */
export class PendingTensor {
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

/** A checkpoint archive opened for unpickling: its pickle, the entry prefix, its kind, and a storage reader. */
export interface CheckpointArchive {
  /** The bytes of `<prefix>data.pkl`. */
  pickle: Uint8Array;
  /** The folder the archive's entries share (`archive/`), or ''. */
  prefix: string;
  /** Whether the archive is a TorchScript one (it has constants.pkl or code/). */
  torchscript: boolean;
  /** The bytes of a storage entry (by full entry name), counting each entry's size once. */
  readStorage(entry: string): Uint8Array | undefined;
  /** The bytes of the distinct storages read so far. */
  storageBytes(): number;
}

/**
 * Opens a PyTorch zip checkpoint: finds its `data.pkl` (the shortest such path), checks the byte order, and
 * tells TorchScript archives apart. Only the pickle, the storages and the byte order are ever read (TorchScript's
 * code/ is never inflated). Throws a DataFormatError naming `name` for a non-zip, a missing data.pkl or a big-endian file.
 */
export function openCheckpointArchive(bytes: Uint8Array, name: string, options: TorchReadOptions): CheckpointArchive {
  const fail = failFor(name);
  const files = readZipEntries(bytes, name, {
    ...(options.inflateBudget !== undefined ? { inflateBudget: options.inflateBudget } : {}),
  });
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
  return { pickle: read(pklName)!, prefix, torchscript, readStorage, storageBytes: () => storageBytes };
}

function failFor(name: string): (message: string, cause?: unknown) => never {
  return (message, cause) => {
    throw new DataFormatError({ file: name, message, ...(cause ? { cause } : {}) });
  };
}

/**
 * Where a root dict holds its tensors one level down (a training checkpoint `{'state_dict': {…}, 'epoch': 3}`), what
 * to say: the keys that hold them and how to save the state dict itself; else ''.
 */
function nestedStateDicts(root: unknown): string {
  if (!(root instanceof Map)) return '';
  const holders = [...root]
    .filter(
      ([, v]) => v instanceof Map && [...(v as Map<unknown, unknown>).values()].some((t) => t instanceof PendingTensor),
    )
    .map(([k]) => String(k));
  return holders.length
    ? ` at its top level; ${holders.map((k) => `'${k}'`).join(', ')} holds a dict of tensors (a training checkpoint?): save that dict on its own, e.g. torch.save(ckpt['${holders[0]}'], 'weights.pt')`
    : '';
}

/**
 * The tensors an unpickled root holds, by key: a dict at the root is a state dict; an object is a pickled
 * nn.Module (or, in a TorchScript archive, a scripted module) whose tensors {@link collectModuleTensors} gathers.
 * Throws a DataFormatError for any other root or when there are no tensors.
 */
export function* checkpointTensors(
  root: unknown,
  torchscript: boolean,
  fail: (m: string) => never,
): Generator<void, { pending: Record<string, PendingTensor>; kind: TorchCheckpoint['kind'] }, void> {
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
  if (Object.keys(pending).length === 0) fail(`the checkpoint holds no tensors${nestedStateDicts(root)}`);
  // integer buffers are listed; any other integer tensor is named as one (a weight stored as integers), not as missing
  for (const [key, p] of Object.entries(pending))
    if (isIntegerTensor(p) && !INTEGER_BUFFER_KEY.test(key))
      fail(
        `'${key}' is stored as ${p.type}: not supported (float32, float16, bfloat16, float64; integer buffers such as position_ids are listed, not read)`,
      );
  return { pending, kind };
}

/**
 * Converts every pending tensor to float32 (once per tensor), counting the values produced against `outputBudget`;
 * past it, a DataFormatError (tensors sharing one storage many times over). `budgetText` says where the budget came from.
 */
export function* convertTensors(
  pending: Record<string, PendingTensor>,
  outputBudget: number,
  budgetText: string,
  fail: (m: string) => never,
  /** called with (tensors done, tensors in all) before the first and after each tensor */
  onTensor?: (done: number, total: number) => void,
): Generator<void, Record<string, TorchTensor>, void> {
  let produced = 0;
  const tensors: Record<string, TorchTensor> = {};
  const entries = Object.entries(pending).filter(([, p]) => !isIntegerTensor(p));
  let done = 0;
  onTensor?.(0, entries.length);
  for (const [key, p] of entries) {
    if (!p.data) {
      produced += p.count;
      if (produced > outputBudget)
        fail(
          `the tensors would hold ${produced}+ float32 values, past the budget of ${outputBudget} (${budgetText}); '${key}' and others share storages many times over, which no checkpoint PyTorch writes needs`,
        );
      p.data = yield* convert(p);
    }
    tensors[key] = { dims: p.dims, data: p.data };
    onTensor?.(++done, entries.length);
  }
  return tensors;
}

/** Whether a pending tensor is of an integer or boolean storage (listed, not converted). */
export function isIntegerTensor(p: PendingTensor): boolean {
  return Object.hasOwn(INTEGER_STORAGE_WIDTH, p.type);
}

/** Stages: {@link openCheckpointArchive} → {@link unpickle} → {@link checkpointTensors} → {@link convertTensors}. */
function* parseCheckpoint(
  bytes: Uint8Array,
  name: string,
  options: TorchReadOptions,
): Generator<void, TorchCheckpoint, void> {
  const fail = failFor(name);
  const archive = openCheckpointArchive(bytes, name, options);
  const root = yield* unpickle(
    archive.pickle,
    (storage, offset, size, stride) =>
      rebuildTensor(archive.readStorage, archive.prefix, storage, offset, size, stride, fail),
    fail,
    { opcodes: options.opcodeBudget ?? DEFAULT_OPCODES, objects: options.objectBudget ?? DEFAULT_OBJECTS },
  );
  const { pending, kind } = yield* checkpointTensors(root, archive.torchscript, fail);
  // the output budget: every collected tensor is a float32 copy of its storage slice
  const outputBudget = options.outputBudget ?? 16 * 1024 * 1024 + bytes.length + archive.storageBytes();
  const budgetText =
    options.outputBudget !== undefined ? 'outputBudget' : '16 M + the bytes of the file and of its storages';
  const progress = options.onProgress;
  const onTensor = progress
    ? (done: number, total: number) => progress({ phase: 'read checkpoint', done, total, unit: 'tensors' })
    : undefined;
  const integerTensors = Object.keys(pending).filter((k) => isIntegerTensor(pending[k]!));
  return { tensors: yield* convertTensors(pending, outputBudget, budgetText, fail, onTensor), integerTensors, kind };
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
  // an integer buffer is never read: its layout does not matter (an expanded position-ids view has stride 0)
  if (Object.hasOwn(INTEGER_STORAGE_WIDTH, s.type))
    return new PendingTensor(dims, raw!, s.type, INTEGER_STORAGE_WIDTH[s.type]!, offset as number, 0);
  const width =
    STORAGE_WIDTH[s.type] ??
    fail(`storage type ${s.type} is not supported (float32, float16, bfloat16, float64; integer buffers listed)`);
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

/** The restricted unpickler's machine state: input, position, stack, marks, memo and the work charged so far. */
export class PickleMachine {
  readonly dv: DataView;
  readonly decoder = new TextDecoder();
  pos = 0;
  readonly stack: unknown[] = [];
  readonly memo = new Map<number, unknown>();
  readonly marks: number[] = [];
  private work = 0;

  constructor(
    readonly pkl: Uint8Array,
    readonly tensor: (storage: unknown, offset: unknown, size: unknown, stride: unknown) => PendingTensor,
    readonly fail: (m: string) => never,
    readonly budget: { opcodes: number; objects: number },
  ) {
    this.dv = new DataView(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  }

  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.pkl.length) this.fail(`pickle truncated inside ${what} at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1, 'an opcode argument');
    return this.pkl[this.pos++]!;
  }
  u32(): number {
    this.need(4, 'a length');
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A newline-terminated name (GLOBAL's arguments). */
  line(): string {
    const { pkl } = this;
    const s = this.pos;
    while (this.pos < pkl.length && pkl[this.pos] !== 0x0a) this.pos++;
    if (this.pos >= pkl.length) this.fail(`pickle truncated inside a GLOBAL name at byte ${s}`);
    return this.decoder.decode(pkl.subarray(s, this.pos++));
  }
  text(n: number): string {
    this.need(n, 'a string');
    const s = this.decoder.decode(this.pkl.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  /** `n` raw bytes, copied. */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.pkl.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  push(v: unknown): void {
    this.stack.push(v);
  }
  pop(): unknown {
    if (this.stack.length === 0) this.fail(`pickle stack underflow at byte ${this.pos - 1}`);
    return this.stack.pop();
  }
  top(): unknown {
    if (this.stack.length === 0) this.fail(`pickle stack underflow at byte ${this.pos - 1}`);
    return this.stack[this.stack.length - 1];
  }
  popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined || m > this.stack.length) this.fail(`pickle MARK missing at byte ${this.pos - 1}`);
    return this.stack.splice(m!);
  }
  asMap(v: unknown, op: string): Map<unknown, unknown> {
    if (!(v instanceof Map))
      this.fail(`${op} on a ${v === null ? 'None' : typeof v} at byte ${this.pos - 1}, expected a dict`);
    return v as Map<unknown, unknown>;
  }
  asList(v: unknown, op: string): unknown[] {
    if (!Array.isArray(v)) this.fail(`${op} on a non-list at byte ${this.pos - 1}`);
    return v as unknown[];
  }
  memoGet(k: number, op: string): unknown {
    if (!this.memo.has(k)) this.fail(`${op} of unknown memo key ${k}`);
    return this.memo.get(k);
  }
  newObject(cls: unknown): PyObject {
    const g = cls as Global;
    if (typeof g !== 'object' || g === null || g.kind !== 'global')
      this.fail(`NEWOBJ of a non-class at byte ${this.pos - 1}`);
    return { kind: 'object', cls: `${g.module}.${g.name}`, attrs: new Map() };
  }
  /** Counts `n` units of work (an opcode, or elements copied) against the opcode budget. */
  charge(n: number): void {
    this.work += n;
    if (this.work > this.budget.opcodes)
      this.fail(
        `pickle exceeds the budget of ${this.budget.opcodes} opcodes (at byte ${this.pos - 1}); no checkpoint of tensors needs that many`,
      );
  }
  /** Throws when the stack, marks and memo together hold more values than the object budget. */
  checkObjects(): void {
    if (this.stack.length + this.marks.length + this.memo.size > this.budget.objects)
      this.fail(
        `pickle holds more than ${this.budget.objects} values at once on its stack and memo (at byte ${this.pos}); no checkpoint of tensors needs that many`,
      );
  }
}

/** Callables that build an empty dict. */
const DICT_BUILDERS: Array<[string, string]> = [
  ['collections', 'OrderedDict'],
  ['builtins', 'dict'],
  ['__builtin__', 'dict'],
];
/** Callables that rebuild a tensor from a storage. */
const TENSOR_BUILDERS: Array<[string, string]> = [
  ['torch._utils', '_rebuild_tensor_v2'],
  ['torch._utils', '_rebuild_tensor'],
];
/** Callables whose result is their first argument (parameters, TorchScript type tags and typed lists). */
const PASS_THROUGH: Array<[string, string]> = [
  ['torch._utils', '_rebuild_parameter'],
  ['torch._utils', '_rebuild_parameter_with_state'],
  ['torch.jit._pickle', 'restore_type_tag'],
  ['torch.jit._pickle', 'build_intlist'],
  ['torch.jit._pickle', 'build_tensorlist'],
  ['torch.jit._pickle', 'build_doublelist'],
  ['torch.jit._pickle', 'build_boollist'],
];
/** Callables that create an object without running a constructor. */
const OBJECT_BUILDERS: Array<[string, string]> = [
  ['copyreg', '_reconstructor'],
  ['copy_reg', '_reconstructor'],
];
/** Sets and frozensets, built as lists. */
const SET_BUILDERS: Array<[string, string]> = [
  ['builtins', 'set'],
  ['__builtin__', 'set'],
  ['builtins', 'frozenset'],
  ['__builtin__', 'frozenset'],
];

const isAnyGlobal = (fn: unknown, names: Array<[string, string]>): boolean =>
  names.some(([module, n]) => isGlobal(fn, module, n));

/**
 * REDUCE: the few callables a checkpoint of tensors needs, emulated (dicts, tensor and parameter rebuilders,
 * TorchScript tags and list builders, object construction without a constructor, devices, sets as lists). Any other
 * global is refused with a DataFormatError naming it.
 */
export function callGlobal(vm: PickleMachine, fn: unknown, args: unknown): unknown {
  const a = Array.isArray(args) ? args : vm.fail(`REDUCE with non-tuple arguments at byte ${vm.pos - 1}`);
  if (isAnyGlobal(fn, DICT_BUILDERS)) return new Map();
  if (isAnyGlobal(fn, TENSOR_BUILDERS)) return vm.tensor(a[0], a[1], a[2], a[3]);
  if (isAnyGlobal(fn, PASS_THROUGH)) return a[0];
  if (isAnyGlobal(fn, OBJECT_BUILDERS)) return vm.newObject(a[0]);
  if (isGlobal(fn, 'torch', 'device')) return { kind: 'device', value: a[0] };
  // plain containers a pickled nn.Module holds (e.g. `_non_persistent_buffers_set = set()`), built as data
  if (isAnyGlobal(fn, SET_BUILDERS)) {
    if (!Array.isArray(a[0])) return [];
    vm.charge((a[0] as unknown[]).length);
    return [...(a[0] as unknown[])];
  }
  const g = fn as Global;
  return vm.fail(
    `the checkpoint calls ${typeof g === 'object' && g !== null && g.kind === 'global' ? `${g.module}.${g.name}` : describe(g)}, which a checkpoint of tensors does not need; refusing to load it`,
  );
}

/** Returned by the STOP handler. */
const STOP = Symbol('STOP');
type OpcodeHandler = (vm: PickleMachine) => void | typeof STOP;

function signedLittleEndian(vm: PickleMachine, n: number): number {
  const { pkl, pos } = vm;
  let v = 0n;
  for (let i = 0; i < n; i++) v |= BigInt(pkl[pos + i]!) << BigInt(8 * i);
  if (n > 0 && pkl[pos + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
  return Number(v);
}

/** Opcodes that push a value read from the input. */
const VALUE_OPCODES: Record<number, OpcodeHandler> = {
  0x58: (vm) => vm.push(vm.text(vm.u32())), // BINUNICODE
  0x8c: (vm) => vm.push(vm.text(vm.u8())), // SHORT_BINUNICODE
  0x8d: (vm) => {
    // BINUNICODE8
    vm.need(8, 'BINUNICODE8');
    const n = vm.dv.getBigUint64(vm.pos, true);
    vm.pos += 8;
    if (n > BigInt(vm.pkl.length)) vm.fail(`string length ${n} exceeds the pickle`);
    vm.push(vm.text(Number(n)));
  },
  0x42: (vm) => vm.push(vm.bytes(vm.u32(), 'BINBYTES')),
  0x43: (vm) => vm.push(vm.bytes(vm.u8(), 'SHORT_BINBYTES')),
  0x4a: (vm) => {
    vm.need(4, 'BININT');
    vm.push(vm.dv.getInt32(vm.pos, true));
    vm.pos += 4;
  },
  0x4b: (vm) => vm.push(vm.u8()), // BININT1
  0x4d: (vm) => {
    vm.need(2, 'BININT2');
    vm.push(vm.dv.getUint16(vm.pos, true));
    vm.pos += 2;
  },
  0x8a: (vm) => {
    // LONG1
    const n = vm.u8();
    vm.need(n, 'LONG1');
    const v = signedLittleEndian(vm, n);
    vm.pos += n;
    vm.push(v);
  },
  0x47: (vm) => {
    vm.need(8, 'BINFLOAT');
    vm.push(vm.dv.getFloat64(vm.pos, false));
    vm.pos += 8;
  },
  0x88: (vm) => vm.push(true), // NEWTRUE
  0x89: (vm) => vm.push(false), // NEWFALSE
  0x4e: (vm) => vm.push(null), // NONE
};

/** Opcodes that build containers, tuples and marks. */
const CONTAINER_OPCODES: Record<number, OpcodeHandler> = {
  0x7d: (vm) => vm.push(new Map()), // EMPTY_DICT
  0x64: (vm) => {
    // DICT
    const items = vm.popMark();
    const d = new Map();
    for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
    vm.push(d);
  },
  0x5d: (vm) => vm.push([]), // EMPTY_LIST
  0x6c: (vm) => vm.push(vm.popMark()), // LIST
  0x29: (vm) => vm.push([]), // EMPTY_TUPLE
  0x28: (vm) => void vm.marks.push(vm.stack.length), // MARK
  0x74: (vm) => vm.push(vm.popMark()), // TUPLE
  0x85: (vm) => vm.push([vm.pop()]), // TUPLE1
  0x86: (vm) => {
    // TUPLE2
    const b = vm.pop();
    const a = vm.pop();
    vm.push([a, b]);
  },
  0x87: (vm) => {
    // TUPLE3
    const c = vm.pop();
    const b = vm.pop();
    const a = vm.pop();
    vm.push([a, b, c]);
  },
  0x73: (vm) => {
    // SETITEM
    const v = vm.pop();
    const k = vm.pop();
    vm.asMap(vm.top(), 'SETITEM').set(k, v);
  },
  0x75: (vm) => {
    // SETITEMS
    const items = vm.popMark();
    const d = vm.asMap(vm.top(), 'SETITEMS');
    for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
  },
  0x61: (vm) => {
    // APPEND
    const v = vm.pop();
    vm.asList(vm.top(), 'APPEND').push(v);
  },
  0x65: (vm) => {
    // APPENDS
    const items = vm.popMark();
    const l = vm.asList(vm.top(), 'APPENDS');
    for (const x of items) l.push(x);
  },
};

/** Framing, the memo, globals, persistent ids (storages), calls and object state. */
const CONTROL_OPCODES: Record<number, OpcodeHandler> = {
  0x80: (vm) => void vm.u8(), // PROTO
  0x95: (vm) => {
    // FRAME
    vm.need(8, 'FRAME');
    vm.pos += 8;
  },
  0x71: (vm) => void vm.memo.set(vm.u8(), vm.top()), // BINPUT
  0x72: (vm) => void vm.memo.set(vm.u32(), vm.top()), // LONG_BINPUT
  0x94: (vm) => void vm.memo.set(vm.memo.size, vm.top()), // MEMOIZE
  0x68: (vm) => vm.push(vm.memoGet(vm.u8(), 'BINGET')),
  0x6a: (vm) => vm.push(vm.memoGet(vm.u32(), 'LONG_BINGET')),
  0x63: (vm) => {
    // GLOBAL
    const module = vm.line();
    vm.push({ kind: 'global', module, name: vm.line() } satisfies Global);
  },
  0x93: (vm) => {
    // STACK_GLOBAL
    const n = vm.pop();
    const m = vm.pop();
    if (typeof n !== 'string' || typeof m !== 'string') vm.fail(`STACK_GLOBAL of non-strings at byte ${vm.pos - 1}`);
    vm.push({ kind: 'global', module: m as string, name: n as string } satisfies Global);
  },
  0x51: (vm) => {
    // BINPERSID
    const pid = vm.pop();
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 3)
      vm.fail(`unsupported persistent id ${describe(pid)} at byte ${vm.pos - 1}`);
    const t = (pid as unknown[])[1] as Global;
    vm.push({
      kind: 'storage',
      type: typeof t === 'object' && t !== null && t.kind === 'global' ? t.name : describe(t),
      key: keyText((pid as unknown[])[2], vm.fail),
    } satisfies StorageRef);
  },
  0x52: (vm) => {
    // REDUCE
    const args = vm.pop();
    const fn = vm.pop();
    vm.push(callGlobal(vm, fn, args));
  },
  0x81: (vm) => {
    // NEWOBJ (the arguments are not used: no constructor runs)
    vm.pop();
    vm.push(vm.newObject(vm.pop()));
  },
  0x62: (vm) => {
    // BUILD: object state; for module objects the state is their attribute dict
    const state = vm.pop();
    const obj = vm.top();
    if (typeof obj === 'object' && obj !== null && (obj as PyObject).kind === 'object') {
      const st = Array.isArray(state) ? state[0] : state; // (dict, slots) form
      if (st instanceof Map) for (const [k, v] of st) (obj as PyObject).attrs.set(keyText(k, vm.fail), v);
    }
  },
  0x2e: () => STOP,
};

/** The unpickler's opcode table, indexed by opcode byte; `undefined` for an unsupported opcode. */
export const PICKLE_OPCODES: ReadonlyArray<OpcodeHandler | undefined> = (() => {
  const table = new Array<OpcodeHandler | undefined>(256).fill(undefined);
  for (const group of [VALUE_OPCODES, CONTAINER_OPCODES, CONTROL_OPCODES])
    for (const [op, handler] of Object.entries(group)) table[Number(op)] = handler;
  return table;
})();

/**
 * The restricted unpickler: a loop over opcodes (no recursion), yielding every few thousand of them. Every opcode
 * consumes at least one byte and every read is bounds-checked, so it ends on any input; the opcodes executed (plus
 * the elements copied) stay within `budget.opcodes`, and the stack, its marks and the memo within `budget.objects`.
 * Each opcode is one handler of {@link PICKLE_OPCODES} acting on a {@link PickleMachine}.
 */
export function* unpickle(
  pkl: Uint8Array,
  tensor: (storage: unknown, offset: unknown, size: unknown, stride: unknown) => PendingTensor,
  fail: (m: string) => never,
  budget: { opcodes: number; objects: number },
): Generator<void, unknown, void> {
  const vm = new PickleMachine(pkl, tensor, fail, budget);
  let ops = 0;
  for (;;) {
    if (vm.pos >= pkl.length) fail('pickle ended without STOP');
    vm.charge(1);
    if ((++ops & (SLICE - 1)) === 0) {
      vm.checkObjects();
      yield;
    }
    const op = pkl[vm.pos++]!;
    const handler = PICKLE_OPCODES[op];
    if (!handler) return fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${vm.pos - 1}`);
    if (handler(vm) === STOP) return vm.pop();
  }
}
