import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeWeightsFromManifest } from './materialize.js';

describe('writeWeightsFromManifest', () => {
  it('writes N(mean, std) float32 at each offset, zeros elsewhere, deterministically', () => {
    const d = mkdtempSync(join(tmpdir(), 'vlfer-mat-'));
    const manifest = join(d, 'm.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        data_file: 'x.data',
        data_bytes: 4 * 20010,
        tensors: [
          { name: 'a', dims: [20000], mean: 0.5, std: 0.1, offset: 0, length: 80000 },
          { name: 'ones', dims: [4], mean: 1, std: 0, offset: 80016, length: 16 },
        ],
      }),
    );
    const read = (p: string) => {
      const b = readFileSync(p);
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    };
    const a = read(writeWeightsFromManifest(manifest, join(d, 'a.data'), 3));
    expect(a.length).toBe(20010);
    const first = Array.from(a.subarray(0, 20000));
    const mean = first.reduce((s, v) => s + v, 0) / first.length;
    const std = Math.sqrt(first.reduce((s, v) => s + (v - mean) ** 2, 0) / first.length);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(std - 0.1)).toBeLessThan(0.005);
    expect(Array.from(a.subarray(20000, 20004))).toEqual([0, 0, 0, 0]);
    expect(Array.from(a.subarray(20004, 20008))).toEqual([1, 1, 1, 1]);
    const b = read(writeWeightsFromManifest(manifest, join(d, 'b.data'), 3));
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });
});
