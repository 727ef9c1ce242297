import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseOptions } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { foldAnnotations, loadEvalData } from './data.js';
import { EvalOptionsSchema, type EvalOptionsInput } from './options.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-expclip-data-'));
const opts = (o: Partial<EvalOptionsInput>) =>
  parseOptions(EvalOptionsSchema, { dataset: 'image-folder', root: work, model: 'm', ...o }, 'test');

describe('loadEvalData stages', () => {
  it('foldAnnotations: {fold} replaced per fold, the path as given for the whole set; a fold needs {fold}', () => {
    expect(foldAnnotations({ annotations: 'set_{fold}_test.txt' }, 3)).toBe('set_3_test.txt');
    expect(foldAnnotations({ annotations: 'all.txt' }, null)).toBe('all.txt');
    expect(foldAnnotations({}, null)).toBeUndefined();
    expect(() => foldAnnotations({ annotations: 'all.txt' }, 1)).toThrow(/'folds'.*containing \{fold\}/);
  });

  it('each format goes to its loader: a video list per fold (frames), and a list format without annotations is refused', async () => {
    for (const fold of [1, 2]) {
      mkdirSync(join(work, 'frames', `c${fold}`), { recursive: true });
      writeFileSync(join(work, 'frames', `c${fold}`, '00001.png'), '');
      writeFileSync(join(work, `set_${fold}.txt`), `frames/c${fold} 1 ${fold}\n`);
    }
    const o = opts({ dataset: 'dfew', annotations: join(work, 'set_{fold}.txt'), folds: [1, 2] });
    const d = await loadEvalData(o, 2);
    expect(d).toMatchObject({ fold: 2, kind: 'frames', source: join(work, 'set_2.txt'), total: 1, subset: null });
    expect(d.items).toHaveLength(1);
    await expect(loadEvalData(opts({ dataset: 'dfew' }), null)).rejects.toThrow(
      /'annotations'.*is required for dataset dfew/,
    );
    // a class-folder set reads no list: one given would be recorded as if it chose the items, so it is refused
    await expect(
      loadEvalData(opts({ dataset: 'fer2013', annotations: join(work, 'set_1.txt') }), null),
    ).rejects.toThrow(
      /'annotations'.*dataset fer2013 is read from the class folders under root .*; it takes no annotation file/,
    );
    await expect(loadEvalData(opts({ dataset: 'fer2013', folds: [1, 2] }), 1)).rejects.toThrow(
      /'folds'.*dataset fer2013 is read from the class folders under root .*; it takes no annotation file and has no folds/,
    );
    // every folder under a class-folder root is data: the output directory may not lie there
    await expect(loadEvalData(opts({ dataset: 'fer2013', out: join(work, 'results') }), null)).rejects.toThrow(
      /'out'.*results lies inside the dataset's root .*: its files would be read as the dataset's/,
    );
    // DFEW's and MAFW's per-fold lists without folds: every official fold (Exp-CLIP's test.py), recorded as given;
    // a set without official folds is refused naming folds (it read a path with {fold} left in)
    expect(opts({ dataset: 'dfew', annotations: 'DFEW_set_{fold}_test.txt' }).folds).toEqual([1, 2, 3, 4, 5]);
    expect(opts({ dataset: 'mafw', annotations: 'MAFW_set_{fold}_test.txt' }).folds).toEqual([1, 2, 3, 4, 5]);
    expect(opts({ dataset: 'dfew', annotations: 'DFEW_set_{fold}_test.txt', folds: [2] }).folds).toEqual([2]);
    expect(opts({ dataset: 'dfew', annotations: 'DFEW_set_1_test.txt' }).folds).toBeUndefined();
    expect(() => opts({ dataset: 'ferv39k', annotations: 'FERV39k_{fold}.txt' })).toThrow(
      /folds.*the annotations path 'FERV39k_\{fold\}\.txt' has \{fold\} and ferv39k has no official folds: give the folds to evaluate/,
    );
    // a fold listed twice would weigh twice in the mean
    expect(() => opts({ dataset: 'dfew', annotations: 'a_{fold}.txt', folds: [1, 1, 2] })).toThrow(
      /lists fold 1 twice \(1,1,2\); each fold is evaluated once/,
    );
    // a prompt type listed twice gave two result rows and every prediction twice, metrics.json one
    expect(() =>
      opts({ dataset: 'fer2013', promptTypes: ['class_name', 'an_expression_of_name', 'class_name'] }),
    ).toThrow(/promptTypes.*lists 'class_name' twice; each prompt type is evaluated once/);
  });

  it("FERPlus's per-folder label.csv: the split reads its folder's rows, another folder's is refused naming split", async () => {
    const root = join(work, 'ferplus');
    for (const [folder, name] of [
      ['FER2013Test', 'fer0032220.png'],
      ['FER2013Valid', 'fer0028638.png'],
    ] as const) {
      mkdirSync(join(root, folder), { recursive: true });
      writeFileSync(join(root, folder, 'label.csv'), `${name},"(0, 0, 48, 48)",0,10,0,0,0,0,0,0,0,0\n`);
      writeFileSync(join(root, folder, name), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    }
    const test = join(root, 'FER2013Test', 'label.csv');
    const d = await loadEvalData(opts({ dataset: 'ferplus', root, annotations: test }), null);
    expect(d.items.map((i) => ('path' in i ? i.path : i.frameDir))).toEqual([
      join(root, 'FER2013Test', 'fer0032220.png'),
    ]);
    await expect(
      loadEvalData(opts({ dataset: 'ferplus', root, annotations: test, split: 'train' }), null),
    ).rejects.toThrow(
      /'split' .*: is 'train', which reads FERPlus's Training rows, but .*FER2013Test\/label\.csv is the label\.csv of another folder \(PrivateTest rows\): give FER2013Train\/label\.csv$/,
    );
    await expect(
      loadEvalData(opts({ dataset: 'ferplus', root, annotations: test, folderIds: 'raf-db' }), null),
    ).rejects.toThrow(/'folderIds' .*: dataset ferplus is read from its annotations .*; folderIds names class folders/);
    const valid = join(root, 'FER2013Valid', 'label.csv');
    await expect(loadEvalData(opts({ dataset: 'ferplus', root, annotations: valid }), null)).rejects.toThrow(
      /give FER2013Test\/label\.csv \(FER2013Valid's PublicTest rows are neither split\)/,
    );
  });
  it("AffectNet's npy release: its images labelled by their _exp.npy, contempt and None dropped and counted", async () => {
    const root = join(import.meta.dirname, '..', '..', 'datasets', 'test-data', 'affectnet-npy', 'val_set');
    const d = await loadEvalData(opts({ dataset: 'affectnet7-npy', root }), null);
    expect([d.items.length, d.labelSet.id, d.dropped.map((x) => x.count)]).toEqual([7, 'basic-7', [1, 1]]);
    expect((await loadEvalData(opts({ dataset: 'affectnet8-npy', root }), null)).items).toHaveLength(8);
    // read from its root alone: no annotation file, no class folders, no out inside it
    for (const [o, refused] of [
      [{ annotations: join(work, 'a.csv') }, /'annotations' .*takes no annotation file/],
      [{ folderIds: 'affectnet' }, /'folderIds' .*folderIds names class folders/],
      [{ out: join(root, 'results') }, /'out' .*lies inside the dataset's root/],
    ] as const)
      await expect(loadEvalData(opts({ dataset: 'affectnet7-npy', root, ...o }), null)).rejects.toThrow(refused);
  });
  it('KDEF and JAFFE: images labelled by their names, KDEF by the views asked for; no list, no class folders', async () => {
    const root = join(work, 'KDEF');
    mkdirSync(join(root, 'AF01'), { recursive: true });
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#404040' } })
      .jpeg()
      .toBuffer();
    for (const code of ['AF', 'AN', 'DI', 'HA', 'NE', 'SA', 'SU'])
      for (const view of ['FL', 'S']) writeFileSync(join(root, 'AF01', `AF01${code}${view}.JPG`), jpeg);
    const all = await loadEvalData(opts({ dataset: 'kdef', root }), null);
    expect([all.items.length, all.labelSet.id, all.kind]).toEqual([14, 'basic-7', 'images']);
    const straight = await loadEvalData(opts({ dataset: 'kdef', root, views: ['S'] }), null);
    expect(straight.items.map((i) => (i as { path: string }).path.slice(-5))).toEqual(Array(7).fill('S.JPG'));
    expect(straight.dropped).toEqual([{ reason: 'view FL not asked for', count: 7 }]);
    // a root whose every file is skipped says why it holds no items
    const jaffe = await loadEvalData(opts({ dataset: 'jaffe', root, extraFiles: 'skip' }), null).catch((e) => e);
    expect((jaffe as Error).message).toBe(
      `${root}: holds no items to evaluate (dropped: 14 not named in the dataset’s form)`,
    );
    for (const [o, refused] of [
      [{ annotations: join(work, 'a.csv') }, /'annotations' .*takes no annotation file/],
      [
        { folderIds: 'affectnet' },
        /'folderIds' .*dataset kdef is read from its file names .*folderIds names class folders/,
      ],
      [{ out: join(root, 'results') }, /'out' .*lies inside the dataset's root/],
    ] as const)
      await expect(loadEvalData(opts({ dataset: 'kdef', root, ...o }), null)).rejects.toThrow(refused);
  });
  it('CK+: the peak frames of each labelled sequence; ckplus8 adds its first frame as neutral', async () => {
    const root = join(work, 'CK+');
    const frames = join(root, 'cohn-kanade-images', 'S005', '001');
    mkdirSync(frames, { recursive: true });
    mkdirSync(join(root, 'Emotion', 'S005', '001'), { recursive: true });
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#404040' } })
      .png()
      .toBuffer();
    for (let f = 1; f <= 6; f++) writeFileSync(join(frames, `S005_001_0000000${f}.png`), png);
    writeFileSync(join(root, 'Emotion', 'S005', '001', 'S005_001_00000006_emotion.txt'), '   5.0000000e+00\n');
    const seven = await loadEvalData(opts({ dataset: 'ckplus', root }), null);
    const names = (d: typeof seven) => d.items.map((i) => d.labelSet.names[i.label]);
    expect([seven.labelSet.id, names(seven)]).toEqual(['contempt-7', ['happiness', 'happiness', 'happiness']]);
    const eight = await loadEvalData(opts({ dataset: 'ckplus8', root, peakFrames: 2 }), null);
    expect([eight.labelSet.id, names(eight)]).toEqual(['basic-8', ['neutral', 'happiness', 'happiness']]);
  });
});
