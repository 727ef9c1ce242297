import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  checkHooks,
  AbortedError,
  assertShape,
  createRng,
  csvRow,
  checkFiniteNumber,
  checkPositiveInteger,
  checkpointProgress,
  describeChangedFields,
  epochsToContinue,
  inShard,
  laterCheckpointNote,
  throwIfAborted,
  type Shard,
  DataFormatError,
  InvalidArgumentError,
  parseOptions,
  refuseUnusedOptions,
  type ComputeDevice,
  type ProgressCallback,
  type Tensor2D,
  firstNonFinite,
  VlferError,
} from '@vlfer/core';
import {
  jsonLinesText,
  appendLine,
  checkRunKind,
  ensureDir,
  FeatureCache,
  hashBytes,
  hashFile,
  loadCommandCheckpoint,
  provenance,
  readJsonLines,
  RUN_WORK_DIR,
  RunDirectory,
  readPublishedObject,
  saveCheckpoint,
  writeFileAtomic,
  writeJsonAtomic,
  type RunKind,
  type ThreadOptions,
} from '@vlfer/core/node';
import { checkRootDir, listImages } from '@vlfer/datasets/node';
import { checkClipModelPath, encodeImages, loadClip, runtimeVersions, type ClipModel } from '@vlfer/encoders/node';
import { constantTargetsWarning, type Teacher } from '@vlfer/llm-knowledge';
import { computeTargets, httpTeacher, importedTeacher, type TeacherCheck } from '@vlfer/llm-knowledge/node';
import { createOptimizer, multiStepLr, type OptimizerName, type Optimizer } from '@vlfer/losses';
import { InfoNceGraph, InfoNceSgdStep } from '@vlfer/losses/node';
import { createProjectionHead, encodeProjectionHead, ProjectionHead } from '@vlfer/projection-head';
import { createFaceCropper, type FaceCropper } from '@vlfer/faces/node';
import { clipFeatureNamespace, shardItemCount } from './eval-encode.js';
import type { PipelineHooks } from './evaluate.js';
import { TrainOptionsSchema, trainOptionUses, type TrainOptions, type TrainOptionsInput } from './options.js';
import { checkShardRecords, trainShardFields, writeShardRecord } from './shards.js';

export interface StepLog {
  /** 0-based, as train-log.jsonl records it (progress events' `detail.epoch` and the printed log count from 1). */
  epoch: number;
  /** 0-based within the epoch. */
  step: number;
  /** 0-based over the run. */
  globalStep: number;
  loss: number;
  /** In-batch image→target top-1 retrieval accuracy (the reference log's "accuracy"). */
  accuracy: number;
  lr: number;
}

export interface TrainLoopOptions extends ThreadOptions {
  /** [N, D] frozen CLIP image features. */
  features: Tensor2D;
  /** [N, E] teacher targets. */
  targets: Tensor2D;
  head: ProjectionHead;
  epochs: number;
  batch: number;
  /** The base learning rate (epochs before the first milestone). */
  lr: number;
  /**
   * Epochs (0-based) from which the learning rate is multiplied by 0.1 once more: PyTorch's `MultiStepLR` stepped
   * once per epoch (`multiStepLr`). @default [30] (Exp-CLIP's `runner.sh`: `--milestones 30`)
   */
  milestones?: readonly number[];
  optimizer: OptimizerName;
  momentum: number;
  weightDecay: number;
  seed: number;
  scale?: number;
  /** Where the loss graph runs. @default 'cpu' */
  device?: ComputeDevice;
  /** Resume point and optimiser state. */
  start?: { epoch: number; step: number; optimizerState?: ReturnType<Optimizer['state']> };
  onStep?: (log: StepLog) => void;
  /** Called at the end of each epoch, when `checkpointDue` says so, and when stopping early. */
  onCheckpoint?: (at: { epoch: number; step: number; optimizerState: ReturnType<Optimizer['state']> }) => void;
  /** Polled after every step: true asks for a mid-epoch checkpoint (e.g. every minute). */
  checkpointDue?: () => boolean;
  /** Checked after every step; when fired, a checkpoint is written and the loop returns 'stopped'. */
  signal?: AbortSignal;
}

/**
 * The inputs of {@link trainProjectionHead}, checked: features [N, D] and targets [N, E] have the same N, the head is
 * D→E, at least one full batch fits, and the settings are in the ranges `trainHead` takes (epochs ≥ 0 and batch ≥ 1
 * whole numbers, lr > 0, momentum in [0, 1], weight decay ≥ 0, an integer seed, a resume point inside the run).
 * @returns the steps per epoch, ⌊N / batch⌋
 * @throws InvalidArgumentError naming `targets`, `head`, `batch` or the setting
 */
export function trainLoopSteps(
  options: Pick<TrainLoopOptions, 'features' | 'targets' | 'head' | 'batch'> &
    Partial<Pick<TrainLoopOptions, 'epochs' | 'lr' | 'momentum' | 'weightDecay' | 'seed' | 'start'>>,
): number {
  const { features, targets, head, batch } = options;
  const [n, d] = features.dims;
  const e = targets.dims[1];
  const fn = 'trainProjectionHead';
  checkPositiveInteger(batch, { functionName: fn, argument: 'batch' });
  const at = (argument: string) => ({ functionName: fn, argument });
  if (options.epochs !== undefined) checkFiniteNumber(options.epochs, at('epochs'), { min: 0, integer: true });
  if (options.lr !== undefined) checkFiniteNumber(options.lr, at('lr'), { min: 0, minExclusive: true });
  if (options.momentum !== undefined) checkFiniteNumber(options.momentum, at('momentum'), { min: 0, max: 1 });
  if (options.weightDecay !== undefined) checkFiniteNumber(options.weightDecay, at('weightDecay'), { min: 0 });
  if (options.seed !== undefined) checkFiniteNumber(options.seed, at('seed'), { integer: true });
  if (options.start) {
    checkFiniteNumber(options.start.epoch, at('start.epoch'), { min: 0, integer: true });
    checkFiniteNumber(options.start.step, at('start.step'), { min: 0, integer: true });
  }
  if (targets.dims[0] !== n)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'targets',
      message: `has ${targets.dims[0]} rows, features have ${n}`,
    });
  if (d !== head.inputDim || e !== head.outputDim)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'head',
      message: `is ${head.inputDim}→${head.outputDim} but features are ${d}-d and targets ${e}-d`,
    });
  const steps = Math.floor(n / batch);
  if (steps === 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'batch',
      message: `${batch} is larger than the ${n} training images (the last partial batch is dropped, as in the reference)`,
    });
  return steps;
}

/** Reused batch buffers: `fill` copies the rows `order[step · batch …]` of features and targets into X [batch, D], T [batch, E]. */
function batchBuffers(features: Tensor2D, targets: Tensor2D, batch: number) {
  const d = features.dims[1];
  const e = targets.dims[1];
  const xb = new Float32Array(batch * d);
  const tb = new Float32Array(batch * e);
  return {
    X: { dtype: 'float32', data: xb, dims: [batch, d] } as Tensor2D,
    T: { dtype: 'float32', data: tb, dims: [batch, e] } as Tensor2D,
    fill(rows: readonly number[]): void {
      for (let r = 0; r < batch; r++) {
        const i = rows[r]!;
        xb.set(features.data.subarray(i * d, (i + 1) * d), r * d);
        tb.set(targets.data.subarray(i * e, (i + 1) * e), r * e);
      }
    },
  };
}

/** One training step's engine: the loss, gradient and update of a batch of rows, and the optimiser state. */
interface HeadStepper {
  /** Train on `rows`; a step whose loss is not finite leaves the weights as they were. */
  step(rows: readonly number[]): Promise<{ loss: number; correct: number }>;
  /** The learning rate of the next steps (the optimiser state is kept). */
  setLearningRate(lr: number): void;
  /** The optimiser state, with `head.weight` brought up to date first. */
  state(): ReturnType<Optimizer['state']>;
  /** Bring `head.weight` up to date and free the engine. */
  release(): Promise<void>;
}

/**
 * SGD on the CPU: the batch gather, loss, gradient and update run in one ONNX Runtime graph (`InfoNceSgdStep`);
 * otherwise (Adam, or another device) the InfoNCE graph gives the gradient and the optimiser runs in JS.
 */
async function createHeadStepper(options: TrainLoopOptions): Promise<HeadStepper> {
  const { features, targets, head, batch } = options;
  const threads = options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {};
  const scale = options.scale ?? 100;
  if (options.optimizer === 'sgd' && (options.device ?? 'cpu') === 'cpu') {
    const fused = await InfoNceSgdStep.create({
      features,
      targets,
      weight: head.weightTensor,
      lr: options.lr,
      momentum: options.momentum,
      weightDecay: options.weightDecay,
      scale,
      ...threads,
      ...(options.start?.optimizerState ? { state: options.start.optimizerState } : {}),
    });
    return {
      step: (rows) => fused.step(rows),
      setLearningRate: (lr) => fused.setLearningRate(lr),
      state: () => (fused.sync(), fused.state()),
      release: () => fused.release(),
    };
  }
  const opt = createOptimizer(
    options.optimizer,
    { weight: head.weight },
    { lr: options.lr, momentum: options.momentum, weightDecay: options.weightDecay },
  );
  if (options.start?.optimizerState) opt.loadState(options.start.optimizerState);
  const graph = await InfoNceGraph.create({ device: options.device ?? 'cpu', ...threads });
  const buffers = batchBuffers(features, targets, batch);
  return {
    async step(rows) {
      buffers.fill(rows);
      const res = await graph.run({ features: buffers.X, weight: head.weightTensor, targets: buffers.T, scale });
      if (Number.isFinite(res.loss)) opt.step({ weight: res.gradWeight });
      return res;
    },
    setLearningRate: (lr) => opt.setLearningRate(lr),
    state: () => opt.state(),
    release: () => graph.release(),
  };
}

/**
 * A finite loss can come with an update that overflowed the weights (a learning rate of 1e37): checked before any
 * checkpoint or the published head holds them (the next step's loss would say it, but the last step has none).
 * @throws InvalidArgumentError naming `lr`, the epoch and step (1-based)
 */
function refuseOverflowedHead(weight: Float32Array, epoch: number, step: number): void {
  const i = firstNonFinite(weight);
  if (i >= 0)
    throw new InvalidArgumentError({
      functionName: 'trainProjectionHead',
      argument: 'lr',
      message: `the head's weight ${i} became ${weight[i]} at epoch ${epoch + 1}, step ${step + 1}; lower the learning rate`,
    });
}

/** Exp-CLIP's learning-rate milestones (`runner.sh`: `--milestones 30`, `MultiStepLR` γ 0.1). */
export const DEFAULT_MILESTONES: readonly number[] = [30];

/**
 * Exp-CLIP head training (`train.py`): each epoch a seeded shuffle (seed, epoch) of the N pairs, batches of
 * `batch` with the last partial batch dropped (drop_last), symmetric InfoNCE with scale 100 on ORT,
 * SGD(momentum, weight decay) or Adam in PyTorch semantics (SGD on the CPU: gather, loss, gradient and update fused
 * into one ORT graph per step, `InfoNceSgdStep`), the learning rate of each epoch from `milestones` (`MultiStepLR`,
 * γ 0.1). Deterministic: a resumed run equals an uninterrupted one bit for bit. One call per head at a time.
 * @returns 'completed' or 'stopped'
 * @throws InvalidArgumentError for the inputs {@link trainLoopSteps} refuses; AbortedError for a signal fired before
 *   the call; VlferError while another call trains the same head
 */
export async function trainProjectionHead(options: TrainLoopOptions): Promise<'completed' | 'stopped'> {
  const steps = trainLoopSteps(options);
  throwIfAborted(options.signal, 'training the projection head'); // a signal fired before the call trains nothing
  // two loops on one head would each step from weights the other is changing: neither order's result
  if (HEADS_IN_TRAINING.has(options.head))
    throw new VlferError(
      'trainProjectionHead: this head is being trained by another call; await it first (or train a copy of the head)',
    );
  HEADS_IN_TRAINING.add(options.head);
  try {
    return await trainLoop(options, steps);
  } finally {
    HEADS_IN_TRAINING.delete(options.head);
  }
}

/** The heads a {@link trainProjectionHead} call is training now. */
const HEADS_IN_TRAINING = new WeakSet<ProjectionHead>();

async function trainLoop(options: TrainLoopOptions, steps: number): Promise<'completed' | 'stopped'> {
  const { features, epochs, batch } = options;
  const n = features.dims[0];
  const stepper = await createHeadStepper(options);
  try {
    for (let epoch = options.start?.epoch ?? 0; epoch < epochs; epoch++) {
      const lr = multiStepLr(options.lr, epoch, options.milestones ?? DEFAULT_MILESTONES);
      stepper.setLearningRate(lr);
      const order = createRng(options.seed * 1_000_003 + epoch).shuffled(Array.from({ length: n }, (_, i) => i));
      const first = epoch === (options.start?.epoch ?? 0) ? (options.start?.step ?? 0) : 0;
      for (let step = first; step < steps; step++) {
        const res = await stepper.step(order.slice(step * batch, (step + 1) * batch));
        if (!Number.isFinite(res.loss))
          throw new InvalidArgumentError({
            functionName: 'trainProjectionHead',
            argument: 'lr',
            message: `the loss became ${res.loss} at epoch ${epoch + 1}, step ${step + 1}; lower the learning rate`,
          });
        const globalStep = epoch * steps + step;
        const accuracy = res.correct / batch;
        options.onStep?.({ epoch, step, globalStep, loss: res.loss, accuracy, lr });
        const stop = options.signal?.aborted ?? false;
        const next = step + 1 === steps ? { epoch: epoch + 1, step: 0 } : { epoch, step: step + 1 };
        if (next.step === 0 || stop || options.checkpointDue?.()) {
          const optimizerState = stepper.state(); // brings head.weight up to date
          refuseOverflowedHead(options.head.weight, epoch, step);
          options.onCheckpoint?.({ ...next, optimizerState });
        }
        if (stop && next.epoch < epochs) return 'stopped';
      }
    }
  } finally {
    await stepper.release();
  }
  return 'completed';
}

/**
 * The teacher of `options.teacher`: precomputed embeddings ('import', from `teacherSource`, relative image paths
 * taken from `unlabelled`) or an embeddings server
 * ('http', `teacherSource` its base URL, `teacherModel` required).
 * @throws InvalidArgumentError naming `teacherModel` when 'http' has none
 */
export function resolveTeacher(
  options: TrainOptions,
  /** the HTTP teacher's token (never recorded) and where its retries are said */
  context: Partial<Pick<TrainStageContext, 'teacherApiKey' | 'log'>> = {},
): Teacher {
  if (options.teacher === 'import')
    return importedTeacher({
      file: options.teacherSource,
      ...(options.teacherKeys ? { keys: options.teacherKeys } : {}),
      // a relative image path of the targets names an image of the set, as the image set lists them
      root: options.unlabelled,
    });
  if (!options.teacherModel)
    throw new InvalidArgumentError({
      functionName: 'trainHead',
      argument: 'teacherModel',
      message: "is required with teacher 'http'",
    });
  return httpTeacher({
    baseUrl: options.teacherSource,
    model: options.teacherModel,
    ...(options.teacherReplyModel ? { replyModel: options.teacherReplyModel } : {}),
    timeoutMs: options.teacherTimeoutMs,
    maxRetries: options.teacherRetries,
    concurrency: options.teacherConcurrency,
    ...(context.teacherApiKey ? { apiKey: context.teacherApiKey } : {}),
    ...(context.log ? { onRetry: (message: string) => context.log!(`teacher: ${message}`) } : {}),
  });
}

/** What the training stages take besides their options. */
export interface TrainStageContext {
  /** `Authorization: Bearer` token of an HTTP teacher: a hook, not an option, so that no record holds it. */
  teacherApiKey?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

/** The image encoder of a training run: CLIP's vision tower and the checked feature cache (`<cacheDir>/features`). */
export interface TrainingEncoder {
  clip: ClipModel;
  /** Content fingerprint of the model files (the cache namespace, recorded with the head). */
  modelFingerprint: string;
  /** What an earlier vlfer recorded for the same files (`ClipModel.earlierContentFingerprints`). */
  earlierModelFingerprints: string[];
  cache: FeatureCache | undefined;
}

/**
 * Stage "encode" (setup): load CLIP's vision tower and open the feature cache, namespaced by the model's content,
 * dtype and preprocessing (damaged entries are logged and recomputed).
 * @throws what `loadClip` throws (missing or damaged model files)
 */
export async function loadTrainingEncoder(
  options: TrainOptions,
  log: (line: string) => void,
  hooks: Pick<PipelineHooks, 'signal' | 'onProgress'> = {},
): Promise<TrainingEncoder> {
  const clip = await loadClip({
    // an OpenAI .pt is read and parsed without blocking: Ctrl-C stops it, its progress is shown
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    model: options.model,
    dtype: options.dtype,
    device: options.device,
    towers: ['vision'],
    ...(options.tokenizer ? { tokenizer: options.tokenizer } : {}),
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
  try {
    const modelFingerprint = clip.contentFingerprint(options.cacheDir);
    const onCorrupt = (f: string, why: string) => log(`cache entry ${f} ${why}; recomputing it`);
    const cache = options.cacheDir
      ? new FeatureCache({
          dir: `${options.cacheDir}/features`,
          namespace: clipFeatureNamespace(clip, modelFingerprint, options),
          onCorrupt,
        })
      : undefined;
    const earlierModelFingerprints = clip.earlierContentFingerprints(options.cacheDir);
    return { clip, modelFingerprint, earlierModelFingerprints, cache };
  } catch (error) {
    await clip.dispose(); // a cacheDir that cannot be used: the vision tower is released, not left to the GC
    throw error;
  }
}

/**
 * A face crop of a training image: the crop file, its photo, and the face's place among the photo's faces (`null`:
 * the photo used whole, no face found).
 */
export interface FaceCrop {
  path: string;
  source: string;
  face: number | null;
}

/**
 * Stage "select faces" of training: the images to train on for a group of unlabelled images — the group itself, or
 * with a cropper the selected faces' crops (the teacher is given the same crops, as in the paper, where CLIP and
 * BLIP-2 see one tensor).
 */
export async function selectTrainingFaces(
  group: string[],
  cropper: FaceCropper | undefined,
  signal?: AbortSignal,
): Promise<{ items: string[]; crops: FaceCrop[] }> {
  if (!cropper) return { items: group, crops: [] };
  const crops = await cropper.cropImages(
    group.map((path) => ({ path })),
    { ...(signal ? { signal } : {}) },
  );
  return { items: crops.map((c) => c.path), crops };
}

/**
 * Stage "encode / targets": CLIP features of `items` in one batch window of `encodeBatchSize` (through the cache) and
 * the teacher's validated targets for them (cached under `<cacheDir>/targets`, keyed by the images' content keys).
 * @param teacherCheck shared by the units of one run: the teacher is checked against the target cache once a run
 * @returns keys (content key per item), features [items, D], targets [items, outputDim]
 */
export async function encodeWithTargets(
  items: string[],
  encoder: TrainingEncoder,
  teacher: Teacher,
  options: TrainOptions,
  ctx: TrainStageContext,
  teacherCheck: TeacherCheck = { done: false },
): Promise<{ keys: string[]; features: Tensor2D; targets: Tensor2D }> {
  const r = await encodeTrainingUnit(items, encoder, options, ctx.signal);
  const targets = await trainingTargets(items, r.keys, teacher, options, ctx, teacherCheck);
  return { keys: r.keys, features: r.features, targets };
}

/** CLIP features of one unit's `items` in one batch window of `encodeBatchSize`, through the feature cache. */
async function encodeTrainingUnit(
  items: string[],
  encoder: TrainingEncoder,
  options: TrainOptions,
  signal: AbortSignal | undefined,
): Promise<{ keys: string[]; features: Tensor2D; cached: number }> {
  return encodeImages({
    model: encoder.clip,
    items,
    mode: options.preprocess,
    resizer: options.resizer,
    batchSize: options.encodeBatchSize,
    ...(encoder.cache ? { cache: encoder.cache } : {}),
    ...(signal ? { signal } : {}),
  });
}

/**
 * The teacher's validated targets of `images` (content keys `keys`), cached under `<cacheDir>/targets`; in batches of
 * at least `teacherConcurrency` images, so that an HTTP teacher has that many requests in flight.
 */
async function trainingTargets(
  images: string[],
  keys: string[],
  teacher: Teacher,
  options: TrainOptions,
  ctx: TrainStageContext,
  teacherCheck: TeacherCheck,
): Promise<Tensor2D> {
  return computeTargets({
    teacher,
    images,
    imageKeys: keys,
    instructionId: options.instruction,
    expectDim: options.outputDim,
    batchSize: Math.max(64, options.teacherConcurrency),
    ...(options.cacheDir ? { cacheDir: `${options.cacheDir}/targets` } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    log: ctx.log,
    teacherCheck,
  });
}

/** The training set: what {@link prepareTrainingData} returns. */
export interface TrainingData {
  /** The images trained on (face crops with `faces`), in order. */
  paths: string[];
  /** Content key of each image. */
  keys: string[];
  /** Which crop came from which photo (null without `faces`). */
  faceCrops: FaceCrop[] | null;
  /** [N, D] frozen CLIP image features. */
  features: Tensor2D;
  /** [N, outputDim] teacher targets. */
  targets: Tensor2D;
  modelFingerprint: string;
  /**
   * The fingerprints an earlier vlfer recorded for the same model files (`ClipModel.earlierContentFingerprints`): a
   * checkpoint or head that recorded one of them was trained with this model.
   */
  earlierModelFingerprints?: readonly string[];
  /** Units of `encodeBatchSize` images, and how many this call did (a shard: its own). */
  units: number;
  unitsDone: number;
}

/**
 * Stage "prepare data": the training data, in units of `encodeBatchSize` unlabelled images (face crops first, with
 * `faces`): CLIP features through the checked cache and the teacher's targets. With a shard, only units
 * u ≡ index (mod count) are done (the caches keep them); without, every unit, each encoded as one batch window so
 * that shards and one process agree bit for bit. Throws AbortedError between units when `ctx.signal` fires.
 */
export async function prepareTrainingData(
  options: TrainOptions,
  teacher: Teacher,
  ctx: TrainStageContext,
  shard: Shard | null,
): Promise<TrainingData> {
  const { log, signal } = ctx;
  const listed = listImages(options.unlabelled);
  log(listedLine(listed, options.unlabelled));
  const encoder = await loadTrainingEncoder(options, log, ctx);
  const size = options.encodeBatchSize;
  // (the rows without faces: the images of the units done)
  const rows = shardItemCount(listed.paths.length, size, 0, shard);
  const out = trainingRows(encoder.clip.embeddingDim, options.outputDim, rows);
  const targets = new TargetPipeline(teacher, options, ctx, out.targets, (done, cached) =>
    ctx.onProgress?.({ phase: 'encode + targets', done, total: listed.paths.length, unit: 'images', cached }),
  );
  let units = 0;
  let unitsDone = 0;
  let cropper: FaceCropper | undefined;
  try {
    const threads = options.threads ? { threads: options.threads } : {};
    cropper = options.faces ? await createFaceCropper(options.faces, { ...threads, log }) : undefined;
    for (let a = 0; a < listed.paths.length; a += size, units++) {
      if (!inShard(units, shard)) continue;
      throwIfAborted(signal, 'preparing the training data');
      unitsDone++;
      const { items, crops } = await selectTrainingFaces(listed.paths.slice(a, a + size), cropper, signal);
      out.crops.push(...crops);
      const r = items.length > 0 ? await encodeTrainingUnit(items, encoder, options, signal) : undefined;
      if (r) out.add(items, r);
      // the teacher answers this unit (with the next ones, up to teacherConcurrency images) while the next encode
      await targets.add(items, r, Math.min(a + size, listed.paths.length));
    }
    await targets.finish();
  } finally {
    await targets.settle();
    await encoder.clip.dispose();
    await cropper?.dispose();
  }
  if (cropper) log(cropper.summary());
  return {
    paths: out.paths,
    keys: out.keys,
    faceCrops: cropper ? out.crops : null,
    features: out.features.tensor(),
    targets: out.targets.tensor(),
    modelFingerprint: encoder.modelFingerprint,
    earlierModelFingerprints: encoder.earlierModelFingerprints,
    units,
    unitsDone,
  };
}

/** The training data's rows as the units add them: images, keys, face crops, features [N, D], targets [N, E]. */
function trainingRows(d: number, e: number, capacity: number) {
  const out = {
    paths: [] as string[],
    keys: [] as string[],
    crops: [] as FaceCrop[],
    features: new RowAccumulator(d, capacity),
    targets: new RowAccumulator(e, capacity),
    add(items: readonly string[], r: { keys: string[]; features: Tensor2D }): void {
      for (const p of items) out.paths.push(p); // (a loop: a unit may hold more items than a call takes arguments)
      for (const k of r.keys) out.keys.push(k);
      out.features.push(r.features);
    },
  };
  return out;
}

/** What the listing of the unlabelled folder found, for the log. */
function listedLine(listed: ReturnType<typeof listImages>, dir: string): string {
  const folders = listed.skippedFolders;
  return `${listed.paths.length} unlabelled images under ${dir}${listed.skipped ? ` (${listed.skipped} non-image files ignored)` : ''}${folders.length ? `; ${folders.length} hidden or system folders not read (${folders.slice(0, 3).join(', ')}${folders.length > 3 ? ', …' : ''})` : ''}`;
}

/**
 * Rows of one width appended into one buffer, allocated for `capacity` rows (grown by half where more come: face
 * crops), so the training data's [N, E] targets are not held twice (as parts and their concatenation: 1.8× the
 * matrix at the peak, 8.7 GB where AffectNet's 290,000 4096-d targets need 4.75 GB).
 */
class RowAccumulator {
  private data: Float32Array;
  private rows = 0;
  constructor(
    private readonly width: number,
    capacity: number,
  ) {
    this.data = new Float32Array(Math.max(1, capacity) * width);
  }
  /** Append `t` ([rows, width]). @throws InvalidArgumentError for another width */
  push(t: Tensor2D): void {
    assertShape(t, [null, this.width], 't', 'RowAccumulator.push');
    const need = (this.rows + t.dims[0]) * this.width;
    if (need > this.data.length) {
      const grown = new Float32Array(Math.max(need, Math.ceil(this.data.length * 1.5)));
      grown.set(this.data.subarray(0, this.rows * this.width));
      this.data = grown;
    }
    this.data.set(t.data, this.rows * this.width);
    this.rows += t.dims[0];
  }
  /** The rows so far, [rows, width] (a view: no copy). */
  tensor(): Tensor2D {
    return { dtype: 'float32', data: this.data.subarray(0, this.rows * this.width), dims: [this.rows, this.width] };
  }
}

/**
 * The teacher's targets of the training units, asked for `teacherConcurrency` images at a time (at least one unit),
 * each group while the next units are encoded: a unit of `encodeBatchSize` images, awaited before the next encode,
 * capped the requests in flight at the unit's size and left the teacher idle while CLIP ran (20.5 s where 6 s would
 * do, for 2,000 images at 200 ms per request and concurrency 64). Targets are appended in unit order.
 */
class TargetPipeline {
  private readonly check: TeacherCheck = { done: false }; // the teacher re-checked against the cache once a run
  private group = { images: [] as string[], keys: [] as string[], done: 0, cached: 0 };
  private running: Promise<void> | undefined;
  private reported = 0;
  constructor(
    private readonly teacher: Teacher,
    private readonly options: TrainOptions,
    private readonly ctx: TrainStageContext,
    /** where the targets go, in unit order */
    private readonly into: RowAccumulator,
    /** the listed images done, and how many of them came from the feature cache (a resumed run) */
    private readonly progress: (done: number, cached: number) => void,
  ) {}
  /**
   * Add a unit's images and their encoding (`encoded`: keys, and how many the feature cache served; undefined where
   * the unit has no images); `done`: the listed images up to its end. A full group is started once the last ended.
   */
  async add(images: string[], encoded: { keys: string[]; cached: number } | undefined, done: number): Promise<void> {
    for (const p of images) this.group.images.push(p);
    for (const k of encoded?.keys ?? []) this.group.keys.push(k);
    this.group.done = done;
    this.group.cached += encoded?.cached ?? 0;
    if (this.group.images.length >= this.options.teacherConcurrency) await this.start();
  }
  /** Ask for what is left and wait for every target. */
  async finish(): Promise<void> {
    await this.start();
    await this.running;
  }
  /** Wait for a group in flight, whatever it ends with (after a failure elsewhere: no unhandled rejection). */
  async settle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }
  private async start(): Promise<void> {
    await this.running; // one group at a time: its targets are appended before the next group's
    const { images, keys, done, cached } = this.group;
    this.group = { images: [], keys: [], done, cached };
    const ask = images.length > 0;
    const targets = ask ? trainingTargets(images, keys, this.teacher, this.options, this.ctx, this.check) : undefined;
    this.running = (async () => {
      if (targets) this.into.push(await targets);
      if (done > this.reported) this.progress((this.reported = done), cached); // each once (an empty last group)
    })();
    // handled now: a teacher failing while the next unit encodes is thrown by the next add/finish, not by Node
    this.running.catch(() => undefined);
  }
}

/** A schedule's milestones in a canonical form (the order they are given in does not change the rates). */
const sortedMilestones = (m: readonly number[]) => [...m].sort((a, b) => a - b);

/** SHA-256 of `trainingFields`: a checkpoint resumes only when it matches. */
function trainingKey(fields: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/** The options that change the trained weights, in the order the training key has always hashed them. */
const TRAINING_FIELDS = [
  'instruction',
  'batch',
  'lr',
  'optimizer',
  'momentum',
  'weightDecay',
  'seed',
  'scale',
  'outputDim',
  'preprocess',
  'resizer',
  'dtype',
] as const satisfies readonly (keyof TrainOptions)[];

/** Fields that change the trained weights (recorded in checkpoints, so a refusal can name what changed). */
function trainingFields(o: TrainOptions): Record<string, unknown> {
  // face settings change the training images (the crop cache directory does not)
  const faces = o.faces ? { ...o.faces, cacheDir: undefined } : undefined;
  // the schedule only where it is not the default, so checkpoints of earlier versions (constant rate, the default's
  // rate before epoch 30) still resume
  const milestones = sortedMilestones(o.milestones);
  const schedule = milestones.join() === sortedMilestones(DEFAULT_MILESTONES).join() ? {} : { milestones };
  // JSON round trip: the fields as a checkpoint's metadata holds them (undefined entries dropped)
  const fields = {
    ...Object.fromEntries(TRAINING_FIELDS.map((k) => [k, o[k]])),
    ...schedule,
    ...(faces ? { faces } : {}),
  };
  return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
}

/**
 * The training key and fields `recorded` (a checkpoint's `training`, a published config.resolved.json) holds, where
 * this run's `fields` differ from them only in how `faces` is spelt: a detector by file where the run named it (or
 * the reverse), `modelDir` left to `$VLFER_FACE_MODELS`, a threshold written out at its default. Every setting that
 * decides a crop reaches the crops, whose content keys and CLIP features (`imagesFingerprint`, `featuresFingerprint`)
 * are checked against the checkpoint's or the head's before either is used, so other crops are still refused there.
 * @returns undefined where `fields` and `recorded` differ otherwise (or nothing differs)
 */
export function recordedFacesSpelling(
  fields: Record<string, unknown>,
  recorded: unknown,
  recordedKey: unknown,
): { trainingKey: string; trainingFields: Record<string, unknown> } | undefined {
  const respelt = withRecordedFaces(fields, recorded);
  if (!respelt) return undefined;
  const key = trainingKey(respelt);
  return key === recordedKey && key !== trainingKey(fields) ? { trainingKey: key, trainingFields: respelt } : undefined;
}

/** `fields` with the faces options `recorded` holds (both crop faces), where `faces` keeps its place; else undefined. */
function withRecordedFaces(fields: Record<string, unknown>, recorded: unknown): Record<string, unknown> | undefined {
  const then = typeof recorded === 'object' && recorded !== null ? (recorded as { faces?: unknown }).faces : undefined;
  if (fields.faces === undefined || typeof then !== 'object' || then === null) return undefined;
  // the crop cache's folder is no training field (a published config records it with the other options)
  return { ...fields, faces: JSON.parse(JSON.stringify({ ...then, cacheDir: undefined })) as unknown };
}

const sha = (t: Tensor2D) =>
  createHash('sha256')
    .update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
    .update(t.dims.join(','))
    .digest('hex');

/** What a training checkpoint's metadata must hold (checked on resume; anything else is refused by name). */
const CheckpointMetaSchema = z.object({
  trainingKey: z.string().regex(/^[0-9a-f]{64}$/),
  /** The fields `trainingKey` hashes (absent from checkpoints written before 2026-12-05). */
  training: z.record(z.string(), z.unknown()).optional(),
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  images: z.number().int().positive(),
  imagesFingerprint: z.string(),
  featuresFingerprint: z.string(),
  targetsFingerprint: z.string(),
  modelFingerprint: z.string(),
  /**
   * SHA-256 of the training log (work/train-log.jsonl) as it stood when the checkpoint was written, which a resume
   * keeps and publishes: checked on resume (absent from checkpoints written before 2026-12-06).
   */
  logDigest: z.string().optional(),
});
type CheckpointMeta = z.infer<typeof CheckpointMetaSchema>;

export interface TrainResult {
  /**
   * 'shard': this call only filled the caches for its shard (`shard` option); train with `merge`. 'already-trained':
   * `out` held the finished training of these options (`resumedFrom.epoch` = `epochs`); nothing ran. A stopped run
   * returns nothing: it throws `AbortedError` (the checkpoint written, the same call resumes it).
   */
  status: 'completed' | 'shard' | 'already-trained';
  outDir: string;
  headPath: string;
  /** Steps run by this call. */
  steps: number;
  firstLoss: number | null;
  lastLoss: number | null;
  /**
   * Where a resumed run went on, counted as the training log counts: `epoch` epochs completed and `step` steps of
   * the next one done (both from 0; the CLI prints the next step 1-based: "epoch epoch+1, step step+1").
   */
  resumedFrom: { epoch: number; step: number } | null;
  /** With status 'shard': the shard's record and what it put in the caches (a shard writes no head). */
  shard?: { index: number; count: number; record: string; images: number; units: number; unitsDone: number };
}

/** A checkpoint read back for resuming: its checked metadata, tensors and optimiser state. */
export interface TrainCheckpoint {
  meta: CheckpointMeta;
  tensors: Record<string, { dims: number[]; data: Float32Array }>;
  optimizer?: { step: number; buffers: Record<string, Float32Array> };
}

/**
 * Stage "select" (checkpoint): the checkpoint at `path` when there is one, its metadata checked and written with the
 * same training options (`trainingKey`, or with its faces options spelt otherwise: `recordedFacesSpelling`, and then
 * `meta.trainingKey` is the key the run goes on with); undefined when there is none. Checked before any encoding, so
 * other options fail at once.
 * @throws DataFormatError naming the field of metadata that is not valid; InvalidArgumentError for other options
 */
export function readTrainCheckpoint(
  path: string,
  trainingKey: string,
  /** the run's `trainingFields`, to name the options that changed */
  fields?: Record<string, unknown>,
): TrainCheckpoint | undefined {
  if (!existsSync(path)) return undefined;
  const { content: c, meta } = loadCommandCheckpoint(path, CheckpointMetaSchema, (other) =>
    'framesFingerprint' in other && !('trainingKey' in other)
      ? new InvalidArgumentError({
          functionName: 'trainHead',
          argument: 'out',
          message: `${path} is the checkpoint of a 'hesp train' run, not of 'exp-clip train'; choose another output directory`,
        })
      : undefined,
  );
  if (meta.trainingKey !== trainingKey && !(fields && recordedFacesSpelling(fields, meta.training, meta.trainingKey))) {
    // the default schedule is left out of the fields (so earlier checkpoints resume): named by its value here
    const shown = (f: Record<string, unknown>) => ({ milestones: sortedMilestones(DEFAULT_MILESTONES), ...f });
    // faces spelt otherwise are no change (their crops are checked), so only the options that are one are named
    const now = fields && (withRecordedFaces(fields, meta.training) ?? fields);
    const changed = meta.training && now ? describeChangedFields(shown(meta.training), shown(now)) : '';
    throw new InvalidArgumentError({
      functionName: 'trainHead',
      argument: 'options',
      message: `${path} was written with other training options (${changed || 'learning rate, batch, seed, optimiser, preprocessing …'}); use another output directory or delete it`,
    });
  }
  return { meta: meta, tensors: c.tensors, ...(c.optimizer ? { optimizer: c.optimizer } : {}) };
}

/** Content fingerprints of a training set, recorded in checkpoints, metrics.json and config.resolved.json. */
export interface TrainingFingerprints {
  images: number;
  imagesFingerprint: string;
  featuresFingerprint: string;
  targetsFingerprint: string;
  modelFingerprint: string;
}

/** The fingerprints of prepared training data (SHA-256 of the image keys, of the feature and target tensors). */
export function trainingFingerprints(
  data: Pick<TrainingData, 'paths' | 'keys' | 'features' | 'targets' | 'modelFingerprint'>,
): TrainingFingerprints {
  return {
    images: data.paths.length,
    imagesFingerprint: createHash('sha256').update(data.keys.join('\n')).digest('hex'),
    featuresFingerprint: sha(data.features),
    targetsFingerprint: sha(data.targets),
    modelFingerprint: data.modelFingerprint,
  };
}

/**
 * What makes training data unusable or its numbers suspect: a batch larger than the images (refused), a teacher that
 * gave one vector for every image (a warning, logged).
 * @returns the warnings
 * @throws InvalidArgumentError naming `batch`
 */
export function checkTrainingData(
  options: Pick<TrainOptions, 'batch'>,
  data: Pick<TrainingData, 'paths' | 'targets'>,
  teacher: Pick<Teacher, 'source'>,
  log: (line: string) => void,
): string[] {
  // numbers that say nothing are reported: a teacher answering every image with one vector (issue 22)
  const warnings: string[] = [];
  const { targets } = data;
  const constant = constantTargetsWarning(targets.data, targets.dims[0], targets.dims[1], teacher.source);
  if (constant) {
    warnings.push(constant);
    log(`warning: ${constant}`);
  }
  if (options.batch > data.paths.length)
    throw new InvalidArgumentError({
      functionName: 'trainHead',
      argument: 'batch',
      message: `${options.batch} is larger than the ${data.paths.length} training images (the last partial batch is dropped, as in the reference)`,
    });
  return warnings;
}

/** The files of a training run directory that the stages write, and the key of the options that change the weights. */
export interface TrainFiles {
  run: RunDirectory;
  checkpointPath: string;
  logPath: string;
  trainingKey: string;
  /** What `trainingKey` hashes, recorded in the checkpoint (`trainingFields`). */
  trainingFields?: Record<string, unknown>;
}

/** Where training starts: a fresh head, or the checkpoint's weights, step and optimiser state. */
export interface TrainStart {
  head: ProjectionHead;
  start: TrainLoopOptions['start'];
  resumedFrom: TrainResult['resumedFrom'];
}

/**
 * Stage "select" (starting point): a fresh head (seeded), or the checkpoint's when its data fingerprints equal this
 * data's; the training log is cut back to the resumed step (or emptied).
 * @throws InvalidArgumentError naming what changed since the checkpoint; DataFormatError for a weight of another shape
 */
export function selectTrainStart(
  options: TrainOptions,
  features: Tensor2D,
  fingerprints: TrainingFingerprints,
  ck: TrainCheckpoint | undefined,
  files: TrainFiles,
  log: (line: string) => void,
): TrainStart {
  if (!ck) {
    writeJsonLinesAtomic(files.logPath, []);
    const head = createProjectionHead({
      inputDim: features.dims[1],
      outputDim: options.outputDim,
      rng: createRng(options.seed),
    });
    return { head, start: undefined, resumedFrom: null };
  }
  checkCheckpointData(ck, fingerprints, files.checkpointPath);
  const w = ck.tensors.weight;
  if (!w || w.dims[0] !== options.outputDim || w.dims[1] !== features.dims[1])
    throw new DataFormatError({
      file: files.checkpointPath,
      field: 'weight',
      message: `expected [${options.outputDim}, ${features.dims[1]}]`,
    });
  const head = new ProjectionHead({ inputDim: w.dims[1]!, outputDim: w.dims[0]!, weight: w.data });
  const start = { epoch: ck.meta.epoch, step: ck.meta.step, ...(ck.optimizer ? { optimizerState: ck.optimizer } : {}) };
  log(`resuming from ${files.checkpointPath}: epoch ${start.epoch + 1}, step ${start.step + 1}`);
  const done = start.epoch * Math.floor(fingerprints.images / options.batch) + start.step;
  writeJsonLinesAtomic(files.logPath, keptTrainLog(files, ck, done));
  return { head, start, resumedFrom: { epoch: start.epoch, step: start.step } };
}

/**
 * The training log a resume keeps: the steps before `done` of work/train-log.jsonl (of the published train-log.jsonl
 * for a run written before work/, or whose work/ is gone), checked, before anything is written, against the digest
 * the checkpoint recorded of the log it was written after (`logDigest`).
 * @throws DataFormatError naming work/train-log.jsonl when it is missing, or the log read when it holds other steps
 */
function keptTrainLog(files: Omit<TrainFiles, 'trainingKey'>, ck: TrainCheckpoint, done: number): StepLog[] {
  const work = existsSync(files.logPath);
  const earlier = work ? files.logPath : [files.run.path('train-log.jsonl')].find((p) => existsSync(p));
  const kept = earlier
    ? readJsonLines<StepLog>(earlier, { repairTornTail: true, what: 'training log' }).rows.filter(
        (r) => r.globalStep < done,
      )
    : [];
  const digest = hashBytes(jsonLinesText(kept));
  if (ck.meta.logDigest === undefined || digest === ck.meta.logDigest) return kept;
  const ckName = basename(files.checkpointPath);
  const what = work
    ? `holds other training steps than ${ckName} recorded (${kept.length} of its ${done} steps, or other values: cut or edited since it was written)`
    : `is missing${earlier ? ` (the published ${basename(earlier)} holds ${kept.length} of the ${done} steps ${ckName} was written after)` : ''}`;
  throw new DataFormatError({
    file: files.logPath,
    message: `${what}: resuming would publish another log as this run's; restore it, or delete the run directory to train again`,
  });
}

/** A checkpoint resumes only on the data it was trained on: each fingerprint that changed is named. */
function checkCheckpointData(ck: TrainCheckpoint, fingerprints: TrainingFingerprints, path: string): void {
  const changed = (Object.keys(fingerprints) as (keyof TrainingFingerprints)[]).filter(
    (k) => ck.meta[k] !== fingerprints[k],
  );
  if (!changed.length) return;
  const what: Record<string, string> = {
    // (the unlabelled images are listed without hidden and system folders: a run from before that lists more)
    images: `the number of images (${ck.meta.images} then, ${fingerprints.images} now)`,
    // a run on face crops trains on the crops' content (a faces option spelt otherwise passes its key)
    imagesFingerprint: ck.meta.training?.faces ? 'the face crops of the unlabelled images' : 'the unlabelled images',
    featuresFingerprint: 'the CLIP features',
    targetsFingerprint: 'the teacher targets',
    modelFingerprint: 'the CLIP model files',
  };
  throw new InvalidArgumentError({
    functionName: 'trainHead',
    argument: 'options',
    message: `${path} was trained on other data: ${changed.map((k) => what[k]).join(', ')} changed since. Resuming would mix them; use another output directory or delete the checkpoint`,
  });
}

/** What {@link runHeadTraining} did. */
export interface TrainRun {
  status: 'completed' | 'stopped';
  /** Steps run by this call, and the first and last loss among them. */
  steps: number;
  firstLoss: number | null;
  lastLoss: number | null;
}

/**
 * Stage "train": {@link trainProjectionHead} from the starting point, appending each step to the training log and
 * writing a checksummed checkpoint (weights, optimiser state, step, fingerprints) at each epoch end, every
 * `checkpointSeconds` and on abort.
 */
export async function runHeadTraining(
  options: TrainOptions,
  inputs: { data: Pick<TrainingData, 'features' | 'targets'>; from: TrainStart; fingerprints: TrainingFingerprints },
  files: Omit<TrainFiles, 'run'>,
  hooks: PipelineHooks & { onStep?: (s: StepLog) => void } = {},
): Promise<TrainRun> {
  const { head, start } = inputs.from;
  const out: TrainRun = { status: 'completed', steps: 0, firstLoss: null, lastLoss: null };
  let lastCheckpoint = performance.now();
  const totalSteps = options.epochs * Math.floor(inputs.data.features.dims[0] / options.batch);
  out.status = await trainProjectionHead({
    features: inputs.data.features,
    targets: inputs.data.targets,
    head,
    epochs: options.epochs,
    batch: options.batch,
    lr: options.lr,
    milestones: options.milestones,
    optimizer: options.optimizer,
    momentum: options.momentum,
    weightDecay: options.weightDecay,
    seed: options.seed,
    scale: options.scale,
    device: options.device,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    ...(start ? { start } : {}),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    onStep: (s) => {
      appendLine(files.logPath, JSON.stringify(s));
      out.firstLoss ??= s.loss;
      out.lastLoss = s.loss;
      out.steps++;
      hooks.onStep?.(s);
      const detail = { epoch: s.epoch + 1, loss: s.loss, accuracy: s.accuracy };
      hooks.onProgress?.({ phase: 'train', done: s.globalStep + 1, total: totalSteps, unit: 'steps', detail });
    },
    checkpointDue: () => performance.now() - lastCheckpoint > options.checkpointSeconds * 1000,
    onCheckpoint: (at) => {
      saveCheckpoint(files.checkpointPath, {
        tensors: { weight: { dims: [head.outputDim, head.inputDim], data: head.weight } },
        optimizer: at.optimizerState,
        meta: {
          trainingKey: files.trainingKey,
          ...(files.trainingFields ? { training: files.trainingFields } : {}),
          epoch: at.epoch,
          step: at.step,
          ...inputs.fingerprints,
          logDigest: hashFile(files.logPath),
        },
      });
      lastCheckpoint = performance.now();
    },
  });
  return out;
}

/**
 * Stage "publish": head.safetensors (with its record: encoder, model fingerprint, dims, training options, epochs),
 * train-log.jsonl, metrics.json, config.resolved.json and (with faces) face-crops.csv, as one verified set. Releases
 * the head.
 */
export async function publishTrainedHead(
  run: RunDirectory,
  options: TrainOptions,
  trained: {
    head: ProjectionHead;
    data: Pick<TrainingData, 'faceCrops' | 'modelFingerprint'>;
    fingerprints: TrainingFingerprints;
    warnings: string[];
    trainingKey: string;
  },
): Promise<void> {
  const { head, fingerprints } = trained;
  // where the run went and how its work was split (merge) do not change the head, so they are not part of its record
  const meta = {
    encoder: options.model,
    model_fingerprint: trained.data.modelFingerprint,
    input_dim: String(head.inputDim),
    output_dim: String(head.outputDim),
    training_config: JSON.stringify({ ...options, out: undefined, cacheDir: undefined, merge: undefined }),
  };
  const headBytes = encodeProjectionHead(head, { ...meta, epochs_completed: String(options.epochs) });
  const trainLog = readJsonLines<StepLog>(run.path(TRAIN_WORK_LOG), {
    repairTornTail: true,
    what: 'training log',
  }).rows;
  await head.dispose();
  const faceCrops = trained.data.faceCrops;
  run.publish({
    'head.safetensors': headBytes,
    'train-log.jsonl': jsonLinesText(trainLog),
    'metrics.json': `${JSON.stringify(trainMetrics(options, trainLog, trained.warnings, fingerprints), null, 2)}\n`,
    'config.resolved.json': `${JSON.stringify({ ...options, trainingKey: trained.trainingKey, ...fingerprints }, null, 2)}\n`,
    // which crop came from which image, so targets of an imported teacher can be computed for the crops
    ...(faceCrops
      ? {
          'face-crops.csv':
            ['crop,source,face', ...faceCrops.map((c) => csvRow([c.path, c.source, c.face]))].join('\n') + '\n',
        }
      : {}),
  });
}

/** metrics.json of a training run: epochs, steps per epoch, first/last loss, last-epoch accuracy, warnings, fingerprints. */
export function trainMetrics(
  options: Pick<TrainOptions, 'epochs' | 'batch'>,
  trainLog: readonly StepLog[],
  warnings: string[],
  fingerprints: TrainingFingerprints,
): Record<string, unknown> {
  return {
    epochs: options.epochs,
    stepsPerEpoch: Math.floor(fingerprints.images / options.batch),
    firstLoss: trainLog[0]?.loss ?? null,
    lastLoss: trainLog.at(-1)?.loss ?? null,
    lastEpochAccuracy: mean(trainLog.filter((r) => r.epoch === options.epochs - 1).map((r) => r.accuracy)),
    warnings,
    ...fingerprints,
    provenance: provenance({ runtime: runtimeVersions() }),
  };
}

/** A shard of a training job: fill the shared feature, target and face caches for its units and record that it finished. */
async function trainShard(options: TrainOptions, shard: Shard, ctx: TrainStageContext): Promise<TrainResult> {
  // no lock (shards run at once); the directory must be free for a training, claimed with the shard's record
  checkRunKind(resolve(options.out), TRAIN_RUN);
  const p = await prepareTrainingData(options, resolveTeacher(options, ctx), ctx, shard);
  const marker = writeShardRecord(options.out, shard, TRAIN_RUN, trainShardFields(options), {
    units: p.units,
    unitsDone: p.unitsDone,
    counts: { images: p.paths.length },
  });
  ctx.log(
    `shard ${shard.index}/${shard.count}: ${p.unitsDone} of ${p.units} units, ${p.paths.length} images encoded with their targets; record ${marker}`,
  );
  const info = { record: marker, images: p.paths.length, units: p.units, unitsDone: p.unitsDone };
  return {
    status: 'shard',
    outDir: options.out,
    headPath: join(options.out, 'head.safetensors'),
    steps: 0,
    firstLoss: null,
    lastLoss: null,
    resumedFrom: null,
    shard: { index: shard.index, count: shard.count, ...info },
  };
}

/**
 * The training log while it is written (one line per step), apart from the published train-log.jsonl, so a set
 * published earlier stays whole while a later call extends the run.
 */
export const TRAIN_WORK_LOG = `${RUN_WORK_DIR}/train-log.jsonl`;

/** The result set of a training run: `out` is refused when it holds another kind (an evaluation, a HESP run). */
export const TRAIN_RUN: RunKind = {
  kind: 'exp-clip train',
  files: ['head.safetensors', 'train-log.jsonl', 'metrics.json', 'config.resolved.json', 'face-crops.csv'],
  functionName: 'trainHead',
  argument: 'out',
};

/**
 * The head published in `run`, as one read of its config.resolved.json (training key, content fingerprints) and
 * metrics.json (epochs), checked against its manifest; undefined when nothing is published.
 */
interface PublishedHead {
  config: Record<string, unknown>;
  epochs: number | undefined;
}

function readPublishedHead(run: RunDirectory): PublishedHead | undefined {
  const config = readPublishedObject(run, 'config.resolved.json', 'trainHead');
  if (!config) return undefined;
  const { epochs } = readPublishedObject(run, 'metrics.json', 'trainHead')!;
  return { config, epochs: typeof epochs === 'number' ? epochs : undefined };
}

/**
 * A checkpoint's or published head's record (`modelFingerprint`) with the fingerprint an earlier vlfer recorded for
 * this data's model files (`TrainingData.earlierModelFingerprints`) read as this vlfer's: the same model.
 */
function withModelFingerprintOf<T extends { modelFingerprint?: unknown }>(
  data: Pick<TrainingData, 'modelFingerprint' | 'earlierModelFingerprints'>,
  recorded: T,
): T {
  const earlier = data.earlierModelFingerprints ?? [];
  return earlier.includes(recorded.modelFingerprint as string)
    ? { ...recorded, modelFingerprint: data.modelFingerprint }
    : recorded;
}

/**
 * Whether a published head was trained on this data: the same images, CLIP features, teacher targets and model files
 * (config.resolved.json's content fingerprints). Paths cannot say it: the same name may hold other files.
 */
function samePublishedData(published: PublishedHead, fingerprints: TrainingFingerprints): boolean {
  const keys = Object.keys(fingerprints) as (keyof TrainingFingerprints)[];
  return keys.every((k) => published.config[k] === fingerprints[k]);
}

/**
 * What a run directory's earlier training forbids, so no head is lost (unless `alreadyTrained` answered): a checkpoint
 * past `epochs`, whose epoch-`epochs` weights were not kept, and, when no checkpoint is left to compare with, a
 * published head of other training options (config.resolved.json's `trainingKey`), of other data (its content
 * fingerprints) or of more epochs: replaced, it would be lost without a trace of why.
 * @throws InvalidArgumentError naming `epochs` or `out`
 */
function refuseOtherHead(
  run: RunDirectory,
  key: string,
  ck: TrainCheckpoint | undefined,
  epochs: number,
  published: PublishedHead | undefined,
  fingerprints: TrainingFingerprints,
): void {
  if (ck && (ck.meta.epoch > epochs || (ck.meta.epoch === epochs && ck.meta.step > 0)))
    throw new InvalidArgumentError({
      functionName: 'trainHead',
      argument: 'epochs',
      message: `${run.dir} holds a training of these options that went past epoch ${epochs} (${checkpointProgress(ck.meta)}, checkpoint.safetensors); the weights of epoch ${epochs} were not kept: ask for ${epochsToContinue(ck.meta)} or more epochs, or choose another output directory`,
    });
  if (!published) return;
  const other = ck
    ? undefined
    : published.config.trainingKey !== key
      ? 'with other options (head.safetensors, config.resolved.json)'
      : !samePublishedData(published, fingerprints)
        ? "on other data (head.safetensors; config.resolved.json's fingerprints)"
        : undefined;
  if (other)
    throw new InvalidArgumentError({
      functionName: 'trainHead',
      argument: 'out',
      message: `${run.dir} holds a head trained ${other} and no checkpoint to compare with; choose another output directory, or remove that one to train it again`,
    });
  // fewer epochs would replace it with the head of an earlier epoch (also from a later call's checkpoint, stopped
  // before the published epochs after the published head's own checkpoint was deleted)
  if (published.epochs !== undefined && published.epochs > epochs)
    throw new InvalidArgumentError({
      functionName: 'trainHead',
      argument: 'epochs',
      message: `${run.dir} holds a head published with ${published.epochs} epochs; ask for ${published.epochs} or more epochs (it would be replaced by the head of epoch ${epochs}), or choose another output directory`,
    });
}

/**
 * The result of a call whose `out` holds the published head of these options and `epochs`, trained on this data
 * (`fingerprints`, of the data read through the caches): nothing to run (a later call may have gone on past it and
 * been stopped); else undefined.
 */
function alreadyTrained(
  run: RunDirectory,
  published: PublishedHead,
  fingerprints: TrainingFingerprints,
  epochs: number,
  ck: TrainCheckpoint | undefined,
  log: (line: string) => void,
): TrainResult | undefined {
  if (!samePublishedData(published, fingerprints)) return undefined;
  const headPath = run.path('head.safetensors');
  const later = ck ? laterCheckpointNote(ck.meta, epochs) : '';
  log(`${run.dir}: already trained (${epochs} epoch${epochs === 1 ? '' : 's'}); head in ${headPath}${later}`);
  const none = { steps: 0, firstLoss: null, lastLoss: null, resumedFrom: { epoch: epochs, step: 0 } };
  return { status: 'already-trained', outDir: run.dir, headPath, ...none };
}

/** The files of a training run in `run` and the key of its training options. */
function trainFiles(
  run: RunDirectory,
  options: TrainOptions,
): TrainFiles & { trainingFields: Record<string, unknown> } {
  const fields = trainingFields(options);
  return {
    run,
    checkpointPath: run.path('checkpoint.safetensors'),
    logPath: run.path(TRAIN_WORK_LOG),
    trainingKey: trainingKey(fields),
    trainingFields: fields,
  };
}

/**
 * The files and key a run goes on with: this call's, or, where it spells its faces options otherwise than the
 * checkpoint (without one, the published head) records them, the recorded key and fields (`recordedFacesSpelling`;
 * the crops' fingerprints are checked next), and then the options to publish spell faces as that key does (with this
 * call's crop cache), so a later call compares them.
 */
function filesAsRecorded(
  given: TrainFiles & { trainingFields: Record<string, unknown> },
  options: TrainOptions,
  ck: TrainCheckpoint | undefined,
  published: PublishedHead | undefined,
): { files: TrainFiles; publishedOptions: TrainOptions } {
  const respelt = ck
    ? recordedFacesSpelling(given.trainingFields, ck.meta.training, ck.meta.trainingKey)
    : recordedFacesSpelling(given.trainingFields, published?.config, published?.config.trainingKey);
  if (!respelt) return { files: given, publishedOptions: options };
  const faces = { ...(respelt.trainingFields.faces as TrainOptions['faces']), cacheDir: options.faces?.cacheDir };
  return { files: { ...given, ...respelt }, publishedOptions: { ...options, faces } as TrainOptions };
}

/** What `trainHead` takes besides its options: the pipeline hooks, each step's log, an HTTP teacher's token. */
export type TrainHooks = PipelineHooks & {
  onStep?: (s: StepLog) => void;
  /** `Authorization: Bearer` token of an HTTP teacher (vlfer's CLI: `$VLFER_TEACHER_API_KEY`), never recorded. */
  teacherApiKey?: string;
};

/** The stages' context from `trainHead`'s hooks. */
function trainStageContext(hooks: TrainHooks): TrainStageContext {
  return {
    log: hooks.log ?? (() => undefined),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    ...(hooks.teacherApiKey ? { teacherApiKey: hooks.teacherApiKey } : {}),
  };
}

/**
 * `exp-clip train` as a library function: encode the unlabelled images (checked cache), get validated teacher
 * targets (checked cache), train the head, and publish head.safetensors, train-log.jsonl, metrics.json and
 * config.resolved.json as one verified set in `out` (run.json: timing). The run directory is locked; a checksummed
 * checkpoint (weights, optimiser state, step, content fingerprints of images, features, targets and model) is written
 * every epoch, every `checkpointSeconds` and on abort, and a rerun of the same options resumes from it to the same
 * bytes. A checkpoint from other options, or for changed images, features or targets, is refused with what changed.
 *
 * Stages: {@link readTrainCheckpoint} → {@link prepareTrainingData} (select faces, encode / targets, through the
 * caches) → {@link checkTrainingData} → {@link selectTrainStart} → {@link runHeadTraining} → {@link publishTrainedHead}.
 */
export async function trainHead(input: TrainOptionsInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const options = parseOptions(TrainOptionsSchema, input, 'trainHead');
  checkHooks(hooks, 'trainHead', ['onStep']);
  refuseUnusedOptions('trainHead', TrainOptionsSchema.shape, trainOptionUses(options), input);
  const ctx = trainStageContext(hooks);
  const { log, signal } = ctx;
  checkRootDir(options.unlabelled, 'unlabelled', 'trainHead'); // a mistyped image set is named as the option it is
  checkClipModelPath(options.model); // a mistyped model path before the images are listed
  if (options.shard) return trainShard(options, options.shard, ctx);
  if (options.merge)
    checkShardRecords(options.out, options.merge, trainShardFields(options), {
      functionName: 'trainHead',
      verb: 'train from',
    });
  const run = RunDirectory.open(options.out, { command: 'exp-clip train', log, expects: TRAIN_RUN });
  const t0 = performance.now();
  try {
    const given = trainFiles(run, options);
    const headPath = run.path('head.safetensors');
    const teacher = resolveTeacher(options, ctx);
    const recorded = readTrainCheckpoint(given.checkpointPath, given.trainingKey, given.trainingFields);
    const data = await prepareTrainingData(options, teacher, ctx, null);
    const ck = recorded && { ...recorded, meta: withModelFingerprintOf(data, recorded.meta) };
    // a published head of these options and epochs may answer, once the data are checked to be its own; other data
    // are said to be so before any advice on epochs (which would be refused next)
    const head = readPublishedHead(run);
    const published = head && { ...head, config: withModelFingerprintOf(data, head.config) };
    const { files, publishedOptions } = filesAsRecorded(given, options, ck, published);
    const key = files.trainingKey;
    const answers = published?.config.trainingKey === key && published.epochs === options.epochs;
    const fingerprints = trainingFingerprints(data);
    const done = answers ? alreadyTrained(run, published, fingerprints, options.epochs, ck, log) : undefined;
    if (done) return done;
    if (ck) checkCheckpointData(ck, fingerprints, files.checkpointPath);
    refuseOtherHead(run, key, ck, options.epochs, published, fingerprints);
    const warnings = checkTrainingData(options, data, teacher, log);
    const from = selectTrainStart(options, data.features, fingerprints, ck, files, log);
    const trained = await runHeadTraining(options, { data, from, fingerprints }, files, hooks);
    // an abort after the last step (in its onStep) stops the run before it publishes, as one before it does
    if (trained.status === 'stopped' || signal?.aborted) {
      await from.head.dispose();
      const what = `training (checkpoint written at ${files.checkpointPath}; rerun the same command to resume)`;
      throw new AbortedError(what, { cause: signal?.reason });
    }
    const record = { data, fingerprints, warnings, trainingKey: key };
    await publishTrainedHead(run, publishedOptions, { head: from.head, ...record });
    const { steps, firstLoss, lastLoss } = trained;
    const resumedFrom = from.resumedFrom;
    const seconds = (performance.now() - t0) / 1000;
    const runInfo = { command: 'exp-clip train', stepsThisRun: steps, resumedFrom, seconds };
    writeJsonAtomic(run.path('run.json'), { ...runInfo, finishedAt: new Date().toISOString() });
    return { status: trained.status, outDir: run.dir, headPath, steps, firstLoss, lastLoss, resumedFrom };
  } finally {
    run.close();
  }
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function writeJsonLinesAtomic(path: string, rows: readonly unknown[]): void {
  ensureDir(dirname(path));
  writeFileAtomic(path, jsonLinesText(rows));
}
