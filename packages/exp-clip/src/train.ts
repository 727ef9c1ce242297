import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import {
  AbortedError,
  concatRows,
  createRng,
  csvRow,
  inShard,
  throwIfAborted,
  type Shard,
  DataFormatError,
  InvalidArgumentError,
  parseOptions,
  type ComputeDevice,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import {
  appendLine,
  FeatureCache,
  loadCheckpoint,
  provenance,
  readJsonLines,
  RunDirectory,
  saveCheckpoint,
  writeFileAtomic,
  writeJsonAtomic,
  type ThreadOptions,
} from '@vlfer/core/node';
import { listImages } from '@vlfer/datasets/node';
import { DECODER_VERSION, encodeImages, loadClip, runtimeVersions } from '@vlfer/encoders/node';
import { constantTargetsWarning, type Teacher } from '@vlfer/llm-knowledge';
import { computeTargets, httpTeacher, importedTeacher } from '@vlfer/llm-knowledge/node';
import { createOptimizer, type OptimizerName, type Optimizer } from '@vlfer/losses';
import { InfoNceGraph } from '@vlfer/losses/node';
import { createProjectionHead, encodeProjectionHead, ProjectionHead } from '@vlfer/projection-head';
import { createFaceCropper } from '@vlfer/faces/node';
import type { PipelineHooks } from './evaluate.js';
import { TrainOptionsSchema, type TrainOptions, type TrainOptionsInput } from './options.js';
import { checkShardRecords, trainShardFields, writeShardRecord } from './shards.js';

export interface StepLog {
  epoch: number;
  step: number;
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
  lr: number;
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
 * Exp-CLIP head training (`train.py`): each epoch a seeded shuffle (seed, epoch) of the N pairs, batches of
 * `batch` with the last partial batch dropped (drop_last), symmetric InfoNCE with scale 100 on ORT,
 * SGD(momentum, weight decay) or Adam in PyTorch semantics. Deterministic: a resumed run equals an
 * uninterrupted one bit for bit.
 * @returns 'completed' or 'stopped'
 */
export async function trainProjectionHead(options: TrainLoopOptions): Promise<'completed' | 'stopped'> {
  const { features, targets, head, epochs, batch } = options;
  const [n, d] = features.dims;
  const e = targets.dims[1];
  const fn = 'trainProjectionHead';
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
  const opt = createOptimizer(
    options.optimizer,
    { weight: head.weight },
    { lr: options.lr, momentum: options.momentum, weightDecay: options.weightDecay },
  );
  if (options.start?.optimizerState) opt.loadState(options.start.optimizerState);
  const graph = await InfoNceGraph.create({
    device: options.device ?? 'cpu',
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  });
  const xb = new Float32Array(batch * d);
  const tb = new Float32Array(batch * e);
  const X: Tensor2D = { dtype: 'float32', data: xb, dims: [batch, d] };
  const T: Tensor2D = { dtype: 'float32', data: tb, dims: [batch, e] };
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
        const res = await graph.run({
          features: X,
          weight: head.weightTensor,
          targets: T,
          scale: options.scale ?? 100,
        });
        if (!Number.isFinite(res.loss))
          throw new InvalidArgumentError({
            functionName: fn,
            argument: 'lr',
            message: `the loss became ${res.loss} at epoch ${epoch}, step ${step}; lower the learning rate`,
          });
        opt.step({ weight: res.gradWeight });
        options.onStep?.({
          epoch,
          step,
          globalStep: epoch * steps + step,
          loss: res.loss,
          accuracy: res.correct / batch,
          lr: options.lr,
        });
        const stop = options.signal?.aborted ?? false;
        const next = step + 1 === steps ? { epoch: epoch + 1, step: 0 } : { epoch, step: step + 1 };
        if (next.step === 0 || stop || options.checkpointDue?.())
          options.onCheckpoint?.({ ...next, optimizerState: opt.state() });
        if (stop && next.epoch < epochs) return 'stopped';
      }
    }
  } finally {
    await graph.release();
  }
  return 'completed';
}

function resolveTeacher(options: TrainOptions): Teacher {
  if (options.teacher === 'import')
    return importedTeacher({
      file: options.teacherSource,
      ...(options.teacherKeys ? { keys: options.teacherKeys } : {}),
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
    timeoutMs: options.teacherTimeoutMs,
    maxRetries: options.teacherRetries,
    concurrency: options.teacherConcurrency,
  });
}

/**
 * The training data, in units of `encodeBatchSize` unlabelled images (face crops first, with `faces`): CLIP features
 * through the checked cache and the teacher's targets. With a shard, only units u ≡ index (mod count) are done (the
 * caches keep them); without, every unit, each encoded as one batch window so that shards and one process agree bit
 * for bit.
 */
async function prepareTrainingData(
  options: TrainOptions,
  teacher: Teacher,
  ctx: { log: (l: string) => void; signal?: AbortSignal; onProgress?: ProgressCallback },
  shard: Shard | null,
) {
  const { log, signal } = ctx;
  const listed = listImages(options.unlabelled);
  log(
    `${listed.paths.length} unlabelled images under ${options.unlabelled}${listed.skipped ? ` (${listed.skipped} non-image files ignored)` : ''}`,
  );
  const clip = await loadClip({
    model: options.model,
    dtype: options.dtype,
    device: options.device,
    towers: ['vision'],
    ...(options.tokenizer ? { tokenizer: options.tokenizer } : {}),
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
  const modelFingerprint = clip.contentFingerprint(options.cacheDir);
  const onCorrupt = (f: string, why: string) => log(`cache entry ${f} ${why}; recomputing it`);
  const cache = options.cacheDir
    ? new FeatureCache({
        dir: `${options.cacheDir}/features`,
        namespace: {
          model: modelFingerprint,
          dtype: options.dtype,
          preprocess: `${options.preprocess}/${options.resizer}/${DECODER_VERSION}`,
        },
        onCorrupt,
      })
    : undefined;
  // the head trains on face crops, and the teacher is given the same crops (as in the paper, where CLIP and BLIP-2 see one tensor)
  const cropper = options.faces
    ? await createFaceCropper(options.faces, { ...(options.threads ? { threads: options.threads } : {}), log })
    : undefined;
  const paths: string[] = [];
  const keys: string[] = [];
  const faceCrops: { path: string; source: string; face: number }[] = [];
  const featureParts: Tensor2D[] = [];
  const targetParts: Tensor2D[] = [];
  const size = options.encodeBatchSize;
  let units = 0;
  let unitsDone = 0;
  try {
    for (let a = 0; a < listed.paths.length; a += size, units++) {
      if (!inShard(units, shard)) continue;
      throwIfAborted(signal, 'preparing the training data');
      unitsDone++;
      const group = listed.paths.slice(a, a + size);
      let items = group;
      if (cropper) {
        const crops = await cropper.cropImages(
          group.map((path) => ({ path })),
          { ...(signal ? { signal } : {}) },
        );
        faceCrops.push(...crops);
        items = crops.map((c) => c.path);
      }
      if (items.length === 0) continue;
      const r = await encodeImages({
        model: clip,
        items,
        mode: options.preprocess,
        resizer: options.resizer,
        batchSize: size,
        ...(cache ? { cache } : {}),
        ...(signal ? { signal } : {}),
      });
      const t = await computeTargets({
        teacher,
        images: items,
        imageKeys: r.keys,
        instructionId: options.instruction,
        expectDim: options.outputDim,
        ...(options.cacheDir ? { cacheDir: `${options.cacheDir}/targets` } : {}),
        ...(signal ? { signal } : {}),
        log,
      });
      paths.push(...items);
      keys.push(...r.keys);
      featureParts.push(r.features);
      targetParts.push(t);
      ctx.onProgress?.({
        phase: 'encode + targets',
        done: Math.min(a + size, listed.paths.length),
        total: listed.paths.length,
        unit: 'images',
      });
    }
  } finally {
    await clip.dispose();
    await cropper?.dispose();
  }
  if (cropper) log(cropper.summary());
  return {
    paths,
    keys,
    faceCrops: cropper ? faceCrops : null,
    features: concatRows(featureParts, clip.embeddingDim),
    targets: concatRows(targetParts, options.outputDim),
    modelFingerprint,
    units,
    unitsDone,
  };
}

/** Fields that change the trained weights: a checkpoint resumes only when these match. */
function trainingKey(o: TrainOptions): string {
  const {
    instruction,
    batch,
    lr,
    optimizer,
    momentum,
    weightDecay,
    seed,
    scale,
    outputDim,
    preprocess,
    resizer,
    dtype,
    epochs: _e,
  } = o;
  void _e;
  // face settings change the training images (the crop cache directory does not)
  const faces = o.faces ? { ...o.faces, cacheDir: undefined } : undefined;
  return createHash('sha256')
    .update(
      JSON.stringify({
        instruction,
        batch,
        lr,
        optimizer,
        momentum,
        weightDecay,
        seed,
        scale,
        outputDim,
        preprocess,
        resizer,
        dtype,
        ...(faces ? { faces } : {}),
      }),
    )
    .digest('hex');
}

const sha = (t: Tensor2D) =>
  createHash('sha256')
    .update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
    .update(t.dims.join(','))
    .digest('hex');

/** What a training checkpoint's metadata must hold (checked on resume; anything else is refused by name). */
const CheckpointMetaSchema = z.object({
  trainingKey: z.string().regex(/^[0-9a-f]{64}$/),
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  images: z.number().int().positive(),
  imagesFingerprint: z.string(),
  featuresFingerprint: z.string(),
  targetsFingerprint: z.string(),
  modelFingerprint: z.string(),
});
type CheckpointMeta = z.infer<typeof CheckpointMetaSchema>;

export interface TrainResult {
  /** 'shard': this call only filled the caches for its shard (`shard` option); train with `merge`. */
  status: 'completed' | 'stopped' | 'shard';
  outDir: string;
  headPath: string;
  /** Steps run by this call. */
  steps: number;
  firstLoss: number | null;
  lastLoss: number | null;
  resumedFrom: { epoch: number; step: number } | null;
  /** With status 'shard': the shard's record and what it put in the caches (a shard writes no head). */
  shard?: { index: number; count: number; record: string; images: number; units: number; unitsDone: number };
}

/**
 * `exp-clip train` as a library function: encode the unlabelled images (checked cache), get validated teacher
 * targets (checked cache), train the head, and publish head.safetensors, train-log.jsonl, metrics.json and
 * config.resolved.json as one verified set in `out` (run.json: timing). The run directory is locked; a checksummed
 * checkpoint (weights, optimiser state, step, content fingerprints of images, features, targets and model) is written
 * every epoch, every `checkpointSeconds` and on abort, and a rerun of the same options resumes from it to the same
 * bytes. A checkpoint from other options, or for changed images, features or targets, is refused with what changed.
 */
export async function trainHead(
  input: TrainOptionsInput,
  hooks: PipelineHooks & { onStep?: (s: StepLog) => void } = {},
): Promise<TrainResult> {
  const options = parseOptions(TrainOptionsSchema, input, 'trainHead');
  const log = hooks.log ?? (() => undefined);
  const signal = hooks.signal;
  if (options.shard) {
    // a shard fills the shared feature, target and face caches for its units and records that it finished
    const shard = options.shard;
    const p = await prepareTrainingData(
      options,
      resolveTeacher(options),
      { log, ...(signal ? { signal } : {}), ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}) },
      shard,
    );
    const marker = writeShardRecord(options.out, shard, trainShardFields(options), {
      units: p.units,
      unitsDone: p.unitsDone,
      counts: { images: p.paths.length },
    });
    log(
      `shard ${shard.index}/${shard.count}: ${p.unitsDone} of ${p.units} units, ${p.paths.length} images encoded with their targets; record ${marker}`,
    );
    return {
      status: 'shard',
      outDir: options.out,
      headPath: join(options.out, 'head.safetensors'),
      steps: 0,
      firstLoss: null,
      lastLoss: null,
      resumedFrom: null,
      shard: {
        index: shard.index,
        count: shard.count,
        record: marker,
        images: p.paths.length,
        units: p.units,
        unitsDone: p.unitsDone,
      },
    };
  }
  if (options.merge)
    checkShardRecords(options.out, options.merge, trainShardFields(options), {
      functionName: 'trainHead',
      verb: 'train from',
    });
  const run = RunDirectory.open(options.out, { command: 'exp-clip train', log });
  const t0 = performance.now();
  try {
    const key = trainingKey(options);
    const ckptPath = run.path('checkpoint.safetensors');
    const logPath = run.path('train-log.jsonl');
    const headPath = run.path('head.safetensors');
    const teacher = resolveTeacher(options);
    // the checkpoint is checked before any encoding: other options fail at once, and a finished run returns at once
    let ck:
      | {
          meta: CheckpointMeta;
          tensors: Record<string, { dims: number[]; data: Float32Array }>;
          optimizer?: { step: number; buffers: Record<string, Float32Array> };
        }
      | undefined;
    if (existsSync(ckptPath)) {
      const c = loadCheckpoint(ckptPath);
      const m = CheckpointMetaSchema.safeParse(c.meta);
      if (!m.success)
        throw new DataFormatError({
          file: ckptPath,
          field: m.error.issues[0]!.path.join('.'),
          message: `${m.error.issues[0]!.message}; delete the checkpoint to restart`,
        });
      ck = { meta: m.data, tensors: c.tensors, ...(c.optimizer ? { optimizer: c.optimizer } : {}) };
      if (ck.meta.trainingKey !== key)
        throw new InvalidArgumentError({
          functionName: 'trainHead',
          argument: 'options',
          message: `${ckptPath} was written with other training options (learning rate, batch, seed, optimiser, preprocessing …); use another output directory or delete it`,
        });
    }
    if (ck && ck.meta.epoch >= options.epochs && ck.meta.step === 0 && existsSync(run.path('manifest.json'))) {
      log(`${run.dir}: already trained (${ck.meta.epoch} epochs); head in ${headPath}`);
      return {
        status: 'completed',
        outDir: run.dir,
        headPath,
        steps: 0,
        firstLoss: null,
        lastLoss: null,
        resumedFrom: { epoch: ck.meta.epoch, step: 0 },
      };
    }
    const prepared = await prepareTrainingData(
      options,
      teacher,
      { log, ...(signal ? { signal } : {}), ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}) },
      null,
    );
    const { paths, faceCrops, keys, features, targets, modelFingerprint } = prepared;
    // numbers that say nothing are reported: a teacher answering every image with one vector (issue 22)
    const warnings: string[] = [];
    const constant = constantTargetsWarning(targets.data, targets.dims[0], targets.dims[1], teacher.source);
    if (constant) {
      warnings.push(constant);
      log(`warning: ${constant}`);
    }
    if (options.batch > paths.length)
      throw new InvalidArgumentError({
        functionName: 'trainHead',
        argument: 'batch',
        message: `${options.batch} is larger than the ${paths.length} training images (the last partial batch is dropped, as in the reference)`,
      });
    const stepsPerEpoch = Math.floor(paths.length / options.batch);
    const fingerprints = {
      images: paths.length,
      imagesFingerprint: createHash('sha256').update(keys.join('\n')).digest('hex'),
      featuresFingerprint: sha(features),
      targetsFingerprint: sha(targets),
      modelFingerprint,
    };

    let head = createProjectionHead({
      inputDim: features.dims[1],
      outputDim: options.outputDim,
      rng: createRng(options.seed),
    });
    let start: TrainLoopOptions['start'];
    let resumedFrom: TrainResult['resumedFrom'] = null;
    if (ck) {
      const changed = (Object.keys(fingerprints) as (keyof typeof fingerprints)[]).filter(
        (k) => ck!.meta[k] !== fingerprints[k],
      );
      if (changed.length) {
        const what: Record<string, string> = {
          images: 'the number of images',
          imagesFingerprint: 'the unlabelled images',
          featuresFingerprint: 'the CLIP features',
          targetsFingerprint: 'the teacher targets',
          modelFingerprint: 'the CLIP model files',
        };
        throw new InvalidArgumentError({
          functionName: 'trainHead',
          argument: 'options',
          message: `${ckptPath} was trained on other data: ${changed.map((k) => what[k]).join(', ')} changed since. Resuming would mix them; use another output directory or delete the checkpoint`,
        });
      }
      const w = ck.tensors.weight;
      if (!w || w.dims[0] !== options.outputDim || w.dims[1] !== features.dims[1])
        throw new DataFormatError({
          file: ckptPath,
          field: 'weight',
          message: `expected [${options.outputDim}, ${features.dims[1]}]`,
        });
      head = new ProjectionHead({ inputDim: w.dims[1]!, outputDim: w.dims[0]!, weight: w.data });
      start = { epoch: ck.meta.epoch, step: ck.meta.step, ...(ck.optimizer ? { optimizerState: ck.optimizer } : {}) };
      resumedFrom = { epoch: start.epoch, step: start.step };
      log(`resuming from ${ckptPath}: epoch ${start.epoch + 1}, step ${start.step + 1}`);
      const done = start.epoch * stepsPerEpoch + start.step;
      const kept = existsSync(logPath)
        ? readJsonLines<StepLog>(logPath, { repairTornTail: true, what: 'training log' }).rows.filter(
            (r) => r.globalStep < done,
          )
        : [];
      writeJsonLinesAtomic(run, 'train-log.jsonl', kept);
    } else {
      writeJsonLinesAtomic(run, 'train-log.jsonl', []);
    }
    // where the run went and how its work was split (merge) do not change the head, so they are not part of its record
    const meta = {
      encoder: options.model,
      model_fingerprint: modelFingerprint,
      input_dim: String(head.inputDim),
      output_dim: String(head.outputDim),
      training_config: JSON.stringify({ ...options, out: undefined, cacheDir: undefined, merge: undefined }),
    };

    let firstLoss: number | null = null;
    let lastLoss: number | null = null;
    let steps = 0;
    let lastCheckpoint = performance.now();
    const totalSteps = options.epochs * stepsPerEpoch;
    const status = await trainProjectionHead({
      features,
      targets,
      head,
      epochs: options.epochs,
      batch: options.batch,
      lr: options.lr,
      optimizer: options.optimizer,
      momentum: options.momentum,
      weightDecay: options.weightDecay,
      seed: options.seed,
      scale: options.scale,
      device: options.device,
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      ...(start ? { start } : {}),
      ...(signal ? { signal } : {}),
      onStep: (s) => {
        appendLine(logPath, JSON.stringify(s));
        firstLoss ??= s.loss;
        lastLoss = s.loss;
        steps++;
        hooks.onStep?.(s);
        hooks.onProgress?.({
          phase: 'train',
          done: s.globalStep + 1,
          total: totalSteps,
          unit: 'steps',
          detail: { epoch: s.epoch + 1, loss: s.loss, accuracy: s.accuracy },
        });
      },
      checkpointDue: () => performance.now() - lastCheckpoint > options.checkpointSeconds * 1000,
      onCheckpoint: (at) => {
        saveCheckpoint(ckptPath, {
          tensors: { weight: { dims: [head.outputDim, head.inputDim], data: head.weight } },
          optimizer: at.optimizerState,
          meta: { trainingKey: key, epoch: at.epoch, step: at.step, ...fingerprints },
        });
        lastCheckpoint = performance.now();
      },
    });
    if (status === 'stopped') {
      await head.dispose();
      throw new AbortedError(`training (checkpoint written at ${ckptPath}; rerun the same command to resume)`, {
        cause: signal?.reason,
      });
    }
    const headBytes = encodeProjectionHead(head, { ...meta, epochs_completed: String(options.epochs) });
    const trainLog = readJsonLines<StepLog>(logPath, { repairTornTail: true, what: 'training log' }).rows;
    await head.dispose();
    run.publish({
      'head.safetensors': headBytes,
      'train-log.jsonl': trainLog.map((r) => `${JSON.stringify(r)}\n`).join(''),
      'metrics.json': `${JSON.stringify({ epochs: options.epochs, stepsPerEpoch, firstLoss: trainLog[0]?.loss ?? null, lastLoss: trainLog.at(-1)?.loss ?? null, lastEpochAccuracy: mean(trainLog.filter((r) => r.epoch === options.epochs - 1).map((r) => r.accuracy)), warnings, ...fingerprints, provenance: provenance({ runtime: runtimeVersions() }) }, null, 2)}\n`,
      'config.resolved.json': `${JSON.stringify({ ...options, trainingKey: key, ...fingerprints }, null, 2)}\n`,
      // which crop came from which image, so targets of an imported teacher can be computed for the crops
      ...(faceCrops
        ? {
            'face-crops.csv':
              ['crop,source,face', ...faceCrops.map((c) => csvRow([c.path, c.source, c.face]))].join('\n') + '\n',
          }
        : {}),
    });
    writeJsonAtomic(run.path('run.json'), {
      command: 'exp-clip train',
      stepsThisRun: steps,
      resumedFrom,
      seconds: (performance.now() - t0) / 1000,
      finishedAt: new Date().toISOString(),
    });
    return { status, outDir: run.dir, headPath, steps, firstLoss, lastLoss, resumedFrom };
  } finally {
    run.close();
  }
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function writeJsonLinesAtomic(run: RunDirectory, name: string, rows: readonly unknown[]): void {
  writeFileAtomic(run.path(name), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}
