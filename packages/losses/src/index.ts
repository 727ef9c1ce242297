export type { InfoNceInputs, InfoNceResult } from './info-nce.js';
export { symmetricInfoNceReference, InfoNceGraph, infoNceModelBytes, NORM_EPSILON } from './info-nce.js';
export type { Optimizer, Params, SgdOptions, AdamOptions } from './optim.js';
export { createSgd, createAdam } from './optim.js';
export type { ArplOptions, ArplResult, SupConOptions } from './open-set-losses.js';
export { arplLoss, arplLogits, arplLogitsBackward, supConLoss, crossEntropy } from './open-set-losses.js';
