import { z } from 'zod';
import {
  COMPUTE_DEVICES,
  LOGIT_SCALE_EXPECTED,
  logitScaleInRange,
  type ComputeDevice,
  type OptionUse,
} from '@vlfer/core';
import { LABEL_SCHEMES, type LabelScheme } from '@vlfer/datasets';
import { OPEN_SET_METRIC_FAMILIES, type OpenSetMetricFamily } from '@vlfer/metrics';
import type { FacesOptionsInput } from '@vlfer/faces';
import { FacesOptionsSchema } from '@vlfer/faces/node';
import { threadCountProblem } from '@vlfer/core/node';

const positiveInt = z.number().int().positive();
/** ONNX Runtime threads: at most `maxThreads()` (4 per CPU; thousands would exhaust memory and threads). */
const threadCount = z.number().refine((n) => threadCountProblem(n) === undefined, {
  error: (issue) => threadCountProblem(issue.input as number) ?? 'is not a thread count',
});
const path = z.string().min(1);

/** Options of `trainHesp` (the `hesp train` command), validated with zod. */
export const HespOptionsSchema = z
  .object({
    /**
     * Which split list and label set: mafw (11 classes) or afew/dfew (7), HESP's published lists; ferv39k (7):
     * vlfer's seeded splits in HESP's shape (`ferv39kOpenSetSplits` of @vlfer/datasets).
     */
    dataset: z.enum(['mafw', 'afew', 'dfew', 'ferv39k']),
    trainAnnotations: path,
    testAnnotations: path,
    root: path.optional(),
    /** What the lists' label ids mean (`LABEL_SCHEMES`). @default the dataset's HESP lists ('mafw-hesp' for MAFW, else 'dfer-clip') */
    labelScheme: z.enum(LABEL_SCHEMES).optional(),
    /**
     * The run's classes in output order (the lists' ids are mapped in by class name; 'label-set' scheme: positions in
     * it): a built-in id (`basic-7`, `mafw-11`, …) or a JSON file.
     * @default the dataset's (mafw-11 for MAFW, basic-7 for AFEW/DFEW)
     */
    labelSet: z.string().min(1).optional(),
    /** Class names in output order (an ad-hoc label set); not together with `labelSet`. */
    classes: z.array(z.string().min(1)).min(2).optional(),
    rebase: z.object({ from: z.string(), to: z.string() }).optional(),
    duplicates: z.enum(['error', 'drop']).default('error'),
    /** Read frame directories that leave `root` (`../x`, absolute paths elsewhere); refused by default. */
    allowOutsideRoot: z.boolean().default(false),
    /** HESP split index 0..19 (the reference runs known = splits[19 − i]) … */
    splitIndex: z.number().int().min(0).max(19).optional(),
    /** … or explicit known class ids (the label set's order), distinct, at least 2, at least one class unknown. */
    known: z.array(z.number().int().min(0)).min(2).optional(),
    /** Local CLIP weights: a Hugging Face directory (config.json + model.safetensors) or an OpenAI .pt checkpoint. */
    model: path,
    tokenizer: path.optional(),
    epochs: positiveInt.default(100),
    batch: positiveInt.default(64),
    frames: positiveInt.default(8),
    lr: z.number().positive().default(0.01),
    milestones: z.array(positiveInt).default([30, 60, 90, 120]),
    seed: z.number().int().default(0),
    nCtx: positiveInt.default(16),
    /** Side of the visual prompt patch: even (centred on a pixel corner, as HESP's 56) and inside a 224-pixel frame. */
    patchSize: positiveInt
      .refine((s) => s % 2 === 0 && s <= 222, {
        message:
          'expected an even number of pixels from 2 to 222 (the patch is centred between pixels, inside the 224-pixel frame; HESP: 56)',
      })
      .default(56),
    /** 'cam' (HESP's rule, on frames[0, 0] of the first training batch) or a fixed patch centre (row, col) in the frame. */
    location: z
      .union([z.literal('cam'), z.object({ row: z.number().int().min(0), col: z.number().int().min(0) })])
      .default('cam'),
    logitScale: z
      .number()
      .refine(logitScaleInRange, { message: `expected ${LOGIT_SCALE_EXPECTED}` })
      .default(100),
    /** Part of the training clips held out for model selection (the reference: 0, with selectOn 'test'). */
    valFraction: z.number().min(0).max(0.9).default(0.2),
    /** 'val' (default): closed-set accuracy on the held-out training clips; 'test': AUROC + OSCR on the test split, as the reference (optimistic). */
    selectOn: z.enum(['val', 'test']).default('val'),
    /** Which metric definitions drive selection on the test split. @default 'arpl' (HESP's own code, so numbers compare with the paper) */
    selectionMetrics: z.enum(OPEN_SET_METRIC_FAMILIES).default('arpl'),
    /** HESP's training augmentation (random flip + random sized crop, same for all frames of a clip). */
    augment: z.boolean().default(true),
    referenceBehaviour: z
      .object({ alphabeticalClassNames: z.boolean().optional(), zeroContextGradient: z.boolean().optional() })
      .strict()
      .default({}),
    /** Detect faces in the frames and train/evaluate on the crops of the face followed through each clip (`@vlfer/faces`). */
    faces: FacesOptionsSchema.extend({
      /** Clips without a face: used whole (default) or an error; they cannot be skipped (the split would change). */
      noFace: z.enum(['full', 'fail']).default('full'),
    }).optional(),
    /** Training steps between checkpoints (one is also written at every epoch end and on abort). */
    checkpointEvery: positiveInt.default(1),
    device: z.enum(COMPUTE_DEVICES).default('cpu'),
    threads: threadCount.optional(),
    out: path,
  })
  .strict()
  .refine((o) => !(o.splitIndex !== undefined && o.known !== undefined), {
    message: 'explicit known class ids and a HESP split (splitIndex) were both given: give one',
    path: ['known'],
  })
  .refine((o) => o.splitIndex !== undefined || o.known !== undefined, {
    message: 'give a HESP split index (0..19) or explicit known class ids',
    path: ['splitIndex'],
  });
/** `trainHesp`'s options after validation: every default filled in. */
export type HespOptions = z.infer<typeof HespOptionsSchema>;

/**
 * Which of `trainHesp`'s choice-specific options a run uses: `selectionMetrics` drives selection on the test split
 * only (`selectOn: 'test'`); selection on the validation part is by closed-set accuracy. `trainHesp` refuses a value
 * other than the default where it is not used; a command line refuses the flag typed there.
 */
export function hespOptionUses(o: Pick<HespOptionsInput, 'selectOn'>): OptionUse<'selectionMetrics'>[] {
  return [
    {
      key: 'selectionMetrics',
      applies: o.selectOn === 'test',
      why: "drives selection on the test split (selectOn 'test'); selection on the validation part is by closed-set accuracy",
    },
  ];
}

/** The `faces` option of `trainHesp`: as the other pipelines', but clips without a face cannot be skipped. */
export interface HespFacesOptionsInput extends Omit<FacesOptionsInput, 'noFace'> {
  /** Clips without a face: used whole or an error; they cannot be skipped (the split would change). @default 'full' */
  noFace?: 'full' | 'fail';
}

/**
 * Options of `trainHesp` (the `hesp train` command; `evaluateHespRun` re-reads them from the run directory).
 * `HespOptionsSchema` validates them at run time and fills in the defaults given here (a test checks that every
 * `@default` below is the schema's). Give exactly one of `splitIndex` and `known`.
 */
export interface HespOptionsInput {
  /** Which HESP split list and label set: mafw (11 classes) or afew/dfew (7), HESP's lists; ferv39k (7): vlfer's seeded splits in HESP's shape (`ferv39kOpenSetSplits`). */
  dataset: 'mafw' | 'afew' | 'dfew' | 'ferv39k';
  /** Training video list (frame directory, frame count, label per line). */
  trainAnnotations: string;
  /** Test video list, same format. */
  testAnnotations: string;
  /** Prefix for the relative frame directories of the lists. @default the lists' paths as written */
  root?: string;
  /** What the lists' label ids mean (`LABEL_SCHEMES`). @default the dataset's HESP lists ('mafw-hesp' for MAFW, else 'dfer-clip') */
  labelScheme?: LabelScheme;
  /**
   * The run's classes in output order (the lists' ids are mapped in by class name; 'label-set' scheme: positions in
   * it): a built-in id (`basic-7`, `mafw-11`, …) or a JSON file.
   * @default the dataset's (mafw-11 for MAFW, basic-7 for AFEW/DFEW)
   */
  labelSet?: string;
  /** Class names in output order (an ad-hoc label set, at least 2); not together with `labelSet`. */
  classes?: string[];
  /** Rewrite a path prefix in the lists. */
  rebase?: { from: string; to: string };
  /** A second row for the same clip: an error, or dropped and counted. @default 'error' */
  duplicates?: 'error' | 'drop';
  /** Read frame directories that leave `root` (`../x`, absolute paths elsewhere); refused by default. @default false */
  allowOutsideRoot?: boolean;
  /** HESP split index 0..19 (the reference runs known = splits[19 − i]) … */
  splitIndex?: number;
  /** … or explicit known class ids (the label set's order), distinct, at least 2, at least one class unknown. */
  known?: number[];
  /** Local CLIP weights: a Hugging Face directory (config.json + model.safetensors) or an OpenAI .pt checkpoint. */
  model: string;
  /** Tokenizer directory for OpenAI .pt checkpoints. @default the model directory's */
  tokenizer?: string;
  /** Training epochs. @default 100 */
  epochs?: number;
  /** Training batch size (clips). @default 64 */
  batch?: number;
  /** Frames sampled per clip (TSN segments in training, segment centres in evaluation). @default 8 */
  frames?: number;
  /** Learning rate (SGD). @default 0.01 */
  lr?: number;
  /** Epochs at which the learning rate is divided by 10. @default [30, 60, 90, 120] */
  milestones?: number[];
  /** Seed of initialisation, sampling, augmentation and the validation part. @default 0 */
  seed?: number;
  /** Learnable context tokens of the text prompt. @default 16 */
  nCtx?: number;
  /** Side of the visual prompt patch, in pixels: even, 2 … 222. @default 56 */
  patchSize?: number;
  /** 'cam' (HESP's rule, on frames[0, 0] of the first training batch) or a fixed patch centre (row, col) in pixels of the frame. @default 'cam' */
  location?: 'cam' | { row: number; col: number };
  /** Multiplier of the cosine logits. @default 100 */
  logitScale?: number;
  /** Part of the training clips held out for model selection, in [0, 0.9]. @default 0.2 */
  valFraction?: number;
  /** 'val': closed-set accuracy on the held-out training clips; 'test': AUROC + OSCR on the test split, as the reference (optimistic). @default 'val' */
  selectOn?: 'val' | 'test';
  /** Which metric definitions drive selection on the test split ('arpl' = HESP's own code, so numbers compare with the paper). @default 'arpl' */
  selectionMetrics?: OpenSetMetricFamily;
  /** HESP's training augmentation (random flip + random sized crop, same for all frames of a clip). @default true */
  augment?: boolean;
  /**
   * Reproduce defects of the released HESP code (`HespReferenceBehaviour` of @vlfer/open-set): prompts in
   * alphabetical class order, no task gradient into the CoOp context. Both off (the fixed behaviour) by default.
   * @default {}
   */
  referenceBehaviour?: { alphabeticalClassNames?: boolean; zeroContextGradient?: boolean };
  /** Detect faces in the frames and train/evaluate on the crops of the face followed through each clip (`@vlfer/faces`). */
  faces?: HespFacesOptionsInput;
  /** Training steps between checkpoints (one is also written at every epoch end and on abort). @default 1 */
  checkpointEvery?: number;
  /** Compute backend. @default 'cpu' */
  device?: ComputeDevice;
  /** ONNX Runtime intra-op threads. @default ONNX Runtime's choice */
  threads?: number;
  /** Run directory (checkpoints, scores, the chosen model). */
  out: string;
}
