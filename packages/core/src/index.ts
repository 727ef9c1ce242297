/**
 * @file `@vlfer/core`: the runtime-neutral base of vlfer (browser, Node, workers): the plain `Tensor` type with
 * shape checks and the shared tensor math of both methods, errors, seeded RNG, label sets and expression names, option checks,
 * progress events, CSV rows, the safetensors and PyTorch-checkpoint formats and a minimal ONNX writer.
 * File I/O, run directories, caches and provenance are in `@vlfer/core/node`.
 */
export {
  VlferError,
  InvalidArgumentError,
  DataFormatError,
  ChecksumError,
  FileIoError,
  AbortedError,
  RunLockedError,
  throwIfAborted,
} from './errors.js';
export { quoteInput, quoteJson, displayPath, QUOTE_LIMIT } from './quote.js';
export type { ShapeMap, Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from './tensor.js';
export {
  tensor,
  tensor2d,
  assertShape,
  assertFloat32Data,
  assertFiniteValues,
  firstNonFinite,
  assertArrayLike,
  describeKind,
  row,
  l2NormalizeRows,
  meanOfRowGroups,
  concatRows,
} from './tensor.js';
export type { Scores, CosineLogits, UnitRows } from './ops.js';
export {
  scoreRows,
  argmaxRows,
  maxRows,
  softmaxRows,
  meanOfColumnGroups,
  cosineLogits,
  LOGIT_SCALE_RANGE,
  LOGIT_SCALE_EXPECTED,
  logitScaleInRange,
  unitRows,
  unitRowsBackward,
  averageTensors,
  COSINE_EPSILON,
} from './ops.js';
export type { Rng } from './rng.js';
export { createRng, streamSeed } from './rng.js';
export type { WasmApi } from './wasm.js';
export { wasmApi, compileWasmBase64 } from './wasm.js';
export {
  MAX_TIMER_MS,
  mapConcurrently,
  runSteps,
  runStepsSync,
  yieldToEventLoop,
  eventLoopPacer,
  type RunStepsOptions,
} from './concurrency.js';
export type { LabelSet } from './label-set.js';
export { defineLabelSet, toIndices } from './label-set.js';
export type { ExpressionName } from './expressions.js';
export { canonicalExpression, EXP_CLIP_CLASS_ORDER } from './expressions.js';
export type { ComputeDevice, ProgressEvent, ProgressCallback } from './options.js';
export type { OptionIssue, OptionUse, SafeParser, SchemaIssue } from './options.js';
export {
  COMPUTE_DEVICES,
  checkClassIds,
  checkFiniteNumber,
  checkHooks,
  firstRepeated,
  checkOneOf,
  checkPositiveInteger,
  OptionsError,
  parseOptions,
  refuseUnusedOptions,
} from './options.js';
export { csvRow, textLines } from './csv.js';
export {
  checkpointProgress,
  describeChangedFields,
  describeValue,
  epochsToContinue,
  laterCheckpointNote,
} from './describe.js';
export type { FeatureProjection } from './projection.js';
export type { NpyHeader } from './npy.js';
export { parseNpyHeader } from './npy.js';
export type { SafetensorsTensor, SafetensorsFile, SafetensorsEntry, SafetensorsIndex } from './safetensors.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  float16ToNumber,
  bfloat16ToNumber,
  indexSafetensors,
  indexSafetensorsByRange,
  isRawFloat32,
  decodeSafetensorsEntry,
  INTEGER_BUFFER_KEY,
} from './safetensors.js';
export type { TorchTensor, TorchCheckpoint, TorchReadOptions } from './torch-checkpoint.js';
export { readTorchCheckpoint, readTorchCheckpointAsync } from './torch-checkpoint.js';
export type { NodeSpec, ValueSpec, ElemType, AttrValue, Initializer, ExternalInitializer } from './onnx-builder.js';
export { buildModel, constant } from './onnx-builder.js';
export type { ProtobufField } from './protobuf.js';
export { decodeProtobuf, readVarint } from './protobuf.js';
export type { Shard } from './shard.js';
export { parseShard, shardFromEnv, shardOfKey, inShard } from './shard.js';
