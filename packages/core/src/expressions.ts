/**
 * @file Expression names: the Exp-CLIP class order and the spellings of each expression that datasets and prompt
 * tables meet. One table, here, so the label sets of `@vlfer/datasets` and the prompts of `@vlfer/llm-knowledge`
 * read a class name the same way.
 */

/**
 * The Exp-CLIP class order. vlfer's default label sets keep it: 7-class sets use the first 7, AffectNet-8/FERPlus
 * the first 8, MAFW all 11 (prompt lists and released heads assume it).
 */
export const EXP_CLIP_CLASS_ORDER = [
  'happiness',
  'sadness',
  'neutral',
  'anger',
  'surprise',
  'disgust',
  'fear',
  'contempt',
  'anxiety',
  'helplessness',
  'disappointment',
] as const;
export type ExpressionName = (typeof EXP_CLIP_CLASS_ORDER)[number];

/** Spellings seen in dataset folders, CSV headers and annotation texts → canonical name. */
const ALIASES: Record<string, ExpressionName> = {
  happy: 'happiness',
  happiness: 'happiness',
  joy: 'happiness',
  hap: 'happiness',
  sad: 'sadness',
  sadness: 'sadness',
  sadnes: 'sadness',
  neutral: 'neutral',
  neu: 'neutral',
  angry: 'anger',
  anger: 'anger',
  ang: 'anger',
  surprise: 'surprise',
  surprised: 'surprise',
  sur: 'surprise',
  disgust: 'disgust',
  disgusted: 'disgust',
  dis: 'disgust',
  fear: 'fear',
  fearful: 'fear',
  afraid: 'fear',
  fea: 'fear',
  contempt: 'contempt',
  con: 'contempt',
  anxiety: 'anxiety',
  anxious: 'anxiety',
  helplessness: 'helplessness',
  helpless: 'helplessness',
  disappointment: 'disappointment',
  disappointed: 'disappointment',
};

/** Canonical expression name for a folder name, label text or class name (case-insensitive), or undefined. */
export function canonicalExpression(name: string): ExpressionName | undefined {
  const key = name.trim().toLowerCase();
  // own keys only: 'constructor' would find the prototype's function
  return Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined;
}
