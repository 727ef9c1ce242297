/**
 * @file `vlfer exp-clip eval | train`: the Exp-CLIP commands. Parse flags, draw progress, print results; the work is
 * `evaluateZeroShot` and `trainHead` of @vlfer/exp-clip.
 */
import { Command, InvalidArgumentError } from 'commander';
import {
  commandHooks,
  facesFromFlags,
  refuseFilesAsDirectories,
  refuseInapplicableFlags,
  shardFromFlags,
} from '@vlfer/cli-kit';
import { evalOptionUses, evaluateZeroShot, formatEvalTable, trainHead, trainOptionUses } from '@vlfer/exp-clip';
import type { OptimizerName } from '@vlfer/losses';
import type { DatasetId } from '@vlfer/datasets';
import { configureModels, type ClipDtype } from '@vlfer/encoders/node';
import { NAME } from '../name.js';
import { evalCommand, FLAG_NAMES, trainCommand } from './options.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The flags of the teacher not chosen, typed on the command line, are refused naming both (`--teacher-url` with
 * `--teacher import` did nothing), and so are those `trainOptionUses` of @vlfer/exp-clip says the training would not
 * use: `--keys` beside a targets file that holds its own keys (not .npy), `--momentum` with `--optimizer adam`.
 * @throws InvalidArgumentError `--teacher-url: for --teacher http; --teacher import reads --targets`
 */
function refuseUnusedTrainFlags(cmd: Command, o: Record<string, unknown>): void {
  const source = String((o.teacher === 'import' ? o.targets : o.teacherUrl) ?? '');
  const uses = trainOptionUses({
    teacher: o.teacher as 'import' | 'http',
    teacherSource: source,
    optimizer: o.optimizer as OptimizerName,
  });
  refuseInapplicableFlags(
    cmd,
    [
      ['teacherUrl', o.teacher !== 'import', 'for --teacher http; --teacher import reads --targets'],
      ['targets', o.teacher !== 'http', 'for --teacher import; --teacher http asks --teacher-url'],
      ...uses.map(({ key, applies, why }) => [key, applies, why] as const),
    ],
    FLAG_NAMES,
  );
}

/**
 * Flags typed on the command line that this evaluation would not use (`evalOptionUses` of @vlfer/exp-clip: the
 * dataset has no such part, or the option they refine is not chosen) are refused, naming the flag, even at their
 * default value: accepted, they did nothing (the library refuses other values, recorded as a choice).
 * @throws InvalidArgumentError `--split: dataset image-folder has no train/test split to choose (…)`
 */
function refuseUnusedEvalFlags(cmd: Command, o: Record<string, unknown>): void {
  const uses = evalOptionUses({
    dataset: o.dataset as DatasetId,
    dtype: o.dtype as ClipDtype,
    limit: o.limit as number,
  });
  refuseInapplicableFlags(
    cmd,
    uses.map(({ key, applies, why }) => [key, applies, why] as const),
    FLAG_NAMES,
  );
}

/** `exp-clip` with its subcommands `eval` and `train`. */
export function expClipCommand(): Command {
  const program = new Command('exp-clip').description(
    'Exp-CLIP: zero-shot facial expression recognition with CLIP (+ an LLM-knowledge projection head)',
  );
  program.addCommand(
    evalCommand().action(async (o, cmd: Command) => {
      configureModels({ allowRemoteModels: Boolean(o.allowRemote) });
      if (o.cache !== false) refuseFilesAsDirectories(o, { cacheDir: '--cache-dir' });
      refuseUnusedEvalFlags(cmd, o);
      const shard = shardFromFlags(o, log);
      // the default --out is new at every start: shards and their merge would each get their own
      if ((shard || o.merge) && cmd.getOptionValueSource('out') === 'default')
        throw new InvalidArgumentError(
          `${shard ? `shard ${shard.index}/${shard.count}` : `--merge ${o.merge}`} needs --out, one directory given to every shard and to the merge (the default, runs/exp-clip-eval/<start time>, differs at every start)`,
        );
      const hooks = commandHooks(NAME, o);
      const r = await evaluateZeroShot(
        {
          dataset: o.dataset,
          root: o.root,
          annotations: o.annotations,
          folds: o.folds,
          split: o.split,
          model: o.model,
          tokenizer: o.tokenizer,
          head: o.head,
          promptTypes: o.prompts,
          labelSet: o.labelSet,
          classes: o.classes,
          preprocess: o.preprocess,
          resizer: o.resizer,
          ensemble: o.ensemble,
          logitScale: o.logitScale,
          dtype: o.dtype,
          quantizationSample: o.int8GuardSample,
          acceptInaccurateQuantization: o.acceptInaccurateInt8 === true,
          device: o.device,
          threads: o.threads,
          batchSize: o.batchSize,
          preprocessWorkers: o.preprocessWorkers,
          frames: o.frames,
          shortClip: o.shortClip,
          labelScheme: o.labelScheme,
          rebase: o.rebase,
          duplicates: o.duplicates,
          allowOutsideRoot: o.allowOutsideRoot === true,
          extraFiles: o.extraFiles,
          folderIds: o.folderIds,
          views: o.views,
          peakFrames: o.peakFrames,
          limit: o.limit,
          subsetSeed: o.subsetSeed,
          cacheDir: o.cache === false ? undefined : o.cacheDir,
          faces: facesFromFlags(o),
          shard,
          merge: o.merge,
          out: o.out,
          overwrite: o.overwrite === true,
        },
        hooks,
      ).finally(hooks.stop);
      process.stdout.write(
        r.shard
          ? `shard ${r.shard.index}/${r.shard.count} encoded ${r.counts.encoded} images (${r.counts.cached} cached); merge with --merge ${r.shard.count}\n`
          : `${formatEvalTable(r)}\n`,
      );
    }),
  );

  program.addCommand(
    trainCommand().action(async (o, cmd: Command) => {
      configureModels({ allowRemoteModels: Boolean(o.allowRemote) });
      if (o.cache !== false) refuseFilesAsDirectories(o, { cacheDir: '--cache-dir' });
      refuseUnusedTrainFlags(cmd, o);
      const source = o.teacher === 'import' ? o.targets : o.teacherUrl;
      if (!source)
        throw new InvalidArgumentError(
          o.teacher === 'import'
            ? '--targets is required with --teacher import'
            : '--teacher-url is required with --teacher http',
        );
      const shard = shardFromFlags(o, log);
      const hooks = commandHooks(NAME, o);
      const r = await trainHead(
        {
          unlabelled: o.unlabelled,
          model: o.model,
          tokenizer: o.tokenizer,
          teacher: o.teacher,
          teacherSource: source,
          teacherKeys: o.keys,
          teacherModel: o.teacherModel,
          teacherReplyModel: o.teacherReplyModel,
          teacherTimeoutMs: Math.ceil(o.teacherTimeout * 1000), // 0.0001 s is 1 ms, not a refused 0
          teacherRetries: o.teacherRetries,
          teacherConcurrency: o.teacherConcurrency,
          instruction: o.instruction,
          epochs: o.epochs,
          batch: o.batch,
          encodeBatchSize: o.encodeBatchSize,
          lr: o.lr,
          milestones: o.milestones,
          optimizer: o.optimizer,
          momentum: o.momentum,
          weightDecay: o.weightDecay,
          seed: o.seed,
          outputDim: o.outputDim,
          preprocess: o.preprocess,
          resizer: o.resizer,
          dtype: o.dtype,
          device: o.device,
          threads: o.threads,
          checkpointSeconds: o.checkpointSeconds,
          cacheDir: o.cache === false ? undefined : o.cacheDir,
          faces: facesFromFlags(o),
          shard,
          merge: o.merge,
          out: o.out,
        },
        // the token from the environment, not a flag: a flag's value is seen in the process list and shell history
        {
          ...hooks,
          ...(process.env.VLFER_TEACHER_API_KEY ? { teacherApiKey: process.env.VLFER_TEACHER_API_KEY } : {}),
        },
      ).finally(hooks.stop);
      if (r.shard) {
        // a shard only fills the caches: say what it wrote and how to get the head
        process.stdout.write(
          `shard ${r.shard.index}/${r.shard.count}: ${r.shard.images} images encoded with their teacher targets (${r.shard.unitsDone} of ${r.shard.units} units) into the caches; record ${r.shard.record}. No head yet: when all ${r.shard.count} shards have finished, run the same command with --merge ${r.shard.count} (without --shard) to train it into ${r.headPath}\n`,
        );
        return;
      }
      if (r.status === 'already-trained') {
        process.stdout.write(`already trained: ${r.resumedFrom!.epoch} epochs, nothing to run; head ${r.headPath}\n`);
        return;
      }
      process.stdout.write(
        `${r.status}: ${r.steps} steps${r.resumedFrom ? ` (resumed at epoch ${r.resumedFrom.epoch + 1}, step ${r.resumedFrom.step + 1})` : ''}${r.firstLoss !== null ? `, loss ${r.firstLoss.toFixed(4)} → ${r.lastLoss!.toFixed(4)}` : ''}; head ${r.headPath}\n`,
      );
    }),
  );
  return program;
}
