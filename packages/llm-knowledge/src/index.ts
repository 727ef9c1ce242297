export type { PromptType, ClassPrompts } from './prompts.js';
export { EXP_CLIP_PROMPTS, PROMPT_TYPES, promptTypeByNumber, classPrompts } from './prompts.js';
export { EXP_CLIP_INSTRUCTION_ID, getInstruction, registerInstruction, listInstructions } from './instructions.js';
export type { Teacher, ComputeTargetsOptions } from './teacher.js';
export { computeTargets } from './teacher.js';
export type { ImportedTargetsOptions } from './imported-teacher.js';
export { importedTeacher } from './imported-teacher.js';
export type { HttpTeacherOptions } from './http-teacher.js';
export { httpTeacher } from './http-teacher.js';
