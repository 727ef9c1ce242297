import type { ExpressionName } from './label-sets.js';

/**
 * Datasets whose expression label is coded in each image's file name, read by `loadNameCoded`:
 * - `kdef`: the Karolinska Directed Emotional Faces, `KDEF/<session+subject>/<name>.JPG`, a name such as
 *   `AF01ANS.JPG`: session A or B, sex F or M, subject 01–35, expression (AF afraid, AN angry, DI disgusted, HA
 *   happy, NE neutral, SA sad, SU surprised), view (FL full left profile, HL half left, S straight, HR half right,
 *   FR full right); 70 × 7 × 5 = 4,900 images, 980 of them straight;
 * - `jaffe`: the Japanese Female Facial Expression database, `<subject>.<expression><n>.<id>.tiff` such as
 *   `KA.AN1.39.tiff`: expression AN, DI, FE, HA, NE, SA, SU; 213 images of 10 subjects.
 */
export type NameCodedDatasetId = 'kdef' | 'jaffe';

/** KDEF's five views, left profile to right profile. */
export const KDEF_VIEWS = ['FL', 'HL', 'S', 'HR', 'FR'] as const;
export type KdefView = (typeof KDEF_VIEWS)[number];

/** What a coded file name says. */
export interface NameCode {
  /** The person (KDEF `AF01`: session, sex and number; JAFFE `KA`). */
  subject: string;
  expression: ExpressionName;
  /** KDEF's view; undefined for JAFFE. */
  view?: KdefView;
  /** JAFFE: the photograph, `<subject>.<number>` (`KA.39`), whatever expression the name gives it. */
  id?: string;
}

const KDEF_EXPRESSIONS: Record<string, ExpressionName> = {
  AF: 'fear',
  AN: 'anger',
  DI: 'disgust',
  HA: 'happiness',
  NE: 'neutral',
  SA: 'sadness',
  SU: 'surprise',
};

const JAFFE_EXPRESSIONS: Record<string, ExpressionName> = {
  AN: 'anger',
  DI: 'disgust',
  FE: 'fear',
  HA: 'happiness',
  NE: 'neutral',
  SA: 'sadness',
  SU: 'surprise',
};

/** How each dataset's names are read, and the form said when one is not. */
export const NAME_CODES: Record<NameCodedDatasetId, { parse: (name: string) => NameCode | undefined; form: string }> = {
  kdef: {
    parse: (name) => {
      const m = /^([AB][FM](?:0[1-9]|[12]\d|3[0-5]))(AF|AN|DI|HA|NE|SA|SU)(FL|HL|S|HR|FR)\.jpe?g$/i.exec(name);
      if (!m) return undefined;
      return {
        subject: m[1]!.toUpperCase(),
        expression: KDEF_EXPRESSIONS[m[2]!.toUpperCase()]!,
        view: m[3]!.toUpperCase() as KdefView,
      };
    },
    form: "KDEF's <session A|B><sex F|M><subject 01–35><expression AF|AN|DI|HA|NE|SA|SU><view FL|HL|S|HR|FR>.JPG, e.g. AF01ANS.JPG",
  },
  jaffe: {
    parse: (name) => {
      const m = /^([A-Z]{2})\.(AN|DI|FE|HA|NE|SA|SU)\d+\.(\d+)\.tiff?$/i.exec(name);
      if (!m) return undefined;
      const subject = m[1]!.toUpperCase();
      return { subject, expression: JAFFE_EXPRESSIONS[m[2]!.toUpperCase()]!, id: `${subject}.${Number(m[3])}` };
    },
    form: "JAFFE's <subject>.<expression AN|DI|FE|HA|NE|SA|SU><n>.<id>.tiff, e.g. KA.AN1.39.tiff",
  },
};

/**
 * What the file name `name` (no folder) of dataset `dataset` codes, or undefined when it does not follow the
 * dataset's form (`NAME_CODES[dataset].form`). Case-insensitive, as the files ship as `.JPG` and some copies do not.
 */
export function parseCodedName(dataset: NameCodedDatasetId, name: string): NameCode | undefined {
  return NAME_CODES[dataset].parse(name);
}
