/**
 * @file The pieces of `pnpm bench:preprocess`: the benchmark images (FER2013 at 48², and larger real-photo JPEGs
 * made deterministically from face-api's demo photos), the vlfer and PIL timing children (both started the same
 * way, pinned to one CPU for the 1-thread rows) and the README table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { toSharp } from '@vlfer/image/node';
import { writeFileAtomic } from '@vlfer/core/node';
import { sampleImages } from './encode-bench.js';
import { median, runTorchScript, torchEnv, torchPython } from './torch.js';

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
 * resized with lanczos3 and saved at quality 90 with 4:2:0 chroma (a typical camera/web photo).
 */
export async function benchImages(size: BenchSize, count: number, fer: string, dir: string): Promise<string[]> {
  if (size.width === 48 && size.height === 48) return sampleImages(fer, count);
  mkdirSync(dir, { recursive: true });
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
    await toSharp(photo)
      .extract({ left, top, width: cw, height: ch })
      .resize(size.width, size.height, { fit: 'fill' })
      .jpeg({ quality: 90, chromaSubsampling: '4:2:0' })
      .toFile(file);
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
 * `taskset -c 0` before a child's command for 1-thread cases, so that neither side runs threads beside its main
 * one (libvips and the libuv pool on vlfer's, OpenMP on PyTorch's); nothing for more threads.
 */
function pinned(threads: number, argv: string[]): string[] {
  return threads === 1 ? ['taskset', '-c', '0', ...argv] : argv;
}

/** Run a child's argv; @returns the JSON object on its last stdout line. @throws naming `what` and its stderr */
function runJsonChild(what: string, argv: string[], env: NodeJS.ProcessEnv): Record<string, any> {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0)
    throw new Error(
      `${what} exited with ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}: ${(r.stderr || r.stdout).trim().split('\n').slice(-6).join('\n')}`,
    );
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Record<string, any>;
  } catch {
    throw new Error(`${what} printed no JSON result (last line: ${line.slice(0, 200)})`);
  }
}

/**
 * vlfer's side of a case, in a child process (`preprocess-child.ts`): `preprocessImages` on the main thread for 1
 * thread, a `createPreprocessPool` of `threads` workers otherwise; libvips limited to one thread per pipeline
 * (`VIPS_CONCURRENCY=1`), as each worker runs its own.
 */
export function timeVlfer(c: PreprocessCase): PassTimes & Record<string, unknown> {
  const child = join(import.meta.dirname, 'preprocess-child.ts');
  const argv = pinned(c.threads, [
    process.execPath,
    '--conditions=@vlfer/source',
    '--import',
    'tsx',
    child,
    JSON.stringify({ ...c, workers: c.threads === 1 ? 0 : c.threads }),
  ]);
  return runJsonChild('preprocess-child.ts', argv, { ...process.env, VIPS_CONCURRENCY: '1' }) as PassTimes &
    Record<string, unknown>;
}

/** PIL + torchvision's side of a case (`apps/bench/torch/preprocess.py`), DataLoader workers for more threads. */
export function timePil(c: PreprocessCase): PassTimes & Record<string, unknown> {
  const script = join(import.meta.dirname, '..', 'torch', 'preprocess.py');
  const flags = { list: c.list, mode: c.mode, draft: c.draft ? 1 : 0, workers: c.threads === 1 ? 0 : c.threads };
  if (c.threads !== 1)
    return runTorchScript(script, { ...flags, batch: c.batch, passes: c.passes }, 1) as PassTimes &
      Record<string, unknown>;
  const args = Object.entries({ ...flags, batch: c.batch, passes: c.passes, threads: 1 }).flatMap(([k, v]) => [
    `--${k}`,
    String(v),
  ]);
  return runJsonChild('preprocess.py', pinned(1, [torchPython(), script, ...args]), torchEnv(1)) as PassTimes &
    Record<string, unknown>;
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
