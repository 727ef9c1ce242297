/**
 * @file `@vlfer/encoders`: the runtime-neutral half of the CLIP encoders — preprocessing (the
 * `clip`/`exp-clip`/`openai` modes on `@vlfer/image`'s Pillow-exact resizing, re-exported here, HESP's clip augmentation, CLIP normalisation), the zero-shot classifier on top of
 * any text encoder, label scores, the CLIP model registry, CLIP architectures (Hugging Face configs, OpenAI
 * checkpoint mapping) and the forward/VJP graph builders. Models run through `@vlfer/encoders/node`; the browser
 * app runs the same code with transformers.js's web build.
 */
export type { KnownClipModelId, ClipModelId } from './registry.js';
export { CLIP_MODELS, listClipModels, requiredModelFiles } from './registry.js';
export type { PreprocessMode, ClipPreprocessorConfig, ClipAugmentation } from './preprocess.js';
export {
  PREPROCESS_MODES,
  cropBox,
  preprocessPillowImage,
  OPENAI_CLIP_PREPROCESSOR,
  parsePreprocessorConfig,
  preprocessRgb,
  resizedSize,
  clipNormalize,
  normalizePixels,
  sampleClipAugmentation,
} from './preprocess.js';
/** Re-exported from `@vlfer/image` (where Pillow's modes and resampling moved), so that existing imports keep working. */
export type {
  ByteTables,
  DecodedImage,
  PilFilter,
  PilResampler,
  PillowImage,
  PillowMode,
  ResizeWindow,
} from '@vlfer/image';
export {
  PILLOW_MODES,
  PIL_RESAMPLERS,
  pilNearestWindow,
  pilResize,
  pilResizeInt32,
  pilResizeRows,
  pilResizeToPlanes,
  pilResizeWindow,
  pillowCmykToRgb,
  pillowResizeWindow,
  pillowToRgb,
} from '@vlfer/image';
export type { ClipTokenRows } from './clip-tokens.js';
export { CLIP_CONTEXT_LENGTH, clipBasicClean, fitClipContext, truncationNotices } from './clip-tokens.js';
export type { ZeroShotOptions, ZeroShotClassifier, ClassPromptSpec, LabelScore } from './zero-shot.js';
export { buildZeroShotClassifier, resolveClassPrompts, labelScores } from './zero-shot.js';
/** (from @vlfer/core, where `cosineLogits` checks it) */
export { LOGIT_SCALE_RANGE, LOGIT_SCALE_EXPECTED, logitScaleInRange } from '@vlfer/core';
export type {
  ClassifierPrompts,
  ClassifierTextModel,
  ClassPrediction,
  ImageClassifier,
  ZeroShotClassifierOptions,
} from './classifier.js';
export { createImageClassifier, classifierPromptSpec, DEFAULT_FER_TEMPLATE } from './classifier.js';
export type { ClipArch } from './clip-arch.js';
export { clipArchFromConfig, openaiClipToHf } from './clip-arch.js';
export type { ClipGraphKind, ClipTowerArch, ClipWeights, ClipWeightSpec, TowerGraphOptions } from './clip-graphs.js';
export {
  CLIP_GRAPHS_VERSION,
  clipGraphModel,
  clipGraphWeights,
  forwardGraphsId,
  textTowerVjpModel,
  visionTowerSplitModels,
  visionResidualNames,
  visionTowerVjpModel,
} from './clip-graphs.js';
export type { Int8Weight } from './quantize.js';
export { INT8_WEIGHT_MAX, quantizeLinearInt8, rowCosines } from './quantize.js';
