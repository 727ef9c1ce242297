/**
 * @file Vitest global setup: every test run gets one fresh temporary root, and `os.tmpdir()` points into it (through
 * `TMPDIR`) in the test processes and in every CLI, worker and PyTorch script they start. The root is removed when the
 * run ends, passed or failed, so the suite leaves nothing behind in the machine's temporary folder (it left about
 * 200 MB of test folders per run before). `VLFER_KEEP_TEST_TMP=1` keeps it and prints where it is, to look at what a
 * failing test wrote.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addOwnerWrite } from './copy.js';

export default function setup(): () => void {
  // each Vitest project runs the global setup; the first one's root serves them all (and any vitest a test starts)
  if (process.env.VLFER_TEST_TMP_ROOT) return () => {};
  const previous = process.env.TMPDIR;
  // realpath: a test that compares a path it made with one a library resolved sees the same spelling
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'vlfer-tests-')));
  process.env.TMPDIR = root;
  process.env.VLFER_TEST_TMP_ROOT = root;
  return () => {
    delete process.env.VLFER_TEST_TMP_ROOT;
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (process.env.VLFER_KEEP_TEST_TMP === '1') {
      process.stdout.write(`test files kept in ${root} (VLFER_KEEP_TEST_TMP=1)\n`);
      return;
    }
    try {
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw error;
      // a folder a test left read-only (a copy of the 0555 fixtures) cannot be emptied by a user who is not root
      addOwnerWrite(root);
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    }
  };
}
