import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  checkHooks,
  AbortedError,
  createRng,
  checkpointProgress,
  DataFormatError,
  describeChangedFields,
  epochsToContinue,
  InvalidArgumentError,
  laterCheckpointNote,
  parseOptions,
  refuseUnusedOptions,
  throwIfAborted,
  type ProgressCallback,
  type Tensor2D,
  type Tensor4D,
  VlferError,
  firstNonFinite,
} from '@vlfer/core';
import {
  jsonLinesText,
  appendLine,
  hashBytes,
  hashFile,
  loadCheckpoint,
  MANIFEST_FILE,
  readJsonLines,
  RUN_WORK_DIR,
  RunDirectory,
  readPublishedObject,
  readTextFile,
  writeFileAtomic,
  type RunKind,
} from '@vlfer/core/node';
import type { VideoItem } from '@vlfer/datasets';
import { sampleClipAugmentation } from '@vlfer/encoders';
import {
  ClipGradientModel,
  clipContentFingerprints,
  clipPixels,
  getModelEnvironment,
  loadClipWeightsAsync,
  resolveClipSource,
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
import {
  acceptedDataFingerprints,
  fingerprintHespData,
  hespRunKey,
  hespRunKeyOf,
  hespRunFields,
  readHespCheckpoint,
  readHespRunDataFingerprints,
  recordedSpellings,
  hespRunClasses,
  refuseChangedFingerprints,
  saveHespBest,
  saveHespCheckpoint,
  type HespCheckpoint,
  type HespDataFingerprints,
  type HespRunRecord,
} from './checkpoint.js';
import {
  HESP_RNG_STREAM_VERSIONS,
  HESP_RNG_STREAMS,
  hespStreamSeed,
  loadHespData,
  loadHespDataStepped,
  type HespData,
  type HespRngStreams,
} from './data.js';
import { hespOptionUses, HespOptionsSchema, type HespOptions, type HespOptionsInput } from './options.js';
import { hespRunCwd, publishHespRun, resolvedHespConfig, resolvedOptionsPart, writeHespRunJson } from './publish.js';

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

/**
 * Ensemble logits [clips, K] of clips, `batch` at a time.
 * @param onBatch told the number of clips of each batch once its logits are in
 */
export async function hespLogits(
  model: HespModel,
  items: readonly VideoItem[],
  T: number,
  batch: number,
  signal?: AbortSignal,
  read: ClipFrameReader = clipFrameReader(),
  onBatch?: (clips: number) => void,
): Promise<Tensor2D> {
  const K = model.K;
  const out = new Float32Array(items.length * K);
  for (let i = 0; i < items.length; i += batch) {
    throwIfAborted(signal, 'HESP evaluation');
    const chunk = items.slice(i, i + batch);
    const l = await model.logits(await testPixels(chunk, T, model, read), T);
    out.set(l.ensemble.data, i * K);
    onBatch?.(chunk.length);
  }
  return { dtype: 'float32', data: out, dims: [items.length, K] };
}

/**
 * Open-set metrics of a model on the test split (both families).
 * @param onBatch told the number of clips of each scored batch (known clips first, then unknown)
 */
export async function evaluateOpenSet(
  model: HespModel,
  data: HespData,
  T: number,
  batch: number,
  signal?: AbortSignal,
  read: ClipFrameReader = clipFrameReader(),
  onBatch?: (clips: number) => void,
): Promise<{ report: OpenSetReport; known: Tensor2D; unknown: Tensor2D }> {
  const known = await hespLogits(model, data.testKnown, T, batch, signal, read, onBatch);
  const unknown = await hespLogits(model, data.testUnknown, T, batch, signal, read, onBatch);
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

/** Where a HESP run keeps its working files (inside the locked run directory). */
export interface HespRunPaths {
  checkpoint: string;
  trainLog: string;
  epochs: string;
  best: string;
}

/** What the load stage gives the later stages: the class texts, the run key and the data fingerprints. */
export interface HespRunPlan {
  /** Texts of the K known classes, index j = known label j (`knownClassTexts`). */
  texts: string[];
  /** `hespRunKey`: what a checkpoint must agree with to be resumed. */
  key: string;
  fingerprints: HespDataFingerprints;
  /** The frames' fingerprint as runs started before 2026-12-06 recorded it (`hespDataFingerprintForms`). */
  asSpelt: { framesFingerprint: string };
  /** What every checkpoint and the selected state record about the run (computed once here). */
  record: HespRunRecord;
}

/**
 * Load stage (after `loadHespData`): logs the label set, the data warnings and the split sizes, and derives the class
 * texts, the run key and the content fingerprints of the lists and frames (`fingerprintHespData`: reads every frame
 * once; `hooks.signal` stops it between clips, `hooks.onProgress` gets `fingerprint` events).
 * @throws AbortedError when `hooks.signal` fires
 */
export async function planHespRun(
  o: HespOptions,
  data: HespData,
  log: (line: string) => void,
  hooks: Pick<HespHooks, 'signal' | 'onProgress'> = {},
): Promise<HespRunPlan> {
  log(`label set ${data.labelSet.id} (${data.labelSetReason})`);
  for (const w of data.warnings) log(`warning: ${w}`);
  const texts = knownClassTexts(data.split.known, data.labelSet, { referenceBehaviour: o.referenceBehaviour });
  log(
    `known ${texts.join(', ')} (openness ${data.split.openness.toFixed(3)}); train ${data.train.length}, val ${data.val.length}, test ${data.testKnown.length} known + ${data.testUnknown.length} unknown`,
  );
  const runOptions = hespRunFields(o, data.labelSet.names, data.rngStreams);
  const record = { ...hespRunClasses(data, o), runOptions };
  const { fingerprints, asSpelt } = await fingerprintHespData(o, data, hooks);
  return { texts, key: hespRunKeyOf(runOptions), fingerprints, asSpelt, record };
}

/**
 * Resume stage: a run started with other random streams than `data`'s (`HespRngStreams`; vlfer before 2026-12-05
 * drew with version 1) continues with them, so it ends as it would have uninterrupted: its validation part is drawn
 * again with them, and its key and recorded options are theirs. Otherwise `data` and `plan` as they are.
 */
export function hespRunStreams(
  o: HespOptions,
  data: HespData,
  plan: HespRunPlan,
  ck: HespCheckpoint | undefined,
): { data: HespData; plan: HespRunPlan } {
  if (!ck || ck.rngStreams === data.rngStreams) return { data, plan };
  const again = loadHespData(o, ck.rngStreams);
  const runOptions = hespRunFields(o, again.labelSet.names, ck.rngStreams);
  return { data: again, plan: { ...plan, key: hespRunKeyOf(runOptions), record: { ...plan.record, runOptions } } };
}

/**
 * The paths of a run's checkpoint, and of the logs and selected state while it trains: in `work/` (created here), so
 * the set an earlier call published (train-log.jsonl, epochs.jsonl, best.safetensors, checked by manifest.json) stays
 * whole while a later call extends the run, until that call publishes the new set.
 */
export function hespRunPaths(run: RunDirectory): HespRunPaths {
  mkdirSync(run.path(RUN_WORK_DIR), { recursive: true });
  return {
    checkpoint: run.path('checkpoint.safetensors'),
    trainLog: run.path(`${RUN_WORK_DIR}/train-log.jsonl`),
    epochs: run.path(`${RUN_WORK_DIR}/epochs.jsonl`),
    best: run.path(`${RUN_WORK_DIR}/best.safetensors`),
  };
}

/**
 * A run written before `work/` (vlfer before 2026-12-06) kept its working logs and selected state under the published
 * names: resuming it starts `work/` from them (copies; the published files stay as they are).
 */
export function adoptEarlierWorkFiles(run: RunDirectory, paths: HespRunPaths): void {
  for (const [work, name] of [
    [paths.trainLog, 'train-log.jsonl'],
    [paths.epochs, 'epochs.jsonl'],
    [paths.best, 'best.safetensors'],
  ] as const)
    if (!existsSync(work) && existsSync(run.path(name))) writeFileAtomic(work, readFileSync(run.path(name)));
}

/**
 * Resume stage, the finished case: a checkpoint past the last epoch in a published run means there is nothing to do.
 * (Without a checkpoint, `refuseOtherPublishedRun` first.)
 * @returns the published epochs as the result, or `undefined` when training must (re)start or continue
 */
export function finishedHespRun(
  run: RunDirectory,
  o: HespOptions,
  ck: HespCheckpoint | undefined,
  log: (line: string) => void,
): HespRunResult | undefined {
  if (!ck || ck.meta.epoch < o.epochs || !existsSync(run.path(MANIFEST_FILE))) return undefined;
  // the published set answers when it is of `epochs` epochs (a later call may have gone past it and been stopped)
  const epochs = readJsonLines<EpochRecord>(run.path('epochs.jsonl'), { what: 'epoch log' }).rows;
  // an extension stopped after its last epoch's checkpoint, before its publish: the resume publishes it
  const published = epochs.at(-1)?.epoch ?? 0;
  if (ck.meta.epoch === o.epochs && ck.meta.step === 0 && published < o.epochs) return undefined;
  if (epochs.at(-1)?.epoch !== o.epochs)
    throw new InvalidArgumentError({
      functionName: 'trainHesp',
      argument: 'epochs',
      message: `${run.dir} holds a run of these options that went past epoch ${o.epochs} (checkpoint.safetensors: ${checkpointProgress(ck.meta)}; published: ${epochs.at(-1)?.epoch ?? 0} epoch${epochs.at(-1)?.epoch === 1 ? '' : 's'}); the state of epoch ${o.epochs} was not kept: ask for ${epochsToContinue(ck.meta)} or more epochs, or choose another output directory`,
    });
  log(
    `${run.dir}: already trained (${o.epochs} epoch${o.epochs === 1 ? '' : 's'})${laterCheckpointNote(ck.meta, o.epochs)}`,
  );
  return {
    outDir: run.dir,
    epochs,
    best: epochs.filter((e) => e.selected).at(-1) ?? null,
    resumedFrom: { epoch: o.epochs, step: 0 },
    stepSeconds: [],
  };
}

/**
 * Resume stage, without a checkpoint (deleted): a published run is replaced only by a run of the same options and
 * data, which trains it again to the same result (or extends it: fewer epochs are `refuseFewerEpochsThanPublished`'s).
 * The same options are its config.resolved.json's `key`, or that key with this call's paths spelt as the run spelt
 * them (relative to run.json's `cwd`, copied or moved, rebased otherwise: `recordedSpellings`); the same data have
 * metrics.json's fingerprints (lists, frames, CLIP files: their headers are read for it); a run on face crops, given
 * this run's `FaceCropper.fingerprint`, the crops best.safetensors records (and then the faces options may be spelt
 * otherwise, as on resume).
 * @throws InvalidArgumentError naming `out` (other options, a damaged set) or `options` (other data)
 */
export async function refuseOtherPublishedRun(
  run: RunDirectory,
  o: HespOptions,
  data: HespData,
  plan: Pick<HespRunPlan, 'key' | 'fingerprints' | 'asSpelt'>,
  signal?: AbortSignal,
  facesFingerprint?: string,
): Promise<void> {
  const published = readPublishedHespRun(run);
  if (!published) return;
  const { config: earlier, metrics } = published;
  const sameKey = earlier.key === plan.key;
  const faces = o.faces !== undefined && facesFingerprint !== undefined;
  // run.json (rewritten by every call) is read only to compare paths spelt otherwise
  const cwd = sameKey ? undefined : hespRunCwd(run.dir);
  const changed = sameKey ? undefined : otherPublishedOptions(o, data, earlier, cwd, faces);
  if (changed !== undefined)
    throw new InvalidArgumentError({
      functionName: 'trainHesp',
      argument: 'out',
      message: `${run.dir} holds a run published with other options (config.resolved.json${changed ? `: ${changed}` : ''}) and no checkpoint to compare with; choose another output directory, or remove that one to train it again`,
    });
  if (metrics.modelFingerprint === undefined) {
    if (sameKey) return; // published before metrics.json recorded fingerprints: known by its key alone, as then
    throw new InvalidArgumentError({
      functionName: 'trainHesp',
      argument: 'options',
      message: `${run.dir} holds a run published by vlfer before 2026-12-02, whose metrics.json records no content fingerprints: give its paths as config.resolved.json spells them, or choose another output directory`,
    });
  }
  const recorded = { ...readHespRunDataFingerprints(run.dir), runOptions: earlier, ...(cwd ? { cwd } : {}) };
  const refusal = {
    functionName: 'trainHesp',
    argument: 'options',
    consequence: 'Training again would replace its results with those of other data; choose another output directory',
  };
  refuseChangedFingerprints(run.dir, o, recorded, acceptedDataFingerprints(plan.fingerprints, plan.asSpelt), refusal);
  if (faces) {
    // training again on other crops would not give its results again (a detector file replaced at its path, say)
    const best = join(run.dir, 'best.safetensors');
    const cut = { facesFingerprint: loadCheckpoint(best).meta.facesFingerprint };
    refuseChangedFingerprints(best, o, cut, { facesFingerprint: facesFingerprint }, refusal);
  }
  const model = await clipFingerprintsOf(o, signal);
  refuseChangedFingerprints(run.dir, o, recorded, { modelFingerprint: model }, refusal);
}

/**
 * Resume stage, once `finishedHespRun` has not answered: a run published with more epochs than asked for is not
 * replaced by the results of an earlier epoch, whether or not a checkpoint is there (one of a later call that was
 * stopped before it reached the published epochs, after the checkpoint of the published run was deleted).
 * @throws InvalidArgumentError naming `epochs`
 */
export function refuseFewerEpochsThanPublished(run: RunDirectory, o: HespOptions): void {
  const last = (readPublishedHespRun(run)?.metrics.last as { epoch?: unknown } | null | undefined)?.epoch;
  if (typeof last === 'number' && last > o.epochs)
    throw new InvalidArgumentError({
      functionName: 'trainHesp',
      argument: 'epochs',
      message: `${run.dir} holds a run published with ${last} epochs; ask for ${last} or more epochs (its results would be replaced by those of epoch ${o.epochs}), or choose another output directory`,
    });
}

/**
 * The published set of `run` (config.resolved.json and metrics.json, checked against its manifest), or undefined
 * where nothing is published. @throws InvalidArgumentError naming `out` and the file where the set is damaged
 */
function readPublishedHespRun(
  run: RunDirectory,
): { config: Record<string, unknown> & { key?: unknown }; metrics: Record<string, unknown> } | undefined {
  const config = readPublishedObject(run, 'config.resolved.json', 'trainHesp');
  return config && { config, metrics: readPublishedObject(run, 'metrics.json', 'trainHesp')! };
}

/**
 * The options that differ from a published run's (`describeChangedFields`; '' where only unnamed ones do), or
 * undefined where they are its options spelt otherwise (`recordedSpellings`: the content fingerprints decide).
 */
function otherPublishedOptions(
  o: HespOptions,
  data: HespData,
  earlier: Record<string, unknown>,
  cwd: string | undefined,
  /** whether the crops are checked next (`recordedSpellings`' `faces`) */
  faces: boolean,
): string | undefined {
  const spelt = recordedSpellings(o, earlier, cwd, { faces });
  if (spelt && hespRunKey(spelt, data.labelSet.names, data.rngStreams) === earlier.key) return undefined;
  return describeChangedFields(
    publishedRunFields(earlier),
    hespRunFields(spelt ?? o, data.labelSet.names, data.rngStreams),
  );
}

/** `hespRunFields` as a published config.resolved.json records them (its options, label set names and streams). */
function publishedRunFields(resolved: Record<string, unknown>): Record<string, unknown> {
  const labels = resolved.labels as { labelSet?: { names?: unknown } } | undefined;
  const names = Array.isArray(labels?.labelSet?.names) ? (labels.labelSet.names as string[]) : [];
  const streams = HESP_RNG_STREAM_VERSIONS.find((v) => v === resolved.rngStreams) ?? 2;
  return hespRunFields(resolvedOptionsPart(resolved) as HespOptions, names, streams);
}

/** The model stage's result: the HESP model (which owns the CLIP graphs) and the fingerprint of the CLIP files. */
export interface HespBuiltModel {
  model: HespModel;
  modelFingerprint: string;
}

/**
 * Model stage: load the CLIP gradient graphs, check a resumed checkpoint's model fingerprint and a fixed patch
 * location, create the `HespModel` (CoOp contexts, visual prompt, negative images, radius). The CLIP model is
 * released when a check fails; on success the caller releases the returned model.
 * @param texts the K known class texts
 * @throws InvalidArgumentError when the model files changed since the checkpoint or the patch leaves the frame
 */
export async function buildHespModel(
  o: HespOptions,
  texts: string[],
  ck: HespCheckpoint | undefined,
  ckptPath: string,
  hooks: Pick<HespHooks, 'signal' | 'onProgress' | 'log'> = {},
): Promise<HespBuiltModel> {
  const clip = await loadHespClip(o, hooks);
  try {
    const accepted = clipContentFingerprints(clip.bundle);
    const modelFingerprint = accepted[0]!;
    if (ck) refuseChangedFingerprints(ckptPath, o, ck.meta, { modelFingerprint: accepted });
    checkFixedLocation(o, clip.arch.vision.imageSize!);
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
    return { model, modelFingerprint };
  } catch (error) {
    await clip.release();
    throw error;
  }
}

/** Whether a tokenizer is spelt as a path (`./tok`, `../tok`, `/x/tok`), not as a bare name that may be a Hub id. */
export function speltAsPath(tokenizer: string): boolean {
  return /^(\.{1,2}(\/|$)|\/)/.test(tokenizer);
}

/**
 * A tokenizer given as a path (`./tok`, `../tok`, `/x/tok`) that is not there is named as missing, not as changed
 * model files (its files are part of the model's fingerprint) nor as a Hub id. @throws VlferError naming it
 */
function refuseMissingTokenizer(o: HespOptions): void {
  // (a bare name is a Hub id only where remote models are allowed)
  const t = o.tokenizer;
  if (t === undefined || existsSync(t)) return;
  const spelt = speltAsPath(t);
  if (spelt || !getModelEnvironment().allowRemoteModels)
    throw new VlferError(
      `the CLIP tokenizer ${resolve(t)} does not exist (a directory with tokenizer.json)${spelt ? '' : `, and '${t}' is no Hub id while remote models are disabled (CLI --allow-remote)`}`,
    );
}

/**
 * Before a run answers from its checkpoint without loading the model ("already trained", or past the epochs asked
 * for): the CLIP files must be the ones it was trained with, also where `model` names another path (a copy or a move
 * of the same files is the same model). Reads the weights' header only (an OpenAI .pt is parsed whole).
 * @throws InvalidArgumentError naming the model files when they changed
 */
export async function refuseChangedHespModel(
  o: HespOptions,
  ck: HespCheckpoint,
  ckptPath: string,
  signal?: AbortSignal,
): Promise<void> {
  refuseChangedFingerprints(ckptPath, o, ck.meta, { modelFingerprint: await clipFingerprintsOf(o, signal) });
}

/**
 * `clipContentFingerprints` of a run's CLIP files (`model` and `tokenizer`) without loading the model: reads the weights'
 * header only (an OpenAI .pt is parsed whole).
 */
async function clipFingerprintsOf(o: HespOptions, signal?: AbortSignal): Promise<string[]> {
  refuseMissingTokenizer(o);
  const source = resolveClipSource(o.model, { backend: 'graphs' });
  const options = { ...(o.tokenizer ? { tokenizer: o.tokenizer } : {}), ...(signal ? { signal } : {}) };
  return clipContentFingerprints(await loadClipWeightsAsync(source, options, { byReference: true }));
}

/** The CLIP gradient graphs of a run's `model` (its device, tokenizer and threads), for training or scoring. */
export async function loadHespClip(
  o: HespOptions,
  hooks: Pick<HespHooks, 'signal' | 'onProgress' | 'log'> = {},
): Promise<ClipGradientModel> {
  refuseMissingTokenizer(o);
  return ClipGradientModel.load(o.model, {
    ...(hooks.log ? { log: hooks.log } : {}),
    // an OpenAI .pt is read and parsed without blocking: Ctrl-C stops it, its progress is shown
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    device: o.device,
    ...(o.tokenizer ? { tokenizer: o.tokenizer } : {}),
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
  });
}

/** @throws InvalidArgumentError (argument `location`) when a fixed patch centre puts the patch outside the S×S frame */
function checkFixedLocation(o: HespOptions, S: number): void {
  if (o.location === 'cam') return;
  const c = clampPatchCentre(o.location, o.patchSize, S);
  if (c.row !== o.location.row || c.col !== o.location.col)
    throw new InvalidArgumentError({
      functionName: 'trainHesp',
      argument: 'location',
      message: `(${o.location.row}, ${o.location.col}) puts the ${o.patchSize}-pixel patch outside the ${S}×${S} frame; rows and columns must be in [${o.patchSize / 2}, ${S - 1 - o.patchSize / 2}]`,
    });
}

/**
 * What `trainHesp` checks before it reads anything: the options (parsed, none given that the run does not use), a
 * signal fired before the call (no model loaded, no checkpoint written), a fixed patch centre inside the frame.
 */
function checkHespStart(input: HespOptionsInput, hooks: HespHooks): HespOptions {
  checkHooks(hooks, 'trainHesp');
  const signal = hooks.signal;
  const o = parseOptions(HespOptionsSchema, input, 'trainHesp');
  refuseUnusedOptions('trainHesp', HespOptionsSchema.shape, hespOptionUses(o), input);
  throwIfAborted(signal, 'HESP training');
  checkFixedLocationEarly(o);
  return o;
}

/**
 * {@link checkFixedLocation} before the data load, where the model is a local directory whose config.json says the
 * frame size (a Hub id or an OpenAI checkpoint: checked once the model is loaded).
 */
function checkFixedLocationEarly(o: HespOptions): void {
  const config = join(o.model, 'config.json');
  if (o.location === 'cam' || !existsSync(config)) return;
  let size: unknown;
  try {
    size = (JSON.parse(readTextFile(config, 'CLIP config')) as { vision_config?: { image_size?: unknown } })
      .vision_config?.image_size;
  } catch {
    return; // a config that does not read is reported by the model load, with its own message
  }
  if (Number.isInteger(size)) checkFixedLocation(o, size as number);
}

/**
 * The seeded order of the training clips in an epoch (0-based): a permutation of `[0, nTrain)` from the epoch's
 * order stream (`hespStreamSeed`). Epoch 0's first clip is also the frame HESP's CAM rule looks at.
 */
export function hespEpochOrder(
  seed: number,
  nTrain: number,
  epoch: number,
  rngStreams: HespRngStreams = HESP_RNG_STREAMS,
): number[] {
  const rng = createRng(hespStreamSeed(rngStreams, seed, 'epoch-order', epoch));
  return rng.shuffled(Array.from({ length: nTrain }, (_, i) => i));
}

/**
 * HESP's CAM rule on a fresh run: the patch centre, computed once from `frames[0, 0]` of the first training batch as
 * the reference does: the first clip of epoch 0's order, its first TSN frame, with its training augmentation (the
 * very pixels step 0 trains on: `hespTrainBatch` of epoch 0, step 0). Sets `model.location`.
 */
export async function hespCamLocation(
  o: HespOptions,
  data: HespData,
  model: HespModel,
  cropper: FaceCropper | undefined,
): Promise<void> {
  const order = hespEpochOrder(o.seed, data.train.length, 0, data.rngStreams);
  const S = model.clip.arch.vision.imageSize!;
  // step 0's draws (faces not counted twice); only the first clip is decoded, and its first frame kept
  const draws = await hespBatchDraws(o, data, S, clipFrameReader(cropper, { count: false }), order, 0, 0);
  const first = await clipPixels([draws.frames[0]!], {
    config: model.clip.preprocessor,
    ...(draws.augmentations ? { augmentations: [draws.augmentations[0]!] } : {}),
  });
  await model.camLocation(first.data.subarray(0, 3 * S * S), o.seed);
}

/** Everything the per-epoch stages share: options, data, the model, the frame reader, paths, key and fingerprints. */
export interface HespTrainContext {
  o: HespOptions;
  data: HespData;
  model: HespModel;
  read: ClipFrameReader;
  paths: HespRunPaths;
  key: string;
  fingerprints: HespDataFingerprints;
  /** `HespRunPlan.record` */
  record: HespRunRecord;
  modelFingerprint: string;
  /** `FaceCropper.fingerprint` with faces (recorded in the checkpoint), else undefined */
  facesFingerprint?: string | undefined;
  signal: AbortSignal | undefined;
  onProgress: ProgressCallback | undefined;
  log: (line: string) => void;
}

/** The mutable state of a training run: where it started, the running loss, the selection and the epoch records. */
export interface HespTrainState {
  /** First epoch (0-based) and step of this call: { 0, 0 } on a fresh run. */
  start: { epoch: number; step: number };
  resumed: boolean;
  /** Sum of the step losses of the current epoch. */
  lossSum: number;
  /** Best selection score so far (`null` before the first epoch). */
  bestScore: number | null;
  epochs: EpochRecord[];
  stepSeconds: number[];
}

/**
 * Resume stage, part 2: with a checkpoint, restore the model state and patch location and cut the step and epoch logs
 * back to it; without one, start empty logs and (with `location: 'cam'`) run the CAM rule. Logs the patch centre.
 */
export async function startHespTraining(
  ctx: HespTrainContext,
  ck: HespCheckpoint | undefined,
  cropper: FaceCropper | undefined,
): Promise<HespTrainState> {
  const { o, model, paths } = ctx;
  const state: HespTrainState = {
    start: { epoch: ck?.meta.epoch ?? 0, step: ck?.meta.step ?? 0 },
    resumed: ck !== undefined,
    lossSum: ck?.meta.lossSum ?? 0,
    bestScore: ck?.meta.bestScore ?? null,
    epochs: [],
    stepSeconds: [],
  };
  if (ck) {
    model.loadState({ tensors: ck.tensors, optimizer: ck.optimizer });
    model.location = ck.meta.location;
    state.epochs = truncateHespLogs(paths, state.start);
    checkHespWorkFiles(paths, ck, state.epochs);
    const scoring = state.start.step >= hespStepsPerEpoch(o, ctx.data); // stopped while scoring its epoch
    const at = scoring ? 'its scoring' : `step ${state.start.step + 1}`;
    // stopped after its last epoch (before the publish): nothing to train
    const where =
      state.start.epoch >= o.epochs
        ? `all ${o.epochs} epochs done, publishing`
        : `epoch ${state.start.epoch + 1}, ${at}`;
    ctx.log(`resuming from ${paths.checkpoint}: ${where}`);
  } else {
    writeFileAtomic(paths.trainLog, '');
    rmSync(paths.best, { force: true }); // a fresh start selects its own
    rmSync(nextBest(paths), { force: true });
    if (o.location === 'cam') await hespCamLocation(o, ctx.data, model, cropper);
  }
  writeFileAtomic(paths.epochs, jsonLinesText(state.epochs));
  ctx.log(
    `visual prompt centre (row, col) = (${model.location.row}, ${model.location.col})${o.location === 'cam' ? ' from the CAM rule' : ''}`,
  );
  return state;
}

/**
 * Cut the logs of an interrupted run back to its checkpoint: rewrites train-log.jsonl without the steps after
 * `start` (a torn last line is repaired) and returns the epoch records up to `start.epoch`.
 * @param start the checkpoint's position: epochs completed and steps completed in the next one
 */
export function truncateHespLogs(paths: HespRunPaths, start: { epoch: number; step: number }): EpochRecord[] {
  const epochs = (
    existsSync(paths.epochs)
      ? readJsonLines<EpochRecord>(paths.epochs, { repairTornTail: true, what: 'epoch log' }).rows
      : []
  ).filter((e) => e.epoch <= start.epoch);
  const steps = (
    existsSync(paths.trainLog)
      ? readJsonLines<StepRecord>(paths.trainLog, { repairTornTail: true, what: 'training log' }).rows
      : []
  ).filter((r) => r.epoch - 1 < start.epoch || (r.epoch - 1 === start.epoch && r.step - 1 < start.step));
  writeFileAtomic(paths.trainLog, jsonLinesText(steps));
  return epochs;
}

/** Training steps per epoch: ⌈training clips / batch⌉ (the last batch may be smaller). */
export function hespStepsPerEpoch(o: HespOptions, data: HespData): number {
  return Math.ceil(data.train.length / o.batch);
}

/** Write the training checkpoint of the run at (epochs completed, steps completed in the next epoch). */
export function checkpointHespRun(ctx: HespTrainContext, state: HespTrainState, epoch: number, step: number): void {
  const { model, key, fingerprints, modelFingerprint } = ctx;
  saveHespCheckpoint(ctx.paths.checkpoint, model.state(), {
    key,
    epoch,
    step,
    lossSum: state.lossSum,
    bestScore: state.bestScore,
    location: model.location,
    ...fingerprints,
    modelFingerprint,
    ...(ctx.facesFingerprint ? { facesFingerprint: ctx.facesFingerprint } : {}),
    ...ctx.record,
    cwd: process.cwd(), // what the relative paths of ctx.record.runOptions are from
    workDigests: hespWorkDigests(ctx.paths),
  });
}

/**
 * SHA-256 of the working files a resume reuses: the logs as they stand, and the selected state (the one an epoch end
 * is about to put in place, `nextBest`, else the current one, or null).
 */
function hespWorkDigests(paths: HespRunPaths): NonNullable<HespCheckpoint['meta']['workDigests']> {
  return {
    trainLog: fileDigest(paths.trainLog) ?? hashBytes(''),
    epochs: fileDigest(paths.epochs) ?? hashBytes(''),
    best: fileDigest(nextBest(paths)) ?? fileDigest(paths.best),
  };
}

/** SHA-256 of a file, or null where there is none. */
const fileDigest = (path: string) => (existsSync(path) ? hashFile(path) : null);

/**
 * Where an epoch end writes the state it selects before its checkpoint records it; moved to `paths.best` after the
 * checkpoint (a resume finishes the move, or drops a state its checkpoint never recorded).
 */
const nextBest = (paths: HespRunPaths) => `${paths.best}.next`;

/** Put the selected state of an epoch end in place once its checkpoint recorded it (`nextBest`). */
function placeNextBest(paths: HespRunPaths): void {
  if (existsSync(nextBest(paths))) renameSync(nextBest(paths), paths.best);
}

/**
 * The working files a resume reuses and publishes, cut back to the checkpoint, against what it recorded: a deleted,
 * cut or edited log, or a selected state deleted or replaced, would be published as this run's.
 * @throws DataFormatError naming the file
 */
export function checkHespWorkFiles(paths: HespRunPaths, ck: HespCheckpoint, epochs: readonly EpochRecord[]): void {
  const want = ck.meta.workDigests;
  // a state an epoch end wrote: put in place when the checkpoint recorded it, else dropped (its epoch runs again)
  if (existsSync(nextBest(paths))) {
    if (want && hashFile(nextBest(paths)) === want.best) placeNextBest(paths);
    else rmSync(nextBest(paths));
  }
  if (!want) return; // written before 2026-12-06
  const ckName = basename(paths.checkpoint);
  const refuse = (file: string, what: string): never => {
    throw new DataFormatError({
      file,
      message: `${what} (deleted, cut, replaced or edited since ${ckName} was written): resuming would publish it as this run's; restore it, or delete the run directory to train again`,
    });
  };
  if (hashFile(paths.trainLog) !== want.trainLog)
    refuse(paths.trainLog, `holds other training steps than ${ckName} recorded`);
  if (hashBytes(jsonLinesText(epochs)) !== want.epochs)
    refuse(paths.epochs, `holds other epochs than ${ckName} recorded`);
  const best = fileDigest(paths.best);
  if (best !== want.best)
    refuse(
      paths.best,
      best === null
        ? `is missing; ${ckName} recorded a selected state`
        : `holds another selected state than ${ckName} recorded`,
    );
}

/** One training batch: pixels [clips·T, 3, S, S] in [0, 1] and the clips' known labels [clips]. */
export interface HespBatch {
  pixels: Tensor4D;
  labels: number[];
}

/**
 * The draws of one step: the step's clips in the epoch's order, T TSN-sampled frames each (HESP's segment-random
 * draws), and with `augment` HESP's clip-level flip/resize/crop, all from the step's own seeded stream (so a resumed
 * step draws the same frames). Nothing is decoded yet.
 */
async function hespBatchDraws(
  o: HespOptions,
  data: HespData,
  S: number,
  read: ClipFrameReader,
  order: readonly number[],
  epoch: number,
  step: number,
) {
  const rng = createRng(hespStreamSeed(data.rngStreams, o.seed, 'batch', epoch, step));
  const clips = order.slice(step * o.batch, (step + 1) * o.batch).map((i) => data.train[i]!);
  const frames = [];
  for (const c of clips) frames.push(await read(c, o.frames, { tsn: rng })); // in order: the TSN draws use one rng
  const augmentations = o.augment ? clips.map(() => sampleClipAugmentation(rng, S)) : undefined;
  return { clips, frames, augmentations };
}

/**
 * Frame-sampling stage of one step: the pixels of the step's draws (`hespBatchDraws`), decoded and augmented.
 * @param order the epoch's clip order (`hespEpochOrder`) @param step 0-based step within the epoch
 */
export async function hespTrainBatch(
  o: HespOptions,
  data: HespData,
  model: HespModel,
  read: ClipFrameReader,
  order: readonly number[],
  epoch: number,
  step: number,
): Promise<HespBatch> {
  const S = model.clip.arch.vision.imageSize!;
  const { clips, frames, augmentations } = await hespBatchDraws(o, data, S, read, order, epoch, step);
  const pixels = await clipPixels(frames, {
    config: model.clip.preprocessor,
    ...(augmentations ? { augmentations } : {}),
  });
  return { pixels, labels: clips.map((c) => c.label) };
}

/**
 * A step whose loss is not finite, or whose update left a weight that is not, has diverged: training stops there,
 * before the step is logged or any checkpoint holds it (the last checkpoint stays as it was).
 * @throws InvalidArgumentError naming `lr`, the epoch and step (1-based) and the losses
 */
export function refuseDivergedStep(
  losses: HespLosses,
  epoch: number,
  step: number,
  lr: number,
  /** the learnable tensors after the step's update: a finite loss can still leave them infinite */
  weights: Record<string, Float32Array> = {},
): void {
  const bad: [string, number][] = Object.entries(losses).filter(([, v]) => !Number.isFinite(v));
  for (const [name, w] of Object.entries(weights)) {
    const i = firstNonFinite(w);
    if (i >= 0) bad.push([`${name}[${i}]`, w[i]!]);
  }
  if (bad.length === 0) return;
  throw new InvalidArgumentError({
    functionName: 'trainHesp',
    argument: 'lr',
    message: `training diverged at epoch ${epoch + 1}, step ${step + 1} (learning rate ${lr}): ${bad.map(([k, v]) => `${k} ${v}`).join(', ')}; lower the learning rate and start a new output directory (nothing of this step was saved)`,
  });
}

/**
 * Train stage of one epoch (0-based): sets the multi-step learning rate, then one `HespModel.step` per batch from
 * the resume point, logging each step to train-log.jsonl, reporting `train` progress and checkpointing every
 * `checkpointEvery` steps. Adds each step's loss to `state.lossSum` (reset at the epoch's first step).
 * @returns the epoch's learning rate
 * @throws AbortedError once the signal fires (after writing a checkpoint at the current step)
 */
export async function trainHespEpoch(ctx: HespTrainContext, state: HespTrainState, epoch: number): Promise<number> {
  const { o, data, model } = ctx;
  const lr = multiStepLr(o.lr, epoch, o.milestones);
  model.setLearningRate(lr);
  const order = hespEpochOrder(o.seed, data.train.length, epoch, data.rngStreams);
  const first = epoch === state.start.epoch ? state.start.step : 0;
  if (first === 0) state.lossSum = 0;
  const stepsPerEpoch = hespStepsPerEpoch(o, data);
  for (let step = first; step < stepsPerEpoch; step++) {
    if (ctx.signal?.aborted) {
      checkpointHespRun(ctx, state, epoch, step);
      throw new AbortedError(
        `HESP training (checkpoint at epoch ${epoch + 1}, step ${step + 1} in ${ctx.paths.checkpoint}; rerun the same command to resume)`,
        { cause: ctx.signal.reason },
      );
    }
    const ts = performance.now();
    const batch = await hespTrainBatch(o, data, model, ctx.read, order, epoch, step);
    const losses = await model.step(batch.pixels, o.frames, batch.labels);
    refuseDivergedStep(losses, epoch, step, lr, model.state().tensors);
    state.lossSum += losses.total;
    state.stepSeconds.push((performance.now() - ts) / 1000);
    appendLine(
      ctx.paths.trainLog,
      JSON.stringify({ epoch: epoch + 1, step: step + 1, lr, ...losses } satisfies StepRecord),
    );
    ctx.onProgress?.({
      phase: 'train',
      done: epoch * stepsPerEpoch + step + 1,
      total: o.epochs * stepsPerEpoch,
      unit: 'steps',
      detail: { epoch: epoch + 1, loss: losses.total },
    });
    if ((step + 1) % o.checkpointEvery === 0 && step + 1 < stepsPerEpoch)
      checkpointHespRun(ctx, state, epoch, step + 1);
  }
  return lr;
}

/**
 * Validate stage: closed-set accuracy (weighted average recall over the known classes) of the ensemble logits on the
 * validation part. @returns `null` when the validation part is empty
 */
export async function validateHesp(ctx: HespTrainContext): Promise<EpochRecord['val']> {
  const { data, o } = ctx;
  if (data.val.length === 0) return null;
  const logits = await hespLogits(ctx.model, data.val, o.frames, o.batch, ctx.signal, ctx.read);
  return {
    closedSetAccuracy: weightedAverageRecall(
      data.val.map((v) => v.label),
      argmaxRows(logits),
    ),
    n: data.val.length,
  };
}

/**
 * Select stage: the epoch's selection score (`selectionScore`) and whether it beats `bestScore` (the first epoch
 * always does; ties keep the earlier epoch). Selecting on a validation part that holds no clip selects every epoch,
 * so the last one is kept (`loadHespData` warns, metrics.json says so).
 */
export function selectHespEpoch(
  o: HespOptions,
  bestScore: number | null,
  val: EpochRecord['val'],
  test: OpenSetReport,
  trainLoss: number,
): { score: number; selected: boolean } {
  const score = selectionScore(o, val, test, trainLoss);
  const noValidation = o.selectOn === 'val' && val == null;
  return { score, selected: noValidation || bestScore === null || score > bestScore };
}

/** The log line of a finished epoch (percentages with two decimals, `*` on a selected epoch). */
export function hespEpochLine(o: HespOptions, rec: EpochRecord, report: OpenSetReport): string {
  const f = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(2));
  return `epoch ${rec.epoch}/${o.epochs} loss ${rec.trainLoss.toFixed(4)} val acc ${rec.val ? f(rec.val.closedSetAccuracy) : '-'} test acc ${f(report.closedSetAccuracy)} AUROC ${f(report.arpl.auroc)} (ARPL) / ${f(report.standard.auroc)} (standard), OSCR ${f(report.arpl.oscr)} / ${f(report.standard.oscr)}${rec.selected ? ' *' : ''}`;
}

/**
 * Validate → test → select stages of an epoch (0-based): validation accuracy, open-set metrics on the test split
 * (`evaluateOpenSet`), selection; appends the record to epochs.jsonl and `state.epochs`, saves best.safetensors when
 * selected, checkpoints the epoch end and logs the epoch line.
 * @param lr the epoch's learning rate (recorded)
 */
export async function evaluateHespEpoch(
  ctx: HespTrainContext,
  state: HespTrainState,
  epoch: number,
  lr: number,
): Promise<EpochRecord> {
  const { o, model } = ctx;
  // epochs scored: `epoch` as this one starts, one more once it is scored and checkpointed (below)
  ctx.onProgress?.({ phase: 'evaluate', done: epoch, total: o.epochs, unit: 'epochs' });
  let val: EpochRecord['val'];
  let report: OpenSetReport;
  try {
    val = await validateHesp(ctx);
    ({ report } = await evaluateOpenSet(model, ctx.data, o.frames, o.batch, ctx.signal, ctx.read));
  } catch (error) {
    if (!(error instanceof AbortedError)) throw error;
    // the epoch's trained state is kept: a resume scores it (scoring changes no state and draws nothing)
    checkpointHespRun(ctx, state, epoch, hespStepsPerEpoch(o, ctx.data));
    throw new AbortedError(
      `HESP training (stopped while scoring epoch ${epoch + 1}; its trained state is checkpointed in ${ctx.paths.checkpoint}; rerun the same command to resume)`,
      { cause: error.cause ?? error },
    );
  }
  const trainLoss = state.lossSum / hespStepsPerEpoch(o, ctx.data);
  const { score, selected } = selectHespEpoch(o, state.bestScore, val, report, trainLoss);
  if (selected) state.bestScore = score;
  const rec: EpochRecord = {
    epoch: epoch + 1,
    lr,
    trainLoss,
    val,
    test: flattenOpenSetReport(report),
    score,
    selected,
  };
  state.epochs.push(rec);
  // the selected state goes in place once the checkpoint of this epoch end records it (`nextBest`)
  if (selected)
    saveHespBest(nextBest(ctx.paths), model.state(), o, epoch + 1, model.location, ctx.record, ctx.facesFingerprint);
  appendLine(ctx.paths.epochs, JSON.stringify(rec));
  checkpointHespRun(ctx, state, epoch + 1, 0);
  placeNextBest(ctx.paths);
  ctx.log(hespEpochLine(o, rec, report));
  ctx.onProgress?.({ phase: 'evaluate', done: epoch + 1, total: o.epochs, unit: 'epochs' });
  return rec;
}

/** The result set of a HESP run (`hesp eval` adds scores.csv and eval.json): `out` holding another kind is refused. */
export const HESP_RUN: RunKind = {
  kind: 'hesp train',
  files: [
    'metrics.json',
    'epochs.jsonl',
    'train-log.jsonl',
    'config.resolved.json',
    'best.safetensors',
    'scores.csv',
    'eval.json',
  ],
  functionName: 'trainHesp',
  argument: 'out',
};

/** `readHespCheckpoint` of the run, its crops checked with faces (`cropper.fingerprint`). */
function readRunCheckpoint(
  ckptPath: string,
  o: HespOptions,
  plan: HespRunPlan,
  loaded: HespData,
  cropper: FaceCropper | undefined,
): HespCheckpoint | undefined {
  return readHespCheckpoint(ckptPath, o, plan.key, plan.fingerprints, loaded, plan.asSpelt, cropper?.fingerprint);
}

/**
 * A stop asked for while the last epoch was scored (after its last check): thrown before the publish, as an earlier
 * one is; every epoch is in the checkpoint, and the rerun publishes.
 */
function refuseStopBeforePublish(signal: AbortSignal | undefined, checkpoint: string): void {
  throwIfAborted(
    signal,
    `HESP training (every epoch is checkpointed in ${checkpoint}; rerun the same command to publish)`,
  );
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
 *
 * Stages (each exported): load (`loadHespData`, `planHespRun`) → resume check (`readHespCheckpoint`,
 * `finishedHespRun`) → model (`buildHespModel`) → start or resume (`startHespTraining`: `truncateHespLogs` or
 * `hespCamLocation`) → per epoch train (`trainHespEpoch`: `hespTrainBatch` + `HespModel.step`) and validate / test /
 * select (`evaluateHespEpoch`: `validateHesp`, `evaluateOpenSet`, `selectHespEpoch`) → publish (`publishHespRun`).
 */
export async function trainHesp(input: HespOptionsInput, hooks: HespHooks = {}): Promise<HespRunResult> {
  const o = checkHespStart(input, hooks);
  const log = hooks.log ?? (() => undefined);
  const loaded = await loadHespDataStepped(o, hooks.signal);
  refuseMissingTokenizer(o); // before a checkpoint could call another spelling of it "other options"
  const run = RunDirectory.open(o.out, { command: 'hesp train', log, expects: HESP_RUN });
  const t0 = performance.now();
  let model: HespModel | undefined;
  let cropper: FaceCropper | undefined;
  try {
    cropper = o.faces ? await hespFaceCropper(o, log) : undefined;
    const plan = await planHespRun(o, loaded, log, hooks);
    const paths = hespRunPaths(run);
    const ck = readRunCheckpoint(paths.checkpoint, o, plan, loaded, cropper);
    const { data, plan: streams } = hespRunStreams(o, loaded, plan, ck);
    const { texts, key, fingerprints, record } = streams;
    if (ck && ck.meta.epoch >= o.epochs) await refuseChangedHespModel(o, ck, paths.checkpoint, hooks.signal);
    if (!ck) await refuseOtherPublishedRun(run, o, data, plan, hooks.signal, cropper?.fingerprint);
    const finished = finishedHespRun(run, o, ck, log);
    if (finished) return finished;
    refuseFewerEpochsThanPublished(run, o);
    if (ck) adoptEarlierWorkFiles(run, paths);
    const built = await buildHespModel(o, texts, ck, paths.checkpoint, hooks);
    model = built.model;
    const ctx: HespTrainContext = {
      o,
      data,
      model,
      read: clipFrameReader(cropper),
      paths,
      key,
      fingerprints,
      record,
      modelFingerprint: built.modelFingerprint,
      facesFingerprint: cropper?.fingerprint,
      signal: hooks.signal,
      onProgress: hooks.onProgress,
      log,
    };
    const state = await startHespTraining(ctx, ck, cropper);
    const resolved = resolvedHespConfig(o, key, data, texts);
    for (let epoch = state.start.epoch; epoch < o.epochs; epoch++)
      await evaluateHespEpoch(ctx, state, epoch, await trainHespEpoch(ctx, state, epoch));
    refuseStopBeforePublish(hooks.signal, paths.checkpoint);
    const { epochs, stepSeconds } = state;
    const metrics = { data, selection: resolved.selection, visualPromptCentre: model.location, epochs, cropper };
    publishHespRun(run, paths, { ...metrics, fingerprints, modelFingerprint: built.modelFingerprint }, resolved);
    const resumedFrom = state.resumed ? state.start : null;
    writeHespRunJson(run, resumedFrom, cropper, stepSeconds, (performance.now() - t0) / 1000);
    return { outDir: run.dir, epochs, best: epochs.filter((e) => e.selected).at(-1) ?? null, resumedFrom, stepSeconds };
  } finally {
    await model?.release();
    if (cropper) {
      log(cropper.summary());
      await cropper.dispose();
    }
    run.close();
  }
}
