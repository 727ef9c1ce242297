import { execFileSync } from 'node:child_process';
import { runtimeVersions } from '@vlfer/encoders';

function gitSha(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return null; // not a git checkout: recorded as null rather than failing the run
  }
}

/** What a result row needs to be traced back: git SHA, runtime and key package versions. */
export function runEnvironment(): Record<string, unknown> {
  return { gitSha: gitSha(), node: process.version, platform: `${process.platform}-${process.arch}`, runtime: runtimeVersions(), date: new Date().toISOString() };
}
