import { z } from 'zod';
import {
  FACE_SELECTIONS,
  MISSING_FACE_POLICIES,
  NO_FACE_POLICIES,
  type FaceSelection,
  type MissingFacePolicy,
  type NoFacePolicy,
} from './select.js';

/**
 * The `faces` option of the pipelines (`evaluateZeroShot`, `trainHead`, `trainHesp`): detect faces in the raw images
 * or frames and give the encoders crops instead. `--faces detect` / `--faces detect:align` on the command lines.
 */
export const FacesOptionsSchema = z
  .object({
    /** false: box crops with a margin ('detect'); true: five-point alignment onto the ArcFace template ('detect:align'). */
    align: z.boolean().default(false),
    /** `yunet-s` (default), `yunet-n`, `ultraface`, or a path to an .onnx file. */
    detector: z.string().min(1).default('yunet-s'),
    /** Directory holding the detector files. @default `$VLFER_FACE_MODELS` */
    modelDir: z.string().min(1).optional(),
    selection: z.enum(FACE_SELECTIONS).default('largest'),
    noFace: z.enum(NO_FACE_POLICIES).default('skip'),
    /** Clip frames where the followed face is missing ('skip' is not allowed for clips: every clip keeps its frame count). */
    missing: z.enum(MISSING_FACE_POLICIES).default('carry'),
    /**
     * Crop side in pixels. Aligned crops follow insightface's `norm_crop`: multiples of 112 (224, 336 …) scale the
     * 112-pixel ArcFace template, other multiples of 128 (128, 256, 384 …) use its 128-pixel layout; other sizes
     * (which insightface refuses) scale the 112 template by size/112 (`alignmentTemplate`).
     */
    size: z.number().int().min(16).default(224),
    margin: z.number().min(0).max(5).default(0.2),
    scoreThreshold: z.number().min(0).max(1).optional(),
    /** Detections and crop files. @default '.vlfer-cache/faces' */
    cacheDir: z.string().min(1).default('.vlfer-cache/faces'),
  })
  .strict();
/** The `faces` option after validation: every default filled in. */
export type FacesOptions = z.infer<typeof FacesOptionsSchema>;

/**
 * The `faces` option of the pipelines (`evaluateZeroShot`, `trainHead`, `trainHesp`). `FacesOptionsSchema` validates
 * it at run time and fills in the defaults given here (a test checks that every `@default` below is the schema's).
 */
export interface FacesOptionsInput {
  /** false: box crops with a margin ('detect'); true: five-point alignment onto the ArcFace template ('detect:align'). @default false */
  align?: boolean;
  /** `yunet-s`, `yunet-n`, `ultraface`, or a path to an .onnx file. @default 'yunet-s' */
  detector?: string;
  /** Directory holding the detector files. @default `$VLFER_FACE_MODELS` */
  modelDir?: string;
  /** Which faces of an image are kept: the largest box, the one nearest the centre, or all. @default 'largest' */
  selection?: FaceSelection;
  /** Images without a face: skipped and counted, used whole, or an error. @default 'skip' */
  noFace?: NoFacePolicy;
  /** Clip frames where the followed face is missing ('skip' is not allowed for clips: every clip keeps its frame count). @default 'carry' */
  missing?: MissingFacePolicy;
  /** Side of the square crop, in pixels (at least 16). @default 224 */
  size?: number;
  /** Margin added around a detected box on every side, as a fraction of the box side, in [0, 5]. @default 0.2 */
  margin?: number;
  /** Detections scoring below this, in [0, 1], are dropped. @default the detector's own threshold */
  scoreThreshold?: number;
  /** Detections and crop files. @default '.vlfer-cache/faces' */
  cacheDir?: string;
}
