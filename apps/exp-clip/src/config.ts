import { resolve } from 'node:path';
import { z } from 'zod';
import { PROMPT_TYPES } from '@vlfer/llm-knowledge';

export const IMAGE_DATASETS = ['image-folder', 'fer2013', 'caer-s', 'raf-db', 'affectnet7', 'affectnet8', 'ferplus'] as const;
export const VIDEO_DATASETS = ['dfew', 'ferv39k', 'mafw', 'afew'] as const;
/** Class folders of raw video files (`root/<class>/<video>`), decoded with ffmpeg. */
export const VIDEO_FILE_DATASETS = ['video-folder'] as const;
export const DATASET_KINDS = [...IMAGE_DATASETS, ...VIDEO_DATASETS, ...VIDEO_FILE_DATASETS] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

/** Resolved configuration of `exp-clip eval`, validated with zod and written next to the results. */
export const EvalConfigSchema = z.object({
  dataset: z.enum(DATASET_KINDS),
  /** Image root (class folders, RAF-DB basic/, AffectNet images, FERPlus images) or prefix for relative frame dirs. */
  root: z.string().min(1),
  /** Annotation file (RAF-DB list, AffectNet/FERPlus CSV, video list); `{fold}` is replaced per fold. */
  annotations: z.string().optional(),
  folds: z.array(z.number().int().positive()).optional(),
  split: z.enum(['train', 'test']).default('test'),
  model: z.string().min(1),
  head: z.string().optional(),
  promptTypes: z.array(z.enum(PROMPT_TYPES)).min(1),
  preprocess: z.enum(['clip', 'exp-clip']).default('exp-clip'),
  resizer: z.enum(['pil', 'sharp']).default('pil'),
  ensemble: z.enum(['logits', 'embeddings']).default('logits'),
  dtype: z.enum(['fp32', 'fp16', 'q8']).default('fp32'),
  device: z.enum(['cpu', 'webgpu']).default('cpu'),
  batchSize: z.number().int().positive().default(32),
  /** decode + resize on this many worker threads (0: on the main thread, prefetching the next batch) */
  preprocessWorkers: z.number().int().min(0).default(0),
  frames: z.number().int().positive().default(16),
  shortClip: z.enum(['repeat-first', 'edge-pad']).default('repeat-first'),
  rebase: z.object({ from: z.string(), to: z.string() }).optional(),
  labelScheme: z.enum(['dfer-clip', 'dfew-original', 'mafw-hesp']).default('dfer-clip'),
  /** Evaluate only the first N items of each fold (smoke runs, benchmarks). */
  limit: z.number().int().positive().optional(),
  cacheDir: z.string().optional(),
  out: z.string().min(1),
  progress: z.boolean().default(true),
});
export type EvalConfig = z.infer<typeof EvalConfigSchema>;
export type EvalConfigInput = z.input<typeof EvalConfigSchema>;

/** Validate, naming each bad field. */
export function parseEvalConfig(input: EvalConfigInput): EvalConfig {
  const r = EvalConfigSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  --${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new Error(`Invalid exp-clip eval options:\n${lines.join('\n')}`);
  }
  return r.data;
}

/** Cache/checkpoint key of a model: local paths made absolute, Hub ids as given. */
export function resolveModelKey(model: string): string {
  return model.startsWith('.') || model.startsWith('/') ? resolve(model) : model;
}
