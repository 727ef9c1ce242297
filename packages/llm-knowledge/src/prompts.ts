import { canonicalExpression, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { EXP_CLIP_PROMPTS, PROMPT_TYPES, type PromptType } from './prompts-data.js';

export { EXP_CLIP_PROMPTS, PROMPT_TYPES, type PromptType };

/** Prompt type by its 1-based number in the Exp-CLIP code (1 = class_name … 5 = expression_ensemble_ten). */
export function promptTypeByNumber(n: number): PromptType {
  const t = PROMPT_TYPES[n - 1];
  if (!Number.isInteger(n) || t === undefined)
    throw new InvalidArgumentError({
      functionName: 'promptTypeByNumber',
      argument: 'n',
      message: `expected 1..5, got ${n}`,
    });
  return t;
}

/**
 * Exp-CLIP's templates of each prompt type with `{}` for the class name (the happiness prompts of `models/Text.py`
 * with the name taken out): used for classes that have no curated prompts.
 */
export const EXP_CLIP_TEMPLATES: Readonly<Record<PromptType, readonly string[]>> = Object.fromEntries(
  PROMPT_TYPES.map((t) => [
    t,
    (EXP_CLIP_PROMPTS[t] as Readonly<Record<string, readonly string[]>>).happiness!.map((p) =>
      p.replaceAll('happiness', '{}'),
    ),
  ]),
) as unknown as Record<PromptType, readonly string[]>;

export interface ClassPrompts {
  promptType: PromptType;
  /** Class names in label order (as the label set has them). */
  classNames: string[];
  /** Prompts of each class, in label order; every class has `promptsPerClass` prompts. */
  prompts: string[][];
  promptsPerClass: number;
  /** Classes without curated prompts, whose prompts were made by filling `EXP_CLIP_TEMPLATES` with the name. */
  fromTemplates: string[];
}

/**
 * Exp-CLIP's prompts of one type for the classes of a label set: the curated prompts (verbatim, Sadness quirk
 * included) for the 11 expression classes, found by name or common spelling (`happy` → happiness); for any other
 * class name the type's templates filled with the name, listed in `fromTemplates` so outputs can say so.
 */
export function expClipPrompts(promptType: PromptType, labelSet: LabelSet | readonly string[]): ClassPrompts {
  const tables = EXP_CLIP_PROMPTS as Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  const table = Object.hasOwn(tables, promptType) ? tables[promptType] : undefined;
  if (!table)
    throw new InvalidArgumentError({
      functionName: 'expClipPrompts',
      argument: 'promptType',
      message: `unknown prompt type '${promptType}'; expected one of ${PROMPT_TYPES.join(', ')}`,
    });
  const names = Array.isArray(labelSet) ? [...labelSet] : [...(labelSet as LabelSet).names];
  if (names.length === 0)
    throw new InvalidArgumentError({ functionName: 'expClipPrompts', argument: 'labelSet', message: 'has no classes' });
  const fromTemplates: string[] = [];
  const prompts = names.map((name) => {
    if (typeof name !== 'string' || name.trim() === '')
      throw new InvalidArgumentError({
        functionName: 'expClipPrompts',
        argument: 'labelSet',
        message: `class ${JSON.stringify(name)} is no class name (prompts would read 'a photo of a face exuding .')`,
      });
    const key = name.trim().toLowerCase();
    // own keys only: 'constructor' or 'toString' would find the object's prototype members
    const own = (k: string | undefined) => (k !== undefined && Object.hasOwn(table, k) ? table[k] : undefined);
    // a spelling of an expression (happy, hap, Angry) gets that expression's prompts, as the dataset loaders read it
    const curated = own(key) ?? own(canonicalExpression(key));
    if (curated) return [...curated];
    // a number names no expression: 'a photo of a face exuding 3.' would score classes by nothing (numbered folders)
    if (/^\d+$/.test(name.trim()))
      throw new InvalidArgumentError({
        functionName: 'expClipPrompts',
        argument: 'labelSet',
        message: `class '${name.trim()}' is a number, not an expression: prompts are built from class names (numbered class folders that are a dataset's label ids are read as its classes with folderIds (CLI --folder-ids): 'raf-db' for 1 … 7, 'affectnet' for 0 … 7, 'fer2013' for 0 … 6; or rename the folders after their expressions)`,
      });
    fromTemplates.push(name);
    // a function replacer: a name with '$&' or '$1' in it is put in as written, not as a replacement pattern
    return EXP_CLIP_TEMPLATES[promptType].map((t) => t.replaceAll('{}', () => name.trim()));
  });
  return { promptType, classNames: names, prompts, promptsPerClass: prompts[0]!.length, fromTemplates };
}
