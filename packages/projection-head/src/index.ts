/**
 * @file `@vlfer/projection-head`: Exp-CLIP's bias-free linear projection head (D → 4096): PyTorch-default
 * initialisation from an injected RNG, projection on ONNX Runtime, safetensors save/load, released `.pth` heads.
 */
export { ProjectionHead, createProjectionHead, saveProjectionHead, encodeProjectionHead, loadProjectionHead, EXP_CLIP_HEAD_DIM, WEIGHT_KEY } from './head.js';
