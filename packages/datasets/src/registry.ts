import type { LabelSetId } from './label-sets.js';
import type { LabelScheme } from './parsers.js';
import type { HespSplitDataset } from './open-set-splits.js';

/** How a dataset is stored on disk, i.e. which loader reads it. */
export type DatasetFormat =
  | 'image-folder'
  | 'raf-db'
  | 'affectnet'
  | 'affectnet-npy'
  | 'ferplus'
  | 'name-coded'
  | 'ckplus'
  | 'video-list'
  | 'video-folder';

export interface DatasetInfo {
  format: DatasetFormat;
  /** 'image': one image per item; 'frames': a directory of frame images per clip; 'video-file': a video file per clip. */
  media: 'image' | 'frames' | 'video-file';
  /** Default label set (built-in id); none = inferred from the class folders. */
  labelSet?: LabelSetId;
  /** AffectNet: 7 or 8 classes. */
  classes?: 7 | 8;
  /** Video lists: how the label column is read in the DFER-CLIP/Exp-CLIP lists. */
  labelScheme?: LabelScheme;
  /** HESP: the published split list of this dataset, and the label scheme of HESP's own annotation files. */
  hesp?: { splits: HespSplitDataset; labelScheme: LabelScheme };
  /** Needs an annotation file (list or CSV) besides the root. */
  annotations: 'none' | 'optional' | 'required';
  /**
   * The official folds (1-based) of a set evaluated per fold: what an evaluation whose annotations path has `{fold}`
   * reads when no folds are given (DFEW, MAFW: 1–5, as Exp-CLIP's test.py).
   */
  folds?: readonly number[];
  description: string;
}

/**
 * The datasets vlfer reads, in one table used by every pipeline (Exp-CLIP evaluation, HESP, the bench).
 * Keys are the `--dataset` values of the CLIs.
 */
export const DATASETS = {
  'image-folder': {
    format: 'image-folder',
    media: 'image',
    annotations: 'none',
    description: 'class folders root/<class>/<image>; label set inferred from the folders or given',
  },
  fer2013: {
    format: 'image-folder',
    media: 'image',
    labelSet: 'basic-7',
    annotations: 'none',
    description: 'FER2013 exported as class folders',
  },
  'caer-s': {
    format: 'image-folder',
    media: 'image',
    labelSet: 'basic-7',
    annotations: 'none',
    description: 'CAER-S (face crops) as class folders',
  },
  'raf-db': {
    format: 'raf-db',
    media: 'image',
    labelSet: 'basic-7',
    annotations: 'optional',
    description: 'RAF-DB basic: list_patition_label.txt + Image/aligned',
  },
  affectnet7: {
    format: 'affectnet',
    media: 'image',
    classes: 7,
    labelSet: 'basic-7',
    annotations: 'required',
    description: 'AffectNet CSV, 7 classes (no contempt)',
  },
  affectnet8: {
    format: 'affectnet',
    media: 'image',
    classes: 8,
    labelSet: 'basic-8',
    annotations: 'required',
    description: 'AffectNet CSV, 8 classes',
  },
  'affectnet7-npy': {
    format: 'affectnet-npy',
    media: 'image',
    classes: 7,
    labelSet: 'basic-7',
    annotations: 'none',
    description: "AffectNet's train_set/val_set release (images/, annotations/<id>_exp.npy), 7 classes",
  },
  'affectnet8-npy': {
    format: 'affectnet-npy',
    media: 'image',
    classes: 8,
    labelSet: 'basic-8',
    annotations: 'none',
    description: "AffectNet's train_set/val_set release (images/, annotations/<id>_exp.npy), 8 classes",
  },
  ferplus: {
    format: 'ferplus',
    media: 'image',
    labelSet: 'basic-8',
    annotations: 'required',
    description: 'FERPlus fer2013new.csv majority vote, 8 classes',
  },
  ckplus: {
    format: 'ckplus',
    media: 'image',
    labelSet: 'contempt-7',
    annotations: 'none',
    description:
      'CK+ release (cohn-kanade-images/, Emotion/): the last frames of the 327 labelled sequences, 7 classes',
  },
  ckplus8: {
    format: 'ckplus',
    media: 'image',
    labelSet: 'basic-8',
    annotations: 'none',
    description: 'CK+ as ckplus, with the first frame of each labelled sequence as neutral, 8 classes',
  },
  kdef: {
    format: 'name-coded',
    media: 'image',
    labelSet: 'basic-7',
    annotations: 'none',
    description: 'KDEF, labels from the file names (AF01ANS.JPG: session, subject, expression, view)',
  },
  jaffe: {
    format: 'name-coded',
    media: 'image',
    labelSet: 'basic-7',
    annotations: 'none',
    description: 'JAFFE, labels from the file names (KA.AN1.39.tiff: subject, expression)',
  },
  dfew: {
    format: 'video-list',
    media: 'frames',
    labelSet: 'basic-7',
    labelScheme: 'dfer-clip',
    hesp: { splits: 'dfew', labelScheme: 'dfer-clip' },
    annotations: 'required',
    folds: [1, 2, 3, 4, 5],
    description: 'DFEW frame directories + DFER-CLIP lists (5 folds)',
  },
  ferv39k: {
    format: 'video-list',
    media: 'frames',
    labelSet: 'basic-7',
    labelScheme: 'dfer-clip',
    hesp: { splits: 'ferv39k', labelScheme: 'dfer-clip' },
    annotations: 'required',
    description: "FERV39k frame directories + list (open-set: vlfer's seeded splits, `ferv39kOpenSetSplits`)",
  },
  mafw: {
    format: 'video-list',
    media: 'frames',
    labelSet: 'mafw-11',
    labelScheme: 'dfer-clip',
    hesp: { splits: 'mafw', labelScheme: 'mafw-hesp' },
    annotations: 'required',
    folds: [1, 2, 3, 4, 5],
    description: 'MAFW 11-class frame directories + lists (5 folds; HESP ships its own lists)',
  },
  afew: {
    format: 'video-list',
    media: 'frames',
    labelSet: 'basic-7',
    labelScheme: 'dfer-clip',
    hesp: { splits: 'afew', labelScheme: 'dfer-clip' },
    annotations: 'required',
    description: 'AFEW frame directories + list',
  },
  'video-folder': {
    format: 'video-folder',
    media: 'video-file',
    annotations: 'none',
    description: 'class folders of raw video files root/<class>/<video>, decoded with ffmpeg',
  },
} as const satisfies Record<string, DatasetInfo>;
export type DatasetId = keyof typeof DATASETS;
export const DATASET_IDS = Object.keys(DATASETS) as DatasetId[];
