// Run from the repository root: pnpm example packages/datasets/examples/fer2013.ts
import { loadImageFolder, hespOpenSetSplits, segmentCentreIndices, MAFW_11 } from '@vlfer/datasets';

const set = await loadImageFolder('../shared/data/fer2013-privatetest');
console.log(`${set.items.length} images, label set ${set.labelSet.id}`);
console.log(Object.fromEntries(set.labelSet.names.map((n, i) => [n, set.counts[i]])));

const split = hespOpenSetSplits('mafw')[19];
console.log('HESP MAFW split 19 known:', split!.known.map((i) => MAFW_11.names[i]), 'openness', split!.openness.toFixed(3));
console.log('16 segment centres of a 40-frame clip:', segmentCentreIndices(40, 16).join(' '));
