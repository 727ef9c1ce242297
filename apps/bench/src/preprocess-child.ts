/**
 * @file The vlfer side of one `pnpm bench:preprocess` case, in its own process (started by `timeVlfer`, pinned to
 * one CPU for 1-thread cases): argv[2] is the case as JSON. Prints one JSON line, as the PIL script does.
 * - a preprocessing case `{ list, mode, draft, workers, batch, passes }`: one untimed pass over the images, then
 *   `passes` timed ones, on the main thread (`workers` 0) or a pool of `workers` threads;
 * - a decoder sweep `{ sweep: { [size]: files[] }, reps }`: per size, native, WebAssembly and libvips JPEG decodes
 *   of the same files in rotating order, median milliseconds per image of each.
 * Both carry `parent`, the bench's pid: this process exits once that is no longer its parent (a killed bench), even
 * when the bench died before this process got to watch it.
 */
import { readFileSync } from 'node:fs';
import { setImmediate as turn } from 'node:timers/promises';
import { exitWithParent } from '@vlfer/cli-kit';
import { createPreprocessPool, preprocessImages } from '@vlfer/encoders/node';
import { decodeImage, type JpegDecoder } from '@vlfer/image/node';
import { median } from './torch.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as Record<string, any>;
exitWithParent('bench:preprocess child', typeof spec.parent === 'number' ? spec.parent : undefined);

/**
 * Seconds and CPU seconds (every thread of this process) of each timed pass of `pass`, after an untimed one. A turn
 * of the event loop before each pass, outside the timed part: small images decode synchronously, and without it the
 * parent watch would not run until every pass is done.
 */
async function timePasses(pass: () => Promise<void>, passes: number) {
  await pass();
  const seconds: number[] = [];
  const cpuSeconds: number[] = [];
  for (let k = 0; k < passes; k++) {
    await turn();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await pass();
    seconds.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpuSeconds.push((c.user + c.system) / 1e6);
  }
  return { seconds, cpuSeconds };
}

async function preprocessCase(): Promise<Record<string, unknown>> {
  const files = readFileSync(spec.list, 'utf8').split('\n').filter(Boolean);
  const pool = spec.workers > 0 ? createPreprocessPool({ workers: spec.workers }) : undefined;
  const out = new Float32Array(spec.batch * 3 * 224 * 224);
  const options = { out, draft: Boolean(spec.draft) };
  const pass = async () => {
    for (let i = 0; i < files.length; i += spec.batch) {
      const batch = files.slice(i, i + spec.batch);
      await (pool
        ? pool.run(batch, spec.mode, undefined, 'pil', options)
        : preprocessImages(batch, spec.mode, undefined, 'pil', options));
    }
  };
  try {
    return { images: files.length, workers: spec.workers, ...(await timePasses(pass, spec.passes)) };
  } finally {
    await pool?.close();
  }
}

/** Median ms per decode of `files` with each JPEG decoder, in an order that rotates by one each rep. */
async function decoderSweep(): Promise<Record<string, unknown>> {
  const decoders = ['native', 'wasm', 'libvips'] as const;
  type D = (typeof decoders)[number];
  const result: Record<string, Record<`${D}Ms`, number>> = {};
  for (const [size, files] of Object.entries(spec.sweep as Record<string, string[]>)) {
    const bytes = files.map((f) => readFileSync(f));
    const time = async (jpegDecoder: JpegDecoder) => {
      const t0 = performance.now();
      for (const b of bytes) await decodeImage(b, { jpegDecoder });
      return (performance.now() - t0) / bytes.length;
    };
    for (const d of decoders) await time(d);
    const ms: Record<D, number[]> = { native: [], wasm: [], libvips: [] };
    for (let r = 0; r < spec.reps; r++) {
      await turn(); // the parent watch, between timed parts
      for (let k = 0; k < decoders.length; k++) {
        const d = decoders[(r + k) % decoders.length]!;
        ms[d].push(await time(d));
      }
    }
    result[size] = { nativeMs: median(ms.native), wasmMs: median(ms.wasm), libvipsMs: median(ms.libvips) };
  }
  return { sweep: result };
}

const r = spec.sweep ? await decoderSweep() : await preprocessCase();
process.stdout.write(`${JSON.stringify(r)}\n`);
