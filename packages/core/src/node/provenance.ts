import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, hostname, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a result came from: code (git SHA + dirty flag, package versions), runtime and machine. */
export interface Provenance {
  /** The vlfer checkout the code ran from, or null for installed packages (then `packages` identifies it). */
  git: { sha: string; dirty: boolean } | null;
  /** Versions of the `@vlfer` packages this process loaded, by name. */
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
    out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    })
      .toString()
      .trim();
  } catch {
    out = null; // no nvidia-smi (no NVIDIA driver): recorded as null
  }
  cachedGpu = out
    ? out
        .split('\n')
        .map((l) => {
          const [name, mem, driver] = l.split(',').map((s) => s.trim());
          return `${name}, ${mem}, driver ${driver}`;
        })
        .join('; ')
    : null;
  return cachedGpu;
}

/** This file's path: `__filename` in the CommonJS build (where `import.meta` is empty), `import.meta.url` in the sources. */
const thisFile = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);

/**
 * A git command's output in `cwd`, or null where git or the checkout is missing. `--no-optional-locks`: `git status`
 * would otherwise refresh the index under `.git/index.lock`, and a user's `git commit` in the same checkout at that
 * moment fails ("index.lock exists"); a run only reads.
 */
export function gitOutput(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', ['--no-optional-locks', ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    })
      .toString()
      .trim();
  } catch {
    return null; // not a git checkout, or no git: recorded as null
  }
}

let cachedGit: Provenance['git'] | undefined;

/** The git commit and dirty flag of the checkout holding this file (tracked files only; untracked are ignored). */
export function codeRevision(): Provenance['git'] {
  if (cachedGit !== undefined) return cachedGit;
  cachedGit = checkoutRevision(dirname(thisFile));
  return cachedGit;
}

/**
 * The commit and dirty flag of the git checkout holding `dir` (tracked files only), or null outside one. A checkout
 * another user owns is read too (`safe.directory`): git refuses it ("dubious ownership"), and a user running a shared
 * installation recorded git null; the checkout's code is what runs, so its repository is trusted already.
 */
export function checkoutRevision(dir: string): Provenance['git'] {
  const git = (args: string[]) => gitOutput(['-c', 'safe.directory=*', ...args], dir);
  const sha = git(['rev-parse', 'HEAD']);
  return sha && /^[0-9a-f]{40}$/.test(sha)
    ? { sha, dirty: (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '' }
    : null;
}

const VLFER_PACKAGES = [
  'core',
  'metrics',
  'datasets',
  'llm-knowledge',
  'losses',
  'projection-head',
  'image',
  'encoders',
  'open-set',
  'exp-clip',
  'hesp',
  'faces',
];

/**
 * Versions of the @vlfer packages beside this one: the folder that holds `core/package.json` named `@vlfer/core` is
 * found by walking up from this file (`packages/` in the workspace, `node_modules/@vlfer/` when installed).
 */
function vlferPackageVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  let dir = dirname(thisFile);
  for (let up = 0; up < 6; up++, dir = dirname(dir)) {
    const core = join(dir, 'core', 'package.json');
    if (!existsSync(core)) continue;
    let found = false;
    for (const name of VLFER_PACKAGES) {
      const p = join(dir, name, 'package.json');
      if (!existsSync(p)) continue;
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === `@vlfer/${name}` && pkg.version) {
          out[pkg.name] = pkg.version;
          found = true;
        }
      } catch {
        // an unreadable manifest: that package is left out of the record
      }
    }
    if (found) break;
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
    cpu: {
      model: c[0]?.model.trim() ?? 'unknown',
      logicalCores: c.length,
      availableParallelism: availableParallelism(),
    },
    memoryBytes: totalmem(),
    gpu: options.gpu ?? detectGpus(),
  };
}
