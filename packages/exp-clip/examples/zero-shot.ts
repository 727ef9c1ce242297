/**
 * Zero-shot Exp-CLIP evaluation from the library, no CLI: a stratified 70-image subset of FER2013 PrivateTest with
 * two prompt types. Usage: pnpm example packages/exp-clip/examples/zero-shot.ts <fer2013 root> <CLIP model> [out]
 */
import { evaluateZeroShot } from '@vlfer/exp-clip';

const [root, model, out] = process.argv.slice(2);
if (!root || !model) throw new Error('usage: zero-shot.ts <fer2013 root> <CLIP model dir or hub id> [out dir]');
const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('SIGINT')));

const r = await evaluateZeroShot(
  {
    dataset: 'fer2013',
    root,
    model,
    promptTypes: ['class_name', 'expression_ensemble_ten'],
    limit: 70,
    ...(out ? { out } : {}),
  },
  {
    signal: controller.signal,
    onProgress: (e) => {
      if (e.done === e.total) console.log(`${e.phase}: ${e.done}/${e.total} ${e.unit}`);
    },
    log: console.log,
  },
);
console.log(
  `label set ${r.labelSet.id} (${r.labelSetReason}); ${r.counts.images} images, ${r.counts.cached} from the cache`,
);
for (const t of r.results)
  console.log(`${t.promptType}: UAR ${(100 * t.mean.uar.mean).toFixed(2)} WAR ${(100 * t.mean.war.mean).toFixed(2)}`);
const p = r.predictions[0]!;
const k = p.byPromptType.class_name!;
console.log(
  `first item ${p.ids[0]}: label ${r.labelSet.names[p.labels[0]!]}, predicted ${r.labelSet.names[k.predicted[0]!]}, p = [${Array.from(k.probabilities.data.subarray(0, r.labelSet.names.length), (v) => v.toFixed(3)).join(', ')}]`,
);
