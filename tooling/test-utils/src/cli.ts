import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './index.js';

/** Run a CLI entry (TypeScript source, one node process, no wrapper) and return its exit code and output. */
export function runCli(entry: string, args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=@vlfer/source', '--import', 'tsx', join(repoRoot, entry), ...args], {
    cwd: repoRoot, encoding: 'utf8', timeout: options.timeoutMs ?? 120_000, env: { ...process.env, ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
