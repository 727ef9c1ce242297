import { classificationReport, openSetReport, bootstrapInterval, weightedAverageRecall } from '@vlfer/metrics';

const yTrue = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2];
const yPred = [0, 0, 1, 1, 1, 2, 2, 0, 2, 2];
const rep = classificationReport(yTrue, yPred, 3);
console.log(
  'UAR',
  rep.uar.toFixed(4),
  'WAR',
  rep.war.toFixed(4),
  'recall',
  rep.perClassRecall.map((r) => r?.toFixed(3)),
);
console.log('confusion', JSON.stringify(rep.confusionMatrix));

const knownLogits = [
  [2.1, 0.3],
  [0.2, 1.7],
  [1.1, 0.9],
  [0.4, 0.6],
];
const knownLabels = [0, 1, 1, 1];
const unknownLogits = [
  [0.5, 0.4],
  [1.2, 0.1],
  [0.3, 0.35],
];
console.log(openSetReport(knownLogits, knownLabels, unknownLogits));

const ci = bootstrapInterval({
  n: yTrue.length,
  seed: 1,
  iterations: 2000,
  statistic: (idx) =>
    weightedAverageRecall(
      Array.from(idx, (i) => yTrue[i]!),
      Array.from(idx, (i) => yPred[i]!),
    ),
});
console.log(`WAR ${ci.estimate.toFixed(2)} [${ci.lower.toFixed(2)}, ${ci.upper.toFixed(2)}] (95 % bootstrap, seed 1)`);
