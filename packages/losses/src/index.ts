/**
 * @file `@vlfer/losses`: the losses of both methods with their gradients — Exp-CLIP's symmetric InfoNCE as one
 * ONNX graph (loss + dW; run by `InfoNceGraph` from `@vlfer/losses/node`), HESP's ARPL-style reciprocal-point loss, supervised contrastive loss and cross
 * entropy in float64 TypeScript — and PyTorch-semantics SGD and Adam, HESP's normalised-gradient step and the
 * multi-step learning-rate schedule.
 */
export type { InfoNceInputs, InfoNceResult, InfoNceSgdGraphOptions } from './info-nce.js';
export {
  infoNceModelBytes,
  infoNceSgdModelBytes,
  checkInfoNceInputs,
  logitsPadding,
  NORM_EPSILON,
} from './info-nce.js';
export type { Optimizer, Params, SgdOptions, AdamOptions, OptimizerName } from './optim.js';
export { createSgd, createAdam, createOptimizer, OPTIMIZERS, multiStepLr, normalizedGradientStep } from './optim.js';
export type { ArplOptions, ArplResult, SupConOptions } from './open-set-losses.js';
export { arplLoss, arplLogits, arplLogitsBackward, supConLoss, crossEntropy } from './open-set-losses.js';
