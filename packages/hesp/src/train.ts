import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  AbortedError,
  createRng,
  DataFormatError,
  InvalidArgumentError,
  parseOptions,
  throwIfAborted,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import {
  appendLine,
  fingerprintFiles,
  hashFile,
  loadCheckpoint,
  provenance,
  readJsonLines,
  RunDirectory,
  saveCheckpoint,
  writeFileAtomic,
  writeJsonAtomic,
} from '@vlfer/core/node';
import type { VideoItem } from '@vlfer/datasets';
import { listFrames } from '@vlfer/datasets/node';
import { sampleClipAugmentation } from '@vlfer/encoders';
import {
  ClipGradientModel,
  clipPixels,
  runtimeVersions,
  sampleClipFrames,
  type EncodeItem,
  type SampleClipOptions,
} from '@vlfer/encoders/node';
import { multiStepLr } from '@vlfer/losses';
import {
  argmaxRows,
  flattenOpenSetReport,
  openSetReport,
  weightedAverageRecall,
  type OpenSetReport,
} from '@vlfer/metrics';
import { clampPatchCentre, knownClassTexts } from '@vlfer/open-set';
import { HespModel, type HespLosses } from '@vlfer/open-set/node';
import { createFaceCropper, type FaceCropper } from '@vlfer/faces/node';
import { loadHespData, type HespData } from './data.js';
import { HespOptionsSchema, type HespOptions, type HespOptionsInput } from './options.js';

/** Cancellation, progress and notices of the HESP pipeline. */
export interface HespHooks {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  log?: (line: string) => void;
}

/** One epoch's record in epochs.jsonl (epochs count from 1 everywhere). */
export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  val: { closedSetAccuracy: number; n: number } | null;
  /** Test split: closed-set accuracy and both families of open-set metrics (`flattenOpenSetReport` names). */
  test: Record<string, number>;
  /** The selection score of this epoch and whether it is the best so far. */
  score: number;
  selected: boolean;
}

/** One training step's record in train-log.jsonl. */
export interface StepRecord extends HespLosses {
  epoch: number;
  step: number;
  lr: number;
}

export interface HespRunResult {
  outDir: string;
  epochs: EpochRecord[];
  best: EpochRecord | null;
  resumedFrom: { epoch: number; step: number } | null;
  /** Seconds per training step of this call (warm-up steps included; `bench:hesp-step` reports warm steps). */
  stepSeconds: number[];
}

const CheckpointMetaSchema = z.object({
  key: z.string(),
  /** Epochs completed (0-based index of the epoch to continue). */
  epoch: z.number().int().min(0),
  /** Steps completed in that epoch. */
  step: z.number().int().min(0),
  lossSum: z.number(),
  bestScore: z.number().nullable(),
  location: z.object({ row: z.number().int(), col: z.number().int() }),
  trainListFingerprint: z.string(),
  testListFingerprint: z.string(),
  framesFingerprint: z.string(),
  modelFingerprint: z.string(),
});

/** Content fingerprints of a run's data: both clip lists (bytes) and every frame of every clip the run reads. */
interface HespDataFingerprints {
  trainListFingerprint: string;
  testListFingerprint: string;
  framesFingerprint: string;
}

/**
 * SHA-256 of the list files and of every frame (name and content) of the training, validation and test clips:
 * a list relabelled in place or one frame replaced gives another fingerprint. Reads every frame once per run.
 */
function dataFingerprints(o: HespOptions, data: HespData): HespDataFingerprints {
  const frames = createHash('sha256');
  const dirs = [...data.train, ...data.val, ...data.testKnown, ...data.testUnknown].map((c) => c.frameDir);
  for (const dir of [...new Set(dirs)].sort()) for (const f of listFrames(dir)) frames.update(`${f}\0${hashFile(f)}\n`);
  return {
    trainListFingerprint: hashFile(o.trainAnnotations),
    testListFingerprint: hashFile(o.testAnnotations),
    framesFingerprint: frames.digest('hex'),
  };
}

/** Refuse a checkpoint whose recorded fingerprints differ from this run's, naming what changed. */
function refuseChanged(
  ckptPath: string,
  o: HespOptions,
  recorded: Partial<Record<string, unknown>>,
  now: Record<string, string>,
): void {
  const what: Record<string, string> = {
    trainListFingerprint: `the training list ${o.trainAnnotations}`,
    testListFingerprint: `the test list ${o.testAnnotations}`,
    framesFingerprint: 'the video frames',
    modelFingerprint: `the CLIP model files (${o.model})`,
  };
  const changed = Object.keys(now).filter((k) => recorded[k] !== now[k]);
  if (changed.length)
    throw new InvalidArgumentError({
      functionName: 'trainHesp',
      argument: 'options',
      message: `${ckptPath} was trained on other data: ${changed.map((k) => what[k] ?? k).join(', ')} changed since. Resuming would mix them; use another output directory or delete the checkpoint`,
    });
}

/** What a checkpoint must agree with to be resumed: every option that changes the numbers, and the class names (a label set file may change under the same path). */
function runKey(o: HespOptions, classNames: readonly string[]): string {
  const { epochs: _e, out: _o, threads: _t, checkpointEvery: _c, device: _d, ...rest } = o;
  void _e;
  void _o;
  void _t;
  void _c;
  void _d;
  return createHash('sha256')
    .update(JSON.stringify({ ...rest, classNames }))
    .digest('hex');
}

/** Reads the sampled frames of a clip: the frame files, or with faces the followed face's crop in each. */
export type ClipFrameReader = (
  clip: VideoItem,
  numSegments: number,
  sampling: SampleClipOptions['sampling'],
) => Promise<EncodeItem[]>;

/** The frame reader of a run: plain frame files, or (with a `FaceCropper`) crops of the face followed through the sampled frames. */
export function clipFrameReader(cropper?: FaceCropper, options: { count?: boolean } = {}): ClipFrameReader {
  return async (clip, numSegments, sampling) => {
    const frames = (
      await sampleClipFrames({ frameDir: clip.frameDir }, { numSegments, ...(sampling ? { sampling } : {}) })
    ).items;
    return cropper ? cropper.clipCrops(frames as string[], clip.frameDir, options) : frames;
  };
}

/** The face cropper of a HESP run (train and eval): clips keep their frame count (the options refuse skipping). */
export async function hespFaceCropper(o: HespOptions, log: (line: string) => void): Promise<FaceCropper> {
  return createFaceCropper(o.faces!, { clips: true, ...(o.threads ? { threads: o.threads } : {}), log });
}

/** Test-time frames of clips (segment centres), [clips·T, 3, S, S] in [0, 1]. */
async function testPixels(clips: readonly VideoItem[], T: number, model: HespModel, read: ClipFrameReader) {
  const frames = await Promise.all(clips.map((c) => read(c, T, 'centre')));
  return clipPixels(frames, { config: model.clip.preprocessor });
}

/** Ensemble logits [clips, K] of clips, `batch` at a time. */
export async function hespLogits(
  model: HespModel,
  items: readonly VideoItem[],
  T: number,
  batch: number,
  signal?: AbortSignal,
  read: ClipFrameReader = clipFrameReader(),
): Promise<Tensor2D> {
  const K = model.K;
  const out = new Float32Array(items.length * K);
  for (let i = 0; i < items.length; i += batch) {
    throwIfAborted(signal, 'HESP evaluation');
    const chunk = items.slice(i, i + batch);
    const l = await model.logits(await testPixels(chunk, T, model, read), T);
    out.set(l.ensemble.data, i * K);
  }
  return { dtype: 'float32', data: out, dims: [items.length, K] };
}

/** Open-set metrics of a model on the test split (both families). */
export async function evaluateOpenSet(
  model: HespModel,
  data: HespData,
  T: number,
  batch: number,
  signal?: AbortSignal,
  read: ClipFrameReader = clipFrameReader(),
): Promise<{ report: OpenSetReport; known: Tensor2D; unknown: Tensor2D }> {
  const known = await hespLogits(model, data.testKnown, T, batch, signal, read);
  const unknown = await hespLogits(model, data.testUnknown, T, batch, signal, read);
  return {
    report: openSetReport(
      known,
      data.testKnown.map((v) => v.label),
      unknown,
    ),
    known,
    unknown,
  };
}

/** HESP's model-selection score of an epoch (higher is better): AUROC + OSCR on the test split in the chosen definitions (the reference), or closed-set accuracy on the validation part. */
export function selectionScore(
  o: HespOptions,
  val: EpochRecord['val'],
  test: OpenSetReport,
  trainLoss: number,
): number {
  if (o.selectOn === 'test') return test[o.selectionMetrics].auroc + test[o.selectionMetrics].oscr;
  return val?.closedSetAccuracy ?? -trainLoss;
}

/**
 * HESP on one open-set split, as a library function (`hesp train`). Each epoch: TSN-sampled (augmented) training
 * clips through `HespModel.step`, then evaluation on the validation part (closed-set accuracy) and on the test split
 * (closed-set accuracy, AUROC, OSCR, TNR@95 in the standard and the ARPL/HESP definitions, known-ness = max
 * ensemble logit). Model selection on 'val' (default) or 'test' with the chosen metric family. The run directory is
 * locked; a checksummed checkpoint is written every `checkpointEvery` steps, at each epoch end and on abort, and a
 * rerun resumes from it to the same bytes. The checkpoint records content fingerprints of both clip lists, every
 * frame of the run's clips and the CLIP model files; a resume with any of them changed is refused, naming what
 * changed. At the end metrics.json (with those fingerprints), epochs.jsonl, train-log.jsonl, best.safetensors and
 * config.resolved.json are published as one verified set (run.json: timing).
 */
export async function trainHesp(input: HespOptionsInput, hooks: HespHooks = {}): Promise<HespRunResult> {
  const o = parseOptions(HespOptionsSchema, input, 'trainHesp');
  const log = hooks.log ?? (() => undefined);
  const signal = hooks.signal;
  const data = loadHespData(o);
  const run = RunDirectory.open(o.out, { command: 'hesp train', log });
  const t0 = performance.now();
  let toRelease: HespModel | undefined;
  let clipToRelease: ClipGradientModel | undefined;
  let cropper: FaceCropper | undefined;
  try {
    cropper = o.faces ? await hespFaceCropper(o, log) : undefined;
    const read = clipFrameReader(cropper);
    log(`label set ${data.labelSet.id} (${data.labelSetReason})`);
    for (const w of data.warnings) log(`warning: ${w}`);
    const texts = knownClassTexts(data.split.known, data.labelSet, { referenceBehaviour: o.referenceBehaviour });
    log(
      `known ${texts.join(', ')} (openness ${data.split.openness.toFixed(3)}); train ${data.train.length}, val ${data.val.length}, test ${data.testKnown.length} known + ${data.testUnknown.length} unknown`,
    );
    const key = runKey(o, data.labelSet.names);
    const fingerprints = dataFingerprints(o, data);
    const ckptPath = run.path('checkpoint.safetensors');
    const logPath = run.path('train-log.jsonl');
    const epochsPath = run.path('epochs.jsonl');
    let ck:
      | {
          meta: z.infer<typeof CheckpointMetaSchema>;
          tensors: Record<string, Float32Array>;
          optimizer: { step: number; buffers: Record<string, Float32Array> };
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
      if (m.data.key !== key)
        throw new InvalidArgumentError({
          functionName: 'trainHesp',
          argument: 'options',
          message: `${ckptPath} belongs to a run with other options (split, learning rate, seed, data …); use another output directory or delete it`,
        });
      refuseChanged(ckptPath, o, m.data, { ...fingerprints });
      ck = {
        meta: m.data,
        tensors: Object.fromEntries(Object.entries(c.tensors).map(([k, v]) => [k, v.data])),
        optimizer: c.optimizer ?? { step: 0, buffers: {} },
      };
      if (ck.meta.epoch >= o.epochs && existsSync(run.path('manifest.json'))) {
        const epochs = readJsonLines<EpochRecord>(epochsPath, { what: 'epoch log' }).rows;
        log(`${run.dir}: already trained (${ck.meta.epoch} epochs)`);
        return {
          outDir: run.dir,
          epochs,
          best: epochs.filter((e) => e.selected).at(-1) ?? null,
          resumedFrom: { epoch: ck.meta.epoch, step: 0 },
          stepSeconds: [],
        };
      }
    }
    const clip = (clipToRelease = await ClipGradientModel.load(o.model, {
      device: o.device,
      ...(o.tokenizer ? { tokenizer: o.tokenizer } : {}),
      ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
    }));
    const modelFingerprint = fingerprintFiles(clip.bundle.files);
    if (ck) refuseChanged(ckptPath, o, ck.meta, { modelFingerprint });
    const S = clip.arch.vision.imageSize!;
    if (o.location !== 'cam') {
      const c = clampPatchCentre(o.location, o.patchSize, S);
      if (c.row !== o.location.row || c.col !== o.location.col)
        throw new InvalidArgumentError({
          functionName: 'trainHesp',
          argument: 'location',
          message: `(${o.location.row}, ${o.location.col}) puts the ${o.patchSize}-pixel patch outside the ${S}×${S} frame; rows and columns must be in [${o.patchSize / 2}, ${S - 1 - o.patchSize / 2}]`,
        });
    }
    const model = await HespModel.create(clip, {
      classTexts: texts,
      nCtx: o.nCtx,
      patchSize: o.patchSize,
      ...(o.location !== 'cam' ? { location: o.location } : {}),
      logitScale: o.logitScale,
      seed: o.seed,
      lr: o.lr,
      referenceBehaviour: o.referenceBehaviour,
    });
    toRelease = model;
    const T = o.frames;
    let start = { epoch: 0, step: 0 };
    let lossSum = 0;
    let bestScore: number | null = null;
    let epochs: EpochRecord[] = [];
    if (ck) {
      model.loadState({ tensors: ck.tensors, optimizer: ck.optimizer });
      model.location = ck.meta.location;
      start = { epoch: ck.meta.epoch, step: ck.meta.step };
      lossSum = ck.meta.lossSum;
      bestScore = ck.meta.bestScore;
      epochs = (
        existsSync(epochsPath)
          ? readJsonLines<EpochRecord>(epochsPath, { repairTornTail: true, what: 'epoch log' }).rows
          : []
      ).filter((e) => e.epoch <= start.epoch);
      const steps = (
        existsSync(logPath)
          ? readJsonLines<StepRecord>(logPath, { repairTornTail: true, what: 'training log' }).rows
          : []
      ).filter((r) => r.epoch - 1 < start.epoch || (r.epoch - 1 === start.epoch && r.step - 1 < start.step));
      writeFileAtomic(logPath, steps.map((r) => `${JSON.stringify(r)}\n`).join(''));
      log(`resuming from ${ckptPath}: epoch ${start.epoch + 1}, step ${start.step + 1}`);
    } else {
      writeFileAtomic(logPath, '');
      if (o.location === 'cam') {
        // HESP computes it once from frames[0, 0] of the first training batch: here the first clip of epoch 0's order
        const first = data.train[createRng(o.seed * 1_000_003).shuffled(data.train.map((_, i) => i))[0]!]!;
        await model.camLocation(
          (
            await clipPixels([await clipFrameReader(cropper, { count: false })(first, 1, 'centre')], {
              config: clip.preprocessor,
            })
          ).data,
          o.seed,
        );
      }
    }
    writeFileAtomic(epochsPath, epochs.map((e) => `${JSON.stringify(e)}\n`).join(''));
    log(
      `visual prompt centre (row, col) = (${model.location.row}, ${model.location.col})${o.location === 'cam' ? ' from the CAM rule' : ''}`,
    );
    const resolved = {
      ...o,
      key,
      split: {
        index: data.split.index,
        known: data.split.known,
        unknown: data.split.unknown,
        openness: data.split.openness,
      },
      classTexts: texts,
      selection:
        o.selectOn === 'test'
          ? `test split, AUROC + OSCR (${o.selectionMetrics} definitions; the reference's optimistic protocol)`
          : `closed-set accuracy on the validation part of the training data (${data.val.length} clips)`,
    };
    const stepsPerEpoch = Math.ceil(data.train.length / o.batch);
    const totalSteps = o.epochs * stepsPerEpoch;
    const stepSeconds: number[] = [];
    const checkpoint = (epoch: number, step: number) => {
      const st = model.state();
      saveCheckpoint(ckptPath, {
        tensors: Object.fromEntries(Object.entries(st.tensors).map(([k, v]) => [k, { dims: [v.length], data: v }])),
        optimizer: st.optimizer,
        meta: { key, epoch, step, lossSum, bestScore, location: model.location, ...fingerprints, modelFingerprint },
      });
    };
    for (let epoch = start.epoch; epoch < o.epochs; epoch++) {
      const lr = multiStepLr(o.lr, epoch, o.milestones);
      model.setLearningRate(lr);
      const order = createRng(o.seed * 1_000_003 + epoch).shuffled(data.train.map((_, i) => i));
      const first = epoch === start.epoch ? start.step : 0;
      if (first === 0) lossSum = 0;
      for (let step = first; step < stepsPerEpoch; step++) {
        if (signal?.aborted) {
          checkpoint(epoch, step);
          throw new AbortedError(
            `HESP training (checkpoint at epoch ${epoch + 1}, step ${step + 1} in ${ckptPath}; rerun the same command to resume)`,
            { cause: signal.reason },
          );
        }
        const ts = performance.now();
        const rng = createRng(o.seed * 1_000_003 + epoch * 100_003 + step + 1);
        const clips = order.slice(step * o.batch, (step + 1) * o.batch).map((i) => data.train[i]!);
        const frames = [];
        for (const c of clips) frames.push(await read(c, T, { tsn: rng })); // in order: the TSN draws use one rng
        const augmentations = o.augment ? clips.map(() => sampleClipAugmentation(rng, S)) : undefined;
        const pixels = await clipPixels(frames, {
          config: clip.preprocessor,
          ...(augmentations ? { augmentations } : {}),
        });
        const losses = await model.step(
          pixels,
          T,
          clips.map((c) => c.label),
        );
        lossSum += losses.total;
        stepSeconds.push((performance.now() - ts) / 1000);
        appendLine(logPath, JSON.stringify({ epoch: epoch + 1, step: step + 1, lr, ...losses } satisfies StepRecord));
        hooks.onProgress?.({
          phase: 'train',
          done: epoch * stepsPerEpoch + step + 1,
          total: totalSteps,
          unit: 'steps',
          detail: { epoch: epoch + 1, loss: losses.total },
        });
        if ((step + 1) % o.checkpointEvery === 0 && step + 1 < stepsPerEpoch) checkpoint(epoch, step + 1);
      }
      hooks.onProgress?.({ phase: 'evaluate', done: epoch + 1, total: o.epochs, unit: 'epochs' });
      const val =
        data.val.length > 0
          ? await hespLogits(model, data.val, T, o.batch, signal, read).then((l) => ({
              closedSetAccuracy: weightedAverageRecall(
                data.val.map((v) => v.label),
                argmaxRows(l),
              ),
              n: data.val.length,
            }))
          : null;
      const { report } = await evaluateOpenSet(model, data, T, o.batch, signal, read);
      const trainLoss = lossSum / stepsPerEpoch;
      const score = selectionScore(o, val, report, trainLoss);
      const selected = bestScore === null || score > bestScore;
      if (selected) bestScore = score;
      const rec: EpochRecord = {
        epoch: epoch + 1,
        lr,
        trainLoss,
        val,
        test: flattenOpenSetReport(report),
        score,
        selected,
      };
      epochs.push(rec);
      if (selected) {
        const st = model.state();
        saveCheckpoint(run.path('best.safetensors'), {
          tensors: Object.fromEntries(Object.entries(st.tensors).map(([k, v]) => [k, { dims: [v.length], data: v }])),
          meta: {
            epoch: epoch + 1,
            selectedOn: o.selectOn,
            selectionMetrics: o.selectionMetrics,
            location: model.location,
          },
        });
      }
      appendLine(epochsPath, JSON.stringify(rec));
      checkpoint(epoch + 1, 0);
      const f = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(2));
      log(
        `epoch ${epoch + 1}/${o.epochs} loss ${trainLoss.toFixed(4)} val acc ${val ? f(val.closedSetAccuracy) : '-'} test acc ${f(report.closedSetAccuracy)} AUROC ${f(report.arpl.auroc)} (ARPL) / ${f(report.standard.auroc)} (standard), OSCR ${f(report.arpl.oscr)} / ${f(report.standard.oscr)}${selected ? ' *' : ''}`,
      );
    }
    const best = epochs.filter((e) => e.selected).at(-1) ?? null;
    const files: Record<string, string | Uint8Array> = {
      'metrics.json': `${JSON.stringify(
        {
          split: {
            index: data.split.index,
            known: data.split.known,
            knownNames: data.split.known.map((k) => data.labelSet.names[k]),
            openness: data.split.openness,
          },
          warnings: data.warnings,
          visualPromptCentre: model.location,
          selection: resolved.selection,
          metricsAreFractions: true,
          metricDefinitions: {
            standard:
              'AUROC with ties counted 1/2 (Mann–Whitney); OSCR = area under CCR(t) vs FPR(t) over every threshold t; TNR at the highest threshold with TPR ≥ 95 %',
            arpl: "ARPL/HESP core/evaluation.py: AUROC with ties counted 0 (metric_ood); OSCR = compute_oscr (CCR from k+1, FPR from k); TNR = get_curve's point closest to TPR 95 %",
          },
          ties: "test.ties: how many test clips (known and unknown pooled) have a known-ness score (max ensemble logit) equal to another clip's. With ties, ARPL's compute_oscr depends on numpy's unstable argsort; vlfer sorts stably (numpy argsort kind='stable'), so oscr_arpl may differ from the reference code's: do not compare tie-heavy numbers across tools",
          best,
          last: epochs.at(-1) ?? null,
          // what the cropper saw depends on which clips and frames this process read (a resumed run reads fewer):
          // the counts go to run.json, the published set keeps the settings
          faces: cropper ? { description: cropper.describe() } : null,
          ...fingerprints,
          modelFingerprint,
          provenance: provenance({ runtime: runtimeVersions() }),
        },
        null,
        2,
      )}\n`,
      'epochs.jsonl': epochs.map((e) => `${JSON.stringify(e)}\n`).join(''),
      'train-log.jsonl': readJsonLines<StepRecord>(logPath, { repairTornTail: true, what: 'training log' })
        .rows.map((r) => `${JSON.stringify(r)}\n`)
        .join(''),
      'config.resolved.json': `${JSON.stringify(resolved, null, 2)}\n`,
    };
    if (existsSync(run.path('best.safetensors')))
      files['best.safetensors'] = readFileSync(run.path('best.safetensors'));
    run.publish(files);
    writeJsonAtomic(run.path('run.json'), {
      command: 'hesp train',
      resumedFrom: ck ? start : null,
      ...(cropper ? { faces: { ...cropper.report(), cache: cropper.cacheCounts } } : {}),
      stepSeconds,
      seconds: (performance.now() - t0) / 1000,
      finishedAt: new Date().toISOString(),
    });
    return { outDir: run.dir, epochs, best, resumedFrom: ck ? start : null, stepSeconds };
  } finally {
    if (toRelease) await toRelease.release();
    else await clipToRelease?.release();
    if (cropper) {
      log(cropper.summary());
      await cropper.dispose();
    }
    run.close();
  }
}
