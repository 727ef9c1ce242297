import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './index.js';

/** tsx's loader by absolute URL (for `node --import`), so a CLI or script can run from any working directory. */
export const tsxLoader = (): string =>
  pathToFileURL(
    join(dirname(createRequire(join(repoRoot, 'package.json')).resolve('tsx/package.json')), 'dist', 'loader.mjs'),
  ).href;

function nodeArgs(entry: string, args: string[]): string[] {
  return ['--conditions=@vlfer/source', '--import', tsxLoader(), join(repoRoot, entry), ...args];
}

/** Run a CLI entry (TypeScript source, one node process, no wrapper) and return its exit code and output. */
export function runCli(
  entry: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): { code: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, nodeArgs(entry, args), {
    cwd: options.cwd ?? repoRoot,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    env: { ...process.env, ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/**
 * Start a CLI entry (TypeScript source, one node process) with its stdout and stderr piped, for tests that signal it
 * while it runs. `detached`: the leader of a process group of its own, as a terminal's foreground job is (a test then
 * sends what Ctrl-C sends with `process.kill(-pid, 'SIGINT')`).
 */
export function spawnCli(
  entry: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; detached?: boolean } = {},
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, nodeArgs(entry, args), {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    stdio: 'pipe',
    detached: options.detached ?? false,
  });
}

/**
 * Start a CLI entry as a child process (stdin closed, stderr collected) and resolve when it ends; SIGKILL it after
 * `killAfterMs` when given (unless it ends first; `killed`: it ended by that kill). stdout is collected, except for a
 * run to be killed, whose stdout is discarded (`stdout` then empty).
 */
function startCli(
  entry: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> },
  killAfterMs?: number,
): Promise<{ killed: boolean; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, nodeArgs(entry, args), {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', killAfterMs === undefined ? 'pipe' : 'ignore', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    p.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    let killed = false;
    const t =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = true;
            p.kill('SIGKILL');
          }, killAfterMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ killed: killed && code === null, code, stdout, stderr });
    });
  });
}

/**
 * Run a CLI entry like {@link runCli}, but without blocking this process, so several run at once (shards of one
 * job). Resolves to its exit code and output.
 */
export async function runCliAsync(
  entry: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await startCli(entry, args, options);
  return { code, stdout, stderr };
}

/** Start a CLI and SIGKILL it after `ms` (unless it ends first). Resolves to how it ended. */
export async function runCliKilledAfter(
  entry: string,
  args: string[],
  ms: number,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  const { killed, code, stderr } = await startCli(entry, args, options, ms);
  return { killed, code, stderr };
}

/**
 * The fault-injection drill: run a command again and again, SIGKILLing each run at a random moment (seeded),
 * until `kills` runs were really killed, then once to the end. Each rerun resumes, so it has less left to do: the
 * window for the kill moment starts at the uninterrupted duration `fullMs` and shrinks by 15 % after each kill
 * (a run that ends before its kill counts as finished, and the next one reruns a finished command).
 */
export async function killChain(
  entry: string,
  args: string[],
  options: { kills: number; fullMs: number; seed: number; cwd: string; env?: Record<string, string> },
): Promise<{ delays: number[]; killed: number; final: ReturnType<typeof runCli> }> {
  // a seeded linear congruential generator: test-utils stays free of @vlfer/core (core's tests depend on test-utils)
  let state = options.seed >>> 0 || 1;
  const rng = { next: () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32 };
  const delays: number[] = [];
  let killed = 0;
  let window = options.fullMs;
  for (let attempt = 0; killed < options.kills && attempt < 3 * options.kills; attempt++) {
    const ms = Math.round(Math.max(300, window * (0.1 + 0.85 * rng.next())));
    const r = await runCliKilledAfter(entry, args, ms, {
      cwd: options.cwd,
      ...(options.env ? { env: options.env } : {}),
    });
    if (r.killed) {
      killed++;
      delays.push(ms);
      window *= 0.85;
    } else if (r.code !== 0)
      throw new Error(`run ${attempt + 1} of the kill chain failed with code ${r.code}:\n${r.stderr.slice(-2000)}`);
  }
  const final = runCli(entry, args, {
    cwd: options.cwd,
    ...(options.env ? { env: options.env } : {}),
    timeoutMs: 300_000,
  });
  return { delays, killed, final };
}
