import { createHash } from 'node:crypto';
import { relative, resolve, isAbsolute } from 'node:path';
import { argmaxRows, csvRow, parseOptions, softmaxRows, throwIfAborted, type FeatureProjection, type LabelSet, type ProgressCallback, type Tensor2D } from '@vlfer/core';
import { FeatureCache, provenance, RunDirectory, writeJsonAtomic, type Provenance } from '@vlfer/core/node';
import { buildZeroShotClassifier } from '@vlfer/encoders';
import { createPreprocessPool, encodeImages, loadClip, runtimeVersions, sampleClipFrames, type ClipModel, type EncodeItem } from '@vlfer/encoders/node';
import { expClipPrompts, type PromptType } from '@vlfer/llm-knowledge';
import { averageFolds, classificationReport, type MeanStd } from '@vlfer/metrics';
import { loadProjectionHead } from '@vlfer/projection-head';
import { loadEvalData, type EvalData } from './data.js';
import { cropFaces, type FacesReport } from './faces.js';
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

export interface EvalResult {
  options: EvalOptions;
  labelSet: { id: string; names: readonly string[] };
  labelSetReason: string;
  /** Classes whose prompts were made from Exp-CLIP's templates (no curated prompts for their names). */
  promptsFromTemplates: string[];
  /** Per fold: stratified subset name (null = the whole set) and item counts. */
  folds: { fold: number | null; subset: string | null; items: number; total: number; dropped: { reason: string; count: number }[] }[];
  results: PromptTypeResult[];
  predictions: FoldPredictions[];
  /** Face detection and cropping (null without `faces`). */
  faces: FacesReport | null;
  /** SHA-256 over every evaluated item's id, label and content hash. */
  datasetFingerprint: string;
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

/**
 * Exp-CLIP zero-shot evaluation (`test.py`) as a library function: load the dataset (each fold), encode every
 * image (or the sampled frames of every clip) once through the checked feature cache, classify with each prompt
 * type (optionally through a projection head), and report per-fold UAR/WAR/per-class recall and the mean over
 * folds. With `out`, the run directory is locked and metrics.json, confusion-matrix.csv, predictions.csv (names and
 * class probabilities) and config.resolved.json are published as one verified set; run.json holds timing.
 * Bad options, missing data and an empty set are reported before the model loads.
 */
export async function evaluateZeroShot(input: EvalOptionsInput, hooks: PipelineHooks & { projection?: FeatureProjection } = {}): Promise<EvalResult> {
  const options = parseOptions(EvalOptionsSchema, input, 'evaluateZeroShot');
  const log = hooks.log ?? (() => undefined);
  const t0 = performance.now();
  const run = options.out ? RunDirectory.open(options.out, { command: 'exp-clip eval', log }) : undefined;
  try {
    const folds = options.folds ?? [null];
    const data: EvalData[] = [];
    for (const f of folds) {
      throwIfAborted(hooks.signal, 'evaluation');
      const d = await loadEvalData(options, f);
      data.push(d);
      const unit = d.kind === 'images' ? 'images' : 'clips';
      log(`${options.dataset}${f !== null ? ` fold ${f}` : ''}: ${d.items.length} ${unit}${d.subset ? ` (${d.subset} of ${d.total})` : ''} from ${d.source}; label set ${d.labelSet.id} (${d.labelSetReason})${d.dropped.length ? `; dropped: ${d.dropped.map((x) => `${x.count} ${x.reason}`).join('; ')}` : ''}`);
    }
    const faces = options.faces ? await cropFaces(data, options, hooks, log) : null;
    const labelSet: LabelSet = data[0]!.labelSet;
    for (const d of data) if (d.labelSet.names.join('\n') !== labelSet.names.join('\n')) throw new Error(`fold ${d.fold} has label set ${d.labelSet.id}, fold ${data[0]!.fold} has ${labelSet.id}`);
    const prompts = Object.fromEntries(options.promptTypes.map((t) => [t, expClipPrompts(t, labelSet)])) as Record<PromptType, ReturnType<typeof expClipPrompts>>;
    const fromTemplates = prompts[options.promptTypes[0]!]!.fromTemplates;
    if (fromTemplates.length) log(`no curated Exp-CLIP prompts for ${fromTemplates.join(', ')}: their prompts fill Exp-CLIP's templates with the class name`);

    const clip: ClipModel = await loadClip({ model: options.model, dtype: options.dtype, device: options.device, ...(options.tokenizer ? { tokenizer: options.tokenizer } : {}), ...(options.threads ? { intraOpNumThreads: options.threads } : {}) });
    const head = options.head ? loadProjectionHead(options.head, { expectInputDim: clip.embeddingDim }) : undefined;
    const projection = hooks.projection ?? head;
    const modelFingerprint = clip.contentFingerprint(options.cacheDir);
    let damaged = 0;
    const cache = options.cacheDir
      ? new FeatureCache({ dir: options.cacheDir, namespace: { model: modelFingerprint, dtype: options.dtype, preprocess: `${options.preprocess}/${options.resizer}` }, onCorrupt: (file, why) => { damaged++; log(`feature cache entry ${file} ${why}; recomputing it`); } })
      : undefined;
    const features: Tensor2D[] = [];
    const fingerprint = createHash('sha256');
    let cached = 0;
    let encoded = 0;
    let images = 0;
    const te = performance.now();
    const pool = options.preprocessWorkers > 0 ? createPreprocessPool({ workers: options.preprocessWorkers }) : undefined;
    try {
      for (const d of data) {
        let totalImages = 0;
        const encode = async (items: EncodeItem[]) => {
          const r = await encodeImages({
            model: clip, items, mode: options.preprocess, resizer: options.resizer, batchSize: options.batchSize, ...(cache ? { cache } : {}), ...(pool ? { preprocessPool: pool } : {}), ...(hooks.signal ? { signal: hooks.signal } : {}),
            onProgress: (e) => hooks.onProgress?.({ ...e, phase: `encode${d.fold !== null ? ` fold ${d.fold}` : ''}`, done: images + e.done, total: totalImages }),
          });
          cached += r.cached;
          encoded += r.encoded;
          images += items.length;
          return r;
        };
        if (d.kind === 'images') {
          totalImages = d.items.length;
          const r = await encode(d.items);
          d.items.forEach((it, i) => fingerprint.update(`${idOf(options.root, 'source' in it && typeof it.source === 'string' ? it.source : it.path)}\t${it.label}\t${r.keys[i]}\n`));
          features.push(r.features);
        } else {
          // clips: sampled frames; video files are decoded a few clips at a time so memory stays bounded
          const per = options.frames;
          totalImages = d.items.length * per;
          const chunk = Math.max(1, Math.floor(256 / per));
          const parts: Float32Array[] = [];
          for (let c = 0; c < d.items.length; c += chunk) {
            const clips = d.items.slice(c, c + chunk);
            const frames: { items: EncodeItem[] }[] = await Promise.all(clips.map((it) => ('crops' in it && Array.isArray(it.crops) ? { items: it.crops as string[] } : sampleClipFrames('frameDir' in it ? { frameDir: it.frameDir } : { videoFile: (it as { path: string }).path }, { numSegments: per, shortClip: options.shortClip, ...(hooks.signal ? { signal: hooks.signal } : {}) }))));
            const r = await encode(frames.flatMap((f) => f.items));
            clips.forEach((it, i) => fingerprint.update(`${idOf(options.root, 'frameDir' in it ? it.frameDir : (it as { path: string }).path)}\t${it.label}\t${r.keys.slice(i * per, (i + 1) * per).join(',')}\n`));
            parts.push(r.features.data);
          }
          const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
          let o = 0;
          for (const p of parts) { all.set(p, o); o += p.length; }
          features.push({ dtype: 'float32', data: all, dims: [totalImages, clip.embeddingDim] });
        }
      }
    } finally {
      await pool?.close();
    }
    const encodeSeconds = (performance.now() - te) / 1000;

    const results: PromptTypeResult[] = [];
    const predictions: FoldPredictions[] = data.map((d) => ({
      fold: d.fold,
      ids: d.items.map((i) => idOf(options.root, 'frameDir' in i ? i.frameDir : 'source' in i && typeof i.source === 'string' ? i.source : i.path) + ('face' in i && options.faces?.selection === 'all' ? `#face${i.face}` : '')),
      labels: d.items.map((i) => i.label),
      byPromptType: {},
    }));
    for (const promptType of options.promptTypes) {
      throwIfAborted(hooks.signal, 'evaluation');
      const zs = await buildZeroShotClassifier({ model: clip, classNames: labelSet.names, prompts: prompts[promptType]!.prompts, ensemble: options.ensemble, ...(projection ? { projection } : {}) });
      const foldResults: FoldResult[] = [];
      for (let k = 0; k < data.length; k++) {
        const d = data[k]!;
        const logits = d.kind === 'images' ? await zs.classify(features[k]!) : await zs.classifyClips(features[k]!, options.frames);
        const predicted = argmaxRows(logits);
        predictions[k]!.byPromptType[promptType] = { predicted, probabilities: softmaxRows(logits) };
        const rep = classificationReport(predictions[k]!.labels, predicted, labelSet.names.length);
        foldResults.push({ fold: d.fold, n: rep.n, uar: rep.uar, war: rep.war, perClassRecall: rep.perClassRecall, confusionMatrix: rep.confusionMatrix });
      }
      results.push({ promptType, folds: foldResults, mean: averageFolds(foldResults.map((f) => ({ uar: f.uar, war: f.war }))) });
    }
    await clip.dispose();
    await head?.dispose();
    const result: EvalResult = {
      options,
      labelSet: { id: labelSet.id, names: labelSet.names },
      labelSetReason: data[0]!.labelSetReason,
      promptsFromTemplates: fromTemplates,
      folds: data.map((d) => ({ fold: d.fold, subset: d.subset, items: d.items.length, total: d.total, dropped: d.dropped })),
      faces,
      results,
      predictions,
      datasetFingerprint: fingerprint.digest('hex'),
      modelFingerprint,
      counts: { images, cached, encoded, damagedCacheEntries: damaged },
      timing: { encodeSeconds, totalSeconds: (performance.now() - t0) / 1000 },
      provenance: provenance({ runtime: runtimeVersions() }),
      outDir: run ? run.dir : null,
    };
    if (run) {
      run.publish(evalOutputFiles(result));
      writeJsonAtomic(run.path('run.json'), { command: 'exp-clip eval', counts: result.counts, timing: result.timing, finishedAt: new Date().toISOString() });
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
    labelSet: r.labelSet,
    labelSetReason: r.labelSetReason,
    promptsFromTemplates: r.promptsFromTemplates,
    folds: r.folds,
    faces: r.faces,
    datasetFingerprint: r.datasetFingerprint,
    metricsAreFractions: true,
    promptTypes: Object.fromEntries(r.results.map((p) => [p.promptType, {
      uar: p.mean.uar.mean,
      war: p.mean.war.mean,
      uarStdOverFolds: p.mean.uar.std,
      warStdOverFolds: p.mean.war.std,
      folds: p.folds.map((f) => ({ fold: f.fold, n: f.n, uar: f.uar, war: f.war, perClassRecall: Object.fromEntries(names.map((c, i) => [c, f.perClassRecall[i] ?? null])) })),
    }])),
    provenance: r.provenance,
  };
  const cm = [csvRow(['prompt_type', 'fold', 'true_class', ...names])];
  for (const p of r.results) for (const f of p.folds) f.confusionMatrix.forEach((row, i) => cm.push(csvRow([p.promptType, f.fold ?? '', names[i]!, ...row])));
  const pred = [csvRow(['prompt_type', 'fold', 'item', 'label_id', 'label', 'predicted_id', 'predicted', 'correct', ...names.map((n) => `p_${n}`)])];
  for (const p of r.results) {
    for (const fp of r.predictions) {
      const by = fp.byPromptType[p.promptType]!;
      const c = names.length;
      fp.ids.forEach((id, i) => {
        const y = fp.labels[i]!;
        const yhat = by.predicted[i]!;
        pred.push(csvRow([p.promptType, fp.fold ?? '', id, y, names[y]!, yhat, names[yhat]!, y === yhat ? 1 : 0, ...Array.from(by.probabilities.data.subarray(i * c, (i + 1) * c), (v) => v)]));
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
    const f = (m: MeanStd) => (folds > 1 ? `${(100 * m.mean).toFixed(2)} ± ${(100 * m.std).toFixed(2)}` : (100 * m.mean).toFixed(2));
    lines.push(`${pad(p.promptType, 46)} ${pad(f(p.mean.uar), 14)} ${pad(f(p.mean.war), 14)}`);
  }
  const c = r.counts;
  lines.push(`${c.images} images/frames: ${c.encoded} encoded in ${r.timing.encodeSeconds.toFixed(1)} s${c.encoded ? ` (${(c.encoded / r.timing.encodeSeconds).toFixed(1)}/s)` : ''}, ${c.cached} from the cache${r.outDir ? `; results in ${r.outDir}` : ''}`);
  return lines.join('\n');
}
