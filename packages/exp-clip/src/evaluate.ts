import {
  checkHooks,
  argmaxRows,
  csvRow,
  describeChangedFields,
  InvalidArgumentError,
  LOGIT_SCALE_EXPECTED,
  logitScaleInRange,
  parseOptions,
  refuseUnusedOptions,
  softmaxRows,
  throwIfAborted,
  type FeatureProjection,
  type LabelSet,
  type ProgressCallback,
  type Shard,
  type Tensor2D,
} from '@vlfer/core';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import {
  checkRunKind,
  ensureDir,
  hashFile,
  MANIFEST_FILE,
  otherKindOfRun,
  provenance,
  PUBLISH_JOURNAL_FILE,
  RunDirectory,
  writeJsonAtomic,
  type Provenance,
  type RunKind,
  type RunManifest,
} from '@vlfer/core/node';
import { buildZeroShotClassifier } from '@vlfer/encoders';
import { checkClipModelPath, loadClip, runtimeVersions, type ClipModel } from '@vlfer/encoders/node';
import { expClipPrompts, type PromptType } from '@vlfer/llm-knowledge';
import { DATASETS, type DatasetId, type ImageItem, type LabelScheme } from '@vlfer/datasets';
import { unsetLabelScheme } from '@vlfer/datasets/node';
import type { FaceCacheCounts, FaceCropper, FacesReport } from '@vlfer/faces/node';
import { averageFolds, classificationReport, type MeanStd } from '@vlfer/metrics';
import { loadProjectionHeadAsync, type ProjectionHead } from '@vlfer/projection-head';
import { foldAnnotations, loadEvalData, type EvalData } from './data.js';
import {
  createEvalEncoder,
  createEvalFaceCropper,
  refuseFacesOnVideoFiles,
  encodeEvalData,
  facesReport,
  idOf,
  itemId,
  type EncodeCounts,
  type EncodeHooks,
  type EncodedEvalData,
} from './eval-encode.js';
import { checkShardRecords, evalShardFields, writeShardRecord } from './shards.js';
import { EvalOptionsSchema, evalOptionUses, type EvalOptions, type EvalOptionsInput } from './options.js';
import { quantizationGuard, type QuantizationReport } from './quantization-guard.js';

/** What long pipelines accept besides their options: cancellation, progress, notices. */
export interface PipelineHooks {
  /** Stops the work between batches/steps; resumable state (caches, checkpoints) is complete when it throws. */
  signal?: AbortSignal;
  /**
   * Progress of each phase: evaluation `'encode'` (`'encode fold N'` with folds) and `'faces'` (face selection), in
   * the dataset's images (frames of clips); training `'encode + targets'` (images, faces selected and teacher
   * targets computed with them) and `'train'` (steps); closed-set runs `'fit'`.
   */
  onProgress?: ProgressCallback;
  /** Notices worth showing (what was loaded, dropped, resumed); packages never print. */
  log?: (line: string) => void;
}

export interface FoldResult {
  fold: number | null;
  n: number;
  uar: number;
  war: number;
  perClassRecall: (number | null)[];
  confusionMatrix: number[][];
}

export interface PromptTypeResult {
  promptType: PromptType;
  folds: FoldResult[];
  mean: { uar: MeanStd; war: MeanStd };
}

export interface FoldPredictions {
  fold: number | null;
  /** Item ids (paths or frame directories, relative to the root when inside it). */
  ids: string[];
  labels: number[];
  /** Per prompt type: predicted class and the class probabilities (softmax of the scaled logits), [n, C]. */
  byPromptType: Partial<Record<PromptType, { predicted: number[]; probabilities: Tensor2D }>>;
}

/** The multiplier of the cosine logits behind the probabilities, and where it came from. */
export interface LogitScaleUsed {
  value: number;
  /** 'model': the checkpoint's exp(logit_scale); 'default': 100, the model holds none; 'user': given as a number. */
  source: 'model' | 'default' | 'user';
}

export interface EvalResult {
  options: EvalOptions;
  /** The logit scale of the probabilities (predictions.csv); null for a shard (no probabilities). */
  logitScale: LogitScaleUsed | null;
  labelSet: { id: string; names: readonly string[] };
  labelSetReason: string;
  /** Classes whose prompts were made from Exp-CLIP's templates (no curated prompts for their names). */
  promptsFromTemplates: string[];
  /** Per fold: stratified subset name (null = the whole set) and item counts. */
  folds: {
    fold: number | null;
    subset: string | null;
    items: number;
    total: number;
    dropped: { reason: string; count: number }[];
  }[];
  results: PromptTypeResult[];
  predictions: FoldPredictions[];
  /** Face detection and cropping (null without `faces`). */
  faces: FacesReport | null;
  /** How the face cache was used (detections computed or read back, damaged crops cut again): run.json only. */
  facesCache: FaceCacheCounts | null;
  /** The shard this call encoded (then `results` and `predictions` are empty), or null. */
  shard: Shard | null;
  /** What the int8 guard measured on a sample of the run's images (`dtype: 'int8'`), else null. */
  quantization: QuantizationReport | null;
  /** SHA-256 over every evaluated item's id, label and content hash. */
  datasetFingerprint: string;
  /**
   * What makes the numbers suspect, also logged as `warning: …`: classes with no items (UAR is then over the
   * others), a `limit` not smaller than the set, image features that are all zero, one class predicted for every item.
   */
  warnings: string[];
  modelFingerprint: string;
  /** SHA-256 of the projection head's file, or null without a head (recorded only with one). */
  headFingerprint: string | null;
  /** Images (frames for videos) served from the feature cache vs run through the encoder. */
  counts: { images: number; cached: number; encoded: number; damagedCacheEntries: number };
  timing: { encodeSeconds: number; totalSeconds: number };
  provenance: Provenance;
  outDir: string | null;
}

/**
 * Stage "load": each fold (or the whole set) through {@link loadEvalData}, logging what was loaded, from where, with
 * which label set and what was dropped. Checks the abort signal between folds.
 * @throws what `loadEvalData` throws (a missing file, an empty set, `folds` without `{fold}` in the annotations);
 *   InvalidArgumentError for `faces` with video files ({@link refuseFacesOnVideoFiles})
 */
export async function loadEvalFolds(options: EvalOptions, hooks: PipelineHooks = {}): Promise<EvalData[]> {
  const log = hooks.log ?? (() => undefined);
  const data: EvalData[] = [];
  for (const f of options.folds ?? [null]) {
    throwIfAborted(hooks.signal, 'evaluation');
    const d = await loadEvalData(options, f, hooks.signal);
    refuseFacesOnVideoFiles(options, [d]);
    data.push(d);
    const unit = d.kind === 'images' ? 'images' : 'clips';
    log(
      `${options.dataset}${f !== null ? ` fold ${f}` : ''}: ${d.items.length} ${unit}${d.subset ? ` (${d.subset} of ${d.total})` : ''} from ${d.source}; label set ${d.labelSet.id} (${d.labelSetReason})${d.dropped.length ? `; dropped: ${d.dropped.map((x) => `${x.count} ${x.reason}`).join('; ')}` : ''}`,
    );
  }
  return data;
}

/**
 * Classes that `faces` thinned by more than 10 % (images in which no face was found, left out: `missing: 'skip'`):
 * the numbers are of that subset, with another class balance than the set's (measured on 20 FER2013 faces: one
 * class kept 6 of 10, the other 1 of 10).
 * @param loaded the folds as loaded; @param encoded the same folds with the items encoded (a crop names its photo in
 *   `source`)
 */
export function facesSkipWarnings(
  options: Pick<EvalOptions, 'dataset'>,
  loaded: readonly EvalData[],
  encoded: readonly EvalData[],
): string[] {
  const warnings: string[] = [];
  loaded.forEach((d, k) => {
    const e = encoded[k];
    if (!e || d.kind !== 'images' || e.kind !== 'images') return;
    const names = d.labelSet.names;
    const [total, kept] = [new Array<number>(names.length).fill(0), new Array<number>(names.length).fill(0)];
    for (const i of d.items) total[i.label]!++;
    const seen = new Set<string>();
    for (const i of e.items as (ImageItem & { source?: string })[]) {
      const photo = i.source ?? i.path; // the crops of one photo count it once
      if (seen.has(photo)) continue;
      seen.add(photo);
      kept[i.label]!++;
    }
    const thin = names.flatMap((n, c) =>
      total[c]! > 0 && total[c]! - kept[c]! > 0.1 * total[c]! ? [`'${n}' keeps ${kept[c]} of ${total[c]}`] : [],
    );
    if (thin.length)
      warnings.push(
        `${options.dataset}${d.fold !== null ? ` fold ${d.fold}` : ''}: faces: ${thin.join(', ')} images (no face was found in the others, which were left out: --when-no-face skip); UAR and WAR are of that subset and its class balance (--when-no-face full keeps them whole)`,
      );
  });
  return warnings;
}

/**
 * What makes a loaded set's numbers suspect before anything is encoded: the loader's warnings (frames numbered
 * with numbers of different widths), classes without items (their recall is undefined, UAR is over the others) and a `limit` not
 * smaller than the set.
 * @returns the warnings, fold by fold (empty when none)
 */
export function evalDataWarnings(options: Pick<EvalOptions, 'dataset' | 'limit'>, data: readonly EvalData[]): string[] {
  const warnings: string[] = [];
  for (const d of data) {
    warnings.push(...d.warnings);
    const where = `${options.dataset}${d.fold !== null ? ` fold ${d.fold}` : ''}`;
    const C = d.labelSet.names.length;
    const support = new Array<number>(C).fill(0);
    for (const i of d.items) support[i.label] = (support[i.label] ?? 0) + 1;
    const empty = d.labelSet.names.filter((_, c) => support[c] === 0);
    if (empty.length && d.items.length)
      warnings.push(
        `${where}: no ${d.kind === 'images' ? 'images' : 'clips'} of class${empty.length > 1 ? 'es' : ''} ${empty.map((n) => `'${n}'`).join(', ')}: their recall is undefined, and UAR is the mean over the other ${C - empty.length} of ${C} classes`,
      );
    if (options.limit !== undefined && options.limit >= d.total)
      warnings.push(
        `${where}: limit ${options.limit} is not smaller than the ${d.total} items of the set: all of them are evaluated (no subset)`,
      );
  }
  return warnings;
}

/**
 * The one label set of all folds (the first fold's).
 * @throws Error when two folds have different class lists
 */
export function sharedLabelSet(data: readonly EvalData[]): LabelSet {
  const labelSet = data[0]!.labelSet;
  for (const d of data)
    if (d.labelSet.names.join('\n') !== labelSet.names.join('\n'))
      throw new Error(`fold ${d.fold} has label set ${d.labelSet.id}, fold ${data[0]!.fold} has ${labelSet.id}`);
  return labelSet;
}

/** The prompts of each prompt type for a label set, and the classes whose prompts come from Exp-CLIP's templates. */
export interface EvalPrompts {
  byType: Partial<Record<PromptType, ReturnType<typeof expClipPrompts>>>;
  /** Classes with no curated prompts (their prompts fill the templates with the class name). */
  fromTemplates: string[];
}

/** Stage "prompts": Exp-CLIP's prompts of every `options.promptTypes` entry for `labelSet` (logs template-filled classes). */
export function evalPrompts(
  options: Pick<EvalOptions, 'promptTypes'>,
  labelSet: LabelSet,
  hooks: Pick<PipelineHooks, 'log'> = {},
): EvalPrompts {
  const byType = Object.fromEntries(options.promptTypes.map((t) => [t, expClipPrompts(t, labelSet)])) as Record<
    PromptType,
    ReturnType<typeof expClipPrompts>
  >;
  const fromTemplates = byType[options.promptTypes[0]!].fromTemplates;
  if (fromTemplates.length)
    hooks.log?.(
      `no curated Exp-CLIP prompts for ${fromTemplates.join(', ')}: their prompts fill Exp-CLIP's templates with the class name`,
    );
  return { byType, fromTemplates };
}

/**
 * The multiplier of the cosine logits: a number given by the user, else the checkpoint's exp(logit_scale), else 100
 * (OpenAI CLIP's) when the model holds none.
 * @throws InvalidArgumentError naming `logitScale` when the checkpoint's value lies outside `LOGIT_SCALE_RANGE`
 */
export function resolveLogitScale(option: EvalOptions['logitScale'], modelScale: number | null): LogitScaleUsed {
  if (option !== 'model') return { value: option, source: 'user' };
  if (modelScale !== null && !logitScaleInRange(modelScale))
    throw new InvalidArgumentError({
      functionName: 'evaluateZeroShot',
      argument: 'logitScale',
      message: `is 'model', and the model's own logit_scale gives exp(logit_scale) = ${modelScale}, which the float32 logits cannot take (a scale must be ${LOGIT_SCALE_EXPECTED}); give a number (CLI --logit-scale), e.g. 100, OpenAI CLIP's`,
    });
  return modelScale !== null ? { value: modelScale, source: 'model' } : { value: 100, source: 'default' };
}

/** The loaded CLIP, the projection head (if any), and what the evaluation records of them. */
export interface EvalModel {
  clip: ClipModel;
  /** The projection head read from `options.head`, or undefined. */
  head: ProjectionHead | undefined;
  /** What the features go through before the cosine: `hooks.projection`, else the head, else none. */
  projection: FeatureProjection | undefined;
  logitScale: LogitScaleUsed;
  /** Content fingerprint of the model files (the feature cache's namespace). */
  modelFingerprint: string;
  /** SHA-256 of the head file (`options.head`), or null without one. */
  headFingerprint: string | null;
  /** Releases the model and the head. */
  dispose(): Promise<void>;
}

/** What the model stage takes besides options: a projection replacing the head, and a test hook of the int8 weights. */
export interface EvalModelHooks {
  projection?: FeatureProjection;
  /** Testing: alter the int8 per-channel scales of a weight (`dtype: 'int8'`), e.g. to damage the quantization. */
  int8ScalesHook?: (key: string, scales: Float32Array) => void;
}

/**
 * Stage "model": load CLIP (`options.model`, dtype, device, tokenizer, threads), resolve the logit scale, and read
 * the projection head of `options.head`, checked against CLIP's embedding width D.
 * @throws what `loadClip` and `loadProjectionHeadAsync` throw (missing files, a head of another input width)
 */
export async function loadEvalModel(
  options: EvalOptions,
  hooks: PipelineHooks & EvalModelHooks = {},
): Promise<EvalModel> {
  const log = hooks.log ?? (() => undefined);
  const clip = await loadClip({
    model: options.model,
    dtype: options.dtype,
    device: options.device,
    ...(hooks.int8ScalesHook ? { int8ScalesHook: hooks.int8ScalesHook } : {}),
    ...(options.tokenizer ? { tokenizer: options.tokenizer } : {}),
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    log,
  });
  // a failure from here on (a head of another width, a cacheDir that is a file, an abort) releases the loaded model:
  // it held its sessions (gigabytes and threads for a full-size CLIP) until a garbage collection that may not come
  let head: Awaited<ReturnType<typeof loadProjectionHeadAsync>> | undefined;
  try {
    const logitScale = resolveLogitScale(options.logitScale, clip.logitScale);
    if (logitScale.source === 'default')
      log(
        `${options.model} holds no logit_scale (ONNX graphs only): the probabilities use 100 (OpenAI CLIP's); pass logitScale to choose`,
      );
    if (options.head) log(`reading the projection head ${options.head}`);
    head = options.head
      ? await loadProjectionHeadAsync(options.head, {
          expectInputDim: clip.embeddingDim,
          ...(hooks.signal ? { signal: hooks.signal } : {}),
        })
      : undefined;
    const loadedHead = head;
    return {
      clip,
      head,
      projection: hooks.projection ?? head,
      logitScale,
      modelFingerprint: clip.contentFingerprint(options.cacheDir),
      headFingerprint: options.head ? hashFile(options.head) : null,
      dispose: async () => {
        await clip.dispose();
        await loadedHead?.dispose();
      },
    };
  } catch (error) {
    await head?.dispose();
    await clip.dispose();
    throw error;
  }
}

/** What {@link encodeForEvaluation} returns: the encoded folds and what the encoder and the cropper did. */
export interface EvalEncoding extends EncodedEvalData {
  counts: EncodeCounts;
  faces: FacesReport | null;
  facesCache: FaceCacheCounts | null;
  encodeSeconds: number;
}

/**
 * Stages "select faces", "sample clips" and "encode" together: open the encoder and the face cropper, encode every
 * fold ({@link encodeEvalData}), then release them (also on error) and report the faces.
 */
export async function encodeForEvaluation(
  options: EvalOptions,
  data: readonly EvalData[],
  model: Pick<EvalModel, 'clip' | 'modelFingerprint'>,
  shard: Shard | null,
  hooks: EncodeHooks = {},
): Promise<EvalEncoding> {
  const log = hooks.log ?? (() => undefined);
  const te = performance.now();
  const encoder = createEvalEncoder(options, model.clip, model.modelFingerprint, hooks);
  let cropper: FaceCropper | undefined;
  let encoded: EncodedEvalData;
  try {
    cropper = await createEvalFaceCropper(options, data, { log });
    encoded = await encodeEvalData(options, data, { encoder, cropper, shard }, hooks);
  } finally {
    await encoder.close();
    await cropper?.dispose();
  }
  const faces = cropper ? facesReport(cropper, options.root) : null;
  if (cropper) log(cropper.summary());
  return {
    ...encoded,
    counts: { ...encoder.counts },
    faces,
    facesCache: cropper ? { ...cropper.cacheCounts } : null,
    encodeSeconds: (performance.now() - te) / 1000,
  };
}

/** What a classifier of {@link classifyFolds} is built from. */
export interface ClassifierSpec {
  clip: ClipModel;
  labelSet: LabelSet;
  prompts: ReturnType<typeof expClipPrompts>;
  ensemble: EvalOptions['ensemble'];
  logitScale: number;
  projection?: FeatureProjection | undefined;
}

/**
 * Stage "classify": the zero-shot classifier of one prompt type applied to every fold's features — images as they
 * are, clips by averaging their `framesPerClip` projected frame features.
 * @param features per fold: [items, D] for images, [clips · framesPerClip, D] for clips
 * @returns per fold: logits [items, classes] (cosine × logit scale)
 */
export async function classifyFolds(
  spec: ClassifierSpec,
  data: readonly Pick<EvalData, 'kind'>[],
  features: readonly Tensor2D[],
  framesPerClip: number,
): Promise<Tensor2D[]> {
  const zs = await buildZeroShotClassifier({
    model: spec.clip,
    classNames: spec.labelSet.names,
    prompts: spec.prompts.prompts,
    ensemble: spec.ensemble,
    logitScale: spec.logitScale,
    ...(spec.projection ? { projection: spec.projection } : {}),
  });
  const logits: Tensor2D[] = [];
  for (let k = 0; k < data.length; k++)
    logits.push(
      data[k]!.kind === 'images'
        ? await zs.classify(features[k]!)
        : await zs.classifyClips(features[k]!, framesPerClip),
    );
  return logits;
}

/** One fold of one prompt type, scored. */
export interface ScoredFold {
  /** Predicted class of each item (argmax of the logits). */
  predicted: number[];
  /** Softmax of the logits [items, classes]. */
  probabilities: Tensor2D;
  result: FoldResult;
  /** Flat logits (zero-norm or non-finite features) and one class predicted for every item. */
  warnings: string[];
}

/**
 * Stage "score": predictions, probabilities, UAR/WAR/per-class recall and the confusion matrix of one fold, and
 * warnings for numbers that say nothing.
 * @param logits [items, classes]
 * @param labels true class of each item (length items)
 * @param context where: the prompt type and fold (for the warnings); projected: whether a head was applied
 * @throws InvalidArgumentError when `labels` and `logits` disagree on the number of items or classes
 */
export function scoreFold(
  logits: Tensor2D,
  labels: readonly number[],
  context: { promptType: PromptType; fold: number | null; classNames: readonly string[]; projected: boolean },
): ScoredFold {
  const [n, C] = logits.dims;
  if (labels.length !== n || C !== context.classNames.length)
    throw new InvalidArgumentError({
      functionName: 'scoreFold',
      argument: 'logits',
      message: `are [${n}, ${C}] but there are ${labels.length} labels and ${context.classNames.length} classes`,
    });
  const predicted = argmaxRows(logits);
  const where = `${context.promptType}${context.fold !== null ? ` fold ${context.fold}` : ''}`;
  const warnings: string[] = [];
  let flat = 0; // items that score every class the same: zero-norm features (after the head, if any)
  for (let r = 0; r < n; r++) {
    const row = logits.data.subarray(r * C, (r + 1) * C);
    if (row.every((v) => v === row[0]) || !row.every(Number.isFinite)) flat++;
  }
  const head = context.projected;
  if (flat)
    warnings.push(
      `${where}: ${flat} of ${n} items score every class the same (uniform probabilities): their image features are zero (norm 0)${head ? ' after the head' : ''} or not finite; check the model${head ? ', the head' : ''} and the images`,
    );
  if (predicted.length > 1 && C > 1 && predicted.every((c) => c === predicted[0]))
    warnings.push(
      `${where}: every one of the ${predicted.length} items is predicted as '${context.classNames[predicted[0]!]}': the classifier is degenerate (constant or zero features, or a broken model or head), so UAR and WAR say nothing`,
    );
  const rep = classificationReport(labels, predicted, C);
  const result: FoldResult = {
    fold: context.fold,
    n: rep.n,
    uar: rep.uar,
    war: rep.war,
    perClassRecall: rep.perClassRecall,
    confusionMatrix: rep.confusionMatrix,
  };
  return { predicted, probabilities: softmaxRows(logits), result, warnings };
}

/** Each fold's item ids (paths relative to the root; face crops named by photo) and labels, before classification. */
export function foldPredictions(options: EvalOptions, data: readonly EvalData[]): FoldPredictions[] {
  return data.map((d) => ({
    fold: d.fold,
    ids: d.items.map((i) => ('frameDir' in i ? idOf(options.root, i.frameDir) : itemId(options, i))),
    labels: d.items.map((i) => i.label),
    byPromptType: {},
  }));
}

/**
 * Stages "classify" and "score" over every prompt type: fills `predictions[k].byPromptType` and returns per prompt
 * type the fold results and their mean (and the warnings, in order, each also passed to `hooks.onWarning` as it
 * arises).
 */
export async function classifyAndScore(
  options: EvalOptions,
  inputs: {
    model: Pick<EvalModel, 'clip' | 'projection' | 'logitScale'>;
    labelSet: LabelSet;
    prompts: EvalPrompts;
    data: readonly EvalData[];
    features: readonly Tensor2D[];
    predictions: FoldPredictions[];
  },
  hooks: Pick<PipelineHooks, 'signal'> & { onWarning?: (warning: string) => void } = {},
): Promise<{ results: PromptTypeResult[]; warnings: string[] }> {
  const { model, labelSet, data, predictions } = inputs;
  const results: PromptTypeResult[] = [];
  const warnings: string[] = [];
  for (const promptType of options.promptTypes) {
    throwIfAborted(hooks.signal, 'evaluation');
    const logits = await classifyFolds(
      {
        clip: model.clip,
        labelSet,
        prompts: inputs.prompts.byType[promptType]!,
        ensemble: options.ensemble,
        logitScale: model.logitScale.value,
        projection: model.projection,
      },
      data,
      inputs.features,
      options.frames,
    );
    const folds = data.map((d, k) => {
      const context = { promptType, fold: d.fold, classNames: labelSet.names, projected: !!model.projection };
      const s = scoreFold(logits[k]!, predictions[k]!.labels, context);
      predictions[k]!.byPromptType[promptType] = { predicted: s.predicted, probabilities: s.probabilities };
      warnings.push(...s.warnings);
      s.warnings.forEach((w) => hooks.onWarning?.(w));
      return s.result;
    });
    results.push({ promptType, folds, mean: averageFolds(folds.map((f) => ({ uar: f.uar, war: f.war }))) });
  }
  return { results, warnings };
}

/**
 * Stage "publish" of a shard: record that it finished (its units and counts, checked by the merge) and log it.
 * @returns the record's path
 */
export function publishEvalShard(
  options: EvalOptions,
  shard: Shard,
  enc: Pick<EvalEncoding, 'units' | 'unitsDone' | 'counts' | 'faces'>,
  hooks: Pick<PipelineHooks, 'log'> = {},
): string {
  const { images, cached, encoded } = enc.counts;
  const marker = writeShardRecord(options.out!, shard, EVAL_RUN, evalShardFields(options), {
    units: enc.units,
    unitsDone: enc.unitsDone,
    counts: { images, cached, encoded },
    extra: { faces: enc.faces },
  });
  hooks.log?.(
    `shard ${shard.index}/${shard.count}: ${enc.unitsDone} of ${enc.units} units, ${images} images (${encoded} encoded, ${cached} cached); record ${marker}`,
  );
  return marker;
}

/**
 * Stage "publish": `evalOutputFiles(result)` as one verified set in the locked run directory, then run.json (counts,
 * face cache use, timing).
 */
export function publishEvaluation(run: RunDirectory, result: EvalResult): void {
  run.publish(evalOutputFiles(result));
  writeJsonAtomic(run.path('run.json'), {
    command: 'exp-clip eval',
    cwd: process.cwd(), // the directory relative paths in config.resolved.json are from
    counts: result.counts,
    ...(result.facesCache ? { faces: result.facesCache } : {}),
    timing: result.timing,
    finishedAt: new Date().toISOString(),
  });
}

/** The result set of an evaluation: `out` is refused when it holds another kind (a trained head, a HESP run). */
export const EVAL_RUN: RunKind = {
  kind: 'exp-clip eval',
  files: ['metrics.json', 'confusion-matrix.csv', 'predictions.csv', 'config.resolved.json'],
  functionName: 'evaluateZeroShot',
  argument: 'out',
};

/**
 * Stage "out": an `out` that holds a result set an earlier evaluation published (its manifest, or the journal of a
 * committed publish) with other options is refused unless `overwrite`, so reusing a directory never loses results by
 * accident; one that holds another command's results (`EVAL_RUN`) is refused even with `overwrite`. A rerun of the same command (the same options in its config.resolved.json: a resume after a kill, a
 * warm-cache rerun) may publish again: it replaces the set with one of the same configuration, once
 * {@link refuseOtherContent} has found the same model and dataset content.
 * @throws InvalidArgumentError naming `out`, the directory and the files it holds
 */
export function refuseEarlierResults(options: EvalOptions): void {
  if (!options.out || options.shard) return;
  const dir = resolve(options.out);
  const manifest = join(dir, MANIFEST_FILE);
  if (!existsSync(manifest) && !existsSync(join(dir, PUBLISH_JOURNAL_FILE))) return;
  let files = 'a publish in progress or an unreadable manifest'; // still someone's results: refused all the same
  let earlierManifest: RunManifest | undefined;
  try {
    earlierManifest = JSON.parse(readFileSync(manifest, 'utf8')) as RunManifest;
  } catch {
    /* unreadable: refused below unless overwrite */
  }
  // another command's results (a trained head): refused even with overwrite, which replaces evaluations only
  const other = earlierManifest?.files && otherKindOfRun(dir, earlierManifest, EVAL_RUN);
  if (other) throw other;
  if (options.overwrite) return;
  let changed = '';
  try {
    files = Object.keys(earlierManifest!.files).join(', ');
    const earlier = JSON.parse(readFileSync(join(dir, 'config.resolved.json'), 'utf8')) as Record<string, unknown>;
    const { modelFingerprint: _m, datasetFingerprint: _d, provenance: _p, headFingerprint, ...settings } = earlier;
    void [_m, _d, _p];
    const now = JSON.parse(JSON.stringify(recordedOptions(options))) as Record<string, unknown>;
    // the same command again, its paths perhaps spelt otherwise (`data/` for `data`, absolute for relative), and its
    // head file the one the results are of (another file at the same path would replace them unseen)
    const then = pathsResolved(settings, earlierCwd(dir));
    const sameHead = !options.head || typeof headFingerprint !== 'string' || hashFile(options.head) === headFingerprint;
    if (JSON.stringify(then) === JSON.stringify(pathsResolved(now)) && sameHead) return;
    changed = sameHead
      ? describeChangedFields(then, pathsResolved(now))
      : `head: ${options.head} holds another file than the one they were computed with (SHA-256 ${headFingerprint.slice(0, 12)}…)`;
  } catch {
    /* no readable manifest or configuration: refused below */
  }
  throw new InvalidArgumentError({
    functionName: 'evaluateZeroShot',
    argument: 'out',
    message: `${dir} already holds the results of an earlier evaluation with other options (${changed ? `${changed}; ` : ''}${files}); pass overwrite: true (CLI: --overwrite) to replace them as one set, or choose another output directory`,
  });
}

/**
 * Stage "out", once the content is known: a rerun of the same options (what {@link refuseEarlierResults} lets
 * through) whose model files, label set or dataset content are other than those the published set records
 * (config.resolved.json's `modelFingerprint`, `datasetFingerprint`; metrics.json's `logitScale`, `labelSet`) is
 * refused unless `overwrite`: the same paths may hold other files, and the set would be replaced by results of other
 * content unseen. A model fingerprint an earlier vlfer recorded for these files (`ClipModel.earlierContentFingerprints`)
 * is the same model; a set that records none of these is not checked for it.
 * @param now the loaded model, the run's label set and, once encoded, the dataset's fingerprint
 * @throws InvalidArgumentError naming `out`, the fingerprint that changed and both values
 */
export function refuseOtherContent(
  options: EvalOptions,
  now: Pick<EvalModel, 'modelFingerprint' | 'clip' | 'logitScale'> & {
    labelSet: Pick<LabelSet, 'id' | 'names'>;
    datasetFingerprint?: string;
  },
): void {
  if (!options.out || options.shard || options.overwrite) return;
  const dir = resolve(options.out);
  if (!existsSync(join(dir, MANIFEST_FILE))) return; // nothing published (refuseEarlierResults saw to the rest)
  const [config, metrics] = ['config.resolved.json', 'metrics.json'].map((name) => {
    try {
      return JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new InvalidArgumentError({
        functionName: 'evaluateZeroShot',
        argument: 'out',
        message: `${dir} holds published results whose ${name} cannot be read (${(error as Error).message}); pass overwrite: true (CLI: --overwrite) to replace them, or choose another output directory`,
      });
    }
  }) as [Record<string, unknown>, Record<string, unknown>];
  const changed = otherContent(options, now, {
    model: config.modelFingerprint,
    dataset: config.datasetFingerprint,
    scale: (metrics.logitScale as { value?: unknown } | null | undefined)?.value,
    labelSet: metrics.labelSet,
  });
  if (changed)
    throw new InvalidArgumentError({
      functionName: 'evaluateZeroShot',
      argument: 'out',
      message: `${dir} already holds the results of an earlier evaluation of the same options on other content (${changed}); pass overwrite: true (CLI: --overwrite) to replace them as one set, or choose another output directory`,
    });
}

/**
 * What {@link refuseOtherContent} names: the first of the model files, its logit scale, the label set (a label-set
 * file's classes), the dataset that changed.
 */
function otherContent(
  options: EvalOptions,
  now: Parameters<typeof refuseOtherContent>[1],
  then: { model: unknown; dataset: unknown; scale: unknown; labelSet: unknown },
): string | undefined {
  const { model, dataset, scale } = then;
  if (
    typeof model === 'string' &&
    model !== now.modelFingerprint &&
    !now.clip.earlierContentFingerprints(options.cacheDir).includes(model)
  )
    return `model: ${options.model} holds other files than the ones they were computed with (model fingerprint ${model.slice(0, 12)}… then, ${now.modelFingerprint.slice(0, 12)}… now)`;
  // the ONNX graphs' fingerprint leaves out model.safetensors, whose logit_scale the probabilities use
  if (typeof scale === 'number' && scale !== now.logitScale.value)
    return `model: the logit scale of ${options.model} is ${now.logitScale.value} now, ${scale} in the results`;
  // a label-set file read again may name other classes under the same ids (the dataset fingerprint holds the ids)
  const set = then.labelSet as { id?: unknown; names?: unknown } | undefined;
  if (set && JSON.stringify([set.id, set.names]) !== JSON.stringify([now.labelSet.id, now.labelSet.names]))
    return `label set: ${JSON.stringify(set.id)} with classes ${JSON.stringify(set.names)} then, ${JSON.stringify(now.labelSet.id)} with ${JSON.stringify(now.labelSet.names)} now`;
  if (typeof dataset === 'string' && now.datasetFingerprint !== undefined && dataset !== now.datasetFingerprint)
    return `dataset: ${options.root} holds other content than the one they were computed with (dataset fingerprint ${dataset.slice(0, 12)}… then, ${now.datasetFingerprint.slice(0, 12)}… now: other images, labels, frames or faces)`;
  return undefined;
}

/**
 * Recorded options as a rerun compares them: paths resolved against the working directory they were given in (the
 * path options always, those that may be names, a Hub model id or a built-in label set, when such a path exists),
 * the dataset's default label set and the lists' default label scheme the same named or not (`unsetLabelScheme`), and
 * without the options that do not change the results
 * (`threads`, `preprocessWorkers`, `cacheDir`).
 */
function pathsResolved(o: Record<string, unknown>, cwd = process.cwd()): Record<string, unknown> {
  // how the work is done, not what it computes: threads, decode workers (documented to give the same bytes), the cache
  const { threads: _t, preprocessWorkers: _w, cacheDir: _c, ...out } = o;
  void [_t, _w, _c];
  // the dataset's default label set named or left out is one choice
  const info = DATASETS[o.dataset as DatasetId] as { labelSet?: string; labelScheme?: LabelScheme } | undefined;
  if (out.labelSet !== undefined && out.labelSet === info?.labelSet) delete out.labelSet;
  // so is the lists' label scheme named as what leaving it out means (a DFEW split file's own ids, else the dataset's)
  if (out.labelScheme !== undefined && typeof o.annotations === 'string') {
    const folds = Array.isArray(o.folds) ? (o.folds as number[]) : [null];
    const files = folds.map((f) => resolve(cwd, foldAnnotations({ annotations: o.annotations as string }, f)!));
    if (out.labelScheme === unsetLabelScheme(files, info?.labelScheme ?? 'dfer-clip')) delete out.labelScheme;
  }
  for (const k of ['root', 'annotations', 'head', 'out', 'model', 'tokenizer', 'labelSet']) {
    const v = out[k];
    const always = ['root', 'annotations', 'head', 'out'].includes(k);
    if (typeof v === 'string' && v !== '' && (always || existsSync(resolve(cwd, v)))) out[k] = resolve(cwd, v);
  }
  return out;
}

/** The working directory an earlier evaluation in `dir` ran in (its run.json), which its relative paths are from. */
function earlierCwd(dir: string): string | undefined {
  try {
    const cwd = (JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { cwd?: unknown }).cwd;
    return typeof cwd === 'string' && isAbsolute(cwd) ? cwd : undefined;
  } catch {
    return undefined; // none recorded (vlfer before 2026-12-06): this process's
  }
}

/** The options a result set records in config.resolved.json: all but how it was written (`overwrite`). */
function recordedOptions(options: EvalOptions): Omit<EvalOptions, 'overwrite'> {
  const { overwrite, ...settings } = options;
  void overwrite;
  return settings;
}

/**
 * The locked run directory of an unsharded evaluation with `out` (checked again under the lock: an interrupted
 * publish it completes is a result set too); shards share the directory and write only their own record, so they
 * take no lock.
 */
function openEvalRun(options: EvalOptions, log: (line: string) => void): RunDirectory | undefined {
  if (!options.out) return undefined;
  if (options.shard) {
    // no lock (shards run at once); the directory must be free for an evaluation, claimed with the shard's record
    checkRunKind(resolve(options.out), EVAL_RUN);
    return undefined;
  }
  const run = RunDirectory.open(options.out, { command: 'exp-clip eval', log, expects: EVAL_RUN });
  try {
    refuseEarlierResults(options);
  } catch (error) {
    run.close();
    throw error;
  }
  return run;
}

/** Before a merge: every shard's record is checked (see `checkShardRecords`); logs what the shards encoded. */
function checkEvalMerge(options: EvalOptions, log: (line: string) => void): void {
  const m = checkShardRecords(options.out!, options.merge!, evalShardFields(options), {
    functionName: 'evaluateZeroShot',
    verb: 'merge',
  });
  // the records were checked (shape and checksum), so the counts are the shards' own
  log(
    `merging ${options.merge} shards: ${m.reduce((n, x) => n + (x.counts.encoded ?? 0), 0)} images were encoded by the shards`,
  );
}

/**
 * Exp-CLIP zero-shot evaluation (`test.py`) as a library function: load the dataset (each fold), encode every
 * image (or the sampled frames of every clip) once through the checked feature cache, classify with each prompt
 * type (optionally through a projection head), and report per-fold UAR/WAR/per-class recall and the mean over
 * folds. With `out`, the run directory is locked and metrics.json, confusion-matrix.csv, predictions.csv (names and
 * class probabilities) and config.resolved.json are published as one verified set; run.json holds timing.
 * Bad options, missing data and an empty set are reported before the model loads.
 *
 * Stages: {@link loadEvalFolds} (load) → {@link evalPrompts} → {@link loadEvalModel} → {@link encodeForEvaluation}
 * (select faces, sample clips, encode) → {@link classifyAndScore} (classify, score) → {@link publishEvaluation}
 * (or {@link publishEvalShard} for a shard).
 */
export async function evaluateZeroShot(
  input: EvalOptionsInput,
  hooks: PipelineHooks & EvalModelHooks = {},
): Promise<EvalResult> {
  const options = parseOptions(EvalOptionsSchema, input, 'evaluateZeroShot');
  checkHooks(hooks, 'evaluateZeroShot', ['int8ScalesHook']);
  refuseUnusedOptions('evaluateZeroShot', EvalOptionsSchema.shape, evalOptionUses(options), input);
  const log = hooks.log ?? (() => undefined);
  const t0 = performance.now();
  if (options.merge) checkEvalMerge(options, log);
  refuseEarlierResults(options);
  checkClipModelPath(options.model); // a mistyped model path before the dataset is read
  const run = openEvalRun(options, log);
  try {
    const warnings: string[] = [];
    const warn = (w: string) => {
      warnings.push(w);
      log(`warning: ${w}`);
    };
    const loaded = await loadEvalFolds(options, { ...hooks, log });
    evalDataWarnings(options, loaded).forEach(warn);
    const labelSet = sharedLabelSet(loaded);
    const prompts = evalPrompts(options, labelSet, { log });
    const { model, quantization } = await loadGuardedModel(options, loaded, { labelSet, prompts }, { ...hooks, log });
    let staged: ModelStages;
    try {
      const stages = { loaded, labelSet, prompts, model, quantization, warn };
      staged = await evaluateWithModel(options, stages, { ...hooks, log });
    } finally {
      await model.dispose(); // also when encoding or scoring throws (an abort, a refusal)
    }
    const { result, enc } = staged;
    const done: EvalResult = {
      ...result,
      warnings,
      timing: { encodeSeconds: enc.encodeSeconds, totalSeconds: (performance.now() - t0) / 1000 },
      provenance: provenance({ runtime: runtimeVersions() }),
      outDir: result.shard ? (options.out ?? null) : run ? run.dir : null,
    };
    if (result.shard) publishEvalShard(options, result.shard, enc, { log });
    else if (run) publishEvaluation(run, done);
    return done;
  } finally {
    run?.close();
  }
}

/**
 * A warning when the head `options.head` records (`model_fingerprint`, written by `trainHead`) that it was trained on
 * the features of other model files than `options.model`'s, an earlier vlfer's fingerprint of these files aside, when
 * it was trained in the evaluation's dtype (another dtype loads other files of the same model). Not a refusal: the same
 * CLIP in another format has other files. Heads without the record (released `.pth` files, heads saved by hand) are
 * not checked.
 */
export function headOfOtherEncoder(
  options: Pick<EvalOptions, 'head' | 'model' | 'cacheDir' | 'dtype'>,
  model: Pick<EvalModel, 'head' | 'projection' | 'modelFingerprint' | 'clip'>,
): string | undefined {
  const trainedOn = model.head?.metadata.model_fingerprint;
  if (!trainedOn || model.projection !== model.head || trainedOn === model.modelFingerprint) return undefined;
  // training loads the vision tower alone: on the 'onnx' runtime its fingerprint covers the vision files only
  if (trainedOn === model.clip.visionFingerprint(options.cacheDir)) return undefined;
  // another dtype loads other files of the same model (int8: the safetensors weights, fp32: the ONNX graphs)
  if (trainedDtype(model.head!.metadata) !== options.dtype) return undefined;
  if (model.clip.earlierContentFingerprints(options.cacheDir).includes(trainedOn)) return undefined;
  const encoder = model.head!.metadata.encoder;
  return `the head ${options.head} was trained on the features of other model files (${encoder ? `${encoder}, ` : ''}model fingerprint ${trainedOn.slice(0, 12)}…) than ${options.model} (${model.modelFingerprint.slice(0, 12)}…): unless it is the same CLIP in another format or precision, the head's projections of these features mean nothing`;
}

/** The dtype a trained head's features were encoded in (its `training_config` record; fp32 when it says none). */
function trainedDtype(metadata: Readonly<Record<string, string>>): string {
  try {
    const dtype = (JSON.parse(metadata.training_config ?? '{}') as { dtype?: unknown }).dtype;
    return typeof dtype === 'string' ? dtype : 'fp32';
  } catch {
    return 'fp32';
  }
}

/** What {@link evaluateWithModel} gives back: the result but for what the caller adds, and the encoding. */
interface ModelStages {
  result: Omit<EvalResult, 'warnings' | 'timing' | 'provenance' | 'outDir'>;
  enc: EvalEncoding;
}

/**
 * The stages that use the loaded model: {@link refuseOtherContent} (model), {@link encodeForEvaluation},
 * {@link refuseOtherContent} (dataset), then for a full run (not a shard) {@link classifyAndScore}. The caller
 * releases the model.
 */
async function evaluateWithModel(
  options: EvalOptions,
  stages: {
    loaded: readonly EvalData[];
    labelSet: LabelSet;
    prompts: EvalPrompts;
    model: EvalModel;
    quantization: QuantizationReport | null;
    warn: (w: string) => void;
  },
  hooks: PipelineHooks & EvalModelHooks & { log: (line: string) => void },
): Promise<ModelStages> {
  const { loaded, labelSet, prompts, model, quantization, warn } = stages;
  const shard = options.shard ?? null;
  refuseOtherContent(options, { ...model, labelSet });
  const otherEncoder = headOfOtherEncoder(options, model);
  if (otherEncoder) warn(otherEncoder);
  const enc = await encodeForEvaluation(options, loaded, model, shard, { ...hooks, warn });
  refuseOtherContent(options, { ...model, labelSet, datasetFingerprint: enc.datasetFingerprint });
  const common = { ...evalResultBase(options, labelSet, prompts, enc, model), quantization };
  if (shard) {
    const none = { logitScale: null, results: [], predictions: [], datasetFingerprint: '' };
    return { enc, result: { ...common, shard, ...none } };
  }
  facesSkipWarnings(options, loaded, enc.data).forEach(warn);
  const predictions = foldPredictions(options, enc.data);
  const scored = await classifyAndScore(
    options,
    { model, labelSet, prompts, data: enc.data, features: enc.features, predictions },
    { ...hooks, onWarning: warn },
  );
  const scores = { logitScale: model.logitScale, results: scored.results, predictions };
  return { enc, result: { ...common, shard: null, ...scores, datasetFingerprint: enc.datasetFingerprint } };
}

/**
 * Stages "model" and "quantization guard": {@link loadEvalModel}, then for `dtype: 'int8'` the guard on a sample of
 * the loaded items (`quantizationGuard`); the model is released when the guard refuses the run.
 */
async function loadGuardedModel(
  options: EvalOptions,
  loaded: readonly EvalData[],
  run: { labelSet: LabelSet; prompts: EvalPrompts },
  hooks: PipelineHooks & EvalModelHooks & { log: (line: string) => void },
): Promise<{ model: EvalModel; quantization: QuantizationReport | null }> {
  const model = await loadEvalModel(options, hooks);
  try {
    const guarded = { prompts: run.prompts, model, labelNames: run.labelSet.names };
    return { model, quantization: await quantizationGuard(options, loaded, guarded, hooks) };
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

/** What a shard's result and the full result share, in the order of `EvalResult`. */
function evalResultBase(
  options: EvalOptions,
  labelSet: LabelSet,
  prompts: EvalPrompts,
  enc: EvalEncoding,
  { modelFingerprint, headFingerprint }: Pick<EvalModel, 'modelFingerprint' | 'headFingerprint'>,
) {
  return {
    options,
    labelSet: { id: labelSet.id, names: labelSet.names },
    labelSetReason: enc.data[0]!.labelSetReason,
    promptsFromTemplates: prompts.fromTemplates,
    folds: enc.data.map((d) => ({
      fold: d.fold,
      subset: d.subset,
      items: d.items.length,
      total: d.total,
      dropped: d.dropped,
    })),
    faces: enc.faces,
    facesCache: enc.facesCache,
    modelFingerprint,
    headFingerprint,
    counts: enc.counts,
  };
}

/**
 * metrics.json of an evaluation: options that matter, folds, faces, fingerprints, warnings, per prompt type the mean
 * and per-fold UAR/WAR/per-class recall; `uarStdOverFolds` / `warStdOverFolds` are sample standard deviations (n − 1)
 * of the per-fold values (null for one fold: undefined).
 */
export function evalMetrics(r: EvalResult): Record<string, unknown> {
  const names = r.labelSet.names;
  return {
    dataset: r.options.dataset,
    model: r.options.model,
    modelFingerprint: r.modelFingerprint,
    head: r.options.head ?? null,
    // which head's content the numbers are of (its path may hold another file later)
    ...(r.headFingerprint ? { headFingerprint: r.headFingerprint } : {}),
    preprocess: r.options.preprocess,
    logitScale: r.logitScale,
    labelSet: r.labelSet,
    labelSetReason: r.labelSetReason,
    promptsFromTemplates: r.promptsFromTemplates,
    folds: r.folds,
    faces: r.faces,
    datasetFingerprint: r.datasetFingerprint,
    ...(r.quantization ? { quantization: r.quantization } : {}),
    warnings: r.warnings,
    metricsAreFractions: true,
    promptTypes: Object.fromEntries(
      r.results.map((p) => [
        p.promptType,
        {
          uar: p.mean.uar.mean,
          war: p.mean.war.mean,
          // a sample std of one value is undefined: null, as summary.csv leaves it empty (it was written as 0)
          uarStdOverFolds: p.folds.length > 1 ? p.mean.uar.std : null,
          warStdOverFolds: p.folds.length > 1 ? p.mean.war.std : null,
          folds: p.folds.map((f) => ({
            fold: f.fold,
            n: f.n,
            uar: f.uar,
            war: f.war,
            perClassRecall: Object.fromEntries(names.map((c, i) => [c, f.perClassRecall[i] ?? null])),
          })),
        },
      ]),
    ),
    provenance: r.provenance,
  };
}

/**
 * confusion-matrix.csv: one row per prompt type, fold and true class; columns `pred_<class>` the predicted classes
 * (prefixed, as predictions.csv's `p_<class>`: a class folder named `fold` or `true_class` gave two columns of one
 * name, which csv readers merge or rename).
 */
export function confusionMatrixCsv(r: EvalResult): string {
  const names = r.labelSet.names;
  const cm = [csvRow(['prompt_type', 'fold', 'true_class', ...names.map((n) => `pred_${n}`)])];
  for (const p of r.results)
    for (const f of p.folds)
      f.confusionMatrix.forEach((row, i) => cm.push(csvRow([p.promptType, f.fold ?? '', names[i]!, ...row])));
  return `${cm.join('\n')}\n`;
}

/**
 * predictions.csv: one row per prompt type and item — label, prediction, correctness and the class probabilities.
 * As one string: at most 512 MiB (V8's longest string, about 350,000 items × 5 prompt types × 8 classes);
 * `evalOutputFiles` writes it as bytes, {@link predictionsCsvBytes} (up to a Buffer's 4 GiB).
 */
export function predictionsCsv(r: EvalResult): string {
  return [...predictionsCsvLines(r)].join('');
}

/** predictions.csv as UTF-8 bytes, built from pieces of at most 64 MiB: no string of the whole file is made. */
export function predictionsCsvBytes(r: EvalResult, pieceChars = 64 << 20): Buffer {
  const pieces: Buffer[] = [];
  let lines: string[] = [];
  let chars = 0;
  for (const line of predictionsCsvLines(r)) {
    lines.push(line);
    chars += line.length;
    if (chars >= pieceChars) {
      pieces.push(Buffer.from(lines.join('')));
      lines = [];
      chars = 0;
    }
  }
  pieces.push(Buffer.from(lines.join('')));
  return Buffer.concat(pieces);
}

/** The lines of predictions.csv, each with its newline: the header, then one per prompt type and item. */
function* predictionsCsvLines(r: EvalResult): Generator<string> {
  const names = r.labelSet.names;
  const c = names.length;
  const header = ['prompt_type', 'fold', 'item', 'label_id', 'label', 'predicted_id', 'predicted', 'correct'];
  yield `${csvRow([...header, ...names.map((n) => `p_${n}`)])}\n`;
  for (const p of r.results)
    for (const fp of r.predictions) {
      const by = fp.byPromptType[p.promptType]!;
      for (let i = 0; i < fp.ids.length; i++) {
        const y = fp.labels[i]!;
        const yhat = by.predicted[i]!;
        const probabilities = Array.from(by.probabilities.data.subarray(i * c, (i + 1) * c), (v) => v);
        const row = [p.promptType, fp.fold ?? '', fp.ids[i]!, y, names[y]!, yhat, names[yhat]!, y === yhat ? 1 : 0];
        yield `${csvRow([...row, ...probabilities])}\n`;
      }
    }
}

/** The published files of an evaluation (deterministic: no timing, no dates; those are in run.json). */
export function evalOutputFiles(r: EvalResult): Record<string, string | Uint8Array> {
  // how the set was written (over an earlier one or not) is no setting of the results: the sets are equal either way
  const config = {
    ...recordedOptions(r.options),
    modelFingerprint: r.modelFingerprint,
    ...(r.headFingerprint ? { headFingerprint: r.headFingerprint } : {}),
    datasetFingerprint: r.datasetFingerprint,
    provenance: r.provenance,
  };
  return {
    'metrics.json': `${JSON.stringify(evalMetrics(r), null, 2)}\n`,
    'confusion-matrix.csv': confusionMatrixCsv(r),
    // bytes: the file of a large set is longer than one string can be
    'predictions.csv': predictionsCsvBytes(r),
    'config.resolved.json': `${JSON.stringify(config, null, 2)}\n`,
  };
}

/** A path as messages show it: relative to the working directory when under it (as typed there), else absolute. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** The result table (percentages, as the papers print them). */
export function formatEvalTable(r: EvalResult): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const folds = r.results[0]?.folds.length ?? 1;
  // over folds: the mean ± the sample standard deviation (n − 1) of the per-fold values, as metrics.json has them
  const std = folds > 1 ? ` mean ± sample std over ${folds} folds` : '';
  const lines = [`${pad('prompt type', 46)} ${pad('UAR %', 14)} ${pad('WAR %', 14)}${std}`, '-'.repeat(76)];
  for (const p of r.results) {
    const f = (m: MeanStd) =>
      folds > 1 ? `${(100 * m.mean).toFixed(2)} ± ${(100 * m.std).toFixed(2)}` : (100 * m.mean).toFixed(2);
    lines.push(`${pad(p.promptType, 46)} ${pad(f(p.mean.uar), 14)} ${pad(f(p.mean.war), 14)}`);
  }
  const c = r.counts;
  lines.push(
    `${c.images} images/frames: ${c.encoded} encoded in ${r.timing.encodeSeconds.toFixed(1)} s${c.encoded ? ` (${(c.encoded / r.timing.encodeSeconds).toFixed(1)}/s)` : ''}, ${c.cached} from the cache${r.outDir ? `; results in ${shownPath(r.outDir)}` : ''}`,
  );
  return lines.join('\n');
}
