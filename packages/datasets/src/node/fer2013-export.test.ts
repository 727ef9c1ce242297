import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { AbortedError, DataFormatError, InvalidArgumentError } from '@vlfer/core';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { BASIC_8, FER2013_CLASS_FOLDERS, parseFer2013CsvText } from '../index.js';
import { exportFer2013Csv, listImages, loadFerPlusCsv, loadImageFolder } from './index.js';

const work = () => mkdtempSync(join(tmpdir(), 'vlfer-fer2013-'));
const USAGES = ['Training', 'PublicTest', 'PrivateTest'] as const;

/** A fer2013.csv of `faces`: [emotion, usage, pixels]. */
function fer2013Csv(dir: string, faces: [number, string, Uint8Array][], header = 'emotion,pixels,Usage'): string {
  const cols = header.split(',').map((c) => c.trim());
  const rows = faces.map(([e, u, p]) =>
    cols.map((c) => (c === 'emotion' ? String(e) : c === 'Usage' ? u : [...p].join(' '))).join(','),
  );
  const file = join(dir, 'fer2013.csv');
  writeFileSync(file, [header, ...rows].join('\n') + '\n');
  return file;
}

const face = (seed: number) => Uint8Array.from({ length: 48 * 48 }, (_, i) => (i * 7 + seed * 13) % 256);
const synthetic = (n: number): [number, string, Uint8Array][] =>
  Array.from({ length: n }, (_, i) => [i % 7, USAGES[i % 3]!, face(i)]);

/** The grey pixels of a PNG written by the export (and that it is one channel, 48 × 48). */
async function grey(path: string): Promise<Uint8Array> {
  const meta = await sharp(path).metadata();
  expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 48, 48, 1]);
  return new Uint8Array(await sharp(path).toColourspace('b-w').raw().toBuffer());
}

describe('parseFer2013CsvText', () => {
  it('reads the columns by name (the ICML copy too) and checks every row, naming the line and field', () => {
    const d = work();
    const rows = parseFer2013CsvText(readFileSync(fer2013Csv(d, synthetic(4)), 'utf8'), 'f.csv');
    expect(rows.map((r) => [r.index, r.line, r.emotion, r.usage])).toEqual([
      [0, 2, 0, 'Training'],
      [1, 3, 1, 'PublicTest'],
      [2, 4, 2, 'PrivateTest'],
      [3, 5, 3, 'Training'],
    ]);
    expect(rows[2]!.pixels).toEqual(face(2));
    const icml = parseFer2013CsvText(readFileSync(fer2013Csv(d, synthetic(2), 'emotion, Usage, pixels'), 'utf8'), 'i');
    expect(icml[1]!.pixels).toEqual(face(1));
    const bad = (text: string) => () => parseFer2013CsvText(`emotion,pixels,Usage\n${text}\n`, 'f.csv');
    const px = [...face(0)].join(' ');
    expect(bad(`7,${px},Training`)).toThrow(/f\.csv:2 \(field 'emotion'\): '7' is not a FER2013 emotion id 0\.\.6/);
    expect(bad(`3,${px},privatetest`)).toThrow(/f\.csv:2 \(field 'Usage'\): 'privatetest' is not Training/);
    expect(bad(`3,${px} 1,Training`)).toThrow(/\(field 'pixels'\): 2305 values, expected 2304/);
    expect(bad(`3,${px.replace(/^0/, '256')},Training`)).toThrow(/value 1 is '256', expected an integer 0\.\.255/);
    expect(bad(`3,${px.replace(/^0 /, '0  ')},Training`)).toThrow(/2305 values/);
    expect(() => parseFer2013CsvText('emotion,Usage\n', 'f.csv')).toThrow(/missing column 'pixels'/);
    expect(() => parseFer2013CsvText('emotion,pixels,Usage\n', 'f.csv')).toThrow(/holds a header and no faces/);
  });
});

describe('exportFer2013Csv', () => {
  it('writes class folders per Usage with the exact pixels, refuses an existing out, and records its sources', async () => {
    const d = work();
    const csv = fer2013Csv(d, synthetic(14));
    const out = join(d, 'faces');
    const events: number[] = [];
    const r = await exportFer2013Csv({ csv, out, onProgress: (e) => events.push(e.done) });
    expect(r).toEqual({
      out,
      layout: 'class-folders',
      written: { Training: 5, PublicTest: 5, PrivateTest: 4 },
      skipped: 0,
      replaced: [],
    });
    expect(events.at(-1)).toBe(14);
    // row 11: emotion 4 (sad), PrivateTest
    expect(await grey(join(out, 'PrivateTest', 'sad', 'row00011.png'))).toEqual(face(11));
    const test = await loadImageFolder(join(out, 'PrivateTest'));
    expect(test.items.length).toBe(4);
    const record = JSON.parse(readFileSync(join(out, 'export.json'), 'utf8'));
    expect(record.source.rows).toBe(14);
    expect(record.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    await expect(exportFer2013Csv({ csv, out })).rejects.toThrow(InvalidArgumentError);
    await expect(exportFer2013Csv({ csv, out })).rejects.toThrow(/already exists: choose a new directory/);
    expect(readdirSync(d).sort()).toEqual(['faces', 'fer2013.csv']); // no temporary directory left
    // a folder that cannot hold it: named as --out's, not as the temporary directory's errno
    const file = join(d, 'fer2013.csv');
    await expect(exportFer2013Csv({ csv, out: join(file, 'faces') })).rejects.toThrow(
      new RegExp(
        `'out' .*: cannot create .*fer2013\\.csv/faces: its folder .*fer2013\\.csv cannot be written \\((ENOTDIR|EEXIST)`,
      ),
    );
  });

  it("writes FERPlus's layout from a row-aligned fer2013new.csv, which loadFerPlusCsv then reads", async () => {
    const d = work();
    const csv = fer2013Csv(d, synthetic(6));
    const votes = (k: number) => Array.from({ length: 10 }, (_, j) => (j === k ? 10 : 0)).join(',');
    const header = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';
    const names = ['fer0000000.png', 'fer0000001.png', '', 'fer0000003.png', 'fer0000004.png', 'fer0000005.png'];
    const lines = names.map((n, i) => `${USAGES[i % 3]},${n},${votes(i % 8)}`);
    const plus = join(d, 'fer2013new.csv');
    writeFileSync(plus, [header, ...lines].join('\n') + '\n');
    const out = join(d, 'ferplus');
    const r = await exportFer2013Csv({ csv, out, ferPlusCsv: plus });
    expect(r.written).toEqual({ Training: 2, PublicTest: 2, PrivateTest: 1 });
    expect(r.skipped).toBe(1);
    expect(await grey(join(out, 'FER2013Test', 'fer0000005.png'))).toEqual(face(5));
    const loaded = await loadFerPlusCsv({ csv: plus, imageRoot: out, usage: 'PublicTest', labelSet: BASIC_8 });
    expect(loaded.items.map((i) => [i.path, BASIC_8.names[i.label]])).toEqual([
      [join(out, 'FER2013Valid', 'fer0000001.png'), 'happiness'],
      [join(out, 'FER2013Valid', 'fer0000004.png'), 'anger'],
    ]);
    // not row-aligned: refused before anything is written
    writeFileSync(plus, [header, ...lines.slice(1), lines[0]].join('\n') + '\n');
    await expect(exportFer2013Csv({ csv, out: join(d, 'x'), ferPlusCsv: plus })).rejects.toThrow(
      /fer2013new\.csv:2 \(field 'Usage'\): is PublicTest, line 2 of .*fer2013\.csv is Training/,
    );
    writeFileSync(plus, [header, ...lines.slice(1)].join('\n') + '\n');
    await expect(exportFer2013Csv({ csv, out: join(d, 'x'), ferPlusCsv: plus })).rejects.toThrow(
      /has 5 rows, .*fer2013\.csv has 6/,
    );
    expect(r.replaced).toEqual([]);
    // image names: plain .png file names, names differing only in case refused; refused naming the line
    const named = (n: string[]) => {
      writeFileSync(plus, [header, ...n.map((x, i) => `${USAGES[i % 3]},${x},${votes(0)}`)].join('\n') + '\n');
      return exportFer2013Csv({ csv, out: join(d, 'x'), ferPlusCsv: plus });
    };
    const six = (k: number, x: string) => names.map((n, i) => (i === k ? x : n));
    for (const bad of ['x', 'a/b.png', '../fer.png', 'fer.jpg'])
      await expect(named(six(3, bad))).rejects.toThrow(
        /fer2013new\.csv:5 \(field 'Image name'\): .* is not a file name ending in \.png/,
      );
    await expect(named(six(3, 'FER0000000.PNG'))).rejects.toThrow(
      /:5 \(field 'Image name'\): FER2013Train\/FER0000000\.PNG and FER2013Train\/fer0000000\.png \(line 2\) differ only in case/,
    );
    expect(existsSync(join(d, 'x'))).toBe(false);
    // a name given again by a later row of the same Usage (the real fer2013new.csv has four): the file holds the later
    // row's face, as FERPlus's generate_training_data.py leaves it, and the loader labels it by that row's votes
    const again = names.map((n, i) => (i === 3 ? 'fer0000000.png' : n));
    writeFileSync(plus, [header, ...again.map((n, i) => `${USAGES[i % 3]},${n},${votes(i)}`)].join('\n') + '\n');
    const twice = await exportFer2013Csv({ csv, out: join(d, 'twice'), ferPlusCsv: plus });
    expect(twice.replaced).toEqual([{ path: join('FER2013Train', 'fer0000000.png'), line: 2, by: 5 }]);
    expect(twice.written).toEqual({ Training: 1, PublicTest: 2, PrivateTest: 1 });
    expect(twice.skipped).toBe(1);
    expect(await grey(join(d, 'twice', 'FER2013Train', 'fer0000000.png'))).toEqual(face(3));
    expect(JSON.parse(readFileSync(join(d, 'twice', 'export.json'), 'utf8')).replaced).toEqual(twice.replaced);
    // FERPlus's per-folder label.csv is not the row-aligned file: said so
    const labelCsv = join(d, 'label.csv');
    writeFileSync(labelCsv, 'fer0000000.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,0\n');
    await expect(exportFer2013Csv({ csv, out: join(d, 'y'), ferPlusCsv: labelCsv })).rejects.toThrow(
      /label\.csv: is FERPlus's per-folder label\.csv .*; the export needs fer2013new\.csv/,
    );
    const reread = await loadFerPlusCsv({ csv: plus, imageRoot: join(d, 'twice'), usage: 'Training' });
    expect(reread.items.map((i) => [i.path, BASIC_8.names[i.label]])).toEqual([
      [join(d, 'twice', 'FER2013Train', 'fer0000000.png'), 'sadness'],
    ]);
    expect(reread.warnings).toEqual([
      expect.stringMatching(
        /fer2013new\.csv: 1 image name is given by rows with other votes; each file holds the face of the last such row .*: Training\/fer0000000\.png \(line 2: votes 10,0,0,0,0,0,0,0,0,0; line 5: votes 0,0,0,10,0,0,0,0,0,0\)$/,
      ),
    ]);
  });

  it('refuses a dangling link as out, and gives out the permissions of a directory made under the umask', async () => {
    const d = work();
    const csv = fer2013Csv(d, synthetic(3));
    symlinkSync(join(d, 'nowhere'), join(d, 'link'));
    await expect(exportFer2013Csv({ csv, out: join(d, 'link') })).rejects.toThrow(/link already exists/);
    mkdirSync(join(d, 'probe'));
    await exportFer2013Csv({ csv, out: join(d, 'out') });
    expect(statSync(join(d, 'out')).mode & 0o777).toBe(statSync(join(d, 'probe')).mode & 0o777);
  });

  it('an abort or a bad row leaves nothing behind', async () => {
    const d = work();
    const csv = fer2013Csv(d, synthetic(30));
    const controller = new AbortController();
    const run = exportFer2013Csv({
      csv,
      out: join(d, 'out'),
      concurrency: 1,
      signal: controller.signal,
      onProgress: () => undefined,
    });
    controller.abort(new Error('test'));
    await expect(run).rejects.toThrow(AbortedError);
    // stopped while writing (at the first progress report, after 500 faces): the writes settle, then all is removed
    const many = join(d, 'many');
    mkdirSync(many);
    const stop = new AbortController();
    const writing = exportFer2013Csv({
      csv: fer2013Csv(many, synthetic(1200)),
      out: join(many, 'out'),
      signal: stop.signal,
      onProgress: (p) => (p.done > 0 ? stop.abort(new Error('test')) : undefined),
    });
    await expect(writing).rejects.toThrow(/the FER2013 export \(nothing written; rerun the same command\) was aborted/);
    expect(readdirSync(many)).toEqual(['fer2013.csv']);
    writeFileSync(join(d, 'bad.csv'), 'emotion,pixels,Usage\n1,1 2 3,Training\n');
    await expect(exportFer2013Csv({ csv: join(d, 'bad.csv'), out: join(d, 'out') })).rejects.toThrow(DataFormatError);
    expect(readdirSync(d).sort()).toEqual(['bad.csv', 'fer2013.csv', 'many']);
  });

  it('refuses options it cannot use before reading anything: a NaN concurrency wrote no face and said done', async () => {
    const d = work();
    const csv = fer2013Csv(d, synthetic(6));
    const out = join(d, 'out');
    for (const [extra, said] of [
      [{ concurrency: NaN }, /'concurrency' passed to 'exportFer2013Csv': expected a positive integer, got NaN/],
      [{ concurrency: 0 }, /'concurrency' .*got 0/],
      [{ concurrency: '4' }, /'concurrency' .*got 4/],
      [{ extra: 1 }, /'extra' passed to 'exportFer2013Csv': is not an option of exportFer2013Csv \(it takes csv, out,/],
      [{ signal: new AbortController() }, /'signal' .*an AbortController: give its \.signal/],
      [{ onProgress: 5 }, /'onProgress' .*expected a function, got number/],
      [{ out: undefined }, /'out' .*expected a path, got nothing/],
    ] as const)
      await expect(exportFer2013Csv({ csv, out, ...extra } as never)).rejects.toThrow(said);
    expect(readdirSync(d)).toEqual(['fer2013.csv']);
    // the progress starts at 0 and ends at the total
    const seen: number[] = [];
    const r = await exportFer2013Csv({ csv, out, onProgress: (p) => seen.push(p.done) });
    expect([seen, r.written]).toEqual([[0, 6], { Training: 2, PublicTest: 2, PrivateTest: 2 }]);
  });

  it("removes the temporary directories of killed exports to the same out, and no one else's", async () => {
    const { spawnSync } = await import('node:child_process');
    const { hostname } = await import('node:os');
    const d = work();
    const csv = fer2013Csv(d, synthetic(10));
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a process of this host that has exited
    const partial = (name: string, owner?: object) => {
      mkdirSync(join(d, `.out.partial-${name}`, 'PrivateTest'), { recursive: true });
      if (owner) writeFileSync(join(d, `.out.partial-${name}`, '.vlfer-export-owner.json'), JSON.stringify(owner));
    };
    partial('killed', { host: hostname(), pid: dead, processStart: null });
    partial('live', { host: hostname(), pid: process.pid, processStart: null });
    partial('elsewhere', { host: `not-${hostname()}`, pid: dead, processStart: null });
    partial('unrecorded');
    partial('null-record'); // a damaged record: the JSON text null
    writeFileSync(join(d, '.out.partial-null-record', '.vlfer-export-owner.json'), 'null');
    partial('other-out', { host: hostname(), pid: dead, processStart: null });
    renameSync(join(d, '.out.partial-other-out'), join(d, '.other.partial-1'));
    const log: string[] = [];
    await exportFer2013Csv({ csv, out: join(d, 'out'), log: (l) => log.push(l) });
    expect(readdirSync(d).sort()).toEqual([
      '.other.partial-1',
      '.out.partial-elsewhere',
      '.out.partial-live',
      '.out.partial-null-record',
      '.out.partial-unrecorded',
      'fer2013.csv',
      'out',
    ]);
    expect(log).toEqual([
      `removed ${join(d, '.out.partial-killed')}, left by an export killed before it finished (pid ${dead})`,
    ]);
    expect(readdirSync(join(d, 'out'))).not.toContain('.vlfer-export-owner.json'); // the record leaves with the export
  });
  it('real FER2013 faces survive the round trip through a fer2013.csv bit for bit', async () => {
    const root = sharedPath('data', 'fer2013-privatetest');
    const faces: [number, string, Uint8Array][] = [];
    for (const [emotion, folder] of FER2013_CLASS_FOLDERS.entries())
      for (const file of listImages(join(root, folder)).paths.slice(0, 2)) {
        const { data, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
        expect([info.width, info.height]).toEqual([48, 48]);
        faces.push([emotion, 'PrivateTest', new Uint8Array(data)]);
      }
    const d = work();
    const out = join(d, 'out');
    await exportFer2013Csv({ csv: fer2013Csv(d, faces), out });
    const loaded = await loadImageFolder(join(out, 'PrivateTest'));
    expect(loaded.items.length).toBe(14);
    for (const [i, [emotion, , pixels]] of faces.entries()) {
      const name = `row${String(i).padStart(5, '0')}.png`;
      expect(await grey(join(out, 'PrivateTest', FER2013_CLASS_FOLDERS[emotion]!, name))).toEqual(pixels);
    }
  });
});
