/**
 * @file `@vlfer/hesp`: the HESP method (Liu et al., ACM MM 2024) as library functions — the CLI `vlfer hesp` (apps/cli) and
 * the bench call exactly these: `loadHespData` (lists + open-set split + validation part), `trainHesp` (training
 * with model selection, resumable checkpoints, both metric families) and `evaluateHespRun`.
 */
export type { HespOptions, HespOptionsInput, HespFacesOptionsInput } from './options.js';
export { hespOptionUses, HespOptionsSchema } from './options.js';
export type { HespData, HespRngStreams } from './data.js';
export {
  loadHespData,
  hespDataSteps,
  hespLabelSet,
  hespSplit,
  hespKnownNames,
  missingClassWarnings,
  shortClipWarnings,
  hespDataName,
  refuseSharedClips,
  splitValidation,
  hespStreamSeed,
  hespLabelScheme,
  HESP_RNG_STREAMS,
  HESP_RNG_STREAM_VERSIONS,
  canonicalClipOrder,
} from './data.js';
export type { HespHooks, EpochRecord, StepRecord, HespRunResult } from './train.js';
export type { ClipFrameReader } from './train.js';
export { trainHesp, hespLogits, evaluateOpenSet, selectionScore, clipFrameReader } from './train.js';
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
  ScoreHooks,
} from './baselines.js';
export {
  OPEN_SET_BASELINES,
  OPEN_SET_BASELINE_HESP_KEYS,
  parseOpenSetBaselineOptions,
  encodeOpenSetSplit,
  scoreOpenSetBaseline,
  runOpenSetBaselines,
} from './baselines.js';
// the stages of trainHesp, in order (see its JSDoc)
export type {
  HespRunPlan,
  HespRunPaths,
  HespBuiltModel,
  HespTrainContext,
  HespTrainState,
  HespBatch,
} from './train.js';
export {
  planHespRun,
  hespRunStreams,
  hespRunPaths,
  HESP_RUN,
  adoptEarlierWorkFiles,
  finishedHespRun,
  refuseOtherPublishedRun,
  refuseFewerEpochsThanPublished,
  refuseDivergedStep,
  buildHespModel,
  refuseChangedHespModel,
  startHespTraining,
  truncateHespLogs,
  hespCamLocation,
  hespEpochOrder,
  hespStepsPerEpoch,
  trainHespEpoch,
  hespTrainBatch,
  checkpointHespRun,
  evaluateHespEpoch,
  validateHesp,
  selectHespEpoch,
  hespEpochLine,
} from './train.js';
export type {
  HespCheckpoint,
  HespCheckpointMeta,
  HespDataFingerprints,
  HespRunClasses,
  HespRunRecord,
} from './checkpoint.js';
export {
  readHespCheckpoint,
  saveHespCheckpoint,
  saveHespBest,
  hespRunKey,
  hespRunKeyOf,
  hespRunFields,
  hespDataFingerprints,
  hespDataFingerprintForms,
  fingerprintHespData,
  type HespDataFingerprintForms,
  hespDatasetFingerprint,
  readHespRunFingerprints,
  refuseChangedFingerprints,
  hespRunClasses,
  refuseOtherClasses,
} from './checkpoint.js';
export type { HespResolvedConfig, HespMetricsInput } from './publish.js';
export { resolvedHespConfig, hespMetricsJson, publishHespRun, writeHespRunJson } from './publish.js';
export type { RunScores, HespBestState } from './evaluate.js';
export {
  evaluateHespRun,
  readHespRunConfig,
  hespRunOptions,
  loadHespBest,
  scoreHespRun,
  hespRunScores,
  hespScoresCsv,
  publishHespEval,
} from './evaluate.js';
