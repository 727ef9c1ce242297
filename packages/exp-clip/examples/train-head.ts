/**
 * Train an Exp-CLIP projection head from the library, then evaluate through it. Usage:
 * pnpm example packages/exp-clip/examples/train-head.ts <fer2013 root> <CLIP model> <out dir>
 *
 * The unlabelled images are 64 FER2013 faces (their labels unused). A real run imports the frozen LLM teacher's
 * embeddings of its images (`teacher: 'import'`, a .jsonl/.npy/.safetensors file; or `teacher: 'http'`); here a seeded
 * stand-in writes 64-d unit vectors in the same .jsonl form, so the numbers only show that the loop runs.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createRng } from '@vlfer/core';
import { stratifiedSubset } from '@vlfer/datasets';
import { loadImageFolder } from '@vlfer/datasets/node';
import { evaluateZeroShot, trainHead } from '@vlfer/exp-clip';

const [root, model, out] = process.argv.slice(2);
if (!root || !model || !out) throw new Error('usage: train-head.ts <fer2013 root> <CLIP model> <out dir>');
const unlabelled = join(out, 'unlabelled');
mkdirSync(unlabelled, { recursive: true });

// 64 unlabelled faces, and stand-in teacher targets: { path, embedding } per image
const rng = createRng(0);
const images = stratifiedSubset((await loadImageFolder(root)).items, { limit: 64, seed: 1 }).items;
const targets = images.map(({ path }) => {
  const copy = join(unlabelled, basename(path));
  copyFileSync(path, copy);
  const e = Array.from({ length: 64 }, () => rng.normal());
  const norm = Math.hypot(...e);
  return JSON.stringify({ path: copy, embedding: e.map((v) => v / norm) });
});
writeFileSync(join(out, 'targets.jsonl'), `${targets.join('\n')}\n`);

const trained = await trainHead(
  {
    unlabelled,
    teacher: 'import',
    teacherSource: join(out, 'targets.jsonl'),
    model,
    outputDim: 64, // the paper's head is D→4096 (the LLM's width); the stand-in targets are 64-d
    epochs: 5,
    batch: 16,
    lr: 0.001, // the paper's SGD learning rate
    seed: 0,
    out: join(out, 'head'),
  },
  { onStep: (s) => s.step === 3 && console.log(`epoch ${s.epoch} step ${s.step}: loss ${s.loss.toFixed(4)}`) },
);
const loss = (v: number | null) => (v === null ? '-' : v.toFixed(4));
console.log(`${trained.status}: ${trained.steps} steps, loss ${loss(trained.firstLoss)} → ${loss(trained.lastLoss)}`);

const r = await evaluateZeroShot({
  dataset: 'fer2013',
  root,
  model,
  head: trained.headPath,
  promptTypes: ['class_name'],
  limit: 70,
});
console.log(
  `through the head: UAR ${r.results[0]!.mean.uar.mean.toFixed(4)} WAR ${r.results[0]!.mean.war.mean.toFixed(4)}`,
);
