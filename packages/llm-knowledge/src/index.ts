/**
 * @file `@vlfer/llm-knowledge`: Exp-CLIP's prompts and templates, the teacher instructions, the `Teacher`
 * interface and target validation (runtime-neutral). Teachers (imported targets, an HTTP embeddings server) and
 * the target cache are in `@vlfer/llm-knowledge/node`.
 */
export type { PromptType, ClassPrompts } from './prompts.js';
export { EXP_CLIP_PROMPTS, EXP_CLIP_TEMPLATES, PROMPT_TYPES, promptTypeByNumber, expClipPrompts } from './prompts.js';
export { EXP_CLIP_INSTRUCTION_ID, getInstruction, registerInstruction, listInstructions } from './instructions.js';
export type { Teacher } from './teacher.js';
export { validateTarget, targetSpread, constantTargetsWarning, CONSTANT_TARGETS_SPREAD } from './teacher.js';
