/**
 * @file `@vlfer/encoders/node`: CLIP on ONNX Runtime for Node — `loadClip` for every weight format
 * (transformers.js ONNX directories and Hub ids, Hugging Face safetensors directories and OpenAI `.pt`
 * checkpoints on TypeScript-built graphs), `ClipGradientModel` (forward + VJP graphs for prompt learning), image
 * decoding (re-exported from `@vlfer/image/node`), the preprocessing worker pool, `encodeImages` with the checked feature cache, the clip
 * reader (frame directories, ffmpeg video files), one-call `classify`, the WebGPU probe.
 */
export type { ModelEnvironment } from './env.js';
export { configureModels, getModelEnvironment } from './env.js';
export type { ClipDtype, LoadClipOptions, ClipModel } from './clip.js';
export { loadClip, loadClipTokenizer, safetensorsLogitScale, CLIP_DTYPES } from './clip.js';
export type {
  ClipSource as ClipModelSource,
  ClipBackend,
  ClipWeightsBundle,
  LoadWeightsOptions,
} from './clip-source.js';
export {
  checkClipModelPath,
  clipContentFingerprints,
  earlierClipContentFingerprints,
  resolveClipSource,
  loadClipWeights,
  loadClipWeightsAsync,
  withImageSize,
} from './clip-source.js';
export type { Tensor3D, ClipGradientModelOptions, VisionResiduals } from './clip-gradients.js';
export { ClipGradientModel, defaultWeightsIn, eotPositions, visionRuns } from './clip-gradients.js';
export { fileMappingStatus, mapFilePrivate, type FileMappingStatus } from './mapped-file.js';
export { FREED_MEMORY_SETTINGS, freedMemoryStatus, keepFreedMemory, type FreedMemoryStatus } from './freed-memory.js';
export { DirectSession, directRunsStatus, directSessionRefusal, type DirectRunsStatus } from './ort-direct.js';
export type { PreprocessDecoding, Resizer } from './preprocess.js';
export { RESIZERS, preprocessImages, preprocessImageInto } from './preprocess.js';
/** Re-exported from `@vlfer/image/node` and `@vlfer/image` (where decoding moved), so that existing imports keep working. */
export type { ImageSource } from '@vlfer/image/node';
export { DECODER_VERSION, decodeImage, decodePillowImage, describeSource } from '@vlfer/image/node';
export { pillowCmykToRgb } from '@vlfer/image';
export type { EncodeItem, EncodeImagesOptions, EncodePlan, EncodeResult } from './extract.js';
export { encodeImages, contentKey, planEncodeBatches } from './extract.js';
export { createPreprocessPool, PreprocessWorkerError, type PreprocessPool } from './preprocess-pool.js';
export type { DecodedVideo, ClipFrames, ClipSource, SampleClipOptions } from './video.js';
export { decodeVideo, sampleClipFrames, clipPixels, defaultFfmpegPath, VIDEO_DECODE_VERSION } from './video.js';
export type { ClassifyOptions, NodeZeroShotClassifierOptions } from './classify.js';
export { classify, zeroShotClassifier, DEFAULT_FER_TEMPLATE } from './classify.js';
export { runtimeVersions } from './runtime-info.js';
export type { WebGpuProbe } from './webgpu.js';
export { probeWebGpu, assertWebGpu } from './webgpu.js';
