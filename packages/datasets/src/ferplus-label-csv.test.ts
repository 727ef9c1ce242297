import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BASIC_8, isFerPlusLabelCsv, parseFerPlusCsvText } from './index.js';
import { loadFerPlusCsv } from './node/index.js';
import { copyWritable } from '@vlfer/test-utils';

/** FERPlus's own data/FER2013Test/label.csv (test-data/ferplus/README.md). */
const LABEL_CSV = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'test-data',
  'ferplus',
  'FER2013Test',
  'label.csv',
);

describe("FERPlus's per-folder label.csv", () => {
  it("gives the test set Exp-CLIP's FERPlus results imply (disgust 16, fear 86, contempt 15)", () => {
    const text = readFileSync(LABEL_CSV, 'utf8');
    expect(createHash('sha256').update(text).digest('hex')).toBe(
      '425142295cc23872651271be9f45a99dac11af426f948d1b60967c8845b7bdf2',
    );
    expect(isFerPlusLabelCsv(text)).toBe(true);
    const r = parseFerPlusCsvText(text, { file: LABEL_CSV, folderUsage: 'PrivateTest' });
    const counts = Object.fromEntries(BASIC_8.names.map((n) => [n, 0]));
    for (const e of r.entries) counts[BASIC_8.names[e.label]!]!++;
    // exp-clip.md §4: the per-class recall granularity of Exp-CLIP's logged FERPlus results
    expect([counts.disgust, counts.fear, counts.contempt]).toEqual([16, 86, 15]);
    expect(r.entries).toHaveLength(3137);
    expect(r.entries.every((e) => e.usage === 'PrivateTest')).toBe(true);
    expect(r.dropped.reduce((s, d) => s + d.count, 0)).toBe(3573 - 3137);
    expect(r.warnings).toEqual([]);
  });

  it('takes its Usage from its folder, reads images there, and names a row that is not FERPlus-shaped', async () => {
    const d = mkdtempSync(join(tmpdir(), 'vlfer-ferplus-label-'));
    const folder = join(d, 'FER2013Test');
    mkdirSync(folder);
    const rows = readFileSync(LABEL_CSV, 'utf8').split('\n').slice(0, 3);
    writeFileSync(join(folder, 'label.csv'), `${rows.join('\r\n')}\r\n`);
    for (const row of rows) writeFileSync(join(folder, row.split(',')[0]!), '');
    const r = await loadFerPlusCsv({ csv: join(folder, 'label.csv'), imageRoot: d, usage: 'PrivateTest' });
    // fer0032220.png: contempt 7 of 10 after single votes go; fer0032222.png: sadness 5 of 10 (no majority), …
    expect(r.items.map((i) => [i.path, BASIC_8.names[i.label]])).toEqual(
      parseFerPlusCsvText(rows.join('\n'), { file: 'x', folderUsage: 'PrivateTest' }).entries.map((e) => [
        join(folder, e.imageName),
        BASIC_8.names[e.label],
      ]),
    );
    expect(r.items[0]).toEqual({ path: join(folder, 'fer0032220.png'), label: BASIC_8.names.indexOf('contempt') });
    await expect(loadFerPlusCsv({ csv: join(folder, 'label.csv'), imageRoot: d, usage: 'Training' })).rejects.toThrow(
      /'usage' .*: is Training, but .*FER2013Test\/label\.csv is the label\.csv of FER2013Test, whose rows are PrivateTest/,
    );
    // elsewhere than its folder: its Usage must be given
    copyWritable(join(folder, 'label.csv'), join(d, 'label.csv'));
    await expect(loadFerPlusCsv({ csv: join(d, 'label.csv'), imageRoot: d })).rejects.toThrow(
      /label\.csv: is FERPlus's per-folder label\.csv .* keep it in FER2013Train, FER2013Valid or FER2013Test, or give usage/,
    );
    expect((await loadFerPlusCsv({ csv: join(d, 'label.csv'), imageRoot: d, usage: 'PrivateTest' })).items).toEqual(
      r.items,
    );
    writeFileSync(join(folder, 'label.csv'), `${rows[0]}\nfer0032222.png,"(0, 0, 48, 48)",3,0,0,5\n`);
    await expect(loadFerPlusCsv({ csv: join(folder, 'label.csv'), imageRoot: d })).rejects.toThrow(
      /label\.csv:2: has 6 cells; FERPlus's label\.csv rows have 12 \(image name, face box, neutral, /,
    );
    writeFileSync(join(folder, 'label.csv'), `${rows[0]}\nfer0032222.png,"(0, 0, 48)",3,0,0,5,0,0,0,0,2,0\n`);
    await expect(loadFerPlusCsv({ csv: join(folder, 'label.csv'), imageRoot: d })).rejects.toThrow(
      /label\.csv:2 \(field 'face box'\): '\(0, 0, 48\)' is not a face box/,
    );
    // the first row is read as CSV, after blank lines: a malformed first row is named, never taken for a header
    writeFileSync(join(folder, 'label.csv'), `fer0032222.png,"(0, 0, 48)",3,0,0,5,0,0,0,0,2,0\n${rows[0]}\n`);
    await expect(loadFerPlusCsv({ csv: join(folder, 'label.csv'), imageRoot: d })).rejects.toThrow(
      /label\.csv:1 \(field 'face box'\): '\(0, 0, 48\)' is not a face box/,
    );
    writeFileSync(join(folder, 'label.csv'), `\n"${rows[0]!.replace(',', '",')}\r\n${rows[1]}\r\n`);
    expect(isFerPlusLabelCsv(readFileSync(join(folder, 'label.csv'), 'utf8'))).toBe(true);
    expect((await loadFerPlusCsv({ csv: join(folder, 'label.csv'), imageRoot: d })).items).toEqual(
      r.items.filter((i) => rows.slice(0, 2).some((row) => i.path.endsWith(row.split(',')[0]!))),
    );
  });
});
