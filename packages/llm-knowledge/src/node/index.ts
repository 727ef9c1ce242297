/** @file `@vlfer/llm-knowledge/node`: teachers that read files or call servers, and the checked target cache. */
export type { ComputeTargetsOptions } from './targets.js';
export { computeTargets } from './targets.js';
export type { ImportedTargetsOptions } from './imported-teacher.js';
export { importedTeacher, parseNpy } from './imported-teacher.js';
export type { HttpTeacherOptions } from './http-teacher.js';
export { httpTeacher } from './http-teacher.js';
