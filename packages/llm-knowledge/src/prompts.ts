import { InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { EXP_CLIP_PROMPTS, PROMPT_TYPES, type PromptType } from './prompts-data.js';

export { EXP_CLIP_PROMPTS, PROMPT_TYPES, type PromptType };

/** Prompt type by its 1-based number in the Exp-CLIP code (1 = class_name … 5 = expression_ensemble_ten). */
export function promptTypeByNumber(n: number): PromptType {
  const t = PROMPT_TYPES[n - 1];
  if (!Number.isInteger(n) || t === undefined) throw new InvalidArgumentError({ functionName: 'promptTypeByNumber', argument: 'n', message: `expected 1..5, got ${n}` });
  return t;
}

export interface ClassPrompts {
  promptType: PromptType;
  /** Prompts in class-major order: `promptsPerClass` consecutive prompts for class 0, then class 1, … */
  texts: string[];
  promptsPerClass: number;
  numClasses: number;
}

/**
 * The class-major prompt list of a prompt type for a label set (class names must be canonical expression names).
 * @throws InvalidArgumentError for a class with no prompts
 */
export function classPrompts(promptType: PromptType, labelSet: LabelSet): ClassPrompts {
  const table = EXP_CLIP_PROMPTS[promptType] as Readonly<Record<string, readonly string[]>>;
  if (!table) throw new InvalidArgumentError({ functionName: 'classPrompts', argument: 'promptType', message: `unknown prompt type '${promptType}'; expected one of ${PROMPT_TYPES.join(', ')}` });
  const texts: string[] = [];
  let per = -1;
  for (const name of labelSet.names) {
    const p = table[name];
    if (!p) throw new InvalidArgumentError({ functionName: 'classPrompts', argument: 'labelSet', message: `class '${name}' has no ${promptType} prompts` });
    if (per >= 0 && p.length !== per) throw new InvalidArgumentError({ functionName: 'classPrompts', argument: 'promptType', message: `class '${name}' has ${p.length} prompts, others ${per}` });
    per = p.length;
    texts.push(...p);
  }
  return { promptType, texts, promptsPerClass: per, numClasses: labelSet.names.length };
}
