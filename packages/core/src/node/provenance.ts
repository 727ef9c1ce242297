import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, hostname, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a result came from: code (git SHA + dirty flag, package versions), runtime and machine. */
export interface Provenance {
  /** The vlfer checkout the code ran from, or null for installed packages (then `packages` identifies it). */
  git: { sha: string; dirty: boolean } | null;
  /** Versions of the @vlfer packages this process loaded, by name. */
  packages: Record<string, string>;
  node: string;
  /** Versions of the model runtime and other libraries, as given by the caller (e.g. `runtimeVersions()`). */
  runtime: Record<string, string | null>;
  os: string;
  host: string;
  cpu: { model: string; logicalCores: number; availableParallelism: number };
  memoryBytes: number;
  /** The machine's NVIDIA GPUs (`nvidia-smi`: name, memory, driver) or what the caller gave; null when none was found. */
  gpu: string | null;
}

let cachedGpu: string | null | undefined;

/**
 * The NVIDIA GPUs of this machine as `nvidia-smi` names them ("NVIDIA H200, 143771 MiB, driver 570.124.06"; several
 * joined by "; "), or null when `nvidia-smi` is absent or lists none. Cached per process.
 */
export function detectGpus(): string | null {
  if (cachedGpu !== undefined) return cachedGpu;
  let out: string | null = null;
  try {
    out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString().trim();
  } catch {
    out = null; // no nvidia-smi (no NVIDIA driver): recorded as null
  }
  cachedGpu = out ? out.split('\n').map((l) => { const [name, mem, driver] = l.split(',').map((s) => s.trim()); return `${name}, ${mem}, driver ${driver}`; }).join('; ') : null;
  return cachedGpu;
}

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString().trim();
  } catch {
    return null; // not a git checkout, or no git: recorded as null
  }
}

let cachedGit: Provenance['git'] | undefined;

/** The git commit and dirty flag of the checkout holding this file (tracked files only; untracked are ignored). */
export function codeRevision(): Provenance['git'] {
  if (cachedGit !== undefined) return cachedGit;
  const here = dirname(fileURLToPath(import.meta.url));
  const sha = git(['rev-parse', 'HEAD'], here);
  cachedGit = sha && /^[0-9a-f]{40}$/.test(sha) ? { sha, dirty: (git(['status', '--porcelain', '--untracked-files=no'], here) ?? '') !== '' } : null;
  return cachedGit;
}

/** Versions of the @vlfer packages in the workspace or in node_modules beside this package. */
function vlferPackageVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  const here = dirname(fileURLToPath(import.meta.url));
  // packages/core/{src,dist}/node → packages/ (workspace) or node_modules/@vlfer/core/dist/node → node_modules/@vlfer
  for (const up of [join(here, '..', '..', '..'), join(here, '..', '..', '..', '..')]) {
    if (!existsSync(up)) continue;
    for (const name of ['core', 'metrics', 'datasets', 'llm-knowledge', 'losses', 'projection-head', 'encoders', 'open-set', 'exp-clip', 'hesp', 'faces']) {
      const p = join(up, name, 'package.json');
      if (!existsSync(p)) continue;
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name?.startsWith('@vlfer/') && pkg.version) out[pkg.name] = pkg.version;
      } catch {
        // unreadable manifest: leave the package out
      }
    }
    if (Object.keys(out).length > 0) break;
  }
  return out;
}

/** Everything a results row needs to be traced to the code, runtime and machine that produced it. */
export function provenance(options: { runtime?: Record<string, string | null>; gpu?: string | null } = {}): Provenance {
  const c = cpus();
  return {
    git: codeRevision(),
    packages: vlferPackageVersions(),
    node: process.version,
    runtime: options.runtime ?? {},
    os: `${platform()} ${release()} ${arch()}`,
    host: hostname(),
    cpu: { model: c[0]?.model.trim() ?? 'unknown', logicalCores: c.length, availableParallelism: availableParallelism() },
    memoryBytes: totalmem(),
    gpu: options.gpu ?? detectGpus(),
  };
}
