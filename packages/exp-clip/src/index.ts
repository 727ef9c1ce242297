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
  EvalOptionUse,
  TrainOptionUse,
} from './options.js';
export {
  ClosedSetRunOptionsSchema,
  EvalOptionsSchema,
  TrainOptionsSchema,
  evalOptionUses,
  trainOptionUses,
} from './options.js';
export type { EvalData, LoadedEvalSet } from './data.js';
export { loadEvalData, foldAnnotations } from './data.js';
export type {
  PipelineHooks,
  EvalResult,
  FoldResult,
  PromptTypeResult,
  FoldPredictions,
  LogitScaleUsed,
  EvalPrompts,
  EvalModel,
  EvalModelHooks,
  EvalEncoding,
  ClassifierSpec,
  ScoredFold,
} from './evaluate.js';
export {
  evaluateZeroShot,
  evalOutputFiles,
  formatEvalTable,
  // the stages of evaluateZeroShot, in order, for callers that replace one of them
  loadEvalFolds,
  evalDataWarnings,
  facesSkipWarnings,
  sharedLabelSet,
  evalPrompts,
  resolveLogitScale,
  loadEvalModel,
  encodeForEvaluation,
  foldPredictions,
  classifyFolds,
  scoreFold,
  classifyAndScore,
  publishEvalShard,
  publishEvaluation,
  evalMetrics,
  confusionMatrixCsv,
  predictionsCsv,
  predictionsCsvBytes,
} from './evaluate.js';
export type { GuardHooks, QuantizationReport } from './quantization-guard.js';
export {
  QUANTIZATION_THRESHOLDS,
  formatQuantizationReport,
  guardSample,
  quantizationGuard,
} from './quantization-guard.js';
export type { EncodeCounts, EvalEncoder, EncodeProgressScope, SampledClips, EncodedEvalData } from './eval-encode.js';
export {
  clipFeatureNamespace,
  createEvalEncoder,
  createEvalFaceCropper,
  selectFaces,
  sampleClips,
  encodeEvalData,
} from './eval-encode.js';
export type {
  StepLog,
  TrainLoopOptions,
  TrainResult,
  TrainStageContext,
  TrainingEncoder,
  FaceCrop,
  TrainingData,
  TrainCheckpoint,
  TrainingFingerprints,
  TrainFiles,
  TrainStart,
  TrainRun,
  TrainHooks,
} from './train.js';
export {
  trainHead,
  trainProjectionHead,
  trainLoopSteps,
  // the stages of trainHead, in order, for callers that replace one of them
  resolveTeacher,
  readTrainCheckpoint,
  prepareTrainingData,
  loadTrainingEncoder,
  selectTrainingFaces,
  encodeWithTargets,
  checkTrainingData,
  trainingFingerprints,
  selectTrainStart,
  runHeadTraining,
  publishTrainedHead,
  trainMetrics,
} from './train.js';
// the closed-set baselines end to end on a frozen CLIP, beside zero-shot on the same items and feature cache
export type { ClosedSetRunHooks, ClosedSetRunOptions, ClosedSetRunResult, LabelledImages } from './closed-set-run.js';
export { refuseSharedContent, runClosedSetBaseline } from './closed-set-run.js';
