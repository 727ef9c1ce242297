#!/usr/bin/env node
/**
 * @file pnpm bench:encode — image-encoder throughput on the full-size CLIP graphs of shared/fixtures/graphs
 * (weights regenerated from the manifests), raw ORT session vs the full pipeline, written as JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { writeJsonAtomic } from '@vlfer/core/node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { defaultThreads } from '@vlfer/core/node';
import {
  benchPipeline,
  benchPreprocess,
  benchRawGraphs,
  benchRawSession,
  sampleImages,
  type EncodeBenchRow,
} from './encode-bench.js';
import { writeRandomClip } from './random-clip.js';
import { benchEnvironment } from './environment.js';
import { interleaved, median, runTorch } from './torch.js';
import {
  describePeak,
  forwardFlops,
  fractionOfPeak,
  matmulPeakOrt,
  peakAfterRounds,
  peakRecord,
  type PeakRecord,
} from './peak.js';
import { materializeClipGraphs } from './materialize.js';
import { convertToFp16Weights } from './fp16.js';
import { runInt8Bench } from './bench-int8.js';
import { assertWebGpu } from '@vlfer/encoders/node';
import { installBenchStop } from './children.js';

const program = new Command('bench:encode')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--models <list>', 'graph folders under fixtures/graphs', 'vit-b32')
  .option('--dtypes <list>', 'fp32 and/or fp16 (float16 weights, keep_io_types)', 'fp32,fp16')
  .addOption(
    new Option(
      '--dtype <dtype>',
      "int8: raw encode of the 'graphs' runtime in fp32 and int8 (random weights from the fixture's config), with --vs torch also PyTorch fp32 and quantize_dynamic int8 (apps/bench/src/bench-int8.ts)",
    ).choices(['int8']),
  )
  .option('--batch <n>', 'batch size (pipeline rows, and the first raw row)', (v) => Number(v), 32)
  .option('--raw-batches <list>', 'extra batch sizes for raw-session rows (batch-size sweep), comma-separated', '')
  .option('--reps <n>', 'timed raw-session runs', (v) => Number(v), 5)
  .option('--images <n>', 'images through the full pipeline', (v) => Number(v), 256)
  .option(
    '--preprocess-workers <list>',
    'pipeline runs with decode + resize on the main thread (0) and/or on n worker threads',
    '0',
  )
  .addOption(new Option('--device <device>').choices(['cpu', 'webgpu']).default('cpu'))
  .addOption(
    new Option(
      '--runtime <runtime>',
      "what runs vlfer's encoder: 'onnx', the fixture's exported graph (as transformers.js-layout models such as Xenova/clip-vit-base-patch32 run), or 'graphs', loadClip's own graphs on a random-weight model.safetensors of the fixture's config (as Hugging Face-layout models such as openai/clip-vit-base-patch32 run; fp32, CPU)",
    )
      .choices(['onnx', 'graphs'])
      .default('onnx'),
  )
  .addOption(
    new Option(
      '--weights-in <where>',
      "with --runtime graphs: where loadClip puts the float32 weights (LoadClipOptions.weightsIn): 'inputs', fed at every run (the CPU default), or 'graph', stored in the graphs and prepacked once",
    ).choices(['inputs', 'graph']),
  )
  .option('--models-dir <dir>', 'where materialised model directories go', '.vlfer-cache/models')
  .option('--out <file>', 'results JSON', 'bench-results/encode.json')
  .addOption(
    new Option(
      '--vs <peer>',
      'compare with PyTorch (apps/bench/torch/encode.py) in alternating rounds: raw encode, preprocessing and the pipeline, fp32, main thread',
    ).choices(['torch']),
  )
  .option('--rounds <n>', 'rounds with --vs', (v) => Number(v), 3)
  .option(
    '--threads <n>',
    'ONNX Runtime (and PyTorch) threads (default: VLFER_THREADS, else every CPU this process may use)',
    (v) => Number(v),
  )
  .parse();
const o = program.opts();
const graphsRuntime = o.runtime === 'graphs';
const given = (option: string) => program.getOptionValueSource(option) === 'cli';
if (o.dtype === 'int8' && given('runtime') && !graphsRuntime)
  program.error(`--dtype int8 runs on the 'graphs' runtime (loadClip's own int8 graphs), not --runtime ${o.runtime}`);
if (graphsRuntime && o.device !== 'cpu')
  program.error(`--runtime graphs times the CPU (fp32; its int8: --dtype int8), not --device ${o.device}`);
if (graphsRuntime && given('dtypes') && o.dtypes !== 'fp32')
  program.error(`--runtime graphs times fp32 (its int8: --dtype int8), not --dtypes ${o.dtypes}`);
if (o.weightsIn && (!graphsRuntime || o.dtype === 'int8'))
  program.error(
    `--weights-in places the float32 weights of --runtime graphs${o.dtype === 'int8' ? ' (int8 layers always store theirs)' : `, not of --runtime ${o.runtime}`}`,
  );
/** `--weights-in`, for the 'graphs' runtime's raw and pipeline rows */
const weightsIn: { weightsIn?: 'inputs' | 'graph' } = o.weightsIn ? { weightsIn: o.weightsIn } : {};
/** `--weights-in` for the progress lines: ' weights stored,' / ' weights fed,', or nothing */
const weightsNote = o.weightsIn ? ` weights ${o.weightsIn === 'graph' ? 'stored' : 'fed'},` : '';
/** Raw-row batch sizes: `--batch`, then the `--raw-batches` sweep. */
const rawBatches: number[] = [
  o.batch,
  ...String(o.rawBatches)
    .split(',')
    .filter(Boolean)
    .map((v) => {
      const b = Number(v);
      if (!Number.isInteger(b) || b < 1) program.error(`--raw-batches: '${v}' is not a positive integer`);
      return b;
    })
    .filter((b) => b !== o.batch),
];
/** The results JSON being made: `--out`, or with `--dtype int8` one per model. */
let results: string = o.out;
// a killed wrapper (pnpm), Ctrl-C or SIGTERM ends the benchmark and its PyTorch peer
// the image list of `--vs torch` is scratch: removed at exit, also when stopped
let scratch: string | undefined;
installBenchStop(
  'bench:encode',
  () => results,
  () => scratch && rmSync(scratch, { recursive: true, force: true }),
);

if (o.dtype === 'int8') {
  const threads: number = o.threads ?? defaultThreads();
  const out = o.out === 'bench-results/encode.json' ? 'bench-results/encode-int8.json' : o.out;
  for (const model of String(o.models).split(',')) {
    results = out.replace(/\.json$/, `-${model}.json`);
    await runInt8Bench({
      shared: o.shared,
      model,
      batch: o.batch,
      reps: o.reps,
      rounds: o.rounds,
      threads,
      modelsDir: o.modelsDir,
      vsTorch: o.vs === 'torch',
      out: results,
    });
  }
  process.exit(0);
}

if (o.device === 'webgpu') await assertWebGpu('bench:encode');
// PyTorch CUDA throughput on an H100 (batch 256), for a ratio: shared/fixtures/gpu-anchor.json
const anchorFile = join(o.shared, 'fixtures', 'gpu-anchor.json');
const anchors = existsSync(anchorFile)
  ? (JSON.parse(readFileSync(anchorFile, 'utf8')) as {
      device: string;
      results: { model: string; dtype: string; images_per_s: number }[];
    })
  : undefined;
const anchorFor = (model: string, dtype: string) =>
  anchors?.results.find((a) => a.model === model && a.dtype === `torch.${dtype === 'fp16' ? 'float16' : 'float32'}`)
    ?.images_per_s;
/** The vision tower of a fixtures graph as a model directory (weights regenerated from its manifest, once). */
const modelDir = (name: string) =>
  materializeClipGraphs({
    graphDir: join(o.shared, 'fixtures', 'graphs', name),
    tokenizerDir: join(o.shared, 'assets', 'clip-tokenizer'),
    outDir: join(o.modelsDir, name),
    towers: ['vision'],
  });
/** A random-weight model.safetensors directory of a fixtures graph's config (`--runtime graphs`), written once. */
const graphsModelDir = (name: string) =>
  writeRandomClip({
    configFile: join(o.shared, 'fixtures', 'graphs', name, 'config.json'),
    tokenizerDir: join(o.shared, 'assets', 'clip-tokenizer'),
    outDir: join(o.modelsDir, `${name}-hf-random`),
  });
const fer = join(o.shared, 'data', 'fer2013-privatetest');
const cpuModel = cpus()[0]?.model ?? 'unknown';
/**
 * Matmul FLOPs of one image through a fixtures graph's vision tower (its config.json), as the encoder runs it:
 * `--runtime graphs` runs the last layer for the class token only (`clsOnlyLastLayer`), the exported graphs and
 * PyTorch every token.
 */
const visionFlopsPerImage = (name: string, clsOnlyLastLayer = false): number => {
  const cfg = JSON.parse(readFileSync(join(o.shared, 'fixtures', 'graphs', name, 'config.json'), 'utf8'));
  return forwardFlops(cfg.vision_config, cfg.projection_dim, 1, { clsOnlyLastLayer });
};
const rows: (EncodeBenchRow & { ratioToTorchAnchor?: number; gflops?: number; fractionOfPeak?: number })[] = [];
if (o.vs) {
  // vlfer and PyTorch side by side on this machine: same model sizes, batch, images and threads; rounds alternate
  const threads: number = o.threads ?? defaultThreads();
  scratch = mkdtempSync(join(tmpdir(), 'vlfer-bench-'));
  const list = join(scratch, 'images.txt');
  writeFileSync(list, `${(await sampleImages(fer, o.images)).join('\n')}\n`);
  // the machine's fp32 matmul peak at this thread count, in this run (the peer measures its own in each round)
  const ortPeak = await matmulPeakOrt({ threads });
  let peak: PeakRecord | undefined;
  const comparisons = [];
  for (const name of String(o.models).split(',')) {
    const dir = graphsRuntime ? graphsModelDir(name) : modelDir(name);
    const vlfer = async () => {
      const raw = graphsRuntime
        ? await benchRawGraphs({ modelDir: dir, batch: o.batch, reps: o.reps, label: name, threads, ...weightsIn })
        : await benchRawSession({
            onnxPath: join(dir, 'onnx', 'vision_model.onnx'),
            batch: o.batch,
            reps: o.reps,
            device: 'cpu',
            label: name,
            threads,
          });
      const prep = await benchPreprocess({ imageRoot: fer, images: o.images, batch: o.batch, preprocessWorkers: 0 });
      const pipe = await benchPipeline({
        modelDir: dir,
        imageRoot: fer,
        images: o.images,
        batch: o.batch,
        device: 'cpu',
        label: name,
        dtype: 'fp32',
        preprocessWorkers: 0,
        runtime: o.runtime,
        ...weightsIn,
      });
      const r = {
        raw: raw.imagesPerSecond,
        preprocess: prep.imagesPerSecond,
        pipeline: pipe.imagesPerSecond,
        ...(raw.cpuMsPerBatch !== undefined
          ? { rawCpuMsPerBatch: raw.cpuMsPerBatch, rawMinorPageFaultsPerBatch: raw.minorPageFaultsPerBatch }
          : {}),
      };
      const cpu =
        r.rawCpuMsPerBatch !== undefined
          ? ` (raw: ${r.rawCpuMsPerBatch.toFixed(0)} CPU ms, ${r.rawMinorPageFaultsPerBatch} page faults per batch)`
          : '';
      process.stderr.write(
        `vlfer ${name}: raw ${r.raw.toFixed(1)}, preprocess ${r.preprocess.toFixed(0)}, pipeline ${r.pipeline.toFixed(1)} images/s${cpu}\n`,
      );
      return r;
    };
    const torch = async () => {
      const t = await runTorch(
        'encode',
        { config: join(o.shared, 'fixtures', 'graphs', name, 'config.json'), batch: o.batch, reps: o.reps, list },
        threads,
      );
      process.stderr.write(
        `PyTorch ${name}: raw ${t.rawImagesPerSecond.toFixed(1)}, preprocess ${t.preprocessImagesPerSecond.toFixed(0)}, pipeline ${t.pipelineImagesPerSecond.toFixed(1)} images/s\n`,
      );
      return {
        raw: t.rawImagesPerSecond as number,
        preprocess: t.preprocessImagesPerSecond as number,
        pipeline: t.pipelineImagesPerSecond as number,
        version: t.torch as string,
        blas: t.blas as string[],
        encoder: t.encoder as string,
        encoderTrials: t.encoderTrials as unknown,
        environment: t.environment as unknown,
        parallelInfo: t.parallelInfo as string,
        result: t,
      };
    };
    const r = await interleaved(o.rounds, vlfer, torch, (l) => process.stderr.write(`${name}: ${l}\n`));
    const med = (xs: { raw: number; preprocess: number; pipeline: number }[]) => ({
      raw: median(xs.map((x) => x.raw)),
      preprocess: median(xs.map((x) => x.preprocess)),
      pipeline: median(xs.map((x) => x.pipeline)),
    });
    const v = med(r.a),
      t = med(r.b);
    // ORT's peak timed again after this model's rounds: each engine's best measurement is the reference
    peak ??= await peakAfterRounds(
      cpuModel,
      ortPeak,
      r.b.map((x) => x.result),
    );
    const [flops, torchFlops] = [visionFlopsPerImage(name, graphsRuntime), visionFlopsPerImage(name)];
    const rawFraction = (f: number, imagesPerSecond: number) =>
      fractionOfPeak(f, 1 / imagesPerSecond, peak!.reference.gflops);
    const c = {
      model: name,
      runtime: o.runtime,
      ...weightsIn,
      batch: o.batch,
      images: o.images,
      threads,
      rounds: o.rounds,
      vlfer: { imagesPerSecond: v, runs: r.a },
      torch: {
        version: r.b[0]!.version,
        blas: r.b[0]!.blas,
        environment: r.b[0]!.environment,
        parallelInfo: r.b[0]!.parallelInfo,
        openblasThreads: r.b[0]!.result.openblasThreads,
        encoder: r.b.map((x) => x.encoder),
        encoderTrials: r.b.map((x) => x.encoderTrials),
        imagesPerSecond: t,
        runs: r.b.map(({ raw, preprocess, pipeline }) => ({ raw, preprocess, pipeline })),
      },
      ratio: { raw: v.raw / t.raw, preprocess: v.preprocess / t.preprocess, pipeline: v.pipeline / t.pipeline },
      // raw encode is compute-bound: its matmul rate as a fraction of the machine's peak (preprocessing is not)
      flopsPerImage: { vlfer: flops, torch: torchFlops },
      fractionOfPeak: { raw: { vlfer: rawFraction(flops, v.raw), torch: rawFraction(torchFlops, t.raw) } },
    };
    comparisons.push(c);
    process.stdout.write(
      `${name}, batch ${o.batch}, ${threads} threads, medians of ${o.rounds} rounds (images/s): raw ${v.raw.toFixed(1)} vs PyTorch ${t.raw.toFixed(1)} (${c.ratio.raw.toFixed(2)}×); preprocessing ${v.preprocess.toFixed(0)} vs ${t.preprocess.toFixed(0)} (${c.ratio.preprocess.toFixed(2)}×); pipeline ${v.pipeline.toFixed(1)} vs ${t.pipeline.toFixed(1)} (${c.ratio.pipeline.toFixed(2)}×); raw encode at ${(100 * c.fractionOfPeak.raw.vlfer.fraction).toFixed(0)} % (vlfer) and ${(100 * c.fractionOfPeak.raw.torch.fraction).toFixed(0)} % (PyTorch, ${r.b[0]!.encoder}) of the matmul peak\n`,
    );
  }
  if (peak) process.stdout.write(`${describePeak(peak)}\n`);
  writeJsonAtomic(o.out, {
    benchmark: 'encode',
    vs: 'torch',
    cpu: cpuModel,
    cpuCores: cpus().length,
    matmulPeak: peak ?? peakRecord(cpuModel, ortPeak),
    environment: benchEnvironment(),
    comparisons,
  });
  process.exit(0);
}
const ortPeak = o.device === 'cpu' ? await matmulPeakOrt({ threads: o.threads ?? defaultThreads() }) : undefined;
const peak = ortPeak ? peakRecord(cpuModel, ortPeak) : undefined;
if (peak) process.stderr.write(`${describePeak(peak)}\n`);
const workerCounts = String(o.preprocessWorkers).split(',').map(Number);
for (const w of workerCounts) {
  const p = await benchPreprocess({ imageRoot: fer, images: o.images, batch: o.batch, preprocessWorkers: w });
  process.stderr.write(
    `preprocess only (FER2013 decode + resize + normalise), ${w ? `${w} worker threads` : 'main thread'}: ${p.imagesPerSecond.toFixed(1)} images/s\n`,
  );
  rows.push(p);
}
for (const name of String(o.models).split(',')) {
  if (graphsRuntime) {
    await graphsRows(name);
    continue;
  }
  const dir = modelDir(name);
  process.stderr.write(`${name}: model directory ${resolve(dir)}\n`);
  for (const dtype of String(o.dtypes).split(',') as ('fp32' | 'fp16')[]) {
    const onnxPath = join(dir, 'onnx', dtype === 'fp16' ? 'vision_model_fp16.onnx' : 'vision_model.onnx');
    if (dtype === 'fp16' && !existsSync(onnxPath))
      process.stderr.write(
        `${name}: converted ${convertToFp16Weights(join(dir, 'onnx', 'vision_model.onnx'), onnxPath)} weight tensors to float16\n`,
      );
    const anchor = anchorFor(name, dtype);
    for (const batch of rawBatches) {
      const raw = await benchRawSession({
        onnxPath,
        batch,
        reps: o.reps,
        device: o.device,
        label: name,
        dtype,
        ...(o.threads ? { threads: o.threads } : {}),
      });
      // fp32 raw encode on the CPU is compute-bound: its matmul rate against the fp32 peak
      const fraction =
        peak && dtype === 'fp32'
          ? fractionOfPeak(visionFlopsPerImage(name) * batch, raw.medianBatchMs! / 1000, peak.reference.gflops)
          : undefined;
      process.stderr.write(
        `${name} ${dtype} raw ORT session, batch ${batch}: ${raw.imagesPerSecond.toFixed(1)} images/s (median ${raw.medianBatchMs!.toFixed(0)} ms per batch)${anchor ? `; ${(raw.imagesPerSecond / anchor).toFixed(4)} × PyTorch ${dtype} on ${anchors!.device} (${anchor.toFixed(0)} images/s)` : ''}\n`,
      );
      if (fraction)
        process.stderr.write(
          `  ${fraction.gflops.toFixed(0)} GFLOP/s = ${(100 * fraction.fraction).toFixed(0)} % of the matmul peak\n`,
        );
      rows.push({
        ...raw,
        ...(anchor ? { ratioToTorchAnchor: raw.imagesPerSecond / anchor } : {}),
        ...(fraction ? { gflops: fraction.gflops, fractionOfPeak: fraction.fraction } : {}),
      });
    }
    await pipelineRows(name, dir, { dtype, device: o.device, anchor });
  }
}

/** Pipeline rows (FER2013 decode + resize + encode) of a model directory, one per `--preprocess-workers` count. */
async function pipelineRows(
  name: string,
  dir: string,
  how: { dtype: 'fp32' | 'fp16'; device: 'cpu' | 'webgpu'; anchor?: number; runtime?: 'graphs' },
): Promise<void> {
  const { dtype, anchor, runtime } = how;
  for (const w of workerCounts) {
    const pipe = await benchPipeline({
      modelDir: dir,
      imageRoot: fer,
      images: o.images,
      batch: o.batch,
      device: how.device,
      label: name,
      dtype,
      preprocessWorkers: w,
      ...(runtime ? { runtime, ...weightsIn } : {}),
    });
    process.stderr.write(
      `${name} ${dtype}${runtime ? ` '${runtime}' runtime,${weightsNote}` : ''} full pipeline (FER2013 decode + resize + encode), batch ${o.batch}, preprocessing on ${w ? `${w} worker threads` : 'the main thread'}: ${pipe.imagesPerSecond.toFixed(1)} images/s over ${pipe.images} images\n`,
    );
    rows.push({ ...pipe, ...(anchor ? { ratioToTorchAnchor: pipe.imagesPerSecond / anchor } : {}) });
  }
}
/** `--runtime graphs` without `--vs`: raw encode and pipeline rows of `loadClip`'s graphs runtime, fp32 on the CPU. */
async function graphsRows(name: string): Promise<void> {
  const dir = graphsModelDir(name);
  process.stderr.write(`${name}: model directory ${resolve(dir)} (random weights, 'graphs' runtime)\n`);
  for (const batch of rawBatches) {
    const raw = await benchRawGraphs({
      modelDir: dir,
      batch,
      reps: o.reps,
      label: name,
      ...weightsIn,
      ...(o.threads ? { threads: o.threads } : {}),
    });
    const flops = visionFlopsPerImage(name, true) * batch;
    const fraction = peak ? fractionOfPeak(flops, raw.medianBatchMs! / 1000, peak.reference.gflops) : undefined;
    process.stderr.write(
      `${name} fp32 'graphs' runtime,${weightsNote} raw, batch ${batch}: ${raw.imagesPerSecond.toFixed(1)} images/s (median ${raw.medianBatchMs!.toFixed(0)} ms per batch)${fraction ? `; ${fraction.gflops.toFixed(0)} GFLOP/s = ${(100 * fraction.fraction).toFixed(0)} % of the matmul peak` : ''}\n`,
    );
    rows.push({ ...raw, ...(fraction ? { gflops: fraction.gflops, fractionOfPeak: fraction.fraction } : {}) });
  }
  await pipelineRows(name, dir, { dtype: 'fp32', device: 'cpu', runtime: 'graphs' });
}

writeJsonAtomic(o.out, {
  benchmark: 'encode',
  cpu: cpuModel,
  cpuCores: cpus().length,
  matmulPeak: peak ?? null,
  environment: benchEnvironment(),
  anchor: anchors ? { device: anchors.device, file: anchorFile } : null,
  rows,
});
process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
