/**
 * @file `@vlfer/projection-head`: Exp-CLIP's bias-free linear projection head (D → 4096): PyTorch-default
 * initialisation from an injected RNG, projection on ONNX Runtime, safetensors save/load, released `.pth` heads.
 * The file format and the projection graph alone, without a runtime, are in `@vlfer/projection-head/format`.
 */
export {
  ProjectionHead,
  createProjectionHead,
  saveProjectionHead,
  encodeProjectionHead,
  loadProjectionHead,
  loadProjectionHeadAsync,
  EXP_CLIP_HEAD_DIM,
  WEIGHT_KEY,
} from './head.js';
export type { HeadWeights } from './format.js';
export { checkHeadWeight, decodeProjectionHead, encodeHeadWeights, projectionHeadModel } from './format.js';
