import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFormatError } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { labelSetFromNames } from '../label-sets.js';
import { listFrames, listImages, loadImageFolder, loadVideoList } from './index.js';
import { checkRootDir, explainFsError } from './scan-errors.js';

// Issue 22 item 11: dataset scans met raw `ELOOP`/`ENOENT`/`EACCES` errors; each now names the path and says what
// the code means.
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
const set = () => {
  const root = mkdtempSync(join(tmpdir(), 'vlfer-scan-'));
  mkdirSync(join(root, 'happy'));
  writeFileSync(join(root, 'happy', 'a.png'), PNG);
  return root;
};
const thrown = async (f: () => unknown): Promise<Error> => {
  try {
    await f();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
};

describe('dataset scans name the path and say what a file-system error means', () => {
  it('a symbolic link loop at the root of a class-folder set (ELOOP)', async () => {
    const root = set();
    symlinkSync('loop', join(root, 'loop'));
    const e = await thrown(() => loadImageFolder(root));
    expect(e).toBeInstanceOf(DataFormatError);
    expect(e.message).toBe(
      `${join(root, 'loop')}: this entry of the set root is a symbolic link loop (following its links never reaches a file or directory)`,
    );
  });

  it('a dangling symbolic link inside a class folder (ENOENT)', async () => {
    const root = set();
    symlinkSync(join(root, 'gone.png'), join(root, 'happy', 'b.png'));
    const e = await thrown(() => loadImageFolder(root));
    expect(e).toBeInstanceOf(DataFormatError);
    expect(e.message).toBe(
      `${join(root, 'happy', 'b.png')}: this entry of class folder 'happy' is a dangling symbolic link (its target '${join(root, 'gone.png')}' does not exist)`,
    );
  });

  it('listImages and listFrames: a loop in the tree, a missing frame directory', async () => {
    const root = set();
    symlinkSync('x', join(root, 'happy', 'x'));
    expect((await thrown(() => listImages(root))).message).toMatch(
      /happy\/x: this entry of the image set is a symbolic link loop/,
    );
    expect((await thrown(() => listFrames(join(root, 'nope')))).message).toBe(
      `${join(root, 'nope')}: the frame directory does not exist`,
    );
  });

  it('a frame directory of a video list that is a symbolic link loop is named as one, with file, line and field', async () => {
    const root = set();
    symlinkSync('clip', join(root, 'clip'));
    writeFileSync(join(root, 'list.txt'), 'clip 1 0\n');
    expect((await thrown(() => loadVideoList({ file: join(root, 'list.txt') }))).message).toBe(
      `${join(root, 'list.txt')}:1 (field 'frame_dir'): frame directory '${join(root, 'clip')}' is a symbolic link loop (following its links never reaches a file or directory)`,
    );
  });

  it('a root that does not exist, or is a dangling link, is named as the root, with the option it came in', async () => {
    const root = set();
    const e = await thrown(() => loadImageFolder(join(root, 'typo')));
    expect(e.message).toBe(
      `${join(root, 'typo')}: the image folder does not exist; expected root/<class>/<image> directories`,
    );
    expect(() => checkRootDir(join(root, 'typo'), 'root', 'loadEvalData')).toThrow(
      `Argument 'root' passed to 'loadEvalData': the root '${join(root, 'typo')}' does not exist`,
    );
    symlinkSync(join(root, 'gone'), join(root, 'link'));
    expect(() => checkRootDir(join(root, 'link'), 'root', 'f')).toThrow(
      `the root '${join(root, 'link')}' is a dangling symbolic link (its target '${join(root, 'gone')}' does not exist)`,
    );
    expect(() => checkRootDir(join(root, 'happy', 'a.png'), 'root', 'f')).toThrow(/a\.png' is not a directory$/);
    expect(() => checkRootDir(join(root, 'happy'), 'root', 'f')).not.toThrow();
    // a video list whose relative frame directories need a root that is not there names the root, not each clip
    writeFileSync(join(root, 'list.txt'), 'clip 1 0\n');
    expect(() => loadVideoList({ file: join(root, 'list.txt'), root: join(root, 'typo') })).toThrow(
      `Argument 'root' passed to 'loadVideoList': the root '${join(root, 'typo')}' does not exist`,
    );
  });

  it('names written by macOS (NFD) and the same names in a list or option (NFC) are matched or said to differ', async () => {
    // under a folder whose name has a letter in NFC: only the names below it that differ are in the other form
    const root = join(mkdtempSync(join(tmpdir(), 'vlfer-nfd-')), 'jürgen'.normalize('NFC'));
    mkdirSync(root);
    const nfd = 'Überraschung'.normalize('NFD');
    for (const c of [nfd, 'Freude']) {
      mkdirSync(join(root, c));
      writeFileSync(join(root, c, `${c}.png`), 'x');
    }
    // a class given in NFC matches the folder in NFD (before: "class folder 'Überraschung' is not a class of label set
    // … (classes: Überraschung, Freude)", two names that look the same)
    const labelSet = labelSetFromNames(['Überraschung'.normalize('NFC'), 'Freude']);
    const loaded = await loadImageFolder(root, { labelSet, verify: 'none' });
    // a class named twice, once in each form, was two classes of which matchClassName reached only the first
    expect(() => labelSetFromNames(['Über'.normalize('NFC'), 'Über'.normalize('NFD')])).toThrow(/name the same class/);
    expect(loaded.items.map((i) => labelSet.names[i.label])).toEqual(['Überraschung', 'Freude']);
    // a listed path in NFC: the file in NFD is named (a list entry and a file are matched byte for byte)
    writeFileSync(join(root, nfd, 'x.png'), 'x');
    const listed = join(root, 'Überraschung'.normalize('NFC'), 'x.png');
    let error: unknown;
    try {
      statSync(listed);
    } catch (e) {
      error = e;
    }
    expect(explainFsError(error)).toBe(
      `does not exist as spelt, but '${join(root, nfd, 'x.png')}', the same name in Unicode NFD form (decomposed, as macOS writes names), does: rename the file or the entry`,
    );
    // a folder in NFC holding a file in NFD, listed the other way round: both forms are said
    const [dirNfc, fileNfd] = ['Ärger'.normalize('NFC'), 'Übel.png'.normalize('NFD')];
    mkdirSync(join(root, dirNfc));
    writeFileSync(join(root, dirNfc, fileNfd), 'x');
    const crossed = join(root, dirNfc.normalize('NFD'), fileNfd.normalize('NFC'));
    const mixed = (() => {
      try {
        statSync(crossed);
      } catch (e) {
        return explainFsError(e);
      }
    })();
    expect(mixed).toBe(
      `does not exist as spelt, but '${join(root, dirNfc, fileNfd)}', the same names with some in Unicode NFC form (composed) and some in NFD (decomposed, as macOS writes names), does: rename the file or the entry`,
    );
  });
  it('a file name that is not UTF-8 on the disk (Latin-1 from an old zip) is said to be one, not to be missing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-latin1-'));
    mkdirSync(join(root, 'happy'));
    writeFileSync(
      Buffer.concat([Buffer.from(join(root, 'happy', 'caf')), Buffer.from([0xe9]), Buffer.from('.png')]),
      'x',
    );
    await expect(loadImageFolder(root, { verify: 'none' })).rejects.toThrow(
      /caf\uFFFD\.png.* as read: a name on the path is not valid UTF-8 .*rename it in UTF-8/,
    );
  });
  it('EACCES and EPERM say permission denied (root cannot provoke them with chmod, so the mapping is tested)', () => {
    const err = (code: string) => Object.assign(new Error(`${code}: x`), { code });
    expect(explainFsError(err('EACCES'))).toBe(
      'permission denied: this user may not read it (check its permissions and those of its directories)',
    );
    expect(explainFsError(err('EPERM'))).toMatch(/^permission denied/);
    expect(explainFsError(err('EWHATEVER'))).toBe('could not be read (EWHATEVER: EWHATEVER: x)');
  });
});
