/** @file `@vlfer/llm-knowledge/node`: teachers that read files or call servers, and the checked target cache. */
export type { ComputeTargetsOptions, TeacherCheck } from './targets.js';
export {
  computeTargets,
  checkTargetOptions,
  checkCachedTarget,
  CACHED_TARGET_MIN_COSINE,
  TEACHER_PROBE_FILE,
  openTargetCache,
  embedBatch,
  normalizeTarget,
} from './targets.js';
export type { ImportedTargetsOptions } from './imported-teacher.js';
export { addJsonlTargets, importedTeacher, parseNpy, readTargetMatrix, TargetTable } from './imported-teacher.js';
export type { ByteSource, MatrixDtype, MatrixLayout } from './target-matrix.js';
export { bytesSource, forEachMatrixRow, npyLayout, safetensorsLayout, withFileSource } from './target-matrix.js';
export type { HttpTeacherOptions, HttpTeacherSettings } from './http-teacher.js';
export { httpTeacher, httpTeacherSettings, requestEmbedding, parseEmbeddingReply } from './http-teacher.js';
