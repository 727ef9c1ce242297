import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, createRng, DataFormatError, runSteps } from '@vlfer/core';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import {
  BASIC_7,
  BASIC_8,
  MAFW_11,
  canonicalExpression,
  differingNumbers,
  generateOpenSetSplits,
  nameOrderInversion,
  hespOpenSetSplits,
  ferv39kOpenSetSplits,
  parseFerPlusCsvText,
  FERV39K_SPLIT_SEED,
  DATASETS,
  getLabelSet,
  hespReferenceKnownOrder,
  labelSetFromNames,
  splitInLabelSet,
  nativeToLabelId,
  openness,
  partitionBySplit,
  segmentCentreIndices,
  tsnTrainIndices,
} from './index.js';
import {
  loadAffectNetCsv,
  loadFerPlusCsv,
  loadImageFolder,
  loadRafDb,
  loadVideoList,
  videoListSteps,
  unsetLabelScheme,
} from './node/index.js';

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-ds-'));
function touchImage(path: string, bytes: Uint8Array = PNG): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
}

describe('label sets', () => {
  it('uses the Exp-CLIP order and maps native ids explicitly', () => {
    expect(BASIC_7.names).toEqual(['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear']);
    expect(BASIC_8.names[7]).toBe('contempt');
    expect(MAFW_11.names.slice(8)).toEqual(['anxiety', 'helplessness', 'disappointment']);
    // RAF-DB 1 Surprise … 7 Neutral
    expect([1, 2, 3, 4, 5, 6, 7].map((i) => BASIC_7.names[nativeToLabelId('raf-db', i, BASIC_7)!])).toEqual([
      'surprise',
      'fear',
      'disgust',
      'happiness',
      'sadness',
      'anger',
      'neutral',
    ]);
    // DFEW original labels are 1-based in canonical order
    expect(nativeToLabelId('dfew', 1, BASIC_7)).toBe(0);
    expect(nativeToLabelId('dfew', 0, BASIC_7)).toBeUndefined();
    // AffectNet contempt is not in the 7-class set
    expect(nativeToLabelId('affectnet', 7, BASIC_7)).toBeUndefined();
    expect(nativeToLabelId('affectnet', 7, BASIC_8)).toBe(7);
    expect(canonicalExpression('Angry')).toBe('anger');
  });
});

describe('hidden files and prototype keys', () => {
  it("a hidden file named like an image (macOS's ._001.jpg) is no frame and no image, as glob('*') skips it", async () => {
    const { listFrames, listImages } = await import('./node/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-hidden-'));
    for (const f of ['001.jpg', '002.jpg', '._001.jpg', '.hidden.png']) writeFileSync(join(dir, f), 'x');
    expect(listFrames(dir).map((p) => p.slice(dir.length + 1))).toEqual(['001.jpg', '002.jpg']);
    expect(listImages(dir)).toMatchObject({ skipped: 2 });
    expect(listImages(dir).paths).toHaveLength(2);
  });
  it('hidden and system folders are never classes nor training images (__MACOSX, .ipynb_checkpoints, @eaDir)', async () => {
    const { listImages } = await import('./node/index.js');
    const root = mkdtempSync(join(tmpdir(), 'vlfer-sysdirs-'));
    const px = await import('sharp').then(({ default: sharp }) =>
      sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } })
        .png()
        .toBuffer(),
    );
    for (const c of ['happy', 'sad']) {
      mkdirSync(join(root, c));
      writeFileSync(join(root, c, '1.png'), px);
    }
    mkdirSync(join(root, '.ipynb_checkpoints'));
    writeFileSync(join(root, '.ipynb_checkpoints', 'a-checkpoint.png'), px);
    // before: an eight-class set 'folders:.ipynb_checkpoints,happy,…' with a '.ipynb_checkpoints' item, without a word
    const plain = await loadImageFolder(root);
    expect(plain.labelSet.id).toBe('basic-6');
    expect(plain.dropped).toEqual([{ reason: 'hidden or system folder at the root', count: 1 }]);
    mkdirSync(join(root, '__MACOSX', 'happy'), { recursive: true });
    writeFileSync(join(root, '__MACOSX', 'happy', '._1.png'), 'fork');
    const skipped = await loadImageFolder(root, { extraFiles: 'skip' });
    expect(skipped.labelSet.id).toBe('basic-6'); // before: 'folders:.ipynb_checkpoints,__MACOSX,happy,sad'
    expect(skipped.items).toHaveLength(2);
    expect(skipped.dropped).toEqual([{ reason: 'hidden or system folder at the root', count: 2 }]);
    // the unlabelled training set: Python's glob('**') does not enter hidden folders either
    // any case, and the recycle bins and lost+found (a class 'lost+found' before)
    for (const d of ['$Recycle.Bin', '#recycle', 'lost+found', '__macosx']) mkdirSync(join(root, 'happy', d));
    writeFileSync(join(root, 'happy', '$Recycle.Bin', 'deleted.png'), px);
    mkdirSync(join(root, 'lost+found'));
    expect((await loadImageFolder(root, { extraFiles: 'skip' })).dropped).toEqual([
      { reason: 'hidden or system folder at the root', count: 3 },
      { reason: 'hidden or system folder inside a class folder', count: 4 },
    ]);
    // (left out by default too: an empty lost+found of a mount point stopped every run when it was refused)
    const inner = mkdtempSync(join(tmpdir(), 'vlfer-sysdirs-inner-'));
    mkdirSync(join(inner, 'happy', '#recycle'), { recursive: true });
    writeFileSync(join(inner, 'happy', '1.png'), px);
    mkdirSync(join(inner, 'lost+found'));
    expect((await loadImageFolder(inner)).dropped).toEqual([
      { reason: 'hidden or system folder at the root', count: 1 },
      { reason: 'hidden or system folder inside a class folder', count: 1 },
    ]);
    mkdirSync(join(root, 'sad', '@eaDir', '1.png'), { recursive: true });
    writeFileSync(join(root, 'sad', '@eaDir', '1.png', 'SYNOFILE_THUMB_XL.jpg'), px);
    const listed = listImages(root);
    expect(listed.paths.map((p) => p.slice(root.length + 1))).toEqual(['happy/1.png', 'sad/1.png']);
    expect(listed.skippedFolders.map((p) => p.slice(root.length + 1))).toEqual([
      '.ipynb_checkpoints',
      '__MACOSX',
      'happy/#recycle',
      'happy/$Recycle.Bin',
      'happy/__macosx',
      'happy/lost+found',
      'lost+found',
      'sad/@eaDir',
    ]);
    const only = mkdtempSync(join(tmpdir(), 'vlfer-sysdirs-only-'));
    mkdirSync(join(only, '.Trash-1000', 'files'), { recursive: true });
    writeFileSync(join(only, '.Trash-1000', 'files', 'deleted.png'), px);
    expect(() => listImages(only)).toThrow(
      /no image files found .* outside the hidden and system folders, which are not read \('.*\.Trash-1000'\)/,
    );
  });
  it('a file linked into two class folders is refused, naming both paths (it was two items with two labels)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-linked-'));
    const px = await import('sharp').then(({ default: sharp }) =>
      sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } })
        .png()
        .toBuffer(),
    );
    for (const c of ['happy', 'sad']) mkdirSync(join(root, c));
    writeFileSync(join(root, 'happy', 'a.png'), px);
    writeFileSync(join(root, 'sad', 'b.png'), px); // a copy is a file of its own
    expect((await loadImageFolder(root)).items).toHaveLength(2);
    symlinkSync(join('..', 'happy', 'a.png'), join(root, 'sad', 'link.png'));
    await expect(loadImageFolder(root)).rejects.toThrow(/sad\/link\.png: and .*happy\/a\.png are one file/);
  });
  it('built-in label sets and expression aliases are own keys only', () => {
    // 'constructor' returned the Object function, '__proto__' an empty object
    for (const id of ['constructor', 'toString', '__proto__'])
      expect(() => getLabelSet(id)).toThrow(/unknown label set/);
    expect(canonicalExpression('constructor')).toBeUndefined();
    expect(canonicalExpression(' Happy ')).toBe('happiness');
  });
});

describe('loadImageFolder', () => {
  it('loads the real FER2013 PrivateTest split with the class counts of its README', async () => {
    const r = await loadImageFolder(sharedPath('data', 'fer2013-privatetest'));
    const byName = Object.fromEntries(r.labelSet.names.map((n, i) => [n, r.counts[i]]));
    expect(byName).toEqual({
      anger: 491,
      disgust: 55,
      fear: 528,
      happiness: 879,
      neutral: 626,
      sadness: 594,
      surprise: 416,
    });
    expect(r.items.length).toBe(3589);
    expect(r.dropped).toEqual([]);
  });
  it("reads class folders named by a dataset's label ids (folderIds), and says so where numbered folders are read as names", async () => {
    // RAF-DB as third-party copies lay it out: train/1 … train/7, RAF-DB's own ids (1 surprise … 7 neutral)
    const raf = tmp();
    for (const id of [1, 4, 7]) touchImage(join(raf, String(id), `${id}.png`));
    const r = await loadImageFolder(raf, { folderIds: 'raf-db', labelSet: BASIC_7 });
    expect(r.items.map((i) => [i.path, BASIC_7.names[i.label]])).toEqual([
      [join(raf, '4', '4.png'), 'happiness'],
      [join(raf, '7', '7.png'), 'neutral'],
      [join(raf, '1', '1.png'), 'surprise'],
    ]);
    // the label set inferred from the classes the ids stand for
    expect((await loadImageFolder(raf, { folderIds: 'raf-db' })).labelSet.id).toBe('basic-7');
    // AffectNet's ids are 0-based: 0 neutral … 7 contempt
    const aff = tmp();
    for (const id of [0, 7]) touchImage(join(aff, String(id), 'x.png'));
    const a = await loadImageFolder(aff, { folderIds: 'affectnet', labelSet: BASIC_8 });
    expect(a.items.map((i) => BASIC_8.names[i.label])).toEqual(['neutral', 'contempt']);
    touchImage(join(aff, '8', 'x.png'));
    await expect(loadImageFolder(aff, { folderIds: 'affectnet' })).rejects.toThrow(
      /\/8: class folder '8' is not one of affectnet's label ids \(folderIds 'affectnet': 0 neutral, 1 happiness, .*7 contempt\)/,
    );
    // without folderIds, numbered folders are names: a custom set, and the reason says how to read them as ids
    const custom = await loadImageFolder(raf);
    expect(custom.labelSet.names).toEqual(['1', '4', '7']);
    expect(custom.labelSetReason).toMatch(/the folders are numbers: if they are a dataset's label ids, give folderIds/);
    await expect(loadImageFolder(raf, { labelSet: BASIC_7 })).rejects.toThrow(
      /class folder '1' is not a class of label set 'basic-7' .* Folders named by a dataset's label ids: folderIds 'raf-db' \(1 … 7\)/,
    );
  });
  it('errors on an unknown class folder, a non-image file and an unreadable image', async () => {
    const a = tmp();
    touchImage(join(a, 'happy', '1.png'));
    touchImage(join(a, 'bored', '1.png'));
    await expect(loadImageFolder(a, { labelSet: BASIC_7 })).rejects.toThrow(
      /class folder 'bored' is not a class of label set 'basic-7'/,
    );
    const inferred = await loadImageFolder(a);
    expect(inferred.labelSet.names).toEqual(['bored', 'happy']);
    expect(inferred.labelSetReason).toMatch(/custom set/);
    const b = tmp();
    touchImage(join(b, 'sad', '1.png'));
    writeFileSync(join(b, 'sad', 'notes.txt'), 'x');
    await expect(loadImageFolder(b)).rejects.toThrow(/notes\.txt: not an image file/);
    const skipped = await loadImageFolder(b, { extraFiles: 'skip' });
    expect(skipped.items.length).toBe(1);
    expect(skipped.dropped).toEqual([{ reason: 'not an image file', count: 1 }]);
    mkdirSync(join(b, 'sad', 'more'));
    await expect(loadImageFolder(b)).rejects.toThrow(
      /sad\/more: a folder inside class folder 'sad': class folders hold image files, one level deep/,
    );
    const both = await loadImageFolder(b, { extraFiles: 'skip' });
    expect(both.dropped).toEqual([
      { reason: 'folder inside a class folder', count: 1 },
      { reason: 'not an image file', count: 1 },
    ]);
    // a hidden file named like an image (a macOS resource fork) is said to be one, not "not an image file (.jpg …)"
    writeFileSync(join(b, 'sad', '._1.png'), 'Mac OS X resource fork');
    await expect(loadImageFolder(b)).rejects.toThrow(
      /sad\/\._1\.png: a hidden file \(a macOS resource fork of '1\.png'\), not read as an image whatever its extension; pass extraFiles: 'skip'/,
    );
    expect((await loadImageFolder(b, { extraFiles: 'skip' })).dropped).toContainEqual({
      reason: 'hidden file',
      count: 1,
    });
    const c = tmp();
    touchImage(join(c, 'sad', 'broken.jpg'), new Uint8Array([1, 2, 3]));
    await expect(loadImageFolder(c)).rejects.toThrow(/broken\.jpg: unreadable image/);
    await expect(loadImageFolder(join(c, 'missing'))).rejects.toThrow(DataFormatError);
  });
});

describe('RAF-DB, AffectNet, FERPlus', () => {
  it('reads list_patition_label.txt with aligned image names', async () => {
    const root = tmp();
    mkdirSync(join(root, 'EmoLabel'));
    writeFileSync(
      join(root, 'EmoLabel', 'list_patition_label.txt'),
      'train_00001.jpg 5\ntest_0001.jpg 1\ntest_0002.jpg 7\n',
    );
    for (const n of ['train_00001', 'test_0001', 'test_0002'])
      touchImage(join(root, 'Image', 'aligned', `${n}_aligned.jpg`), Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]));
    const r = await loadRafDb({ root, split: 'test' });
    expect(r.items.map((i) => BASIC_7.names[i.label])).toEqual(['surprise', 'neutral']);
    expect(r.items[0]!.path.endsWith(join('aligned', 'test_0001_aligned.jpg'))).toBe(true);
    writeFileSync(join(root, 'EmoLabel', 'list_patition_label.txt'), 'test_0001.jpg 9\n');
    await expect(loadRafDb({ root, split: 'test' })).rejects.toThrow(
      /list_patition_label\.txt:1 \(field 'label'\): label '9' out of range/,
    );
    // a list saved by Windows tools: a UTF-8 BOM and CRLF are read; UTF-16 (PowerShell's `>`) is named as such (it was
    // "'��t\0r\0a\0i\0n…' contains a NUL character"), with or without its byte-order mark
    writeFileSync(join(root, 'EmoLabel', 'list_patition_label.txt'), '\ufefftest_0001.jpg 1\r\ntest_0002.jpg 7\r\n');
    expect((await loadRafDb({ root, split: 'test' })).items.map((i) => BASIC_7.names[i.label])).toEqual([
      'surprise',
      'neutral',
    ]);
    for (const [bytes, why] of [
      [Buffer.from('\ufefftest_0001.jpg 1\r\n', 'utf16le'), /is UTF-16 \(it starts with a UTF-16 byte-order mark\)/],
      [Buffer.from('test_0001.jpg 1\r\n', 'utf16le'), /is no UTF-8 text \(it holds NUL bytes: UTF-16\?\)/],
    ] as const) {
      writeFileSync(join(root, 'EmoLabel', 'list_patition_label.txt'), bytes);
      await expect(loadRafDb({ root, split: 'test' })).rejects.toThrow(
        new RegExp(`list_patition_label\\.txt: the RAF-DB partition list ${why.source}.*save it as UTF-8`),
      );
    }
    // every line is checked, the other split's too; a name of neither split is refused, not skipped
    const bad = async (text: string, split: 'train' | 'test', re: RegExp) => {
      writeFileSync(join(root, 'EmoLabel', 'list_patition_label.txt'), text);
      await expect(loadRafDb({ root, split })).rejects.toThrow(re);
    };
    await bad('train_00001.jpg 5\ntest_0001.jpg 99\n', 'train', /:2 \(field 'label'\): label '99' out of range/);
    await bad('train_00001.jpg 5\nTrain_00002.jpg 2\n', 'train', /:2 \(field 'image name'\): 'Train_00002\.jpg'/);
    await bad('train_00001.jpg 5\ntrian_00003.jpg 3\n', 'test', /'trian_00003\.jpg' names no RAF-DB split/);
    await bad('train_00001.jpg 5\n', 'test', /list_patition_label\.txt: lists no test images/);
    // a listed image that is absent: the list's line, then the image
    await bad(
      'test_0001.jpg 1\ntest_0003.jpg 1\n',
      'test',
      /:2 \(field 'image name'\): .*test_0003_aligned\.jpg: the listed image does not exist/,
    );
  });
  it('maps AffectNet categories, dropping 8–10 only when asked, with counts', async () => {
    const d = tmp();
    const csv = join(d, 'validation.csv');
    writeFileSync(
      csv,
      'subDirectory_filePath,face_x,expression,valence\n1/a.jpg,0,0,0.1\n1/b.jpg,0,6,0.1\n2/c.jpg,0,9,0\n2/d.jpg,0,7,0\n',
    );
    for (const f of ['1/a.jpg', '1/b.jpg', '2/c.jpg', '2/d.jpg']) touchImage(join(d, f));
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(
      /validation\.csv:4 \(field 'expression'\): category 9 \(uncertain\)/,
    );
    const r7 = await loadAffectNetCsv({ csv, imageRoot: d, outOfSet: 'drop' });
    expect(r7.items.map((i) => BASIC_7.names[i.label])).toEqual(['neutral', 'anger']);
    expect(r7.dropped).toEqual([
      { reason: 'expression 9 (uncertain) not in basic-7', count: 1 },
      { reason: 'expression 7 (contempt) not in basic-7', count: 1 },
    ]);
    const r8 = await loadAffectNetCsv({ csv, imageRoot: d, classes: 8, outOfSet: 'drop' });
    expect(r8.counts[7]).toBe(1);
    // the official validation.csv has no header row: its first row is data, read with AFFECTNET_COLUMNS
    const row = (path: string, expression: number) => `${path},10,12,200,200,"1.0;2.0;3.0",${expression},0.25,-0.5`;
    writeFileSync(csv, `${row('1/a.jpg', 1)}\r\n${row('1/b.jpg', 2)}\r\n`);
    const headerless = await loadAffectNetCsv({ csv, imageRoot: d });
    expect(headerless.items.map((i) => BASIC_7.names[i.label])).toEqual(['happiness', 'sadness']);
    // one file reached by two paths (a link in the image folder) is a label conflict, not two items
    symlinkSync(join(d, '1'), join(d, 'one'));
    writeFileSync(csv, `${row('1/a.jpg', 1)}\n${row('one/a.jpg', 6)}\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(
      /validation\.csv:2: image \(resolved\) .*1\/a\.jpg' is listed again with another label \(first at line 1\)/,
    );
    writeFileSync(csv, `${row('1/a.jpg', 1)}\n${row('1/b.jpg', 12)}\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(/validation\.csv:2 \(field 'expression'\)/);
    // a first row that is neither the header nor a data row stays a header, and is refused naming what it lacks
    writeFileSync(csv, `path,expression\n1/a.jpg,1\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(/missing column 'subDirectory_filePath'/);
    // a damaged first data row of validation.csv is named as such, not taken for a header
    writeFileSync(csv, `${row('1/a.jpg', 1).replace(',1,0.25', ',x,0.25')}\n${row('1/b.jpg', 2)}\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(
      /validation\.csv:1 \(field 'expression'\): the first row is neither AffectNet's header .* nor a data row .*'x' is not an AffectNet category/,
    );
    writeFileSync(csv, `${row('1/a', 1)}\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(/:1 \(field 'subDirectory_filePath'\)/);
    // a listed "image" that is a directory is refused too
    mkdirSync(join(d, '4', 'dir.jpg'), { recursive: true });
    writeFileSync(csv, `${row('4/dir.jpg', 1)}\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(
      /:1 .*dir\.jpg: the listed image is not a file/,
    );
    // a path through a file: named with the CSV's line, not a raw ENOTDIR
    writeFileSync(csv, `${row('1/a.jpg/x.jpg', 1)}\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(
      /validation\.csv:1 \(field 'subDirectory_filePath'\): .*x\.jpg: the listed image is not a directory \(a path component is a file\)/,
    );
    // a row whose image is absent is refused with the CSV's line, whatever `verify`
    writeFileSync(csv, `${row('1/a.jpg', 1)}\n${row('3/absent.jpg', 2)}\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: d })).rejects.toThrow(
      /validation\.csv:2 \(field 'subDirectory_filePath'\): .*absent\.jpg: the listed image does not exist/,
    );
  });
  it('FERPlus majority vote removes single votes and needs > 50 %', async () => {
    const d = tmp();
    const csv = join(d, 'fer2013new.csv');
    writeFileSync(
      csv,
      [
        'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF',
        'Training,fer0000000.png,4,0,0,1,0,0,0,0,5,0', // single vote removed: 4 vs unknown 5 -> majority unknown
        'Training,fer0000001.png,0,0,0,0,0,0,0,0,0,10',
        'PrivateTest,fer0000002.png,2,6,1,1,0,0,0,0,0,0', // happiness 6 of 8 after removal
        'PrivateTest,,10,0,0,0,0,0,0,0,0,0',
        'PrivateTest,fer0000004.png,3,0,3,0,0,0,0,0,2,2', // no majority
      ].join('\n'),
    );
    await expect(loadFerPlusCsv({ csv, imageRoot: d })).rejects.toThrow(
      /fer2013new\.csv:4 \(field 'Image name'\): .*fer0000002\.png: the listed image does not exist/,
    );
    touchImage(join(d, 'FER2013Test', 'fer0000002.png'));
    const r = await loadFerPlusCsv({ csv, imageRoot: d });
    expect(r.items).toEqual([{ path: join(d, 'FER2013Test', 'fer0000002.png'), label: 0 }]);
    expect(r.dropped.reduce((s, x) => s + x.count, 0)).toBe(4);
    await expect(loadFerPlusCsv({ csv, imageRoot: d, noMajority: 'error' })).rejects.toThrow(
      /fer2013new\.csv:2: majority is 'unknown'/,
    );
  });
  it("FERPlus: an image that several rows name is the last row's, as in the real fer2013new.csv", () => {
    // the rows of the real file that name an image twice (its lines 5276/6970 and 33202/34336), in its order
    const header = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';
    const text = [
      header,
      'Training,fer0006953.png,9,0,0,0,0,0,1,0,0,0',
      'Training,fer0006954.png,0,10,0,0,0,0,0,0,0,0',
      'Training,fer0006953.png,9,0,0,0,0,0,1,0,0,0',
      'PrivateTest,fer0033120.png,5,0,0,1,1,0,0,0,3,0',
      'PrivateTest,fer0033121.png,0,0,10,0,0,0,0,0,0,0',
      'PrivateTest,fer0033120.png,0,0,0,0,0,0,0,0,0,10',
    ].join('\n');
    const train = parseFerPlusCsvText(text, { file: 'fer2013new.csv', usage: 'Training' });
    // listed twice with the same votes: one image, once
    expect(train.entries.map((e) => [e.imageName, BASIC_8.names[e.label], e.line])).toEqual([
      ['fer0006954.png', 'happiness', 3],
      ['fer0006953.png', 'neutral', 4],
    ]);
    expect(train.dropped).toEqual([
      { reason: "image named again by a later row (its file holds the later row's face)", count: 1 },
    ]);
    expect(train.warnings).toEqual([]);
    // listed twice with other votes: the file holds the later row's face (not a face here), so it has no label
    const test = parseFerPlusCsvText(text, { file: 'fer2013new.csv', usage: 'PrivateTest' });
    expect(test.entries.map((e) => e.imageName)).toEqual(['fer0033121.png']);
    expect(test.dropped.map((x) => x.reason)).toEqual([
      "image named again by a later row (its file holds the later row's face)",
      "majority is 'NF'",
    ]);
    expect(test.warnings).toEqual([
      expect.stringMatching(
        /^fer2013new\.csv: 1 image name is given by rows with other votes; .*: PrivateTest\/fer0033120\.png \(line 5: votes 5,0,0,1,1,0,0,0,3,0; line 7: votes 0,0,0,0,0,0,0,0,0,10\)$/,
      ),
    ]);
    // one image named by three rows: said once, with its three rows
    const thrice = `${text}\nPrivateTest,fer0033120.png,0,10,0,0,0,0,0,0,0,0`;
    const t3 = parseFerPlusCsvText(thrice, { file: 'fer2013new.csv', usage: 'PrivateTest' });
    expect(t3.warnings).toEqual([
      expect.stringMatching(/: 1 image name is given .*fer0033120\.png \(line 5: .*; line 7: .*; line 8: votes 0,10,0/),
    ]);
    expect(t3.entries.map((e) => [e.imageName, BASIC_8.names[e.label]])).toContainEqual([
      'fer0033120.png',
      'happiness',
    ]);
  });
});

describe('loading a large list is stopped by its signal', () => {
  it('between images (a timer, as a Ctrl-C handler, runs meanwhile), and before anything with a fired signal', async () => {
    const d = tmp();
    touchImage(join(d, '0', 'a.jpg'));
    const n = 20_000;
    for (let i = 0; i < n; i++) linkSync(join(d, '0', 'a.jpg'), join(d, '0', `${i}.jpg`));
    const csv = join(d, 'training.csv');
    writeFileSync(
      csv,
      ['subDirectory_filePath,expression', ...Array.from({ length: n }, (_, i) => `0/${i}.jpg,1`)].join('\n'),
    );
    const all = await loadAffectNetCsv({ csv, imageRoot: d, verify: 'header' });
    expect(all.items).toHaveLength(n);
    // before: the whole list was stat'ed and read with no turn of the event loop: the timer ran after the load
    const c = new AbortController();
    setTimeout(() => c.abort(new Error('SIGINT')), 5);
    await expect(loadAffectNetCsv({ csv, imageRoot: d, verify: 'header', signal: c.signal })).rejects.toThrow(
      'reading the dataset was aborted',
    );
    const fired = AbortSignal.abort();
    await expect(loadImageFolder(d, { signal: fired, extraFiles: 'skip' })).rejects.toThrow(AbortedError);
    await expect(loadAffectNetCsv({ csv, imageRoot: d, signal: fired })).rejects.toThrow(AbortedError);
  });
  it('a video list read in steps: the same clips as loadVideoList, and a signal stops it between clips', async () => {
    const d = tmp();
    const n = 300;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      touchImage(join(d, `clip${i}`, '000001.jpg'));
      lines.push(`clip${i} 1 ${i % 7}`);
    }
    const file = join(d, 'list.txt');
    writeFileSync(file, lines.join('\n'));
    let steps = 0;
    const listed = await runSteps(videoListSteps({ file }), { what: 'reading', onStep: () => steps++ });
    expect(listed).toEqual(loadVideoList({ file }));
    expect(steps).toBe(n); // one step per clip (a stat and a read of its frame folder)
    const c = new AbortController();
    let seen = 0;
    const stopped = runSteps(videoListSteps({ file }), {
      what: 'reading the dataset',
      signal: c.signal,
      sliceMs: 0,
      onStep: () => ++seen === 10 && setTimeout(() => c.abort(), 0),
    });
    await expect(stopped).rejects.toThrow('reading the dataset was aborted');
    expect(seen).toBeLessThan(n);
  });
});

describe('loadVideoList', () => {
  function makeClip(root: string, name: string, n: number): string {
    const dir = join(root, 'frames', name);
    for (let i = 0; i < n; i++) touchImage(join(dir, `${String(i).padStart(5, '0')}.jpg`));
    return dir;
  }
  it('reads DFER-CLIP lists and rebases absolute paths', () => {
    const root = tmp();
    makeClip(root, '00001', 3);
    makeClip(root, '00002', 2);
    const file = join(root, 'set_1_test.txt');
    writeFileSync(file, '/data/authors/frames/00001 3 0\n/data/authors/frames/00002 2 6\n');
    const r = loadVideoList({ file, rebase: { from: '/data/authors', to: root } });
    expect(r.items.map((i) => [i.numFrames, i.label])).toEqual([
      [3, 0],
      [2, 6],
    ]);
    expect(r.counts).toEqual([1, 0, 0, 0, 0, 0, 1]);
    expect(r.labelScheme).toBe('dfer-clip');
    // the prefix is whole path components: '/data/author' (or '/data/authors/') is no prefix of '/data/authorsX/…'
    writeFileSync(file, '/data/authorsX/frames/00001 3 0\n/data/authors/frames/00002 2 6\n');
    expect(() => loadVideoList({ file, rebase: { from: '/data/authors', to: root } })).toThrow(
      /set_1_test\.txt:1 \(field 'frame_dir'\).*\/data\/authorsX\/frames\/00001/,
    );
    writeFileSync(file, '/data/authors/frames/00001 3 0\n');
    expect(loadVideoList({ file, rebase: { from: '/data/authors/', to: root } }).items[0]!.frameDir).toBe(
      join(root, 'frames', '00001'),
    );
  });
  it("reads DFEW's own split file (video_name,label; DFEW's 1-based ids), counting each clip folder's frames", () => {
    const root = tmp();
    makeClip(root, '00001', 3);
    makeClip(root, '00012', 2);
    makeClip(root, '16372', 4);
    const split = join(root, 'EmoLabel_DataSplit', 'train(single-labeled)');
    mkdirSync(split, { recursive: true });
    const file = join(split, 'set_1.csv');
    // as DFEW ships it (a BOM, CRLF) and as re-exported (zero-padded names); 1 happy, 7 fear, 4 angry
    writeFileSync(file, '\uFEFFvideo_name,label\r\n1,1\r\n00012,7\r\n16372,4\r\n');
    const frames = join(root, 'frames');
    // a dataset's default scheme for its text lists does not apply: DFEW's file holds DFEW's ids
    for (const labelScheme of [undefined, 'dfew-original'] as const) {
      const r = loadVideoList({
        file,
        root: frames,
        defaultLabelScheme: 'mafw-hesp',
        ...(labelScheme ? { labelScheme } : {}),
      });
      expect(r.items.map((i) => [i.frameDir, i.numFrames, i.label, i.line])).toEqual([
        [join(frames, '00001'), 3, 0, 2],
        [join(frames, '00012'), 2, 6, 3],
        [join(frames, '16372'), 4, 3, 4],
      ]);
      expect(r.labelScheme).toBe('dfew-original');
    }
    const bad = (content: string, re: RegExp, options = {}) => {
      writeFileSync(file, content);
      expect(() => loadVideoList({ file, root: frames, ...options })).toThrow(re);
    };
    bad(
      'video_name,label\n1,1\n2,3\n',
      /set_1\.csv:3 \(field 'video_name'\): clip 00002: .*00002' does not exist \(root must be DFEW's folder of clip folders/,
    );
    bad('video_name,label\n1,0\n', /set_1\.csv:2 \(field 'label'\): 0 marks a clip without a single label/);
    // saved by Excel with ';' (before: "expected '<frame_dir> <num_frames> <label> [label text]'")
    bad(
      '"video_name";"label"\r\n1;1\r\n',
      /set_1\.csv:1: the first row has no comma but ';'; the file looks separated/,
    );
    bad('video_name,label\nclip1,1\n', /set_1\.csv:2 \(field 'video_name'\): 'clip1' is not a DFEW clip number/);
    for (const label of ['8', '1 happy', 'x', '1.0', ''])
      bad(
        `video_name,label\n1,${label}\n`,
        /set_1\.csv:2 \(field 'label'\): '.*' is not a DFEW label id; expected 1\.\.7 \(1 happy/,
      );
    for (const labelScheme of ['mafw-hesp', 'dfer-clip', 'label-set'])
      bad('video_name,label\n1,1\n', new RegExp(`label scheme '${labelScheme}' does not apply`), { labelScheme });
    // the header in another case, other columns beside: still DFEW's file; a column twice is named
    writeFileSync(file, 'Video_Name,LABEL,note\n1,1,x\n');
    expect(loadVideoList({ file, root: frames }).items.map((i) => i.label)).toEqual([0]);
    bad('video_name,label,Label\n1,1,1\n', /set_1\.csv:1: column 'label' appears 2 times in the header/);
    // a clip folder the system cannot read is named with the CSV line
    symlinkSync(join(frames, '00077'), join(frames, '00077'));
    bad('video_name,label\n77,1\n', /set_1\.csv:2 \(field 'video_name'\): clip 00077: .*00077' .*(loop|links)/);
    bad('video_name,label\n1,1\n1,1\n', /set_1\.csv:3: frame directory '00001' is listed twice \(first at line 2\)/);
    // without a root the clip folders are looked for beside the split file
    writeFileSync(file, 'video_name,label\n1,1\n');
    expect(() => loadVideoList({ file })).toThrow(/set_1\.csv:2 \(field 'video_name'\): clip 00001: .*does not exist/);
  });
  it('warns of frames numbered without zero padding (name order is then not time order), in text lists and DFEW files', () => {
    const root = tmp();
    makeClip(root, 'padded', 12);
    const unpadded = join(root, 'frames', 'unpadded');
    for (let i = 1; i <= 12; i++) touchImage(join(unpadded, `${i}.jpg`)); // 1, 10, 11, 12, 2, … by name
    const file = join(root, 'list.txt');
    writeFileSync(file, 'frames/padded 12 0\nframes/unpadded 12 1\n');
    const r = loadVideoList({ file });
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /list\.txt: the frames of 1 of 2 clips are numbered with numbers of different widths \(first at line 2, '.*unpadded': '12\.jpg' sorts before '2\.jpg'\); frames are taken in name order, as the reference loaders' sorted\(glob\(dir\/\*\)\) takes them/,
      ),
    ]);
    // a clip listed twice (relative and absolute) is one clip, also in the count
    writeFileSync(file, `frames/unpadded 12 1\n${unpadded} 12 1\nframes/padded 12 0\n`);
    expect(loadVideoList({ file, duplicates: 'drop' }).warnings).toEqual([
      expect.stringMatching(
        /the frames of 1 of 2 clips are numbered with numbers of different widths .*rename them with numbers zero-padded to one width \(e\.g\. '2\.jpg' → '00002\.jpg'\)/,
      ),
    ]);
    writeFileSync(file, 'frames/padded 12 0\n');
    expect(loadVideoList({ file }).warnings).toEqual([]);
    writeFileSync(file, 'frames/unpadded 12 1\n');
    expect(loadVideoList({ file, checkFrames: 'exists' }).warnings).toEqual([]); // frames not listed: not known
    // DFEW's own split file lists each clip folder too
    mkdirSync(join(root, 'clips'));
    symlinkSync(unpadded, join(root, 'clips', '00003'));
    const csv = join(root, 'set_1.csv');
    writeFileSync(csv, 'video_name,label\n3,1\n');
    expect(loadVideoList({ file: csv, root: join(root, 'clips') }).warnings).toEqual([
      expect.stringMatching(
        /set_1\.csv: the frames of 1 of 1 clip are numbered with numbers of different widths \(first at line 2/,
      ),
    ]);
  });
  it('unsetLabelScheme: what leaving the scheme out means for a set of lists (DFEW split files: their own ids)', () => {
    const root = tmp();
    const [csv, txt] = [join(root, 'set_1.csv'), join(root, 'set_1.txt')];
    writeFileSync(csv, 'video_name,label\n1,1\n');
    writeFileSync(txt, 'frames/a 3 0\n');
    expect(unsetLabelScheme([csv, csv], 'dfer-clip')).toBe('dfew-original');
    expect(unsetLabelScheme([txt], 'mafw-hesp')).toBe('mafw-hesp');
    expect(unsetLabelScheme([txt, join(root, 'missing.txt')], 'dfer-clip')).toBe('dfer-clip');
    expect(unsetLabelScheme([csv, txt], 'dfer-clip')).toBeNull(); // one scheme per file, not one for the set
  });
  it('nameOrderInversion: name order that is not number order where names differ in a number; differingNumbers', () => {
    expect(nameOrderInversion(['00001.jpg', '00002.jpg', '00010.jpg'])).toBeNull();
    expect(nameOrderInversion(['1.jpg', '10.jpg', '2.jpg'])).toEqual(['10.jpg', '2.jpg']);
    expect(nameOrderInversion(['0999.jpg', '1000.jpg', '10000.jpg', '1001.jpg'])).toEqual(['10000.jpg', '1001.jpg']);
    expect(nameOrderInversion(['img_10.png', 'img_10_flip.png', 'img_9.png'])).toEqual([
      'img_10_flip.png',
      'img_9.png',
    ]);
    // where one name has no number at the difference, or the numbers are equal, name order says nothing of time
    expect(nameOrderInversion(['frame.jpg', 'frame1.jpg', 'frame2.jpg'])).toBeNull();
    expect(nameOrderInversion(['frame-01.jpg', 'frame01.jpg', 'frame02.jpg'])).toBeNull();
    expect(nameOrderInversion(['01.jpg', '1.jpg', '2.jpg'])).toBeNull();
    expect(nameOrderInversion(['clip3_frame1.jpg', 'clip3_frame2.jpg', 'clip3_frame3.jpg'])).toBeNull();
    expect(nameOrderInversion(['clip3_frame1.jpg', 'clip3_frame10.jpg', 'clip3_frame2.jpg'])).toEqual([
      'clip3_frame10.jpg',
      'clip3_frame2.jpg',
    ]);
    expect(differingNumbers('frame_10.jpg', 'frame_9.jpg')).toEqual({ first: '10', second: '9', at: 6 });
    expect(differingNumbers('x120.jpg', 'x13.jpg')).toEqual({ first: '120', second: '13', at: 1 });
    expect(differingNumbers('frame.jpg', 'frame1.jpg')).toBeNull();
    expect(differingNumbers('a1b', 'a1c')).toBeNull();
    expect(differingNumbers('img12.jpg', 'img1_b.jpg')).toEqual({ first: '12', second: '1', at: 3 });
  });
  it("finds DFEW's clips in its clip_224x224_part_<n> folders; DFEW's frame names (00001_1.jpg …) are warned of", () => {
    const root = join(tmp(), 'clip_224x224');
    // as DFEW ships Clip/clip_224x224: 1,600 clips per part; frames <clip>_<frame number in the video>.jpg
    for (const [part, clip, n] of [
      [1, '00001', 12],
      [2, '01601', 3],
    ] as const)
      for (let i = 1; i <= n; i++) touchImage(join(root, `clip_224x224_part_${part}`, clip, `${clip}_${i}.jpg`));
    const file = join(root, '..', 'set_1.csv');
    writeFileSync(file, 'video_name,label\n1,1\n1601,5\n');
    const r = loadVideoList({ file, root });
    expect(r.items.map((i) => [i.frameDir, i.numFrames, i.label])).toEqual([
      [join(root, 'clip_224x224_part_1', '00001'), 12, 0],
      [join(root, 'clip_224x224_part_2', '01601'), 3, 4],
    ]);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /set_1\.csv: the frames of 1 of 2 clips .*'00001_12\.jpg' sorts before '00001_2\.jpg'.*e\.g\. '00001_2\.jpg' → '00001_00002\.jpg'/,
      ),
    ]);
    // a clip in no part is named missing, with where it was looked for and which part DFEW puts it in
    writeFileSync(file, 'video_name,label\n4801,1\n');
    expect(() => loadVideoList({ file, root })).toThrow(
      /set_1\.csv:2 \(field 'video_name'\): clip 04801: .*does not exist \(looked for in root and its 2 part folders \(clip_224x224_part_1 … clip_224x224_part_2\); DFEW puts clip 4801 in part 4: is that part extracted there\?\)/,
    );
    // a clip is taken from the part DFEW puts it in; other entries of the parts (.DS_Store in each) are not clips
    touchImage(join(root, 'clip_224x224_part_2', '00001', '00001_1.jpg'));
    for (const part of [1, 2]) writeFileSync(join(root, `clip_224x224_part_${part}`, '.DS_Store'), '');
    writeFileSync(file, 'video_name,label\n1,1\n1601,2\n');
    expect(loadVideoList({ file, root }).items.map((i) => i.frameDir)).toEqual([
      join(root, 'clip_224x224_part_1', '00001'),
      join(root, 'clip_224x224_part_2', '01601'),
    ]);
    // a re-packed copy (clip 1601 in part 1): found in the other parts
    mkdirSync(join(root, 'clip_224x224_part_1', '01602'));
    touchImage(join(root, 'clip_224x224_part_1', '01602', '01602_1.jpg'));
    writeFileSync(file, 'video_name,label\n1602,1\n');
    expect(loadVideoList({ file, root }).items[0]!.frameDir).toBe(join(root, 'clip_224x224_part_1', '01602'));
    // without part folders, the hint says what root must be
    writeFileSync(file, 'video_name,label\n1,1\n');
    expect(() => loadVideoList({ file, root: join(root, 'clip_224x224_part_2', '01601') })).toThrow(
      /clip 00001: .*does not exist \(root must be DFEW's folder of clip folders, or of its clip_224x224_part_<n> folders/,
    );
  });
  it('names file, line and field for each kind of bad input', () => {
    const root = tmp();
    makeClip(root, 'a', 3);
    const file = join(root, 'list.txt');
    const bad = (content: string, re: RegExp, options = {}) => {
      writeFileSync(file, content);
      expect(() => loadVideoList({ file, ...options })).toThrow(re);
    };
    bad(
      'frames/a 3 0\nframes/missing 3 0\n',
      /list\.txt:2 \(field 'frame_dir'\): frame directory .*missing' does not exist/,
    );
    bad('frames/a 4 0\n', /list\.txt:1 \(field 'num_frames'\): says 4 frames but .* holds 3 images/);
    bad('frames/a 3 11\n', /list\.txt:1 \(field 'label'\): label '11' out of range; expected an integer 0\.\.10/);
    bad('frames/a 3 7\n', /list\.txt:1 \(field 'label'\): label 7 \(= contempt under the dfer-clip scheme\)/);
    bad('frames/a 3 0\n', /label '0' out of range; expected an integer 1\.\.7/, { labelScheme: 'dfew-original' });
    bad('frames/a 3 0 Happy\n', /'Happy' contradicts label 0 \(= anger under the mafw-hesp scheme\)/, {
      labelScheme: 'mafw-hesp',
    });
    writeFileSync(file, 'frames/a 3 3 Happy\n');
    expect(loadVideoList({ file, labelScheme: 'mafw-hesp' }).items[0]!.label).toBe(0);
  });
});

describe('frame sampling', () => {
  it('takes segment centres like Exp-CLIP _get_test_indices', () => {
    // tick = 100/16 = 6.25 → floor(3.125 + 6.25k)
    expect(segmentCentreIndices(100, 16)).toEqual([3, 9, 15, 21, 28, 34, 40, 46, 53, 59, 65, 71, 78, 84, 90, 96]);
    expect(segmentCentreIndices(16, 16)).toEqual(new Array(16).fill(0));
    expect(segmentCentreIndices(5, 8, { shortClip: 'edge-pad' })).toEqual([0, 1, 2, 3, 4, 4, 4, 4]);
    expect(() => segmentCentreIndices(0, 8)).toThrow(/numFrames/);
  });
  it('draws one random frame per TSN segment, reproducibly', () => {
    const a = tsnTrainIndices(83, 8, createRng(1));
    expect(a).toEqual(tsnTrainIndices(83, 8, createRng(1)));
    a.forEach((idx, s) => {
      expect(idx).toBeGreaterThanOrEqual(s * 10);
      expect(idx).toBeLessThan(s * 10 + 10);
    });
    expect(tsnTrainIndices(5, 8, createRng(1))).toEqual(new Array(8).fill(0));
  });
});

describe('open-set splits', () => {
  it("reproduces HESP's MAFW lists in canonical ids with openness", () => {
    const s = hespOpenSetSplits('mafw');
    expect(s.length).toBe(20);
    expect(s.map((x) => x.known.length)).toEqual([
      ...new Array(5).fill(3),
      ...new Array(5).fill(5),
      ...new Array(5).fill(6),
      ...new Array(5).fill(8),
    ]);
    // HESP [10,5,6] = disappointment, sad, surprise
    expect(s[0]!.known.map((i) => MAFW_11.names[i])).toEqual(['disappointment', 'sadness', 'surprise']);
    expect(s[0]!.unknown.length).toBe(8);
    expect(s[0]!.openness).toBeCloseTo(0.345, 3);
    expect(
      hespOpenSetSplits('afew')
        .map((x) => x.openness.toFixed(3))
        .filter((v, i, a) => a.indexOf(v) === i),
    ).toEqual(['0.333', '0.225', '0.147', '0.087']);
  });
  it('generates seeded splits and partitions with sorted-known remapping', () => {
    const a = generateOpenSetSplits({ labelSet: BASIC_7, knownCounts: [2, 5], seed: 3 });
    expect(a).toEqual(generateOpenSetSplits({ labelSet: BASIC_7, knownCounts: [2, 5], seed: 3 }));
    expect(a.length).toBe(10);
    expect(new Set(a.slice(0, 5).map((x) => [...x.known].sort().join())).size).toBe(5);
    expect(() => generateOpenSetSplits({ labelSet: BASIC_7, knownCounts: [7], seed: 1 })).toThrow(/knownCounts/);
    const p = partitionBySplit([{ label: 6 }, { label: 2 }, { label: 0 }], { ...a[0]!, known: [6, 2] });
    expect(p.knownClassIds).toEqual([2, 6]);
    expect(p.known).toEqual([
      { label: 1, originalLabel: 6 },
      { label: 0, originalLabel: 2 },
    ]);
    expect(p.unknown).toEqual([{ label: 0 }]);
    expect(openness(3, 11)).toBeCloseTo(0.345, 3);
  });
  it('moves a published split into a label set of another order by class name, and refuses other classes', () => {
    // AFEW split 0 is HESP's [5, 3]: sadness and happiness (BASIC_7 ids 1, 0)
    const afew0 = hespOpenSetSplits('afew')[0]!;
    expect(afew0.known).toEqual([1, 0]);
    const fer = getLabelSet('fer2013-7-native'); // 0 anger … 3 happiness, 4 sadness …
    const moved = splitInLabelSet(afew0, fer);
    expect(moved.known.map((k) => fer.names[k])).toEqual(['sadness', 'happiness']);
    expect(moved.known).toEqual([4, 3]);
    expect(moved.unknown.map((k) => fer.names[k]).sort()).toEqual(['anger', 'disgust', 'fear', 'neutral', 'surprise']);
    expect([moved.index, moved.openness, moved.labelSet]).toEqual([0, afew0.openness, fer]);
    // folder-style names (aliases) in alphabetical order
    const alpha = labelSetFromNames(['Angry', 'Disgust', 'Fear', 'Happy', 'Neutral', 'Sad', 'Surprise']);
    expect(splitInLabelSet(afew0, alpha).known.map((k) => alpha.names[k])).toEqual(['Sad', 'Happy']);
    expect(splitInLabelSet(afew0, BASIC_7).known).toEqual([1, 0]);
    // the same number of classes, but not the same classes: not HESP's protocol
    expect(() => splitInLabelSet(afew0, getLabelSet('contempt-7'))).toThrow(
      /split 0 is over the classes of basic-7 .* it lacks neutral; contempt is not in the split's classes; give known class ids/,
    );
    expect(() => splitInLabelSet(afew0, BASIC_8)).toThrow(/contempt is not in the split's classes/);
  });
  it("numbers known labels as the released HESP code does for its alphabetical prompts (3 of MAFW's 20 align)", () => {
    const hespText = (n: string) =>
      ({ anger: 'Angry', disgust: 'Disgust', fear: 'Fear', happiness: 'Happy', neutral: 'Neutral', sadness: 'Sad' })[
        n
      ] ?? n.charAt(0).toUpperCase() + n.slice(1);
    const splits = hespOpenSetSplits('mafw');
    // split 0, HESP [10, 5, 6]: labels Sad, Surprise, Disappointment (hesp.md §3.3)
    expect(hespReferenceKnownOrder(splits[0]!.known, MAFW_11).map((k) => MAFW_11.names[k])).toEqual([
      'sadness',
      'surprise',
      'disappointment',
    ]);
    const aligned = splits
      .map((s, i) => {
        const labels = hespReferenceKnownOrder(s.known, MAFW_11).map((k) => hespText(MAFW_11.names[k]!));
        return labels.join() === [...labels].sort().join() ? i : -1;
      })
      .filter((i) => i >= 0);
    expect(aligned).toEqual([1, 3, 8]); // the spec's runs 18, 16, 11 (index 19 − run)
    const p = partitionBySplit([{ label: 10 }, { label: 1 }, { label: 4 }, { label: 0 }], splits[0]!, {
      knownOrder: hespReferenceKnownOrder(splits[0]!.known, MAFW_11),
    });
    expect(p.knownClassIds).toEqual([1, 4, 10]);
    expect(p.known.map((x) => x.label)).toEqual([2, 0, 1]);
    expect(() => partitionBySplit([], splits[0]!, { knownOrder: [1, 4] })).toThrow(/knownOrder.*not an order/);
    expect(() => hespReferenceKnownOrder([0], labelSetFromNames(['pain', 'calm']))).toThrow(
      /not one of HESP's classes/,
    );
  });
  it('pins the FERV39k open-set splits (seeded, HESP-shaped: 4 groups of 5 with 2/3/4/5 of 7 known)', () => {
    const s = hespOpenSetSplits('ferv39k');
    expect(FERV39K_SPLIT_SEED).toBe(39);
    expect(s).toEqual(ferv39kOpenSetSplits());
    expect(s.map((x) => x.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // BASIC_7 ids: 0 happiness, 1 sadness, 2 neutral, 3 anger, 4 surprise, 5 disgust, 6 fear
    expect(s.map((x) => x.known)).toEqual([
      [0, 1],
      [5, 4],
      [2, 3],
      [3, 4],
      [2, 5],
      [5, 2, 6],
      [5, 2, 4],
      [3, 2, 4],
      [3, 5, 1],
      [2, 3, 6],
      [0, 1, 5, 6],
      [2, 0, 4, 3],
      [2, 1, 6, 4],
      [2, 5, 6, 1],
      [2, 6, 5, 0],
      [6, 1, 4, 3, 2],
      [2, 0, 6, 4, 3],
      [6, 5, 0, 4, 1],
      [3, 5, 2, 1, 0],
      [0, 6, 5, 2, 1],
    ]);
    expect(s[0]!.unknown).toEqual([2, 3, 4, 5, 6]);
    expect(s[0]!.labelSet).toBe(BASIC_7);
    expect(s.map((x) => x.openness.toFixed(3)).filter((v, i, a) => a.indexOf(v) === i)).toEqual([
      '0.333',
      '0.225',
      '0.147',
      '0.087',
    ]);
    expect(DATASETS.ferv39k.hesp.splits).toBe('ferv39k');
  });
});

describe('frame directories: entries named like frames that are none, and the order of names past U+FFFF', () => {
  it("a folder or a dangling link named like a frame is named; names sort by code point, as Python's sorted()", async () => {
    const { listFrames } = await import('./node/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-frames-'));
    for (const f of ['a.jpg', '\u{ff5a}.jpg', '\u{1f600}.jpg']) writeFileSync(join(dir, f), 'x');
    // Python: sorted(['a.jpg', 'ｚ.jpg', '😀.jpg']) keeps this order (U+FF5A < U+1F600); UTF-16 order swaps the last two
    expect(listFrames(dir).map((p) => p.slice(dir.length + 1))).toEqual(['a.jpg', '\u{ff5a}.jpg', '\u{1f600}.jpg']);
    mkdirSync(join(dir, '00099.jpg'));
    expect(() => listFrames(dir)).toThrow(
      /00099\.jpg: is named like a frame but is a folder; frame directories hold image files/,
    );
    rmSync(join(dir, '00099.jpg'), { recursive: true });
    symlinkSync(join(dir, 'missing.png'), join(dir, '00000.png'));
    expect(() => listFrames(dir)).toThrow(/00000\.png: is named like a frame but is a link to nothing/);
  });
});
