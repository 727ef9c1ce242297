import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { fileMappingStatus, mapFilePrivate, MAX_MAPPED_BYTES } from './mapped-file.js';
import { tsxRegisterApiUrl } from './require.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-map-'));
  dirs.push(dir);
  return dir;
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
      const mod = pathToFileURL(join(import.meta.dirname, 'mapped-file.ts'));
      const code = `import(${JSON.stringify(tsxRegisterApiUrl())}).then(async (t) => { t.register();
        const { mapFilePrivate } = await import(${JSON.stringify(mod.href)});
        const { parentPort } = await import('node:worker_threads');
        globalThis.kept = mapFilePrivate(${JSON.stringify(f)});
        parentPort.once('message', () => parentPort.close()); // held until the test says bye, then exits
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
      w.postMessage('bye'); // the worker closes its port: its event loop is then empty and it exits by itself
      await exited;
      expect(mapsOf(f)).toBe(0);
    },
  );
});
