import { mkdtempSync, readFileSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataFormatError } from '../errors.js';
import { encodeSafetensors } from '../safetensors.js';
import { openSafetensorsFile, readSafetensors } from './files.js';

const dir = mkdtempSync(join(tmpdir(), 'vlfer-st-index-'));
const tensors = {
  a: { dims: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
  b: { dims: [1], data: Float32Array.from([-7.5]) },
};

describe('openSafetensorsFile: a safetensors file by its header, tensors read one at a time', () => {
  it('gives the same values as reading the whole file, and each tensor’s place in the file', () => {
    const file = join(dir, 'ok.safetensors');
    writeFileSync(file, encodeSafetensors(tensors));
    const index = openSafetensorsFile(file);
    const whole = readSafetensors(file).tensors;
    expect(Object.keys(index.entries).sort()).toEqual(['a', 'b']);
    for (const k of ['a', 'b']) {
      expect(index.read(k)).toEqual(whole[k]!.data);
      const t = index.entries[k]!;
      // the bytes at base + b … base + e are the tensor's little-endian float32 values
      const raw = readFileSync(file).subarray(index.base + t.b, index.base + t.e);
      expect(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))).toEqual(
        whole[k]!.data,
      );
    }
    expect(() => index.read('c')).toThrow(/ok\.safetensors.*'c'|c.*no such tensor/);
  });

  it('refuses a truncated file at once, naming the file and the first tensor cut off', () => {
    const file = join(dir, 'cut.safetensors');
    writeFileSync(file, encodeSafetensors(tensors));
    truncateSync(file, readFileSync(file).length - 2);
    expect(() => openSafetensorsFile(file)).toThrow(DataFormatError);
    expect(() => openSafetensorsFile(file)).toThrow(/cut\.safetensors.*b.*run past the end of the file/);
  });

  it('refuses a header length past the end of the file and a file under 8 bytes, naming the file', () => {
    const file = join(dir, 'head.safetensors');
    const bytes = encodeSafetensors(tensors);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    writeFileSync(file, bytes);
    expect(() => openSafetensorsFile(file)).toThrow(/head\.safetensors.*header length \d+ exceeds the file size/);
    writeFileSync(file, new Uint8Array(5));
    expect(() => openSafetensorsFile(file)).toThrow(/head\.safetensors.*too short/);
  });

  it('refuses a read after the file was truncated or rewritten since its header was read', () => {
    const file = join(dir, 'later.safetensors');
    writeFileSync(file, encodeSafetensors(tensors));
    const index = openSafetensorsFile(file);
    truncateSync(file, index.base + index.entries.b!.b);
    expect(() => index.read('b')).toThrow(/later\.safetensors.*changed since its header was read/);
    // same size, other bytes and modification time: what a checksum at open covered is gone
    writeFileSync(file, encodeSafetensors({ ...tensors, b: { dims: [1], data: Float32Array.from([8]) } }));
    const again = openSafetensorsFile(file);
    expect(again.read('b')).toEqual(Float32Array.from([8]));
    writeFileSync(file, encodeSafetensors(tensors));
    utimesSync(file, new Date(0), new Date(0));
    expect(() => again.read('b')).toThrow(/later\.safetensors.*changed since its header was read/);
    expect(() => again.checkUnchanged()).toThrow(DataFormatError);
  });
});
