export { VlferError, InvalidArgumentError, DataFormatError } from './errors.js';
export type { ShapeMap, Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from './tensor.js';
export { tensor, tensor2d, assertShape, row, l2NormalizeRows, meanOfRowGroups } from './tensor.js';
export type { Rng } from './rng.js';
export { createRng } from './rng.js';
export type { LabelSet } from './label-set.js';
export { defineLabelSet } from './label-set.js';
export { writeFileAtomic, writeJsonAtomic } from './atomic-write.js';
export type { FeatureProjection } from './projection.js';
