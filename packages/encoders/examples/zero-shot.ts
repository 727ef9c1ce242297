// From the repo root: pnpm example packages/encoders/examples/zero-shot.ts
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { configureModels, loadClip, encodeImages, buildZeroShotClassifier } from '@vlfer/encoders';
import { BASIC_7 } from '@vlfer/datasets';

configureModels({ allowRemoteModels: false }); // offline: a local directory in the Hugging Face layout
const clip = await loadClip({ model: '../shared/fixtures/tiny-clip' }); // random-weight test CLIP; use Xenova/clip-vit-base-patch32 for real
const dir = '../shared/data/fer2013-privatetest/happy';
const files = readdirSync(dir).slice(0, 4).map((f) => join(dir, f));
const feats = await encodeImages({ model: clip, items: files, mode: 'exp-clip', batchSize: 4 }); // [4, D]
const zs = await buildZeroShotClassifier({ model: clip, labelSet: BASIC_7, promptType: 'expression_ensemble_five' });
const logits = await zs.classify(feats); // [4, 7]
console.log('features', feats.dims, 'text features', zs.textFeatures.dims, 'logits', logits.dims);
for (let i = 0; i < 4; i++) {
  const row = Array.from(logits.data.subarray(i * 7, i * 7 + 7));
  console.log(files[i]!.split('/').pop(), '→', BASIC_7.names[row.indexOf(Math.max(...row))], row.map((v) => v.toFixed(2)).join(' '));
}
