/**
 * `hashFileIndexed`: a file's content hash is read once while the file keeps its state (path, size, mtime, inode,
 * ctime), and read again when it is rewritten in place, even with its size kept and its mtime set back.
 */
import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileIoError } from '../errors.js';
import { hashBytes, hashFile, hashFileIndexed, type FileHashIndex } from './hash.js';

describe('hashFileIndexed', () => {
  it('hashes a file once while its state is unchanged: the second call is answered from the index', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-hash-')), 'frame.png');
    writeFileSync(file, 'frame bytes');
    const index: FileHashIndex = new Map();
    expect(hashFileIndexed(file, index)).toBe(hashBytes('frame bytes'));
    expect(index.size).toBe(1);
    // a planted value proves the file is not read again
    const [key] = [...index.keys()];
    index.set(key!, 'planted');
    expect(hashFileIndexed(file, index)).toBe('planted');
  });

  it('reads a file rewritten in place again, even with the same size and its mtime set back', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-hash-')), 'frame.png');
    writeFileSync(file, 'original');
    const index: FileHashIndex = new Map();
    const before = statSync(file);
    expect(hashFileIndexed(file, index)).toBe(hashFile(file));
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(file, 'inverted'); // same length
    utimesSync(file, before.atime, before.mtime);
    expect(Math.abs(statSync(file).mtimeMs - before.mtimeMs)).toBeLessThan(1);
    expect(hashFileIndexed(file, index)).toBe(hashBytes('inverted'));
    expect(index.size).toBe(2);
  });

  it('names a missing file', () => {
    const file = join(tmpdir(), 'vlfer-no-such-frame.png');
    expect(() => hashFileIndexed(file, new Map())).toThrow(FileIoError);
    expect(() => hashFileIndexed(file, new Map())).toThrow(file);
  });
});
