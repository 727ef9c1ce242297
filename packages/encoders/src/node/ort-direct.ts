/**
 * @file ONNX Runtime's own C API, called through the optional `koffi` FFI, for CPU runs whose outputs are large:
 * ONNX Runtime writes them straight into the caller's buffers and nothing copies them again.
 *
 * onnxruntime-node 1.30 (and 1.31.1) copies every output of a run into a fresh JavaScript buffer, even an output the
 * caller pre-allocated (`inference_session_wrap.cc` converts each with `OrtValueToNapiValue`). A HESP step of 64
 * ViT-B/32 frames fetches 1.1 GB of vision residuals, so the step paid for a copy, a zero-filled ArrayBuffer and the
 * garbage collections those buffers drive, at every step (apps/bench/README.md, "Residuals written in place").
 * `DirectSession` runs a graph on the same library onnxruntime-node loaded (`libonnxruntime.so.1` beside its binding),
 * in the same process-wide ONNX Runtime environment, with the session options translated one by one: the same
 * kernels, the same bits.
 *
 * The C API is a table of function pointers (`OrtApi`) that ONNX Runtime only ever appends to, so the positions below
 * are those of every release since 1.14; the library's version is checked against that, and the table against a
 * status round trip, before anything else is called.
 */
import { dirname, join } from 'node:path';
import { buildModel, InvalidArgumentError } from '@vlfer/core';
import * as ort from 'onnxruntime-node';
import { koffiFailure } from './libc.js';
import { packageRequire, packageResolve } from './require.js';

/** The parts of koffi used here (function pointers called through prototypes). */
interface KoffiFfi {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
  proto(signature: string): unknown;
  decode(ptr: unknown, type: unknown, length?: number): unknown;
  array(type: string, length: number): unknown;
}

/** A C function of the table, callable now or on koffi's worker thread (`async`, last argument a callback). */
type CFunction = ((...args: unknown[]) => unknown) & {
  async(...args: unknown[]): void;
};

/** Positions in `OrtApi` (onnxruntime_c_api.h), and each function's signature in koffi's syntax. */
const API = {
  CreateStatus: [0, 'void *CreateStatus(int code, const char *msg)'],
  GetErrorCode: [1, 'int GetErrorCode(void *status)'],
  GetErrorMessage: [2, 'const char *GetErrorMessage(void *status)'],
  CreateEnv: [3, 'void *CreateEnv(int level, const char *logid, _Out_ void **out)'],
  CreateSessionFromArray: [
    8,
    'void *CreateSessionFromArray(void *env, const void *data, size_t length, void *options, _Out_ void **out)',
  ],
  Run: [
    9,
    'void *Run(void *session, void *runOptions, const char **inputNames, void **inputs, size_t inputCount, const char **outputNames, size_t outputCount, void **outputs)',
  ],
  CreateSessionOptions: [10, 'void *CreateSessionOptions(_Out_ void **out)'],
  SetSessionExecutionMode: [13, 'void *SetSessionExecutionMode(void *options, int mode)'],
  EnableProfiling: [14, 'void *EnableProfiling(void *options, const char *prefix)'],
  EnableMemPattern: [16, 'void *EnableMemPattern(void *options)'],
  DisableMemPattern: [17, 'void *DisableMemPattern(void *options)'],
  EnableCpuMemArena: [18, 'void *EnableCpuMemArena(void *options)'],
  DisableCpuMemArena: [19, 'void *DisableCpuMemArena(void *options)'],
  SetSessionLogSeverityLevel: [22, 'void *SetSessionLogSeverityLevel(void *options, int level)'],
  SetSessionGraphOptimizationLevel: [23, 'void *SetSessionGraphOptimizationLevel(void *options, int level)'],
  SetIntraOpNumThreads: [24, 'void *SetIntraOpNumThreads(void *options, int threads)'],
  SetInterOpNumThreads: [25, 'void *SetInterOpNumThreads(void *options, int threads)'],
  SessionGetInputCount: [30, 'void *SessionGetInputCount(void *session, _Out_ size_t *out)'],
  SessionGetOutputCount: [31, 'void *SessionGetOutputCount(void *session, _Out_ size_t *out)'],
  SessionGetInputName: [
    36,
    'void *SessionGetInputName(void *session, size_t index, void *allocator, _Out_ void **out)',
  ],
  SessionGetOutputName: [
    37,
    'void *SessionGetOutputName(void *session, size_t index, void *allocator, _Out_ void **out)',
  ],
  CreateTensorWithDataAsOrtValue: [
    49,
    'void *CreateTensorWithDataAsOrtValue(void *info, void *data, size_t length, const int64_t *shape, size_t rank, int type, _Out_ void **out)',
  ],
  CreateCpuMemoryInfo: [69, 'void *CreateCpuMemoryInfo(int allocatorType, int memType, _Out_ void **out)'],
  AllocatorFree: [76, 'void *AllocatorFree(void *allocator, void *ptr)'],
  GetAllocatorWithDefaultOptions: [78, 'void *GetAllocatorWithDefaultOptions(_Out_ void **out)'],
  ReleaseStatus: [93, 'void ReleaseStatus(void *status)'],
  ReleaseSession: [95, 'void ReleaseSession(void *session)'],
  ReleaseValue: [96, 'void ReleaseValue(void *value)'],
  ReleaseSessionOptions: [100, 'void ReleaseSessionOptions(void *options)'],
  SessionEndProfiling: [110, 'void *SessionEndProfiling(void *session, void *allocator, _Out_ void **out)'],
  AddSessionConfigEntry: [130, 'void *AddSessionConfigEntry(void *options, const char *key, const char *value)'],
} as const satisfies Record<string, readonly [number, string]>;

/** The API version asked of `OrtGetApiBase().GetApi`: every position above is in its table. */
const API_VERSION = 14;
/** The oldest ONNX Runtime accepted (1.x): its table, API version 14, already has every position above. */
const MIN_MINOR = 14;

/**
 * ONNXTensorElementDataType by onnxruntime-common tensor type, for the types a feed or fetch may have here, with the
 * typed array that must hold the data.
 */
const ELEMENT_TYPES: Partial<Record<ort.Tensor.Type, [number, new (n: number) => ArrayBufferView]>> = {
  float32: [1, Float32Array],
  uint8: [2, Uint8Array],
  int8: [3, Int8Array],
  int32: [6, Int32Array],
  int64: [7, BigInt64Array],
};
/** GraphOptimizationLevel by onnxruntime-common's name. */
const OPTIMIZATION_LEVELS: Record<string, number> = { disabled: 0, basic: 1, extended: 2, layout: 3, all: 99 };
/** The session options `DirectSession.create` translates; any other refuses the session (`directSessionRefusal`). */
const OPTION_KEYS = new Set([
  'executionProviders',
  'graphOptimizationLevel',
  'logSeverityLevel',
  'intraOpNumThreads',
  'interOpNumThreads',
  'enableCpuMemArena',
  'enableMemPattern',
  'executionMode',
  'enableProfiling',
  'profileFilePrefix',
  'extra',
]);

interface Runtime {
  koffi: KoffiFfi;
  fn: Record<keyof typeof API, CFunction>;
  env: unknown;
  cpu: unknown;
  allocator: unknown;
  version: string;
}

/** Whether `DirectSession` can run here: the ONNX Runtime version it found, or why not. */
export type DirectRunsStatus = { available: true; onnxruntimeVersion: string } | { available: false; reason: string };

let loaded: Runtime | { reason: string } | undefined;

/** The shared library onnxruntime-node's binding links against, in its package (Linux, where this is tested). */
function libraryPath(): string {
  if (process.platform !== 'linux')
    throw new Error(`it is called on Linux only (where it is tested), not ${process.platform}`);
  return join(
    dirname(packageResolve('onnxruntime-node/package.json')),
    'bin',
    'napi-v6',
    'linux',
    process.arch,
    'libonnxruntime.so.1',
  );
}

/** koffi, the library, the checked function table, the environment, CPU memory info and the default allocator. */
function runtime(): Runtime | { reason: string } {
  if (loaded) return loaded;
  let koffi: KoffiFfi;
  try {
    koffi = packageRequire('koffi') as KoffiFfi;
  } catch (error) {
    return (loaded = { reason: koffiFailure(error) });
  }
  try {
    loaded = openRuntime(koffi);
  } catch (error) {
    loaded = { reason: `ONNX Runtime's C API did not load: ${(error as Error).message.split('\n')[0]}` };
  }
  return loaded;
}

function openRuntime(koffi: KoffiFfi): Runtime {
  // onnxruntime-node's binding loads the library when imported: this finds that instance
  void ort.env;
  const lib = koffi.load(libraryPath());
  const [getApi, getVersion] = koffi.decode(lib.func('void *OrtGetApiBase()')(), koffi.array('void *', 2)) as unknown[];
  const version = (koffi.decode(getVersion, koffi.proto('const char *GetVersionString()')) as CFunction)() as string;
  const [major, minor] = version.split('.').map(Number);
  if (major !== 1 || !(minor! >= MIN_MINOR))
    throw new Error(`ONNX Runtime ${version}: its C API is called for 1.${MIN_MINOR} and later 1.x releases only`);
  const table = (koffi.decode(getApi, koffi.proto('void *GetApi(uint32_t version)')) as CFunction)(API_VERSION);
  if (!table) throw new Error(`ONNX Runtime ${version} has no C API version ${API_VERSION}`);
  const last = Math.max(...Object.values(API).map(([i]) => i));
  const pointers = koffi.decode(table, koffi.array('void *', last + 1)) as unknown[];
  const fn = Object.fromEntries(
    Object.entries(API).map(([name, [i, signature]]) => [name, koffi.decode(pointers[i], koffi.proto(signature))]),
  ) as Runtime['fn'];
  // the table is the one expected: a status made and read back through three of its functions
  const probe = fn.CreateStatus(2, 'vlfer probe');
  const ok = fn.GetErrorCode(probe) === 2 && fn.GetErrorMessage(probe) === 'vlfer probe';
  fn.ReleaseStatus(probe);
  if (!ok) throw new Error(`ONNX Runtime ${version}: its C API table is not laid out as expected`);
  const rt: Runtime = { koffi, fn, env: undefined, cpu: undefined, allocator: undefined, version };
  rt.cpu = out(rt, 'CreateCpuMemoryInfo', 0, 0); // OrtDeviceAllocator, OrtMemTypeDefault
  rt.allocator = out(rt, 'GetAllocatorWithDefaultOptions');
  return rt;
}

let environment: Promise<unknown> | undefined;
/**
 * ONNX Runtime's process-wide environment, the one onnxruntime-node uses: onnxruntime-node creates it, with the
 * settings of `ort.env` (log level), when it creates its first session, and ONNX Runtime keeps one per process. A
 * throwaway one-node session of onnxruntime-node's makes sure it exists before `CreateEnv` returns it here; created
 * here first, it would have this module's settings instead of the user's.
 */
function sharedEnvironment(rt: Runtime): Promise<unknown> {
  environment ??= (async () => {
    const identity = buildModel({
      name: 'vlfer_env',
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: 'float32', dims: [1] }],
      outputs: [{ name: 'y', type: 'float32', dims: [1] }],
    });
    await (await ort.InferenceSession.create(identity)).release();
    return (rt.env = out(rt, 'CreateEnv', 3, 'vlfer'));
  })();
  return environment;
}

/** Throws ONNX Runtime's message for a failed call's status (and releases the status); nothing for success. */
function check(rt: Pick<Runtime, 'fn'>, status: unknown, what: string): void {
  if (!status) return;
  const message = rt.fn.GetErrorMessage(status) as string;
  rt.fn.ReleaseStatus(status);
  throw new Error(`ONNX Runtime ${what}: ${message}`);
}

/** Calls `name` with `args` and a last out-parameter, and returns what it wrote there. */
function out(rt: Pick<Runtime, 'fn'>, name: keyof typeof API, ...args: unknown[]): unknown {
  const slot: unknown[] = [null];
  check(rt, rt.fn[name](...args, slot), name);
  return slot[0];
}

/** @returns whether `DirectSession` runs here, and the ONNX Runtime version, or why not */
export function directRunsStatus(): DirectRunsStatus {
  const r = runtime();
  return 'reason' in r ? { available: false, reason: r.reason } : { available: true, onnxruntimeVersion: r.version };
}

/**
 * Why `DirectSession.create` would refuse these onnxruntime-node session options, or undefined: it runs on the CPU
 * only, and translates the options it knows (graph optimisation, threads, arena, memory pattern, execution mode, log
 * severity, profiling, `extra` configuration entries); any other is refused rather than silently dropped.
 */
export function directSessionRefusal(options: ort.InferenceSession.SessionOptions): string | undefined {
  const o = options as Record<string, unknown>;
  for (const k of ['enableCpuMemArena', 'enableMemPattern', 'enableProfiling'])
    if (o[k] !== undefined && typeof o[k] !== 'boolean') return `${k} ${String(o[k])} (expected a boolean)`;
  if (o.profileFilePrefix !== undefined && typeof o.profileFilePrefix !== 'string')
    return `profileFilePrefix ${String(o.profileFilePrefix)} (expected a string)`;
  if (o.extra !== undefined && (o.extra === null || typeof o.extra !== 'object' || Array.isArray(o.extra)))
    return `extra ${String(o.extra)} (expected an object of configuration entries)`;
  const unknown = Object.keys(o).filter((k) => !OPTION_KEYS.has(k) && o[k] !== undefined);
  if (unknown.length) return `session options it does not translate: ${unknown.join(', ')}`;
  const providers = (options.executionProviders ?? []).map((p) => (typeof p === 'string' ? p : p.name));
  if (providers.some((p) => p !== 'cpu')) return `execution providers other than the CPU's: ${providers.join(', ')}`;
  const level = options.graphOptimizationLevel;
  if (level !== undefined && !Object.hasOwn(OPTIMIZATION_LEVELS, level))
    return `graphOptimizationLevel ${String(level)} (expected one of ${Object.keys(OPTIMIZATION_LEVELS).join(', ')})`;
  const mode = options.executionMode;
  if (mode !== undefined && mode !== 'sequential' && mode !== 'parallel')
    return `executionMode ${String(mode)} (expected sequential or parallel)`;
  for (const k of ['intraOpNumThreads', 'interOpNumThreads', 'logSeverityLevel'] as const) {
    const v = options[k];
    const max = k === 'logSeverityLevel' ? 4 : 2 ** 31 - 1;
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= max))
      return `${k} ${String(v)} (expected an integer from 0 to ${max})`;
  }
  return undefined;
}

/**
 * `extra` as ONNX Runtime configuration entries: nested keys joined by '.', as onnxruntime-node flattens them.
 * @throws InvalidArgumentError for a value that is not a string (onnxruntime-node refuses those too)
 */
function configEntries(extra: unknown, prefix = ''): [string, string][] {
  if (typeof extra === 'string') return [[prefix, extra]];
  if (extra === null || typeof extra !== 'object')
    throw new InvalidArgumentError({
      functionName: 'DirectSession.create',
      argument: `options.extra.${prefix}`,
      message: `must be a string, got ${String(extra)}`,
    });
  return Object.entries(extra as Record<string, unknown>).flatMap(([k, v]) =>
    configEntries(v, prefix ? `${prefix}.${k}` : k),
  );
}

/** The session options of `options` set on the C API's `so`. */
function applyOptions(rt: Runtime, so: unknown, options: ort.InferenceSession.SessionOptions): void {
  const call = (name: keyof typeof API, ...args: unknown[]) => check(rt, rt.fn[name](so, ...args), name);
  if (options.graphOptimizationLevel !== undefined)
    call('SetSessionGraphOptimizationLevel', OPTIMIZATION_LEVELS[options.graphOptimizationLevel]);
  if (options.intraOpNumThreads !== undefined) call('SetIntraOpNumThreads', options.intraOpNumThreads);
  if (options.interOpNumThreads !== undefined) call('SetInterOpNumThreads', options.interOpNumThreads);
  if (options.enableCpuMemArena !== undefined)
    call(options.enableCpuMemArena ? 'EnableCpuMemArena' : 'DisableCpuMemArena');
  if (options.enableMemPattern !== undefined) call(options.enableMemPattern ? 'EnableMemPattern' : 'DisableMemPattern');
  if (options.executionMode !== undefined)
    call('SetSessionExecutionMode', options.executionMode === 'parallel' ? 1 : 0);
  if (options.logSeverityLevel !== undefined) call('SetSessionLogSeverityLevel', options.logSeverityLevel);
  if (options.enableProfiling) call('EnableProfiling', options.profileFilePrefix ?? 'onnxruntime_profile_');
  for (const [key, value] of options.extra ? configEntries(options.extra) : [])
    call('AddSessionConfigEntry', key, value);
}

/** Calls a status-returning C function on koffi's worker thread; rejects with ONNX Runtime's message on failure. */
function callAsync(rt: Runtime, name: keyof typeof API, args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    rt.fn[name].async(...args, (error: unknown, status: unknown) => {
      if (error) return reject(error as Error);
      try {
        check(rt, status, name);
        resolve();
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

/** A NUL-terminated string ONNX Runtime allocated with the default allocator, read and freed. */
function takeString(rt: Runtime, ptr: unknown): string {
  try {
    return rt.koffi.decode(ptr, 'char', -1) as string;
  } finally {
    check(rt, rt.fn.AllocatorFree(rt.allocator, ptr), 'AllocatorFree');
  }
}

/**
 * An ONNX Runtime CPU session driven through its C API (see the file's comment): the subset of onnxruntime-node's
 * `InferenceSession` that `ClipGradientModel` uses, with every fetch pre-allocated by the caller and written in place.
 * A run blocks the calling thread, as onnxruntime-node 1.30's does; creation runs on koffi's worker thread.
 */
export class DirectSession {
  private handle: unknown;
  private constructor(
    private readonly rt: Runtime,
    handle: unknown,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {
    this.handle = handle;
  }

  /**
   * A session on an ONNX model's bytes, with onnxruntime-node's session options (see `directSessionRefusal`).
   * @throws Error where the C API is not available (`directRunsStatus`), InvalidArgumentError naming options it
   * does not translate, or ONNX Runtime's message
   */
  static async create(model: Uint8Array, options: ort.InferenceSession.SessionOptions = {}): Promise<DirectSession> {
    const rt = runtime();
    if ('reason' in rt) throw new Error(rt.reason);
    const refusal = directSessionRefusal(options);
    if (refusal)
      throw new InvalidArgumentError({ functionName: 'DirectSession.create', argument: 'options', message: refusal });
    const so = out(rt, 'CreateSessionOptions');
    let handle: unknown;
    try {
      applyOptions(rt, so, options);
      const slot: unknown[] = [null];
      await callAsync(rt, 'CreateSessionFromArray', [await sharedEnvironment(rt), model, model.byteLength, so, slot]);
      handle = slot[0];
    } finally {
      rt.fn.ReleaseSessionOptions(so);
    }
    try {
      const names = (count: 'SessionGetInputCount' | 'SessionGetOutputCount', get: keyof typeof API) =>
        Array.from({ length: Number(out(rt, count, handle)) }, (_, i) =>
          takeString(rt, out(rt, get, handle, i, rt.allocator)),
        );
      const inputs = names('SessionGetInputCount', 'SessionGetInputName');
      const outputs = names('SessionGetOutputCount', 'SessionGetOutputName');
      // ONNX Runtime hands such an output over as the input's own value and never writes the caller's fetch
      const both = outputs.filter((n) => inputs.includes(n));
      if (both.length)
        throw new InvalidArgumentError({
          functionName: 'DirectSession.create',
          argument: 'model',
          message: `graph outputs that are also graph inputs are not written into fetches: ${both.join(', ')}`,
        });
      return new DirectSession(rt, handle, inputs, outputs);
    } catch (error) {
      rt.fn.ReleaseSession(handle);
      throw error;
    }
  }

  /** An OrtValue over a tensor's own buffer (no copy); released by the caller. */
  private value(t: ort.Tensor | undefined, name: string, argument: string): unknown {
    const [type, array] = (t && ELEMENT_TYPES[t.type]) ?? [];
    const data = t?.location === 'cpu' ? (t.data as ArrayBufferView & { length: number }) : undefined;
    const size = t?.dims.reduce((a, b) => a * b, 1);
    if (!t || !type || !array || !(data instanceof array) || data.length !== size)
      throw new InvalidArgumentError({
        functionName: 'DirectSession.run',
        argument: `${argument}.${name}`,
        message: t
          ? `a CPU tensor of float32, uint8, int8, int32 or int64 whose data is its typed array of ${size} values was expected, got ${t.type} on ${t.location}${data ? ` holding ${data.constructor.name}(${data.length})` : ''}`
          : 'a tensor was expected, got undefined',
      });
    return out(
      this.rt,
      'CreateTensorWithDataAsOrtValue',
      this.rt.cpu,
      data,
      data.byteLength,
      [...t.dims],
      t.dims.length,
      type,
    );
  }

  /**
   * One run: `fetches` are the caller's tensors, which ONNX Runtime writes in place (none may be null).
   * Like onnxruntime-node's `run`, it first gives the event loop a turn (`setImmediate`), then runs on the calling
   * thread: a loop of runs still notices signals, timers (a killed parent: cli-kit's `onParentExit`) and I/O. Without
   * that turn a loop of awaited runs never leaves the microtask queue: Ctrl-C, SIGTERM and a killed pnpm went
   * unnoticed by a `bench:vjp` of the tiny CLIP until its last VJP.
   * @returns `fetches` @throws InvalidArgumentError for a null fetch or a tensor it cannot pass; ONNX Runtime's message
   */
  async run(
    feeds: Record<string, ort.Tensor>,
    fetches: Record<string, ort.Tensor | null>,
  ): Promise<Record<string, ort.Tensor>> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!this.handle) throw new Error('DirectSession.run: the session was released');
    const outNames = Object.keys(fetches);
    const missing = outNames.filter((n) => !fetches[n]);
    if (missing.length)
      throw new InvalidArgumentError({
        functionName: 'DirectSession.run',
        argument: 'fetches',
        message: `every fetch is written in place and must be a tensor; null: ${missing.join(', ')}`,
      });
    const inNames = Object.keys(feeds);
    const values: unknown[] = [];
    try {
      for (const n of inNames) values.push(this.value(feeds[n]!, n, 'feeds'));
      for (const n of outNames) values.push(this.value(fetches[n]!, n, 'fetches'));
      const ins = values.slice(0, inNames.length);
      const outs = values.slice(inNames.length);
      // on the calling thread, as onnxruntime-node 1.30 runs too (on koffi's worker thread a HESP step measured the
      // same page faults; apps/bench/README.md, "Residuals written in place")
      check(this.rt, this.rt.fn.Run(this.handle, null, inNames, ins, ins.length, outNames, outs.length, outs), 'Run');
    } finally {
      for (const v of values) this.rt.fn.ReleaseValue(v);
    }
    return fetches as Record<string, ort.Tensor>;
  }

  /** Ends this session's profiling (`enableProfiling`), which writes its Chrome-trace JSON. */
  endProfiling(): void {
    if (this.handle) takeString(this.rt, out(this.rt, 'SessionEndProfiling', this.handle, this.rt.allocator));
  }

  /** Releases the session (its threads and weights); later runs throw. */
  async release(): Promise<void> {
    if (this.handle) this.rt.fn.ReleaseSession(this.handle);
    this.handle = undefined;
  }
}
