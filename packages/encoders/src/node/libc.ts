/**
 * @file The optional `koffi` FFI and the C library this process runs on (glibc, musl or macOS's libSystem), loaded
 * once for the modules that call it: memory maps (`mapped-file`) and malloc settings (`freed-memory`).
 */
import { packageRequire } from './require.js';

/** The C library's symbols, bound by signature (koffi's syntax); throws what koffi throws for a missing symbol. */
export interface LibC {
  func(signature: string): (...args: unknown[]) => unknown;
}

/** The parts of koffi used here. */
export interface Koffi {
  load(path: string | null): LibC;
  view(ptr: unknown, length: number): ArrayBuffer;
  address(ptr: unknown): bigint;
  sizeof(type: string): number;
}

let loaded: { koffi: Koffi; libc: LibC } | { reason: string } | undefined;

/** koffi and the process's own C library symbols (without naming the library), or why they did not load. */
export function processLibC(): { koffi: Koffi; libc: LibC } | { reason: string } {
  if (loaded) return loaded;
  try {
    const koffi = packageRequire('koffi') as Koffi;
    loaded = { koffi, libc: koffi.load(null) };
  } catch (error) {
    loaded = { reason: koffiFailure(error) };
  }
  return loaded;
}

/** The reason given when koffi, or a symbol bound through it, did not load: the error's first line. */
export function koffiFailure(error: unknown): string {
  return `the optional dependency koffi did not load (${(error as Error).message.split('\n')[0]})`;
}
