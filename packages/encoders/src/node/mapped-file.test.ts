import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  linkSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { createRng, type Tensor4D } from '@vlfer/core';
import { openSafetensorsFile } from '@vlfer/core/node';
import { sharedPath } from '@vlfer/test-utils';
import { afterAll, describe, expect, it } from 'vitest';
import { ClipGradientModel } from './clip-gradients.js';
import { loadClipWeights, resolveClipSource } from './clip-source.js';
import { fileMappingStatus, mapFilePrivate, MAX_MAPPED_BYTES } from './mapped-file.js';
import { packageResolve } from './require.js';

const tiny = sharedPath('fixtures', 'tiny-clip');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-map-'));
  dirs.push(dir);
  return dir;
}

function tinyCopy(): string {
  const dir = tempDir();
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

/** The lines of this process's memory maps that name `file` (Linux). */
function mapsOf(file: string): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(file)).length;
}

const MAPPING_PLATFORM = process.platform === 'linux' || process.platform === 'darwin';

describe('mapFilePrivate', () => {
  it('is available on Linux and macOS (with the optional dependency koffi, which pnpm install installs), and says why not elsewhere', () => {
    const status = fileMappingStatus();
    if (MAPPING_PLATFORM) expect(status).toEqual({ available: true });
    else expect(status).toEqual({ available: false, reason: expect.stringContaining(process.platform) });
  });

  it.runIf(MAPPING_PLATFORM)(
    "maps a file's bytes exactly; writes into the map stay private, the file is not changed",
    () => {
      const f = join(tempDir(), 'data.bin');
      const bytes = Uint8Array.from({ length: 3 * 4096 + 17 }, (_, i) => (i * 7 + 3) & 255);
      writeFileSync(f, bytes);
      const m = mapFilePrivate(f)!;
      expect(m.bytes).toBeInstanceOf(Uint8Array);
      expect(m.bytes.length).toBe(bytes.length);
      expect(Buffer.compare(Buffer.from(m.bytes), Buffer.from(bytes))).toBe(0);
      m.bytes[5] = 255 - m.bytes[5]!;
      expect(m.bytes[5]).toBe(255 - bytes[5]!);
      expect(Buffer.compare(readFileSync(f), Buffer.from(bytes))).toBe(0);
    },
  );

  it.runIf(MAPPING_PLATFORM)(
    'an empty file and one over MAX_MAPPED_BYTES are not mapped; the check runs on the open descriptor and what it throws is passed on',
    () => {
      const dir = tempDir();
      const empty = join(dir, 'empty.bin');
      writeFileSync(empty, new Uint8Array(0));
      expect(mapFilePrivate(empty)).toBeUndefined();
      // sparse: no disk used. koffi would abort the process on a view this large, so it is read instead
      const big = join(dir, 'big.bin');
      const fd = openSync(big, 'w');
      ftruncateSync(fd, MAX_MAPPED_BYTES + 1);
      closeSync(fd);
      expect(mapFilePrivate(big)).toBeUndefined();
      const f = join(dir, 'x.bin');
      writeFileSync(f, new Uint8Array(10));
      const seen: number[] = [];
      expect(() =>
        mapFilePrivate(f, (d) => {
          seen.push(d);
          throw new Error('not the file');
        }),
      ).toThrow('not the file');
      expect(seen).toHaveLength(1);
      expect(() => mapFilePrivate(join(dir, 'absent.bin'))).toThrow(/ENOENT/);
    },
  );

  it.runIf(process.platform === 'linux')('a map is released once nothing views it', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const f = join(tempDir(), 'released.bin');
    writeFileSync(f, new Uint8Array(64 * 1024).fill(7));
    let m = mapFilePrivate(f);
    expect(mapsOf(f)).toBe(1);
    expect(m!.bytes[100]).toBe(7);
    m = undefined;
    for (let i = 0; i < 50 && mapsOf(f) > 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20)); // finalizers run after the collection, on a later task
    }
    expect(mapsOf(f)).toBe(0);
  });

  it.runIf(process.platform === 'linux')(
    "a worker thread's maps are released when it exits (its finalizers never run)",
    async () => {
      const f = join(tempDir(), 'worker.bin');
      writeFileSync(f, new Uint8Array(64 * 1024).fill(9));
      // the worker runs this file's TypeScript sources through tsx, as the preprocessing pool does in tests
      const tsx = pathToFileURL(join(dirname(packageResolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs'));
      const mod = pathToFileURL(join(import.meta.dirname, 'mapped-file.ts'));
      const code = `import(${JSON.stringify(tsx.href)}).then(async (t) => { t.register();
        const { mapFilePrivate } = await import(${JSON.stringify(mod.href)});
        const { parentPort } = await import('node:worker_threads');
        globalThis.kept = mapFilePrivate(${JSON.stringify(f)});
        parentPort.postMessage(globalThis.kept.bytes[10]);
      });`;
      const w = new Worker(code, { eval: true, execArgv: ['--conditions=@vlfer/source'] });
      const first = await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      expect(first).toBe(9);
      expect(mapsOf(f)).toBe(1); // the worker holds it
      const exited = new Promise((r) => w.once('exit', r));
      w.postMessage('bye'); // nothing listens: the worker's event loop is empty and it exits by itself
      await exited;
      expect(mapsOf(f)).toBe(0);
    },
  );
});

describe.runIf(MAPPING_PLATFORM)('weights fed from a memory map (mapWeights)', () => {
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
        expect(m.bundle.weightsMapped?.()).toBe(mapWeights);
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

  it('the map is of the file whose header was read: a file renamed over the path first is refused', () => {
    const dir = tinyCopy();
    const f = join(dir, 'model.safetensors');
    const index = openSafetensorsFile(f);
    copyFileSync(f, `${f}.new`);
    renameSync(`${f}.new`, f);
    expect(() => mapFilePrivate(f, (fd) => index.checkUnchanged(fd))).toThrow(
      /model\.safetensors.*changed since its header was read/,
    );
  });

  it('runs check the mapped file, not the path: a file renamed over it changes nothing, the mapped file rewritten in place is refused by runs and by JavaScript reads', async () => {
    const dir = tinyCopy();
    const f = join(dir, 'model.safetensors');
    const m = await ClipGradientModel.load(dir, { weightsIn: 'inputs', gradients: false });
    try {
      const px = pixels(1, m.arch.vision.imageSize!);
      const ids = [49406, 320, 49407];
      const before = [...(await m.visionForwardEmbeds(px)).data];
      const tokens = [...m.tokenEmbeddings(ids, [1, 3]).data];
      // a second name for the mapped file, then a new file (other bytes, other inode) renamed over the path
      linkSync(f, join(dir, 'mapped.safetensors'));
      const other = readFileSync(f);
      other.fill(0x3f, other.length - 4096);
      writeFileSync(`${f}.new`, other);
      renameSync(`${f}.new`, f);
      expect([...(await m.visionForwardEmbeds(px)).data]).toEqual(before);
      expect([...m.tokenEmbeddings(ids, [1, 3]).data]).toEqual(tokens);
      // the mapped file itself changed (here its modification time, as a write in place would change it)
      utimesSync(join(dir, 'mapped.safetensors'), new Date(2e12), new Date(2e12));
      const changed = /model\.safetensors.*changed since its header was read/;
      await expect(m.visionForwardEmbeds(px)).rejects.toThrow(changed);
      expect(() => m.tokenEmbeddings(ids, [1, 3])).toThrow(changed);
      expect(() => m.patchEmbeddings(px.data.subarray(0, px.data.length))).toThrow(changed);
    } finally {
      await m.release();
    }
  });
});
