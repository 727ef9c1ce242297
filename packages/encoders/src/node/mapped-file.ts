/**
 * @file Private memory maps of weight files (POSIX `mmap` through the optional `koffi` FFI), so that weights fed to
 * ONNX Runtime at every run are the page cache's own pages instead of a copy in the JS heap: as PyTorch's
 * memory-mapped safetensors load, nothing is read until a run touches it, and nothing is copied.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { packageRequire } from './require.js';

/** Where mapping is available, or why not (no `koffi`, not Linux or macOS, the C library did not load). */
export type FileMappingStatus = { available: true } | { available: false; reason: string };

interface Koffi {
  load(path: string | null): { func(signature: string): (...args: unknown[]) => unknown };
  view(ptr: unknown, length: number): ArrayBuffer;
  address(ptr: unknown): bigint;
  sizeof(type: string): number;
}

interface Mapper {
  koffi: Koffi;
  mmap: (addr: null, length: number, prot: number, flags: number, fd: number, offset: number) => unknown;
  munmap: (addr: unknown, length: number) => number;
  /** munmap of a mapping once the last JS view of it is collected */
  registry: FinalizationRegistry<{ ptr: unknown; length: number }>;
  /** MAP_FAILED, (void *) -1 at this process's pointer width */
  failed: bigint;
}

// the same values on Linux and macOS. Writable but private (copy-on-write): a write into a view changes this
// process's copy of that page, never the file, and does not fault as a read-only map would
const PROT_READ_WRITE = 1 | 2;
const MAP_PRIVATE = 2;
const MAPPABLE = ['linux', 'darwin'];

let mapper: Mapper | { reason: string } | undefined;

function loadMapper(): Mapper | { reason: string } {
  if (mapper) return mapper;
  if (!MAPPABLE.includes(process.platform))
    return (mapper = { reason: `memory maps are used on ${MAPPABLE.join(' and ')} only, not ${process.platform}` });
  try {
    const koffi = packageRequire('koffi') as Koffi;
    // the process's own symbols: the C library it runs on (glibc, musl or macOS's libSystem), without naming it
    const libc = koffi.load(null);
    const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, intptr_t offset)');
    const munmap = libc.func('int munmap(void *addr, size_t length)');
    const registry = new FinalizationRegistry<{ ptr: unknown; length: number }>(({ ptr, length }) => {
      munmap(ptr, length);
    });
    const failed = (1n << BigInt(8 * koffi.sizeof('void *'))) - 1n;
    mapper = { koffi, mmap: mmap as Mapper['mmap'], munmap: munmap as Mapper['munmap'], registry, failed };
  } catch (error) {
    mapper = { reason: `the optional dependency koffi did not load (${(error as Error).message.split('\n')[0]})` };
  }
  return mapper;
}

/** Whether `mapFilePrivate` can map files in this process, or why not. */
export function fileMappingStatus(): FileMappingStatus {
  const m = loadMapper();
  return 'reason' in m ? { available: false, reason: m.reason } : { available: true };
}

/**
 * The whole of `file` as a private memory map: a Uint8Array over pages the kernel reads in when first touched; a
 * write into it is this process's own (copy-on-write), the file is never written. The map is released when the last view of its buffer is garbage-collected. `check(fd)` runs on the
 * open descriptor before mapping (e.g. that it is still the file a header was read from) and may throw.
 *
 * A mapped file must not be truncated or rewritten in place while mapped (the process would read the new bytes,
 * or be killed by SIGBUS past the new end): replace it by renaming a new file over it, as every vlfer writer does.
 * @returns undefined where mapping is unavailable (`fileMappingStatus` says why), for an empty file, when the
 * kernel refuses the map, or for a file larger than an ArrayBuffer may be (the caller reads the file instead)
 * @throws what `check` throws; a FileIoError-like Node error when the file cannot be opened
 */
export function mapFilePrivate(file: string, check?: (fd: number) => void): Uint8Array | undefined {
  const m = loadMapper();
  if ('reason' in m) return undefined;
  const fd = openSync(file, 'r');
  try {
    check?.(fd);
    const length = fstatSync(fd).size;
    if (length === 0) return undefined;
    const ptr = m.mmap(null, length, PROT_READ_WRITE, MAP_PRIVATE, fd, 0);
    if (ptr === null || m.koffi.address(ptr) === m.failed) return undefined;
    let buffer: ArrayBuffer;
    try {
      buffer = m.koffi.view(ptr, length);
    } catch {
      // larger than an ArrayBuffer may be here: unmapped, and the caller reads the file instead
      m.munmap(ptr, length);
      return undefined;
    }
    m.registry.register(buffer, { ptr, length });
    return new Uint8Array(buffer);
  } finally {
    closeSync(fd);
  }
}
