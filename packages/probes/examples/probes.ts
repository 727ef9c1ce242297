import { createRng, tensor, tensor2d, type Tensor2D } from '@vlfer/core';
import {
  fitLinearProbe,
  probeProbabilities,
  selectFewShot,
  sweepLinearProbe,
  takeRows,
  tipAdapterLogits,
} from '@vlfer/probes';

// Stand-ins for frozen CLIP features: 3 classes around 3 directions in 4-D (n items each)
const rng = createRng(1);
const centres = [
  [1, 0, 0, 0.2],
  [0, 1, 0, 0.2],
  [0, 0, 1, 0.2],
];
const sample = (n: number): { features: Tensor2D; labels: number[] } => {
  const labels = Array.from({ length: 3 * n }, (_, i) => i % 3);
  const data = Float32Array.from(labels.flatMap((y) => centres[y]!.map((c) => c + 0.5 * rng.normal())));
  return { features: tensor(data, [labels.length, 4]), labels };
};
const train = sample(40);
const val = sample(20);

// linear probe: sklearn's multinomial logistic regression, C chosen on validation by the CLIP paper's search
const sweep = sweepLinearProbe(train, val);
console.log(
  `best C ${sweep.c.toPrecision(3)} (val accuracy ${sweep.score.toFixed(3)}), ${sweep.evaluated.length} fits`,
);
const probe = fitLinearProbe(train.features, train.labels, { c: sweep.c });
const p = probeProbabilities(probe, takeRows(val.features, [0, 1, 2]));
for (const [i, r] of p.entries())
  console.log(`item ${i} (class ${val.labels[i]}):`, Array.from(r, (v) => v.toFixed(3)).join(' '));

// 4-shot selection (seeded) and Tip-Adapter with the class directions as "text" embeddings
const shots = selectFewShot(train.labels, 4, { seed: 0 });
console.log('4-shot indices', shots.join(' '));
const text = tensor2d(centres);
const cache = { keys: takeRows(train.features, shots), labels: shots.map((i) => train.labels[i]!) };
const logits = tipAdapterLogits(takeRows(val.features, [0, 1, 2]), cache, text);
for (let i = 0; i < 3; i++)
  console.log(
    `Tip-Adapter logits, item ${i}:`,
    Array.from(logits.data.subarray(i * 3, i * 3 + 3), (v) => v.toFixed(2)).join(' '),
  );
