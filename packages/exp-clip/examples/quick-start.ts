// The root README's quick start: classify a folder of faces zero-shot, then score it. pnpm example packages/exp-clip/examples/quick-start.ts
import { stratifiedSubset } from '@vlfer/datasets';
import { loadImageFolder } from '@vlfer/datasets/node';
import { loadClip, zeroShotClassifier } from '@vlfer/encoders/node';
import { unweightedAverageRecall, weightedAverageRecall } from '@vlfer/metrics';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository

const data = await loadImageFolder(`${shared}/data/fer2013-privatetest`); // one folder per class
const { items } = stratifiedSubset(data.items, { limit: 70, seed: 0 }); // 70 images, classes in proportion, seeded
const clip = await loadClip({ model: `${shared}/fixtures/tiny-clip` }); // or 'Xenova/clip-vit-base-patch32'
const fer = await zeroShotClassifier({ model: clip, labels: data.labelSet }); // text features encoded once
const predicted = (await fer(items.map((i) => i.path))).map(([top]) => top!.index);
const truth = items.map((i) => i.label);
console.log(`${items.length} images, UAR ${unweightedAverageRecall(truth, predicted, 7).toFixed(4)}`);
console.log(`WAR ${weightedAverageRecall(truth, predicted).toFixed(4)}`);
await fer.dispose();
await clip.dispose();
