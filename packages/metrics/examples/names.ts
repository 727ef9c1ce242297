// From the repo root: pnpm example packages/metrics/examples/names.ts
import { defineLabelSet } from '@vlfer/core';
import { toIndices, unweightedAverageRecall, weightedAverageRecall } from '@vlfer/metrics';

// Labels as names (a CSV, or the `label` of zeroShotClassifier's results) and the label set their ids refer to
// (BASIC_7 of @vlfer/datasets, fer.labelSet of a classifier, or your own).
const labels = defineLabelSet('three', ['happiness', 'sadness', 'neutral']);
const trueNames = ['happiness', 'happiness', 'sadness', 'neutral', 'neutral'];
const predNames = ['happiness', 'sadness', 'sadness', 'neutral', 'happiness'];
const yTrue = toIndices(trueNames, labels);
const yPred = toIndices(predNames, labels);
console.log('ids', yTrue.join(' '), '|', yPred.join(' '));
const uar = unweightedAverageRecall(yTrue, yPred, labels.names.length);
console.log('UAR', uar.toFixed(4), 'WAR', weightedAverageRecall(yTrue, yPred).toFixed(4));
// a name outside the label set is an error, not a silent -1
try {
  toIndices(['happy'], labels);
} catch (error) {
  console.log((error as Error).message);
}
