import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';

const vlfer = (args: string[]) => runCli('apps/cli/src/main.ts', args);

describe('vlfer data export-fer2013', () => {
  it('writes the faces, prints the counts and how to evaluate them, and refuses bad input and an existing --out', () => {
    const work = mkdtempSync(join(tmpdir(), 'vlfer-data-cli-'));
    const px = (k: number) => Array.from({ length: 48 * 48 }, (_, i) => (i + k) % 256).join(' ');
    const csv = join(work, 'fer 2013.csv');
    writeFileSync(csv, `emotion,pixels,Usage\n3,${px(0)},PrivateTest\n6,${px(1)},Training\n`);
    const out = join(work, 'faces out');
    const r = vlfer(['data', 'export-fer2013', '--csv', csv, '--out', out, '--no-progress']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`0 PublicTest, 1 PrivateTest faces written to ${out} (class-folders)`);
    // the path with a space is quoted for a shell
    expect(r.stdout).toContain(`evaluate with: vlfer exp-clip eval --dataset fer2013 --root '${out}/PrivateTest'`);
    expect(readdirSync(join(out, 'PrivateTest', 'happy'))).toEqual(['row00000.png']);
    expect(readdirSync(join(out, 'Training', 'neutral'))).toEqual(['row00001.png']);
    // an empty --out (an unset variable) was read as the current directory
    const empty = vlfer(['data', 'export-fer2013', '--csv', csv, '--out', '']);
    expect([empty.code, empty.stderr]).toEqual([1, 'vlfer: --out: an empty path (an unset variable?)\n']);
    const again = vlfer(['data', 'export-fer2013', '--csv', csv, '--out', out]);
    expect([again.code, again.stderr.trim()]).toEqual([
      1,
      `vlfer: --out: ${out} already exists: choose a new directory (an export is written whole, never over files)`,
    ]);
    writeFileSync(csv, `emotion,pixels,Usage\n3,${px(0)} 7,PrivateTest\n`);
    const bad = vlfer(['data', 'export-fer2013', '--csv', csv, '--out', join(work, 'b')]);
    expect(bad.stderr).toMatch(/^vlfer: .*fer 2013\.csv:2 \(field 'pixels'\): 2305 values, expected 2304/);
    expect(existsSync(join(work, 'b'))).toBe(false);
    writeFileSync(csv, `emotion,pixels,Usage\n3,${px(0)},PrivateTest\n`);
    const plus = vlfer(['data', 'export-fer2013', '--csv', csv, '--out', join(work, 'c'), '--ferplus', 'no.csv']);
    expect([plus.code, plus.stderr]).toEqual([1, expect.stringMatching(/^vlfer: cannot read the FERPlus CSV no\.csv/)]);
  }, 120_000);
});
