#!/usr/bin/env node
/**
 * @file pnpm bench:load — model load of the 'graphs' runtime at ViT-B/32 size (random weights in a Hugging Face
 * directory, `writeRandomClip`) against PyTorch loading the same file, each variant in a fresh process, measured to
 * the same three points on both sides (seconds since the load began, wall and the process's CPU time, and the peak
 * resident memory, VmHWM, at each):
 * - `open`: weights mapped (or read), model objects constructed. vlfer: `ClipGradientModel.load` returned (config,
 *   the safetensors header, the weights each graph reads checked against it; graphs and sessions are lazy).
 *   PyTorch: the file memory-mapped (or the `.pt` read by torch.load) and both towers built holding its tensors;
 * - `ready`: able to run the first batch with nothing left to prepare. vlfer: `model.ready()`, every graph built and
 *   every session created (ONNX Runtime has mapped or been fed the weights, optimized the graphs, prepacked).
 *   PyTorch: the same moment as `open` (a built module with its state dict has nothing left to prepare);
 * - `firstBatch`: `ready` + the first 2 images (pixel i = sin(0.01 i)) and 2 prompts encoded.
 * `startupSeconds` (process start to the load's start: Node, tsx and onnxruntime-node, or Python and `import torch`)
 * is recorded beside them, not inside. vlfer variants (`--variants`): `inputs` (weights fed at every run, views of a
 * private memory map of the file, `mapWeights`: the CPU default), `inputs-read` (fed, read from the file into the
 * JS heap when first fed: the default before the map, and where `koffi` is absent), `graph-external` (stored in the
 * graphs as ONNX external data pointing into model.safetensors: ONNX Runtime maps the file, JS reads the header only),
 * `graph-external-folded` (the same with `foldConstants: true`, the session setting before), `graph-copied`
 * (`externalData: false`: the file read into the JS heap and copied into the graphs). `--vs torch` adds
 * `apps/bench/torch/load.py --only safetensors` and `--only pt` (the .pt written beside the checkpoint once). Each
 * vlfer variant reports the SHA-256 of its float32 image_embeds (bit-identical features across runs and commits) and
 * the largest difference from PyTorch's embeddings of the same images. Rounds alternate the order of the variants;
 * the load average is recorded before each round.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { exitWithParent } from '@vlfer/cli-kit';
import { defaultThreads, writeJsonAtomic } from '@vlfer/core/node';
import { ClipGradientModel, fileMappingStatus } from '@vlfer/encoders/node';
import { installBenchStop, runJsonChild } from './children.js';
import { benchEnvironment } from './environment.js';
import { writeRandomClip } from './random-clip.js';
import { median, runTorch } from './torch.js';

const VARIANTS = ['inputs', 'inputs-read', 'graph-external', 'graph-external-folded', 'graph-copied'] as const;
type Variant = (typeof VARIANTS)[number];
const TORCH = ['torch-mmap', 'torch-pt'] as const;
const STAGES = ['open', 'ready', 'firstBatch'] as const;
type Stage = { seconds: number; cpuSeconds: number; peakRssBytes: number };

/** What each stage includes, on each side: written into the JSON with the numbers. */
const STAGE_DEFINITIONS = {
  startupSeconds:
    'process start to the start of the load (vlfer: Node + tsx + module imports incl. onnxruntime-node; PyTorch: Python + import torch); not inside the stages',
  open: 'vlfer: ClipGradientModel.load returned (config.json, safetensors header, weights checked against what the graphs read; graphs and sessions lazy). PyTorch: file memory-mapped (torch-pt: torch.load read) and both towers built holding its tensors',
  ready:
    'vlfer: open + model.ready() (every graph built in TypeScript and every session created: weights mapped or fed, graphs optimized, weights prepacked). PyTorch: same moment as open (nothing left to prepare)',
  firstBatch:
    'ready + 2 images (pixel i = sin(0.01 i)) and 2 prompts encoded (vlfer: visionForwardEmbeds, tokenEmbeddings + textForwardEmbeds; PyTorch: under torch.inference_mode)',
  times: 'seconds since the load began (cumulative), wall and process CPU time; peakRssBytes = VmHWM at that point',
};

const o = new Command('bench:load')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--arch <name>', 'graphs/<arch>/config.json', 'vit-b32')
  .option('--models-dir <dir>', 'where the random model goes (written once, kept)', '.vlfer-cache/models')
  .option('--rounds <n>', 'rounds; each runs every variant once, in alternating order', (v) => Number(v), 3)
  .option('--variants <list>', `vlfer variants, comma-separated (${VARIANTS.join(', ')})`, VARIANTS.join(','))
  .option('--gradients', 'load the four HESP sessions (forward with residuals, backward, text VJP, text forward)')
  .option('--threads <n>', 'ONNX Runtime (and PyTorch) threads', (v) => Number(v))
  .addOption(new Option('--vs <peer>', 'also run apps/bench/torch/load.py in each round').choices(['torch']))
  .addOption(new Option('--child <variant>').choices([...VARIANTS]).hideHelp())
  .option('--model <dir>', 'a Hugging Face CLIP directory instead of the random one')
  .option('--out <file>', 'results JSON', 'bench-results/load.json')
  .parse()
  .opts();

// a killed wrapper (pnpm) ends it too; the bench itself also ends its children on Ctrl-C or SIGTERM
if (o.child) exitWithParent(`bench:load --child ${o.child}`);
else installBenchStop('bench:load', o.out);
const threads: number = o.threads ?? defaultThreads();

/** The peak resident set of this process so far (VmHWM), in bytes. */
function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** A stopwatch of wall and CPU time since it was made, with the peak RSS at each reading. */
function stopwatch(): () => Stage {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6, peakRssBytes: vmHwm() };
  };
}

/** One variant in this process: open, ready, first batch; the SHA-256 and values of the images' embeddings. */
async function child(variant: Variant, dir: string): Promise<void> {
  const startupSeconds = performance.now() / 1000; // since this process started
  const read = stopwatch();
  const model = await ClipGradientModel.load(dir, {
    weightsIn: variant.startsWith('inputs') ? 'inputs' : 'graph',
    mapWeights: variant !== 'inputs-read',
    externalData: variant.startsWith('graph-external'),
    foldConstants: variant === 'graph-external-folded',
    gradients: o.gradients ?? false,
    intraOpNumThreads: threads,
  });
  const open = read();
  await model.ready();
  const ready = read();
  const S = model.arch.vision.imageSize!;
  const pixels = Float32Array.from({ length: 2 * 3 * S * S }, (_, i) => Math.sin(0.01 * i));
  const e = await model.visionForwardEmbeds({ dtype: 'float32', data: pixels, dims: [2, 3, S, S] });
  const ids = [49406, 320, 1125, 49407, 49407, 49406, 518, 49407, 49407, 49407];
  await model.textForwardEmbeds(model.tokenEmbeddings(ids, [2, 5]), [3, 2]);
  const firstBatch = read();
  const embedsSha256 = createHash('sha256')
    .update(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength))
    .digest('hex');
  const out = { variant, startupSeconds, open, ready, firstBatch, embedsSha256, imageEmbeds: [...e.data] };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await model.release();
}

/** One variant in a fresh process (`runJsonChild`: asynchronous, ended with this bench). */
function runChild(variant: Variant, dir: string): Promise<Record<string, any>> {
  const args = ['--conditions=@vlfer/source', '--import', 'tsx', process.argv[1]!, '--child', variant, '--model', dir];
  args.push('--threads', String(threads), ...(o.gradients ? ['--gradients'] : []));
  return runJsonChild({ name: `bench:load --child ${variant}`, argv: [process.execPath, ...args], env: process.env });
}

/** PyTorch loading the same file in a fresh process: memory-mapped safetensors, or the .pt written beside it. */
async function runPeer(name: (typeof TORCH)[number], dir: string): Promise<Record<string, any>> {
  const args = {
    config: join(dir, 'config.json'),
    checkpoint: join(dir, 'model.safetensors'),
    pt: join(dir, 'model.pt'),
    only: name === 'torch-mmap' ? 'safetensors' : 'pt',
  };
  const { open, ready, firstBatch, startupSeconds, imageEmbeds, ...torch } = await runTorch('load', args, threads);
  return { variant: name, startupSeconds, open, ready, firstBatch, imageEmbeds, torch };
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

/** Medians of each stage's times (the largest peaks) over one variant's rows; its distinct feature hashes. */
function summarise(mine: Record<string, any>[], peer: number[] | undefined): Record<string, any> {
  const stage = (s: (typeof STAGES)[number]) => ({
    seconds: median(mine.map((x) => x[s].seconds)),
    cpuSeconds: median(mine.map((x) => x[s].cpuSeconds)),
    peakRssBytes: Math.max(...mine.map((x) => x[s].peakRssBytes)),
  });
  const maxDiff = (e: number[]) => (peer ? Math.max(...e.map((v, i) => Math.abs(v - peer[i]!))) : undefined);
  const hashes = mine.filter((x) => x.embedsSha256).map((x) => x.embedsSha256 as string);
  return {
    startupSeconds: median(mine.map((x) => x.startupSeconds)),
    ...Object.fromEntries(STAGES.map((s) => [s, stage(s)])),
    ...(hashes.length ? { embedsSha256: [...new Set(hashes)] } : {}),
    ...(peer && hashes.length ? { maxAbsDiffFromTorch: Math.max(...mine.map((x) => maxDiff(x.imageEmbeds)!)) } : {}),
  };
}

/** PyTorch's time ÷ vlfer's, per stage, wall and CPU (> 1: vlfer is faster), for every vlfer variant. */
function ratios(summary: Record<string, any>, variants: string[], peer: string): Record<string, any> {
  const t = summary[peer];
  return Object.fromEntries(
    variants.map((v) => [
      v,
      Object.fromEntries(
        STAGES.map((s) => [
          s,
          { wall: t[s].seconds / summary[v][s].seconds, cpu: t[s].cpuSeconds / summary[v][s].cpuSeconds },
        ]),
      ),
    ]),
  );
}

function variantList(): Variant[] {
  const list = String(o.variants)
    .split(',')
    .map((v) => v.trim());
  for (const v of list)
    if (!(VARIANTS as readonly string[]).includes(v))
      throw new Error(`--variants: unknown variant '${v}', expected some of ${VARIANTS.join(', ')}`);
  return list as Variant[];
}

function report(summary: Record<string, any>, rows: Record<string, any>[], rat: Record<string, any> | undefined) {
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  const cell = (s: Stage) => `${s.seconds.toFixed(3)} s (CPU ${s.cpuSeconds.toFixed(3)} s, ${gib(s.peakRssBytes)} GiB)`;
  for (const [v, s] of Object.entries(summary)) {
    process.stdout.write(
      `${v.padEnd(15)} open ${cell(s.open)}; ready ${cell(s.ready)}; first batch ${cell(s.firstBatch)}; startup ${s.startupSeconds.toFixed(2)} s` +
        (s.embedsSha256
          ? `; image_embeds sha256 ${s.embedsSha256.map((h: string) => h.slice(0, 16)).join(' / ')}`
          : '') +
        (s.maxAbsDiffFromTorch !== undefined ? `, max |Δ| to PyTorch ${s.maxAbsDiffFromTorch.toExponential(1)}` : '') +
        '\n',
    );
  }
  for (const [v, r] of Object.entries(rat ?? {}))
    process.stdout.write(
      `PyTorch (memory-mapped) ÷ vlfer ${v}: ${STAGES.map((s) => `${s} ${r[s].wall.toFixed(2)}× (CPU ${r[s].cpu.toFixed(2)}×)`).join(', ')}\n`,
    );
  process.stdout.write(`(medians of ${o.rounds} rounds; peaks are the largest; times since the load began)\n`);
  process.stdout.write(
    `load averages (1 min) before each round: ${[...new Set(rows.map((x) => x.loadAverage1m.toFixed(2)))].join(', ')}\n`,
  );
}

async function main(): Promise<void> {
  const dir = modelDir();
  if (o.child) return child(o.child as Variant, dir);
  const variants = variantList();
  const rows: Record<string, any>[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const order: string[] = [...variants, ...(o.vs === 'torch' ? TORCH : [])];
    if (r % 2) order.reverse();
    const load1 = loadavg()[0]!;
    for (const v of order) {
      const row = v.startsWith('torch')
        ? await runPeer(v as (typeof TORCH)[number], dir)
        : await runChild(v as Variant, dir);
      rows.push({ round: r, loadAverage1m: load1, ...row });
    }
    process.stderr.write(`round ${r + 1}/${o.rounds} done (load average ${load1.toFixed(2)})\n`);
  }
  const names = [...variants, ...(o.vs === 'torch' ? TORCH : [])];
  const peer = rows.find((x) => x.variant === 'torch-mmap')?.imageEmbeds as number[] | undefined;
  const summary = Object.fromEntries(
    names.map((v) => [
      v,
      summarise(
        rows.filter((x) => x.variant === v),
        peer,
      ),
    ]),
  );
  const rat = o.vs === 'torch' ? ratios(summary, variants, 'torch-mmap') : undefined;
  const stripped = rows.map(({ imageEmbeds: _e, ...rest }) => rest);
  writeJsonAtomic(o.out, {
    benchmark: 'load',
    environment: benchEnvironment(),
    model: dir,
    threads,
    cpu: cpus()[0]?.model,
    gradients: !!o.gradients,
    fileMapping: fileMappingStatus(),
    stages: STAGE_DEFINITIONS,
    summary,
    ...(rat ? { ratioTorchMmapOverVlfer: rat } : {}),
    rows: stripped,
  });
  report(summary, rows, rat);
}

await main();
