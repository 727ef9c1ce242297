import { tensor2d, l2NormalizeRows, createRng, writeJsonAtomic } from '@vlfer/core';

const x = tensor2d([[3, 4], [0, 2]]);            // [rows, dim]
console.log(Array.from(l2NormalizeRows(x).data)); // unit rows
const rng = createRng(1);
console.log(rng.int(10), rng.int(10), rng.shuffled(['a', 'b', 'c']));
writeJsonAtomic('/tmp/vlfer-core-example.json', { ok: true });
try { l2NormalizeRows(tensor2d([[0, 0]])); } catch (e) { console.log((e as Error).message); }
