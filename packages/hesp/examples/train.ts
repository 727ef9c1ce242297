/**
 * HESP on one open-set split from the library, no CLI: 2 epochs with classes 0-2 known, then re-scoring the selected
 * state. Usage: pnpm example packages/hesp/examples/train.ts <dir with train.txt, test.txt> <CLIP model> <out>
 * (make a synthetic set with: pnpm example apps/cli/examples/make-synthetic.ts /tmp/hesp-data)
 */
import { join } from 'node:path';
import { evaluateHespRun, trainHesp } from '@vlfer/hesp';

const [data, model, out] = process.argv.slice(2);
if (!data || !model || !out) throw new Error('usage: train.ts <data dir> <CLIP model dir> <out dir>');
const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('SIGINT'))); // the run stops at the next step, resumable

const run = await trainHesp(
  {
    dataset: 'afew',
    trainAnnotations: join(data, 'train.txt'),
    testAnnotations: join(data, 'test.txt'),
    root: data,
    known: [0, 1, 2],
    model,
    epochs: 2,
    batch: 8,
    out,
  },
  {
    signal: controller.signal,
    log: console.log,
    onProgress: (e) => {
      if (e.phase === 'train' && e.done % 2 === 0)
        console.log(`step ${e.done}/${e.total} loss ${Number(e.detail?.loss).toFixed(3)}`);
    },
  },
);
const t = run.best!.test;
console.log(
  `best epoch ${run.best!.epoch}: AUROC ${t.auroc_arpl!.toFixed(4)} (arpl) ${t.auroc_standard!.toFixed(4)} (standard), OSCR ${t.oscr_arpl!.toFixed(4)} / ${t.oscr_standard!.toFixed(4)}`,
);
const scored = await evaluateHespRun(out, { log: () => undefined });
console.log(
  `re-scored: ${scored.known.length} known + ${scored.unknown.length} unknown clips; first known clip known-ness ${scored.known[0]!.knownness.toFixed(4)}`,
);
