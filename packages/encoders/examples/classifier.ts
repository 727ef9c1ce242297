// From the repo root: pnpm example packages/encoders/examples/classifier.ts
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BASIC_7 } from '@vlfer/datasets';
import { loadClip, zeroShotClassifier } from '@vlfer/encoders/node';
import { expClipPrompts } from '@vlfer/llm-knowledge';
const shared = process.env.VLFER_SHARED ?? '../shared'; // the shared assets folder beside the repository

// The random-weight test CLIP (predictions mean nothing); a real one loads the same way.
const clip = await loadClip({ model: `${shared}/fixtures/tiny-clip` });
// Exp-CLIP's ten prompts for each of the seven basic expressions: 70 prompts, encoded once, here.
const fer = await zeroShotClassifier({
  model: clip,
  labels: BASIC_7,
  prompts: expClipPrompts('expression_ensemble_ten', BASIC_7),
});
const root = `${shared}/data/fer2013-privatetest`;
for (const folder of ['happy', 'sad']) {
  const files = readdirSync(join(root, folder))
    .sort()
    .slice(0, 2)
    .map((f) => join(root, folder, f));
  // each call encodes only the images; per image every class as { label, index, score }, highest first
  for (const [i, [top]] of (await fer(files)).entries())
    console.log(
      `${folder}/${files[i]!.split('/').pop()}: ${top!.label} (label id ${top!.index}) ${top!.score.toFixed(3)}`,
    );
}
await fer.dispose();
await fer([]).catch((error: Error) => console.log(`${error.name}: ${error.message}`));
await clip.dispose();
