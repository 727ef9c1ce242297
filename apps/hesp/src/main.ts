#!/usr/bin/env node
/** @file vlfer-hesp: HESP open-set video FER. Thin: parses flags and calls run.ts. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { evaluateRun, runHesp } from './run.js';

const int = (v: string) => { const n = Number(v); if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${v}'`); return n; };
const num = (v: string) => { const n = Number(v); if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${v}'`); return n; };
const ints = (v: string) => v.split(',').map((s) => int(s.trim()));

const program = new Command('vlfer-hesp').description('HESP: open-set video FER with expression-sensitive prompting on a frozen CLIP');
program
  .command('train')
  .description('train on one open-set split; writes train-log.jsonl, epochs.jsonl, checkpoint/best.safetensors, metrics.json; rerun to resume')
  .addOption(new Option('--dataset <name>', 'split list and label set').choices(['mafw', 'afew', 'dfew']).makeOptionMandatory())
  .requiredOption('--train <list>', 'training annotation list (<frame_dir> <num_frames> <label> [text])')
  .requiredOption('--test <list>', 'test annotation list')
  .option('--root <dir>', 'prefix for relative frame directories')
  .addOption(new Option('--label-scheme <scheme>').choices(['dfer-clip', 'dfew-original', 'mafw-hesp']).default('dfer-clip'))
  .option('--split <i>', 'HESP split index 0..19', int)
  .option('--known <ids>', 'explicit known class ids (canonical order), instead of --split', ints)
  .requiredOption('--model <dir>', 'local Hugging Face CLIP directory (config.json, model.safetensors, tokenizer)')
  .option('--epochs <n>', 'epochs', int, 100)
  .option('--batch <n>', 'clips per batch', int, 64)
  .option('--frames <n>', 'TSN frames per clip', int, 8)
  .option('--lr <x>', 'SGD learning rate', num, 0.01)
  .option('--seed <n>', 'seed', int, 0)
  .option('--location <row,col>', "fixed visual-prompt centre instead of HESP's CAM rule", ints)
  .option('--val-fraction <x>', 'training clips held out for model selection', num, 0.2)
  .addOption(new Option('--select-on <set>', "'val', or 'test' (the reference's optimistic protocol)").choices(['val', 'test']).default('val'))
  .option('--no-augment', "no training augmentation (HESP: random flip + random sized crop)")
  .option('--reference-class-order', "reproduce the reference's alphabetical class-name order bug")
  .option('--reference-zero-context-grad', "reproduce the reference's zeroed context gradient")
  .addOption(new Option('--device <device>').choices(['cpu', 'webgpu']).default('cpu'))
  .option('--out <dir>', 'output directory', 'runs/hesp')
  .action(async (o) => {
    const r = await runHesp({
      dataset: o.dataset, trainAnnotations: o.train, testAnnotations: o.test, root: o.root, labelScheme: o.labelScheme, splitIndex: o.split, known: o.known,
      model: o.model, ...(o.location ? { location: { row: o.location[0], col: o.location[1] } } : {}), epochs: o.epochs, batch: o.batch, frames: o.frames, lr: o.lr, seed: o.seed, valFraction: o.valFraction, selectOn: o.selectOn, augment: o.augment !== false,
      referenceBehaviour: { alphabeticalClassNames: Boolean(o.referenceClassOrder), zeroContextGradient: Boolean(o.referenceZeroContextGrad) }, device: o.device, out: o.out,
    });
    const b = r.best;
    process.stdout.write(b ? `best epoch ${b.epoch + 1}: test closed-set acc ${(100 * b.test.closedSetAccuracy).toFixed(2)}, AUROC ${(100 * b.test.auroc).toFixed(2)}, OSCR ${(100 * b.test.oscr).toFixed(2)} (results in ${r.outDir})\n` : `no epoch run (results in ${r.outDir})\n`);
  });
program
  .command('eval')
  .description("re-evaluate a run's selected state on its test split (writes eval.json)")
  .requiredOption('--run <dir>', "directory written by 'hesp train'")
  .action(async (o) => { await evaluateRun(o.run); });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`vlfer-hesp: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
