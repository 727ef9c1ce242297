import { describe, expect, it } from 'vitest';
import {
  BASIC_7,
  BASIC_8,
  getLabelSet,
  inferLabelSet,
  labelSetFromNames,
  LABEL_SETS,
  MAFW_11,
  matchClassName,
  parseAffectNetCsvText,
  parseCsvText,
  parseFerPlusCsvText,
  parseLabelSetJson,
  parseRafDbListText,
  parseVideoListText,
  stratifiedSubset,
  subsetId,
} from './index.js';

const AFFECT_HEADER = 'subDirectory_filePath,face_x,expression,valence';
const FERPLUS_HEADER = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';

describe('strict parsing of annotation text', () => {
  it('refuses a misspelt policy or class count instead of taking the other choice', () => {
    const affect = `${AFFECT_HEADER}\n1/a.jpg,0,1,0.1\n`;
    const o = (x: Record<string, unknown>) => ({ file: 'training.csv', ...x }) as never;
    // classes 9 read as 7 classes; 'Drop' as 'error'
    expect(() => parseAffectNetCsvText(affect, o({ classes: 9 }))).toThrow(/'classes'.*expected 7 or 8, got 9/);
    expect(() => parseAffectNetCsvText(affect, o({ outOfSet: 'Drop' }))).toThrow(/'outOfSet'.*'error', 'drop'/);
    expect(() => parseAffectNetCsvText(affect, o({ duplicates: 'skip' }))).toThrow(
      /'duplicates' passed to 'parseAffectNetCsvText'/,
    );
    const fer = `${FERPLUS_HEADER}\nPrivateTest,fer0.png,0,10,0,0,0,0,0,0,0,0\n`;
    expect(() => parseFerPlusCsvText(fer, o({ noMajority: 'Error' }))).toThrow(/'noMajority'.*'drop', 'error'/);
    expect(() => parseVideoListText('/v/a 8 -0\n', o({ labelScheme: 'label-set', labelSet: BASIC_7 }))).toThrow(
      /label '-0' out of range; expected an integer 0\.\.6/,
    );
    expect(() => parseVideoListText('/v/a 8 1\n', o({ duplicates: 'Drop' }))).toThrow(
      /'duplicates' passed to 'parseVideoListText'/,
    );
  });
  it('AffectNet: an empty expression cell is an error (not label 0 = neutral); a BOM in the header is fine', () => {
    expect(() => parseAffectNetCsvText(`${AFFECT_HEADER}\n1/a.jpg,0,,0.1\n`, { file: 'training.csv' })).toThrow(
      /training\.csv:2 \(field 'expression'\): "" is not an AffectNet category 0\.\.10/,
    );
    expect(() => parseAffectNetCsvText(`${AFFECT_HEADER}\n1/a.jpg,0,3.0,0.1\n`, { file: 'training.csv' })).toThrow(
      /"3\.0" is not an AffectNet category/,
    );
    const r = parseAffectNetCsvText(`\uFEFF${AFFECT_HEADER}\n1/a.jpg,0,1,0.1\n`, { file: 'training.csv' });
    expect(r.entries).toEqual([{ path: '1/a.jpg', label: 0, line: 2 }]); // AffectNet 1 = happiness = id 0
  });
  it('FERPlus: a Usage value that is not Training/PublicTest/PrivateTest is an error, even when filtering', () => {
    const row = (usage: string) => `${FERPLUS_HEADER}\n${usage},fer0.png,0,10,0,0,0,0,0,0,0,0\n`;
    expect(() => parseFerPlusCsvText(row('Privatetest'), { file: 'fer2013new.csv', usage: 'PrivateTest' })).toThrow(
      /fer2013new\.csv:2 \(field 'Usage'\): 'Privatetest' is not Training, PublicTest, PrivateTest/,
    );
    expect(parseFerPlusCsvText(`\uFEFF${row('PrivateTest').trimEnd()}\r\n`, { file: 'x.csv' }).entries[0]!.label).toBe(
      BASIC_8.names.indexOf('happiness'),
    );
    expect(() =>
      parseFerPlusCsvText(`${FERPLUS_HEADER}\nTraining,a.png,x,10,0,0,0,0,0,0,0,0\n`, { file: 'x.csv' }),
    ).toThrow(/x\.csv:2 \(field 'neutral'\): "x" is not a vote count/);
  });
  it('label schemes: a MAFW list without names is not read as HESP ids; refusals name the scheme that fits', () => {
    // DFER-CLIP's MAFW lists carry no class names, and their ids are in another order than HESP's
    expect(() => parseVideoListText('frames/a 3 3\n', { file: 'm.txt', labelScheme: 'mafw-hesp' })).toThrow(
      /m\.txt:1 \(field 'label text'\): missing: HESP's MAFW lists name each class after its id .* read it with labelScheme 'dfer-clip'/,
    );
    // HESP's MAFW list read as DFER-CLIP ids: its names say which scheme it is
    expect(() => parseVideoListText('frames/a 3 0 Angry\n', { file: 'm.txt', labelSet: MAFW_11 })).toThrow(
      /'Angry' contradicts label 0 \(= happiness under the dfer-clip scheme\); the list's ids and names agree under the 'mafw-hesp' scheme: read it with labelScheme 'mafw-hesp'/,
    );
    // DFEW's own 1-based ids read as DFER-CLIP's: id 7 is contempt, not in basic-7
    expect(() => parseVideoListText('frames/a 3 7\n', { file: 'd.txt' })).toThrow(
      /label 7 \(= contempt under the dfer-clip scheme\) is not a class of label set basic-7 .*; if they are DFEW's own 1-based ids \(1 happiness … 7 fear\), with 'dfew-original'/,
    );
  });
  it('duplicate rows are an error, or dropped and counted when asked; a repeat with another label is always an error', () => {
    const list = 'frames/a 10 0\nframes/b 10 1\nframes/a 10 0\n';
    expect(() => parseVideoListText(list, { file: 'list.txt' })).toThrow(
      /list\.txt:3: frame directory 'frames\/a' is listed twice \(first at line 1\); pass duplicates: 'drop'/,
    );
    const r = parseVideoListText(list, { file: 'list.txt', duplicates: 'drop' });
    expect(r.entries.length).toBe(2);
    expect(r.dropped).toEqual([{ reason: 'duplicate frame directory', count: 1 }]);
    expect(() =>
      parseVideoListText('frames/a 10 0\nframes/a 10 2\n', { file: 'list.txt', duplicates: 'drop' }),
    ).toThrow(/listed again with another label/);
    expect(() => parseRafDbListText('train_1.jpg 5\ntrain_1.jpg 5\n', { file: 'rafdb.txt', split: 'train' })).toThrow(
      /rafdb\.txt:2: image 'train_1\.jpg' is listed twice/,
    );
    // a label in range whose class the label set lacks is said so, not called out of range
    const three = labelSetFromNames(['happy', 'sad', 'angry']);
    expect(() => parseRafDbListText('train_1.jpg 1\n', { file: 'r.txt', split: 'train', labelSet: three })).toThrow(
      /r\.txt:1 \(field 'label'\): label 1 \(= surprise in RAF-DB\) is not a class of label set .* \(happy, sad, angry\)/,
    );
    expect(() => parseRafDbListText('train_1.jpg 8\n', { file: 'r.txt', split: 'train' })).toThrow(
      /label '8' out of range; expected an integer 1\.\.7 \(RAF-DB basic\)$/,
    );
    expect(() => parseAffectNetCsvText(`${AFFECT_HEADER}\n1/a.jpg,0,1,0\n1/a.jpg,0,1,0\n`, { file: 'a.csv' })).toThrow(
      /a\.csv:3: image '1\/a\.jpg' is listed twice/,
    );
    // a row left out (category 8, contempt of none) and a kept one for the same image contradict each other
    const both = `${AFFECT_HEADER}\n1/a.jpg,0,8,0\n1/a.jpg,0,1,0\n`;
    expect(() => parseAffectNetCsvText(both, { file: 'a.csv', outOfSet: 'drop' })).toThrow(
      /a\.csv:3: image '1\/a\.jpg' is listed again with another label \(first at line 2\)/,
    );
  });
  it('CSV: quotes, CRLF, a quote left open, ragged rows and duplicate columns are handled or named', () => {
    expect(parseCsvText('a,b\r\n"x, ""y""",2\r\n', 'q.csv').records[0]!.cells).toEqual({ a: 'x, "y"', b: '2' });
    expect(() => parseCsvText('a,b\n"x,2\n', 'q.csv')).toThrow(/q\.csv:2: a quoted field is not closed/);
    // CR-only line ends: the error names the third line, where the short row is
    expect(() => parseCsvText('a,b\r1,2\r3\r', 'q.csv')).toThrow(/q\.csv:3: 1 cell, the header has 2/);
    // a video list with CR-only line ends is three rows, not one
    expect(() => parseVideoListText('c/1 3 0\rc/2 3 1\rc/3 x 2\r', { file: 'l.txt' })).toThrow(
      /l\.txt:3 \(field 'num_frames'\)/,
    );
    expect(() => parseCsvText('a,b\n1,2,3\n', 'q.csv')).toThrow(/q\.csv:2: 3 cells, the header has 2 columns/);
    expect(() => parseCsvText('a,a\n1,2\n', 'q.csv')).toThrow(/column 'a' appears twice/);
  });
  it("CSV from Excel: ';' or tab separators are named; unnamed trailing columns and rows of empty cells are left out", () => {
    // before: "missing column", "a quote inside an unquoted field", "unexpected character ';' after a closing quote"
    const semi =
      /q\.csv:1: the first row has no comma but ';'; the file looks separated by semicolons .*: save it as comma-separated CSV/;
    expect(() => parseCsvText('a;b\n1;2\n', 'q.csv')).toThrow(semi);
    expect(() => parseCsvText('a;b\n"x";2\n', 'q.csv')).toThrow(semi);
    // a comma inside quotes only: still no comma between cells
    expect(() => parseCsvText('\ufeff\n"a, 1";"b"\n"x";2\n', 'q.csv')).toThrow(
      /q\.csv:2: the first row has no comma but ';'; the file looks separated by semicolons/,
    );
    expect(() => parseCsvText('a\tb\n1\t2\n', 'q.csv')).toThrow(
      /q\.csv:1: the first row has no comma but tabs; .*separated by tabs/,
    );
    expect(() =>
      parseAffectNetCsvText(`${AFFECT_HEADER.replaceAll(',', ';')}\n1/a.jpg;0;1;0\n`, { file: 'a.csv' }),
    ).toThrow(/a\.csv:1: the first row has no comma but ';'/);
    // decimal commas in a ';' header (Excel's locales): the missing column says what the header looks like
    expect(() =>
      parseAffectNetCsvText(`${AFFECT_HEADER.replaceAll(',', ';')};x,y\n1/a.jpg;0;1;0;0,5\n`, { file: 'a.csv' }),
    ).toThrow(/a\.csv:1 \(field 'subDirectory_filePath'\): missing column .*; the file looks separated by semicolons/);
    expect(() => parseCsvText('a,b\n"x;y",2\n', 'q.csv').records).not.toThrow();
    expect(parseCsvText('"a;b"\n1\n', 'q.csv').header).toEqual(['a;b']);
    // AffectNet's header-less validation.csv: a data row whose landmarks cell joins 136 numbers with ';', unquoted
    // (refused as ';'-separated by 221f489's "more ';' than commas", which the review caught)
    const landmarks = Array.from({ length: 136 }, (_, k) => (k * 1.5).toFixed(2)).join(';');
    const withLandmarks = parseAffectNetCsvText(
      `1/a.jpg,0,0,100,100,${landmarks},1,0.5,-0.2\n2/b.jpg,0,0,90,90,${landmarks},3,0,0\n`,
      {
        file: 'validation.csv',
      },
    );
    expect(withLandmarks.entries.map((e) => e.path)).toEqual(['1/a.jpg', '2/b.jpg']);
    // rows of more empty cells than the header has columns (Excel again) are read; a value there is not
    expect(parseCsvText('a,b\n1,2,,\n', 'q.csv').records[0]!.cells).toEqual({ a: '1', b: '2' });
    expect(() => parseCsvText('a,b\n1,2,,3\n', 'q.csv')).toThrow(/q\.csv:2: 4 cells, the header has 2 columns/);
    // Excel's columns once used: an empty name in the header and empty cells (before: "column '' appears twice")
    const excel = parseCsvText('a,b,,\r\n1,2,,\r\n3,4\r\n,,,\r\n,,,\r\n', 'q.csv');
    expect(excel.header).toEqual(['a', 'b']);
    expect(excel.records).toEqual([
      { line: 2, cells: { a: '1', b: '2' } },
      { line: 3, cells: { a: '3', b: '4' } },
    ]);
    expect(() => parseCsvText('a,b,,\n1,2,,x\n', 'q.csv')).toThrow(
      /q\.csv:2: cell 4 holds 'x' under a column without a name in the header/,
    );
    expect(() => parseCsvText('a,b,,\n1,2,3\n', 'q.csv')).toThrow(
      /q\.csv:2: cell 3 holds '3' under a column without a name in the header/,
    );
    expect(() => parseCsvText('a,b,,\n1\n', 'q.csv')).toThrow(
      /q\.csv:2: 1 cell, the header has 2 columns \(and 2 unnamed ones after them\)/,
    );
    // AffectNet's header-less validation.csv saved by Excel (before: "column '0' appears twice in the header")
    const validation = parseAffectNetCsvText('1/a.jpg,0,0,1,1,,0,0.1,0.2,,\n', { file: 'v.csv' });
    expect(validation.entries.map((e) => e.path)).toEqual(['1/a.jpg']);
  });
});

describe('label sets for any class list', () => {
  it('has built-in sets for the common datasets, including 7 classes with contempt and the native 8-class orders', () => {
    expect(getLabelSet('contempt-7').names).toEqual([
      'happiness',
      'sadness',
      'anger',
      'surprise',
      'disgust',
      'fear',
      'contempt',
    ]);
    expect(LABEL_SETS['affectnet-8-native'].names[7]).toBe('contempt');
    expect(LABEL_SETS['ferplus-8-native'].names.slice(0, 3)).toEqual(['neutral', 'happiness', 'surprise']);
    expect(() => getLabelSet('nope')).toThrow(/unknown label set 'nope'; built-in: basic-7, basic-8/);
  });
  it('matches folder names by spelling (happy ↔ happiness) in either direction; a custom set of aliases works', () => {
    const custom = labelSetFromNames(['happy', 'sad']);
    expect(matchClassName(custom, 'Happiness')).toBe(0);
    expect(matchClassName(BASIC_7, 'sad')).toBe(1);
    expect(matchClassName(custom, 'anger')).toBe(-1);
    expect(() => labelSetFromNames(['happy', 'happiness'])).toThrow(/'happiness' and 'happy' name the same class/);
    expect(parseLabelSetJson('{"id": "ck", "names": ["anger", "contempt"]}', 'ck.json')).toEqual({
      id: 'ck',
      names: ['anger', 'contempt'],
    });
    expect(() => parseLabelSetJson('{"names": []}', 'bad.json')).toThrow(
      /bad\.json \(field 'names'\): expected a non-empty array/,
    );
  });
  it('infers a 7-class set with contempt from its folders instead of refusing it', () => {
    expect(inferLabelSet(['angry', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise']).labelSet.id).toBe(
      'contempt-7',
    );
    expect(inferLabelSet(['happy', 'sad', 'neutral']).labelSet.id).toBe('basic-7');
    expect(inferLabelSet(['angry', 'contempt', 'happy', 'neutral']).labelSet.id).toBe('basic-8');
    expect(inferLabelSet(['bored', 'happy']).labelSet.names).toEqual(['bored', 'happy']);
  });
});

describe('stratified, seeded subsets', () => {
  const items = Array.from({ length: 1000 }, (_, i) => ({ label: i < 600 ? 0 : i < 900 ? 1 : 2, i }));
  it("keep each class's share, every class present, the input order, and are the same for the same seed", () => {
    const s = stratifiedSubset(items, { limit: 30, seed: 1 });
    expect(s.items.length).toBe(30);
    expect([0, 1, 2].map((c) => s.items.filter((x) => x.label === c).length)).toEqual([18, 9, 3]);
    expect(s.indices).toEqual([...s.indices].sort((a, b) => a - b));
    expect(stratifiedSubset(items, { limit: 30, seed: 1 }).indices).toEqual(s.indices);
    expect(stratifiedSubset(items, { limit: 30, seed: 2 }).indices).not.toEqual(s.indices);
    expect(s.id).toBe(subsetId(30, 1));
    expect(stratifiedSubset(items, { limit: 5, seed: 1 }).items.filter((x) => x.label === 2).length).toBe(1);
    expect(stratifiedSubset(items, { limit: 5000, seed: 1 }).items.length).toBe(1000);
  });
  it('cut a class larger than a call takes arguments (AffectNet at --limit 270000 threw a stack overflow)', () => {
    const big = Array.from({ length: 200_010 }, (_, i) => ({ label: i < 10 ? 1 : 0 }));
    const s = stratifiedSubset(big, { limit: 200_000, seed: 0 });
    expect(s.indices).toHaveLength(200_000);
    expect(s.items.filter((x) => x.label === 1)).toHaveLength(10);
  });
});
