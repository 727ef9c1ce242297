#!/usr/bin/env node
/**
 * @file pnpm bench:train-head — Exp-CLIP head training speed: `epochs` over N cached (feature, target) pairs
 * (synthetic, seeded: speed does not depend on values) through the app's own training loop
 * (one ORT graph per step: batch gather, InfoNCE loss + gradient and PyTorch-semantics SGD, `InfoNceSgdStep`). Writes JSON.
 */
import { cpus } from 'node:os';
import { Command, Option } from 'commander';
import { createRng } from '@vlfer/core';
import { defaultThreads, writeJsonAtomic } from '@vlfer/core/node';
import { trainProjectionHead } from '@vlfer/exp-clip';
import { createProjectionHead } from '@vlfer/projection-head';
import { installBenchStop } from './children.js';
import { benchEnvironment } from './environment.js';
import { interleaved, median, runTorch, torchPeerSetting } from './torch.js';
import {
  describeMatmulRates,
  describePeak,
  fractionOfPeak,
  headStepFlops,
  matmulPeakOrt,
  peakAfterRounds,
} from './peak.js';

const o = new Command('bench:train-head')
  .option('--pairs <n>', 'cached pairs', (v) => Number(v), 49_152)
  .option('--dim <n>', 'feature dim (512 = B/32, B/16)', (v) => Number(v), 512)
  .option('--out-dim <n>', 'target dim', (v) => Number(v), 4096)
  .option('--batch <n>', 'batch size', (v) => Number(v), 512)
  .option('--epochs <n>', 'epochs', (v) => Number(v), 5)
  .option('--out <file>', 'results JSON', 'bench-results/train-head.json')
  .option(
    '--threads <n>',
    'ONNX Runtime (and PyTorch) threads (default: VLFER_THREADS, else every CPU this process may use)',
    (v) => Number(v),
  )
  .addOption(
    new Option(
      '--vs <peer>',
      'also train the same head in PyTorch (apps/bench/torch/train_head.py), in alternating rounds',
    ).choices(['torch']),
  )
  .option('--rounds <n>', 'rounds (with --vs: vlfer and PyTorch alternate which goes first)', (v) => Number(v), 1)
  .parse()
  .opts();
// a killed wrapper (pnpm), Ctrl-C or SIGTERM ends the benchmark and its PyTorch peer
installBenchStop('bench:train-head', o.out);

const rng = createRng(1);
const tGen = performance.now();
const features = Float32Array.from({ length: o.pairs * o.dim }, () => rng.next() - 0.5);
const targets = Float32Array.from({ length: o.pairs * o.outDim }, () => rng.next() - 0.5);
process.stderr.write(`generated ${o.pairs} pairs in ${((performance.now() - tGen) / 1000).toFixed(1)} s\n`);
const threads: number = o.threads ?? defaultThreads();
// the machine's fp32 matmul peak at this thread count, in this run (the peer measures its own)
const ortPeak = await matmulPeakOrt({ threads });
/** One training run from the same initial head. @returns seconds and the losses */
async function vlferRun(): Promise<{ seconds: number; losses: number[] }> {
  const head = createProjectionHead({ inputDim: o.dim, outputDim: o.outDim, rng: createRng(2) });
  const losses: number[] = [];
  const t0 = performance.now();
  await trainProjectionHead({
    features: { dtype: 'float32', data: features, dims: [o.pairs, o.dim] },
    targets: { dtype: 'float32', data: targets, dims: [o.pairs, o.outDim] },
    head,
    epochs: o.epochs,
    batch: o.batch,
    lr: 1e-3,
    optimizer: 'sgd',
    momentum: 0.9,
    weightDecay: 1e-4,
    seed: 1,
    intraOpNumThreads: threads,
    onStep: (s) => {
      losses.push(s.loss);
      if (s.step === 0)
        process.stderr.write(
          `vlfer epoch ${s.epoch + 1}: loss ${s.loss.toFixed(4)} at ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
        );
    },
  });
  await head.dispose();
  return { seconds: (performance.now() - t0) / 1000, losses };
}
const torchRun = async () => {
  const r = await runTorch(
    'train_head',
    { pairs: o.pairs, dim: o.dim, 'out-dim': o.outDim, batch: o.batch, epochs: o.epochs },
    threads,
  );
  process.stderr.write(
    `PyTorch ${r.torch}: ${(r.seconds as number).toFixed(1)} s (${(r.msPerStep as number).toFixed(1)} ms/step)\n`,
  );
  return r;
};
const runs = await interleaved(o.rounds, vlferRun, o.vs ? torchRun : undefined, (l) => process.stderr.write(`${l}\n`));
const losses = runs.a.at(-1)!.losses;
const seconds = median(runs.a.map((r) => r.seconds));

const steps = losses.length;
const row = {
  pairs: o.pairs,
  dim: o.dim,
  outDim: o.outDim,
  batch: o.batch,
  epochs: o.epochs,
  threads,
  steps,
  seconds,
  runs: runs.a.map((r) => r.seconds),
  msPerStep: (1000 * seconds) / steps,
  firstLoss: losses[0],
  lastLoss: losses.at(-1),
};
// ORT's peak timed again after the runs: each engine's best measurement is the reference
const peak = await peakAfterRounds(cpus()[0]?.model ?? 'unknown', ortPeak, runs.b);
// the head step is a few large matmuls: its rate against the machine's peak
const stepFlops = headStepFlops(o.batch, o.dim, o.outDim);
const vlferFraction = fractionOfPeak(stepFlops * steps, seconds, peak.reference.gflops);
const torch = o.vs
  ? {
      ...torchPeerSetting(runs.b[0]!),
      seconds: median(runs.b.map((r) => r.seconds as number)),
      runs: runs.b.map((r) => r.seconds as number),
      msPerStep: median(runs.b.map((r) => r.msPerStep as number)),
      fractionOfPeak: fractionOfPeak(
        stepFlops * steps,
        median(runs.b.map((r) => r.seconds as number)),
        peak.reference.gflops,
      ),
    }
  : undefined;
writeJsonAtomic(o.out, {
  benchmark: 'train-head',
  cpu: peak.cpu,
  cpuCores: cpus().length,
  environment: benchEnvironment(),
  matmulPeak: peak,
  result: { ...row, flopsPerStep: stepFlops, fractionOfPeak: vlferFraction },
  ...(torch ? { torch: { ...torch, ratio: { speed: torch.seconds / seconds } } } : {}),
});
process.stdout.write(
  `${o.epochs} epochs, ${steps} steps of batch ${o.batch} (${o.dim}→${o.outDim}), ${threads} threads: ${seconds.toFixed(1)} s (${row.msPerStep.toFixed(1)} ms/step)${runs.a.length > 1 ? `, median of ${runs.a.map((r) => r.seconds.toFixed(1)).join(', ')}` : ''}\n`,
);
if (torch)
  process.stdout.write(
    `PyTorch ${torch.version}: ${torch.seconds.toFixed(1)} s (${torch.msPerStep.toFixed(1)} ms/step), median of ${torch.runs.map((s) => s.toFixed(1)).join(', ')}; vlfer ${(torch.seconds / seconds).toFixed(2)}× the speed\n`,
  );
process.stdout.write(`${describePeak(peak)}\n${describeMatmulRates(vlferFraction, torch?.fractionOfPeak)}\n`);
