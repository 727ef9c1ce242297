import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

// Property-based fuzzing of every parser of untrusted input (tooling/repo-checks/src/fuzz/targets.ts), in a child
// process with a time budget: a parser that loops forever is named instead of hanging the test run.
// VLFER_FUZZ_RUNS / VLFER_FUZZ_SEED change the number of inputs per parser and the seed (default 600, 20261201).
const RUNS = Number(process.env.VLFER_FUZZ_RUNS ?? 600);
const SEED = Number(process.env.VLFER_FUZZ_SEED ?? 20261201);
const BUDGET_MS = 150_000;

describe('parsers of untrusted input end on any input (fast-check: truncations, bit flips, insertions, random bytes)', () => {
  it(
    `every parser returns or throws a named VlferError within 2 s per input (${RUNS} inputs each)`,
    () => {
      const r = spawnSync(
        process.execPath,
        [
          '--conditions=@vlfer/source',
          '--import',
          'tsx',
          join(repoRoot, 'tooling/repo-checks/src/fuzz/runner.ts'),
          String(RUNS),
          String(SEED),
        ],
        { cwd: repoRoot, encoding: 'utf8', timeout: BUDGET_MS },
      );
      const lines = r.stdout.trim().split('\n');
      const started = lines.filter((l) => l.startsWith('START ')).map((l) => l.slice(6));
      if (!lines.includes('DONE'))
        throw new Error(
          `the fuzz run did not finish within ${BUDGET_MS / 1000} s; last parser started: ${started.at(-1)} (a hang?)\n${r.stderr.slice(-2000)}`,
        );
      const failed = lines.filter((l) => l.startsWith('FAIL '));
      console.log(
        lines
          .filter((l) => l.startsWith('OK '))
          .map((l) => l.replace(/^OK (.*) (\d+) ([\d.]+)$/, '$1: $2 inputs, slowest $3 ms'))
          .join('\n'),
      );
      expect(failed).toEqual([]);
      expect(started.length).toBeGreaterThanOrEqual(16);
    },
    BUDGET_MS + 10_000,
  );
});
