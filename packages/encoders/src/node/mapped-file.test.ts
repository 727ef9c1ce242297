import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, type Tensor4D } from '@vlfer/core';
import { openSafetensorsFile } from '@vlfer/core/node';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ClipGradientModel } from './clip-gradients.js';
import { loadClipWeights, resolveClipSource } from './clip-source.js';
import { fileMappingStatus, mapFilePrivate } from './mapped-file.js';

const tiny = sharedPath('fixtures', 'tiny-clip');

function tinyCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-map-'));
  for (const f of readdirSync(tiny)) if (f !== 'onnx') copyFileSync(join(tiny, f), join(dir, f));
  return dir;
}

function pixels(n: number, S: number): Tensor4D {
  const rng = createRng(5);
  return {
    dtype: 'float32',
    data: Float32Array.from({ length: n * 3 * S * S }, () => rng.normal()),
    dims: [n, 3, S, S],
  };
}

describe('mapFilePrivate', () => {
  it('is available here (Linux with the optional dependency koffi installed by pnpm install)', () => {
    // a failure here names why: a missing koffi means `pnpm install` left out optional dependencies
    expect(fileMappingStatus()).toEqual({ available: true });
  });

  it("maps a file's bytes exactly; writes into the map stay private, the file is not changed", () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-map-'));
    const f = join(dir, 'data.bin');
    const bytes = Uint8Array.from({ length: 3 * 4096 + 17 }, (_, i) => (i * 7 + 3) & 255);
    writeFileSync(f, bytes);
    const m = mapFilePrivate(f)!;
    expect(m).toBeInstanceOf(Uint8Array);
    expect(m.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(m), Buffer.from(bytes))).toBe(0);
    m[5] = 255 - m[5]!;
    expect(m[5]).toBe(255 - bytes[5]!);
    expect(Buffer.compare(readFileSync(f), Buffer.from(bytes))).toBe(0);
  });

  it('returns undefined for an empty file, runs the check on the open descriptor and passes on what it throws', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-map-'));
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    expect(mapFilePrivate(empty)).toBeUndefined();
    const f = join(dir, 'x.bin');
    writeFileSync(f, new Uint8Array(10));
    const seen: number[] = [];
    expect(() =>
      mapFilePrivate(f, (fd) => {
        seen.push(fd);
        throw new Error('not the file');
      }),
    ).toThrow('not the file');
    expect(seen).toHaveLength(1);
    expect(() => mapFilePrivate(join(dir, 'absent.bin'))).toThrow(/ENOENT/);
  });
});

describe('weights fed from a memory map (mapWeights)', () => {
  it('tiny-clip: the mapped weights equal the read ones, are views of one map of the whole file, and give bit-identical features', async () => {
    const source = resolveClipSource(tiny, { backend: 'graphs' });
    const mapped = loadClipWeights(source, { mapWeights: true }, { byReference: true }).weights;
    const read = loadClipWeights(source, { mapWeights: false }, { byReference: true }).weights;
    const size = readFileSync(join(tiny, 'model.safetensors')).length;
    const keys = Object.keys(read);
    expect(keys.length).toBeGreaterThan(10);
    const buffers = new Set<ArrayBufferLike>();
    for (const k of keys) {
      const a = mapped[k]!.data;
      const b = read[k]!.data;
      const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
      expect(a.length, k).toBe(b.length);
      expect(Buffer.compare(bytes(a), bytes(b)), k).toBe(0);
      expect(a.buffer.byteLength, k).toBe(size);
      expect(b.buffer.byteLength, k).toBe(b.byteLength);
      buffers.add(a.buffer);
    }
    expect(buffers.size).toBe(1);

    const features = async (mapWeights: boolean) => {
      const m = await ClipGradientModel.load(tiny, { weightsIn: 'inputs', gradients: false, mapWeights });
      try {
        const S = m.arch.vision.imageSize!;
        const image = await m.visionForwardEmbeds(pixels(2, S));
        const ids = [49406, 320, 1125, 49407, 49407, 49406, 518, 49407, 49407, 49407];
        const text = await m.textForwardEmbeds(m.tokenEmbeddings(ids, [2, 5]), [3, 2]);
        return { image: [...image.data], text: [...text.data] };
      } finally {
        await m.release();
      }
    };
    expect(await features(true)).toEqual(await features(false));
  });

  it('a model.safetensors replaced (renamed over) before its first weight is mapped is refused, not mapped', () => {
    const dir = tinyCopy();
    const f = join(dir, 'model.safetensors');
    // a new file renamed over the old one with the same size and modification time: only the inode differs, and
    // only the check on the descriptor opened for the map sees it
    copyFileSync(f, `${f}.new`);
    utimesSync(`${f}.new`, new Date(1e12), new Date(1e12));
    utimesSync(f, new Date(1e12), new Date(1e12));
    const index = openSafetensorsFile(f);
    renameSync(`${f}.new`, f);
    expect(() => index.checkUnchanged()).toThrow(/changed since its header was read/);
    expect(() => mapFilePrivate(f, (fd) => index.checkUnchanged(fd))).toThrow(
      /model\.safetensors.*changed since its header was read/,
    );
  });

  it('every run with mapped weights checks the file first: rewritten in place after the load, it is refused', async () => {
    const dir = tinyCopy();
    const f = join(dir, 'model.safetensors');
    const m = await ClipGradientModel.load(dir, { weightsIn: 'inputs', gradients: false });
    try {
      expect(m.bundle.weightsMapped?.()).toBe(true);
      const px = pixels(1, m.arch.vision.imageSize!);
      await m.visionForwardEmbeds(px); // runs, the file unchanged
      writeFileSync(f, readFileSync(f)); // rewritten in place: same inode and bytes, a new modification time
      utimesSync(f, new Date(2e12), new Date(2e12));
      await expect(m.visionForwardEmbeds(px)).rejects.toThrow(/model\.safetensors.*changed since its header was read/);
    } finally {
      await m.release();
    }
    const read = await ClipGradientModel.load(dir, { weightsIn: 'inputs', gradients: false, mapWeights: false });
    expect(read.bundle.weightsMapped?.()).toBe(false);
    await read.release();
  });
});
