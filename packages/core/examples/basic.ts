import { createRng, l2NormalizeRows, meanOfRowGroups, tensor2d } from '@vlfer/core';
import { readJsonLines, writeJsonAtomic } from '@vlfer/core/node';

const x = tensor2d([
  [3, 4],
  [0, 2],
  [1, 0],
  [0, 1],
]); // [rows, dim]
console.log('unit rows', Array.from(l2NormalizeRows(x).data));
console.log('mean of each 2 rows (frames → clip)', Array.from(meanOfRowGroups(x, 2).data), meanOfRowGroups(x, 2).dims);
const rng = createRng(1);
console.log('seeded', rng.int(10), rng.int(10), rng.shuffled(['a', 'b', 'c']));
writeJsonAtomic('/tmp/vlfer-core-example.json', { ok: true }); // temp file + fsync + rename: never half-written
try {
  l2NormalizeRows(tensor2d([[0, 0]]));
} catch (e) {
  console.log((e as Error).message);
}
try {
  readJsonLines('/tmp/vlfer-core-example.json', { what: 'a log' });
} catch (e) {
  console.log((e as Error).message);
}
