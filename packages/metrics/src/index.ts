/**
 * @file `@vlfer/metrics`: exact FER metrics (runtime-neutral, no model runtime): confusion matrix, UAR/WAR,
 * per-class recall, AUROC, OSCR, TNR@95 in both the standard and the ARPL/HESP definitions, ROC curves,
 * fold averages, bootstrap intervals (per run over items, stratified for open-set), the t-interval of a mean over
 * seeds, and paired bootstrap and permutation tests between two methods on the same items. Score inputs accept a `[n, C]` Tensor2D or an array of rows.
 */
export type { ClassificationReport } from './classification.js';
export {
  confusionMatrix,
  MAX_CONFUSION_CLASSES,
  perClassRecall,
  unweightedAverageRecall,
  weightedAverageRecall,
  classificationReport,
} from './classification.js';
export { argmaxRows, toIndices, type Scores } from '@vlfer/core';
export type { OscrOptions, OpenSetReport, OpenSetMetrics, OpenSetMetricFamily } from './open-set.js';
export { openSetReportFromScores } from './open-set-scores.js';
export {
  auroc,
  tnrAtTpr,
  maxScores,
  oscr,
  tiedScores,
  openSetReport,
  flattenOpenSetReport,
  rocCurve,
  OPEN_SET_METRIC_FAMILIES,
} from './open-set.js';
export type { MeanStd, BootstrapInterval, ResampleOptions } from './aggregate.js';
export { meanStd, averageFolds, bootstrapInterval } from './aggregate.js';
export type { OpenSetScores, SeedSummary, PairedTest, PermutationTest } from './statistics.js';
export {
  classificationIntervals,
  openSetIntervals,
  seedSummary,
  studentTCdf,
  studentTQuantile,
  pairedBootstrapTest,
  pairedPermutationTest,
} from './statistics.js';
export type { PairedMetricTest, PairedTestOptions } from './paired.js';
export { pairedClassificationTests, pairedOpenSetTests } from './paired.js';
