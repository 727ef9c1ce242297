export type { HespReferenceBehaviour } from './prompts.js';
export { HESP_CLASS_TEXT, knownClassTexts, coopPromptText, negativePromptText } from './prompts.js';
export type { PatchLocation } from './visual-prompt.js';
export { clampPatchCentre, applyVisualPrompt } from './visual-prompt.js';
export { arplLogits, ensembleLogits, knownness } from './scoring.js';
