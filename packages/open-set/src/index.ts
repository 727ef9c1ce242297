/**
 * @file `@vlfer/open-set`: HESP's open-set building blocks that run anywhere — class texts and CoOp/negative
 * prompts, the pixel-space visual prompt and its CAM location rule, the ensemble of CLIP and ARPL logits and the
 * known-ness score. The trainable model (`HespModel`, on CLIP gradient graphs) is in `@vlfer/open-set/node`.
 */
export type { HespReferenceBehaviour } from './prompts.js';
export { HESP_CLASS_TEXT, knownClassTexts, coopPromptText, negativePromptText } from './prompts.js';
export type { PatchLocation } from './visual-prompt.js';
export { clampPatchCentre, applyVisualPrompt } from './visual-prompt.js';
export { ensembleLogits, knownness } from './scoring.js';
export { camPatchLocation } from './cam-location.js';
export {
  maxSoftmaxScore,
  maxLogitScore,
  energyScore,
  knnScore,
  knnScoreSteps,
  kthSmallest,
  zeroShotMspScore,
} from './baselines.js';
