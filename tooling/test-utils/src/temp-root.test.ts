import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import setup, { sweepStoppedRuns } from './temp-root.js';

// The suite's own global setup already runs this (TMPDIR of this process points into its root); these cases call it
// as the first setup of a fresh run would, with the marker of the running suite (and a VLFER_KEEP_TEST_TMP the
// caller may have set) removed, and put back afterwards.
const outer = {
  TMPDIR: process.env.TMPDIR,
  VLFER_TEST_TMP_ROOT: process.env.VLFER_TEST_TMP_ROOT,
  VLFER_KEEP_TEST_TMP: process.env.VLFER_KEEP_TEST_TMP,
};
afterEach(() => {
  for (const [k, v] of Object.entries(outer))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
});
const asFreshRun = () => {
  delete process.env.VLFER_TEST_TMP_ROOT;
  delete process.env.VLFER_KEEP_TEST_TMP;
};

describe('the test run temporary root', () => {
  test('points tmpdir() into a fresh folder and removes it, with what the tests wrote, at the end', () => {
    expect(outer.VLFER_TEST_TMP_ROOT).toBe(process.env.TMPDIR); // this suite runs under it
    asFreshRun();
    const teardown = setup();
    const root = tmpdir();
    expect(root).not.toBe(outer.TMPDIR);
    expect(dirname(root)).toBe(outer.TMPDIR);
    expect(basename(root)).toMatch(new RegExp(`^vlfer-tests-${process.pid}-`)); // the sweep tells stopped runs by it
    expect(process.env.VLFER_TEST_TMP_ROOT).toBe(root);
    writeFileSync(join(root, 'left-by-a-test.txt'), 'x');
    const inner = setup(); // a second project's setup in the same run: no second root
    expect(tmpdir()).toBe(root);
    inner();
    expect(existsSync(root)).toBe(true);
    teardown();
    expect(existsSync(root)).toBe(false);
    expect(process.env.TMPDIR).toBe(outer.TMPDIR);
    expect(process.env.VLFER_TEST_TMP_ROOT).toBeUndefined();
  });

  test('VLFER_KEEP_TEST_TMP=1 keeps the folder', () => {
    asFreshRun();
    process.env.VLFER_KEEP_TEST_TMP = '1';
    const teardown = setup();
    const root = tmpdir();
    teardown();
    expect(existsSync(join(root, '.kept'))).toBe(true);
  });

  test('a run stopped before its teardown (Ctrl-C, a kill) has its root removed by the next run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-sweep-'));
    const gone = spawnSync('true').pid!; // a pid whose process has ended
    const root = (pid: number, tag: string, kept = false) => {
      const d = join(dir, `vlfer-tests-${pid}-${tag}`);
      mkdirSync(join(d, 'a'), { recursive: true });
      writeFileSync(join(d, 'a', 'f.bin'), 'x');
      if (kept) writeFileSync(join(d, '.kept'), '');
      return d;
    };
    const stopped = root(gone, 'AAAAAA');
    const running = root(process.pid, 'BBBBBB');
    const kept = root(gone, 'CCCCCC', true);
    const other = join(dir, 'vlfer-tests-XYZ123'); // not a run's root by name
    mkdirSync(other);
    expect(sweepStoppedRuns(dir)).toEqual([stopped]);
    expect([stopped, running, kept, other].map((d) => existsSync(d))).toEqual([false, true, true, true]);
  });
});
