#!/usr/bin/env node
/**
 * @file vlfer-exp-clip: the Exp-CLIP command line. Thin: parses flags and calls the library code in eval.ts.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { configureModels } from '@vlfer/encoders';
import { PROMPT_TYPES, promptTypeByNumber, type PromptType } from '@vlfer/llm-knowledge';
import { DATASET_KINDS } from './config.js';
import { formatTable, runEval } from './eval.js';
import { runTrain } from './train.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got '${v}'`);
  return n;
}

/** `1..5`, `all`, names, or comma lists of these. */
export function parsePromptTypes(v: string): PromptType[] {
  const out: PromptType[] = [];
  for (const part of v.split(',').map((s) => s.trim())) {
    if (part === 'all') out.push(...PROMPT_TYPES);
    else if (/^\d+$/.test(part)) {
      const n = Number(part);
      if (n < 1 || n > 5) throw new InvalidArgumentError(`prompt type ${n} is not in 1..5`);
      out.push(promptTypeByNumber(n));
    } else if ((PROMPT_TYPES as readonly string[]).includes(part)) out.push(part as PromptType);
    else throw new InvalidArgumentError(`'${part}' is not 1..5, all, or one of ${PROMPT_TYPES.join(', ')}`);
  }
  return [...new Set(out)];
}

/** `1-5` or `1,2,3`. */
function parseFolds(v: string): number[] {
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (m) return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i);
  return v.split(',').map((s) => positiveInt(s.trim()));
}

const program = new Command('vlfer-exp-clip').description('Exp-CLIP: zero-shot facial expression recognition with CLIP (+ an LLM-knowledge projection head)');

program
  .command('eval')
  .description('zero-shot evaluation: writes metrics.json, confusion-matrix.csv, predictions.csv and config.resolved.json')
  .addOption(new Option('--dataset <kind>', 'dataset kind').choices(DATASET_KINDS).makeOptionMandatory())
  .requiredOption('--root <dir>', 'image root, or prefix for relative frame directories')
  .option('--annotations <file>', 'annotation file (RAF-DB list, AffectNet/FERPlus CSV, video list); {fold} is replaced per fold')
  .option('--folds <list>', "folds to evaluate, e.g. '1-5' (needs {fold} in --annotations); metrics are averaged over folds", parseFolds)
  .addOption(new Option('--split <split>', 'RAF-DB/FERPlus split').choices(['train', 'test']).default('test'))
  .requiredOption('--model <id|dir>', 'CLIP model: Hugging Face id (e.g. Xenova/clip-vit-base-patch32) or local directory')
  .option('--head <file>', 'Exp-CLIP projection head (.safetensors or released .pth); omitted = plain CLIP')
  .option('--prompts <types>', "prompt types: 1..5, 'all', or names, comma-separated", parsePromptTypes, parsePromptTypes('all'))
  .addOption(new Option('--preprocess <mode>', "'exp-clip' (224x224 bilinear, [0,1]) or 'clip' (model preprocessor)").choices(['clip', 'exp-clip']).default('exp-clip'))
  .addOption(new Option('--resizer <resizer>', "'pil' (bit-exact Pillow resampling) or 'sharp' (libvips)").choices(['pil', 'sharp']).default('pil'))
  .addOption(new Option('--ensemble <mode>', 'average logits (Exp-CLIP) or text embeddings').choices(['logits', 'embeddings']).default('logits'))
  .addOption(new Option('--dtype <dtype>').choices(['fp32', 'fp16', 'q8']).default('fp32'))
  .addOption(new Option('--device <device>').choices(['cpu', 'webgpu']).default('cpu'))
  .option('--batch-size <n>', 'images per encoder call', positiveInt, 32)
  .option('--preprocess-workers <n>', 'decode + resize on n worker threads (0: main thread)', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected an integer >= 0, got '${v}'`); return n; }, 0)
  .option('--frames <n>', 'frames sampled per video clip (segment centres)', positiveInt, 16)
  .addOption(new Option('--short-clip <policy>', 'clips with <= frames images').choices(['repeat-first', 'edge-pad']).default('repeat-first'))
  .addOption(new Option('--label-scheme <scheme>', 'video list label ids').choices(['dfer-clip', 'dfew-original', 'mafw-hesp']).default('dfer-clip'))
  .option('--rebase <from=to>', 'rewrite the start of frame-directory paths in the annotation list')
  .option('--limit <n>', 'only the first n items of each fold', positiveInt)
  .option('--cache-dir <dir>', 'feature cache directory (reused across runs)', '.vlfer-cache/features')
  .option('--no-cache', 'do not read or write the feature cache')
  .option('--out <dir>', 'output directory', `runs/exp-clip-eval/${new Date().toISOString().replace(/[:.]/g, '-')}`)
  .option('--no-progress', 'no progress bar')
  .option('--allow-remote', 'allow downloading models from the Hugging Face Hub', false)
  .action(async (o) => {
    configureModels({ allowRemoteModels: Boolean(o.allowRemote) });
    let rebase: { from: string; to: string } | undefined;
    if (o.rebase) {
      const i = String(o.rebase).indexOf('=');
      if (i <= 0) throw new InvalidArgumentError(`--rebase expects <from>=<to>, got '${o.rebase}'`);
      rebase = { from: o.rebase.slice(0, i), to: o.rebase.slice(i + 1) };
    }
    const result = await runEval({
      dataset: o.dataset, root: o.root, annotations: o.annotations, folds: o.folds, split: o.split, model: o.model,
      head: o.head, promptTypes: o.prompts, preprocess: o.preprocess, resizer: o.resizer, ensemble: o.ensemble, dtype: o.dtype, device: o.device,
      batchSize: o.batchSize, preprocessWorkers: o.preprocessWorkers, frames: o.frames, shortClip: o.shortClip, labelScheme: o.labelScheme, rebase, limit: o.limit,
      cacheDir: o.cache === false ? undefined : o.cacheDir, out: o.out, progress: o.progress !== false,
    });
    process.stdout.write(`${formatTable(result)}\n`);
  });

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`expected a positive number, got '${v}'`);
  return n;
}

program
  .command('train')
  .description('train the Exp-CLIP projection head on unlabelled faces against LLM-teacher targets; rerun to resume')
  .requiredOption('--unlabelled <dir>', 'unlabelled face images (recursive; class folders ignored)')
  .requiredOption('--model <id|dir>', 'CLIP model (Hugging Face id or local directory)')
  .addOption(new Option('--teacher <kind>', "'import' (precomputed targets) or 'http' (OpenAI-compatible embeddings server)").choices(['import', 'http']).makeOptionMandatory())
  .option('--targets <file>', 'import: targets file (.npy with --keys, .safetensors, .jsonl)')
  .option('--keys <file>', 'import: image path per target row (for .npy)')
  .option('--teacher-url <url>', 'http: server base URL, e.g. http://127.0.0.1:8000')
  .option('--teacher-model <name>', 'http: model name')
  .option('--instruction <id>', 'instruction id (exp-clip = the paper instruction)', 'exp-clip')
  .option('--epochs <n>', 'epochs', positiveInt, 5)
  .option('--batch <n>', 'batch size (last partial batch dropped)', positiveInt, 512)
  .option('--lr <x>', 'learning rate', positiveNumber, 1e-3)
  .addOption(new Option('--optimizer <name>').choices(['sgd', 'adam']).default('sgd'))
  .option('--momentum <x>', 'SGD momentum', Number, 0.9)
  .option('--weight-decay <x>', 'weight decay', Number, 1e-4)
  .option('--seed <n>', 'seed (head init and shuffles)', Number, 1)
  .addOption(new Option('--preprocess <mode>').choices(['clip', 'exp-clip']).default('exp-clip'))
  .addOption(new Option('--dtype <dtype>').choices(['fp32', 'fp16', 'q8']).default('fp32'))
  .addOption(new Option('--device <device>').choices(['cpu', 'webgpu']).default('cpu'))
  .option('--cache-dir <dir>', 'feature and target cache', '.vlfer-cache')
  .option('--out <dir>', 'output directory', 'runs/exp-clip-train')
  .option('--no-progress', 'no progress output')
  .option('--allow-remote', 'allow downloading models from the Hugging Face Hub', false)
  .action(async (o) => {
    configureModels({ allowRemoteModels: Boolean(o.allowRemote) });
    const source = o.teacher === 'import' ? o.targets : o.teacherUrl;
    if (!source) throw new InvalidArgumentError(o.teacher === 'import' ? '--targets is required with --teacher import' : '--teacher-url is required with --teacher http');
    let stop = false;
    process.on('SIGINT', () => {
      if (stop) process.exit(130);
      stop = true;
      process.stderr.write('\nstopping after this step and writing a checkpoint (Ctrl-C again to abort without one)\n');
    });
    const r = await runTrain({
      unlabelled: o.unlabelled, model: o.model, teacher: o.teacher, teacherSource: source, teacherKeys: o.keys, teacherModel: o.teacherModel, instruction: o.instruction,
      epochs: o.epochs, batch: o.batch, lr: o.lr, optimizer: o.optimizer, momentum: o.momentum, weightDecay: o.weightDecay, seed: o.seed,
      preprocess: o.preprocess, dtype: o.dtype, device: o.device, cacheDir: o.cacheDir, out: o.out, progress: o.progress !== false,
    }, { shouldStop: () => stop });
    process.stdout.write(`${r.status}: ${r.steps} steps, loss ${r.firstLoss?.toFixed(4)} → ${r.lastLoss?.toFixed(4)}; head ${r.headPath}\n`);
    if (r.status === 'stopped') {
      process.stdout.write('interrupted: rerun the same command to resume from the checkpoint\n');
      process.exitCode = 130;
    }
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`vlfer-exp-clip: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
