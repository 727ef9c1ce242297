/**
 * @file glibc's malloc told to keep freed blocks for reuse (`mallopt` through the optional `koffi` FFI), as the
 * PyTorch peer of the benchmarks runs with `MALLOC_MMAP_THRESHOLD_` and `MALLOC_TRIM_THRESHOLD_` in its environment.
 *
 * By default glibc serves each block above a threshold (at most 32 MiB, raised as large blocks are freed) with a
 * fresh `mmap` and returns it to the kernel when freed, and trims freed memory at the top of each heap beyond twice
 * that threshold. A training step that allocates and frees the same large buffers every step (ONNX Runtime's
 * intermediates, the copies of its outputs onnxruntime-node makes into new ArrayBuffers) then has the kernel
 * map, zero and fault in those pages again at every step: 130,000–360,000 minor page faults and 0.4–1.2 s of system
 * CPU time per HESP step of 64 ViT-B/32 frames on a 2-core AMD EPYC (apps/bench/README.md, "Freed memory kept").
 */
import { processLibC } from './libc.js';

/** What `keepFreedMemory` did in this process. */
export type FreedMemoryStatus =
  | {
      kept: true;
      /** blocks below this size come from the heap (reused once freed) instead of their own `mmap` */
      mmapThresholdBytes: number;
      /** freed memory at the top of the main heap is returned to the kernel only beyond this size */
      trimThresholdBytes: number;
    }
  | { kept: false; reason: string };

/** The values set: the PyTorch peer's `MALLOC_MMAP_THRESHOLD_` (glibc's own ceiling for its dynamic threshold). */
export const FREED_MEMORY_SETTINGS = {
  mmapThresholdBytes: 32 * 2 ** 20,
  // mallopt takes an int: the largest, so that nothing a step frees is trimmed
  trimThresholdBytes: 2 ** 31 - 1,
} as const;

// glibc's malloc.h
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** Environment variables by which a user has already tuned glibc's malloc; `keepFreedMemory` leaves such a process alone. */
const MALLOC_ENV = ['MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_TOP_PAD_', 'MALLOC_MMAP_MAX_'];

let status: FreedMemoryStatus | undefined;

/** Why this process's malloc is left as it is, or undefined where glibc can be told. */
function notTunable(env: NodeJS.ProcessEnv): string | undefined {
  if (process.platform !== 'linux') return `glibc's malloc is tuned on Linux only, not ${process.platform}`;
  const set = MALLOC_ENV.filter((k) => env[k] !== undefined);
  if (set.length) return `the environment sets ${set.join(', ')}: the user's malloc settings are kept`;
  const tunables = (env.GLIBC_TUNABLES ?? '').match(/glibc\.malloc\.(mmap_threshold|trim_threshold|top_pad|mmap_max)/g);
  if (tunables) return `GLIBC_TUNABLES sets ${tunables.join(', ')}: the user's malloc settings are kept`;
  return undefined;
}

/**
 * Tells glibc's malloc to serve blocks below 32 MiB from its heaps and not to trim freed memory from them
 * (`FREED_MEMORY_SETTINGS`), so that freed blocks are reused instead of returned to the kernel and faulted in again.
 * The settings are the whole process's; the status is this module's (each worker thread has its own copy): its
 * first call decides, later calls return that status, and a call from another thread sets the same values again.
 * Blocks of 32 MiB and more keep their own maps, and the 64 MiB heaps of threads other than the main one may still be
 * released when wholly free; ONNX Runtime runs a session on the calling thread (the main one in onnxruntime-node), whose
 * heap is the one kept. It is a choice: `ClipGradientModel.load` makes it on a CPU for models with gradients
 * (`keepFreedMemory` option). The cost is memory: the process keeps what a step freed for the next step.
 * @returns `kept: false` with the reason where it does nothing: not Linux, not glibc (musl), no `koffi`, or malloc
 * thresholds already set by the user (`MALLOC_*_` variables or `GLIBC_TUNABLES`)
 */
export function keepFreedMemory(env: NodeJS.ProcessEnv = process.env): FreedMemoryStatus {
  if (status) return status;
  const reason = notTunable(env);
  if (reason) return (status = { kept: false, reason });
  const loaded = processLibC();
  if ('reason' in loaded) return (status = { kept: false, reason: loaded.reason });
  const { libc } = loaded;
  let mallopt: (param: number, value: number) => number;
  try {
    libc.func('const char *gnu_get_libc_version()');
    mallopt = libc.func('int mallopt(int param, int value)') as typeof mallopt;
  } catch {
    return (status = { kept: false, reason: 'the C library is not glibc (no gnu_get_libc_version)' });
  }
  const { mmapThresholdBytes, trimThresholdBytes } = FREED_MEMORY_SETTINGS;
  // the threshold first: setting either turns off glibc's dynamic one, which must not fall back to 128 KiB alone
  if (mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes) !== 1 || mallopt(M_TRIM_THRESHOLD, trimThresholdBytes) !== 1)
    return (status = { kept: false, reason: 'glibc refused the mallopt settings' });
  return (status = { kept: true, mmapThresholdBytes, trimThresholdBytes });
}

/** What `keepFreedMemory` did, or undefined if it has not been called in this thread. */
export function freedMemoryStatus(): FreedMemoryStatus | undefined {
  return status;
}
