import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { DataFormatError, firstRepeated, InvalidArgumentError } from '@vlfer/core';
import { readTextFile } from '@vlfer/core/node';
import { PROMPT_TYPES, type PromptType } from '@vlfer/llm-knowledge';
import type { DatasetId as DataId } from '@vlfer/datasets';
import type { HespOptionsInput, OpenSetBaselineOptionsInput } from '@vlfer/hesp';
import type { TrainOptionsInput } from '@vlfer/exp-clip';

/**
 * Where a backbone's weights come from. `model` is a Hugging Face id or a path; the data config's `models` map
 * overrides it (HESP needs a local directory with `model.safetensors`, as its gradient graphs take the weights).
 */
export const BACKBONES = {
  'tiny-clip': {
    model: (shared: string) => join(shared, 'fixtures', 'tiny-clip'),
    note: 'random-weight test CLIP (chance-level numbers)',
  },
  'vit-b32': {
    model: () => 'Xenova/clip-vit-base-patch32',
    note: 'OpenAI CLIP ViT-B/32 (needs the Hub or a local copy)',
  },
  'vit-b16': { model: () => 'Xenova/clip-vit-base-patch16', note: 'OpenAI CLIP ViT-B/16' },
  'vit-l14': { model: () => 'Xenova/clip-vit-large-patch14', note: 'OpenAI CLIP ViT-L/14' },
  'face-api-expression': {
    model: () => '@vladmandic/face-api face_expression_model',
    note: 'supervised FER CNN (tfjs wasm)',
  },
} as const;
export type BackboneId = keyof typeof BACKBONES;

/**
 * The bench's datasets: which @vlfer/datasets entry each is (its format, label set, HESP split list) and, for sets
 * that ship in the shared assets, where they are. Video open-set sets come from the data config's `videoSets`
 * (they are not redistributable).
 */
export const DATASETS = {
  fer2013: { data: 'fer2013' as DataId, root: (shared: string) => join(shared, 'data', 'fer2013-privatetest') },
  'raf-db': { data: 'raf-db' as DataId },
  affectnet7: { data: 'affectnet7' as DataId },
  affectnet8: { data: 'affectnet8' as DataId },
  ferplus: { data: 'ferplus' as DataId },
  'caer-s': { data: 'caer-s' as DataId },
  mafw: { data: 'mafw' as DataId },
  dfew: { data: 'dfew' as DataId },
  ferv39k: { data: 'ferv39k' as DataId },
  afew: { data: 'afew' as DataId },
} as const satisfies Record<string, { data: DataId; root?: (shared: string) => string }>;
export type DatasetId = keyof typeof DATASETS;

/** Every method the runner knows (one line each; `exec` in ablations.ts dispatches on it). */
export const METHODS = [
  'exp-clip-zero-shot',
  'exp-clip-trained',
  'hesp',
  'face-api',
  ...(['msp', 'max-logit', 'energy', 'knn', 'clip-msp'] as const), // open-set baselines (OPEN_SET_BASELINES of @vlfer/hesp)
  'linear-probe',
  'few-shot-probe',
  'tip-adapter',
] as const;
export type Method = (typeof METHODS)[number];
export type Preprocess = 'exp-clip' | 'clip';

export interface AblationSpec {
  /** the method of every run, unless the `method` axis lists several */
  method: Method;
  axes: {
    /**
     * several methods side by side on the same grid (e.g. HESP next to open-set baselines on the same splits): one
     * run per method, each row carrying its own `method`, so paired tests compare them item by item
     */
    method?: readonly Method[];
    backbone: readonly BackboneId[];
    dataset: readonly DatasetId[];
    promptType?: readonly PromptType[];
    preprocess?: readonly Preprocess[];
    /** exp-clip-trained: names of unlabelled image sets + teacher targets (data config `trainSets`) */
    trainSet?: readonly string[];
    /**
     * hesp: HESP known/unknown split indices 0..19; exp-clip-zero-shot on a fold-based set (DFEW, MAFW): the
     * 1-based fold of the data config's `evalSets.<dataset>.annotations` (`{fold}` in the path), one run per fold
     */
    split?: readonly number[];
    /**
     * few-shot-probe, tip-adapter: shots per class (e.g. 1, 2, 4, 8, 16); the other methods of the grid run once
     * per ablation (first seed, no shots), see `shotsAndSeeds` in methods/closed-set.ts
     */
    shots?: readonly number[];
  };
  seeds: readonly number[];
  /** Options passed through to the apps (everything else takes the apps' defaults, which follow the papers). */
  options?: {
    /** exp-clip-zero-shot: evaluate through the data config's projection head `heads.<backbone>` (an Exp-CLIP row) */
    head?: boolean;
    train?: Partial<Omit<TrainOptionsInput, 'unlabelled' | 'model' | 'out' | 'seed'>>;
    hesp?: Partial<Omit<HespOptionsInput, 'dataset' | 'model' | 'out' | 'seed' | 'splitIndex'>>;
    /** open-set baselines: kNN's k, energy temperature, probe search (their shared HESP options come from `hesp`) */
    openSet?: Pick<OpenSetBaselineOptionsInput, 'knnK' | 'energyTemperature' | 'probeSearch'>;
    /**
     * closed-set protocol (methods/closed-set.ts): every run, exp-clip-zero-shot included, evaluates the test part of
     * the dataset's train/validation/test split, so zero-shot and probe rows pair up item by item
     */
    closedSet?: Record<string, never>;
  };
  description: string;
}

/** A list of distinct values (a value twice is a run twice, or one run under two ids). */
const distinct = <T extends z.ZodTypeAny>(t: T) =>
  z
    .array(t)
    .min(1)
    .superRefine((xs, ctx) => {
      const twice = firstRepeated(xs);
      if (twice !== undefined) ctx.addIssue({ code: 'custom', message: `lists ${JSON.stringify(twice)} twice` });
    });
const nonEmpty = <T extends z.ZodTypeAny>(t: T) => distinct(t).optional();
const names = <T extends string>(values: readonly T[]) => z.enum(values as [T, ...T[]]);

/** What a registry entry must be, checked before any run of a registry given by a caller (`runAblation`). */
const AblationSpecSchema = z
  .object({
    method: names(METHODS),
    axes: z
      .object({
        method: nonEmpty(names(METHODS)),
        backbone: distinct(names(Object.keys(BACKBONES) as BackboneId[])),
        dataset: distinct(names(Object.keys(DATASETS) as DatasetId[])),
        promptType: nonEmpty(names(PROMPT_TYPES)),
        preprocess: nonEmpty(names(['exp-clip', 'clip'] as const)),
        trainSet: nonEmpty(z.string().min(1)),
        split: nonEmpty(z.number().int().min(0)),
        shots: nonEmpty(z.number().int().min(1)),
      })
      .strict(),
    seeds: distinct(z.number().int()),
    options: z.record(z.string(), z.unknown()).optional(),
    description: z.string(),
  })
  .strict();

/**
 * A registry entry checked as a whole before its first run: a prompt type, backbone or axis it cannot run failed only
 * when its run came, hours into a grid, with the runs before it written.
 * @throws InvalidArgumentError naming `registry.<id>.<field>`, what it got and what was expected
 */
export function checkAblationSpec(id: string, spec: unknown): AblationSpec {
  const r = AblationSpecSchema.safeParse(spec);
  if (r.success) return spec as AblationSpec;
  const issue = r.error.issues[0]!;
  throw new InvalidArgumentError({
    functionName: 'runAblation',
    argument: ['registry', id, ...issue.path.map(String)].join('.'),
    message: issue.message,
  });
}

/**
 * The ablation registry: method × backbone × prompt type × preprocessing × dataset × (train set | split) × seed.
 * Each entry expands to a grid of runs; finished runs (by id) are skipped. Zero-shot evaluation is deterministic,
 * so one seed suffices there; trained methods take several.
 */
export const ABLATIONS = {
  'exp-clip-zero-shot/prompt-x-preprocess': {
    method: 'exp-clip-zero-shot',
    axes: { backbone: ['tiny-clip'], promptType: PROMPT_TYPES, preprocess: ['exp-clip', 'clip'], dataset: ['fer2013'] },
    seeds: [1],
    description: 'plain-CLIP zero-shot baseline: the five Exp-CLIP prompt types × both preprocessing modes',
  },
  'supervised/face-api': {
    method: 'face-api',
    axes: { backbone: ['face-api-expression'], dataset: ['fer2013'] },
    seeds: [1],
    description: 'supervised reference row: face-api.js expression model (known FER2013 accuracy 0.569)',
  },
  'exp-clip-trained/backbone-x-seed': {
    method: 'exp-clip-trained',
    axes: {
      backbone: ['vit-b32', 'vit-b16', 'vit-l14'],
      trainSet: ['unlabelled-faces'],
      promptType: PROMPT_TYPES,
      preprocess: ['exp-clip'],
      dataset: ['fer2013'],
    },
    seeds: [1, 2, 3],
    description:
      'Exp-CLIP head trained on unlabelled faces + teacher targets (paper recipe: SGD 1e-3, 5 epochs, batch 512); needs data config trainSets["unlabelled-faces"]',
  },
  'hesp/mafw-20-splits': {
    method: 'hesp',
    axes: { backbone: ['vit-b32'], dataset: ['mafw'], split: Array.from({ length: 20 }, (_, i) => i) },
    seeds: [0],
    description:
      "HESP on MAFW's 20 known/unknown splits (100 epochs each, selection on validation); needs data config videoSets.mafw",
  },
  'open-set/hesp-vs-baselines': {
    method: 'hesp',
    axes: {
      method: ['hesp', 'msp', 'max-logit', 'energy', 'knn', 'clip-msp'],
      backbone: ['vit-b32'],
      dataset: ['mafw'],
      split: Array.from({ length: 20 }, (_, i) => i),
    },
    seeds: [0],
    description:
      "HESP next to the open-set baselines on MAFW's 20 known/unknown splits, same test clips (paired): MSP, MaxLogit, Energy, kNN over a linear probe of frozen CLIP features, zero-shot CLIP + MSP; needs data config videoSets.mafw",
  },
  'open-set/hesp-vs-baselines-smoke': {
    method: 'hesp',
    axes: {
      method: ['hesp', 'msp', 'max-logit', 'energy', 'knn', 'clip-msp'],
      backbone: ['tiny-clip'],
      dataset: ['afew'],
      split: [0],
    },
    seeds: [0],
    options: { hesp: { epochs: 2, batch: 4, frames: 2, nCtx: 4, logitScale: 14.28, valFraction: 0.2 } },
    description:
      'the same comparison on tiny-clip (chance-level numbers) and a small video set, e.g. the synthetic one of apps/cli/examples/make-synthetic.ts as data config videoSets.afew: checks the pipeline end to end in minutes',
  },
  'closed-set/zero-shot-vs-probes': {
    method: 'exp-clip-zero-shot',
    axes: {
      method: ['exp-clip-zero-shot', 'linear-probe', 'few-shot-probe', 'tip-adapter'],
      backbone: ['tiny-clip'],
      dataset: ['fer2013'],
      promptType: ['class_name'],
      preprocess: ['exp-clip'],
      shots: [1, 2, 4, 8, 16],
    },
    seeds: [1, 2, 3],
    options: { closedSet: {} },
    description:
      'CLIP zero-shot vs linear probe (CLIP validation sweep of C) vs few-shot probes and Tip-Adapter (1–16 shots, 3 seeded draws) on the same test items; FER2013: a seeded 30/20/50 % split of PrivateTest, else data config labelledSets',
  },
} as const satisfies Record<string, AblationSpec>;
export type AblationId = keyof typeof ABLATIONS;

const path = z.string().min(1);
/** A key of a per-dataset map of the data config: a dataset id of the registry (a misspelt one is named, not ignored). */
const datasetKey = z.string().refine((k) => Object.hasOwn(DATASETS, k), {
  error: (issue) => `unknown dataset id '${String(issue.input)}'; known: ${Object.keys(DATASETS).join(', ')}`,
});
/** Documentation fields of a data config entry: what the data is and where its files are expected. */
const doc = { description: z.string().optional(), layout: z.string().optional() };
/**
 * The bench data config (`--data-config bench-data.json`): what the registry cannot know — model directories,
 * video annotation lists, unlabelled image sets with their teacher targets. Relative paths are taken relative to
 * the config file.
 */
export const BenchDataSchema = z
  .object({
    /** what the config is for (documentation only) */
    description: z.string().optional(),
    /**
     * the folder relative paths are taken from (itself relative to the config file); default: the config's folder.
     * `bench:paper --data-root` overrides it.
     */
    dataRoot: path.optional(),
    /** backbone id → local model directory or Hugging Face id */
    models: z.record(z.string(), path).default({}),
    /** backbone id → Exp-CLIP projection head file (as `exp-clip eval --head` reads), for the Exp-CLIP rows */
    heads: z.record(z.string(), path).default({}),
    /**
     * dataset id (raf-db, affectnet7, affectnet8, ferplus, caer-s, dfew, ferv39k, mafw, afew) → the zero-shot test
     * set as `exp-clip eval` reads it: `root`, `annotations` (`{fold}` replaced by the fold for fold-based sets)
     */
    evalSets: z
      .record(
        datasetKey,
        z
          .object({
            root: path,
            annotations: path.optional(),
            folds: z.array(z.number().int().positive()).min(1).optional(),
            rebase: z.object({ from: z.string(), to: z.string() }).optional(),
            ...doc,
          })
          .strict(),
      )
      .default({}),
    /** dataset id (mafw, dfew, afew) → HESP annotation lists (`<frame_dir> <num_frames> <label>`) */
    videoSets: z
      .record(
        datasetKey,
        z
          .object({
            train: path,
            test: path,
            root: path.optional(),
            rebase: z.object({ from: z.string(), to: z.string() }).optional(),
            ...doc,
          })
          .strict(),
      )
      .default({}),
    /**
     * dataset id → its labelled train split for the closed-set methods (linear probe, few-shot, Tip-Adapter), read
     * as `exp-clip eval` reads that dataset with split 'train': `root` (+ `annotations` where the dataset has one).
     * Train/validation are an 80/20 seeded stratified split of it; the test part is the dataset's `evalSets` entry.
     */
    labelledSets: z
      .record(
        datasetKey,
        z
          .object({
            root: path,
            annotations: path.optional(),
            rebase: z.object({ from: z.string(), to: z.string() }).optional(),
            ...doc,
          })
          .strict(),
      )
      .default({}),
    /** train-set name → unlabelled image directory and the teacher (as `exp-clip train --teacher`) */
    trainSets: z
      .record(
        z.string(),
        z.object({
          unlabelled: path,
          teacher: z.enum(['import', 'http']),
          teacherSource: path,
          teacherKeys: path.optional(),
          teacherModel: z.string().optional(),
        }),
      )
      .default({}),
  })
  .strict();
type BenchDataParsed = z.infer<typeof BenchDataSchema>;
/** A loaded data config (`heads`, `evalSets` and `labelledSets` may be left out by callers that build one in code). */
export type BenchData = Omit<BenchDataParsed, 'heads' | 'evalSets' | 'labelledSets'> &
  Partial<Pick<BenchDataParsed, 'heads' | 'evalSets' | 'labelledSets'>>;

/**
 * Read and validate a bench data config, naming the file and field on error; relative paths become absolute,
 * taken from `options.dataRoot` if given, else from the config's `dataRoot` (relative to the config file), else
 * from the config's folder.
 */
/** An issue's message; for a bad record key, the key's own message (zod wraps it as "Invalid key in record"). */
const issueMessage = (i: z.core.$ZodIssue): string =>
  i.code === 'invalid_key' && i.issues[0] ? i.issues[0].message : i.message;

/**
 * Every absolute path a loaded data config names (`loadBenchData` resolves its entries against the file): what a
 * cluster job running the ablations must reach (`ClusterJob.paths`).
 */
export function benchDataPaths(value: unknown): string[] {
  if (typeof value === 'string') return isAbsolute(value) ? [value] : [];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(benchDataPaths);
}

export function loadBenchData(file: string, options: { dataRoot?: string } = {}): BenchData {
  let raw: unknown;
  const text = readTextFile(file, 'bench data config'); // (its byte-order mark dropped, UTF-16 named)
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new DataFormatError({
      file,
      message: `cannot read the bench data config (${(error as Error).message})`,
      cause: error,
    });
  }
  const r = BenchDataSchema.safeParse(raw);
  if (!r.success)
    throw new DataFormatError({
      file,
      message: `invalid bench data config:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${issueMessage(i)}`).join('\n')}`,
    });
  const d = r.data;
  const configDir = dirname(resolve(file));
  const base = options.dataRoot ? resolve(options.dataRoot) : d.dataRoot ? resolve(configDir, d.dataRoot) : configDir;
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));
  return {
    ...(d.description !== undefined ? { description: d.description } : {}),
    dataRoot: base,
    models: Object.fromEntries(Object.entries(d.models).map(([k, v]) => [k, v.startsWith('.') ? abs(v) : v])),
    heads: Object.fromEntries(Object.entries(d.heads).map(([k, v]) => [k, abs(v)])),
    evalSets: Object.fromEntries(
      Object.entries(d.evalSets).map(([k, v]) => [
        k,
        { ...v, root: abs(v.root), ...(v.annotations ? { annotations: abs(v.annotations) } : {}) },
      ]),
    ),
    labelledSets: Object.fromEntries(
      Object.entries(d.labelledSets).map(([k, v]) => [
        k,
        { ...v, root: abs(v.root), ...(v.annotations ? { annotations: abs(v.annotations) } : {}) },
      ]),
    ),
    videoSets: Object.fromEntries(
      Object.entries(d.videoSets).map(([k, v]) => [
        k,
        { ...v, train: abs(v.train), test: abs(v.test), ...(v.root ? { root: abs(v.root) } : {}) },
      ]),
    ),
    trainSets: Object.fromEntries(
      Object.entries(d.trainSets).map(([k, v]) => [
        k,
        {
          ...v,
          unlabelled: abs(v.unlabelled),
          teacherSource: v.teacher === 'import' ? abs(v.teacherSource) : v.teacherSource,
          ...(v.teacherKeys ? { teacherKeys: abs(v.teacherKeys) } : {}),
        },
      ]),
    ),
  };
}
