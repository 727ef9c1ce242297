/**
 * @file The pieces of `pnpm bench:preprocess`: the benchmark images (FER2013 at 48², and larger real-photo JPEGs
 * made deterministically from face-api's demo photos), the vlfer and PIL timing children (both started the same
 * way, `runJsonChild` of `children.ts`, pinned to one CPU for the 1-thread rows, ended with the bench, and their own
 * parent watch) and the README table.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '@vlfer/core/node';
import { toSharp } from '@vlfer/image/node';
import { sampleImages } from './encode-bench.js';
import { runJsonChild } from './children.js';
import { median, runTorchScript } from './torch.js';

/** One image size of the bench: `WxH`; 48x48 is FER2013 itself, larger sizes are made from real photos. */
export interface BenchSize {
  name: string;
  width: number;
  height: number;
}

/** `"640x480"` → { name, width, height }. @throws naming `--sizes` and the entry */
export function parseSize(s: string): BenchSize {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
    throw new Error(`--sizes: expected WIDTHxHEIGHT entries such as 640x480, got '${s}'`);
  return { name: `${m[1]}x${m[2]}`, width: Number(m[1]), height: Number(m[2]) };
}

/** face-api's six multi-face demo photos (1920 wide, 4:2:2 JPEGs), installed with @vladmandic/face-api. */
export function demoPhotos(): string[] {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@vladmandic/face-api/package.json'));
  return [1, 2, 3, 4, 5, 6].map((i) => join(root, 'demo', `sample${i}.jpg`));
}

/**
 * `count` JPEGs of `size` in `dir` (made once, then reused): FER2013 files themselves for 48x48; otherwise crops of
 * the demo photos with the target's aspect ratio, at one of five zoom levels and positions fixed by the index,
 * resized with lanczos3 and saved at quality 90 with 4:2:0 chroma (a typical camera/web photo). Each file is written
 * whole or not at all (`writeFileAtomic`): a bench killed while making them leaves no truncated JPEG to be reused.
 */
export async function benchImages(size: BenchSize, count: number, fer: string, dir: string): Promise<string[]> {
  if (size.width === 48 && size.height === 48) return sampleImages(fer, count);
  const photos = demoPhotos().map((p) => readFileSync(p));
  const files: string[] = [];
  for (let k = 0; k < count; k++) {
    const file = join(dir, `${size.name}-${k}.jpg`);
    files.push(file);
    if (existsSync(file)) continue;
    const photo = photos[k % photos.length]!;
    const meta = await toSharp(photo).metadata();
    const [pw, ph] = [meta.width!, meta.height!];
    // the largest crop of the target's aspect ratio, zoomed in by 0–40 % and moved along the free axis by k
    const zoom = 1 - 0.1 * (Math.floor(k / photos.length) % 5);
    const cw = Math.floor(Math.min(pw, (ph * size.width) / size.height) * zoom);
    const ch = Math.floor((cw * size.height) / size.width);
    const left = Math.floor(((pw - cw) * ((k * 37) % 11)) / 10);
    const top = Math.floor(((ph - ch) * ((k * 53) % 7)) / 6);
    const jpeg = await toSharp(photo)
      .extract({ left, top, width: cw, height: ch })
      .resize(size.width, size.height, { fit: 'fill' })
      .jpeg({ quality: 90, chromaSubsampling: '4:2:0' })
      .toBuffer();
    writeFileAtomic(file, jpeg, { durable: false }); // a cache: a file lost to a power cut is made again
  }
  return files;
}

/** What one timing child measured: seconds of each timed pass over `images` images, and the CPU seconds. */
export interface PassTimes {
  images: number;
  seconds: number[];
  cpuSeconds: number[];
}

/** Milliseconds per image of the median pass. */
export function msPerImage(t: PassTimes): number {
  return (1000 * median(t.seconds)) / t.images;
}

/** CPU milliseconds per image of the median pass (every thread of the timed process). */
export function cpuMsPerImage(t: PassTimes): number {
  return (1000 * median(t.cpuSeconds)) / t.images;
}

/** One configuration timed on both sides: the images, the mode, draft decoding, and threads (1 or 2). */
export interface PreprocessCase {
  list: string;
  mode: 'exp-clip' | 'clip' | 'openai';
  draft: boolean;
  threads: number;
  batch: number;
  passes: number;
}

/**
 * `taskset -c 0`, to put before a child's command for 1-thread cases, so that neither side runs threads beside its
 * main one (libvips and the libuv pool on vlfer's, OpenMP on PyTorch's); nothing for more threads.
 */
function pin(threads: number): string[] {
  return threads === 1 ? ['taskset', '-c', '0'] : [];
}

/**
 * `preprocess-child.ts` with `spec` (a preprocessing case or a decoder sweep, see that file), pinned to one CPU for
 * 1 thread, libvips limited to one thread per pipeline (`VIPS_CONCURRENCY=1`), as each pool worker runs its own. The
 * child is told this process's pid, and exits once this process is gone.
 */
export function vlferChild(spec: Record<string, unknown>, threads: number): Promise<Record<string, any>> {
  const child = join(import.meta.dirname, 'preprocess-child.ts');
  const argv = [
    ...pin(threads),
    process.execPath,
    '--conditions=@vlfer/source',
    '--import',
    'tsx',
    child,
    JSON.stringify({ ...spec, parent: process.pid }),
  ];
  return runJsonChild({ name: 'preprocess-child.ts', argv, env: { ...process.env, VIPS_CONCURRENCY: '1' } });
}

/**
 * vlfer's side of a case, in a child process (`vlferChild`): `preprocessImages` on the main thread for 1 thread, a
 * `createPreprocessPool` of `threads` workers otherwise.
 */
export function timeVlfer(c: PreprocessCase): Promise<PassTimes & Record<string, unknown>> {
  return vlferChild({ ...c, workers: c.threads === 1 ? 0 : c.threads }, c.threads) as Promise<
    PassTimes & Record<string, unknown>
  >;
}

/**
 * PIL + torchvision's side of a case (`apps/bench/torch/preprocess.py`): torch limited to one thread, pinned to one
 * CPU for 1 thread, DataLoader workers for more; told this process's pid, as the vlfer child is.
 */
export function timePil(c: PreprocessCase): Promise<PassTimes & Record<string, unknown>> {
  const script = join(import.meta.dirname, '..', 'torch', 'preprocess.py');
  const flags = {
    list: c.list,
    mode: c.mode,
    draft: c.draft ? 1 : 0,
    workers: c.threads === 1 ? 0 : c.threads,
    batch: c.batch,
    passes: c.passes,
  };
  return runTorchScript(script, flags, 1, { prefix: pin(c.threads) }) as Promise<PassTimes & Record<string, unknown>>;
}

/** One row of the results: a case's medians on both sides and their ratio (PIL time ÷ vlfer time). */
export interface PreprocessRow {
  size: string;
  mode: string;
  draft: boolean;
  threads: number;
  images: number;
  vlferMs: number[];
  pilMs?: number[];
  vlferMsMedian: number;
  pilMsMedian?: number;
  ratio?: number;
  /**
   * 1-thread rows: CPU ms per image, medians of the rounds, and their ratio — steadier than wall time on a loaded
   * machine (PIL's DataLoader workers are other processes, so 2-thread rows have none)
   */
  vlferCpuMs?: number;
  pilCpuMs?: number;
  cpuRatio?: number;
}

/** The README table of `rows` (ms per image, medians of the rounds; ratio = PIL ÷ vlfer). */
export function preprocessTable(rows: readonly PreprocessRow[]): string {
  const head = [
    '| size | mode | decode | threads | vlfer ms/image (rounds) | PIL + torchvision ms/image (rounds) | PIL ÷ vlfer | CPU ms/image vlfer / PIL (ratio) |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const cpu = (r: PreprocessRow) =>
    r.cpuRatio === undefined
      ? '—'
      : `${r.vlferCpuMs!.toFixed(3)} / ${r.pilCpuMs!.toFixed(3)} (${r.cpuRatio.toFixed(2)}×)`;
  const f = (xs: number[]) => xs.map((x) => x.toFixed(x < 1 ? 3 : 2)).join(', ');
  const body = rows.map(
    (r) =>
      `| ${r.size} | ${r.mode} | ${r.draft ? 'draft' : 'exact'} | ${r.threads} | ${r.vlferMsMedian.toFixed(3)} (${f(r.vlferMs)}) | ${
        r.pilMsMedian === undefined ? '—' : `${r.pilMsMedian.toFixed(3)} (${f(r.pilMs!)})`
      } | ${r.ratio === undefined ? '—' : `**${r.ratio.toFixed(2)}×**`} | ${cpu(r)} |`,
  );
  return [...head, ...body].join('\n');
}

/**
 * Replace the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `file` by `text` (NAME =
 * `marker`, `bench:preprocess` by default), writing the file atomically. @throws naming the file when the markers
 * are missing
 */
export function replaceBetweenMarkers(file: string, text: string, marker = 'bench:preprocess'): void {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const s = readFileSync(file, 'utf8');
  const a = s.indexOf(start);
  const b = s.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file}: no ${start} … ${end} markers to put the table between`);
  writeFileAtomic(file, `${s.slice(0, a + start.length)}\n${text}\n${s.slice(b)}`);
}
