import { EXP_CLIP_CLASS_ORDER, type ExpressionName } from '@vlfer/core';

/**
 * Exp-CLIP's five zero-shot prompt types, verbatim from the reference code (`models/Text.py`), keyed by
 * canonical class name. Types 4 and 5 keep the reference's quirks: Sadness uses a different template order
 * ("a cropped photo emphasizing a face expressing sadness." second in type 4, and templates 2 and 9 swapped
 * in type 5), and type 5's last template uses adjectives ("angry expression").
 */
export const PROMPT_TYPES = [
  'class_name',
  'an_expression_of_name',
  'a_photo_of_a_face_with_an_expression_of_name',
  'expression_ensemble_five',
  'expression_ensemble_ten',
] as const;
export type PromptType = (typeof PROMPT_TYPES)[number];

/** The 11 classes with curated prompts, in Exp-CLIP's order. */
const CLASSES = EXP_CLIP_CLASS_ORDER;
type ClassName = ExpressionName;

const ENSEMBLE_TEN: Record<ClassName, readonly string[]> = {
  happiness: [
    'an expression of happiness.',
    'a photo of a face with an expression of happiness.',
    'a photo radiating happiness in a person.',
    'a photo showing someone immersed in happiness.',
    'a photo capturing happiness within an individual.',
    'a photo of a face exuding happiness.',
    'a photo of a person embodying happiness.',
    "a good photo capturing someone's happiness.",
    'a cropped photo emphasizing a face expressing happiness.',
    "a clean photo showcasing a person's happiness.",
  ],
  sadness: [
    'an expression of sadness.',
    'a cropped photo emphasizing a face expressing sadness.',
    'a photo exuding sadness in a person.',
    'a photo showing someone immersed in sadness.',
    'a photo capturing sadness within an individual.',
    'a photo of a face displaying sadness.',
    'a photo of a person embodying sadness.',
    "a good photo capturing someone's sadness.",
    'a photo of a face with an expression of sadness.',
    "a clean photo showcasing a person's sadness.",
  ],
  neutral: [
    'an expression of neutral.',
    'a photo of a face with an expression of neutral.',
    'a photo radiating neutral in a person.',
    'a photo showing someone immersed in neutral.',
    'a photo capturing neutral within an individual.',
    'a photo of a face displaying neutral.',
    'a photo of a person embodying neutral.',
    "a good photo capturing someone's neutral state.",
    'a cropped photo emphasizing a face expressing neutral.',
    "a clean photo showcasing a person's neutral expression.",
  ],
  anger: [
    'an expression of anger.',
    'a photo of a face with an expression of anger.',
    'a photo radiating anger in a person.',
    'a photo showing someone immersed in anger.',
    'a photo capturing anger within an individual.',
    'a photo of a face displaying anger.',
    'a photo of a person embodying anger.',
    "a good photo capturing someone's anger.",
    'a cropped photo emphasizing a face expressing anger.',
    "a clean photo showcasing a person's angry expression.",
  ],
  surprise: [
    'an expression of surprise.',
    'a photo of a face with an expression of surprise.',
    'a photo radiating surprise in a person.',
    'a photo showing someone immersed in surprise.',
    'a photo capturing surprise within an individual.',
    'a photo of a face displaying surprise.',
    'a photo of a person embodying surprise.',
    "a good photo capturing someone's surprise.",
    'a cropped photo emphasizing a face expressing surprise.',
    "a clean photo showcasing a person's surprised expression.",
  ],
  disgust: [
    'an expression of disgust.',
    'a photo of a face with an expression of disgust.',
    'a photo radiating disgust in a person.',
    'a photo showing someone immersed in disgust.',
    'a photo capturing disgust within an individual.',
    'a photo of a face displaying disgust.',
    'a photo of a person embodying disgust.',
    "a good photo capturing someone's disgust.",
    'a cropped photo emphasizing a face expressing disgust.',
    "a clean photo showcasing a person's disgusted expression.",
  ],
  fear: [
    'an expression of fear.',
    'a photo of a face with an expression of fear.',
    'a photo radiating fear in a person.',
    'a photo showing someone immersed in fear.',
    'a photo capturing fear within an individual.',
    'a photo of a face displaying fear.',
    'a photo of a person embodying fear.',
    "a good photo capturing someone's fear.",
    'a cropped photo emphasizing a face expressing fear.',
    "a clean photo showcasing a person's fearful expression.",
  ],
  contempt: [
    'an expression of contempt.',
    'a photo of a face with an expression of contempt.',
    'a photo radiating contempt in a person.',
    'a photo showing someone immersed in contempt.',
    'a photo capturing contempt within an individual.',
    'a photo of a face displaying contempt.',
    'a photo of a person embodying contempt.',
    "a good photo capturing someone's contempt.",
    'a cropped photo emphasizing a face expressing contempt.',
    "a clean photo showcasing a person's contemptuous expression.",
  ],
  anxiety: [
    'an expression of anxiety.',
    'a photo of a face with an expression of anxiety.',
    'a photo radiating anxiety in a person.',
    'a photo showing someone immersed in anxiety.',
    'a photo capturing anxiety within an individual.',
    'a photo of a face displaying anxiety.',
    'a photo of a person embodying anxiety.',
    "a good photo capturing someone's anxiety.",
    'a cropped photo emphasizing a face expressing anxiety.',
    "a clean photo showcasing a person's anxious expression.",
  ],
  helplessness: [
    'an expression of helplessness.',
    'a photo of a face with an expression of helplessness.',
    'a photo radiating helplessness in a person.',
    'a photo showing someone immersed in helplessness.',
    'a photo capturing helplessness within an individual.',
    'a photo of a face displaying helplessness.',
    'a photo of a person embodying helplessness.',
    "a good photo capturing someone's helplessness.",
    'a cropped photo emphasizing a face expressing helplessness.',
    "a clean photo showcasing a person's helpless expression.",
  ],
  disappointment: [
    'an expression of disappointment.',
    'a photo of a face with an expression of disappointment.',
    'a photo radiating disappointment in a person.',
    'a photo showing someone immersed in disappointment.',
    'a photo capturing disappointment within an individual.',
    'a photo of a face displaying disappointment.',
    'a photo of a person embodying disappointment.',
    "a good photo capturing someone's disappointment.",
    'a cropped photo emphasizing a face expressing disappointment.',
    "a clean photo showcasing a person's disappointed expression.",
  ],
};

/** Type 4: in the reference code every class's five prompts are the first five of its ten (checked in the tests). */
const ENSEMBLE_FIVE = Object.fromEntries(CLASSES.map((c) => [c, ENSEMBLE_TEN[c].slice(0, 5)])) as unknown as Record<
  ClassName,
  readonly string[]
>;

function single(template: (name: string) => string): Record<ClassName, readonly string[]> {
  return Object.fromEntries(CLASSES.map((c) => [c, [template(c)]])) as unknown as Record<ClassName, readonly string[]>;
}

/** Prompts per class for each prompt type. */
export const EXP_CLIP_PROMPTS: Readonly<Record<PromptType, Readonly<Record<ClassName, readonly string[]>>>> = {
  class_name: single((c) => `${c}.`),
  an_expression_of_name: single((c) => `an expression of ${c}.`),
  a_photo_of_a_face_with_an_expression_of_name: single((c) => `a photo of a face with an expression of ${c}.`),
  expression_ensemble_five: ENSEMBLE_FIVE,
  expression_ensemble_ten: ENSEMBLE_TEN,
};
