#!/usr/bin/env node
/**
 * @file pnpm bench:preprocess — decode + resize + to-float of JPEGs per image size and preprocessing mode, vlfer
 * against PIL + torchvision, on one CPU (both sides pinned with taskset) and on two (vlfer's worker pool against a
 * DataLoader with two workers), in interleaved rounds; writes a JSON and, with --readme, the table in
 * apps/bench/README.md. `--decoder-sweep` times the three JPEG decoders per size instead.
 *
 * Stopping it: Ctrl-C (SIGINT) or SIGTERM, or a killed parent (pnpm), ends the timing child that is running (its
 * process group) and exits at once with 130 (SIGTERM: 143), writing nothing: the results JSON and the README are
 * only ever written whole, at the end. Its temporary list files go with it; a child of a bench that was SIGKILLed
 * itself exits on its own within a second (it watches the bench's pid).
 */
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { writeJsonAtomic } from '@vlfer/core/node';
import { nativeJpeg, pillowDraftScale } from '@vlfer/image/node';
import { installBenchStop } from './children.js';
import { benchEnvironment } from './environment.js';
import {
  benchImages,
  cpuMsPerImage,
  msPerImage,
  parseSize,
  preprocessTable,
  replaceBetweenMarkers,
  timePil,
  timeVlfer,
  vlferChild,
  type BenchSize,
  type PreprocessCase,
  type PreprocessRow,
} from './preprocess-bench.js';
import { interleaved, median } from './torch.js';

const o = new Command('bench:preprocess')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option(
    '--sizes <list>',
    'image sizes; 48x48 is FER2013, larger ones are made from real photos',
    '48x48,640x480,1920x1080',
  )
  .option('--images <list>', 'images per size (one number, or one per size)', '256,64,32')
  .option('--modes <list>', 'preprocessing modes', 'exp-clip,clip,openai')
  .option('--threads <list>', '1 (both sides pinned to one CPU) and/or 2 (worker pool vs DataLoader workers)', '1,2')
  .option('--no-draft', 'leave out the reduced-scale (draft) rows')
  .option('--batch <n>', 'images per batch', (v) => Number(v), 32)
  .option('--passes <n>', 'timed passes per round (after one untimed)', (v) => Number(v), 3)
  .option('--rounds <n>', 'rounds (vlfer and PIL alternate which goes first)', (v) => Number(v), 3)
  .addOption(
    new Option('--vs <peer>', 'compare with PIL + torchvision (apps/bench/torch/preprocess.py)').choices(['torch']),
  )
  .option('--decoder-sweep', 'time the native, WebAssembly and libvips JPEG decoders per size instead (one CPU)')
  .option(
    '--image-dir <dir>',
    'where the photo-size JPEGs are made and kept for later runs (default: a new temporary folder, removed at the end)',
  )
  .option('--out <file>', 'results JSON', 'bench-results/preprocess.json')
  .option('--readme <file>', 'also write the table into this README (between its bench:preprocess markers)')
  .parse()
  .opts();

const fer = join(o.shared, 'data', 'fer2013-privatetest');
const load = [loadavg()];
const listDir = mkdtempSync(join(tmpdir(), 'vlfer-bench-preprocess-lists-'));
/** The results JSON: --out, or beside it for the decoder sweep. */
const outFile: string = o.decoderSweep ? o.out.replace(/\.json$/, '-decoders.json') : o.out;

// However this process ends (done, an error, a signal, a killed parent), no timing child outlives it and the list
// files go.
installBenchStop('bench:preprocess', outFile, () => rmSync(listDir, { recursive: true, force: true }));
// a folder of this run's own by default: a fixed name in the shared temporary directory was another user's to fill
// (EACCES for the next user, or JPEGs planted in it were timed)
const imageDir: string = o.imageDir ?? join(listDir, 'images');
mkdirSync(imageDir, { recursive: true });

/** The images of `size` as a list file for both sides. */
async function listFor(size: BenchSize, count: number): Promise<string> {
  const files = await benchImages(size, count, fer, imageDir);
  const list = join(listDir, `${size.name}.txt`);
  writeFileSync(list, `${files.join('\n')}\n`);
  return list;
}

if (o.decoderSweep) {
  const sides = [64, 96, 128, 192, 256, 320, 384, 448, 512, 640, 768, 1024];
  const sweep: Record<string, string[]> = {};
  for (const s of sides) sweep[`${s}x${s}`] = await benchImages(parseSize(`${s}x${s}`), 12, fer, imageDir);
  const result = (await vlferChild({ sweep, reps: o.rounds * 2 + 1 }, 1)) as {
    sweep: Record<string, { nativeMs: number; wasmMs: number; libvipsMs: number }>;
  };
  for (const [size, t] of Object.entries(result.sweep))
    process.stdout.write(
      `${size}: native ${t.nativeMs.toFixed(3)} ms, WebAssembly ${t.wasmMs.toFixed(3)} ms, libvips ${t.libvipsMs.toFixed(3)} ms\n`,
    );
  load.push(loadavg());
  writeJsonAtomic(outFile, {
    ...result,
    loadavg: load,
    cpu: cpus()[0]?.model,
    nativeJpeg: nativeJpeg(),
    environment: benchEnvironment(),
  });
  process.exit(0);
}

const sizes = String(o.sizes).split(',').map(parseSize);
const counts = String(o.images).split(',').map(Number);
const modes = String(o.modes).split(',') as PreprocessCase['mode'][];
const threadList = String(o.threads).split(',').map(Number);
const rows: PreprocessRow[] = [];
const peers: Record<string, unknown>[] = [];
for (const [i, size] of sizes.entries()) {
  const count = counts[Math.min(i, counts.length - 1)]!;
  const list = await listFor(size, count);
  // draft rows only where Pillow's draft would decode at a reduced scale (the 224 target of every mode)
  const drafts =
    o.draft && pillowDraftScale(size.width, size.height, { width: 224, height: 224 }) > 1 ? [false, true] : [false];
  for (const threads of threadList)
    for (const mode of modes)
      for (const draft of drafts) {
        const c: PreprocessCase = { list, mode, draft, threads, batch: o.batch, passes: o.passes };
        const r = await interleaved(
          o.rounds,
          async () => timeVlfer(c),
          o.vs ? async () => timePil(c) : undefined,
          (line) => process.stderr.write(`${size.name} ${mode}${draft ? ' draft' : ''} ${threads}t: ${line}\n`),
        );
        const vlferMs = r.a.map(msPerImage);
        const pilMs = r.b.map(msPerImage);
        const row: PreprocessRow = {
          size: size.name,
          mode,
          draft,
          threads,
          images: count,
          vlferMs,
          vlferMsMedian: median(vlferMs),
        };
        if (o.vs) Object.assign(row, { pilMs, pilMsMedian: median(pilMs), ratio: median(pilMs) / median(vlferMs) });
        if (o.vs && threads === 1) {
          const [v, p] = [median(r.a.map(cpuMsPerImage)), median(r.b.map(cpuMsPerImage))];
          Object.assign(row, { vlferCpuMs: v, pilCpuMs: p, cpuRatio: p / v });
        }
        if (r.b[0])
          peers.push({
            size: size.name,
            mode,
            draft,
            threads,
            pillow: r.b[0].pillow,
            torch: r.b[0].torch,
            environment: r.b[0].environment,
          });
        rows.push(row);
        process.stdout.write(
          `${size.name} ${mode} ${draft ? 'draft' : 'exact'} ${threads} thread(s): vlfer ${row.vlferMsMedian.toFixed(3)} ms/image${row.ratio ? `, PIL ${row.pilMsMedian!.toFixed(3)} (${row.ratio.toFixed(2)}×)` : ''}\n`,
        );
      }
}
load.push(loadavg());
writeJsonAtomic(outFile, {
  rows,
  peer: peers[0],
  loadavg: load,
  cpu: cpus()[0]?.model,
  options: o,
  // which JPEG decoder 'auto' took on vlfer's side: native libturbojpeg when available (the children load the same one)
  nativeJpeg: nativeJpeg(),
  environment: benchEnvironment(),
});
if (o.readme) replaceBetweenMarkers(o.readme, preprocessTable(rows));
process.stdout.write(
  `load average (1, 5, 15 min) at start ${load[0]!.map((x) => x.toFixed(2)).join(' ')}, at end ${load[1]!.map((x) => x.toFixed(2)).join(' ')}\n`,
);
