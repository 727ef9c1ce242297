export type { InfoNceInputs, InfoNceResult } from './info-nce.js';
export { symmetricInfoNceReference, InfoNceGraph, infoNceModelBytes, NORM_EPSILON } from './info-nce.js';
export type { Optimizer, Params, SgdOptions, AdamOptions } from './optim.js';
export { createSgd, createAdam } from './optim.js';
export type { NodeSpec, ValueSpec, ElemType, AttrValue } from './onnx-builder.js';
export { buildModel, constant } from './onnx-builder.js';
