/**
 * @file `@vlfer/exp-clip`: the Exp-CLIP method (Zhao et al., WACV 2025) as library functions — the CLI
 * `vlfer exp-clip` (apps/cli) and the bench call exactly these:
 * - `evaluateZeroShot`: zero-shot FER over image and video datasets (plain CLIP or with a projection head);
 * - `trainHead` / `trainProjectionHead`: the projection head trained on unlabelled faces against LLM-teacher targets.
 * Every function takes typed options, an AbortSignal and progress callbacks, and never prints.
 */
export type {
  EvalOptions,
  EvalOptionsInput,
  TrainOptions,
  TrainOptionsInput,
  ShardOption,
  RebaseOption,
} from './options.js';
export { EvalOptionsSchema, TrainOptionsSchema } from './options.js';
export type { EvalData } from './data.js';
export { loadEvalData } from './data.js';
export type { PipelineHooks, EvalResult, FoldResult, PromptTypeResult, FoldPredictions } from './evaluate.js';
export { evaluateZeroShot, evalOutputFiles, formatEvalTable } from './evaluate.js';
export type { StepLog, TrainLoopOptions, TrainResult } from './train.js';
export { trainHead, trainProjectionHead } from './train.js';
