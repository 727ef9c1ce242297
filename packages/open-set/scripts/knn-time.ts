/**
 * @file How long `knnScore` takes at DFEW's size (2,300 test features against a bank of 9,000, 512 dimensions, seeded
 * uniform values, k = 50): seconds, and a digest of the scores (equal digests: the same bits).
 * Run: node --conditions=@vlfer/source --import tsx packages/open-set/scripts/knn-time.ts
 */
import { createHash } from 'node:crypto';
import { knnScore } from '../src/index.js';

let state = 1;
const uniform = () => (state = (state * 16807) % 2147483647) / 2147483647 - 0.5;
const tensor = (n: number, d: number) => ({
  dtype: 'float32' as const,
  data: Float32Array.from({ length: n * d }, uniform),
  dims: [n, d] as [number, number],
});
const features = tensor(2300, 512);
const bank = tensor(9000, 512);
const t0 = performance.now();
const scores = knnScore(features, bank, { k: 50 });
const seconds = (performance.now() - t0) / 1000;
const digest = createHash('sha256').update(Float64Array.from(scores)).digest('hex').slice(0, 12);
console.log(`knnScore 2300 × 9000 × 512, k = 50: ${seconds.toFixed(2)} s; scores ${digest}…`);
