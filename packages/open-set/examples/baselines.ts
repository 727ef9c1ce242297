import { tensor2d } from '@vlfer/core';
import { auroc } from '@vlfer/metrics';
import { energyScore, knnScore, maxLogitScore, maxSoftmaxScore, zeroShotMspScore } from '@vlfer/open-set';

// Logits [n, K] over K = 3 known classes: 3 known-class clips, 3 unknown-class clips
const known = tensor2d([
  [6, 1, 0],
  [0.5, 4, 1],
  [2, 1, 3.5],
]);
const unknown = tensor2d([
  [2, 1.8, 1.5],
  [1, 3, 2.5],
  [0.2, 3.8, 3.6],
]);
// every score: higher = more likely known, so AUROC(known, unknown) applies directly
for (const [name, score] of [
  ['MSP', maxSoftmaxScore],
  ['MaxLogit', maxLogitScore],
  ['Energy', energyScore],
] as const)
  console.log(
    name.padEnd(8),
    score(known)
      .map((s) => s.toFixed(3))
      .join(' '),
    '| AUROC',
    auroc(score(known), score(unknown)).toFixed(3),
  );

// deep KNN on normalised features [n, D] against a bank of known-class training features [m, D]
const bank = tensor2d([
  [1, 0, 0],
  [0.9, 0.1, 0],
  [0, 1, 0],
  [0.1, 0.9, 0.1],
]);
const test = tensor2d([
  [1, 0.05, 0],
  [0, 0, 1],
]);
console.log(
  'KNN k=2',
  knnScore(test, bank, { k: 2 })
    .map((s) => s.toFixed(3))
    .join(' '),
);

// zero-shot CLIP + MSP: softmax(100·cos(image, class text)) → max, argmax
const text = tensor2d([
  [1, 0, 0],
  [0, 1, 0],
]);
const z = zeroShotMspScore(test, text);
console.log('CLIP+MSP', z.scores.map((s) => s.toFixed(3)).join(' '), 'predictions', z.predictions.join(' '));
