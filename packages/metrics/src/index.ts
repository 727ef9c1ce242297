export type { ClassificationReport } from './classification.js';
export { confusionMatrix, perClassRecall, unweightedAverageRecall, weightedAverageRecall, argmaxRows, classificationReport } from './classification.js';
export type { OscrOptions, OpenSetReport } from './open-set.js';
export { auroc, tnrAtTpr, maxScores, oscr, openSetReport, rocCurve } from './open-set.js';
export type { MeanStd, BootstrapInterval } from './aggregate.js';
export { meanStd, averageFolds, bootstrapInterval } from './aggregate.js';
