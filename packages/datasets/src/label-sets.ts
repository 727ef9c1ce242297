import { defineLabelSet, type LabelSet } from '@vlfer/core';

/**
 * The Exp-CLIP class order. Label id i is `EXP_CLIP_CLASS_ORDER[i]` for every dataset in vlfer:
 * 7-class sets use the first 7, AffectNet-8/FERPlus the first 8, MAFW all 11.
 */
export const EXP_CLIP_CLASS_ORDER = [
  'happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear',
  'contempt',
  'anxiety', 'helplessness', 'disappointment',
] as const;
export type ExpressionName = (typeof EXP_CLIP_CLASS_ORDER)[number];

/** 7 basic expressions (RAF-DB, AffectNet-7, FER2013, DFEW, FERV39k, AFEW, CAER-S). */
export const BASIC_7: LabelSet = defineLabelSet('basic-7', EXP_CLIP_CLASS_ORDER.slice(0, 7));
/** 7 basic + contempt (AffectNet-8, FERPlus). */
export const BASIC_8: LabelSet = defineLabelSet('basic-8', EXP_CLIP_CLASS_ORDER.slice(0, 8));
/** MAFW's 11 single-label classes. */
export const MAFW_11: LabelSet = defineLabelSet('mafw-11', EXP_CLIP_CLASS_ORDER);

/** Spellings seen in dataset folders, CSV headers and annotation texts → canonical name. */
const ALIASES: Record<string, ExpressionName> = {
  happy: 'happiness', happiness: 'happiness', joy: 'happiness',
  sad: 'sadness', sadness: 'sadness',
  neutral: 'neutral',
  angry: 'anger', anger: 'anger',
  surprise: 'surprise', surprised: 'surprise',
  disgust: 'disgust', disgusted: 'disgust',
  fear: 'fear', fearful: 'fear', afraid: 'fear',
  contempt: 'contempt',
  anxiety: 'anxiety', anxious: 'anxiety',
  helplessness: 'helplessness', helpless: 'helplessness',
  disappointment: 'disappointment', disappointed: 'disappointment',
};

/** Canonical expression name for a folder name or label text (case-insensitive), or undefined. */
export function canonicalExpression(name: string): ExpressionName | undefined {
  return ALIASES[name.trim().toLowerCase()];
}

/**
 * Native label ids of each dataset, in the dataset's own order, as canonical names.
 * `NATIVE_LABELS['raf-db'][0]` is RAF-DB's label 1 (its ids are 1-based: `nativeBase`).
 */
export const NATIVE_LABELS = {
  /** RAF-DB `list_patition_label.txt`: 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral. */
  'raf-db': { base: 1, names: ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'] },
  /** AffectNet `expression`: 0 Neutral … 7 Contempt; 8 None, 9 Uncertain, 10 Non-Face are not expressions. */
  affectnet: { base: 0, names: ['neutral', 'happiness', 'sadness', 'surprise', 'fear', 'disgust', 'anger', 'contempt'] },
  /** FER2013 `emotion` column: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral. */
  fer2013: { base: 0, names: ['anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise', 'neutral'] },
  /** FERPlus vote columns in fer2013new.csv order (then 'unknown', 'NF'). */
  ferplus: { base: 0, names: ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'] },
  /** DFEW original labels are 1-based in this order; the DFER-CLIP lists store them minus 1. */
  dfew: { base: 1, names: ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear'] },
  /** MAFW in the DFER-CLIP/Exp-CLIP lists (0-based) = canonical order. */
  mafw: { base: 0, names: [...EXP_CLIP_CLASS_ORDER] },
  /** MAFW in HESP's annotation files (0-based): alphabetical basic 7, then the 4 compound classes. */
  'mafw-hesp': { base: 0, names: ['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise', 'contempt', 'anxiety', 'helplessness', 'disappointment'] },
  /** FERV39k and AFEW in the DFER-CLIP/Exp-CLIP lists (0-based) = canonical order. */
  ferv39k: { base: 0, names: EXP_CLIP_CLASS_ORDER.slice(0, 7) },
  afew: { base: 0, names: EXP_CLIP_CLASS_ORDER.slice(0, 7) },
} as const satisfies Record<string, { base: 0 | 1; names: readonly ExpressionName[] }>;
export type NativeLabelScheme = keyof typeof NATIVE_LABELS;

/**
 * Map a native label id of `scheme` to its id in `labelSet` (canonical order).
 * Returns undefined when the native id is out of range or its class is not in `labelSet`.
 */
export function nativeToLabelId(scheme: NativeLabelScheme, nativeId: number, labelSet: LabelSet): number | undefined {
  const s = NATIVE_LABELS[scheme];
  const name = (s.names as readonly string[])[nativeId - s.base];
  if (name === undefined) return undefined;
  const id = labelSet.names.indexOf(name);
  return id < 0 ? undefined : id;
}
