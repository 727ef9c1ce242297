import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { BASIC_7, LABEL_SETS, parseCodedName } from './index.js';
import { loadNameCoded } from './node/index.js';

describe('datasets labelled by their file names', () => {
  it('parseCodedName reads KDEF and JAFFE names (any case) and nothing else', () => {
    expect(parseCodedName('kdef', 'AF01ANS.JPG')).toEqual({ subject: 'AF01', expression: 'anger', view: 'S' });
    expect(parseCodedName('kdef', 'bm35suhl.jpg')).toEqual({ subject: 'BM35', expression: 'surprise', view: 'HL' });
    expect(parseCodedName('kdef', 'AM12AFFR.JPEG')).toEqual({ subject: 'AM12', expression: 'fear', view: 'FR' });
    for (const name of [
      'AF01ANS2.JPG',
      'AF01ANX.JPG',
      'CF01ANS.JPG',
      'AF1ANS.JPG',
      'AF01ANS.png',
      'AF01XXS.JPG',
      'AF00HAS.JPG', // subjects 01–35
      'AF36HAS.JPG',
    ])
      expect(parseCodedName('kdef', name), name).toBeUndefined();
    expect(parseCodedName('jaffe', 'KA.AN1.39.tiff')).toEqual({ subject: 'KA', expression: 'anger', id: 'KA.39' });
    expect(parseCodedName('jaffe', 'NA.DI1.214.tiff')).toEqual({ subject: 'NA', expression: 'disgust', id: 'NA.214' });
    expect(parseCodedName('jaffe', 'km.fe3.16.TIF')).toEqual({ subject: 'KM', expression: 'fear', id: 'KM.16' });
    for (const name of ['KA.XX1.39.tiff', 'KA.AN.39.tiff', 'KA.AN1.tiff', 'KA.AN1.39.jpg', 'README'])
      expect(parseCodedName('jaffe', name), name).toBeUndefined();
  });

  describe('loadNameCoded', () => {
    const work = mkdtempSync(join(tmpdir(), 'vlfer-name-coded-'));
    const kdef = join(work, 'KDEF');
    const jaffe = join(work, 'jaffe');
    const codes = ['AF', 'AN', 'DI', 'HA', 'NE', 'SA', 'SU'];
    beforeAll(async () => {
      const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
        .jpeg()
        .toBuffer();
      const tiff = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
        .tiff()
        .toBuffer();
      for (const subject of ['AF01', 'BM02']) {
        mkdirSync(join(kdef, subject), { recursive: true });
        for (const code of codes)
          for (const view of ['S', 'HL']) writeFileSync(join(kdef, subject, `${subject}${code}${view}.JPG`), jpeg);
      }
      mkdirSync(jaffe, { recursive: true });
      for (const [k, code] of ['AN', 'DI', 'FE', 'HA', 'NE', 'SA', 'SU'].entries())
        writeFileSync(join(jaffe, `KA.${code}1.${k + 30}.tiff`), tiff);
      writeFileSync(join(jaffe, 'README'), 'The JAFFE images\n');
    });

    it('KDEF: every image below the root labelled by its name, in path order; views chosen', async () => {
      const all = await loadNameCoded({ root: kdef, dataset: 'kdef' });
      expect(all.items).toHaveLength(28);
      expect(all.labelSet).toBe(BASIC_7);
      expect(all.counts).toEqual([4, 4, 4, 4, 4, 4, 4]);
      expect(all.items[0]).toEqual({ path: join(kdef, 'AF01', 'AF01AFHL.JPG'), label: BASIC_7.names.indexOf('fear') });
      expect(all.items.map((i) => i.path)).toEqual([...all.items.map((i) => i.path)].sort());
      const straight = await loadNameCoded({ root: kdef, dataset: 'kdef', views: ['S'] });
      expect(straight.items.map((i) => i.path.slice(-5))).toEqual(straight.items.map(() => 'S.JPG'));
      expect(straight.dropped).toEqual([{ reason: 'view HL not asked for', count: 14 }]);
      // the happy straight image of BM02 has the label of happiness
      const happy = straight.items.find((i) => i.path.endsWith('BM02HAS.JPG'))!;
      expect(BASIC_7.names[happy.label]).toBe('happiness');
      for (const views of [[], ['S', 'XX']] as const)
        await expect(loadNameCoded({ root: kdef, dataset: 'kdef', views: views as never })).rejects.toThrow(
          `Argument 'views' passed to 'loadNameCoded': expected a non-empty list of FL, HL, S, HR, FR, got ${JSON.stringify(views)}`,
        );
      await expect(loadNameCoded({ root: jaffe, dataset: 'jaffe', views: ['S'] })).rejects.toThrow(
        "Argument 'views' passed to 'loadNameCoded': jaffe has no views (KDEF has)",
      );
    });

    it('a file that is no image, or an image named otherwise, is named with the form expected, or skipped and counted', async () => {
      await expect(loadNameCoded({ root: jaffe, dataset: 'jaffe' })).rejects.toThrow(
        `${join(jaffe, 'README')}: is not an image file: expected JAFFE's <subject>.<expression AN|DI|FE|HA|NE|SA|SU><n>.<id>.tiff, e.g. KA.AN1.39.tiff; pass extraFiles: 'skip' (CLI --extra-files skip) to leave such files out`,
      );
      const skipped = await loadNameCoded({ root: jaffe, dataset: 'jaffe', extraFiles: 'skip' });
      expect(skipped.items).toHaveLength(7);
      expect(skipped.dropped).toEqual([{ reason: 'not an image file', count: 1 }]);
      // a macOS resource fork named like an image is said to be a hidden file
      const fork = join(jaffe, '._KA.AN1.39.tiff');
      writeFileSync(fork, 'Mac OS X resource fork');
      await expect(loadNameCoded({ root: jaffe, dataset: 'jaffe' })).rejects.toThrow(
        `${fork}: is a hidden file (a macOS resource fork of 'KA.AN1.39.tiff'), not read as an image whatever its extension: expected JAFFE's`,
      );
      const forks = await loadNameCoded({ root: jaffe, dataset: 'jaffe', extraFiles: 'skip' });
      expect(forks.dropped).toContainEqual({ reason: 'hidden file', count: 1 });
      expect(forks.items).toHaveLength(7);
      rmSync(fork);
      writeFileSync(join(kdef, 'AF01', 'AF01ANS copy.JPG'), '');
      await expect(loadNameCoded({ root: kdef, dataset: 'kdef' })).rejects.toThrow(
        `${join(kdef, 'AF01', 'AF01ANS copy.JPG')}: is not named in the dataset’s form: expected KDEF's`,
      );
    });

    it("a copy in a trash or __MACOSX folder is no image of the set (it was an item, and with duplicates 'drop' kept over the real one)", async () => {
      const root = join(work, 'trash');
      const jpeg = readFileSync(join(kdef, 'AF01', 'AF01ANS.JPG'));
      mkdirSync(join(root, 'AF01'), { recursive: true });
      writeFileSync(join(root, 'AF01', 'AF01HAS.JPG'), jpeg);
      mkdirSync(join(root, '.Trash-1000', 'files'), { recursive: true });
      writeFileSync(join(root, '.Trash-1000', 'files', 'AF01HAS.JPG'), jpeg);
      const first = await loadNameCoded({ root, dataset: 'kdef', duplicates: 'drop' });
      expect(first.items.map((i) => i.path)).toEqual([join(root, 'AF01', 'AF01HAS.JPG')]);
      expect(first.dropped).toEqual([{ reason: 'hidden or system folder', count: 1 }]);
      mkdirSync(join(root, '__MACOSX', 'AF01'), { recursive: true });
      writeFileSync(join(root, '__MACOSX', 'AF01', 'AF01NES.JPG'), jpeg);
      const kept = await loadNameCoded({ root, dataset: 'kdef', duplicates: 'drop' });
      expect(kept.items.map((i) => i.path)).toEqual([join(root, 'AF01', 'AF01HAS.JPG')]);
      expect(kept.dropped).toEqual([{ reason: 'hidden or system folder', count: 2 }]);
    });

    it('a second file of one image (a copy, another case, a link) is named, or the first kept with duplicates drop', async () => {
      const root = join(work, 'dup');
      mkdirSync(join(root, 'KDEF', 'AF01'), { recursive: true });
      mkdirSync(join(root, 'KDEF copy', 'AF01'), { recursive: true });
      const jpeg = readFileSync(join(kdef, 'AF01', 'AF01ANS.JPG'));
      for (const name of ['AF01ANS.JPG', 'AF01HAS.JPG']) writeFileSync(join(root, 'KDEF', 'AF01', name), jpeg);
      writeFileSync(join(root, 'KDEF copy', 'AF01', 'af01ans.jpg'), jpeg);
      await expect(loadNameCoded({ root, dataset: 'kdef' })).rejects.toThrow(
        `${join(root, 'KDEF copy', 'AF01', 'af01ans.jpg')}: is image AF01ANS again (first at ${join(root, 'KDEF', 'AF01', 'AF01ANS.JPG')}): a second copy; remove one, or pass duplicates: 'drop' (CLI --duplicates drop) to keep the first`,
      );
      const kept = await loadNameCoded({ root, dataset: 'kdef', duplicates: 'drop' });
      expect(kept.items.map((i) => i.path)).toEqual([
        join(root, 'KDEF', 'AF01', 'AF01ANS.JPG'),
        join(root, 'KDEF', 'AF01', 'AF01HAS.JPG'),
      ]);
      expect(kept.dropped).toEqual([{ reason: 'image named again (a second copy)', count: 1 }]);
      // one file under two names (two labels): a hard link, then a symbolic one
      rmSync(join(root, 'KDEF copy'), { recursive: true });
      linkSync(join(root, 'KDEF', 'AF01', 'AF01HAS.JPG'), join(root, 'KDEF', 'AF01', 'AF01SAS.JPG'));
      await expect(loadNameCoded({ root, dataset: 'kdef', duplicates: 'drop' })).rejects.toThrow(
        `${join(root, 'KDEF', 'AF01', 'AF01SAS.JPG')}: and ${join(root, 'KDEF', 'AF01', 'AF01HAS.JPG')} are one file (hard links to one inode)`,
      );
      rmSync(join(root, 'KDEF', 'AF01', 'AF01SAS.JPG'));
      symlinkSync(join(root, 'KDEF', 'AF01', 'AF01HAS.JPG'), join(root, 'KDEF', 'AF01', 'AF01SAS.JPG'));
      await expect(loadNameCoded({ root, dataset: 'kdef' })).rejects.toThrow(
        `${join(root, 'KDEF', 'AF01', 'AF01SAS.JPG')}: and ${join(root, 'KDEF', 'AF01', 'AF01HAS.JPG')} are one file`,
      );
    });

    it('one JAFFE photograph (subject and number) under two expressions is one image twice', async () => {
      const root = join(work, 'jaffe-twice');
      mkdirSync(root);
      const tiff = readFileSync(join(jaffe, 'KA.AN1.30.tiff'));
      writeFileSync(join(root, 'KA.AN1.30.tiff'), tiff);
      writeFileSync(join(root, 'KA.HA1.30.tiff'), tiff);
      writeFileSync(join(root, 'KM.HA1.30.tiff'), tiff); // another subject's number 30: another photograph
      await expect(loadNameCoded({ root, dataset: 'jaffe' })).rejects.toThrow(
        `${join(root, 'KA.HA1.30.tiff')}: is image KA.30 again (first at ${join(root, 'KA.AN1.30.tiff')})`,
      );
      expect((await loadNameCoded({ root, dataset: 'jaffe', duplicates: 'drop' })).items).toHaveLength(2);
    });

    it('an expression outside the label set is an error naming the file, or dropped and counted', async () => {
      const basic6 = LABEL_SETS['basic-6'];
      await expect(
        loadNameCoded({ root: jaffe, dataset: 'jaffe', extraFiles: 'skip', labelSet: basic6 }),
      ).rejects.toThrow(
        `${join(jaffe, 'KA.NE1.34.tiff')}: is 'neutral', which is not in the label set basic-6; pass outOfSet: 'drop' to leave such images out`,
      );
      const six = await loadNameCoded({
        root: jaffe,
        dataset: 'jaffe',
        extraFiles: 'skip',
        labelSet: basic6,
        outOfSet: 'drop',
      });
      expect(six.items).toHaveLength(6);
      expect(six.dropped).toContainEqual({ reason: "'neutral' not in basic-6", count: 1 });
    });
  });
});
