#!/usr/bin/env node
/**
 * @file pnpm bench:vjp — the CLIP vision tower's forward and vector-Jacobian product to the pixels for `images`
 * images (ViT-B/32 size, random weights; speed does not depend on values): `ClipGradientModel.visionVjp`, the
 * forward that keeps its residuals and the backward from them, which HESP runs for its visual prompts every step.
 * Warm-up runs are not timed. `--vs torch` runs PyTorch autograd on the same shapes (`apps/bench/torch/vjp.py`) in
 * alternating rounds and writes both, with the ratio.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { defaultThreads, writeJsonAtomic } from '@vlfer/core/node';
import { ClipGradientModel, defaultWeightsIn } from '@vlfer/encoders/node';
import { installBenchStop } from './children.js';
import { benchEnvironment } from './environment.js';
import { writeRandomClip } from './random-clip.js';
import { interleaved, median, runTorch, torchPeerSetting } from './torch.js';
import {
  describeMatmulRates,
  describePeak,
  forwardVjpFlops,
  fractionOfPeak,
  matmulPeakOrt,
  peakAfterRounds,
} from './peak.js';
import { readFileSync } from 'node:fs';

const o = new Command('bench:vjp')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--arch <name>', 'graphs/<arch>/config.json', 'vit-b32')
  .option('--images <n>', 'images per VJP', (v) => Number(v), 64)
  .option('--reps <n>', 'timed VJPs per round', (v) => Number(v), 3)
  .option(
    '--warmup <n>',
    "untimed VJPs first in each round (they size ONNX Runtime's memory arenas)",
    (v) => Number(v),
    2,
  )
  .addOption(
    new Option('--vs <peer>', 'also run the PyTorch counterpart (apps/bench/torch/vjp.py), interleaved').choices([
      'torch',
    ]),
  )
  .option('--rounds <n>', 'rounds (with --vs: vlfer and PyTorch alternate which goes first)', (v) => Number(v), 1)
  .addOption(
    new Option(
      '--weights-in <where>',
      'CLIP weights as graph inputs fed every run, or stored in the graphs (default: graph; defaultWeightsIn)',
    ).choices(['inputs', 'graph']),
  )
  .option(
    '--threads <n>',
    'ONNX Runtime (and PyTorch) threads (default: VLFER_THREADS, else every CPU this process may use)',
    (v) => Number(v),
  )
  .option('--models-dir <dir>', 'where the random model goes', '.vlfer-cache/models')
  .option('--out <file>', 'results JSON', 'bench-results/vjp.json')
  .parse()
  .opts();
// a killed wrapper (pnpm), Ctrl-C or SIGTERM ends the benchmark and its PyTorch peer
installBenchStop('bench:vjp', o.out);

const config = join(o.shared, 'fixtures', 'graphs', o.arch, 'config.json');
const dir = writeRandomClip({
  configFile: config,
  tokenizerDir: join(o.shared, 'assets', 'clip-tokenizer'),
  outDir: join(o.modelsDir, `${o.arch}-hf-random`),
});
const threads: number = o.threads ?? defaultThreads();
// the machine's fp32 matmul peak at this thread count, in this run (the peer measures its own)
const ortPeak = await matmulPeakOrt({ threads });
const weightsIn = o.weightsIn ?? defaultWeightsIn('cpu');
const model = await ClipGradientModel.load(dir, { towers: ['vision'], weightsIn, intraOpNumThreads: threads });
const n = o.images;
const e = model.arch.vision.projectionDim;
const pixels = {
  dtype: 'float32' as const,
  data: Float32Array.from({ length: n * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.001)),
  dims: [n, 3, 224, 224] as [number, number, number, number],
};
const cotangent = {
  dtype: 'float32' as const,
  data: Float32Array.from({ length: n * e }, (_, i) => Math.cos(i * 0.01)),
  dims: [n, e] as [number, number],
};
/** One round: `warmup` untimed VJPs, then `reps` timed ones. @returns the timed seconds */
async function vlferRound(): Promise<number[]> {
  const times: number[] = [];
  for (let s = 0; s < o.warmup + o.reps; s++) {
    const t0 = performance.now();
    await model.visionVjp(pixels, cotangent);
    const dt = (performance.now() - t0) / 1000;
    if (s >= o.warmup) times.push(dt);
    process.stderr.write(`vlfer ${s < o.warmup ? 'warm-up' : 'VJP'} ${s + 1}: ${dt.toFixed(2)} s\n`);
  }
  return times;
}
async function torchRound() {
  const r = await runTorch('vjp', { config, images: n, reps: o.reps, warmup: o.warmup }, threads);
  process.stderr.write(`PyTorch ${r.torch}: ${(r.secondsPerVjp as number[]).map((t) => t.toFixed(2)).join(', ')} s\n`);
  return r;
}
const rounds = await interleaved(o.rounds, vlferRound, o.vs ? torchRound : undefined, (l) =>
  process.stderr.write(`${l}\n`),
);
await model.release();
const times = rounds.a.flat();
// ORT's peak timed again after the rounds: each engine's best measurement is the reference
const peak = await peakAfterRounds(cpus()[0]?.model ?? 'unknown', ortPeak, rounds.b);
const cfg = JSON.parse(readFileSync(config, 'utf8'));
// forward + VJP to the pixels: matmuls, compute-bound; its rate against the machine's peak
// vlfer's vision graphs run the last layer's query side for the class token only; PyTorch the whole layer (towerFlops)
const flops = forwardVjpFlops(cfg.vision_config, cfg.projection_dim, n, { clsOnlyLastLayer: true });
const torchFlops = forwardVjpFlops(cfg.vision_config, cfg.projection_dim, n);
const result = {
  arch: o.arch,
  images: n,
  weightsIn,
  threads,
  warmup: o.warmup,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  secondsPerVjp: times,
  roundMedians: rounds.a.map(median),
  medianSeconds: median(times),
  flops,
  fractionOfPeak: fractionOfPeak(flops, median(times), peak.reference.gflops),
};
const torch = o.vs
  ? (() => {
      const all = rounds.b.flatMap((r) => r.secondsPerVjp as number[]);
      const t = {
        ...torchPeerSetting(rounds.b[0]!),
        peakRssBytes: Math.max(...rounds.b.map((r) => r.peakRssBytes as number)),
        secondsPerVjp: all,
        roundMedians: rounds.b.map((r) => median(r.secondsPerVjp as number[])),
        medianSeconds: median(all),
        flops: torchFlops,
        fractionOfPeak: fractionOfPeak(torchFlops, median(all), peak.reference.gflops),
      };
      return {
        ...t,
        ratio: { speed: t.medianSeconds / result.medianSeconds, peakMemory: result.peakRssBytes / t.peakRssBytes },
      };
    })()
  : undefined;
writeJsonAtomic(o.out, {
  benchmark: 'vjp',
  cpu: peak.cpu,
  cpuCores: cpus().length,
  environment: benchEnvironment(),
  matmulPeak: peak,
  result,
  ...(torch ? { torch } : {}),
});
const gib = (b: number) => (b / 2 ** 30).toFixed(2);
process.stdout.write(
  `${o.arch} vision forward + VJP to the pixels, ${n} images, ${threads} threads, weights as ${weightsIn}: ${result.medianSeconds.toFixed(2)} s (after ${o.warmup} warm-up: ${times.map((t) => t.toFixed(2)).join(', ')}; peak RSS ${gib(result.peakRssBytes)} GiB)\n`,
);
if (torch)
  process.stdout.write(
    `PyTorch ${torch.version}, ${torch.threads} threads: ${torch.medianSeconds.toFixed(2)} s (${torch.secondsPerVjp.map((t) => t.toFixed(2)).join(', ')}; peak RSS ${gib(torch.peakRssBytes)} GiB)\nvlfer ÷ PyTorch: ${torch.ratio.speed.toFixed(2)}× the speed, ${torch.ratio.peakMemory.toFixed(2)}× the peak memory\n`,
  );
process.stdout.write(`${describePeak(peak)}\n${describeMatmulRates(result.fractionOfPeak, torch?.fractionOfPeak)}\n`);
