import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  normalizeListedPath,
  parseAffectNetCsvText,
  parseFerPlusCsvText,
  parseRafDbListText,
  parseVideoListText,
} from './index.js';
import { loadAffectNetCsv, loadImageFolder, loadRafDb, loadVideoList } from './node/index.js';

// Issue 22 item 6: one file spelled two ways is one item, and a list cannot steer reads outside its root.
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-paths-'));
function touch(path: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, PNG);
}
const AFFECT = 'subDirectory_filePath,face_x,expression,valence';
const FERPLUS = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';
const happy = (name: string) => `PrivateTest,${name},0,10,0,0,0,0,0,0,0,0`;
const sad = (name: string) => `PrivateTest,${name},0,0,0,10,0,0,0,0,0,0`;

describe('normalizeListedPath', () => {
  const at = { file: 'list.txt', line: 3, field: 'path', root: 'the root' };
  it('normalises POSIX spellings of one path', () => {
    for (const p of ['1/x.jpg', '1/./x.jpg', '1//x.jpg', './1/x.jpg', '1/y/../x.jpg', '1/x.jpg/'])
      expect(normalizeListedPath(p, at)).toBe('1/x.jpg');
    expect(normalizeListedPath('/data//a/./b/', { ...at, absolute: true })).toBe('/data/a/b');
  });
  it('refuses backslashes, leaving the root, absolute paths (where not allowed), and the root itself', () => {
    expect(() => normalizeListedPath('1\\x.jpg', at)).toThrow(
      /list\.txt:3 \(field 'path'\): '1\\x\.jpg' contains a backslash/,
    );
    expect(() => normalizeListedPath('../outside/secret.jpg', at)).toThrow(
      /list\.txt:3 \(field 'path'\): '\.\.\/outside\/secret\.jpg' leaves the root; .*allowOutsideRoot: true \(CLI --allow-outside-root\)/,
    );
    expect(() => normalizeListedPath('a/../../x', at)).toThrow(/leaves the root/);
    expect(() => normalizeListedPath('/etc/passwd', at)).toThrow(
      /'\/etc\/passwd' is an absolute path; expected a path relative to the root/,
    );
    expect(() => normalizeListedPath('./', at)).toThrow(/names the root itself/);
    expect(normalizeListedPath('a/../../x', { ...at, allowOutsideRoot: true })).toBe('../x');
  });
});

describe('AffectNet CSV paths', () => {
  it('1/./x.jpg and 1/x.jpg are one image; 1//x.jpg with another label is a conflict', () => {
    expect(() =>
      parseAffectNetCsvText(`${AFFECT}\n1/x.jpg,0,1,0\n1/./x.jpg,0,1,0\n`, { file: 'training.csv' }),
    ).toThrow(/training\.csv:3: image '1\/x\.jpg' is listed twice \(first at line 2\)/);
    expect(() => parseAffectNetCsvText(`${AFFECT}\n1/x.jpg,0,1,0\n1//x.jpg,0,2,0\n`, { file: 'training.csv' })).toThrow(
      /training\.csv:3: image '1\/x\.jpg' is listed again with another label \(first at line 2\)/,
    );
    const r = parseAffectNetCsvText(`${AFFECT}\n1/x.jpg,0,1,0\n./1/x.jpg,0,1,0\n`, {
      file: 'training.csv',
      duplicates: 'drop',
    });
    expect(r.entries.map((e) => e.path)).toEqual(['1/x.jpg']);
  });
  it('../outside/secret.jpg is refused by the loader (file, line, path) unless allowOutsideRoot', async () => {
    const dir = tmp();
    const root = join(dir, 'images');
    touch(join(root, '1', 'x.jpg'));
    touch(join(dir, 'outside', 'secret.jpg'));
    const csv = join(dir, 'training.csv');
    writeFileSync(csv, `${AFFECT}\n1/x.jpg,0,1,0\n../outside/secret.jpg,0,1,0\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: root })).rejects.toThrow(
      /training\.csv:3 \(field 'subDirectory_filePath'\): '\.\.\/outside\/secret\.jpg' leaves the image root/,
    );
    const r = await loadAffectNetCsv({ csv, imageRoot: root, allowOutsideRoot: true, verify: 'header' });
    expect(r.items.map((i) => i.path)).toEqual([join(root, '1', 'x.jpg'), join(dir, 'outside', 'secret.jpg')]);
    writeFileSync(csv, `${AFFECT}\n/etc/passwd,0,1,0\n`);
    await expect(loadAffectNetCsv({ csv, imageRoot: root })).rejects.toThrow(
      /training\.csv:2 \(field 'subDirectory_filePath'\): '\/etc\/passwd' is an absolute path/,
    );
  });
});

describe('FERPlus image names', () => {
  it('./fer1.png is fer1.png (one image, the later row its face); ../x.png leaves its folder', () => {
    const twice = (second: string) =>
      parseFerPlusCsvText(`${FERPLUS}\n${happy('fer1.png')}\n${second}\n`, { file: 'f.csv' });
    expect(twice(happy('./fer1.png')).entries.map((e) => [e.imageName, e.line])).toEqual([['fer1.png', 3]]);
    const other = twice(sad('./fer1.png'));
    expect(other.entries.map((e) => [e.imageName, e.line])).toEqual([['fer1.png', 3]]);
    expect(other.warnings).toEqual([expect.stringMatching(/PrivateTest\/fer1\.png \(line 2: votes .*; line 3: /)]);
    expect(() => parseFerPlusCsvText(`${FERPLUS}\n${happy('../FER2013Train/fer9.png')}\n`, { file: 'f.csv' })).toThrow(
      /f\.csv:2 \(field 'Image name'\): '\.\.\/FER2013Train\/fer9\.png' leaves the PrivateTest image folder/,
    );
  });
});

describe('RAF-DB image names', () => {
  it('./train_00001.jpg is train_00001.jpg (not silently skipped as another split); ../ is refused', async () => {
    expect(() =>
      parseRafDbListText('train_00001.jpg 1\n./train_00001.jpg 1\n', { file: 'list.txt', split: 'train' }),
    ).toThrow(/list\.txt:2: image 'train_00001\.jpg' is listed twice/);
    expect(
      parseRafDbListText('./train_00001.jpg 1\n', { file: 'list.txt', split: 'train' }).entries.map((e) => e.name),
    ).toEqual(['train_00001.jpg']);
    const root = tmp();
    touch(join(root, 'Image', 'aligned', 'test_0001_aligned.jpg'));
    const list = join(root, 'EmoLabel', 'list_patition_label.txt');
    touch(list);
    writeFileSync(list, 'test_0001.jpg 4\n../../test_0002.jpg 4\n');
    await expect(loadRafDb({ root, split: 'test' })).rejects.toThrow(
      /list_patition_label\.txt:2 \(field 'image name'\): '\.\.\/\.\.\/test_0002\.jpg' leaves the image folder/,
    );
    // test_0001.jpg and test_0001.JPG name one aligned image: one item, or a conflict with another label
    writeFileSync(list, 'test_0001.jpg 4\ntest_0001.JPG 1\n');
    await expect(loadRafDb({ root, split: 'test' })).rejects.toThrow(
      /list_patition_label\.txt:2: image \(resolved\) '.*test_0001_aligned\.jpg' is listed again with another label \(first at line 1\)/,
    );
    writeFileSync(list, 'test_0001.jpg 4\ntest_0001.JPG 4\n');
    const kept = await loadRafDb({ root, split: 'test', duplicates: 'drop' });
    expect([kept.items.length, kept.dropped]).toEqual([1, [{ reason: 'duplicate image (resolved)', count: 1 }]]);
  });
});

describe('video-list frame directories', () => {
  it('./frames/a/ and frames/a/. are frames/a (duplicate or conflict); ../ is refused in the parser', () => {
    expect(() => parseVideoListText('./frames/a/ 3 0\nframes/a/. 3 0\n', { file: 'set_1.txt' })).toThrow(
      /set_1\.txt:2: frame directory 'frames\/a' is listed twice \(first at line 1\)/,
    );
    expect(() => parseVideoListText('frames/a 3 0\n./frames//a 3 1\n', { file: 'set_1.txt' })).toThrow(
      /set_1\.txt:2: frame directory 'frames\/a' is listed again with another label/,
    );
    expect(() => parseVideoListText('../ 3 0\n', { file: 'set_1.txt' })).toThrow(
      /set_1\.txt:1 \(field 'frame_dir'\): '\.\.\/' leaves the root/,
    );
    // a rebased path must stay under the rebase target (the user's), whatever the list's part says
    expect(() =>
      parseVideoListText('/authors/../../etc 3 0\n', { file: 'set_1.txt', rebase: { from: '/authors', to: '/data' } }),
    ).toThrow(/set_1\.txt:1 \(field 'frame_dir'\): '\.\.\/\.\.\/etc' leaves the rebase target '\/data'/);
  });
  it('the loader refuses absolute paths outside the root (not from rebase) unless allowOutsideRoot', () => {
    const dir = tmp();
    const root = join(dir, 'dfew');
    for (const d of [join(root, 'frames', 'a'), join(dir, 'elsewhere', 'b')])
      for (let i = 0; i < 2; i++) touch(join(d, `${i}.jpg`));
    const file = join(root, 'set_1.txt');
    writeFileSync(file, `${join(root, 'frames', 'a')} 2 0\n${join(dir, 'elsewhere', 'b')} 2 1\n`);
    expect(() => loadVideoList({ file })).toThrow(
      new RegExp(
        `set_1\\.txt:2 \\(field 'frame_dir'\\): '${join(dir, 'elsewhere', 'b')}' is outside the root '${root}'`,
      ),
    );
    expect(loadVideoList({ file, allowOutsideRoot: true }).items.map((i) => i.frameDir)).toEqual([
      join(root, 'frames', 'a'),
      join(dir, 'elsewhere', 'b'),
    ]);
    writeFileSync(file, `frames/../../elsewhere/b 2 1\n`);
    expect(() => loadVideoList({ file })).toThrow(/set_1\.txt:1 \(field 'frame_dir'\): .* leaves the root/);
    // one directory spelt relative and absolute (or rebased) is one clip: a conflict, never two items
    writeFileSync(file, `frames/a 2 3\n${join(root, 'frames', 'a')} 2 4\n`);
    expect(() => loadVideoList({ file })).toThrow(
      `${file}:2: frame directory (resolved) '${join(root, 'frames', 'a')}' is listed again with another label (first at line 1)`,
    );
    writeFileSync(file, `/authors/frames/a 2 3\nframes/a 2 3\n`);
    expect(() => loadVideoList({ file, rebase: { from: '/authors', to: '.' } })).toThrow(/is listed twice \(first/);
    expect(loadVideoList({ file, rebase: { from: '/authors', to: '.' }, duplicates: 'drop' }).items.length).toBe(1);
    // … and one reached through a symbolic link
    symlinkSync(join(root, 'frames'), join(root, 'linked'));
    writeFileSync(file, `frames/a 2 3\nlinked/a 2 4\n`);
    expect(() => loadVideoList({ file })).toThrow(/set_1\.txt:2: frame directory \(resolved\) .* listed again/);
    // an explicit rebase target is the user's choice, even outside the root
    writeFileSync(file, '/authors/b 2 1\n');
    expect(loadVideoList({ file, rebase: { from: '/authors', to: join(dir, 'elsewhere') } }).items[0]!.frameDir).toBe(
      join(dir, 'elsewhere', 'b'),
    );
  });
  it('documented: a symbolic link inside the root that points outside is followed (the check is lexical)', () => {
    const dir = tmp();
    const root = join(dir, 'dfew');
    for (let i = 0; i < 2; i++) touch(join(dir, 'big-disk', 'a', `${i}.jpg`));
    mkdirSync(root);
    symlinkSync(join(dir, 'big-disk'), join(root, 'frames'));
    const file = join(root, 'set_1.txt');
    writeFileSync(file, 'frames/a 2 0\n');
    expect(loadVideoList({ file }).items[0]!.frameDir).toBe(join(root, 'frames', 'a'));
  });
});

describe('image folders', () => {
  it('documented: paths come from the directory listing (one spelling each); a linked class folder is followed', async () => {
    const dir = tmp();
    const root = join(dir, 'set');
    touch(join(root, 'happy', '0.png'));
    touch(join(dir, 'elsewhere', 'sad', '0.png'));
    symlinkSync(join(dir, 'elsewhere', 'sad'), join(root, 'sad'));
    const r = await loadImageFolder(root, { verify: 'none' });
    expect(r.items.map((i) => i.path)).toEqual([join(root, 'happy', '0.png'), join(root, 'sad', '0.png')]);
    expect(new Set(r.items.map((i) => i.path)).size).toBe(r.items.length);
  });
});
