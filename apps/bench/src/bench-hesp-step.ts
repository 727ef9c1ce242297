#!/usr/bin/env node
/**
 * @file pnpm bench:hesp-step — time of HESP training steps at ViT-B/32 size (random weights; speed does not
 * depend on values): `clips` × `frames` images through the vision forward (keeping residuals) and backward graphs,
 * K prompts through the text graphs, K negative prompt images; warm-up steps are not timed. `--vs torch` runs the
 * same step in PyTorch (`apps/bench/torch/hesp_step.py`) in alternating rounds and writes both, with the ratios;
 * PyTorch's load row loads the same model.safetensors (memory-mapped) and the same weights as a .pt
 * (`apps/bench/torch/load.py`). The step is reported as a fraction of the machine's fp32 matmul peak.
 */
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { defaultThreads, ensureDir, writeJsonAtomic } from '@vlfer/core/node';
import { defaultWeightsIn, freedMemoryStatus } from '@vlfer/encoders/node';
import { HespModel } from '@vlfer/open-set/node';
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
import { mkdirSync, readFileSync } from 'node:fs';
import { summariseOrtProfiles } from './ort-profile.js';

const o = new Command('bench:hesp-step')
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--arch <name>', 'graphs/<arch>/config.json', 'vit-b32')
  .option('--clips <n>', 'clips per batch', (v) => Number(v), 64)
  .option('--frames <n>', 'frames per clip', (v) => Number(v), 8)
  .option('--classes <n>', 'known classes K', (v) => Number(v), 5)
  .option('--steps <n>', 'timed steps per round', (v) => Number(v), 2)
  .option(
    '--warmup <n>',
    "untimed steps first in each round (the first two size ONNX Runtime's memory arenas)",
    (v) => Number(v),
    2,
  )
  .addOption(
    new Option('--vs <peer>', 'also run the PyTorch counterpart (apps/bench/torch/hesp_step.py), interleaved').choices([
      'torch',
    ]),
  )
  .option('--rounds <n>', 'rounds (with --vs: vlfer and PyTorch alternate which goes first)', (v) => Number(v), 1)
  .addOption(new Option('--device <device>').choices(['cpu', 'webgpu']).default('cpu'))
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
  .option(
    '--profile <prefix>',
    'ONNX Runtime session profiles to <prefix>-<session>_<time>.json, and a per-op-type summary of the timed steps (profiling slows the step)',
  )
  .option(
    '--no-keep-freed-memory',
    "leave glibc's malloc as it is (the model keeps freed memory by default on a CPU: keepFreedMemory); for comparison",
  )
  .option(
    '--no-direct-runs',
    'run the vision gradient graphs through onnxruntime-node, which copies every output (on a CPU the model has ONNX Runtime write them in place through its C API by default: directRuns); for comparison',
  )
  .option('--models-dir <dir>', 'where the random model goes', '.vlfer-cache/models')
  .option('--out <file>', 'results JSON', 'bench-results/hesp-step.json')
  .parse()
  .opts();
// a killed wrapper (pnpm), Ctrl-C or SIGTERM ends the benchmark and its PyTorch peer
installBenchStop('bench:hesp-step', o.out);

if (o.profile) {
  // the summary leaves out the warm-up runs, which only a single round keeps in one place (the first runs)
  if (o.rounds !== 1) throw new Error(`--profile needs --rounds 1 (got --rounds ${o.rounds})`);
  ensureDir(dirname(o.profile));
}
const dir = writeRandomClip({
  configFile: join(o.shared, 'fixtures', 'graphs', o.arch, 'config.json'),
  tokenizerDir: join(o.shared, 'assets', 'clip-tokenizer'),
  outDir: join(o.modelsDir, `${o.arch}-hf-random`),
});
const texts = [
  'Angry',
  'Disgust',
  'Fear',
  'Happy',
  'Neutral',
  'Sad',
  'Surprise',
  'Contempt',
  'Anxiety',
  'Helplessness',
  'Disappointment',
].slice(0, o.classes);
const threads: number = o.threads ?? defaultThreads();
/** Seconds as printed: a GPU step takes a fraction of a second. */
const secs = (t: number) => t.toFixed(o.device === 'cpu' ? 1 : 3);
// the machine's fp32 matmul peak at this thread count, in this run (the peer measures its own)
const ortPeak = await matmulPeakOrt({ threads });
const checkpoint = join(dir, 'model.safetensors');
const t0 = performance.now();
const model = await HespModel.create(dir, {
  classTexts: texts,
  seed: 0,
  device: o.device,
  intraOpNumThreads: threads,
  ...(o.weightsIn ? { weightsIn: o.weightsIn } : {}),
  ...(o.profile ? { profile: o.profile } : {}),
  keepFreedMemory: o.keepFreedMemory as boolean,
  ...(o.directRuns === false ? { directRuns: false } : {}),
  // the model's notices, such as why its vision runs fall back to onnxruntime-node's copies
  log: (line: string) => process.stderr.write(`${line}\n`),
});
const loadSeconds = (performance.now() - t0) / 1000;
const weightsIn = o.weightsIn ?? defaultWeightsIn(o.device);
const n = o.clips * o.frames;
const frames = {
  dtype: 'float32' as const,
  data: Float32Array.from({ length: n * 3 * 224 * 224 }, (_, i) => 0.5 + 0.3 * Math.sin(i * 0.001)),
  dims: [n, 3, 224, 224] as [number, number, number, number],
};
const labels = Array.from({ length: o.clips }, (_, i) => i % o.classes);
/** One round: `warmup` untimed steps, then `steps` timed ones. @returns the timed seconds */
async function vlferRound(): Promise<number[]> {
  const times: number[] = [];
  for (let s = 0; s < o.warmup + o.steps; s++) {
    const t0 = performance.now();
    const l = await model.step(frames, o.frames, labels);
    const dt = (performance.now() - t0) / 1000;
    if (s >= o.warmup) times.push(dt);
    process.stderr.write(
      `vlfer ${s < o.warmup ? 'warm-up' : 'step'} ${s + 1}: ${secs(dt)} s (loss ${l.total.toFixed(3)})\n`,
    );
  }
  return times;
}
async function torchRound() {
  const r = await runTorch(
    'hesp_step',
    {
      config: join(o.shared, 'fixtures', 'graphs', o.arch, 'config.json'),
      checkpoint,
      clips: o.clips,
      frames: o.frames,
      classes: o.classes,
      steps: o.steps,
      warmup: o.warmup,
      'n-ctx': 16,
      patch: 56,
    },
    threads,
  );
  // the load row: the same checkpoint file, memory-mapped, and as a .pt, in a process of its own
  const load = await runTorch(
    'load',
    { config: join(dir, 'config.json'), checkpoint, pt: join(dir, 'model.pt') },
    threads,
  );
  r.load = load;
  process.stderr.write(
    `PyTorch load of ${checkpoint}: ${(load.safetensorsSeconds as number).toFixed(3)} s memory-mapped, ${(load.ptSeconds as number).toFixed(2)} s from the .pt\n`,
  );
  process.stderr.write(
    `PyTorch ${r.torch}: steps ${(r.secondsPerStep as number[]).map((t) => t.toFixed(1)).join(', ')} s (load ${(r.loadSeconds as number).toFixed(1)} s)\n`,
  );
  return r;
}
/** With --profile (one round): the sessions' profiles written, summarised over the timed steps, printed and returned. */
async function profileSummary(prefix: string, timed: number[]) {
  await model.clip.endProfiling();
  const sessions = summariseOrtProfiles(prefix, o.warmup / (o.warmup + o.steps));
  const stepMs = (timed.reduce((a, b) => a + b, 0) * 1000) / timed.length;
  const ortMs = Object.values(sessions).reduce((a, s) => a + s.runMs, 0) / timed.length;
  const ops = new Map<string, number>();
  for (const s of Object.values(sessions)) for (const r of s.byOp) ops.set(r.op, (ops.get(r.op) ?? 0) + r.ms);
  const byOp = [...ops].sort((a, b) => b[1] - a[1]).map(([op, ms]) => ({ op, msPerStep: ms / timed.length }));
  const lines = [
    `profile (${timed.length} timed steps): ${stepMs.toFixed(0)} ms per step, ${ortMs.toFixed(0)} ms in ONNX Runtime runs, ${(stepMs - ortMs).toFixed(0)} ms outside (JS, feeds, copies)`,
    ...Object.entries(sessions).map(
      ([n, s]) =>
        `  session ${n}: ${(s.runMs / timed.length).toFixed(0)} ms per step (kernels ${(s.kernelMs / timed.length).toFixed(0)}: ${s.byProvider.map((p) => `${p.provider} ${(p.ms / timed.length).toFixed(0)} ms in ${Math.round(p.count / timed.length)} nodes`).join(', ')})`,
    ),
    ...byOp.map(
      (r) => `  ${r.op}: ${r.msPerStep.toFixed(0)} ms per step (${((100 * r.msPerStep) / stepMs).toFixed(1)} %)`,
    ),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
  return { stepMs, ortMs, sessions, byOp };
}
const rounds = await interleaved(o.rounds, vlferRound, o.vs ? torchRound : undefined, (l) =>
  process.stderr.write(`${l}\n`),
);
const times = rounds.a.flat();
const profile = o.profile ? await profileSummary(o.profile, times) : undefined;
await model.release();
// ORT's peak timed again after the rounds: each engine's best measurement is the reference
const peak = await peakAfterRounds(cpus()[0]?.model ?? 'unknown', ortPeak, rounds.b);
const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
// matmul FLOPs of a step: the clips' frames and the K negative images through the vision tower and back to the
// pixels, the K prompts through the text tower and back to the context (weights frozen in both). vlfer's vision graphs
// run the last layer's query side for the class token only; the PyTorch peer runs the whole layer (towerFlops).
const stepFlopsOf = (clsOnlyLastLayer: boolean) =>
  forwardVjpFlops(cfg.vision_config, cfg.projection_dim, n + o.classes, { clsOnlyLastLayer }) +
  forwardVjpFlops(cfg.text_config, cfg.projection_dim, o.classes, { tokens: 77 });
const stepFlops = stepFlopsOf(true);
const torchStepFlops = stepFlopsOf(false);
const result = {
  arch: o.arch,
  clips: o.clips,
  frames: o.frames,
  images: n,
  classes: o.classes,
  device: o.device,
  weightsIn,
  threads,
  // whether the vision gradient runs wrote their outputs in place (ONNX Runtime's C API) or onnxruntime-node copied them
  directRuns: model.clip.directRuns,
  warmupSteps: o.warmup,
  checkpoint,
  loadSeconds,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  secondsPerStep: times,
  roundMedians: rounds.a.map(median),
  medianSeconds: median(times),
  flopsPerStep: stepFlops,
  // the peak is this machine's CPU fp32 GEMM rate: a fraction of it describes a CPU step only
  fractionOfPeak: o.device === 'cpu' ? fractionOfPeak(stepFlops, median(times), peak.reference.gflops) : null,
  ...(profile ? { profile } : {}),
};
const torch = o.vs
  ? (() => {
      const steps = rounds.b.flatMap((r) => r.secondsPerStep as number[]);
      const t = {
        ...torchPeerSetting(rounds.b[0]!),
        // the load row: load.py's memory-mapped .safetensors (the faster of the two), and the .pt beside it
        loadSeconds: median(rounds.b.map((r) => r.load.safetensorsSeconds as number)),
        loadPtSeconds: median(rounds.b.map((r) => r.load.ptSeconds as number)),
        load: rounds.b.map((r) => r.load),
        stepLoadSeconds: median(rounds.b.map((r) => r.loadSeconds as number)),
        peakRssBytes: Math.max(...rounds.b.map((r) => r.peakRssBytes as number)),
        secondsPerStep: steps,
        roundMedians: rounds.b.map((r) => median(r.secondsPerStep as number[])),
        medianSeconds: median(steps),
        flopsPerStep: torchStepFlops,
        fractionOfPeak: fractionOfPeak(torchStepFlops, median(steps), peak.reference.gflops),
      };
      return {
        ...t,
        ratio: {
          speed: t.medianSeconds / result.medianSeconds,
          load: result.loadSeconds / t.loadSeconds,
          peakMemory: result.peakRssBytes / t.peakRssBytes,
        },
      };
    })()
  : undefined;
writeJsonAtomic(o.out, {
  benchmark: 'hesp-step',
  cpu: peak.cpu,
  cpuCores: cpus().length,
  environment: benchEnvironment(),
  matmulPeak: peak,
  result,
  ...(torch ? { torch } : {}),
});
const gib = (b: number) => (b / 2 ** 30).toFixed(2);
process.stdout.write(
  `${o.arch}, ${o.clips} clips × ${o.frames} frames, K=${o.classes}, ${o.device}, ${threads} threads, weights as ${weightsIn}: ${secs(result.medianSeconds)} s per step (steps after ${o.warmup} warm-up: ${times.map(secs).join(', ')}; load ${loadSeconds.toFixed(1)} s, peak RSS ${gib(result.peakRssBytes)} GiB)\n`,
);
const freed = freedMemoryStatus();
process.stdout.write(
  `vision residuals: ${model.clip.directRuns ? "written in place by ONNX Runtime's C API (directRuns)" : `copied by onnxruntime-node (${o.directRuns === false ? '--no-direct-runs' : o.device === 'cpu' ? 'the reason was printed at load' : 'not a CPU run'})`}\n`,
);
process.stdout.write(
  `glibc malloc: ${freed?.kept ? 'freed memory kept (keepFreedMemory)' : `left as it is (${freed?.reason ?? (o.device === 'cpu' ? '--no-keep-freed-memory' : 'not a CPU run')})`}\n`,
);
if (torch)
  process.stdout.write(
    `PyTorch ${torch.version}, ${torch.threads} threads: ${torch.medianSeconds.toFixed(1)} s per step (steps: ${torch.secondsPerStep.map((t) => t.toFixed(1)).join(', ')}; load ${torch.loadSeconds.toFixed(3)} s memory-mapped, ${torch.loadPtSeconds.toFixed(2)} s from the .pt, peak RSS ${gib(torch.peakRssBytes)} GiB)\nvlfer ÷ PyTorch: ${torch.ratio.speed.toFixed(2)}× the speed, ${torch.ratio.load.toFixed(2)}× the load time, ${torch.ratio.peakMemory.toFixed(2)}× the peak memory\n`,
  );
process.stdout.write(
  `${describePeak(peak)}\n${result.fractionOfPeak ? describeMatmulRates(result.fractionOfPeak, torch?.fractionOfPeak) : `matmul rate: not given for ${o.device} (the peak is the CPU's)`}\n`,
);
