import { z } from 'zod';
import {
  COMPUTE_DEVICES,
  firstRepeated,
  LOGIT_SCALE_EXPECTED,
  logitScaleInRange,
  MAX_TIMER_MS,
  quoteInput,
  type ComputeDevice,
  type OptionUse,
} from '@vlfer/core';
import {
  DATASETS,
  DATASET_IDS,
  KDEF_VIEWS,
  LABEL_SCHEMES,
  NATIVE_LABEL_SCHEMES,
  SHORT_CLIP_POLICIES,
  type DatasetId,
  type KdefView,
  type LabelScheme,
  type NativeLabelScheme,
  type ShortClipPolicy,
} from '@vlfer/datasets';
import { PREPROCESS_MODES, type PreprocessMode } from '@vlfer/encoders';
import { CLIP_DTYPES, RESIZERS, type ClipDtype, type Resizer } from '@vlfer/encoders/node';
import { listInstructions, PROMPT_TYPES, type PromptType } from '@vlfer/llm-knowledge';
import { OPTIMIZERS, type OptimizerName } from '@vlfer/losses';
import { CLOSED_SET_METHODS } from '@vlfer/probes';
import type { FacesOptionsInput } from '@vlfer/faces';
import { FacesOptionsSchema } from '@vlfer/faces/node';
import { threadCountProblem } from '@vlfer/core/node';

const positiveInt = z.number().int().positive();
/** ONNX Runtime threads: at most `maxThreads()` (4 per CPU; thousands would exhaust memory and threads). */
const threadCount = z.number().refine((n) => threadCountProblem(n) === undefined, {
  error: (issue) => threadCountProblem(issue.input as number) ?? 'is not a thread count',
});
/** One shard of a job split into `count` (0-based `index`). */
const ShardSchema = z
  .object({ index: z.number().int().min(0), count: z.number().int().positive() })
  .strict()
  .refine((s) => s.index < s.count, { message: 'index must be below count' });
const path = z.string().min(1);

/** Options of `evaluateZeroShot` (the `exp-clip eval` command), validated with zod. */
/** The refusal of a shard and a merge asked for at once (evaluation and training alike). */
const SHARD_AND_MERGE = {
  message: 'a shard and a merge were both asked for: run the shards first, then the merge',
  path: ['merge'],
};

export const EvalOptionsSchema = z
  .object({
    /** Dataset id (`DATASETS` of @vlfer/datasets): image-folder, fer2013, raf-db, affectnet7/8, ferplus, dfew, ferv39k, mafw, afew, video-folder. */
    dataset: z.enum(DATASET_IDS as [DatasetId, ...DatasetId[]]),
    /** Image root (class folders, RAF-DB basic/, AffectNet images, FERPlus images) or prefix for relative frame dirs. */
    root: path,
    /** Annotation file (RAF-DB list, AffectNet/FERPlus CSV, video list); `{fold}` is replaced per fold. */
    annotations: path.optional(),
    /** Folds, each once (the metrics are averaged over them: a repeated fold would weigh twice). */
    folds: z
      .array(positiveInt)
      .min(1)
      .superRefine((folds, ctx) => {
        const twice = firstRepeated(folds);
        if (twice !== undefined)
          ctx.addIssue({
            code: 'custom',
            message: `lists fold ${twice} twice (${folds.join(',')}); each fold is evaluated once, and the metrics are averaged over them`,
          });
      })
      .optional(),
    split: z.enum(['train', 'test']).default('test'),
    /** CLIP: Hugging Face id, local directory (ONNX or safetensors) or OpenAI .pt checkpoint. */
    model: path,
    /** Tokenizer directory for OpenAI .pt checkpoints. */
    tokenizer: path.optional(),
    head: path.optional(),
    /** Prompt types, each once (a repeated one gave two result rows and two predictions per item). */
    promptTypes: z
      .array(z.enum(PROMPT_TYPES))
      .min(1)
      .superRefine((types, ctx) => {
        const twice = firstRepeated(types);
        if (twice !== undefined)
          ctx.addIssue({ code: 'custom', message: `lists '${twice}' twice; each prompt type is evaluated once` });
      })
      .default([...PROMPT_TYPES]),
    /** A built-in label set id or a JSON file (`["a", "b"]` or `{ id, names }`). */
    labelSet: path.optional(),
    /** Class names in label order (an ad-hoc label set); overrides `labelSet`. */
    classes: z.array(z.string().min(1)).min(2).optional(),
    preprocess: z.enum(PREPROCESS_MODES).default('exp-clip'),
    resizer: z.enum(RESIZERS).default('pil'),
    ensemble: z.enum(['logits', 'embeddings']).default('logits'),
    /**
     * Multiplier of the cosine logits before the softmax of the probabilities: `'model'` = the checkpoint's
     * `exp(logit_scale)` as Exp-CLIP's code uses (100 when the model files hold none, e.g. ONNX graphs only), or a
     * number within `LOGIT_SCALE_RANGE`. Predictions and metrics do not depend on it.
     */
    logitScale: z
      .union([
        z.literal('model'),
        z.number().refine(logitScaleInRange, { message: `expected ${LOGIT_SCALE_EXPECTED}` }),
      ])
      .default('model'),
    dtype: z.enum(CLIP_DTYPES).default('fp32'),
    /** `dtype: 'int8'`: images of the run encoded in fp32 and int8 by the guard before the run. */
    quantizationSample: positiveInt.default(64),
    /** `dtype: 'int8'`: go on (recorded) when the guard fails instead of refusing the run. */
    acceptInaccurateQuantization: z.boolean().default(false),
    device: z.enum(COMPUTE_DEVICES).default('cpu'),
    threads: threadCount.optional(),
    batchSize: positiveInt.default(32),
    /** decode + resize on this many worker threads (0: on the calling thread, prefetching the next batch) */
    preprocessWorkers: z
      .number()
      .int()
      .min(0)
      .refine((n) => n === 0 || threadCountProblem(n) === undefined, {
        error: (issue) => threadCountProblem(issue.input as number) ?? 'is not a worker count',
      })
      .default(0),
    frames: positiveInt.default(16),
    shortClip: z.enum(SHORT_CLIP_POLICIES).default('repeat-first'),
    rebase: z.object({ from: z.string(), to: z.string() }).optional(),
    /** How the label column of a video list is read. @default the dataset's */
    labelScheme: z.enum(LABEL_SCHEMES).optional(),
    /** A second row for the same image or clip: an error, or dropped and counted. */
    duplicates: z.enum(['error', 'drop']).default('error'),
    /** Read annotation paths that leave `root` (`../x`, absolute paths elsewhere); refused by default. */
    allowOutsideRoot: z.boolean().default(false),
    /** Non-image files in class folders: an error, or skipped and counted. */
    extraFiles: z.enum(['error', 'skip']).default('error'),
    /** Class folders named by a dataset's native label ids (`image-folder`, `video-folder`). */
    folderIds: z.enum(NATIVE_LABEL_SCHEMES).optional(),
    /** KDEF: the views read; omitted = all five. */
    views: z.array(z.enum(KDEF_VIEWS)).min(1).optional(),
    /** CK+: the last frames of each labelled sequence; omitted = 3 (recorded only where given). */
    peakFrames: positiveInt.optional(),
    /** Evaluate a class-stratified, seeded subset of this many items per fold (smoke runs); named in the outputs. */
    limit: positiveInt.optional(),
    subsetSeed: z.number().int().default(0),
    cacheDir: path.optional(),
    /** Detect faces in raw photos/frames and evaluate their crops (`@vlfer/faces`); omitted = the images as they are. */
    faces: FacesOptionsSchema.optional(),
    /**
     * Do only shard `index` of `count` of the encoding (and face detection) into the caches and record it in
     * `<out>/shards/`; no metrics. A later run with `merge: count` writes what one unsharded run writes.
     */
    shard: ShardSchema.optional(),
    /** Check that all `merge` shards finished with these options, then evaluate (their features come from the cache). */
    merge: z.number().int().positive().optional(),
    /** Output directory; nothing is written when absent. */
    out: path.optional(),
    /** Replace a result set already published in `out` (as one set); refused by default. */
    overwrite: z.boolean().default(false),
  })
  .strict()
  .refine((o) => !(o.shard && o.merge), SHARD_AND_MERGE)
  .refine((o) => !(o.shard || o.merge) || o.out, {
    message: 'sharding (shard or merge) needs an output directory, shared by the shards, for their records',
    path: ['out'],
  })
  .refine((o) => !(o.shard || o.merge) || o.cacheDir, {
    message: 'sharding (shard or merge) needs the feature cache, where the shards leave their features',
    path: ['cacheDir'],
  })
  .refine((o) => o.folds || !o.annotations?.includes('{fold}') || officialFolds(o.dataset), {
    error: (issue) => {
      const o = issue.input as { dataset: string; annotations: string };
      return `the annotations path ${quoteInput(o.annotations)} has {fold} and ${o.dataset} has no official folds: give the folds to evaluate, e.g. [1, 2, 3]`;
    },
    path: ['folds'],
  })
  // DFEW's and MAFW's per-fold lists without folds: every official fold, as Exp-CLIP's test.py (range(5))
  .overwrite((o) =>
    o.folds || !o.annotations?.includes('{fold}') ? o : { ...o, folds: [...(officialFolds(o.dataset) ?? [])] },
  );

/** The official folds of a dataset evaluated per fold (DFEW, MAFW: 1–5), or undefined. */
function officialFolds(dataset: DatasetId): readonly number[] | undefined {
  return (DATASETS[dataset] as { folds?: readonly number[] }).folds;
}

/** One part of a labelled image set (`LabelledImages` of `runClosedSetBaseline`): parallel arrays, checked after. */
const LabelledImagesSchema = z
  .object({
    ids: z.array(z.string()),
    paths: z.array(path),
    labels: z.array(z.number()),
    keys: z.array(z.string()).optional(),
  })
  .strict();

/**
 * Options of `runClosedSetBaseline` (documented on `ClosedSetRunOptions`), validated before anything loads: an unknown
 * or misspelt one (`shot` for `shots`) was ignored, and out-of-range ones failed inside the encoder or after encoding.
 * What depends on several options (the parts a method needs, labels in range, shots per class) is checked after.
 */
export const ClosedSetRunOptionsSchema = z
  .object({
    method: z.enum(CLOSED_SET_METHODS),
    shots: z.number().optional(),
    seed: z.number().int().optional(),
    model: path,
    dtype: z.enum(CLIP_DTYPES).optional(),
    device: z.enum(COMPUTE_DEVICES).optional(),
    threads: threadCount.optional(),
    preprocess: z.enum(PREPROCESS_MODES).optional(),
    resizer: z.enum(RESIZERS).optional(),
    batchSize: positiveInt.optional(),
    cacheDir: path.optional(),
    classNames: z.array(z.string()).superRefine((names, ctx) => {
      const twice = firstRepeated(names);
      if (twice !== undefined) ctx.addIssue({ code: 'custom', message: `names '${twice}' twice; each class once` });
    }),
    prompts: z.array(z.array(z.string())).optional(),
    test: LabelledImagesSchema,
    train: LabelledImagesSchema.optional(),
    validation: LabelledImagesSchema.optional(),
    tipAdapter: z
      .object({
        alpha: z.number().finite().optional(),
        beta: z.number().finite().min(0).optional(),
        scale: z.number().finite().min(0).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** `evaluateZeroShot`'s options after validation: every default filled in. */
export type EvalOptions = z.infer<typeof EvalOptionsSchema>;

/** The dataset- and choice-specific options of `evaluateZeroShot` (`evalOptionUses`). */
export type EvalOptionUse = OptionUse<
  | 'split'
  | 'frames'
  | 'shortClip'
  | 'rebase'
  | 'labelScheme'
  | 'quantizationSample'
  | 'acceptInaccurateQuantization'
  | 'subsetSeed'
  | 'duplicates'
  | 'allowOutsideRoot'
  | 'extraFiles'
  | 'views'
  | 'peakFrames'
>;
/** The teacher- and optimiser-specific options of `trainHead` (`trainOptionUses`). */
export type TrainOptionUse = OptionUse<
  | 'teacherKeys'
  | 'teacherModel'
  | 'teacherReplyModel'
  | 'teacherTimeoutMs'
  | 'teacherRetries'
  | 'teacherConcurrency'
  | 'momentum'
>;

/**
 * Which of `evaluateZeroShot`'s dataset- and choice-specific options an evaluation uses: `split` (RAF-DB, FERPlus),
 * `frames` and `shortClip` (video datasets), `rebase` and `labelScheme` (video lists), `quantizationSample` and
 * `acceptInaccurateQuantization` (`dtype: 'int8'`), `subsetSeed` (`limit` or the int8 guard), `allowOutsideRoot` and
 * `duplicates` (datasets read from annotation rows; FERPlus keeps an image's last row itself), `extraFiles` (class
 * folders). A command line refuses such flags typed where they do not apply; `evaluateZeroShot` refuses their values
 * other than the default.
 */
export function evalOptionUses(o: Pick<EvalOptionsInput, 'dataset' | 'dtype' | 'limit'>): EvalOptionUse[] {
  const format = (DATASETS as Record<string, { format: string } | undefined>)[o.dataset]?.format;
  const video = format === 'video-list' || format === 'video-folder';
  const images = `dataset ${o.dataset} holds images, not video clips`;
  const noList = `dataset ${o.dataset} reads no annotation list of frame directories (video-list datasets do)`;
  const int8 = o.dtype === 'int8';
  const folders = format === 'image-folder' || format === 'video-folder';
  // AffectNet's npy release (one annotation file per image, found by the image's name under root), the datasets
  // labelled by their file names (KDEF, JAFFE) and CK+ (its Emotion files beside its frames): read by listing images
  const perImage = format === 'affectnet-npy' || format === 'name-coded' || format === 'ckplus';
  const guard = "applies to dtype 'int8' only (the fp32/int8 guard)";
  return [
    {
      key: 'split',
      applies: format === 'raf-db' || format === 'ferplus',
      why: `dataset ${o.dataset} has no train/test split to choose (RAF-DB and FERPlus have)`,
    },
    { key: 'frames', applies: video, why: images },
    { key: 'shortClip', applies: video, why: images },
    { key: 'rebase', applies: format === 'video-list', why: noList },
    { key: 'labelScheme', applies: format === 'video-list', why: noList },
    { key: 'quantizationSample', applies: int8, why: guard },
    { key: 'acceptInaccurateQuantization', applies: int8, why: guard },
    {
      key: 'subsetSeed',
      applies: o.limit !== undefined || int8,
      why: "seeds the limit subset and the sample of the int8 guard (dtype 'int8'); neither is asked for",
    },
    {
      key: 'allowOutsideRoot',
      applies: !folders && !perImage,
      why: `dataset ${o.dataset} is read by listing ${folders ? 'its class folders' : 'its images'}: no annotation rows to lead outside root`,
    },
    {
      // KDEF and JAFFE: a second file of one image name (a copy unzipped twice) is a duplicate
      key: 'duplicates',
      applies: (!folders && !perImage && format !== 'ferplus') || format === 'name-coded',
      why:
        folders || perImage
          ? `dataset ${o.dataset} is read by listing ${folders ? 'its class folders' : 'its images'}: no annotation rows to repeat`
          : "FERPlus's CSV gives an image named twice the last row's label (its own rule), so no row is a duplicate",
    },
    {
      key: 'extraFiles',
      applies: folders || perImage,
      why: `dataset ${o.dataset} is read from its annotation rows, not by listing class folders`,
    },
    { key: 'views', applies: o.dataset === 'kdef', why: `dataset ${o.dataset} has no views to choose (KDEF has)` },
    {
      key: 'peakFrames',
      applies: format === 'ckplus',
      why: `dataset ${o.dataset} has no expression sequences to take peak frames of (CK+ has)`,
    },
  ];
}

/** One shard of a job split into `count` parts. */
export interface ShardOption {
  /** This shard, 0-based: `0 ≤ index < count`. */
  index: number;
  /** How many shards the job is split into (a positive integer). */
  count: number;
}

/** A path prefix rewrite applied to the paths read from annotation files (lists written on another machine). */
export interface RebaseOption {
  /** Prefix as written in the annotation file. */
  from: string;
  /** Prefix to put in its place. */
  to: string;
}

/**
 * Options of `evaluateZeroShot` (the `exp-clip eval` command). `EvalOptionsSchema` validates them at run time and
 * fills in the defaults given here (a test checks that every `@default` below is the schema's).
 */
export interface EvalOptionsInput {
  /** Dataset id (`DATASETS` of @vlfer/datasets): its format, label set and default label scheme. */
  dataset: DatasetId;
  /** Image root (class folders, RAF-DB basic/, AffectNet images, FERPlus images) or prefix for relative frame dirs. */
  root: string;
  /** Annotation file (RAF-DB list, AffectNet/FERPlus CSV, video list); `{fold}` is replaced per fold. */
  annotations?: string;
  /**
   * Folds to evaluate (1-based, for an `annotations` path with `{fold}`).
   * @default every official fold of the dataset (DFEW, MAFW: 1–5); refused as missing for other datasets
   */
  folds?: number[];
  /** Which split of the dataset is read. @default 'test' */
  split?: 'train' | 'test';
  /** CLIP: Hugging Face id, local directory (ONNX or safetensors) or OpenAI .pt checkpoint. */
  model: string;
  /** Tokenizer directory for OpenAI .pt checkpoints. @default the model directory's */
  tokenizer?: string;
  /** Projection head file (from `trainHead`) applied to the image features; omitted = plain CLIP. */
  head?: string;
  /**
   * Exp-CLIP's prompt types to evaluate, each reported separately (at least one).
   * @default ["class_name", "an_expression_of_name", "a_photo_of_a_face_with_an_expression_of_name", "expression_ensemble_five", "expression_ensemble_ten"]
   */
  promptTypes?: PromptType[];
  /** A built-in label set id or a JSON file (`["a", "b"]` or `{ id, names }`). @default the dataset's */
  labelSet?: string;
  /** Class names in label order (an ad-hoc label set, at least 2); overrides `labelSet`. */
  classes?: string[];
  /** Image preprocessing (`PREPROCESS_MODES` of @vlfer/encoders). @default 'exp-clip' */
  preprocess?: PreprocessMode;
  /** Resizer of the `'clip'`/`'exp-clip'` modes: Pillow-exact (`'pil'`) or sharp (faster, not bit-exact). @default 'pil' */
  resizer?: Resizer;
  /** How the templates of one class are combined: mean of their logits, or of their normalised text embeddings. @default 'logits' */
  ensemble?: 'logits' | 'embeddings';
  /**
   * Multiplier of the cosine logits before the softmax of the probabilities: `'model'` = the checkpoint's
   * `exp(logit_scale)` as Exp-CLIP's code uses (100 when the model files hold none, e.g. ONNX graphs only), or a
   * positive number. Predictions and metrics do not depend on it.
   * @default 'model'
   */
  logitScale?: 'model' | number;
  /**
   * Weight precision: `fp32`, `fp16`, `q8` (the ONNX graphs), or `int8` (the 'graphs' runtime with int8 linear
   * layers, checked first by the quantization guard on the run's own images). @default 'fp32'
   */
  dtype?: ClipDtype;
  /**
   * `dtype: 'int8'`: how many of the run's images (a seeded sample, seed `subsetSeed`; all when fewer) the guard
   * encodes in fp32 and int8; the run is refused unless every cosine ≥ 0.999 and the zero-shot argmax agrees on
   * ≥ 99 % of them over every prompt type. @default 64
   */
  quantizationSample?: number;
  /** `dtype: 'int8'`: run even when the guard fails (its numbers and `accepted: true` go to metrics.json). @default false */
  acceptInaccurateQuantization?: boolean;
  /** Compute backend. @default 'cpu' */
  device?: ComputeDevice;
  /** ONNX Runtime intra-op threads. @default ONNX Runtime's choice */
  threads?: number;
  /** Images (or frames) per encoder call. @default 32 */
  batchSize?: number;
  /** decode + resize on this many worker threads (0: on the calling thread, prefetching the next batch). @default 0 */
  preprocessWorkers?: number;
  /** Frames sampled per video clip (segment centres); a clip's feature is the mean of its frames'. @default 16 */
  frames?: number;
  /** Clips shorter than `frames`: repeat the first frame or pad at the edges. @default 'repeat-first' */
  shortClip?: ShortClipPolicy;
  /** Rewrite a path prefix in the annotation files. */
  rebase?: RebaseOption;
  /** How the label column of a video list is read. @default the dataset's */
  labelScheme?: LabelScheme;
  /** A second row for the same image or clip: an error, or dropped and counted. @default 'error' */
  duplicates?: 'error' | 'drop';
  /** Read annotation paths that leave `root` (`../x`, absolute paths elsewhere); refused by default. @default false */
  allowOutsideRoot?: boolean;
  /** Non-image files in class folders: an error, or skipped and counted. @default 'error' */
  extraFiles?: 'error' | 'skip';
  /**
   * Class folders named by a dataset's native label ids (`image-folder`, `video-folder`; third-party copies of
   * RAF-DB as `1` … `7`, AffectNet as `0` … `7`): folder `k` is that dataset's class k (`loadImageFolder`'s
   * `folderIds`). @default folders matched by their names
   */
  folderIds?: NativeLabelScheme;
  /**
   * KDEF: the views read, of FL, HL, S, HR, FR (full left profile … full right profile); `['S']` is the 980 straight
   * images most papers report on. @default all five (4,900 images)
   */
  views?: KdefView[];
  /**
   * CK+ (`ckplus`, `ckplus8`): the last frames of each labelled sequence, up to its labelled peak frame; 1 gives the
   * 327 peak frames. Omitted: 3, the 981 images of the common 7-class protocol (left out of the results' recorded
   * options, so that those of other datasets, and of earlier runs, stay as they were).
   */
  peakFrames?: number;
  /** Evaluate a class-stratified, seeded subset of this many items per fold (smoke runs); named in the outputs. */
  limit?: number;
  /** Seed of the `limit` subset. @default 0 */
  subsetSeed?: number;
  /** Feature cache directory (image features keyed by file content and model); omitted = no cache. */
  cacheDir?: string;
  /** Detect faces in raw photos/frames and evaluate their crops (`@vlfer/faces`); omitted = the images as they are. */
  faces?: FacesOptionsInput;
  /**
   * Do only shard `index` of `count` of the encoding (and face detection) into the caches and record it in
   * `<out>/shards/`; no metrics. A later run with `merge: count` writes what one unsharded run writes.
   */
  shard?: ShardOption;
  /** Check that all `merge` shards finished with these options, then evaluate (their features come from the cache). */
  merge?: number;
  /** Output directory; nothing is written when absent. */
  out?: string;
  /**
   * Replace a result set an earlier evaluation published in `out` (the new set replaces it as one set, never a
   * mix). Without it such an `out` is refused before anything is loaded, so no result is lost by accident.
   * @default false
   */
  overwrite?: boolean;
}

/** Options of `trainHead` (the `exp-clip train` command). */
export const TrainOptionsSchema = z
  .object({
    /** Directory of unlabelled face images (searched recursively; class folders are ignored). */
    unlabelled: path,
    model: path,
    tokenizer: path.optional(),
    /** `import` (precomputed targets file) or `http` (OpenAI-compatible embeddings server). */
    teacher: z.enum(['import', 'http']),
    /** import: the targets file (.npy/.safetensors/.jsonl); http: the server base URL. */
    teacherSource: path,
    /** import: keys file for .npy. */
    teacherKeys: path.optional(),
    /** http: the model name. */
    teacherModel: z.string().min(1).optional(),
    /** http: the model name the server's replies report, where not `teacherModel`. */
    teacherReplyModel: z.union([z.string().trim().min(1), z.array(z.string().trim().min(1)).min(1)]).optional(),
    /** http: per-request timeout. */
    teacherTimeoutMs: positiveInt.max(MAX_TIMER_MS).default(60_000),
    /** http: retries after network errors, timeouts, 5xx or bad replies. */
    teacherRetries: z.number().int().min(0).default(3),
    /**
     * http: requests in flight. The training asks the teacher for the targets of at least this many images at a time
     * (whole units of `encodeBatchSize`), while CLIP encodes the next units.
     */
    teacherConcurrency: positiveInt.default(8),
    instruction: z
      .string()
      .min(1)
      .default('exp-clip')
      .superRefine((id, ctx) => {
        const known = listInstructions().map((i) => i.id);
        if (!known.includes(id))
          ctx.addIssue({ code: 'custom', message: `expected one of ${known.join(', ')}, got '${id}'` });
      }),
    epochs: positiveInt.default(5),
    batch: positiveInt.default(512),
    lr: z.number().positive().default(1e-3),
    milestones: z.array(z.number().int().nonnegative()).default([30]),
    optimizer: z.enum(OPTIMIZERS).default('sgd'),
    momentum: z.number().min(0).max(1).default(0.9),
    weightDecay: z.number().min(0).default(1e-4),
    seed: z.number().int().default(1),
    scale: z.number().positive().default(100),
    outputDim: positiveInt.default(4096),
    preprocess: z.enum(PREPROCESS_MODES).default('exp-clip'),
    resizer: z.enum(RESIZERS).default('pil'),
    dtype: z.enum(CLIP_DTYPES).default('fp32'),
    device: z.enum(COMPUTE_DEVICES).default('cpu'),
    threads: threadCount.optional(),
    encodeBatchSize: positiveInt.default(32),
    /** Seconds between mid-epoch checkpoints (a checkpoint is also written at every epoch end and on abort). */
    checkpointSeconds: z.number().positive().default(60),
    cacheDir: path.optional(),
    /** Detect faces in the unlabelled images and train on their crops (the teacher gets the same crops). */
    faces: FacesOptionsSchema.optional(),
    /** Only fill the feature, target and face caches for shard `index` of `count`; train later with `merge: count`. */
    shard: ShardSchema.optional(),
    /** Check that all `merge` shards finished with these data options, then train (their work comes from the caches). */
    merge: z.number().int().positive().optional(),
    out: path,
  })
  .strict()
  .refine((o) => !(o.shard && o.merge), SHARD_AND_MERGE)
  .refine((o) => !(o.shard || o.merge) || o.cacheDir, {
    message: 'sharding (shard or merge) needs the cache, where the shards leave their features and targets',
    path: ['cacheDir'],
  })
  .refine((o) => o.dtype !== 'int8', {
    message: "'int8' features are checked by a guard only in exp-clip eval; train the head on fp32 features",
    path: ['dtype'],
  });
/** `trainHead`'s options after validation: every default filled in. */
export type TrainOptions = z.infer<typeof TrainOptionsSchema>;

/**
 * Which of `trainHead`'s teacher- and optimiser-specific options a training uses: `teacherKeys` (an imported `.npy` or
 * `.safetensors` targets file: a `.jsonl` one holds its keys), the HTTP teacher's `teacherModel`, `teacherReplyModel`,
 * `teacherTimeoutMs`, `teacherRetries` and `teacherConcurrency`, and SGD's `momentum`. `trainHead` refuses their values other than the
 * default where they are not used; a command line refuses such flags typed where they do not apply.
 */
export function trainOptionUses(
  o: Pick<TrainOptionsInput, 'teacher' | 'teacherSource' | 'optimizer'>,
): TrainOptionUse[] {
  const http = o.teacher === 'http';
  const onlyHttp = "for teacher 'http' only; teacher 'import' reads a targets file";
  return [
    {
      key: 'teacherKeys',
      applies: !http && !o.teacherSource.toLowerCase().endsWith('.jsonl'),
      why: http
        ? "for teacher 'import' only; teacher 'http' asks the server for each image"
        : `for a .npy or .safetensors targets file; ${o.teacherSource} holds its own keys`,
    },
    ...(['teacherModel', 'teacherReplyModel', 'teacherTimeoutMs', 'teacherRetries', 'teacherConcurrency'] as const).map(
      (key) => ({
        key,
        applies: http,
        why: onlyHttp,
      }),
    ),
    {
      key: 'momentum',
      applies: (o.optimizer ?? 'sgd') === 'sgd',
      why: `for optimizer 'sgd' only; optimizer '${o.optimizer}' has none`,
    },
  ];
}

/**
 * Options of `trainHead` (the `exp-clip train` command). `TrainOptionsSchema` validates them at run time and fills
 * in the defaults given here (a test checks that every `@default` below is the schema's).
 */
export interface TrainOptionsInput {
  /** Directory of unlabelled face images (searched recursively; class folders are ignored). */
  unlabelled: string;
  /** CLIP: Hugging Face id, local directory (ONNX or safetensors) or OpenAI .pt checkpoint. */
  model: string;
  /** Tokenizer directory for OpenAI .pt checkpoints. @default the model directory's */
  tokenizer?: string;
  /** `import` (precomputed targets file) or `http` (OpenAI-compatible embeddings server). */
  teacher: 'import' | 'http';
  /** import: the targets file (.npy/.safetensors/.jsonl); http: the server base URL. */
  teacherSource: string;
  /** import: keys file for .npy. */
  teacherKeys?: string;
  /** http: the model name. */
  teacherModel?: string;
  /**
   * http: the model name the server's replies report (their `model` field) where it is not `teacherModel` (a proxy's
   * alias, a server that reports its own id), or several (a router over deployments that report their own names); a
   * reply naming another model is refused. @default teacherModel
   */
  teacherReplyModel?: string | string[];
  /** http: per-request timeout in milliseconds. @default 60000 */
  teacherTimeoutMs?: number;
  /** http: retries after network errors, timeouts, 5xx or bad replies. @default 3 */
  teacherRetries?: number;
  /** http: requests in flight at once. @default 8 */
  teacherConcurrency?: number;
  /** Id of the instruction the LLM teacher is given (@vlfer/llm-knowledge's instructions; part of the target cache key). @default 'exp-clip' */
  instruction?: string;
  /** Training epochs. @default 5 */
  epochs?: number;
  /** Training batch size (images). @default 512 */
  batch?: number;
  /** Learning rate (the base rate, before the first milestone). @default 0.001 */
  lr?: number;
  /**
   * Epochs (0-based) from which the learning rate is multiplied by 0.1 once more (PyTorch `MultiStepLR`, stepped
   * per epoch; Exp-CLIP's `runner.sh` has `--milestones 30`); [] keeps it constant. @default [30]
   */
  milestones?: number[];
  /** Optimizer. @default 'sgd' */
  optimizer?: OptimizerName;
  /** SGD momentum, in [0, 1]. @default 0.9 */
  momentum?: number;
  /** Weight decay (L2). @default 0.0001 */
  weightDecay?: number;
  /** Seed of the head's initialisation and the batch order. @default 1 */
  seed?: number;
  /** Temperature multiplier of the cosine logits of the loss. @default 100 */
  scale?: number;
  /** Dimension of the teacher's target embeddings (the head's output); other widths are an error. @default 4096 */
  outputDim?: number;
  /** Image preprocessing (`PREPROCESS_MODES` of @vlfer/encoders). @default 'exp-clip' */
  preprocess?: PreprocessMode;
  /** Resizer of the `'clip'`/`'exp-clip'` modes. @default 'pil' */
  resizer?: Resizer;
  /** Weight precision of the ONNX CLIP graphs. @default 'fp32' */
  dtype?: ClipDtype;
  /** Compute backend. @default 'cpu' */
  device?: ComputeDevice;
  /** ONNX Runtime intra-op threads. @default ONNX Runtime's choice */
  threads?: number;
  /** Images per encoder call. @default 32 */
  encodeBatchSize?: number;
  /** Seconds between mid-epoch checkpoints (a checkpoint is also written at every epoch end and on abort). @default 60 */
  checkpointSeconds?: number;
  /** Cache directory of image features, teacher targets and face crops; omitted = no cache. */
  cacheDir?: string;
  /** Detect faces in the unlabelled images and train on their crops (the teacher gets the same crops). */
  faces?: FacesOptionsInput;
  /** Only fill the feature, target and face caches for shard `index` of `count`; train later with `merge: count`. */
  shard?: ShardOption;
  /** Check that all `merge` shards finished with these data options, then train (their work comes from the caches). */
  merge?: number;
  /** Output directory (checkpoints, the head, the training log). */
  out: string;
}
