#!/usr/bin/env node
/**
 * @file pnpm bench:train-head — Exp-CLIP head training speed: `epochs` over N cached (feature, target) pairs
 * (synthetic, seeded: speed does not depend on values) through the app's own training loop
 * (ORT InfoNCE loss+gradient graph + PyTorch-semantics SGD). Writes JSON.
 */
import { cpus } from 'node:os';
import { Command } from 'commander';
import { createRng } from '@vlfer/core';
import { writeJsonAtomic } from '@vlfer/core/node';
import { trainProjectionHead } from '@vlfer/exp-clip';
import { createProjectionHead } from '@vlfer/projection-head';
import { benchEnvironment } from './encode-bench.js';

const o = new Command('bench:train-head')
  .option('--pairs <n>', 'cached pairs', (v) => Number(v), 49_152)
  .option('--dim <n>', 'feature dim (512 = B/32, B/16)', (v) => Number(v), 512)
  .option('--out-dim <n>', 'target dim', (v) => Number(v), 4096)
  .option('--batch <n>', 'batch size', (v) => Number(v), 512)
  .option('--epochs <n>', 'epochs', (v) => Number(v), 5)
  .option('--out <file>', 'results JSON', 'bench-results/train-head.json')
  .parse()
  .opts();

const rng = createRng(1);
const tGen = performance.now();
const features = Float32Array.from({ length: o.pairs * o.dim }, () => rng.next() - 0.5);
const targets = Float32Array.from({ length: o.pairs * o.outDim }, () => rng.next() - 0.5);
process.stderr.write(`generated ${o.pairs} pairs in ${((performance.now() - tGen) / 1000).toFixed(1)} s\n`);
const head = createProjectionHead({ inputDim: o.dim, outputDim: o.outDim, rng });
const losses: number[] = [];
const t0 = performance.now();
await trainProjectionHead({
  features: { dtype: 'float32', data: features, dims: [o.pairs, o.dim] },
  targets: { dtype: 'float32', data: targets, dims: [o.pairs, o.outDim] },
  head, epochs: o.epochs, batch: o.batch, lr: 1e-3, optimizer: 'sgd', momentum: 0.9, weightDecay: 1e-4, seed: 1,
  onStep: (s) => {
    losses.push(s.loss);
    if (s.step === 0) process.stderr.write(`epoch ${s.epoch + 1}: loss ${s.loss.toFixed(4)} at ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  },
});
const seconds = (performance.now() - t0) / 1000;
const steps = losses.length;
const row = { pairs: o.pairs, dim: o.dim, outDim: o.outDim, batch: o.batch, epochs: o.epochs, steps, seconds, msPerStep: (1000 * seconds) / steps, firstLoss: losses[0], lastLoss: losses.at(-1) };
writeJsonAtomic(o.out, { benchmark: 'train-head', cpuCores: cpus().length, environment: benchEnvironment(), result: row });
process.stdout.write(`${o.epochs} epochs, ${steps} steps of batch ${o.batch} (${o.dim}→${o.outDim}): ${seconds.toFixed(1)} s (${row.msPerStep.toFixed(1)} ms/step)\n`);
