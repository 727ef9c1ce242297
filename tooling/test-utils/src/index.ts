import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Absolute path of a file under the shared assets folder: `$VLFER_SHARED` if set, else `<repo>/../shared`.
 * Throws (so the test fails with this message, never skips) when the file is absent.
 */
export function sharedPath(...parts: string[]): string {
  const base = process.env.VLFER_SHARED ?? join(repoRoot, '..', 'shared');
  const p = join(base, ...parts);
  if (!existsSync(p)) {
    throw new Error(`Test asset missing: ${p}. The tests read fixtures from the shared folder beside the repository (../shared) or from $VLFER_SHARED.`);
  }
  return p;
}

/** The PyTorch reference values (`shared/fixtures/references/references.json`). */
export function loadReferences(): any {
  return JSON.parse(readFileSync(sharedPath('fixtures', 'references', 'references.json'), 'utf8'));
}

/** Max absolute difference between two flat numeric arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export { repoRoot };
