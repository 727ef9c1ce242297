/** @file The flags of `vlfer exp-clip` (commander option definitions; the library validates the values again). */
import { Command, Option } from 'commander';
import { COMPUTE_DEVICES, MAX_TIMER_MS } from '@vlfer/core';
import { DATASET_IDS, KDEF_VIEWS, LABEL_SCHEMES, NATIVE_LABEL_SCHEMES, SHORT_CLIP_POLICIES } from '@vlfer/datasets';
import { PREPROCESS_MODES } from '@vlfer/encoders';
import { CLIP_DTYPES, RESIZERS } from '@vlfer/encoders/node';
import { PROMPT_TYPES, promptTypeByNumber, type PromptType } from '@vlfer/llm-knowledge';
import { OPTIMIZERS } from '@vlfer/losses';
import {
  addFaceOptions,
  FACE_FLAG_NAMES,
  foldList,
  integer,
  integerList,
  number,
  rebasePair,
  shardFlag,
  stringList,
} from '@vlfer/cli-kit';
import { InvalidArgumentError } from 'commander';

/** `--milestones`: comma-separated epochs (`30`, `10,20`) or `none`. */
function milestoneList(v: string): number[] {
  if (v.trim() === 'none') return [];
  if (!/^\s*\d+(\s*,\s*\d+)*\s*$/.test(v))
    throw new InvalidArgumentError(`expected comma-separated epochs such as 30 or 10,20, or 'none'; got '${v}'`);
  return integerList(v.replace(/\s+/g, ''));
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

/** `--logit-scale`: `model` or a positive number. */
export function parseLogitScale(v: string): 'model' | number {
  if (v === 'model') return 'model';
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected 'model' or a positive number, got '${v}'`);
  return n;
}

/** Flags spelled otherwise than the library option they set (for error messages). */
export const FLAG_NAMES = {
  promptTypes: '--prompts',
  teacherSource: '--targets / --teacher-url',
  teacherKeys: '--keys',
  teacherTimeoutMs: '--teacher-timeout',
  quantizationSample: '--int8-guard-sample',
  acceptInaccurateQuantization: '--accept-inaccurate-int8',
  baseUrl: '--teacher-url',
  ...FACE_FLAG_NAMES,
};

const common = (c: Command) =>
  addFaceOptions(c)
    .requiredOption(
      '--model <id|dir|file.pt>',
      'CLIP: Hugging Face id, local directory (ONNX or config.json + model.safetensors) or OpenAI .pt checkpoint',
    )
    .option(
      '--tokenizer <dir>',
      'CLIP tokenizer directory, for a model without tokenizer.json (OpenAI .pt checkpoints hold none)',
    )
    .addOption(
      new Option(
        '--preprocess <mode>',
        "'exp-clip' (224x224 bilinear, [0,1]), 'clip' (Hugging Face CLIPImageProcessor) or 'openai' (OpenAI clip.load's transform)",
      )
        .choices(PREPROCESS_MODES)
        .default('exp-clip'),
    )
    .addOption(
      new Option('--resizer <resizer>', "'pil' (bit-exact Pillow resampling) or 'sharp' (libvips)")
        .choices(RESIZERS)
        .default('pil'),
    )
    .addOption(new Option('--dtype <dtype>').choices(CLIP_DTYPES).default('fp32'))
    .addOption(new Option('--device <device>').choices(COMPUTE_DEVICES).default('cpu'))
    .option(
      '--threads <n>',
      'ONNX Runtime threads (default: every CPU this process may use; env VLFER_THREADS)',
      integer(1),
    )
    .option('--no-progress', 'no progress bars')
    .option('--allow-remote', 'allow downloading models from the Hugging Face Hub', false);

export function evalCommand(): Command {
  return common(
    new Command('eval')
      .description(
        'zero-shot evaluation: publishes metrics.json, confusion-matrix.csv, predictions.csv, config.resolved.json (+ run.json)',
      )
      .addOption(new Option('--dataset <id>', 'dataset').choices(DATASET_IDS).makeOptionMandatory())
      .requiredOption('--root <dir>', 'image root, or prefix for relative frame directories')
      .option(
        '--annotations <file>',
        'annotation file (RAF-DB list, AffectNet/FERPlus CSV, video list); {fold} is replaced per fold',
      )
      .option(
        '--folds <list>',
        "folds, e.g. '1-5' or '1,3' (needs {fold} in --annotations; default for DFEW and MAFW: 1-5); metrics are averaged over folds",
        foldList,
      )
      .addOption(new Option('--split <split>', 'RAF-DB/FERPlus split').choices(['train', 'test']).default('test'))
      .option('--head <file>', 'Exp-CLIP projection head (.safetensors or released .pth); omitted = plain CLIP')
      .addOption(
        new Option('--prompts <types>', "prompt types: 1..5, 'all', or names, comma-separated")
          .argParser(parsePromptTypes)
          .default(parsePromptTypes('all'), 'all'),
      )
      .option(
        '--shard <i/n>',
        'encode only shard i of n (i from 0: 0/4 … 3/4) into the caches (default: from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX + VLFER_SHARD_COUNT); then run once with --merge n',
        shardFlag,
      )
      .option(
        '--merge <n>',
        'check that the n shards finished, then evaluate from the cache (writes what one unsharded run writes)',
        integer(1),
      )
      .option(
        '--label-set <name|file.json>',
        'label set: a built-in id (basic-7, basic-8, contempt-7, ckplus-7-native, affectnet-8-native, ferplus-8-native, …) or a JSON file',
      )
      .option(
        '--classes <a,b,c>',
        'class names in label order (an ad-hoc label set); class folders are matched by name or common spelling',
        stringList,
      )
      .addOption(
        new Option('--ensemble <mode>', 'average logits (Exp-CLIP) or text embeddings')
          .choices(['logits', 'embeddings'])
          .default('logits'),
      )
      .option(
        '--logit-scale <model|number>',
        "multiplier of the cosine logits in the probabilities: 'model' = the checkpoint's exp(logit_scale) (100 when it holds none), or a number from 1e-30 to 1e30; predictions and metrics do not change",
        parseLogitScale,
        'model',
      )
      .option('--batch-size <n>', 'images per encoder call', integer(1), 32)
      .option('--preprocess-workers <n>', 'decode + resize on n worker threads (0: main thread)', integer(0), 0)
      .option('--frames <n>', 'frames sampled per video clip (segment centres)', integer(1), 16)
      .addOption(
        new Option('--short-clip <policy>', 'clips with <= frames images')
          .choices(SHORT_CLIP_POLICIES)
          .default('repeat-first'),
      )
      .addOption(
        new Option(
          '--label-scheme <scheme>',
          "what a video list's label ids mean (default: the dataset's, dfer-clip; label-set: positions in --label-set/--classes)",
        ).choices(LABEL_SCHEMES),
      )
      .option('--rebase <from=to>', 'rewrite the start of frame-directory paths in the annotation list', rebasePair)
      .option(
        '--allow-outside-root',
        'read annotation paths that leave --root (../x, absolute paths elsewhere); refused by default',
      )
      .addOption(
        new Option('--duplicates <policy>', 'a second row for the same image or clip')
          .choices(['error', 'drop'])
          .default('error'),
      )
      .addOption(
        new Option('--extra-files <policy>', 'non-image files in class folders')
          .choices(['error', 'skip'])
          .default('error'),
      )
      .addOption(
        new Option(
          '--folder-ids <dataset>',
          "class folders named by a dataset's label ids, e.g. raf-db (1..7: 1 surprise), affectnet (0..7: 0 neutral)",
        ).choices(NATIVE_LABEL_SCHEMES),
      )
      .option(
        '--views <list>',
        'kdef: the views read, comma-separated of FL, HL, S, HR, FR (S: the 980 straight images); default all five',
        viewsFlag,
      )
      .option(
        '--peak-frames <n>',
        'ckplus, ckplus8: the last n frames of each labelled sequence, up to its peak (1: the 327-image protocol) (default: 3)',
        integer(1),
      )
      .option('--limit <n>', 'a class-stratified, seeded subset of n items per fold (named in the outputs)', integer(1))
      .option('--subset-seed <n>', 'seed of the --limit subset (and of the --dtype int8 guard sample)', integer(), 0)
      .option(
        '--int8-guard-sample <n>',
        '--dtype int8: images of the run encoded in fp32 and int8 before it; refused unless every cosine >= 0.999 and the zero-shot argmax agrees on >= 99 %',
        integer(1),
        64,
      )
      .option(
        '--accept-inaccurate-int8',
        '--dtype int8: run even when the guard fails (recorded in metrics.json)',
        false,
      )
      .option(
        '--cache-dir <dir>',
        'feature cache directory (checked entries, reused across runs)',
        '.vlfer-cache/features',
      )
      .option('--no-cache', 'do not read or write the feature cache')
      .addOption(
        new Option(
          '--out <dir>',
          'output directory (locked while running); one that holds an earlier result set is refused without --overwrite',
        ).default(
          `runs/exp-clip-eval/${new Date().toISOString().replace(/[:.]/g, '-')}`,
          'runs/exp-clip-eval/<start time>',
        ),
      )
      .option('--overwrite', 'replace the result set an earlier evaluation published in --out (as one set)', false),
  );
}

export function trainCommand(): Command {
  return common(
    new Command('train')
      .description(
        'train the Exp-CLIP projection head on unlabelled faces against LLM-teacher targets; rerun the same command to resume',
      )
      .requiredOption('--unlabelled <dir>', 'unlabelled face images (recursive; class folders ignored)')
      .addOption(
        new Option('--teacher <kind>', "'import' (precomputed targets) or 'http' (OpenAI-compatible embeddings server)")
          .choices(['import', 'http'])
          .makeOptionMandatory(),
      )
      .option('--targets <file>', 'import: targets file (.npy with --keys, .safetensors, .jsonl)')
      .option('--keys <file>', 'import: image path per target row (for .npy)')
      .option(
        '--teacher-url <url>',
        'http: server base URL with scheme, e.g. http://127.0.0.1:8000 (a token goes in $VLFER_TEACHER_API_KEY, sent as Authorization: Bearer)',
      )
      .option('--teacher-model <name>', 'http: model name')
      .option(
        '--teacher-reply-model <names>',
        "http: the model name the server's replies report, where not --teacher-model (a proxy's alias), or several, comma-separated (a router's deployments); replies naming another model are refused",
        (v: string) => v.split(',').map((x) => x.trim()),
      )
      .option(
        '--teacher-timeout <seconds>',
        'http: per-request timeout',
        number({ positive: true, max: MAX_TIMER_MS / 1000 }),
        60,
      )
      .option(
        '--teacher-retries <n>',
        'http: retries after network errors, timeouts, 5xx or bad replies',
        integer(0),
        3,
      )
      .option('--teacher-concurrency <n>', 'http: requests in flight', integer(1), 8)
      .option('--instruction <id>', 'instruction id (exp-clip = the paper instruction)', 'exp-clip')
      .option('--epochs <n>', 'epochs', integer(1), 5)
      .option('--batch <n>', 'batch size (last partial batch dropped)', integer(1), 512)
      .option('--encode-batch-size <n>', 'images per encoder call (and per shard unit)', integer(1), 32)
      .option('--lr <x>', 'learning rate', number({ positive: true }), 1e-3)
      .addOption(
        new Option(
          '--milestones <epochs>',
          "comma-separated epochs (0-based) from which the learning rate is ×0.1 once more (MultiStepLR), or 'none': constant",
        )
          .argParser(milestoneList)
          .default([30], '30'),
      )
      .addOption(new Option('--optimizer <name>').choices(OPTIMIZERS).default('sgd'))
      .option('--momentum <x>', 'SGD momentum', number(), 0.9)
      .option('--weight-decay <x>', 'weight decay', number(), 1e-4)
      .option('--seed <n>', 'seed (head init and shuffles)', integer(), 1)
      .option(
        '--output-dim <n>',
        "head output dimension (the teacher's embedding size; Exp-CLIP: 4096)",
        integer(1),
        4096,
      )
      .option('--checkpoint-seconds <s>', 'seconds between mid-epoch checkpoints', number({ positive: true }), 60)
      .option(
        '--shard <i/n>',
        'only encode and fetch targets for shard i of n (i from 0: 0/4 … 3/4) into the caches (default: from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX + VLFER_SHARD_COUNT); then train once with --merge n',
        shardFlag,
      )
      .option('--merge <n>', 'check that the n shards finished, then train from the caches', integer(1))
      .option('--cache-dir <dir>', 'feature and target cache', '.vlfer-cache')
      .option('--no-cache', 'do not read or write the caches')
      .option('--out <dir>', 'output directory (locked while running)', 'runs/exp-clip-train'),
  );
}

/** Commander parser: `--views S,HL`, KDEF views, each one of FL, HL, S, HR, FR (upper case, as the file names). */
export function viewsFlag(v: string): string[] {
  const views = v.split(',').map((x) => x.trim());
  const bad = views.filter((x) => !(KDEF_VIEWS as readonly string[]).includes(x));
  if (bad.length > 0)
    throw new InvalidArgumentError(
      `expected comma-separated KDEF views of ${KDEF_VIEWS.join(', ')}, got ${bad.map((x) => `'${x}'`).join(', ')}`,
    );
  return views;
}
