import { z } from 'zod';
import { COMPUTE_DEVICES } from '@vlfer/core';
import { DATASET_IDS, LABEL_SCHEMES, SHORT_CLIP_POLICIES } from '@vlfer/datasets';
import { PREPROCESS_MODES } from '@vlfer/encoders';
import { CLIP_DTYPES, RESIZERS } from '@vlfer/encoders/node';
import { PROMPT_TYPES } from '@vlfer/llm-knowledge';
import { OPTIMIZERS } from '@vlfer/losses';
import { FacesOptionsSchema } from '@vlfer/faces';

const positiveInt = z.number().int().positive();
/** One shard of a job split into `count` (0-based `index`). */
const ShardSchema = z
  .object({ index: z.number().int().min(0), count: z.number().int().positive() })
  .strict()
  .refine((s) => s.index < s.count, { message: 'index must be below count' });
const path = z.string().min(1);

/** Options of `evaluateZeroShot` (the `exp-clip eval` command), validated with zod. */
export const EvalOptionsSchema = z
  .object({
    /** Dataset id (`DATASETS` of @vlfer/datasets): image-folder, fer2013, raf-db, affectnet7/8, ferplus, dfew, ferv39k, mafw, afew, video-folder. */
    dataset: z.enum(DATASET_IDS as [string, ...string[]]),
    /** Image root (class folders, RAF-DB basic/, AffectNet images, FERPlus images) or prefix for relative frame dirs. */
    root: path,
    /** Annotation file (RAF-DB list, AffectNet/FERPlus CSV, video list); `{fold}` is replaced per fold. */
    annotations: path.optional(),
    folds: z.array(positiveInt).min(1).optional(),
    split: z.enum(['train', 'test']).default('test'),
    /** CLIP: Hugging Face id, local directory (ONNX or safetensors) or OpenAI .pt checkpoint. */
    model: path,
    /** Tokenizer directory for OpenAI .pt checkpoints. */
    tokenizer: path.optional(),
    head: path.optional(),
    promptTypes: z
      .array(z.enum(PROMPT_TYPES))
      .min(1)
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
     * number. Predictions and metrics do not depend on it.
     */
    logitScale: z.union([z.literal('model'), z.number().positive().finite()]).default('model'),
    dtype: z.enum(CLIP_DTYPES).default('fp32'),
    device: z.enum(COMPUTE_DEVICES).default('cpu'),
    threads: positiveInt.optional(),
    batchSize: positiveInt.default(32),
    /** decode + resize on this many worker threads (0: on the calling thread, prefetching the next batch) */
    preprocessWorkers: z.number().int().min(0).default(0),
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
  })
  .strict()
  .refine((o) => !(o.shard && o.merge), { message: 'give shard or merge, not both', path: ['merge'] })
  .refine((o) => !(o.shard || o.merge) || (o.out && o.cacheDir), {
    message: 'sharding needs out (for the shard records) and cacheDir (where the shards leave their features)',
    path: ['shard'],
  });
export type EvalOptions = z.infer<typeof EvalOptionsSchema>;
export type EvalOptionsInput = z.input<typeof EvalOptionsSchema>;

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
    /** http: per-request timeout. */
    teacherTimeoutMs: positiveInt.default(60_000),
    /** http: retries after network errors, timeouts, 5xx or bad replies. */
    teacherRetries: z.number().int().min(0).default(3),
    teacherConcurrency: positiveInt.default(8),
    instruction: z.string().min(1).default('exp-clip'),
    epochs: positiveInt.default(5),
    batch: positiveInt.default(512),
    lr: z.number().positive().default(1e-3),
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
    threads: positiveInt.optional(),
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
  .refine((o) => !(o.shard && o.merge), { message: 'give shard or merge, not both', path: ['merge'] })
  .refine((o) => !(o.shard || o.merge) || o.cacheDir, {
    message: 'sharding needs cacheDir (where the shards leave their features and targets)',
    path: ['shard'],
  });
export type TrainOptions = z.infer<typeof TrainOptionsSchema>;
export type TrainOptionsInput = z.input<typeof TrainOptionsSchema>;
