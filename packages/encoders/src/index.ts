/**
 * @file `@vlfer/encoders`: the runtime-neutral half of the CLIP encoders — preprocessing (Pillow-exact resizing,
 * the `clip`/`exp-clip`/`openai` modes, HESP's clip augmentation, CLIP normalisation), the zero-shot classifier on top of
 * any text encoder, label scores, the CLIP model registry, CLIP architectures (Hugging Face configs, OpenAI
 * checkpoint mapping) and the forward/VJP graph builders. Models run through `@vlfer/encoders/node`; the browser
 * app runs the same code with transformers.js's web build.
 */
export type { KnownClipModelId, ClipModelId } from './registry.js';
export { CLIP_MODELS, listClipModels, requiredModelFiles } from './registry.js';
export type {
  PreprocessMode,
  ClipPreprocessorConfig,
  DecodedImage,
  ClipAugmentation,
  PillowImage,
  PillowMode,
} from './preprocess.js';
export {
  PREPROCESS_MODES,
  PILLOW_MODES,
  cropBox,
  pillowCmykToRgb,
  pillowResizeWindow,
  pillowToRgb,
  preprocessPillowImage,
  OPENAI_CLIP_PREPROCESSOR,
  parsePreprocessorConfig,
  preprocessRgb,
  resizedSize,
  clipNormalize,
  normalizePixels,
  sampleClipAugmentation,
} from './preprocess.js';
export type { ByteTables, PilFilter, PilResampler, ResizeWindow } from './pil-resize.js';
export {
  PIL_RESAMPLERS,
  pilNearestWindow,
  pilResize,
  pilResizeInt32,
  pilResizeRows,
  pilResizeToPlanes,
  pilResizeWindow,
} from './pil-resize.js';
export type { ClipTokenRows } from './clip-tokens.js';
export { CLIP_CONTEXT_LENGTH, fitClipContext, truncationNotices } from './clip-tokens.js';
export type { ZeroShotOptions, ZeroShotClassifier, ClassPromptSpec, LabelScore } from './zero-shot.js';
export { buildZeroShotClassifier, resolveClassPrompts, labelScores } from './zero-shot.js';
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
export type { ClipTowerArch, ClipWeights, TowerGraphOptions } from './clip-graphs.js';
export { textTowerVjpModel, visionTowerSplitModels, visionTowerVjpModel } from './clip-graphs.js';
