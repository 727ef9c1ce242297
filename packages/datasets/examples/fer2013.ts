// Run from the repository root: pnpm example packages/datasets/examples/fer2013.ts
import {
  hespOpenSetSplits,
  MAFW_11,
  parseVideoListText,
  segmentCentreIndices,
  stratifiedSubset,
} from '@vlfer/datasets';
import { loadImageFolder } from '@vlfer/datasets/node';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository

const set = await loadImageFolder(`${shared}/data/fer2013-privatetest`); // class folders; label set inferred
console.log(`${set.items.length} images, label set ${set.labelSet.id} (${set.labelSetReason})`);
console.log(Object.fromEntries(set.labelSet.names.map((n, i) => [n, set.counts[i]])));
const sub = stratifiedSubset(set.items, { limit: 70, seed: 0 });
console.log(`subset ${sub.id}: ${sub.items.length} images, ${new Set(sub.items.map((i) => i.label)).size} classes`);

const split = hespOpenSetSplits('mafw')[19]!;
console.log(
  'HESP MAFW split 19 known:',
  split.known.map((i) => MAFW_11.names[i]),
  'openness',
  split.openness.toFixed(3),
);
console.log('16 segment centres of a 40-frame clip:', segmentCentreIndices(40, 16).join(' '));
try {
  parseVideoListText('clips/001 40 3\nclips/002 forty 2\n', {
    file: 'train.txt',
    labelScheme: 'dfer-clip',
    labelSet: MAFW_11,
  });
} catch (e) {
  console.log((e as Error).message);
}
