import { z } from 'zod';
import {
  argmaxRows,
  meanOfRowGroups,
  OptionsError,
  parseOptions,
  throwIfAborted,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import type { VideoItem } from '@vlfer/datasets';
import { normalizePixels } from '@vlfer/encoders';
import { ClipGradientModel, clipPixels, eotPositions, loadClipTokenizer } from '@vlfer/encoders/node';
import { flattenOpenSetReport, openSetReportFromScores } from '@vlfer/metrics';
import {
  energyScore,
  knnScore,
  knownClassTexts,
  maxLogitScore,
  maxSoftmaxScore,
  zeroShotMspScore,
} from '@vlfer/open-set';
import { fitLinearProbe, probeLogits, sweepLinearProbe, type LinearProbe } from '@vlfer/probes';
import { loadHespData } from './data.js';
import type { RunScores } from './evaluate.js';
import { HespOptionsSchema, type HespOptions, type HespOptionsInput } from './options.js';
import { clipFrameReader, hespFaceCropper, type ClipFrameReader, type HespHooks } from './train.js';

/**
 * The post-hoc open-set baselines run on HESP's splits (`@vlfer/open-set` baselines.ts has the papers):
 * - `msp` maximum softmax probability (Hendrycks & Gimpel 2017), `max-logit` (Hendrycks et al. 2022), `energy`
 *   (Liu et al. 2020): scores of a linear probe (`@vlfer/probes`) trained on the split's known training clips;
 * - `knn`: negative distance to the k-th nearest normalised known training feature (Sun et al. 2022), predictions
 *   from the same probe;
 * - `clip-msp`: zero-shot CLIP over the known class names, scored by MSP (the "CLIP" baseline of HESP's tables).
 */
export const OPEN_SET_BASELINES = ['msp', 'max-logit', 'energy', 'knn', 'clip-msp'] as const;
export type OpenSetBaseline = (typeof OPEN_SET_BASELINES)[number];

/** The HESP options the baselines share with `trainHesp` (same lists, split, validation part, frames, CLIP). */
const SHARED_KEYS = [
  'dataset',
  'trainAnnotations',
  'testAnnotations',
  'root',
  'labelScheme',
  'labelSet',
  'classes',
  'rebase',
  'duplicates',
  'allowOutsideRoot',
  'splitIndex',
  'known',
  'model',
  'tokenizer',
  'batch',
  'frames',
  'seed',
  'logitScale',
  'valFraction',
  'referenceBehaviour',
  'faces',
  'device',
  'threads',
] as const satisfies readonly (keyof HespOptionsInput)[];

/**
 * Options of the open-set baselines: HESP's data, split and CLIP options (same meaning and defaults as `trainHesp`'s,
 * so the same options give the same known/unknown split, the same validation part and the same frames), plus:
 */
export type OpenSetBaselineOptionsInput = Pick<HespOptionsInput, (typeof SHARED_KEYS)[number]> & {
  /**
   * kNN: the neighbour rank k (≤ the number of training clips). @default 50 (Sun et al.'s CIFAR setting), at most the
   * smallest per-class count of known training clips
   */
  knnK?: number;
  /** Energy: temperature T > 0. @default 1 (Liu et al.'s main setting) */
  energyTemperature?: number;
  /** Linear probe: the CLIP paper's parametric binary search over C (default) or the full 97-point grid. @default 'binary' */
  probeSearch?: 'binary' | 'grid';
};

const ExtraSchema = z
  .object({
    knnK: z.number().int().positive().optional(),
    energyTemperature: z.number().positive().default(1),
    probeSearch: z.enum(['binary', 'grid']).default('binary'),
  })
  .strict();

/** Validated baseline options: HESP's (every default filled in) and the baselines' own. */
export interface OpenSetBaselineOptions extends z.infer<typeof ExtraSchema> {
  hesp: HespOptions;
}

/**
 * Validate the options with `HespOptionsSchema` itself (so a split, label set or list means what it means to
 * `trainHesp`) and the baselines' own schema. @throws OptionsError naming each bad or foreign option
 */
export function parseOpenSetBaselineOptions(input: OpenSetBaselineOptionsInput): OpenSetBaselineOptions {
  const fn = 'parseOpenSetBaselineOptions';
  const { knnK, energyTemperature, probeSearch, ...rest } = input as Record<string, unknown>;
  const stray = Object.keys(rest).filter((k) => !(SHARED_KEYS as readonly string[]).includes(k));
  if (stray.length > 0)
    throw new OptionsError(
      fn,
      stray.map((k) => ({
        path: k,
        message: `is not an option of the open-set baselines (they take ${SHARED_KEYS.join(', ')}, knnK, energyTemperature, probeSearch)`,
      })),
    );
  const extra = parseOptions(
    ExtraSchema,
    Object.fromEntries(Object.entries({ knnK, energyTemperature, probeSearch }).filter(([, v]) => v !== undefined)),
    fn,
  );
  // `out` is required by the HESP schema; the baselines write no run directory
  const hesp = parseOptions(HespOptionsSchema, { ...rest, out: '(none)' }, fn);
  return { ...extra, hesp };
}

/** Frozen CLIP video features of one part of a split. */
export interface ClipFeatureSet {
  /** [n] frame directories of the clips, in list order (as `loadHespData` resolves them) */
  frameDirs: string[];
  /** [n] known parts: the known class index (into `classNames`); the unknown test part: the label set's class id */
  labels: number[];
  /** [n, E] per clip, the mean over its `frames` sampled frames of the CLIP image embeddings (HESP's v̄, unpatched) */
  features: Tensor2D;
}

/** What the baselines are computed from: one split's frozen features and the known classes' text embeddings. */
export interface OpenSetSplitFeatures {
  options: OpenSetBaselineOptions;
  /** known class texts, index = known label (`knownClassTexts`, as HESP's prompts) */
  classNames: string[];
  /** the label set's class names (for the unknown clips' labels) */
  labelNames: string[];
  split: { index: number | null; known: number[]; unknown: number[]; openness: number };
  train: ClipFeatureSet;
  val: ClipFeatureSet;
  testKnown: ClipFeatureSet;
  testUnknown: ClipFeatureSet;
  /** [K, E] CLIP text embeddings of `classNames` (plain class names, no template, as HESP's zero-shot step) */
  text: Tensor2D;
  warnings: string[];
}

/** Mean-pooled CLIP image embeddings [clips, E] of clips, `batch` clips at a time (segment-centre frames). */
async function encodeClips(
  clip: ClipGradientModel,
  items: readonly VideoItem[],
  o: {
    frames: number;
    batch: number;
    read: ClipFrameReader;
    signal: AbortSignal | undefined;
    onBatch: (n: number) => void;
  },
): Promise<Tensor2D> {
  const E = clip.arch.vision.projectionDim;
  const out = new Float32Array(items.length * E);
  for (let i = 0; i < items.length; i += o.batch) {
    throwIfAborted(o.signal, 'open-set baseline encoding');
    const chunk = items.slice(i, i + o.batch);
    const frames = await Promise.all(chunk.map((c) => o.read(c, o.frames, 'centre')));
    const pixels = normalizePixels(await clipPixels(frames, { config: clip.preprocessor }), clip.preprocessor);
    out.set(meanOfRowGroups(await clip.visionForwardEmbeds(pixels), o.frames).data, i * E);
    o.onBatch(chunk.length);
  }
  return { dtype: 'float32', data: out, dims: [items.length, E] };
}

/** CLIP text embeddings [K, E] of plain texts. */
async function textEmbeddings(clip: ClipGradientModel, texts: readonly string[]): Promise<Tensor2D> {
  const tokenize = await loadClipTokenizer(clip.bundle.tokenizer);
  const t = tokenize(texts);
  return clip.textForwardEmbeds(clip.tokenEmbeddings(t.ids, t.dims), eotPositions(t.ids, t.dims));
}

/**
 * Load one of HESP's known/unknown splits with HESP's own loader (`loadHespData`: lists, split, seeded validation
 * part) and encode every clip with the frozen CLIP (no visual prompt): `frames` frames sampled at the segment
 * centres by HESP's frame reader (`clipFrameReader`, face crops with `faces`), the test-time sampling of HESP,
 * for every part (a frozen feature has no augmentation). Progress: `encode` (clips). Stops at `signal`.
 */
export async function encodeOpenSetSplit(
  input: OpenSetBaselineOptionsInput,
  hooks: HespHooks = {},
): Promise<OpenSetSplitFeatures> {
  const options = parseOpenSetBaselineOptions(input);
  const o = options.hesp;
  const log = hooks.log ?? (() => undefined);
  const data = loadHespData(o);
  for (const w of data.warnings) log(`warning: ${w}`);
  const classNames = knownClassTexts(data.split.known, data.labelSet, { referenceBehaviour: o.referenceBehaviour });
  const clip = await ClipGradientModel.load(o.model, {
    device: o.device,
    gradients: false,
    ...(o.tokenizer ? { tokenizer: o.tokenizer } : {}),
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
  });
  const cropper = o.faces ? await hespFaceCropper(o, log) : undefined;
  try {
    const parts = [data.train, data.val, data.testKnown, data.testUnknown] as const;
    const total = parts.reduce((s, p) => s + p.length, 0);
    let done = 0;
    const onBatch = (n: number) => hooks.onProgress?.({ phase: 'encode', done: (done += n), total, unit: 'clips' });
    const read = clipFrameReader(cropper);
    const sets: ClipFeatureSet[] = [];
    for (const items of parts)
      sets.push({
        frameDirs: items.map((v) => v.frameDir),
        labels: items.map((v) => v.label),
        features: await encodeClips(clip, items, {
          frames: o.frames,
          batch: o.batch,
          read,
          onBatch,
          signal: hooks.signal,
        }),
      });
    const { index, known, unknown, openness } = data.split;
    return {
      options,
      classNames,
      labelNames: [...data.labelSet.names],
      split: { index: index ?? null, known: [...known], unknown: [...unknown], openness },
      train: sets[0]!,
      val: sets[1]!,
      testKnown: sets[2]!,
      testUnknown: sets[3]!,
      text: await textEmbeddings(clip, classNames),
      warnings: data.warnings,
    };
  } finally {
    await clip.release();
    await cropper?.dispose();
  }
}

interface KnownProbe {
  probe: LinearProbe;
  selection: string;
}
const probes = new WeakMap<OpenSetSplitFeatures, KnownProbe>();

/**
 * The closed-set classifier of the MSP / MaxLogit / Energy / kNN rows: a linear probe on the known training clips
 * (the part HESP trains on), its L2 strength chosen on HESP's validation part by the CLIP paper's sweep (C = 1,
 * sklearn's default, without validation clips). Fitted once per feature set.
 */
function knownProbe(f: OpenSetSplitFeatures): KnownProbe {
  const cached = probes.get(f);
  if (cached) return cached;
  const numClasses = f.classNames.length;
  const train = { features: f.train.features, labels: f.train.labels };
  let fitted: KnownProbe;
  if (f.val.labels.length > 0) {
    const s = sweepLinearProbe(
      train,
      { features: f.val.features, labels: f.val.labels },
      { numClasses, search: f.options.probeSearch },
    );
    fitted = {
      probe: s.probe,
      selection: `C ${s.c.toPrecision(3)} chosen on ${f.val.labels.length} validation clips (accuracy ${s.score.toFixed(4)}; ${s.evaluated.length} fits)`,
    };
  } else
    fitted = {
      probe: fitLinearProbe(train.features, train.labels, { numClasses }),
      selection: 'C 1 (no validation clips: valFraction 0)',
    };
  probes.set(f, fitted);
  return fitted;
}

/**
 * kNN's default k: Sun et al.'s 50, but at most the smallest number of training clips of a known class (classes
 * without clips aside), so the k-th neighbour of a known clip can still be of its own class on small sets.
 */
function defaultKnnK(labels: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
  return Math.min(50, ...counts.values());
}

interface BaselineScores {
  knownScores: number[];
  unknownScores: number[];
  knownPredictions: number[];
  details: Record<string, string | number>;
}

/** Known-ness scores of the test clips and the closed-set predictions of the known ones, for one baseline. */
function baselineScores(f: OpenSetSplitFeatures, method: OpenSetBaseline): BaselineScores {
  if (method === 'clip-msp') {
    const scale = f.options.hesp.logitScale;
    const k = zeroShotMspScore(f.testKnown.features, f.text, { scale });
    const u = zeroShotMspScore(f.testUnknown.features, f.text, { scale });
    const classifier = `zero-shot CLIP, ${scale} · cos(v̄, text(class name)) over the ${f.classNames.length} known classes`;
    return { knownScores: k.scores, unknownScores: u.scores, knownPredictions: k.predictions, details: { classifier } };
  }
  const { probe, selection } = knownProbe(f);
  const lk = probeLogits(probe, f.testKnown.features);
  const lu = probeLogits(probe, f.testUnknown.features);
  const details: Record<string, string | number> = {
    classifier: `linear probe on ${f.train.labels.length} known training clips`,
    probe: selection,
  };
  const knownPredictions = argmaxRows(lk);
  const pair = (s: (l: Tensor2D) => number[]) => ({ knownScores: s(lk), unknownScores: s(lu), knownPredictions });
  if (method === 'msp') return { ...pair(maxSoftmaxScore), details };
  if (method === 'max-logit') return { ...pair(maxLogitScore), details };
  if (method === 'energy') {
    const temperature = f.options.energyTemperature;
    return { ...pair((l) => energyScore(l, { temperature })), details: { ...details, temperature } };
  }
  const k = f.options.knnK ?? defaultKnnK(f.train.labels);
  const bank = f.train.features;
  return {
    knownScores: knnScore(f.testKnown.features, bank, { k }),
    unknownScores: knnScore(f.testUnknown.features, bank, { k }),
    knownPredictions,
    details: { ...details, k, bank: `${bank.dims[0]} known training clips` },
  };
}

/** One baseline's outcome on a split, in the shape of HESP's `RunScores` (without the epoch). */
export interface OpenSetBaselineResult extends Omit<RunScores, 'epoch'> {
  method: OpenSetBaseline;
  /** how the logits and scores were made (classifier, chosen C, k, temperature) */
  details: Record<string, string | number>;
}

/**
 * Score the test clips of a split with one baseline and compute closed-set accuracy and both families of open-set
 * metrics with `openSetReportFromScores` (the functions of HESP's `openSetReport`, for this baseline's scores).
 */
export function scoreOpenSetBaseline(f: OpenSetSplitFeatures, method: OpenSetBaseline): OpenSetBaselineResult {
  const s = baselineScores(f, method);
  const report = openSetReportFromScores({ ...s, knownLabels: f.testKnown.labels });
  return {
    method,
    test: flattenOpenSetReport(report),
    known: f.testKnown.frameDirs.map((frameDir, i) => ({
      frameDir,
      label: f.testKnown.labels[i]!,
      predicted: s.knownPredictions[i]!,
      knownness: s.knownScores[i]!,
    })),
    unknown: f.testUnknown.frameDirs.map((frameDir, i) => ({
      frameDir,
      originalLabel: f.labelNames[f.testUnknown.labels[i]!] ?? String(f.testUnknown.labels[i]),
      knownness: s.unknownScores[i]!,
    })),
    classNames: f.classNames,
    details: s.details,
  };
}

/** Encode a split once (`encodeOpenSetSplit`) and score it with each of `methods` (default: all five). */
export async function runOpenSetBaselines(
  input: OpenSetBaselineOptionsInput,
  methods: readonly OpenSetBaseline[] = OPEN_SET_BASELINES,
  hooks: HespHooks & { onProgress?: ProgressCallback } = {},
): Promise<OpenSetBaselineResult[]> {
  const f = await encodeOpenSetSplit(input, hooks);
  return methods.map((m, i) => {
    throwIfAborted(hooks.signal, 'open-set baselines');
    const r = scoreOpenSetBaseline(f, m);
    hooks.onProgress?.({ phase: 'score', done: i + 1, total: methods.length, unit: 'baselines' });
    return r;
  });
}
