import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { BASIC_7, BASIC_8, parseAffectNetExpNpy } from './index.js';
import { loadAffectNetNpy } from './node/index.js';
import { copyWritable } from '@vlfer/test-utils';

// numpy's own .npy files (tools/fixtures/make_affectnet_npy.py): a 9-image val_set in AffectNet's release layout,
// categories 1, 0, 2 … 7, 8 as '<U1' strings, and one-value files in other dtypes.
const dir = join(import.meta.dirname, '..', 'test-data', 'affectnet-npy');
const variant = (f: string) => join(dir, 'variants', f);
const parse = (f: string) => parseAffectNetExpNpy(readFileSync(variant(f)), variant(f));

describe("AffectNet's train_set/val_set release (images/, annotations/<id>_exp.npy)", () => {
  it('parseAffectNetExpNpy reads one category in every dtype numpy saves it in', () => {
    const got = Object.fromEntries(
      ['u2-10.npy', 's1-3.npy', 'int64-4.npy', 'uint8-5.npy', 'float64-6.npy', 'int32-be-2.npy'].map((f) => [
        f,
        parse(f),
      ]),
    );
    expect(got).toEqual({
      'u2-10.npy': 10,
      's1-3.npy': 3,
      'int64-4.npy': 4,
      'uint8-5.npy': 5,
      'float64-6.npy': 6,
      'int32-be-2.npy': 2,
    });
  });
  it('refuses, naming the file, what is no single AffectNet category', () => {
    const cases: [string, RegExp][] = [
      ['two-values.npy', /holds <U1 of shape \(2,\); expected one value/],
      ['eleven.npy', /holds '11'; expected an AffectNet expression category 0\.\.10/],
      ['float-half.npy', /holds '2\.5'; expected an AffectNet expression category/],
      ['word.npy', /holds 'happy'/],
      ['not-npy.npy', /is not a NumPy \.npy file/],
    ];
    for (const [f, message] of cases) {
      expect(() => parse(f), f).toThrow(DataFormatError);
      expect(() => parse(f), f).toThrow(message);
      expect(() => parse(f), f).toThrow(variant(f));
    }
  });
  it('loadAffectNetNpy labels each image by its _exp.npy: 7 classes drop contempt and None (counted)', async () => {
    const root = join(dir, 'val_set');
    const seven = await loadAffectNetNpy({ root, outOfSet: 'drop' });
    expect(seven.labelSet).toBe(BASIC_7);
    // files sorted by name; AffectNet's native ids (0 neutral, 1 happiness, 2 sadness, 3 surprise, 4 fear, 5 disgust,
    // 6 anger, 7 contempt) as basic-7 class ids
    const name = (i: { path: string; label: number }, set = BASIC_7) => [i.path.split('/').at(-1), set.names[i.label]];
    expect(seven.items.map((i) => name(i))).toEqual([
      ['0.png', 'happiness'],
      ['1.png', 'neutral'],
      ['2.png', 'sadness'],
      ['3.png', 'surprise'],
      ['4.png', 'fear'],
      ['5.png', 'disgust'],
      ['6.png', 'anger'],
    ]);
    expect(seven.dropped).toEqual([
      { reason: 'expression 7 (contempt) not in basic-7', count: 1 },
      { reason: 'expression 8 (none) not in basic-7', count: 1 },
    ]);
    const eight = await loadAffectNetNpy({ root, classes: 8, outOfSet: 'drop' });
    expect(eight.labelSet).toBe(BASIC_8);
    expect(eight.items.map((i) => name(i, BASIC_8)).at(-1)).toEqual(['7.png', 'contempt']);
    await expect(loadAffectNetNpy({ root })).rejects.toThrow(
      /7_exp\.npy.*category 7 \(contempt\) is not in basic-7; pass outOfSet: 'drop' to leave such images out/,
    );
  });
  it('names an image without its annotation, a file that is no image, and a root in another layout', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-affectnet-npy-'));
    copyWritable(join(dir, 'val_set'), root);
    renameSync(join(root, 'annotations', '3_exp.npy'), join(root, 'annotations', '3_exp.npy.bak'));
    await expect(loadAffectNetNpy({ root, outOfSet: 'drop' })).rejects.toThrow(
      /images\/3\.png.*has no expression annotation .*annotations\/3_exp\.npy/,
    );
    rmSync(join(root, 'images', '3.png'));
    writeFileSync(join(root, 'images', 'notes.txt'), 'x');
    await expect(loadAffectNetNpy({ root, outOfSet: 'drop' })).rejects.toThrow(/notes\.txt.*is not an image/);
    const skipped = await loadAffectNetNpy({ root, outOfSet: 'drop', extraFiles: 'skip' });
    expect(skipped.items).toHaveLength(6);
    expect(skipped.dropped).toContainEqual({ reason: 'not an image file', count: 1 });
    // a macOS resource fork named like an image is said to be a hidden file, not "not an image"
    rmSync(join(root, 'images', 'notes.txt'));
    writeFileSync(join(root, 'images', '._4.png'), 'Mac OS X resource fork');
    await expect(loadAffectNetNpy({ root, outOfSet: 'drop' })).rejects.toThrow(
      /images\/\._4\.png: is a hidden file \(a macOS resource fork of '4\.png'\), not read as an image whatever its extension; pass extraFiles: 'skip'/,
    );
    const forks = await loadAffectNetNpy({ root, outOfSet: 'drop', extraFiles: 'skip' });
    expect(forks.dropped).toContainEqual({ reason: 'hidden file', count: 1 });
    rmSync(join(root, 'images', '._4.png'));
    await expect(loadAffectNetNpy({ root: join(root, 'images') })).rejects.toThrow(
      /expected AffectNet train_set\/val_set layout: images\/<id>\.jpg and annotations\/<id>_exp\.npy/,
    );
    expect(readdirSync(root).sort()).toEqual(['annotations', 'images']);
  });
});
