/** @file `@vlfer/llm-knowledge/node`: teachers that read files or call servers, and the checked target cache. */
export type { ComputeTargetsOptions } from './targets.js';
export { computeTargets, checkTargetOptions, openTargetCache, embedBatch, normalizeTarget } from './targets.js';
export type { ImportedTargetsOptions } from './imported-teacher.js';
export { importedTeacher, parseNpy, readTargetMatrix, TargetTable } from './imported-teacher.js';
export type { HttpTeacherOptions, HttpTeacherSettings } from './http-teacher.js';
export { httpTeacher, httpTeacherSettings, requestEmbedding, parseEmbeddingReply } from './http-teacher.js';
