import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { createRng, csvRow, hashBytes, readSafetensors, writeFileAtomic, writeJsonAtomic, writeSafetensors, type LabelSet, type Tensor4D } from '@vlfer/core';
import { BASIC_7, MAFW_11, hespOpenSetSplits, listFrames, loadVideoList, partitionBySplit, segmentCentreIndices, tsnTrainIndices, type OpenSetSplit, type VideoItem } from '@vlfer/datasets';
import { preprocessImages } from '@vlfer/encoders';
import { argmaxRows, maxScores, openSetReport, weightedAverageRecall } from '@vlfer/metrics';
import { HespModel, knownClassTexts, loadAugmentedFrames, sampleClipAugmentation } from '@vlfer/open-set';

export const HespConfigSchema = z.object({
  /** Which HESP split list and label set: mafw (11 classes) or afew/dfew (7). */
  dataset: z.enum(['mafw', 'afew', 'dfew']),
  trainAnnotations: z.string().min(1),
  testAnnotations: z.string().min(1),
  root: z.string().optional(),
  labelScheme: z.enum(['dfer-clip', 'dfew-original', 'mafw-hesp']).default('dfer-clip'),
  rebase: z.object({ from: z.string(), to: z.string() }).optional(),
  /** HESP split index 0..19 (the reference runs known = splits[19 − i]) … */
  splitIndex: z.number().int().min(0).max(19).optional(),
  /** … or explicit known class ids (canonical order). */
  known: z.array(z.number().int().min(0)).optional(),
  model: z.string().min(1),
  epochs: z.number().int().positive().default(100),
  batch: z.number().int().positive().default(64),
  frames: z.number().int().positive().default(8),
  lr: z.number().positive().default(0.01),
  milestones: z.array(z.number().int().positive()).default([30, 60, 90, 120]),
  seed: z.number().int().default(0),
  nCtx: z.number().int().positive().default(16),
  patchSize: z.number().int().positive().default(56),
  /** 'cam' (HESP's rule, on the first frame of the first training clip) or a fixed patch centre. */
  location: z.union([z.literal('cam'), z.object({ row: z.number(), col: z.number() })]).default('cam'),
  logitScale: z.number().positive().default(100),
  /** Part of the training clips held out for model selection. */
  valFraction: z.number().min(0).max(0.9).default(0.2),
  /** 'val' (default) or 'test' — the reference's selection on the test set, labelled as such in the outputs. */
  selectOn: z.enum(['val', 'test']).default('val'),
  /** HESP's training augmentation (random flip + random sized crop, same for all frames of a clip). */
  augment: z.boolean().default(true),
  referenceBehaviour: z.object({ alphabeticalClassNames: z.boolean().optional(), zeroContextGradient: z.boolean().optional() }).default({}),
  device: z.enum(['cpu', 'webgpu']).default('cpu'),
  out: z.string().min(1),
  progress: z.boolean().default(true),
});
export type HespConfig = z.infer<typeof HespConfigSchema>;
export type HespConfigInput = z.input<typeof HespConfigSchema>;

export interface HespData {
  labelSet: LabelSet;
  split: OpenSetSplit;
  train: (VideoItem & { originalLabel: number })[];
  val: (VideoItem & { originalLabel: number })[];
  testKnown: (VideoItem & { originalLabel: number })[];
  testUnknown: VideoItem[];
}

/** Load both lists and apply the open-set split; a seeded share of the known training clips becomes validation. */
export function loadHespData(cfg: HespConfig): HespData {
  const labelSet = cfg.dataset === 'mafw' ? MAFW_11 : BASIC_7;
  const list = (file: string) => loadVideoList({ file, labelScheme: cfg.labelScheme, labelSet, ...(cfg.root ? { root: cfg.root } : {}), ...(cfg.rebase ? { rebase: cfg.rebase } : {}) }).items;
  let split: OpenSetSplit;
  if (cfg.known) {
    const bad = cfg.known.find((k) => k >= labelSet.names.length);
    if (bad !== undefined) throw new Error(`--known: class id ${bad} is outside ${labelSet.id} (0..${labelSet.names.length - 1})`);
    const unknown = labelSet.names.map((_, i) => i).filter((i) => !cfg.known!.includes(i));
    split = { index: -1, known: cfg.known, unknown, openness: 1 - Math.sqrt((2 * cfg.known.length) / (cfg.known.length + labelSet.names.length)), labelSet };
  } else if (cfg.splitIndex !== undefined) {
    split = hespOpenSetSplits(cfg.dataset)[cfg.splitIndex]!;
  } else {
    throw new Error('give --split <0..19> (HESP list) or --known <ids>');
  }
  const train = partitionBySplit(list(cfg.trainAnnotations), split).known;
  const test = partitionBySplit(list(cfg.testAnnotations), split);
  const order = createRng(cfg.seed + 17).shuffled(train.map((_, i) => i));
  const nVal = Math.floor(cfg.valFraction * train.length);
  const valSet = new Set(order.slice(0, nVal));
  return { labelSet, split, train: train.filter((_, i) => !valSet.has(i)), val: train.filter((_, i) => valSet.has(i)), testKnown: test.known, testUnknown: test.unknown };
}

/** Frames of clips as [clips·T, 3, 224, 224] in [0, 1] (HESP: GroupResize(224) bilinear, /255, no crop). */
async function clipFrames(clips: readonly VideoItem[], T: number, indices: (n: number) => number[]): Promise<Tensor4D> {
  const paths = clips.flatMap((c) => { const f = listFrames(c.frameDir); return indices(f.length).map((i) => f[i]!); });
  const px = await preprocessImages(paths, 'exp-clip');
  return { dtype: 'float32', data: px.data, dims: [clips.length * T, 3, 224, 224] };
}

/** Training frames with HESP's augmentation: TSN indices, then one flip/crop draw per clip. */
async function augmentedClipFrames(clips: readonly VideoItem[], T: number, rng: ReturnType<typeof createRng>): Promise<Tensor4D> {
  const parts: Float32Array[] = [];
  for (const c of clips) {
    const f = listFrames(c.frameDir);
    const paths = tsnTrainIndices(f.length, T, rng).map((i) => f[i]!);
    parts.push((await loadAugmentedFrames(paths, sampleClipAugmentation(rng))).data);
  }
  const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { data.set(p, o); o += p.length; }
  return { dtype: 'float32', data, dims: [clips.length * T, 3, 224, 224] };
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  val: { closedSetAccuracy: number; n: number } | null;
  test: { closedSetAccuracy: number; auroc: number; oscr: number; tnrAtTpr95: number; nKnown: number; nUnknown: number };
  selected: boolean;
  seconds: number;
}

async function evaluate(model: HespModel, items: readonly VideoItem[], T: number, batch: number): Promise<number[][]> {
  const rows: number[][] = [];
  for (let i = 0; i < items.length; i += batch) {
    const chunk = items.slice(i, i + batch);
    const l = await model.logits(await clipFrames(chunk, T, (n) => segmentCentreIndices(n, T)), T);
    const k = l.ensemble.dims[1];
    for (let r = 0; r < chunk.length; r++) rows.push(Array.from(l.ensemble.data.subarray(r * k, (r + 1) * k)));
  }
  return rows;
}

export interface HespRunResult {
  outDir: string;
  epochs: EpochRecord[];
  best: EpochRecord | null;
  resumedFromEpoch: number | null;
  stepSeconds: number[];
}

/**
 * `hesp train`: HESP on one open-set split. Each epoch: TSN-sampled training, then evaluation on the validation
 * part (closed-set accuracy) and on the test split (closed-set accuracy, AUROC, OSCR, TNR@95 on the ensemble
 * logits, known-ness = max). Writes train-log.jsonl (per step), epochs.jsonl (per epoch), checkpoint.safetensors
 * (every epoch, atomic, resumable), best.safetensors and metrics.json.
 */
export async function runHesp(input: HespConfigInput, hooks: { log?: (l: string) => void } = {}): Promise<HespRunResult> {
  const parsed = HespConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`Invalid hesp options:\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}`);
  const cfg = parsed.data;
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const data = loadHespData(cfg);
  if (data.train.length === 0) throw new Error('no training clips of the known classes');
  if (data.testUnknown.length === 0 || data.testKnown.length === 0) throw new Error('the test list needs clips of both known and unknown classes');
  const outDir = resolve(cfg.out);
  const texts = knownClassTexts(data.split.known, data.labelSet, { referenceBehaviour: cfg.referenceBehaviour });
  log(`known ${texts.join(', ')} (openness ${data.split.openness.toFixed(3)}); train ${data.train.length}, val ${data.val.length}, test ${data.testKnown.length} known + ${data.testUnknown.length} unknown`);
  const model = await HespModel.create(cfg.model, { classTexts: texts, nCtx: cfg.nCtx, patchSize: cfg.patchSize, ...(cfg.location !== 'cam' ? { location: cfg.location } : {}), logitScale: cfg.logitScale, seed: cfg.seed, lr: cfg.lr, referenceBehaviour: cfg.referenceBehaviour, device: cfg.device });
  const key = hashBytes(JSON.stringify({ ...cfg, epochs: undefined, out: undefined, progress: undefined, model: resolve(cfg.model) }));
  const ckpt = join(outDir, 'checkpoint.safetensors');
  const logPath = join(outDir, 'train-log.jsonl');
  const epochsPath = join(outDir, 'epochs.jsonl');
  let start = 0;
  let epochs: EpochRecord[] = [];
  let bestScore = -Infinity;
  if (existsSync(ckpt)) {
    const c = readSafetensors(ckpt);
    if (c.metadata.key !== key) throw new Error(`${ckpt} belongs to a run with other options; use another --out`);
    const buffers = Object.fromEntries(Object.entries(c.tensors).filter(([k]) => k.startsWith('opt.')).map(([k, v]) => [k.slice(4), v.data]));
    model.loadState({ tensors: Object.fromEntries(Object.entries(c.tensors).filter(([k]) => !k.startsWith('opt.')).map(([k, v]) => [k, v.data])), optimizer: { step: Number(c.metadata.optimizer_step), buffers } });
    start = Number(c.metadata.epoch);
    model.location = { row: Number(c.metadata.location_row), col: Number(c.metadata.location_col) };
    bestScore = Number(c.metadata.best_score);
    epochs = existsSync(epochsPath) ? readFileSync(epochsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as EpochRecord).filter((e) => e.epoch < start) : [];
    const steps = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').filter((l) => l && (JSON.parse(l) as { epoch: number }).epoch < start) : [];
    writeFileAtomic(logPath, steps.map((l) => `${l}\n`).join(''));
    log(`resuming after epoch ${start}`);
  } else {
    writeFileAtomic(logPath, '');
    if (cfg.location === 'cam') {
      // HESP computes it once from frames[0, 0] of the first training batch: here the first clip of epoch 0's order
      const first = data.train[createRng(cfg.seed * 1_000_003).shuffled(data.train.map((_, i) => i))[0]!]!;
      const f = await clipFrames([first], 1, (n) => segmentCentreIndices(n, 1));
      await model.camLocation(f.data, cfg.seed);
    }
  }
  log(`visual prompt centre (row, col) = (${model.location.row}, ${model.location.col})${cfg.location === 'cam' ? ' from the CAM rule' : ''}`);
  writeFileAtomic(epochsPath, epochs.map((e) => `${JSON.stringify(e)}\n`).join(''));
  writeJsonAtomic(join(outDir, 'config.resolved.json'), { ...cfg, key, split: { index: data.split.index, known: data.split.known, unknown: data.split.unknown, openness: data.split.openness }, classTexts: texts, selection: cfg.selectOn === 'test' ? 'test set (reference behaviour: optimistic)' : `validation part of the training data (${data.val.length} clips)` });
  const T = cfg.frames;
  const stepSeconds: number[] = [];
  for (let epoch = start; epoch < cfg.epochs; epoch++) {
    const lr = cfg.lr * 0.1 ** cfg.milestones.filter((m) => epoch >= m).length;
    model.setLearningRate(lr);
    const t0 = performance.now();
    const rng = createRng(cfg.seed * 1_000_003 + epoch);
    const order = rng.shuffled(data.train.map((_, i) => i));
    let lossSum = 0;
    let steps = 0;
    for (let b = 0; b < order.length; b += cfg.batch) {
      const clips = order.slice(b, b + cfg.batch).map((i) => data.train[i]!);
      const ts = performance.now();
      const frames = cfg.augment ? await augmentedClipFrames(clips, T, rng) : await clipFrames(clips, T, (n) => tsnTrainIndices(n, T, rng));
      const losses = await model.step(frames, T, clips.map((c) => c.label));
      stepSeconds.push((performance.now() - ts) / 1000);
      lossSum += losses.total;
      steps++;
      appendFileSync(logPath, `${JSON.stringify({ epoch, step: steps - 1, lr, ...losses, seconds: stepSeconds.at(-1) })}\n`);
    }
    const val = data.val.length > 0
      ? await evaluate(model, data.val, T, cfg.batch).then((rows) => ({ closedSetAccuracy: weightedAverageRecall(data.val.map((v) => v.label), argmaxRows(rows)), n: rows.length }))
      : null;
    const known = await evaluate(model, data.testKnown, T, cfg.batch);
    const unknown = await evaluate(model, data.testUnknown, T, cfg.batch);
    const test = openSetReport(known, data.testKnown.map((v) => v.label), unknown);
    const score = cfg.selectOn === 'test' ? test.auroc + test.oscr : (val?.closedSetAccuracy ?? -lossSum / steps);
    const selected = score > bestScore;
    if (selected) bestScore = score;
    const rec: EpochRecord = { epoch, lr, trainLoss: lossSum / steps, val, test, selected, seconds: (performance.now() - t0) / 1000 };
    epochs.push(rec);
    appendFileSync(epochsPath, `${JSON.stringify(rec)}\n`);
    const st = model.state();
    const tensors: Record<string, { dims: number[]; data: Float32Array }> = {};
    for (const [k, v] of Object.entries(st.tensors)) tensors[k] = { dims: [v.length], data: v };
    const loc = { location_row: String(model.location.row), location_col: String(model.location.col) };
    if (selected) writeSafetensors(join(outDir, 'best.safetensors'), tensors, { epoch: String(epoch + 1), selected_on: cfg.selectOn, ...loc });
    for (const [k, v] of Object.entries(st.optimizer.buffers)) tensors[`opt.${k}`] = { dims: [v.length], data: v };
    writeSafetensors(ckpt, tensors, { key, epoch: String(epoch + 1), best_score: String(bestScore), optimizer_step: String(st.optimizer.step), ...loc });
    if (cfg.progress) log(`epoch ${epoch + 1}/${cfg.epochs} loss ${rec.trainLoss.toFixed(4)} val acc ${val ? (100 * val.closedSetAccuracy).toFixed(2) : '-'} test acc ${(100 * test.closedSetAccuracy).toFixed(2)} AUROC ${(100 * test.auroc).toFixed(2)} OSCR ${(100 * test.oscr).toFixed(2)}${selected ? ' *' : ''}`);
  }
  await model.release();
  const best = epochs.filter((e) => e.selected).at(-1) ?? null;
  writeJsonAtomic(join(outDir, 'metrics.json'), {
    split: { index: data.split.index, known: data.split.known, openness: data.split.openness },
    visualPromptCentre: model.location,
    selectedOn: cfg.selectOn === 'test' ? 'test set (reference behaviour: optimistic, not a fair protocol)' : 'validation part of the training data',
    metricsAreFractions: true,
    best,
  });
  return { outDir, epochs, best, resumedFromEpoch: start > 0 ? start : null, stepSeconds };
}

/** Per-clip scores of a run's selected state on its test split (what `hesp eval` writes to scores.csv). */
export interface RunScores {
  /** closed-set accuracy, AUROC, OSCR, TNR@95 (fractions) */
  test: EpochRecord['test'];
  /** known-class test clips: frame dir, label (index into `classNames`), predicted index, known-ness (max ensemble logit) */
  known: { frameDir: string; label: number; predicted: number; knownness: number }[];
  /** unknown-class test clips: frame dir, original label name, known-ness */
  unknown: { frameDir: string; originalLabel: string; knownness: number }[];
  /** known class names in logit order */
  classNames: string[];
}

/**
 * `hesp eval`: re-evaluate a finished run's selected state (best.safetensors) on its test split; writes eval.json
 * and scores.csv (one row per test clip: set, frame_dir, label, predicted, knownness).
 */
export async function evaluateRun(runDir: string, hooks: { log?: (l: string) => void } = {}): Promise<RunScores> {
  const cfgPath = join(runDir, 'config.resolved.json');
  if (!existsSync(cfgPath)) throw new Error(`${cfgPath} not found: expected a directory written by 'hesp train'`);
  const bestPath = join(runDir, 'best.safetensors');
  if (!existsSync(bestPath)) throw new Error(`${bestPath} not found: the run has not finished an epoch yet`);
  const cfg = HespConfigSchema.parse(JSON.parse(readFileSync(cfgPath, 'utf8')));
  const data = loadHespData(cfg);
  const texts = knownClassTexts(data.split.known, data.labelSet, { referenceBehaviour: cfg.referenceBehaviour });
  const best = readSafetensors(bestPath);
  const model = await HespModel.create(cfg.model, { classTexts: texts, nCtx: cfg.nCtx, patchSize: cfg.patchSize, location: { row: Number(best.metadata.location_row), col: Number(best.metadata.location_col) }, logitScale: cfg.logitScale, seed: cfg.seed, referenceBehaviour: cfg.referenceBehaviour, device: cfg.device });
  model.loadState({ tensors: Object.fromEntries(Object.entries(best.tensors).map(([k, v]) => [k, v.data])), optimizer: { step: 0, buffers: {} } });
  const known = await evaluate(model, data.testKnown, cfg.frames, cfg.batch);
  const unknown = await evaluate(model, data.testUnknown, cfg.frames, cfg.batch);
  await model.release();
  const labels = data.testKnown.map((v) => v.label);
  const test = openSetReport(known, labels, unknown);
  const predicted = argmaxRows(known);
  const sk = maxScores(known);
  const su = maxScores(unknown);
  const result: RunScores = {
    test,
    known: data.testKnown.map((v, i) => ({ frameDir: v.frameDir, label: v.label, predicted: predicted[i]!, knownness: sk[i]! })),
    unknown: data.testUnknown.map((v, i) => ({ frameDir: v.frameDir, originalLabel: data.labelSet.names[v.label] ?? String(v.label), knownness: su[i]! })),
    classNames: texts,
  };
  writeFileAtomic(join(runDir, 'scores.csv'), ['set,frame_dir,label,predicted,knownness',
    ...result.known.map((r) => csvRow(['known', r.frameDir, texts[r.label]!, texts[r.predicted]!, r.knownness])),
    ...result.unknown.map((r) => csvRow(['unknown', r.frameDir, r.originalLabel, null, r.knownness]))].join('\n') + '\n');
  writeJsonAtomic(join(runDir, 'eval.json'), { epoch: Number(best.metadata.epoch), selectedOn: best.metadata.selected_on, metricsAreFractions: true, test });
  (hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(`test: closed-set acc ${(100 * test.closedSetAccuracy).toFixed(2)}, AUROC ${(100 * test.auroc).toFixed(2)}, OSCR ${(100 * test.oscr).toFixed(2)}`);
  return result;
}
