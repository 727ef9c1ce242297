import { createHash } from 'node:crypto';
import { relative, resolve, isAbsolute } from 'node:path';
import {
  argmaxRows,
  concatRows,
  csvRow,
  inShard,
  InvalidArgumentError,
  parseOptions,
  softmaxRows,
  throwIfAborted,
  type FeatureProjection,
  type LabelSet,
  type ProgressCallback,
  type Shard,
  type Tensor2D,
} from '@vlfer/core';
import { FeatureCache, provenance, RunDirectory, writeJsonAtomic, type Provenance } from '@vlfer/core/node';
import { buildZeroShotClassifier } from '@vlfer/encoders';
import {
  createPreprocessPool,
  DECODER_VERSION,
  encodeImages,
  loadClip,
  runtimeVersions,
  sampleClipFrames,
  type ClipModel,
  type EncodeItem,
} from '@vlfer/encoders/node';
import { expClipPrompts, type PromptType } from '@vlfer/llm-knowledge';
import type { ImageItem, VideoItem } from '@vlfer/datasets';
import { createFaceCropper, type FaceCacheCounts, type FacesReport } from '@vlfer/faces/node';
import { averageFolds, classificationReport, type MeanStd } from '@vlfer/metrics';
import { loadProjectionHeadAsync } from '@vlfer/projection-head';
import { loadEvalData, type EvalData } from './data.js';
import { checkShardRecords, evalShardFields, writeShardRecord } from './shards.js';
import { EvalOptionsSchema, type EvalOptions, type EvalOptionsInput } from './options.js';

/** What long pipelines accept besides their options: cancellation, progress, notices. */
export interface PipelineHooks {
  /** Stops the work between batches/steps; resumable state (caches, checkpoints) is complete when it throws. */
  signal?: AbortSignal;
  /** Progress of each phase ('load', 'encode', 'targets', 'train', 'evaluate'). */
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
  /** SHA-256 over every evaluated item's id, label and content hash. */
  datasetFingerprint: string;
  /**
   * What makes the numbers suspect, also logged as `warning: …`: classes with no items (UAR is then over the
   * others), a `limit` not smaller than the set, image features that are all zero, one class predicted for every item.
   */
  warnings: string[];
  modelFingerprint: string;
  /** Images (frames for videos) served from the feature cache vs run through the encoder. */
  counts: { images: number; cached: number; encoded: number; damagedCacheEntries: number };
  timing: { encodeSeconds: number; totalSeconds: number };
  provenance: Provenance;
  outDir: string | null;
}

const idOf = (root: string, p: string) => {
  const r = relative(resolve(root), resolve(p));
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : p;
};

/** An image item's id in outputs: its path relative to the root; a face crop is named by its photo (and face with 'all'). */
function itemId(options: EvalOptions, it: ImageItem & { source?: string; face?: number }): string {
  return (
    idOf(options.root, it.source ?? it.path) +
    (it.source !== undefined && options.faces?.selection === 'all' ? `#face${it.face}` : '')
  );
}

/**
 * Exp-CLIP zero-shot evaluation (`test.py`) as a library function: load the dataset (each fold), encode every
 * image (or the sampled frames of every clip) once through the checked feature cache, classify with each prompt
 * type (optionally through a projection head), and report per-fold UAR/WAR/per-class recall and the mean over
 * folds. With `out`, the run directory is locked and metrics.json, confusion-matrix.csv, predictions.csv (names and
 * class probabilities) and config.resolved.json are published as one verified set; run.json holds timing.
 * Bad options, missing data and an empty set are reported before the model loads.
 */
export async function evaluateZeroShot(
  input: EvalOptionsInput,
  hooks: PipelineHooks & { projection?: FeatureProjection } = {},
): Promise<EvalResult> {
  const options = parseOptions(EvalOptionsSchema, input, 'evaluateZeroShot');
  const log = hooks.log ?? (() => undefined);
  const t0 = performance.now();
  const shard = options.shard ?? null;
  if (options.merge) {
    const m = checkShardRecords(options.out!, options.merge, evalShardFields(options), {
      functionName: 'evaluateZeroShot',
      verb: 'merge',
    });
    // the records were checked (shape and checksum), so the counts are the shards' own
    log(
      `merging ${options.merge} shards: ${m.reduce((n, x) => n + (x.counts.encoded ?? 0), 0)} images were encoded by the shards`,
    );
  }
  // shards share the output directory: they write only their own record, so they do not take its lock
  const run = options.out && !shard ? RunDirectory.open(options.out, { command: 'exp-clip eval', log }) : undefined;
  try {
    const folds = options.folds ?? [null];
    const data: EvalData[] = [];
    for (const f of folds) {
      throwIfAborted(hooks.signal, 'evaluation');
      const d = await loadEvalData(options, f);
      data.push(d);
      const unit = d.kind === 'images' ? 'images' : 'clips';
      log(
        `${options.dataset}${f !== null ? ` fold ${f}` : ''}: ${d.items.length} ${unit}${d.subset ? ` (${d.subset} of ${d.total})` : ''} from ${d.source}; label set ${d.labelSet.id} (${d.labelSetReason})${d.dropped.length ? `; dropped: ${d.dropped.map((x) => `${x.count} ${x.reason}`).join('; ')}` : ''}`,
      );
    }
    const labelSet: LabelSet = data[0]!.labelSet;
    const warnings: string[] = [];
    const warn = (w: string) => {
      warnings.push(w);
      log(`warning: ${w}`);
    };
    for (const d of data) {
      const where = `${options.dataset}${d.fold !== null ? ` fold ${d.fold}` : ''}`;
      const support = new Array<number>(d.labelSet.names.length).fill(0);
      for (const i of d.items) support[i.label] = (support[i.label] ?? 0) + 1;
      const empty = d.labelSet.names.filter((_, c) => support[c] === 0);
      if (empty.length && d.items.length)
        warn(
          `${where}: no ${d.kind === 'images' ? 'images' : 'clips'} of class${empty.length > 1 ? 'es' : ''} ${empty.map((n) => `'${n}'`).join(', ')}: their recall is undefined, and UAR is the mean over the other ${d.labelSet.names.length - empty.length} of ${d.labelSet.names.length} classes`,
        );
      if (options.limit !== undefined && options.limit >= d.total)
        warn(
          `${where}: limit ${options.limit} is not smaller than the ${d.total} items of the set: all of them are evaluated (no subset)`,
        );
    }
    for (const d of data)
      if (d.labelSet.names.join('\n') !== labelSet.names.join('\n'))
        throw new Error(`fold ${d.fold} has label set ${d.labelSet.id}, fold ${data[0]!.fold} has ${labelSet.id}`);
    const prompts = Object.fromEntries(options.promptTypes.map((t) => [t, expClipPrompts(t, labelSet)])) as Record<
      PromptType,
      ReturnType<typeof expClipPrompts>
    >;
    const fromTemplates = prompts[options.promptTypes[0]!]!.fromTemplates;
    if (fromTemplates.length)
      log(
        `no curated Exp-CLIP prompts for ${fromTemplates.join(', ')}: their prompts fill Exp-CLIP's templates with the class name`,
      );

    const clip: ClipModel = await loadClip({
      model: options.model,
      dtype: options.dtype,
      device: options.device,
      ...(options.tokenizer ? { tokenizer: options.tokenizer } : {}),
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      log,
    });
    const logitScale: LogitScaleUsed =
      options.logitScale !== 'model'
        ? { value: options.logitScale, source: 'user' }
        : clip.logitScale !== null
          ? { value: clip.logitScale, source: 'model' }
          : { value: 100, source: 'default' };
    if (logitScale.source === 'default')
      log(
        `${options.model} holds no logit_scale (ONNX graphs only): the probabilities use 100 (OpenAI CLIP's); pass logitScale to choose`,
      );
    if (options.head) log(`reading the projection head ${options.head}`);
    const head = options.head
      ? await loadProjectionHeadAsync(options.head, {
          expectInputDim: clip.embeddingDim,
          ...(hooks.signal ? { signal: hooks.signal } : {}),
        })
      : undefined;
    const projection = hooks.projection ?? head;
    const modelFingerprint = clip.contentFingerprint(options.cacheDir);
    let damaged = 0;
    const cache = options.cacheDir
      ? new FeatureCache({
          dir: options.cacheDir,
          namespace: {
            model: modelFingerprint,
            dtype: options.dtype,
            preprocess: `${options.preprocess}/${options.resizer}/${DECODER_VERSION}`,
          },
          onCorrupt: (file, why) => {
            damaged++;
            log(`feature cache entry ${file} ${why}; recomputing it`);
          },
        })
      : undefined;
    const features: Tensor2D[] = [];
    const fingerprint = createHash('sha256');
    let cached = 0;
    let encoded = 0;
    let images = 0;
    const te = performance.now();
    const pool =
      options.preprocessWorkers > 0 ? createPreprocessPool({ workers: options.preprocessWorkers }) : undefined;
    const cropper = options.faces
      ? await createFaceCropper(options.faces, {
          clips: data.some((d) => d.kind !== 'images'),
          ...(options.threads ? { threads: options.threads } : {}),
          log,
        })
      : undefined;
    if (cropper && data.some((d) => d.kind === 'video-files'))
      throw new InvalidArgumentError({
        functionName: 'evaluateZeroShot',
        argument: 'faces',
        message:
          'works on images and frame directories; extract the frames of video files first (e.g. ffmpeg -i clip.mp4 frames/%05d.png)',
      });
    // Work is done in units (images: `batchSize` source images; clips: a few clips), numbered across folds. A shard
    // encodes units u ≡ index (mod count) into the shared caches; the merge (or an unsharded run) does every unit,
    // finding the shards' features cached. Each unit is encoded as one batch window, so features are bit-identical.
    let unit = 0;
    let unitsDone = 0;
    try {
      for (const d of data) {
        const per = options.frames;
        const unitSize = d.kind === 'images' ? options.batchSize : Math.max(1, Math.floor(256 / per));
        const totalImages = d.kind === 'images' ? d.items.length : d.items.length * per;
        const encode = async (items: EncodeItem[]) => {
          const r = await encodeImages({
            model: clip,
            items,
            mode: options.preprocess,
            resizer: options.resizer,
            batchSize: options.batchSize,
            ...(cache ? { cache } : {}),
            ...(pool ? { preprocessPool: pool } : {}),
            ...(hooks.signal ? { signal: hooks.signal } : {}),
            onProgress: (e) =>
              hooks.onProgress?.({
                ...e,
                phase: `encode${d.fold !== null ? ` fold ${d.fold}` : ''}`,
                done: Math.min(totalImages, images + e.done),
                total: totalImages,
              }),
          });
          cached += r.cached;
          encoded += r.encoded;
          images += items.length;
          return r;
        };
        const kept: EvalData['items'] = [];
        const parts: Tensor2D[] = [];
        const source = d.items;
        for (let a = 0; a < source.length; a += unitSize, unit++) {
          if (!inShard(unit, shard)) continue;
          throwIfAborted(hooks.signal, 'evaluation');
          unitsDone++;
          if (d.kind === 'images') {
            const group = source.slice(a, a + unitSize) as ImageItem[];
            const items = cropper ? await cropper.cropImages(group, hooks) : group;
            if (items.length === 0) continue;
            const r = await encode(items);
            items.forEach((it, i) => fingerprint.update(`${itemId(options, it)}\t${it.label}\t${r.keys[i]}\n`));
            parts.push(r.features);
            (kept as ImageItem[]).push(...items);
          } else {
            // clips: sampled frames (the followed face's crops with faces); video files are decoded a few clips at a time
            const group = source.slice(a, a + unitSize) as (VideoItem | ImageItem)[];
            const clips: (VideoItem | ImageItem)[] = [];
            const frames: EncodeItem[][] = [];
            for (const it of group) {
              let f = (
                await sampleClipFrames(
                  'frameDir' in it ? { frameDir: it.frameDir } : { videoFile: (it as { path: string }).path },
                  { numSegments: per, shortClip: options.shortClip, ...(hooks.signal ? { signal: hooks.signal } : {}) },
                )
              ).items;
              if (cropper && 'frameDir' in it) {
                f = await cropper.clipCrops(f as string[], it.frameDir);
                if (f.length === 0) continue;
              }
              clips.push(it);
              frames.push(f);
            }
            if (clips.length === 0) continue;
            const r = await encode(frames.flat());
            clips.forEach((it, i) =>
              fingerprint.update(
                `${idOf(options.root, 'frameDir' in it ? it.frameDir : (it as { path: string }).path)}\t${it.label}\t${r.keys.slice(i * per, (i + 1) * per).join(',')}\n`,
              ),
            );
            parts.push(r.features);
            (kept as (VideoItem | ImageItem)[]).push(...clips);
          }
        }
        d.items = kept;
        features.push(concatRows(parts, clip.embeddingDim));
      }
    } finally {
      await pool?.close();
      await cropper?.dispose();
    }
    const faces: FacesReport | null = cropper
      ? { ...cropper.report(), skipped: cropper.skippedItems.map((p) => idOf(options.root, p)) }
      : null; // skipped images named as in predictions
    if (cropper) log(cropper.summary());
    const encodeSeconds = (performance.now() - te) / 1000;
    // what a shard's result and the full result share
    const common = {
      options,
      labelSet: { id: labelSet.id, names: labelSet.names },
      labelSetReason: data[0]!.labelSetReason,
      promptsFromTemplates: fromTemplates,
      folds: data.map((d) => ({
        fold: d.fold,
        subset: d.subset,
        items: d.items.length,
        total: d.total,
        dropped: d.dropped,
      })),
      faces,
      facesCache: cropper ? { ...cropper.cacheCounts } : null,
      modelFingerprint,
      counts: { images, cached, encoded, damagedCacheEntries: damaged },
    };
    if (shard) {
      await clip.dispose();
      await head?.dispose();
      const marker = writeShardRecord(options.out!, shard, evalShardFields(options), {
        units: unit,
        unitsDone,
        counts: { images, cached, encoded },
        extra: { faces },
      });
      log(
        `shard ${shard.index}/${shard.count}: ${unitsDone} of ${unit} units, ${images} images (${encoded} encoded, ${cached} cached); marker ${marker}; merge with merge: ${shard.count}`,
      );
      return {
        ...common,
        shard,
        logitScale: null,
        results: [],
        predictions: [],
        datasetFingerprint: '',
        warnings,
        timing: { encodeSeconds, totalSeconds: (performance.now() - t0) / 1000 },
        provenance: provenance({ runtime: runtimeVersions() }),
        outDir: options.out ?? null,
      };
    }

    const results: PromptTypeResult[] = [];
    const predictions: FoldPredictions[] = data.map((d) => ({
      fold: d.fold,
      ids: d.items.map((i) => ('frameDir' in i ? idOf(options.root, i.frameDir) : itemId(options, i))),
      labels: d.items.map((i) => i.label),
      byPromptType: {},
    }));
    for (const promptType of options.promptTypes) {
      throwIfAborted(hooks.signal, 'evaluation');
      const zs = await buildZeroShotClassifier({
        model: clip,
        classNames: labelSet.names,
        prompts: prompts[promptType]!.prompts,
        ensemble: options.ensemble,
        logitScale: logitScale.value,
        ...(projection ? { projection } : {}),
      });
      const foldResults: FoldResult[] = [];
      for (let k = 0; k < data.length; k++) {
        const d = data[k]!;
        const logits =
          d.kind === 'images' ? await zs.classify(features[k]!) : await zs.classifyClips(features[k]!, options.frames);
        const predicted = argmaxRows(logits);
        predictions[k]!.byPromptType[promptType] = { predicted, probabilities: softmaxRows(logits) };
        const C = labelSet.names.length;
        let flat = 0; // items that score every class the same: zero-norm features (after the head, if any)
        for (let r = 0; r < logits.dims[0]; r++) {
          const row = logits.data.subarray(r * C, (r + 1) * C);
          if (row.every((v) => v === row[0]) || !row.every(Number.isFinite)) flat++;
        }
        if (flat)
          warn(
            `${promptType}${d.fold !== null ? ` fold ${d.fold}` : ''}: ${flat} of ${logits.dims[0]} items score every class the same (uniform probabilities): their image features are zero (norm 0)${projection ? ' after the head' : ''} or not finite; check the model${projection ? ', the head' : ''} and the images`,
          );
        if (predicted.length > 1 && C > 1 && predicted.every((c) => c === predicted[0]))
          warn(
            `${promptType}${d.fold !== null ? ` fold ${d.fold}` : ''}: every one of the ${predicted.length} items is predicted as '${labelSet.names[predicted[0]!]}': the classifier is degenerate (constant or zero features, or a broken model or head), so UAR and WAR say nothing`,
          );
        const rep = classificationReport(predictions[k]!.labels, predicted, labelSet.names.length);
        foldResults.push({
          fold: d.fold,
          n: rep.n,
          uar: rep.uar,
          war: rep.war,
          perClassRecall: rep.perClassRecall,
          confusionMatrix: rep.confusionMatrix,
        });
      }
      results.push({
        promptType,
        folds: foldResults,
        mean: averageFolds(foldResults.map((f) => ({ uar: f.uar, war: f.war }))),
      });
    }
    await clip.dispose();
    await head?.dispose();
    const result: EvalResult = {
      ...common,
      shard: null,
      logitScale,
      results,
      predictions,
      datasetFingerprint: fingerprint.digest('hex'),
      warnings,
      timing: { encodeSeconds, totalSeconds: (performance.now() - t0) / 1000 },
      provenance: provenance({ runtime: runtimeVersions() }),
      outDir: run ? run.dir : null,
    };
    if (run) {
      run.publish(evalOutputFiles(result));
      writeJsonAtomic(run.path('run.json'), {
        command: 'exp-clip eval',
        counts: result.counts,
        ...(result.facesCache ? { faces: result.facesCache } : {}),
        timing: result.timing,
        finishedAt: new Date().toISOString(),
      });
    }
    return result;
  } finally {
    run?.close();
  }
}

/** The published files of an evaluation (deterministic: no timing, no dates; those are in run.json). */
export function evalOutputFiles(r: EvalResult): Record<string, string> {
  const names = r.labelSet.names;
  const metrics = {
    dataset: r.options.dataset,
    model: r.options.model,
    modelFingerprint: r.modelFingerprint,
    head: r.options.head ?? null,
    preprocess: r.options.preprocess,
    logitScale: r.logitScale,
    labelSet: r.labelSet,
    labelSetReason: r.labelSetReason,
    promptsFromTemplates: r.promptsFromTemplates,
    folds: r.folds,
    faces: r.faces,
    datasetFingerprint: r.datasetFingerprint,
    warnings: r.warnings,
    metricsAreFractions: true,
    promptTypes: Object.fromEntries(
      r.results.map((p) => [
        p.promptType,
        {
          uar: p.mean.uar.mean,
          war: p.mean.war.mean,
          uarStdOverFolds: p.mean.uar.std,
          warStdOverFolds: p.mean.war.std,
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
  const cm = [csvRow(['prompt_type', 'fold', 'true_class', ...names])];
  for (const p of r.results)
    for (const f of p.folds)
      f.confusionMatrix.forEach((row, i) => cm.push(csvRow([p.promptType, f.fold ?? '', names[i]!, ...row])));
  const pred = [
    csvRow([
      'prompt_type',
      'fold',
      'item',
      'label_id',
      'label',
      'predicted_id',
      'predicted',
      'correct',
      ...names.map((n) => `p_${n}`),
    ]),
  ];
  for (const p of r.results) {
    for (const fp of r.predictions) {
      const by = fp.byPromptType[p.promptType]!;
      const c = names.length;
      fp.ids.forEach((id, i) => {
        const y = fp.labels[i]!;
        const yhat = by.predicted[i]!;
        pred.push(
          csvRow([
            p.promptType,
            fp.fold ?? '',
            id,
            y,
            names[y]!,
            yhat,
            names[yhat]!,
            y === yhat ? 1 : 0,
            ...Array.from(by.probabilities.data.subarray(i * c, (i + 1) * c), (v) => v),
          ]),
        );
      });
    }
  }
  return {
    'metrics.json': `${JSON.stringify(metrics, null, 2)}\n`,
    'confusion-matrix.csv': `${cm.join('\n')}\n`,
    'predictions.csv': `${pred.join('\n')}\n`,
    'config.resolved.json': `${JSON.stringify({ ...r.options, modelFingerprint: r.modelFingerprint, datasetFingerprint: r.datasetFingerprint, provenance: r.provenance }, null, 2)}\n`,
  };
}

/** The result table (percentages, as the papers print them). */
export function formatEvalTable(r: EvalResult): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const folds = r.results[0]?.folds.length ?? 1;
  const lines = [`${pad('prompt type', 46)} ${pad('UAR %', 14)} ${pad('WAR %', 14)}`, '-'.repeat(76)];
  for (const p of r.results) {
    const f = (m: MeanStd) =>
      folds > 1 ? `${(100 * m.mean).toFixed(2)} ± ${(100 * m.std).toFixed(2)}` : (100 * m.mean).toFixed(2);
    lines.push(`${pad(p.promptType, 46)} ${pad(f(p.mean.uar), 14)} ${pad(f(p.mean.war), 14)}`);
  }
  const c = r.counts;
  lines.push(
    `${c.images} images/frames: ${c.encoded} encoded in ${r.timing.encodeSeconds.toFixed(1)} s${c.encoded ? ` (${(c.encoded / r.timing.encodeSeconds).toFixed(1)}/s)` : ''}, ${c.cached} from the cache${r.outDir ? `; results in ${r.outDir}` : ''}`,
  );
  return lines.join('\n');
}
