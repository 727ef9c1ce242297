import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvRecords, type CsvCursor, readCsvRow, readPlainCell, readQuotedCell } from './csv.js';
import { BASIC_7, BASIC_8, getLabelSet } from './label-sets.js';
import { classFolderItems, classFolderLabel, findClassDirs } from './node/image-folder.js';
import {
  affectNetCategory,
  affectNetPath,
  ferPlusMajority,
  ferPlusUsage,
  ferPlusVotes,
  splitVideoListRow,
  videoListFrameDir,
  videoListLabel,
} from './parsers.js';
import { DropCounter } from './types.js';

const cursor = (src: string): CsvCursor => ({ src, file: 'a.csv', i: 0, line: 1 });
const where = { file: 'list.txt', line: 4 };

describe('CSV stages', () => {
  it('readQuotedCell undoubles quotes, counts lines inside, and stops after the closing quote', () => {
    const cur = cursor('"a ""b""\nc",x');
    expect(readQuotedCell(cur, 1)).toBe('a "b"\nc');
    expect([cur.i, cur.line]).toEqual([11, 2]);
    expect(() => readQuotedCell(cursor('"open'), 1)).toThrow(/a\.csv:1: a quoted field is not closed/);
    expect(() => readQuotedCell(cursor('"a"b'), 1)).toThrow(/unexpected character .*b.* after a closing quote/);
  });
  it('readPlainCell trims and refuses a quote; readCsvRow reads a CRLF row', () => {
    const cur = cursor(' a ,b\r\nnext');
    expect(readPlainCell(cur)).toBe('a');
    expect(() => readPlainCell(cursor('a"b'))).toThrow(/a quote inside an unquoted field/);
    const row = cursor(' a ,"b"\r\nnext');
    expect(readCsvRow(row)).toEqual(['a', 'b']);
    expect([row.src.slice(row.i), row.line]).toEqual(['next', 2]);
    // a lone CR (old Mac line ends) ends a row and a line too, inside a quoted cell as well
    const cr = cursor('a,"x\ry"\rnext');
    expect(readCsvRow(cr)).toEqual(['a', 'x\ry']);
    expect([cr.src.slice(cr.i), cr.line]).toEqual(['next', 3]);
  });
  it('csvRecords keys cells by the header and refuses a short row with its line', () => {
    const rows = [
      { line: 1, cells: [' x', 'y'] },
      { line: 3, cells: ['1', '2'] },
    ];
    expect(csvRecords(rows, 'a.csv')).toEqual({
      header: ['x', 'y'],
      records: [{ line: 3, cells: { x: '1', y: '2' } }],
    });
    expect(() => csvRecords([...rows, { line: 5, cells: ['1'] }], 'a.csv')).toThrow(
      /a\.csv:5: 1 cell, the header has 2/,
    );
    expect(() => csvRecords([{ line: 1, cells: ['x', 'x'] }], 'a.csv')).toThrow(/column .*x.* appears twice/);
  });
});

describe('video list stages', () => {
  it('splitVideoListRow splits the row and checks num_frames', () => {
    expect(splitVideoListRow('clips/1 16 3 Sad', where)).toEqual({
      dirToken: 'clips/1',
      numFrames: 16,
      labelText: '3',
      labelName: 'Sad',
    });
    expect(() => splitVideoListRow('clips/1 0 3', where)).toThrow(/num_frames.*not a positive integer/);
    expect(() => splitVideoListRow('clips/1 3', where)).toThrow(/expected '<frame_dir> <num_frames> <label>/);
  });
  it('videoListLabel reads ids by scheme and refuses a contradicting label text', () => {
    const names = BASIC_7.names;
    expect(videoListLabel('0', undefined, 'dfer-clip', BASIC_7, where)).toBe(0);
    // DFEW's 1-based ids in BASIC_7 order: 1 is the first class
    expect(videoListLabel('1', undefined, 'dfew-original', BASIC_7, where)).toBe(0);
    expect(videoListLabel('2', names[2], 'dfer-clip', BASIC_7, where)).toBe(2);
    // DFER-CLIP's ids have one meaning (0 happiness … 6 fear, 7 contempt … 10 disappointment), whatever the label set
    expect(() => videoListLabel('11', undefined, 'dfer-clip', BASIC_7, where)).toThrow(/label.*out of range.*0\.\.10/);
    expect(() => videoListLabel('7', undefined, 'dfer-clip', BASIC_7, where)).toThrow(
      /label 7 \(= contempt under the dfer-clip scheme\) is not a class of label set basic-7 .*labelScheme 'label-set'/,
    );
    // a label set in another order gets each class by name: FER2013's order has happiness at 3, anger at 0
    const fer = getLabelSet('fer2013-7-native');
    expect(videoListLabel('0', undefined, 'dfer-clip', fer, where)).toBe(3);
    expect(videoListLabel('3', 'Angry', 'dfer-clip', fer, where)).toBe(0);
    expect(videoListLabel('1', undefined, 'dfew-original', fer, where)).toBe(3);
    // 'label-set': positions in the given label set
    expect(videoListLabel('0', undefined, 'label-set', fer, where)).toBe(0);
    expect(() => videoListLabel('7', undefined, 'label-set', fer, where)).toThrow(
      /label '7' out of range; expected an integer 0\.\.6 \(label-set scheme, label set fer2013-7-native\)/,
    );
    expect(() => videoListLabel('2', names[3], 'dfer-clip', BASIC_7, where)).toThrow(/contradicts label 2/);
  });
  it('videoListFrameDir rebases a listed prefix and keeps the rest under the target', () => {
    const rebase = { from: '/authors/data', to: '/mine' };
    expect(videoListFrameDir('/authors/data/clip1', { file: 'l', rebase }, 1)).toEqual({
      dir: '/mine/clip1',
      rebased: true,
    });
    expect(videoListFrameDir('clip2', { file: 'l', rebase }, 1)).toEqual({ dir: 'clip2', rebased: false });
    expect(() => videoListFrameDir('/authors/data/../../x', { file: 'l', rebase }, 1)).toThrow(/frame_dir/);
  });
});

describe('AffectNet and FERPlus row stages', () => {
  const row = (cells: Record<string, string>) => ({ line: 9, cells });
  it('affectNetCategory and affectNetPath read and check their cells', () => {
    expect(affectNetCategory(row({ expression: '10' }), 'a.csv')).toBe(10);
    expect(() => affectNetCategory(row({ expression: '11' }), 'a.csv')).toThrow(/not an AffectNet category 0\.\.10/);
    expect(() => affectNetCategory(row({ expression: '' }), 'a.csv')).toThrow(/expression/);
    expect(affectNetPath(row({ subDirectory_filePath: 'a/b.jpg' }), 'a.csv', false)).toBe('a/b.jpg');
    expect(() => affectNetPath(row({ subDirectory_filePath: '' }), 'a.csv', false)).toThrow(/is empty/);
  });
  it('ferPlusUsage is exact; ferPlusVotes drops single votes', () => {
    expect(ferPlusUsage(row({ Usage: 'PublicTest' }), 'f.csv')).toBe('PublicTest');
    expect(() => ferPlusUsage(row({ Usage: 'publictest' }), 'f.csv')).toThrow(/exact spelling/);
    const cols = [
      'neutral',
      'happiness',
      'surprise',
      'sadness',
      'anger',
      'disgust',
      'fear',
      'contempt',
      'unknown',
      'NF',
    ];
    const cells = Object.fromEntries(cols.map((c, k) => [c, String([4, 1, 2, 0, 0, 0, 0, 0, 1, 0][k])]));
    expect(ferPlusVotes(row(cells), 'f.csv')).toEqual([4, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('ferPlusMajority needs more than half the votes and an emotion in the label set', () => {
    expect(ferPlusMajority([4, 0, 2, 0, 0, 0, 0, 0, 0, 0], BASIC_8)).toEqual({
      label: BASIC_8.names.indexOf('neutral'),
    });
    expect(ferPlusMajority([3, 0, 3, 0, 0, 0, 0, 0, 0, 0], BASIC_8)).toEqual({ reason: 'no majority emotion' });
    expect(ferPlusMajority([0, 0, 0, 0, 0, 0, 0, 0, 5, 0], BASIC_8)).toEqual({ reason: "majority is 'unknown'" });
    expect(ferPlusMajority([0, 0, 0, 0, 0, 0, 0, 5, 0, 0], BASIC_7)).toEqual({
      reason: "majority 'contempt' is not in basic-7",
    });
  });
});

describe('class folder stages', () => {
  it('findClassDirs lists class folders and counts a skipped root file', () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-cf-'));
    mkdirSync(join(root, 'sad'));
    mkdirSync(join(root, 'happy'));
    writeFileSync(join(root, 'README'), '');
    const dropped = new DropCounter();
    expect(findClassDirs(root, 'image', 'skip', dropped).map((d) => d.name)).toEqual(['happy', 'sad']);
    expect(dropped.list()).toEqual([{ reason: 'non-directory entry at the root', count: 1 }]);
    expect(() => findClassDirs(root, 'image', 'error', new DropCounter())).toThrow(/a file at the root/);
  });
  it('classFolderLabel matches aliases and refuses a second folder for one class', () => {
    const seen = new Map<number, string>();
    const label = classFolderLabel(BASIC_7, '/r/happy', 'happy', seen);
    expect(BASIC_7.names[label]).toBe('happiness');
    expect(() => classFolderLabel(BASIC_7, '/r/happiness', 'happiness', seen)).toThrow(/already comes from folder/);
    expect(() => classFolderLabel(BASIC_7, '/r/bored', 'bored', seen)).toThrow(/not a class of label set 'basic-7'/);
  });
  it('classFolderItems keeps accepted files in name order and refuses the rest unless skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-cf-'));
    for (const f of ['b.png', 'a.jpg', 'notes.txt']) writeFileSync(join(dir, f), '');
    const opts = { accept: (f: string) => /\.(png|jpg)$/.test(f), kind: 'image' as const, extraFiles: 'skip' as const };
    const dropped = new DropCounter();
    expect(classFolderItems(dir, 'x', 3, opts, dropped)).toEqual([
      { path: join(dir, 'a.jpg'), label: 3 },
      { path: join(dir, 'b.png'), label: 3 },
    ]);
    expect(dropped.list()).toEqual([{ reason: 'not an image file', count: 1 }]);
    expect(() => classFolderItems(dir, 'x', 3, { ...opts, extraFiles: 'error' }, dropped)).toThrow(
      /notes\.txt.*not an image file/,
    );
  });
});
