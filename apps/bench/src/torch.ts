import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runJsonChild } from './children.js';

/**
 * The PyTorch side of `--vs torch`: the scripts in `apps/bench/torch/` run with a `python3` that has torch
 * (`$VLFER_TORCH_PYTHON`, else `python3`, else `/usr/bin/python3`: Debian's python3-torch), the same thread count as
 * vlfer, and the settings under which PyTorch CPU is fastest here (see {@link torchEnv}).
 */
export const TORCH_ENV = {
  // glibc keeps large blocks instead of unmapping them every op
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '4294967296',
  // idle OpenMP threads sleep instead of spinning against the BLAS threads (1.3-2x faster torch on 2 cores)
  OMP_WAIT_POLICY: 'PASSIVE',
};

/** The feature flags of the first processor in a /proc/cpuinfo text (`flags` on x86, `Features` on Arm); none if absent. */
export function parseCpuFlags(cpuinfo: string): Set<string> {
  const line = cpuinfo.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
  return new Set(
    line
      ? line
          .slice(line.indexOf(':') + 1)
          .trim()
          .split(/\s+/)
      : [],
  );
}

/** This machine's CPU feature flags (Linux's /proc/cpuinfo); none where there is no such file (macOS, Windows). */
export function cpuFlags(): Set<string> {
  let text: string;
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return new Set(); // OpenBLAS keeps its own choice
  }
  return parseCpuFlags(text);
}

/**
 * The environment a torch peer starts with: the caller's, then {@link TORCH_ENV}, then the thread limits for every
 * pool torch may use. `torch.set_num_threads` does not reach OpenBLAS, which sizes its pool from
 * `OPENBLAS_NUM_THREADS` when the library loads, so the limit must be in the environment before Python starts.
 * On a CPU with AVX-512 (`flags` has avx512f, avx512bw, avx512dq and avx512vl), `OPENBLAS_CORETYPE=SkylakeX` makes
 * Debian's OpenBLAS use its AVX-512 kernels (as installed it picks slower ones); elsewhere those kernels would end
 * the peer with SIGILL, so OpenBLAS keeps its own choice.
 */
export function torchEnv(
  threads: number,
  base: NodeJS.ProcessEnv = process.env,
  flags: ReadonlySet<string> = cpuFlags(),
): NodeJS.ProcessEnv {
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`--threads: the torch peer needs a positive integer thread count, got ${threads}`);
  const n = String(threads);
  const avx512 = ['avx512f', 'avx512bw', 'avx512dq', 'avx512vl'].every((f) => flags.has(f));
  return {
    ...base,
    ...TORCH_ENV,
    ...(avx512 ? { OPENBLAS_CORETYPE: 'SkylakeX' } : {}),
    OPENBLAS_NUM_THREADS: n,
    OMP_NUM_THREADS: n,
    MKL_NUM_THREADS: n,
  };
}
const SCRIPTS = join(import.meta.dirname, '..', 'torch');

let python: string | undefined;
/** A python3 that imports torch. @throws naming what was tried and how to install it */
export function torchPython(): string {
  if (python) return python;
  const tried = [process.env.VLFER_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
  for (const p of tried) {
    const r = spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return (python = p);
  }
  throw new Error(
    `--vs torch: none of ${tried.join(', ')} can import torch; install it (Debian: apt-get install python3-torch python3-torchvision libopenblas0-pthread) or set VLFER_TORCH_PYTHON`,
  );
}

/** How a torch script is started, beyond its flags. */
export interface TorchRunOptions {
  /** a command the python runs under, before its argv: `['taskset', '-c', '0']` */
  prefix?: readonly string[];
}

/** Run `apps/bench/torch/<script>.py` with the given flags (see {@link runTorchScript}). */
export function runTorch(
  script: string,
  args: Record<string, string | number | undefined>,
  threads: number,
  options: TorchRunOptions = {},
): Promise<Record<string, any>> {
  return runTorchScript(join(SCRIPTS, `${script}.py`), args, threads, options);
}

/**
 * Run a Python file with the torch python, `--<flag> value` for each defined entry of `args`, then `--threads` and
 * `--parent` (this process's pid: the script exits once this process is gone: `exit_with_parent` in `torch/common.py`),
 * in the environment of {@link torchEnv}, as a child of `runJsonChild`: asynchronously, in a process group of its
 * own, killed with a bench that stops (`installBenchStop`).
 * @returns the JSON object on its last stdout line
 * @throws naming `--vs torch`, the script, its exit status and the end of its stderr; or when the last line is not JSON
 */
export async function runTorchScript(
  file: string,
  args: Record<string, string | number | undefined>,
  threads: number,
  options: TorchRunOptions = {},
): Promise<Record<string, any>> {
  const flags = Object.entries(args)
    .filter(([, v]) => v !== undefined)
    .flatMap(([k, v]) => [`--${k}`, String(v)]);
  return runJsonChild({
    name: basename(file),
    option: '--vs torch',
    argv: [
      ...(options.prefix ?? []),
      torchPython(),
      file,
      ...flags,
      ...['--threads', String(threads), '--parent', String(process.pid)],
    ],
    env: torchEnv(threads),
  });
}

/**
 * Rounds A B / B A / A B …: `a` and `b` alternate which goes first, so drift (thermal, caches) hits both. Without
 * `b` (no `--vs`), `a` alone runs `rounds` times.
 */
export async function interleaved<A, B>(
  rounds: number,
  a: () => Promise<A>,
  b: (() => Promise<B>) | undefined,
  log: (line: string) => void = () => undefined,
): Promise<{ a: A[]; b: B[] }> {
  const out = { a: [] as A[], b: [] as B[] };
  for (let r = 0; r < rounds; r++) {
    if (!b) {
      out.a.push(await a());
      continue;
    }
    log(`round ${r + 1}/${rounds} (${r % 2 === 0 ? 'vlfer, then PyTorch' : 'PyTorch, then vlfer'})`);
    if (r % 2 === 0) {
      out.a.push(await a());
      out.b.push(await b());
    } else {
      out.b.push(await b());
      out.a.push(await a());
    }
  }
  return out;
}

/**
 * How the PyTorch peer ran, from the record its script emits (`torch/common.py` `emit`): version, BLAS, the thread
 * environment it saw, `parallel_info`, OpenBLAS's own thread count and torch's. Every `--vs torch` result records it.
 */
export function torchPeerSetting(r: Record<string, unknown>) {
  return {
    version: r.torch,
    blas: r.blas,
    environment: r.environment,
    parallelInfo: r.parallelInfo,
    openblasThreads: r.openblasThreads,
    threads: r.threads,
  };
}

/** Median of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
