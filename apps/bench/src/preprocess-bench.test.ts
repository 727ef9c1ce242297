import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedPath } from '@vlfer/test-utils';
import { decodeImage } from '@vlfer/image/node';
import {
  benchImages,
  cpuMsPerImage,
  msPerImage,
  parseSize,
  preprocessTable,
  replaceBetweenMarkers,
} from './preprocess-bench.js';

describe('bench:preprocess pieces', () => {
  it('parses sizes and refuses anything but WIDTHxHEIGHT, naming --sizes', () => {
    expect(parseSize('640x480')).toEqual({ name: '640x480', width: 640, height: 480 });
    expect(() => parseSize('640')).toThrow(/--sizes: .*'640'/);
    expect(() => parseSize('0x5')).toThrow(/--sizes/);
  });
  it('per-image times are the median pass over the image count', () => {
    const t = { images: 10, seconds: [0.3, 0.1, 0.2], cpuSeconds: [0.05, 0.5, 0.1] };
    expect(msPerImage(t)).toBeCloseTo(20, 10);
    expect(cpuMsPerImage(t)).toBeCloseTo(10, 10);
  });
  it('makes real-photo JPEGs of the asked size, the same bytes when made again', async () => {
    const fer = sharedPath('data', 'fer2013-privatetest');
    const size = parseSize('320x240');
    const [a, b] = [mkdtempSync(join(tmpdir(), 'vlfer-pp-')), mkdtempSync(join(tmpdir(), 'vlfer-pp-'))];
    const first = await benchImages(size, 7, fer, a);
    const again = await benchImages(size, 7, fer, b);
    for (const [i, f] of first.entries()) {
      const img = await decodeImage(f);
      expect([img.width, img.height, img.channels]).toEqual([320, 240, 3]);
      expect(readFileSync(f).equals(readFileSync(again[i]!)), f).toBe(true);
    }
    // different crops, not one image seven times
    expect(readFileSync(first[0]!).equals(readFileSync(first[6]!))).toBe(false);
    expect((await benchImages(parseSize('48x48'), 3, fer, a)).every((f) => f.startsWith(fer))).toBe(true);
  });
  it('writes the table between the README markers and refuses a README without them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-pp-readme-'));
    const file = join(dir, 'README.md');
    writeFileSync(file, 'before\n<!-- bench:preprocess:start -->\nold\n<!-- bench:preprocess:end -->\nafter\n');
    const table = preprocessTable([
      { size: '48x48', mode: 'exp-clip', draft: false, threads: 1, images: 4, vlferMs: [1, 2, 3], vlferMsMedian: 2 },
    ]);
    expect(table).toContain('| 48x48 | exp-clip | exact | 1 | 2.000 (1.00, 2.00, 3.00) | — | — | — |');
    replaceBetweenMarkers(file, table);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(table);
    expect(text).not.toContain('old');
    expect(text.startsWith('before\n') && text.endsWith('after\n')).toBe(true);
    writeFileSync(file, 'no markers');
    expect(() => replaceBetweenMarkers(file, table)).toThrow(/README\.md: no .*markers/);
  });
});
