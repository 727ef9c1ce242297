#!/usr/bin/env node
/**
 * @file pnpm bench:load — model load time and peak memory of the 'graphs' runtime at ViT-B/32 size (random weights
 * in a Hugging Face directory, `writeRandomClip`), each variant in a fresh process:
 * - `inputs`: weights read into the JS heap and fed at every run (the CPU default);
 * - `graph-copied`: weights read into the JS heap and copied into each graph (`externalData: false`, the way before);
 * - `graph-external`: weights stored in the graphs as ONNX external data pointing into model.safetensors (ONNX
 *   Runtime reads them; JS reads the header only).
 * Load = `ClipGradientModel.load` (both towers; `--gradients`: the four HESP sessions, else the two forward ones).
 * Peak memory = the process's VmHWM right after the load. Each variant then encodes two fixed random images and
 * reports the SHA-256 of the float32 image_embeds, so the variants' features can be compared bit for bit.
 * `--vs torch` runs `apps/bench/torch/load.py` (the same model.safetensors, memory-mapped) in the same rounds.
 * Rounds alternate the order of the variants. The load average of the machine is recorded before each round.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { exitWithParent } from '@vlfer/cli-kit';
import { createRng } from '@vlfer/core';
import { defaultThreads, writeJsonAtomic } from '@vlfer/core/node';
import { ClipGradientModel } from '@vlfer/encoders/node';
import { writeRandomClip } from './random-clip.js';
import { median, runTorch } from './torch.js';

const VARIANTS = ['inputs', 'graph-copied', 'graph-external'] as const;
type Variant = (typeof VARIANTS)[number];

const o = new Command('bench:load')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--arch <name>', 'graphs/<arch>/config.json', 'vit-b32')
  .option('--models-dir <dir>', 'where the random model goes (written once, kept)', '.vlfer-cache/models')
  .option('--rounds <n>', 'rounds; each runs every variant once, in alternating order', (v) => Number(v), 3)
  .option('--gradients', 'load the four HESP sessions (forward with residuals, backward, text VJP, text forward)')
  .option('--threads <n>', 'ONNX Runtime (and PyTorch) threads', (v) => Number(v))
  .addOption(new Option('--vs <peer>', 'also run apps/bench/torch/load.py in each round').choices(['torch']))
  .addOption(new Option('--child <variant>').choices([...VARIANTS]).hideHelp())
  .option('--model <dir>', 'a Hugging Face CLIP directory instead of the random one')
  .option('--out <file>', 'results JSON', 'bench-results/load.json')
  .parse()
  .opts();

exitWithParent(o.child ? `bench:load --child ${o.child}` : 'bench:load'); // a killed wrapper (pnpm) ends it too
const threads: number = o.threads ?? defaultThreads();

/** The peak resident set of this process so far (VmHWM), in bytes. */
function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** One variant in this process: load, peak memory, then the SHA-256 of two images' embeddings. */
async function child(variant: Variant, dir: string): Promise<void> {
  const t0 = performance.now();
  const model = await ClipGradientModel.load(dir, {
    weightsIn: variant === 'inputs' ? 'inputs' : 'graph',
    externalData: variant === 'graph-external',
    gradients: o.gradients ?? false,
    intraOpNumThreads: threads,
  });
  const seconds = (performance.now() - t0) / 1000;
  const peakRssBytes = vmHwm();
  // lazy sessions move work to the first use: time the first image batch and the first prompts too
  const S = model.arch.vision.imageSize!;
  const rng = createRng(1);
  const pixels = Float32Array.from({ length: 2 * 3 * S * S }, () => rng.normal());
  const e = await model.visionForwardEmbeds({ dtype: 'float32', data: pixels, dims: [2, 3, S, S] });
  const ids = [49406, 320, 1125, 49407, 49407, 49406, 518, 49407, 49407, 49407];
  await model.textForwardEmbeds(model.tokenEmbeddings(ids, [2, 5]), [3, 2]);
  const readySeconds = (performance.now() - t0) / 1000;
  const embedsSha256 = createHash('sha256')
    .update(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength))
    .digest('hex');
  const out = { variant, seconds, readySeconds, peakRssBytes, readyPeakRssBytes: vmHwm(), embedsSha256 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await model.release();
}

/** One variant in a fresh process (spawned asynchronously: this process keeps noticing a killed parent). */
function runChild(variant: Variant, dir: string): Promise<Record<string, any>> {
  const args = ['--conditions=@vlfer/source', '--import', 'tsx', process.argv[1]!, '--child', variant, '--model', dir];
  args.push('--threads', String(threads), ...(o.gradients ? ['--gradients'] : []));
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (code !== 0) reject(new Error(`bench:load --child ${variant} exited with ${code ?? signal}: ${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, any>);
    });
  });
}

function modelDir(): string {
  if (o.model) return o.model as string;
  const dir = join(o.modelsDir, `${o.arch}-hf-random`);
  if (existsSync(join(dir, 'model.safetensors')) && existsSync(join(dir, 'config.json'))) return dir;
  return writeRandomClip({
    configFile: join(o.shared, 'fixtures', 'graphs', o.arch, 'config.json'),
    tokenizerDir: join(o.shared, 'assets', 'clip-tokenizer'),
    outDir: dir,
  });
}

/** Medians of the times and the largest peaks of one variant's rows; the distinct feature hashes it produced. */
function summarise(mine: Record<string, any>[]): Record<string, any> {
  const ready = mine.filter((x) => x.readySeconds !== undefined);
  return {
    seconds: median(mine.map((x) => x.seconds)),
    peakRssBytes: Math.max(...mine.map((x) => x.peakRssBytes)),
    ...(ready.length
      ? {
          readySeconds: median(ready.map((x) => x.readySeconds)),
          readyPeakRssBytes: Math.max(...ready.map((x) => x.readyPeakRssBytes)),
          embedsSha256: [...new Set(ready.map((x) => x.embedsSha256))],
        }
      : {}),
  };
}

async function main(): Promise<void> {
  const dir = modelDir();
  if (o.child) return child(o.child as Variant, dir);
  const rows: Record<string, any>[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const order = r % 2 === 0 ? [...VARIANTS] : [...VARIANTS].reverse();
    const load1 = loadavg()[0]!;
    for (const v of order) rows.push({ round: r, loadAverage1m: load1, ...(await runChild(v, dir)) });
    if (o.vs === 'torch') {
      const t = runTorch(
        'load',
        { config: join(dir, 'config.json'), checkpoint: join(dir, 'model.safetensors') },
        threads,
      );
      rows.push({
        round: r,
        loadAverage1m: load1,
        variant: 'torch',
        seconds: t.safetensorsSeconds,
        peakRssBytes: t.peakRssBytes,
        torch: t,
      });
    }
    process.stderr.write(`round ${r + 1}/${o.rounds} done (load average ${load1.toFixed(2)})\n`);
  }
  const names = [...VARIANTS, ...(o.vs === 'torch' ? ['torch'] : [])];
  const summary = Object.fromEntries(names.map((v) => [v, summarise(rows.filter((x) => x.variant === v))]));
  writeJsonAtomic(o.out, { model: dir, threads, cpu: cpus()[0]?.model, gradients: !!o.gradients, summary, rows });
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  for (const [v, s] of Object.entries(summary))
    process.stdout.write(
      `${v.padEnd(15)} load ${s.seconds.toFixed(3)} s, peak RSS ${gib(s.peakRssBytes)} GiB` +
        (s.readySeconds === undefined
          ? ' (memory-mapped; no forward run)\n'
          : `; with the first 2 images + 2 prompts ${s.readySeconds.toFixed(3)} s, ${gib(s.readyPeakRssBytes)} GiB; image_embeds sha256 ${s.embedsSha256.map((h: string) => h.slice(0, 16)).join(' / ')}\n`),
    );
  process.stdout.write(`(medians of ${o.rounds} rounds; peaks are the largest)\n`);
  process.stdout.write(
    `load averages (1 min) before each round: ${[...new Set(rows.map((x) => x.loadAverage1m.toFixed(2)))].join(', ')}\n`,
  );
}

await main();
