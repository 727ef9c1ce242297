/**
 * @file `@vlfer/hesp`: the HESP method (Liu et al., ACM MM 2024) as library functions — the CLI `vlfer hesp` (apps/cli) and
 * the bench call exactly these: `loadHespData` (lists + open-set split + validation part), `trainHesp` (training
 * with model selection, resumable checkpoints, both metric families) and `evaluateHespRun`.
 */
export type { HespOptions, HespOptionsInput, HespFacesOptionsInput } from './options.js';
export { HespOptionsSchema } from './options.js';
export type { HespData } from './data.js';
export { loadHespData } from './data.js';
export type { HespHooks, EpochRecord, StepRecord, HespRunResult } from './train.js';
export type { ClipFrameReader } from './train.js';
export { trainHesp, hespLogits, evaluateOpenSet, selectionScore, clipFrameReader } from './train.js';
export type { RunScores } from './evaluate.js';
export { evaluateHespRun } from './evaluate.js';
export type {
  OpenSetBaseline,
  OpenSetBaselineOptionsInput,
  OpenSetBaselineOptions,
  OpenSetBaselineResult,
  OpenSetSplitFeatures,
  ClipFeatureSet,
  OpenSetFeatureCache,
  OpenSetProbeCache,
  KnownProbe,
} from './baselines.js';
export {
  OPEN_SET_BASELINES,
  OPEN_SET_BASELINE_HESP_KEYS,
  parseOpenSetBaselineOptions,
  encodeOpenSetSplit,
  scoreOpenSetBaseline,
  runOpenSetBaselines,
} from './baselines.js';
