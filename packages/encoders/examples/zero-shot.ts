// From the repo root: pnpm example packages/encoders/examples/zero-shot.ts
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildZeroShotClassifier, labelScores } from '@vlfer/encoders';
import { classify, encodeImages, loadClip } from '@vlfer/encoders/node';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository

// A local Hugging Face/transformers.js directory; with internet, 'Xenova/clip-vit-base-patch32' works the same way.
// This is the random-weight test CLIP, so the predictions mean nothing.
const clip = await loadClip({ model: `${shared}/fixtures/tiny-clip` });
const dir = `${shared}/data/fer2013-privatetest/happy`;
const files = readdirSync(dir)
  .sort()
  .slice(0, 3)
  .map((f) => join(dir, f));

// One call: each image's labels with probabilities (softmax of 100 × cosine), highest first.
const results = await classify(clip, files, { labels: ['happiness', 'sadness', 'anger'] });
console.log(files[0]!.split('/').pop(), results[0]!.map((s) => `${s.label} ${s.score.toFixed(3)}`).join(', '));

// The primitives under it: features once, then any classifier (Exp-CLIP preprocessing, two templates per class).
const { features } = await encodeImages({ model: clip, items: files, mode: 'exp-clip' }); // [3, D]
const zs = await buildZeroShotClassifier({
  model: clip,
  classNames: ['happiness', 'sadness', 'anger'],
  prompts: { templates: ['an expression of {}.', 'a photo of a face with an expression of {}.'] },
});
const logits = await zs.classify(features); // [3, 3]: logits averaged over each class's prompts
console.log('features', features.dims, 'text features', zs.textFeatures.dims, 'logits', logits.dims);
console.log(
  labelScores(logits, zs.classNames)
    .map((r) => r[0]!.label)
    .join(' '),
);
await clip.dispose();
