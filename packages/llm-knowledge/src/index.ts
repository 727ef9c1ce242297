export type { PromptType, ClassPrompts } from './prompts.js';
export { EXP_CLIP_PROMPTS, PROMPT_TYPES, promptTypeByNumber, classPrompts } from './prompts.js';
export { EXP_CLIP_INSTRUCTION_ID, getInstruction, registerInstruction, listInstructions } from './instructions.js';
