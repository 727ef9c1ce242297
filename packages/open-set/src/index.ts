export type { HespReferenceBehaviour } from './prompts.js';
export { HESP_CLASS_TEXT, knownClassTexts, coopPromptText, negativePromptText } from './prompts.js';
export type { PatchLocation } from './visual-prompt.js';
export { clampPatchCentre, applyVisualPrompt } from './visual-prompt.js';
export { ensembleLogits, knownness } from './scoring.js';
/** ARPL logits ‖v − c_k‖²/D − v·c_k (from @vlfer/losses). */
export { arplLogits } from '@vlfer/losses';
export type { ClipTowerArch, ClipWeights, TowerGraphOptions } from './clip-vjp-graphs.js';
export { textTowerVjpModel, visionTowerVjpModel } from './clip-vjp-graphs.js';
export type { Tensor3D } from './clip-gradients.js';
export { ClipGradientModel, clipArchFromConfig } from './clip-gradients.js';
export type { HespOptions, HespLosses, HespGradients } from './hesp.js';
export { HespModel } from './hesp.js';
export { camPatchLocation } from './cam-location.js';
export type { ClipAugmentation } from './augment.js';
export { sampleClipAugmentation, loadAugmentedFrames } from './augment.js';
