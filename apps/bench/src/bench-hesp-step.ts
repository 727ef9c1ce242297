#!/usr/bin/env node
/**
 * @file pnpm bench:hesp-step — time of HESP training steps at ViT-B/32 size (random weights; speed does not
 * depend on values): `clips` × `frames` images through the vision forward + VJP graphs, K prompts through the text
 * graphs, K negative prompt images. Writes JSON.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { writeJsonAtomic } from '@vlfer/core/node';
import { HespModel } from '@vlfer/open-set/node';
import { benchEnvironment } from './encode-bench.js';
import { writeRandomClip } from './random-clip.js';

const o = new Command('bench:hesp-step')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--arch <name>', 'graphs/<arch>/config.json', 'vit-b32')
  .option('--clips <n>', 'clips per batch', (v) => Number(v), 64)
  .option('--frames <n>', 'frames per clip', (v) => Number(v), 8)
  .option('--classes <n>', 'known classes K', (v) => Number(v), 5)
  .option('--steps <n>', 'timed steps', (v) => Number(v), 2)
  .addOption(new Option('--device <device>').choices(['cpu', 'webgpu']).default('cpu'))
  .addOption(new Option('--weights-in <where>', "CLIP weights as graph inputs fed every run, or stored in the graphs (default graph)").choices(['inputs', 'graph']))
  .option('--models-dir <dir>', 'where the random model goes', '.vlfer-cache/models')
  .option('--out <file>', 'results JSON', 'bench-results/hesp-step.json')
  .parse()
  .opts();

const dir = writeRandomClip({ configFile: join(o.shared, 'fixtures', 'graphs', o.arch, 'config.json'), tokenizerDir: join(o.shared, 'assets', 'clip-tokenizer'), outDir: join(o.modelsDir, `${o.arch}-hf-random`) });
const texts = ['Angry', 'Disgust', 'Fear', 'Happy', 'Neutral', 'Sad', 'Surprise', 'Contempt', 'Anxiety', 'Helplessness', 'Disappointment'].slice(0, o.classes);
const t0 = performance.now();
const model = await HespModel.create(dir, { classTexts: texts, seed: 0, device: o.device, ...(o.weightsIn ? { weightsIn: o.weightsIn } : {}) });
const loadSeconds = (performance.now() - t0) / 1000;
const weightsIn = o.weightsIn ?? 'graph';
const n = o.clips * o.frames;
const frames = { dtype: 'float32' as const, data: Float32Array.from({ length: n * 3 * 224 * 224 }, (_, i) => 0.5 + 0.3 * Math.sin(i * 0.001)), dims: [n, 3, 224, 224] as [number, number, number, number] };
const labels = Array.from({ length: o.clips }, (_, i) => i % o.classes);
const times: number[] = [];
for (let s = 0; s < o.steps; s++) {
  const t0 = performance.now();
  const l = await model.step(frames, o.frames, labels);
  times.push((performance.now() - t0) / 1000);
  process.stderr.write(`step ${s + 1}: ${times.at(-1)!.toFixed(1)} s (loss ${l.total.toFixed(3)})\n`);
}
await model.release();
const result = { arch: o.arch, clips: o.clips, frames: o.frames, images: n, classes: o.classes, device: o.device, weightsIn, loadSeconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, secondsPerStep: times, medianSeconds: [...times].sort((a, b) => a - b)[times.length >> 1] };
writeJsonAtomic(o.out, { benchmark: 'hesp-step', cpuCores: cpus().length, environment: benchEnvironment(), result });
process.stdout.write(`${o.arch}, ${o.clips} clips × ${o.frames} frames, K=${o.classes}, ${o.device}, weights as ${weightsIn}: ${result.medianSeconds!.toFixed(1)} s per step (steps: ${times.map((t) => t.toFixed(1)).join(', ')}; load ${loadSeconds.toFixed(1)} s, peak RSS ${(result.peakRssBytes / 2 ** 30).toFixed(1)} GiB)\n`);
