import { join, resolve } from 'node:path';
import { csvRow, writeFileAtomic, writeJsonAtomic, type FeatureProjection, type LabelSet, type Tensor2D } from '@vlfer/core';
import { buildZeroShotClassifier, createPreprocessPool, encodeImages, FeatureCache, frameDirClip, loadClip, videoFileClip, type ClipModel, type EncodeItem } from '@vlfer/encoders';
import { loadProjectionHead } from '@vlfer/projection-head';
import { argmaxRows, averageFolds, classificationReport, type MeanStd } from '@vlfer/metrics';
import type { PromptType } from '@vlfer/llm-knowledge';
import { parseEvalConfig, resolveModelKey, VIDEO_DATASETS, type EvalConfig, type EvalConfigInput } from './config.js';
import { loadEvalData, type EvalData } from './data.js';
import { createProgress } from './progress.js';
import { runEnvironment } from './run-env.js';

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

export interface EvalResult {
  config: EvalConfig;
  labelSet: { id: string; names: readonly string[] };
  results: PromptTypeResult[];
  timing: { encodeSeconds: number; itemsEncoded: number; itemsPerSecond: number; totalSeconds: number };
  /** Predictions per fold: labels, and the predicted class per prompt type. */
  predictions: { fold: number | null; ids: string[]; labels: number[]; byPromptType: Record<string, number[]> }[];
  outDir: string;
}

function rowsOf(t: Tensor2D): Float32Array[] {
  return Array.from({ length: t.dims[0] }, (_, i) => t.data.subarray(i * t.dims[1], (i + 1) * t.dims[1]));
}

/**
 * Zero-shot evaluation (Exp-CLIP `test.py`): encode every image (or 16 sampled frames per clip) once,
 * then classify with each prompt type; per-fold UAR/WAR/per-class recall, mean over folds.
 * Writes metrics.json, confusion-matrix.csv, predictions.csv and config.resolved.json to `out`.
 */
export async function runEval(input: EvalConfigInput, hooks: { projection?: FeatureProjection; log?: (line: string) => void } = {}): Promise<EvalResult> {
  const cfg = parseEvalConfig(input);
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const t0 = performance.now();
  const outDir = resolve(cfg.out);
  const folds = cfg.folds ?? [null];
  const data: EvalData[] = [];
  for (const f of folds) {
    const d = await loadEvalData(cfg, f);
    data.push(d);
    log(`${cfg.dataset}${f !== null ? ` fold ${f}` : ''}: ${d.items.length} ${d.kind} from ${d.source}${d.dropped.length ? ` (dropped: ${d.dropped.map((x) => `${x.count} ${x.reason}`).join('; ')})` : ''}`);
  }
  const labelSet: LabelSet = data[0]!.labelSet;
  const clip: ClipModel = await loadClip({ model: cfg.model, dtype: cfg.dtype, device: cfg.device });
  // --head: the Exp-CLIP projection, checked against the encoder's embedding dim
  const head = cfg.head ? loadProjectionHead(cfg.head, { expectInputDim: clip.embeddingDim }) : undefined;
  const projection = hooks.projection ?? head;
  const cache = cfg.cacheDir
    ? new FeatureCache({ dir: cfg.cacheDir, namespace: { modelId: resolveModelKey(cfg.model), dtype: cfg.dtype, preprocess: `${cfg.preprocess}/${cfg.resizer}` } })
    : undefined;

  let encodeSeconds = 0;
  let itemsEncoded = 0;
  const features: Tensor2D[] = [];
  const pool = cfg.preprocessWorkers > 0 ? createPreprocessPool({ workers: cfg.preprocessWorkers }) : undefined;
  try {
    for (const d of data) {
      let items: EncodeItem[];
      if (d.kind === 'images') items = d.items.map((i) => i.path);
      else if (d.kind === 'videos') items = d.items.flatMap((v) => frameDirClip(v.frameDir, { numSegments: cfg.frames, shortClip: cfg.shortClip }).items);
      else {
        items = [];
        for (const v of d.items) items.push(...(await videoFileClip(v.path, { numSegments: cfg.frames, shortClip: cfg.shortClip })).items);
      }
      const bar = createProgress(cfg.progress, `encode${d.fold !== null ? ` fold ${d.fold}` : ''}`);
      const te = performance.now();
      try {
        features.push(await encodeImages({ model: clip, items, mode: cfg.preprocess, resizer: cfg.resizer, batchSize: cfg.batchSize, ...(cache ? { cache } : {}), ...(pool ? { preprocessPool: pool } : {}), onProgress: (done, total) => bar.update(done, total) }));
      } finally {
        bar.stop();
      }
      encodeSeconds += (performance.now() - te) / 1000;
      itemsEncoded += items.length;
    }
  } finally {
    await pool?.close();
  }

  const results: PromptTypeResult[] = [];
  const predictions: EvalResult['predictions'] = data.map((d) => ({
    fold: d.fold,
    ids: d.kind === 'videos' ? d.items.map((v) => v.frameDir) : d.items.map((i) => i.path),
    labels: d.items.map((i) => i.label),
    byPromptType: {},
  }));
  for (const promptType of cfg.promptTypes) {
    const zs = await buildZeroShotClassifier({ model: clip, labelSet, promptType, ensemble: cfg.ensemble, ...(projection ? { projection } : {}) });
    const foldResults: FoldResult[] = [];
    for (let k = 0; k < data.length; k++) {
      const d = data[k]!;
      const logits = d.kind === 'images' ? await zs.classify(features[k]!) : await zs.classifyClips(features[k]!, cfg.frames);
      const pred = argmaxRows(rowsOf(logits));
      predictions[k]!.byPromptType[promptType] = pred;
      const rep = classificationReport(predictions[k]!.labels, pred, labelSet.names.length);
      foldResults.push({ fold: d.fold, n: rep.n, uar: rep.uar, war: rep.war, perClassRecall: rep.perClassRecall, confusionMatrix: rep.confusionMatrix });
    }
    results.push({ promptType, folds: foldResults, mean: averageFolds(foldResults.map((f) => ({ uar: f.uar, war: f.war }))) });
  }
  await clip.dispose();
  await head?.dispose();
  const totalSeconds = (performance.now() - t0) / 1000;
  const result: EvalResult = {
    config: cfg,
    labelSet: { id: labelSet.id, names: labelSet.names },
    results,
    timing: { encodeSeconds, itemsEncoded, itemsPerSecond: itemsEncoded / encodeSeconds, totalSeconds },
    predictions,
    outDir,
  };
  writeOutputs(result);
  return result;
}

function writeOutputs(r: EvalResult): void {
  const names = r.labelSet.names;
  writeJsonAtomic(join(r.outDir, 'config.resolved.json'), { ...r.config, environment: runEnvironment() });
  writeJsonAtomic(join(r.outDir, 'metrics.json'), {
    dataset: r.config.dataset,
    model: r.config.model,
    head: r.config.head ?? null,
    preprocess: r.config.preprocess,
    labelSet: r.labelSet,
    metricsAreFractions: true,
    promptTypes: Object.fromEntries(r.results.map((p) => [p.promptType, {
      uar: p.mean.uar.mean,
      war: p.mean.war.mean,
      uarStdOverFolds: p.mean.uar.std,
      warStdOverFolds: p.mean.war.std,
      folds: p.folds.map((f) => ({ fold: f.fold, n: f.n, uar: f.uar, war: f.war, perClassRecall: Object.fromEntries(names.map((c, i) => [c, f.perClassRecall[i] ?? null])) })),
    }])),
    timing: r.timing,
  });
  const cm = [['prompt_type', 'fold', 'true_class', ...names].join(',')];
  for (const p of r.results) for (const f of p.folds) f.confusionMatrix.forEach((row, i) => cm.push(csvRow([p.promptType, f.fold ?? '', names[i]!, ...row])));
  writeFileAtomic(join(r.outDir, 'confusion-matrix.csv'), `${cm.join('\n')}\n`);
  const types = r.results.map((p) => p.promptType);
  const pred = [['fold', 'item', 'label', ...types.map((t) => `pred_${t}`)].join(',')];
  for (const p of r.predictions) p.ids.forEach((id, i) => pred.push(csvRow([p.fold ?? '', id, p.labels[i]!, ...types.map((t) => p.byPromptType[t]![i]!)])));
  writeFileAtomic(join(r.outDir, 'predictions.csv'), `${pred.join('\n')}\n`);
}

/** The result table printed by the CLI (percentages, as the papers print them). */
export function formatTable(r: EvalResult): string {
  const pad = (s: string, n: number) => s.padEnd(n);
  const folds = r.results[0]?.folds.length ?? 1;
  const lines = [`${pad('prompt type', 46)} ${pad('UAR %', 14)} ${pad('WAR %', 14)}`, '-'.repeat(76)];
  for (const p of r.results) {
    const f = (m: MeanStd) => (folds > 1 ? `${(100 * m.mean).toFixed(2)} ± ${(100 * m.std).toFixed(2)}` : (100 * m.mean).toFixed(2));
    lines.push(`${pad(p.promptType, 46)} ${pad(f(p.mean.uar), 14)} ${pad(f(p.mean.war), 14)}`);
  }
  const unit = (VIDEO_DATASETS as readonly string[]).includes(r.config.dataset) || r.config.dataset === 'video-folder' ? 'frames' : 'images';
  lines.push(`${r.timing.itemsEncoded} ${unit} encoded in ${r.timing.encodeSeconds.toFixed(1)} s (${r.timing.itemsPerSecond.toFixed(1)}/s); results in ${r.outDir}`);
  return lines.join('\n');
}
