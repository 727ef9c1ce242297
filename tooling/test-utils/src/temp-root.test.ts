import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import setup from './temp-root.js';

// The suite's own global setup already runs this (TMPDIR of this process points into its root); these cases call it
// as the first setup of a fresh run would, with the marker of the running suite removed and put back afterwards.
const outer = { TMPDIR: process.env.TMPDIR, VLFER_TEST_TMP_ROOT: process.env.VLFER_TEST_TMP_ROOT };
afterEach(() => {
  for (const [k, v] of Object.entries(outer))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  delete process.env.VLFER_KEEP_TEST_TMP;
});

describe('the test run temporary root', () => {
  test('points tmpdir() into a fresh folder and removes it, with what the tests wrote, at the end', () => {
    expect(outer.VLFER_TEST_TMP_ROOT).toBe(process.env.TMPDIR); // this suite runs under it
    delete process.env.VLFER_TEST_TMP_ROOT;
    const teardown = setup();
    const root = tmpdir();
    expect(root).not.toBe(outer.TMPDIR);
    expect(dirname(root)).toBe(outer.TMPDIR);
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
    delete process.env.VLFER_TEST_TMP_ROOT;
    process.env.VLFER_KEEP_TEST_TMP = '1';
    const teardown = setup();
    const root = tmpdir();
    teardown();
    expect(existsSync(root)).toBe(true);
  });
});
