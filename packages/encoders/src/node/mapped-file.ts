/**
 * @file Private memory maps of weight files (POSIX `mmap` through the optional `koffi` FFI), so that weights fed to
 * ONNX Runtime at every run are the page cache's own pages instead of a copy in the JS heap: as PyTorch's
 * memory-mapped safetensors load, nothing is read until a run touches it, and nothing is copied.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { koffiFailure, processLibC, type Koffi } from './libc.js';

/** Where mapping is available, or why not (no `koffi`, not Linux or macOS, the C library did not load). */
export type FileMappingStatus = { available: true } | { available: false; reason: string };

/** A file mapped by `mapFilePrivate`. */
export interface MappedFile {
  /** The whole file. */
  bytes: Uint8Array;
  /**
   * The descriptor the map was made from, open for as long as `bytes`' buffer lives (closed with the map): `fstat`
   * it to check the mapped file itself, which a file renamed over the path since does not change. Never close it.
   */
  fd: number;
}

interface Live {
  ptr: unknown;
  length: number;
  fd: number;
}

interface Mapper {
  koffi: Koffi;
  mmap: (addr: null, length: number, prot: number, flags: number, fd: number, offset: number) => unknown;
  munmap: (addr: unknown, length: number) => number;
  /** the maps whose buffers are alive, unmapped when a worker thread exits (its finalizers never run then) */
  live: Set<Live>;
  /** unmaps a map and closes its descriptor once the last JS view of it is collected */
  registry: FinalizationRegistry<Live>;
  /** MAP_FAILED, (void *) -1 at this process's pointer width */
  failed: bigint;
}

// the same values on Linux and macOS. Writable but private (copy-on-write): a write into a view changes this
// process's copy of that page, never the file, and does not fault as a read-only map would
const PROT_READ_WRITE = 1 | 2;
const MAP_PRIVATE = 2;
const MAPPABLE = ['linux', 'darwin'];
/**
 * The largest file mapped: one ArrayBuffer views the whole map, and koffi aborts the process (not a JS error) for a
 * view over 4 GiB. Larger files (float32 ViT-g/14, bigG/14) are read instead.
 */
export const MAX_MAPPED_BYTES = 2 ** 32;

let mapper: Mapper | { reason: string } | undefined;

function loadMapper(): Mapper | { reason: string } {
  if (mapper) return mapper;
  if (!MAPPABLE.includes(process.platform))
    return (mapper = { reason: `memory maps are used on ${MAPPABLE.join(' and ')} only, not ${process.platform}` });
  const loaded = processLibC();
  if ('reason' in loaded) return (mapper = loaded);
  const { koffi, libc } = loaded;
  try {
    const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, intptr_t offset)');
    const munmap = libc.func('int munmap(void *addr, size_t length)') as Mapper['munmap'];
    const live = new Set<Live>();
    const unmap = (m: Live) => {
      live.delete(m);
      munmap(m.ptr, m.length);
      closeSync(m.fd);
    };
    const registry = new FinalizationRegistry<Live>(unmap);
    // a worker's maps outlive it otherwise (its heap is torn down without finalizers); no JS runs after 'exit'
    if (!isMainThread) process.once('exit', () => [...live].forEach(unmap));
    const failed = (1n << BigInt(8 * koffi.sizeof('void *'))) - 1n;
    mapper = { koffi, mmap: mmap as Mapper['mmap'], munmap, live, registry, failed };
  } catch (error) {
    mapper = { reason: koffiFailure(error) };
  }
  return mapper;
}

/** Whether `mapFilePrivate` can map files in this process, or why not. */
export function fileMappingStatus(): FileMappingStatus {
  const m = loadMapper();
  return 'reason' in m ? { available: false, reason: m.reason } : { available: true };
}

/**
 * The whole of `file` as a private memory map: its bytes, over pages the kernel reads in when first touched (a
 * write into them is this process's own, copy-on-write; the file is never written), and the descriptor they were
 * mapped from. `check(fd)` runs on the open descriptor before mapping (e.g. that it is still the file a header was
 * read from) and may throw. The map is released, and the descriptor closed, once the last view of its buffer is
 * garbage-collected, or when the worker thread that made it exits.
 *
 * While mapped, the file must not be truncated or rewritten in place (`cp` over it does both): the process would
 * read the new bytes, or be killed by SIGBUS on touching a page past the new end, possibly in the middle of a run.
 * Replace such a file by renaming a new one over it: the map keeps the old one.
 * @returns undefined where mapping is unavailable (`fileMappingStatus` says why), for an empty file or one over
 * `MAX_MAPPED_BYTES`, or when the kernel refuses the map: the caller reads the file instead
 * @throws what `check` throws; Node's own error (ENOENT, EACCES, …) when the file cannot be opened
 */
export function mapFilePrivate(file: string, check?: (fd: number) => void): MappedFile | undefined {
  const m = loadMapper();
  if ('reason' in m) return undefined;
  const fd = openSync(file, 'r');
  let mapped: MappedFile | undefined;
  try {
    check?.(fd);
    const length = fstatSync(fd).size;
    if (length === 0 || length > MAX_MAPPED_BYTES) return undefined;
    const ptr = m.mmap(null, length, PROT_READ_WRITE, MAP_PRIVATE, fd, 0);
    if (ptr === null || m.koffi.address(ptr) === m.failed) return undefined;
    let buffer: ArrayBuffer;
    try {
      buffer = m.koffi.view(ptr, length);
    } catch (error) {
      m.munmap(ptr, length);
      throw error;
    }
    const live = { ptr, length, fd };
    m.live.add(live);
    m.registry.register(buffer, live);
    mapped = { bytes: new Uint8Array(buffer), fd };
    return mapped;
  } finally {
    if (!mapped) closeSync(fd);
  }
}
