import { z } from 'zod';
import {
  AbortedError,
  argmaxRows,
  checkHooks,
  checkOneOf,
  meanOfRowGroups,
  OptionsError,
  parseOptions,
  runSteps,
  throwIfAborted,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import type { VideoItem } from '@vlfer/datasets';
import { normalizePixels } from '@vlfer/encoders';
import { basename } from 'node:path';
import { fingerprintFiles, hashBytes, hashFileIndexed, type FileHashIndex } from '@vlfer/core/node';
import { listFrames } from '@vlfer/datasets/node';
import { ClipGradientModel, clipPixels, eotPositions, loadClipTokenizer } from '@vlfer/encoders/node';
import { flattenOpenSetReport, openSetReportFromScores } from '@vlfer/metrics';
import {
  energyScore,
  knnScoreSteps,
  knownClassTexts,
  maxLogitScore,
  maxSoftmaxScore,
  zeroShotMspScore,
} from '@vlfer/open-set';
import {
  fitLinearProbeSteps,
  fitProgress,
  probeLogits,
  probeProgress,
  sweepLinearProbeSteps,
  type LinearProbe,
} from '@vlfer/probes';
import type { FaceCropper } from '@vlfer/faces/node';
import { fingerprintHespData, hespDatasetFingerprint } from './checkpoint.js';
import { hespKnownNames, loadHespDataStepped, type HespData } from './data.js';
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
export const OPEN_SET_BASELINE_HESP_KEYS = [
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
export type OpenSetBaselineOptionsInput = Pick<HespOptionsInput, (typeof OPEN_SET_BASELINE_HESP_KEYS)[number]> & {
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
  const stray = Object.keys(rest).filter((k) => !(OPEN_SET_BASELINE_HESP_KEYS as readonly string[]).includes(k));
  if (stray.length > 0)
    throw new OptionsError(
      fn,
      stray.map((k) => ({
        path: k,
        message: `is not an option of the open-set baselines (they take ${OPEN_SET_BASELINE_HESP_KEYS.join(', ')}, knnK, energyTemperature, probeSearch)`,
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
  /**
   * [n] frame directories of the clips, in the order of `loadHespData`'s part (as it resolves them): list order for
   * the test parts, the canonical order (`canonicalClipOrder`) for the training and validation parts
   */
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
  /** known label j's class name in the label set (`RunScores.knownNames`; differs from `classNames` only for the
   * released code's alphabetical prompts) */
  knownNames: string[];
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
  /**
   * Content key of what a probe on these features is fitted from (model, tokenizer, faces, frames and the training
   * and validation clips with their labels): equal keys, equal probe (`OpenSetProbeCache`).
   */
  probeKey: string;
  /** `hespDatasetFingerprint` of the split's lists and frames: equal to a HESP run's on the same data */
  datasetFingerprint: string;
  /**
   * content fingerprint of the CLIP model files (as HESP's `modelFingerprint`); `undefined` only when every feature
   * came from a cache filled without loading this model in this process
   */
  modelFingerprint: string | undefined;
}

/**
 * Features already computed, by key (`encodeOpenSetSplit` keys them by model, tokenizer, face settings, frame count and
 * clip or text): pass one map to several calls (e.g. HESP's 20 splits of one dataset, which share their clips) and
 * every clip is encoded once.
 */
export type OpenSetFeatureCache = Map<string, Float32Array>;

/**
 * The model fingerprint of each model path loaded in this process (set at every load): a split whose features all
 * come from the cache reports the fingerprint of the model that encoded them.
 */
const MODEL_FINGERPRINTS = new Map<string, string>();

/** The frozen CLIP of a split's encoding, loaded (with the face cropper) only when a feature is not in the cache. */
class LazyEncoder {
  private clip: ClipGradientModel | undefined;
  private cropper: FaceCropper | undefined;
  private reader: ClipFrameReader | undefined;
  constructor(
    private readonly o: HespOptions,
    private readonly log: (line: string) => void,
  ) {}

  async model(): Promise<ClipGradientModel> {
    if (!this.clip) {
      this.clip = await ClipGradientModel.load(this.o.model, {
        device: this.o.device,
        gradients: false,
        ...(this.o.tokenizer ? { tokenizer: this.o.tokenizer } : {}),
        ...(this.o.threads ? { intraOpNumThreads: this.o.threads } : {}),
      });
      MODEL_FINGERPRINTS.set(this.o.model, fingerprintFiles(this.clip.bundle.files));
    }
    return this.clip;
  }

  /** HESP's frame reader: the frame files, or with `faces` the crops of the face followed through the clip. */
  async read(): Promise<ClipFrameReader> {
    if (!this.reader) {
      this.cropper = this.o.faces ? await hespFaceCropper(this.o, this.log) : undefined;
      this.reader = clipFrameReader(this.cropper);
    }
    return this.reader;
  }

  async release(): Promise<void> {
    await this.clip?.release();
    await this.cropper?.dispose();
  }
}

/**
 * Mean-pooled CLIP image embeddings of the clips not yet in `cache` (segment-centre frames, `batch` clips at a
 * time), stored under `key(frameDir)`. Progress counts every clip, cached ones at once.
 */
async function encodeClips(
  enc: LazyEncoder,
  items: readonly VideoItem[],
  o: {
    frames: number;
    batch: number;
    cache: OpenSetFeatureCache;
    key: (frameDir: string) => string;
    signal: AbortSignal | undefined;
    onBatch: (n: number) => void;
  },
): Promise<void> {
  const todo = items.filter((v) => !o.cache.has(o.key(v.frameDir)));
  o.onBatch(items.length - todo.length);
  for (let i = 0; i < todo.length; i += o.batch) {
    throwIfAborted(o.signal, 'open-set baseline encoding');
    const [clip, read] = [await enc.model(), await enc.read()];
    const chunk = todo.slice(i, i + o.batch);
    const frames = await Promise.all(chunk.map((c) => read(c, o.frames, 'centre')));
    const pixels = normalizePixels(await clipPixels(frames, { config: clip.preprocessor }), clip.preprocessor);
    const v = meanOfRowGroups(await clip.visionForwardEmbeds(pixels), o.frames);
    const E = v.dims[1];
    chunk.forEach((c, r) => o.cache.set(o.key(c.frameDir), Float32Array.from(v.data.subarray(r * E, (r + 1) * E))));
    o.onBatch(chunk.length);
  }
}

/** CLIP text embeddings [K, E] of plain texts (cached by text). */
async function textEmbeddings(
  enc: LazyEncoder,
  texts: readonly string[],
  cache: OpenSetFeatureCache,
  key: (text: string) => string,
): Promise<Tensor2D> {
  if (!texts.every((t) => cache.has(key(t)))) {
    const clip = await enc.model();
    const tokenize = await loadClipTokenizer(clip.bundle.tokenizer);
    const t = tokenize(texts);
    const e = await clip.textForwardEmbeds(clip.tokenEmbeddings(t.ids, t.dims), eotPositions(t.ids, t.dims));
    texts.forEach((x, i) => cache.set(key(x), Float32Array.from(e.data.subarray(i * e.dims[1], (i + 1) * e.dims[1]))));
  }
  return stack(texts.map((t) => cache.get(key(t))!));
}

/** Rows of equal length as a [n, E] tensor (E = `dim` when there are no rows). */
function stack(rows: readonly Float32Array[], dim = rows[0]?.length ?? 0): Tensor2D {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return { dtype: 'float32', data: out, dims: [rows.length, dim] };
}

/**
 * The cache key of a clip from its frames' names and content hashes (`hashFileIndexed`), memoised per frame folder
 * for one call. @param key the cache key of a clip's content
 */
function clipContentKeys(frameHashes: FileHashIndex, key: (content: string) => string): (frameDir: string) => string {
  const keys = new Map<string, string>();
  return (frameDir) => {
    let k = keys.get(frameDir);
    if (k === undefined) {
      const lines = listFrames(frameDir).map((f) => `${basename(f)}\0${hashFileIndexed(f, frameHashes)}\n`);
      k = key(hashBytes(lines.join('')));
      keys.set(frameDir, k);
    }
    return k;
  };
}

/** A part's frame folders, labels and features (`[clips, E]`, from `cache` by `clipKey`). */
function partFeatures(
  items: readonly VideoItem[],
  cache: OpenSetFeatureCache,
  clipKey: (frameDir: string) => string,
  E: number,
): OpenSetSplitFeatures['train'] {
  return {
    frameDirs: items.map((v) => v.frameDir),
    labels: items.map((v) => v.label),
    features: stack(
      items.map((v) => cache.get(clipKey(v.frameDir))!),
      E,
    ),
  };
}

/** `hespDatasetFingerprint` of the split; the frames were hashed for their cache keys, so none is read again. */
async function splitFingerprint(
  o: HespOptions,
  data: HespData,
  frameHashes: FileHashIndex,
  signal: AbortSignal | undefined,
): Promise<string> {
  const { fingerprints } = await fingerprintHespData(o, data, { frameHashes, ...(signal ? { signal } : {}) });
  return hespDatasetFingerprint(fingerprints);
}

/**
 * Load one of HESP's known/unknown splits with HESP's own loader (`loadHespData`: lists, split, seeded validation
 * part) and encode every clip with the frozen CLIP (no visual prompt): `frames` frames sampled at the segment
 * centres by HESP's frame reader (`clipFrameReader`, face crops with `faces`), the test-time sampling of HESP,
 * for every part (a frozen feature has no augmentation). Clips and texts already in `hooks.cache` are not encoded
 * again (the model is not even loaded when everything is there). Progress: `encode` (clips). Stops at `signal`.
 * `hooks.frameHashes` keeps the content hashes of the frames for the data fingerprint across calls
 * (`hespDataFingerprints`): the rows of one split read each frame once, and a frame changed in place is read again.
 */
export async function encodeOpenSetSplit(
  input: OpenSetBaselineOptionsInput,
  hooks: HespHooks & { cache?: OpenSetFeatureCache; frameHashes?: FileHashIndex } = {},
): Promise<OpenSetSplitFeatures> {
  const options = parseOpenSetBaselineOptions(input);
  const o = options.hesp;
  const log = hooks.log ?? (() => undefined);
  const data = await loadHespDataStepped(o, hooks.signal);
  for (const w of data.warnings) log(`warning: ${w}`);
  const classNames = knownClassTexts(data.split.known, data.labelSet, { referenceBehaviour: o.referenceBehaviour });
  const cache = hooks.cache ?? new Map<string, Float32Array>();
  const key = (kind: string) => (name: string) =>
    JSON.stringify([kind, o.model, o.tokenizer ?? null, o.faces ?? null, o.frames, name]);
  // clips by their frames' content, not their folder (frames replaced between two calls sharing `cache` were served
  // the old features under the new data fingerprint); each frame is read once per call (`frameHashes`)
  const frameHashes = hooks.frameHashes ?? new Map<string, string>();
  const clipKey = clipContentKeys(frameHashes, key('clip'));
  const enc = new LazyEncoder(o, log);
  try {
    const parts = [data.train, data.val, data.testKnown, data.testUnknown] as const;
    const total = parts.reduce((s, p) => s + p.length, 0);
    let done = 0;
    const onBatch = (n: number) => hooks.onProgress?.({ phase: 'encode', done: (done += n), total, unit: 'clips' });
    const settings = { frames: o.frames, batch: o.batch, cache, key: clipKey, signal: hooks.signal, onBatch };
    for (const items of parts) await encodeClips(enc, items, settings);
    const E = cache.get(clipKey(data.train[0]!.frameDir))!.length; // (an empty part too is [0, E])
    const sets = parts.map((items) => partFeatures(items, cache, clipKey, E));
    const { index, known, unknown, openness } = data.split;
    const datasetFingerprint = await splitFingerprint(o, data, frameHashes, hooks.signal);
    return {
      options,
      classNames,
      knownNames: hespKnownNames(data),
      labelNames: [...data.labelSet.names],
      split: { index: index ?? null, known: [...known], unknown: [...unknown], openness },
      train: sets[0]!,
      val: sets[1]!,
      testKnown: sets[2]!,
      testUnknown: sets[3]!,
      text: await textEmbeddings(enc, classNames, cache, key('text')),
      warnings: data.warnings,
      datasetFingerprint,
      modelFingerprint: MODEL_FINGERPRINTS.get(o.model),
      probeKey: hashBytes(
        JSON.stringify([
          key('probe')(''),
          [data.train, data.val].map((part) => part.map((v) => [clipKey(v.frameDir), v.label])),
        ]),
      ),
    };
  } finally {
    await enc.release();
  }
}

/** A fitted known-class probe and how its C was chosen. */
export interface KnownProbe {
  probe: LinearProbe;
  selection: string;
}
/**
 * Probes fitted or being fitted, by `probeKey` and search: pass one map to the `scoreOpenSetBaseline` calls of the MSP,
 * MaxLogit, Energy and kNN rows of a split (each on its own `encodeOpenSetSplit` result) and the probe is fitted once,
 * also by calls that overlap (they wait for the fit in progress). A fit that fails or is aborted leaves no entry.
 */
export type OpenSetProbeCache = Map<string, Promise<KnownProbe>>;
const probesOf = new WeakMap<OpenSetSplitFeatures, OpenSetProbeCache>();

/**
 * The closed-set classifier of the MSP / MaxLogit / Energy / kNN rows: a linear probe on the known training clips
 * (the part HESP trains on), its L2 strength chosen on HESP's validation part by the CLIP paper's sweep (C = 1,
 * sklearn's default, without validation clips). Fitted once per feature set.
 */
async function knownProbe(f: OpenSetSplitFeatures, hooks: ScoreHooks): Promise<KnownProbe> {
  const probes = hooks.probes ?? probesOf.get(f) ?? probesOf.set(f, new Map()).get(f)!;
  const key = `${f.probeKey}:${f.options.probeSearch}`;
  for (let pending = probes.get(key); pending; pending = probes.get(key)) {
    try {
      return await pending;
    } catch (error) {
      // another call's fit was aborted (its entry is gone by now): this call fits the probe itself
      if (!(error instanceof AbortedError) || hooks.signal?.aborted) throw error;
    }
  }
  const fitting = fitKnownProbe(f, hooks);
  probes.set(key, fitting);
  fitting.catch(() => probes.get(key) === fitting && probes.delete(key));
  return fitting;
}

/** `knownProbe`'s fit, in steps (`runSteps`), reporting its fits to `hooks.onProgress`. */
async function fitKnownProbe(f: OpenSetSplitFeatures, hooks: ScoreHooks): Promise<KnownProbe> {
  const numClasses = f.classNames.length;
  const train = { features: f.train.features, labels: f.train.labels };
  // a probe on thousands of clips fits for minutes: in steps, so that Ctrl-C stops it and its progress shows
  const run = { what: 'fitting the known-class probe', signal: hooks.signal, onStep: probeProgress(hooks.onProgress) };
  const done = (fits: number) => hooks.onProgress?.({ phase: 'fit', done: fits, total: fits, unit: 'fits' });
  if (f.val.labels.length > 0) {
    const s = await runSteps(
      sweepLinearProbeSteps(
        train,
        { features: f.val.features, labels: f.val.labels },
        { numClasses, search: f.options.probeSearch },
      ),
      run,
    );
    done(s.evaluated.length);
    return {
      probe: s.probe,
      selection: `C ${s.c.toPrecision(3)} chosen on ${f.val.labels.length} validation clips (accuracy ${s.score.toFixed(4)}; ${s.evaluated.length} fits)`,
    };
  }
  const probe = await runSteps(
    fitProgress(fitLinearProbeSteps(train.features, train.labels, { numClasses }), 1, 1),
    run,
  );
  done(1);
  return { probe, selection: 'C 1 (no validation clips: valFraction 0)' };
}

/** What scoring a baseline may be given: the probes fitted so far, a signal and progress for the probe's fit. */
export interface ScoreHooks {
  /** probes fitted (or being fitted) for this split (`OpenSetProbeCache`) */
  probes?: OpenSetProbeCache;
  /** stops the probe's fit within 50 ms of L-BFGS iterations, kNN scoring within 50 ms of rows (AbortedError) */
  signal?: AbortSignal;
  /** the probe's fits (phase 'fit'), the kNN scoring (phase 'knn', test clips) */
  onProgress?: ProgressCallback;
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
  /** the known class each unknown clip would be given (argmax), for per-item outcomes */
  unknownPredictions: number[];
  details: Record<string, string | number>;
}

/** Known-ness scores of the test clips and the closed-set predictions of the known ones, for one baseline. */
async function baselineScores(
  f: OpenSetSplitFeatures,
  method: OpenSetBaseline,
  hooks: ScoreHooks,
): Promise<BaselineScores> {
  if (method === 'clip-msp') {
    const scale = f.options.hesp.logitScale;
    const k = zeroShotMspScore(f.testKnown.features, f.text, { scale });
    const u = zeroShotMspScore(f.testUnknown.features, f.text, { scale });
    const classifier = `zero-shot CLIP, ${scale} · cos(v̄, text(class name)) over the ${f.classNames.length} known classes`;
    return {
      knownScores: k.scores,
      unknownScores: u.scores,
      knownPredictions: k.predictions,
      unknownPredictions: u.predictions,
      details: { classifier },
    };
  }
  const { probe, selection } = await knownProbe(f, hooks);
  const lk = probeLogits(probe, f.testKnown.features);
  const lu = probeLogits(probe, f.testUnknown.features);
  const details: Record<string, string | number> = {
    classifier: `linear probe on ${f.train.labels.length} known training clips`,
    probe: selection,
  };
  const predictions = { knownPredictions: argmaxRows(lk), unknownPredictions: argmaxRows(lu) };
  const pair = (s: (l: Tensor2D) => number[]) => ({ knownScores: s(lk), unknownScores: s(lu), ...predictions });
  if (method === 'msp') return { ...pair(maxSoftmaxScore), details };
  if (method === 'max-logit') return { ...pair(maxLogitScore), details };
  if (method === 'energy') {
    const temperature = f.options.energyTemperature;
    return { ...pair((l) => energyScore(l, { temperature })), details: { ...details, temperature } };
  }
  const k = f.options.knnK ?? defaultKnnK(f.train.labels);
  const bank = f.train.features;
  // exact search over the bank: seconds at DFEW's size, so in steps that Ctrl-C stops
  const [nk, nu] = [f.testKnown.features.dims[0], f.testUnknown.features.dims[0]];
  const knn = (features: Tensor2D, before: number) =>
    runSteps(knnScoreSteps(features, bank, { k }), {
      what: 'scoring with the k nearest neighbours',
      signal: hooks.signal,
      onStep: (rows) => hooks.onProgress?.({ phase: 'knn', done: before + rows, total: nk + nu, unit: 'clips' }),
    });
  return {
    knownScores: await knn(f.testKnown.features, 0),
    unknownScores: await knn(f.testUnknown.features, nk),
    ...predictions,
    details: { ...details, k, bank: `${bank.dims[0]} known training clips` },
  };
}

/** One baseline's outcome on a split, in the shape of HESP's `RunScores` (without the epoch). */
export interface OpenSetBaselineResult extends Omit<RunScores, 'epoch' | 'unknown'> {
  method: OpenSetBaseline;
  /** unknown-class test clips: frame dir, original label name, known-ness, and the known class it is given (argmax) */
  unknown: (RunScores['unknown'][number] & { predicted: number })[];
  /** how the logits and scores were made (classifier, chosen C, k, temperature) */
  details: Record<string, string | number>;
}

/**
 * Score the test clips of a split with one baseline and compute closed-set accuracy and both families of open-set
 * metrics with `openSetReportFromScores` (the functions of HESP's `openSetReport`, for this baseline's scores).
 */
export async function scoreOpenSetBaseline(
  f: OpenSetSplitFeatures,
  method: OpenSetBaseline,
  options: ScoreHooks = {},
): Promise<OpenSetBaselineResult> {
  // a misspelt method was scored as kNN under the name given
  checkOneOf(method, OPEN_SET_BASELINES, { functionName: 'scoreOpenSetBaseline', argument: 'method' });
  checkHooks(options, 'scoreOpenSetBaseline');
  throwIfAborted(options.signal, `open-set baseline '${method}'`);
  const s = await baselineScores(f, method, options);
  const report = openSetReportFromScores({
    knownScores: s.knownScores,
    unknownScores: s.unknownScores,
    knownPredictions: s.knownPredictions,
    knownLabels: f.testKnown.labels,
  });
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
      predicted: s.unknownPredictions[i]!,
    })),
    classNames: f.classNames,
    knownNames: f.knownNames,
    details: s.details,
  };
}

/** Encode a split once (`encodeOpenSetSplit`) and score it with each of `methods` (default: all five). */
export async function runOpenSetBaselines(
  input: OpenSetBaselineOptionsInput,
  methods: readonly OpenSetBaseline[] = OPEN_SET_BASELINES,
  hooks: HespHooks & { onProgress?: ProgressCallback } = {},
): Promise<OpenSetBaselineResult[]> {
  // before the split is encoded (minutes), not after
  checkHooks(hooks, 'runOpenSetBaselines');
  for (const m of methods)
    checkOneOf(m, OPEN_SET_BASELINES, { functionName: 'runOpenSetBaselines', argument: 'methods' });
  const f = await encodeOpenSetSplit(input, hooks);
  const results: OpenSetBaselineResult[] = [];
  for (const [i, m] of methods.entries()) {
    throwIfAborted(hooks.signal, 'open-set baselines');
    results.push(await scoreOpenSetBaseline(f, m, { signal: hooks.signal, onProgress: hooks.onProgress }));
    hooks.onProgress?.({ phase: 'score', done: i + 1, total: methods.length, unit: 'baselines' });
  }
  return results;
}
