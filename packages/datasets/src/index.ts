/**
 * @file `@vlfer/datasets`: label sets (built-in sets for the common FER datasets, alias-aware class matching),
 * parsers of annotation text (video lists, RAF-DB lists, AffectNet and FERPlus CSVs), the dataset table, frame
 * sampling, open-set splits and stratified subsets. Runtime-neutral; the loaders that read files are in
 * `@vlfer/datasets/node`. No model runtime.
 */
export type { ImageItem, VideoItem, LoadResult, DroppedCount, DuplicatePolicy } from './types.js';
export type { ExpressionName, NativeLabelScheme, LabelSetId } from './label-sets.js';
export {
  EXP_CLIP_CLASS_ORDER,
  BASIC_7,
  BASIC_8,
  MAFW_11,
  LABEL_SETS,
  NATIVE_LABELS,
  NATIVE_LABEL_SCHEMES,
  canonicalExpression,
  nativeToLabelId,
  getLabelSet,
  labelSetFromNames,
  parseLabelSetJson,
  matchClassName,
  inferLabelSet,
} from './label-sets.js';
export {
  IMAGE_EXTENSIONS,
  VIDEO_EXTENSIONS,
  differingNumbers,
  isImageFile,
  isVideoFile,
  nameOrderInversion,
} from './media.js';
export type { CsvRecord } from './csv.js';
export { parseCsvText } from './csv.js';
export type {
  LabelScheme,
  VideoListEntry,
  ParseVideoListOptions,
  DfewSplitRow,
  RafDbEntry,
  AffectNetEntry,
  FerPlusEntry,
  FerPlusUsage,
} from './parsers.js';
export {
  LABEL_SCHEMES,
  FERPLUS_USAGES,
  parseVideoListText,
  parseDfewSplitCsv,
  isDfewSplitCsv,
  parseRafDbListText,
  rafDbListLine,
  parseAffectNetCsvText,
  parseAffectNetExpNpy,
  affectNetLabel,
  affectNetRecords,
  AFFECTNET_COLUMNS,
  parseFerPlusCsvText,
  isFerPlusLabelCsv,
  videoListLabel,
  rebasePrefix,
  ferPlusVotes,
  ferPlusMajority,
} from './parsers.js';
export type { Fer2013Row } from './fer2013-csv.js';
export { parseFer2013CsvText, FER2013_CLASS_FOLDERS, FER2013_SIZE } from './fer2013-csv.js';
export type { ListedPathOptions } from './paths.js';
export { normalizeListedPath } from './paths.js';
export type { DatasetFormat, DatasetInfo, DatasetId } from './registry.js';
export { DATASETS, DATASET_IDS } from './registry.js';
export { toIndices } from '@vlfer/core';
export type { ShortClipPolicy } from './frame-sampling.js';
export { segmentCentreIndices, tsnTrainIndices, SHORT_CLIP_POLICIES } from './frame-sampling.js';
export type { OpenSetSplit, HespSplitDataset, OpenSetPartition } from './open-set-splits.js';
export {
  openness,
  hespOpenSetSplits,
  splitInLabelSet,
  ferv39kOpenSetSplits,
  FERV39K_SPLIT_SEED,
  generateOpenSetSplits,
  explicitOpenSetSplit,
  partitionBySplit,
  hespReferenceKnownOrder,
} from './open-set-splits.js';
export { stratifiedSubset, subsetId } from './subsets.js';
export type { NameCodedDatasetId, KdefView, NameCode } from './name-coded.js';
export { KDEF_VIEWS, NAME_CODES, parseCodedName } from './name-coded.js';
