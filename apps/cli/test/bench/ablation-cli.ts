/**
 * What the `vlfer bench ablations` tests share: the entry, the command line of the small zero-shot grid they run and
 * the comparison of its rows between a single process and sharded or cluster runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedPath } from '@vlfer/test-utils';

/** The tests' entry for `vlfer bench ablations …` (see entry.ts). */
export const ENTRY = 'apps/cli/test/bench/entry.ts';
/** The ablation the command-line tests run: 10 zero-shot runs of tiny-clip on FER2013 (cut by `--limit`). */
export const ONLY = 'exp-clip-zero-shot/prompt-x-preprocess';
/** The rows file of {@link ONLY} in the results directory. */
export const ROWS_FILE = 'exp-clip-zero-shot__prompt-x-preprocess.jsonl';

/**
 * `--only ONLY --shared <shared> --limit <limit> --results <results> --cache-dir <cacheDir>`, in that order.
 * Defaults: the shared assets folder ({@link sharedPath}), 24 images, `<results>/cache`.
 */
export function ablationArgs(
  results: string,
  o: { shared?: string; limit?: number; cacheDir?: string } = {},
): string[] {
  return [
    '--only',
    ONLY,
    '--shared',
    o.shared ?? sharedPath(),
    '--limit',
    String(o.limit ?? 24),
    '--results',
    results,
    '--cache-dir',
    o.cacheDir ?? join(results, 'cache'),
  ];
}

/**
 * The rows of {@link ROWS_FILE} in `results` without their timing fields (seconds, finishedAt), the results directory
 * (as JSON writes it, so a path with quotes or a newline too) replaced by `<results>`: what a sharded or cluster run
 * must reproduce byte for byte.
 */
export function rowsWithoutTiming(results: string): string[] {
  const path = JSON.stringify(results).slice(1, -1);
  return readFileSync(join(results, ROWS_FILE), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, finishedAt: _f, ...rest } = JSON.parse(l);
      void _s;
      void _f;
      return JSON.stringify(rest).replaceAll(path, '<results>');
    });
}
