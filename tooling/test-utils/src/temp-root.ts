/**
 * @file Vitest global setup: every test run gets one fresh temporary root, and `os.tmpdir()` points into it (through
 * `TMPDIR`) in the test processes and in every CLI, worker and PyTorch script they start. The root is removed when the
 * run ends, passed or failed, so the suite leaves nothing behind in the machine's temporary folder (it left about
 * 200 MB of test folders per run before, up to 1 GB by the end of a run). A run stopped before its teardown (Ctrl-C,
 * a kill) leaves its root: the next run's setup removes the roots of runs whose process is gone (the pid is in the
 * name). `VLFER_KEEP_TEST_TMP=1` keeps the root (marked so the sweep leaves it) and prints where it is, to look at
 * what a failing test wrote.
 */
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addOwnerWrite } from './copy.js';

/** The root of a run: `vlfer-tests-<pid of the run>-<random>`. */
const ROOT_NAME = /^vlfer-tests-(\d+)-[A-Za-z0-9]{6}$/;
/** In a root kept with VLFER_KEEP_TEST_TMP=1: the sweep leaves it. */
const KEPT = '.kept';

export default function setup(): () => void {
  // each Vitest project runs the global setup; the first one's root serves them all (and any vitest a test starts)
  if (process.env.VLFER_TEST_TMP_ROOT) return () => {};
  const previous = process.env.TMPDIR;
  sweepStoppedRuns(tmpdir());
  // realpath: a test that compares a path it made with one a library resolved sees the same spelling
  const root = realpathSync(mkdtempSync(join(tmpdir(), `vlfer-tests-${process.pid}-`)));
  process.env.TMPDIR = root;
  process.env.VLFER_TEST_TMP_ROOT = root;
  return () => {
    delete process.env.VLFER_TEST_TMP_ROOT;
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (process.env.VLFER_KEEP_TEST_TMP === '1') {
      writeFileSync(join(root, KEPT), '');
      process.stdout.write(`test files kept in ${root} (VLFER_KEEP_TEST_TMP=1)\n`);
      return;
    }
    removeRoot(root);
  };
}

/** Removes the roots in `dir` of runs of this user whose process is gone (stopped before their teardown). */
export function sweepStoppedRuns(dir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = ROOT_NAME.exec(name);
    const root = join(dir, name);
    if (!m || existsSync(join(root, KEPT)) || processAlive(Number(m[1]))) continue;
    const st = statSync(root, { throwIfNoEntry: false });
    if (!st?.isDirectory() || st.uid !== process.getuid?.()) continue; // another user's, or not a root
    removeRoot(root);
    removed.push(root);
  }
  return removed;
}

/**
 * Whether a pid names a live process (a zombie or a reused pid counts as alive: the root then waits for a later sweep).
 * Not `@vlfer/core`'s `processGone`: core's tests import this package, and turbo refuses a dependency cycle.
 */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeRoot(root: string): void {
  try {
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
    // a folder a test left read-only (a copy of the 0555 fixtures) cannot be emptied by a user who is not root
    addOwnerWrite(root);
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  }
}
