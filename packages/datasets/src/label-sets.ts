import {
  canonicalExpression,
  DataFormatError,
  defineLabelSet,
  EXP_CLIP_CLASS_ORDER,
  InvalidArgumentError,
  type ExpressionName,
  type LabelSet,
} from '@vlfer/core';

export { canonicalExpression, EXP_CLIP_CLASS_ORDER, type ExpressionName };

const set = (id: string, names: readonly string[]) => defineLabelSet(id, names);

/** 7 basic expressions in Exp-CLIP order (RAF-DB, AffectNet-7, FER2013, DFEW, FERV39k, AFEW, CAER-S in Exp-CLIP). */
export const BASIC_7: LabelSet = set('basic-7', EXP_CLIP_CLASS_ORDER.slice(0, 7));
/** 7 basic + contempt in Exp-CLIP order (AffectNet-8, FERPlus in Exp-CLIP). */
export const BASIC_8: LabelSet = set('basic-8', EXP_CLIP_CLASS_ORDER.slice(0, 8));
/** MAFW's 11 single-label classes in Exp-CLIP/DFER-CLIP order. */
export const MAFW_11: LabelSet = set('mafw-11', EXP_CLIP_CLASS_ORDER);

/**
 * Built-in label sets for the common FER datasets, by id. `*-native` sets use the dataset's own label order;
 * the others the Exp-CLIP order. Pick one with `getLabelSet(id)` (CLI: `--label-set <id>`).
 */
export const LABEL_SETS = {
  'basic-7': BASIC_7,
  'basic-8': BASIC_8,
  'mafw-11': MAFW_11,
  /** The six basic emotions without neutral (Oulu-CASIA, MMI, BU-3DFE). */
  'basic-6': set('basic-6', ['happiness', 'sadness', 'anger', 'surprise', 'disgust', 'fear']),
  /** Posed 7-class sets with contempt and no neutral (CK+ peak frames), Exp-CLIP order. */
  'contempt-7': set('contempt-7', ['happiness', 'sadness', 'anger', 'surprise', 'disgust', 'fear', 'contempt']),
  /** CK+ in its own emotion-code order (1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise). */
  'ckplus-7-native': set('ckplus-7-native', [
    'anger',
    'contempt',
    'disgust',
    'fear',
    'happiness',
    'sadness',
    'surprise',
  ]),
  /** RAF-DB basic, native order (1 Surprise … 7 Neutral). */
  'rafdb-7-native': set('rafdb-7-native', ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral']),
  /** FER2013 `emotion` column order (0 Angry … 6 Neutral). */
  'fer2013-7-native': set('fer2013-7-native', [
    'anger',
    'disgust',
    'fear',
    'happiness',
    'sadness',
    'surprise',
    'neutral',
  ]),
  /** AffectNet categories 0..6 (no contempt), native order. */
  'affectnet-7-native': set('affectnet-7-native', [
    'neutral',
    'happiness',
    'sadness',
    'surprise',
    'fear',
    'disgust',
    'anger',
  ]),
  /** AffectNet categories 0..7, native order. */
  'affectnet-8-native': set('affectnet-8-native', [
    'neutral',
    'happiness',
    'sadness',
    'surprise',
    'fear',
    'disgust',
    'anger',
    'contempt',
  ]),
  /** FERPlus vote-column order of fer2013new.csv. */
  'ferplus-8-native': set('ferplus-8-native', [
    'neutral',
    'happiness',
    'surprise',
    'sadness',
    'anger',
    'disgust',
    'fear',
    'contempt',
  ]),
} as const satisfies Record<string, LabelSet>;
export type LabelSetId = keyof typeof LABEL_SETS;

/** A built-in label set by id. @throws InvalidArgumentError listing the ids */
export function getLabelSet(id: string): LabelSet {
  // own keys only: 'constructor', 'toString' or '__proto__' found the prototype's members
  const s = Object.hasOwn(LABEL_SETS, id) ? (LABEL_SETS as Record<string, LabelSet>)[id] : undefined;
  if (!s)
    throw new InvalidArgumentError({
      functionName: 'getLabelSet',
      argument: 'id',
      message: `unknown label set '${id}'; built-in: ${Object.keys(LABEL_SETS).join(', ')}`,
    });
  return s;
}

/**
 * A label set from class names in the given order (`--classes a,b,c`). Names are kept as given (they are what
 * outputs print); two names for the same expression (`happy`, `happiness`) are an error.
 */
export function labelSetFromNames(names: readonly string[], id = `classes:${names.join(',')}`): LabelSet {
  const cleaned = names.map((n) => n.trim());
  const seen = new Map<string, string>();
  for (const n of cleaned) {
    if (!n)
      throw new InvalidArgumentError({
        functionName: 'labelSetFromNames',
        argument: 'names',
        message: 'contains an empty class name',
      });
    // (in one Unicode form, as matchClassName compares: 'Über' composed and decomposed are one class)
    const key = canonicalExpression(n) ?? n.normalize('NFC').toLowerCase();
    if (seen.has(key))
      throw new InvalidArgumentError({
        functionName: 'labelSetFromNames',
        argument: 'names',
        message: `'${n}' and '${seen.get(key)}' name the same class`,
      });
    seen.set(key, n);
  }
  return defineLabelSet(id, cleaned);
}

/**
 * A label set from a JSON text: `["anger", "contempt", …]` or `{ "id": "my-set", "names": [...] }`.
 * @param file named in errors
 */
export function parseLabelSetJson(text: string, file: string): LabelSet {
  let v: unknown;
  try {
    v = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new DataFormatError({
      file,
      message: `not JSON (${(error as Error).message}); expected ["class", …] or { "id": …, "names": [...] }`,
      cause: error,
    });
  }
  const names = Array.isArray(v) ? v : (v as { names?: unknown })?.names;
  const id = Array.isArray(v) ? undefined : (v as { id?: unknown })?.id;
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string'))
    throw new DataFormatError({ file, field: 'names', message: 'expected a non-empty array of class-name strings' });
  if (id !== undefined && (typeof id !== 'string' || !id))
    throw new DataFormatError({ file, field: 'id', message: 'expected a non-empty string' });
  try {
    return labelSetFromNames(names as string[], (id as string | undefined) ?? `file:${file}`);
  } catch (error) {
    throw new DataFormatError({ file, field: 'names', message: (error as Error).message, cause: error });
  }
}

/**
 * The label id of a class name (a folder name, a label text) in `labelSet`: an exact match (case-insensitive, in
 * Unicode NFC form), else the same canonical expression (`happy` ↔ `happiness`). Returns -1 when none matches.
 */
export function matchClassName(labelSet: LabelSet, name: string): number {
  // in one Unicode form: a macOS folder 'Überraschung' (decomposed, NFD) is the class 'Überraschung' typed elsewhere
  const lower = name.normalize('NFC').trim().toLowerCase();
  const exact = labelSet.names.findIndex((n) => n.normalize('NFC').toLowerCase() === lower);
  if (exact >= 0) return exact;
  const c = canonicalExpression(name);
  return c === undefined ? -1 : labelSet.names.findIndex((n) => canonicalExpression(n) === c);
}

/**
 * The label set for a set of class names (e.g. the class folders of an image set) when none is given:
 * the built-in set with exactly these classes (any order, aliases allowed; Exp-CLIP-order sets first), else the
 * smallest built-in Exp-CLIP-order set containing them all (a test set missing a class is still scored on the
 * dataset's classes), else the names themselves in sorted order (a custom label set).
 */
export function inferLabelSet(classNames: readonly string[]): { labelSet: LabelSet; reason: string } {
  const canon = classNames.map((n) => canonicalExpression(n));
  const candidates: LabelSet[] = [BASIC_7, BASIC_8, MAFW_11, LABEL_SETS['basic-6'], LABEL_SETS['contempt-7']];
  if (canon.every((c) => c !== undefined)) {
    const wanted = new Set(canon);
    const exact = candidates.find(
      (s) => s.names.length === wanted.size && s.names.every((n) => wanted.has(n as ExpressionName)),
    );
    if (exact) return { labelSet: exact, reason: `the folders are exactly the classes of '${exact.id}'` };
    const containing = candidates
      .filter((s) => [...wanted].every((c) => s.names.includes(c!)))
      .sort((a, b) => a.names.length - b.names.length)[0];
    if (containing)
      return {
        labelSet: containing,
        reason: `'${containing.id}' is the smallest built-in set holding the ${wanted.size} folder classes`,
      };
  }
  const sorted = [...classNames].sort();
  return {
    labelSet: labelSetFromNames(sorted, `folders:${sorted.join(',')}`),
    reason: 'the folder names are not all expressions of one built-in set; they form a custom set (sorted)',
  };
}

/**
 * Native label ids of each dataset, in the dataset's own order, as canonical names.
 * `NATIVE_LABELS['raf-db'].names[0]` is RAF-DB's label 1 (its ids are 1-based: `base`).
 */
export const NATIVE_LABELS = {
  /** RAF-DB `list_patition_label.txt`: 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral. */
  'raf-db': { base: 1, names: LABEL_SETS['rafdb-7-native'].names as readonly ExpressionName[] },
  /** AffectNet `expression`: 0 Neutral … 7 Contempt; 8 None, 9 Uncertain, 10 Non-Face are not expressions. */
  affectnet: { base: 0, names: LABEL_SETS['affectnet-8-native'].names as readonly ExpressionName[] },
  /** FER2013 `emotion` column: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral. */
  fer2013: { base: 0, names: LABEL_SETS['fer2013-7-native'].names as readonly ExpressionName[] },
  /** FERPlus vote columns in fer2013new.csv order (then 'unknown', 'NF'). */
  ferplus: { base: 0, names: LABEL_SETS['ferplus-8-native'].names as readonly ExpressionName[] },
  /** DFEW original labels are 1-based in this order; the DFER-CLIP lists store them minus 1. */
  dfew: { base: 1, names: BASIC_7.names as readonly ExpressionName[] },
  /** MAFW in the DFER-CLIP/Exp-CLIP lists (0-based) = canonical order. */
  mafw: { base: 0, names: EXP_CLIP_CLASS_ORDER },
  /** MAFW in HESP's annotation files (0-based): alphabetical basic 7, then the 4 compound classes. */
  'mafw-hesp': {
    base: 0,
    names: [
      'anger',
      'disgust',
      'fear',
      'happiness',
      'neutral',
      'sadness',
      'surprise',
      'contempt',
      'anxiety',
      'helplessness',
      'disappointment',
    ],
  },
  /** FERV39k and AFEW in the DFER-CLIP/Exp-CLIP lists (0-based) = canonical order. */
  ferv39k: { base: 0, names: EXP_CLIP_CLASS_ORDER.slice(0, 7) },
  afew: { base: 0, names: EXP_CLIP_CLASS_ORDER.slice(0, 7) },
} as const satisfies Record<string, { base: 0 | 1; names: readonly ExpressionName[] }>;
export type NativeLabelScheme = keyof typeof NATIVE_LABELS;

/** The native label schemes (`NATIVE_LABELS`), e.g. for class folders named by label ids (`folderIds`). */
export const NATIVE_LABEL_SCHEMES = Object.keys(NATIVE_LABELS) as [NativeLabelScheme, ...NativeLabelScheme[]];

/**
 * Map a native label id of `scheme` to its id in `labelSet` (alias-aware).
 * Returns undefined when the native id is out of range or its class is not in `labelSet`.
 */
export function nativeToLabelId(scheme: NativeLabelScheme, nativeId: number, labelSet: LabelSet): number | undefined {
  const s = NATIVE_LABELS[scheme];
  const name = (s.names as readonly string[])[nativeId - s.base];
  if (name === undefined) return undefined;
  const id = matchClassName(labelSet, name);
  return id < 0 ? undefined : id;
}
