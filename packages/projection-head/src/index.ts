export { ProjectionHead, createProjectionHead, saveProjectionHead, loadProjectionHead, EXP_CLIP_HEAD_DIM, WEIGHT_KEY } from './head.js';
export type { TorchTensor } from './torch-checkpoint.js';
export { readTorchCheckpoint } from './torch-checkpoint.js';
