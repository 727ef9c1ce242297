import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { createRng, hashBytes, readSafetensors, writeFileAtomic, writeJsonAtomic, writeSafetensors, type Tensor2D } from '@vlfer/core';
import { listImages } from '@vlfer/datasets';
import { encodeImages, FeatureCache, loadClip } from '@vlfer/encoders';
import { computeTargets, httpTeacher, importedTeacher, type Teacher } from '@vlfer/llm-knowledge';
import { createAdam, createSgd, InfoNceGraph, type Optimizer } from '@vlfer/losses';
import { createProjectionHead, ProjectionHead, saveProjectionHead, EXP_CLIP_HEAD_DIM } from '@vlfer/projection-head';
import { resolveModelKey } from './config.js';
import { createProgress } from './progress.js';
import { runEnvironment } from './run-env.js';

export const TrainConfigSchema = z.object({
  /** Directory of unlabelled face images (searched recursively; class folders are ignored). */
  unlabelled: z.string().min(1),
  model: z.string().min(1),
  /** `import` (precomputed targets file) or `http` (OpenAI-compatible embeddings server). */
  teacher: z.enum(['import', 'http']),
  /** import: the targets file (.npy/.safetensors/.jsonl); http: the server base URL. */
  teacherSource: z.string().min(1),
  /** import: keys file for .npy; http: the model name. */
  teacherKeys: z.string().optional(),
  teacherModel: z.string().optional(),
  instruction: z.string().default('exp-clip'),
  epochs: z.number().int().positive().default(5),
  batch: z.number().int().positive().default(512),
  lr: z.number().positive().default(1e-3),
  optimizer: z.enum(['sgd', 'adam']).default('sgd'),
  momentum: z.number().min(0).default(0.9),
  weightDecay: z.number().min(0).default(1e-4),
  seed: z.number().int().default(1),
  scale: z.number().positive().default(100),
  outputDim: z.number().int().positive().default(EXP_CLIP_HEAD_DIM),
  preprocess: z.enum(['clip', 'exp-clip']).default('exp-clip'),
  resizer: z.enum(['pil', 'sharp']).default('pil'),
  dtype: z.enum(['fp32', 'fp16', 'q8']).default('fp32'),
  device: z.enum(['cpu', 'webgpu']).default('cpu'),
  encodeBatchSize: z.number().int().positive().default(32),
  cacheDir: z.string().optional(),
  out: z.string().min(1),
  progress: z.boolean().default(true),
});
export type TrainConfig = z.infer<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

export interface StepLog {
  epoch: number;
  step: number;
  globalStep: number;
  loss: number;
  /** In-batch image→target top-1 retrieval accuracy (the reference log's "accuracy"). */
  accuracy: number;
  lr: number;
  seconds: number;
}

export interface TrainLoopOptions {
  /** [N, D] frozen CLIP image features. */
  features: Tensor2D;
  /** [N, E] teacher targets. */
  targets: Tensor2D;
  head: ProjectionHead;
  epochs: number;
  batch: number;
  lr: number;
  optimizer: 'sgd' | 'adam';
  momentum: number;
  weightDecay: number;
  seed: number;
  scale?: number;
  /** Where the loss graph runs. @default 'cpu' */
  device?: 'cpu' | 'webgpu';
  /** Resume point and optimiser state. */
  start?: { epoch: number; step: number; optimizerState?: ReturnType<Optimizer['state']> };
  onStep?: (log: StepLog) => void;
  /** Called at the end of each epoch and when stopping early, with what a checkpoint needs. */
  onCheckpoint?: (at: { epoch: number; step: number; optimizerState: ReturnType<Optimizer['state']> }) => void;
  /** Polled after every step; true stops after writing a checkpoint. */
  shouldStop?: () => boolean;
}

/**
 * Exp-CLIP head training (`train.py`): each epoch a seeded shuffle (seed, epoch) of the N pairs, batches of
 * `batch` with the last partial batch dropped (drop_last), symmetric InfoNCE with scale 100 on ORT,
 * SGD(momentum, weight decay) or Adam in PyTorch semantics. Deterministic: a resumed run equals an
 * uninterrupted one.
 * @returns 'completed' or 'stopped'
 */
export async function trainProjectionHead(options: TrainLoopOptions): Promise<'completed' | 'stopped'> {
  const { features, targets, head, epochs, batch } = options;
  const [n, d] = features.dims;
  const e = targets.dims[1];
  if (targets.dims[0] !== n) throw new Error(`features have ${n} rows but targets ${targets.dims[0]}`);
  if (d !== head.inputDim || e !== head.outputDim) throw new Error(`head is ${head.inputDim}→${head.outputDim} but features are ${d}-d and targets ${e}-d`);
  const steps = Math.floor(n / batch);
  if (steps === 0) throw new Error(`--batch ${batch} is larger than the ${n} training images (the last partial batch is dropped, as in the reference)`);
  const params = { weight: head.weight };
  const opt = options.optimizer === 'sgd'
    ? createSgd(params, { lr: options.lr, momentum: options.momentum, weightDecay: options.weightDecay })
    : createAdam(params, { lr: options.lr, weightDecay: options.weightDecay });
  if (options.start?.optimizerState) opt.loadState(options.start.optimizerState);
  const graph = await InfoNceGraph.create({ device: options.device ?? 'cpu' });
  const xb = new Float32Array(batch * d);
  const tb = new Float32Array(batch * e);
  const X: Tensor2D = { dtype: 'float32', data: xb, dims: [batch, d] };
  const T: Tensor2D = { dtype: 'float32', data: tb, dims: [batch, e] };
  const t0 = performance.now();
  try {
    for (let epoch = options.start?.epoch ?? 0; epoch < epochs; epoch++) {
      const order = createRng(options.seed * 1_000_003 + epoch).shuffled(Array.from({ length: n }, (_, i) => i));
      const first = epoch === (options.start?.epoch ?? 0) ? (options.start?.step ?? 0) : 0;
      for (let step = first; step < steps; step++) {
        for (let r = 0; r < batch; r++) {
          const i = order[step * batch + r]!;
          xb.set(features.data.subarray(i * d, (i + 1) * d), r * d);
          tb.set(targets.data.subarray(i * e, (i + 1) * e), r * e);
        }
        const res = await graph.run({ features: X, weight: head.weightTensor, targets: T, scale: options.scale ?? 100 });
        if (!Number.isFinite(res.loss)) throw new Error(`loss became ${res.loss} at epoch ${epoch}, step ${step}; lower the learning rate`);
        opt.step({ weight: res.gradWeight });
        options.onStep?.({ epoch, step, globalStep: epoch * steps + step, loss: res.loss, accuracy: res.correct / batch, lr: options.lr, seconds: (performance.now() - t0) / 1000 });
        const stop = options.shouldStop?.() ?? false;
        const next = step + 1 === steps ? { epoch: epoch + 1, step: 0 } : { epoch, step: step + 1 };
        if (next.step === 0 || stop) options.onCheckpoint?.({ ...next, optimizerState: opt.state() });
        if (stop && next.epoch < epochs) return 'stopped';
      }
    }
  } finally {
    await graph.release();
  }
  return 'completed';
}

function resolveTeacher(cfg: TrainConfig): Teacher {
  if (cfg.teacher === 'import') return importedTeacher({ file: cfg.teacherSource, ...(cfg.teacherKeys ? { keys: cfg.teacherKeys } : {}) });
  if (!cfg.teacherModel) throw new Error('--teacher-model is required with --teacher http');
  return httpTeacher({ baseUrl: cfg.teacherSource, model: cfg.teacherModel });
}

/** Fields that change the trained weights: a checkpoint resumes only when these match. */
function trainingKey(cfg: TrainConfig, modelKey: string): string {
  const { unlabelled, teacher, teacherSource, teacherKeys, teacherModel, instruction, batch, lr, optimizer, momentum, weightDecay, seed, scale, outputDim, preprocess, resizer, dtype } = cfg;
  return hashBytes(JSON.stringify({ unlabelled: resolve(unlabelled), modelKey, teacher, teacherSource: resolve(teacherSource), teacherKeys, teacherModel, instruction, batch, lr, optimizer, momentum, weightDecay, seed, scale, outputDim, preprocess, resizer, dtype }));
}

export interface TrainResult {
  status: 'completed' | 'stopped';
  outDir: string;
  headPath: string;
  steps: number;
  firstLoss: number | null;
  lastLoss: number | null;
  resumedFrom: { epoch: number; step: number } | null;
}

/**
 * `exp-clip train`: encode the unlabelled images (cached), get teacher targets (cached), train the head,
 * write head.safetensors, train-log.jsonl, config.resolved.json and checkpoint.safetensors to `out`.
 * Rerunning the same command resumes from the last checkpoint.
 */
export async function runTrain(input: TrainConfigInput, hooks: { log?: (line: string) => void; shouldStop?: () => boolean } = {}): Promise<TrainResult> {
  const parsed = TrainConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`Invalid exp-clip train options:\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}`);
  const cfg = parsed.data;
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const outDir = resolve(cfg.out);
  const modelKey = resolveModelKey(cfg.model);
  const key = trainingKey(cfg, modelKey);
  const ckptPath = join(outDir, 'checkpoint.safetensors');
  const logPath = join(outDir, 'train-log.jsonl');
  const headPath = join(outDir, 'head.safetensors');
  // the checkpoint is checked before any encoding: other options fail at once, and a finished run returns at once
  const ck = existsSync(ckptPath) ? readSafetensors(ckptPath) : undefined;
  if (ck && ck.metadata.training_key !== key) throw new Error(`${ckptPath} was written by a run with different training options; use another --out or delete it`);
  if (ck && Number(ck.metadata.epoch) >= cfg.epochs && Number(ck.metadata.step) === 0 && existsSync(headPath)) {
    log(`${outDir}: already trained (${ck.metadata.epoch} epochs); head in ${headPath}`);
    return { status: 'completed', outDir, headPath, steps: 0, firstLoss: null, lastLoss: null, resumedFrom: { epoch: Number(ck.metadata.epoch), step: 0 } };
  }
  const { paths, skipped } = listImages(cfg.unlabelled);
  log(`${paths.length} unlabelled images under ${cfg.unlabelled}${skipped ? ` (${skipped} non-image files ignored)` : ''}`);

  const clip = await loadClip({ model: cfg.model, dtype: cfg.dtype, device: cfg.device, towers: ['vision'] });
  const cache = cfg.cacheDir ? new FeatureCache({ dir: join(cfg.cacheDir, 'features'), namespace: { modelId: modelKey, dtype: cfg.dtype, preprocess: `${cfg.preprocess}/${cfg.resizer}` } }) : undefined;
  const bar = createProgress(cfg.progress, 'encode');
  const features = await encodeImages({ model: clip, items: paths, mode: cfg.preprocess, resizer: cfg.resizer, batchSize: cfg.encodeBatchSize, ...(cache ? { cache } : {}), onProgress: (a, b) => bar.update(a, b) }).finally(() => bar.stop());
  await clip.dispose();
  const tbar = createProgress(cfg.progress, 'targets');
  const targets = await computeTargets({ teacher: resolveTeacher(cfg), images: paths, instructionId: cfg.instruction, expectDim: cfg.outputDim, ...(cfg.cacheDir ? { cacheDir: join(cfg.cacheDir, 'targets') } : {}), onProgress: (a, b) => tbar.update(a, b) }).finally(() => tbar.stop());

  let head = createProjectionHead({ inputDim: clip.embeddingDim, outputDim: cfg.outputDim, rng: createRng(cfg.seed) });
  let start: TrainLoopOptions['start'];
  let resumedFrom: TrainResult['resumedFrom'] = null;
  if (ck) {
    const w = ck.tensors.weight!;
    head = new ProjectionHead({ inputDim: w.dims[1]!, outputDim: w.dims[0]!, weight: w.data });
    const buffers = Object.fromEntries(Object.entries(ck.tensors).filter(([k]) => k.startsWith('opt.')).map(([k, v]) => [k.slice(4), v.data]));
    start = { epoch: Number(ck.metadata.epoch), step: Number(ck.metadata.step), optimizerState: { step: Number(ck.metadata.optimizer_step), buffers } };
    resumedFrom = { epoch: start.epoch, step: start.step };
    log(`resuming from ${ckptPath}: epoch ${start.epoch}, step ${start.step}`);
    const steps = Math.floor(paths.length / cfg.batch);
    const done = start.epoch * steps + start.step;
    const kept = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').filter((l) => l && (JSON.parse(l) as StepLog).globalStep < done) : [];
    writeFileAtomic(logPath, kept.map((l) => `${l}\n`).join(''));
  } else {
    writeFileAtomic(logPath, '');
  }
  writeJsonAtomic(join(outDir, 'config.resolved.json'), { ...cfg, trainingKey: key, images: paths.length, embeddingDim: head.inputDim, environment: runEnvironment() });
  const meta = { encoder: modelKey, input_dim: String(head.inputDim), output_dim: String(head.outputDim), training_config: JSON.stringify({ ...cfg, progress: undefined }) };

  let firstLoss: number | null = null;
  let lastLoss: number | null = null;
  let steps = 0;
  const stepsPerEpoch = Math.floor(paths.length / cfg.batch);
  const status = await trainProjectionHead({
    features, targets, head, epochs: cfg.epochs, batch: cfg.batch, lr: cfg.lr, optimizer: cfg.optimizer, momentum: cfg.momentum, weightDecay: cfg.weightDecay, seed: cfg.seed, scale: cfg.scale, device: cfg.device,
    ...(start ? { start } : {}),
    onStep: (s) => {
      appendFileSync(logPath, `${JSON.stringify(s)}\n`);
      firstLoss ??= s.loss;
      lastLoss = s.loss;
      steps++;
      if (cfg.progress && (s.step === stepsPerEpoch - 1 || s.globalStep % 10 === 0)) log(`epoch ${s.epoch + 1}/${cfg.epochs} step ${s.step + 1}/${stepsPerEpoch} loss ${s.loss.toFixed(4)} acc ${(100 * s.accuracy).toFixed(2)}%`);
    },
    onCheckpoint: (at) => {
      const tensors: Record<string, { dims: number[]; data: Float32Array }> = { weight: { dims: [head.outputDim, head.inputDim], data: head.weight } };
      for (const [k, v] of Object.entries(at.optimizerState.buffers)) tensors[`opt.${k}`] = { dims: [v.length], data: v };
      writeSafetensors(ckptPath, tensors, { training_key: key, epoch: String(at.epoch), step: String(at.step), optimizer_step: String(at.optimizerState.step) });
      saveProjectionHead(headPath, head, { ...meta, epochs_completed: String(at.epoch), step_in_epoch: String(at.step) });
    },
    ...(hooks.shouldStop ? { shouldStop: hooks.shouldStop } : {}),
  });
  await head.dispose();
  return { status, outDir, headPath, steps, firstLoss, lastLoss, resumedFrom };
}
