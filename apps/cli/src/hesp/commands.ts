/** @file `vlfer hesp train | eval`: HESP open-set video FER. Parse flags, draw progress, print; the work is @vlfer/hesp. */
import { Command } from 'commander';
import { commandHooks, facesFromFlags, refuseInapplicableFlags } from '@vlfer/cli-kit';
import { configureModels } from '@vlfer/encoders/node';
import { evaluateHespRun, hespOptionUses, trainHesp } from '@vlfer/hesp';
import { NAME } from '../name.js';
import { evalCommand, trainCommand } from './options.js';

const pct = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(2));
/** `hesp` with its subcommands `train` and `eval`. */
export function hespCommand(): Command {
  const program = new Command('hesp').description(
    'HESP: open-set video FER with expression-sensitive prompting on a frozen CLIP',
  );
  program.addCommand(
    trainCommand().action(async (o, cmd: Command) => {
      refuseInapplicableFlags(
        cmd,
        hespOptionUses({ selectOn: o.selectOn }).map(({ key, applies, why }) => [key, applies, why] as const),
      );
      if (o.location && o.location.length !== 2)
        throw new Error(`--location expects <row>,<col>, got ${o.location.join(',')}`);
      configureModels({ allowRemoteModels: Boolean(o.allowRemote) });
      const hooks = commandHooks(NAME, o);
      const r = await trainHesp(
        {
          dataset: o.dataset,
          trainAnnotations: o.train,
          testAnnotations: o.test,
          root: o.root,
          labelScheme: o.labelScheme,
          labelSet: o.labelSet,
          classes: o.classes,
          rebase: o.rebase,
          duplicates: o.duplicates,
          allowOutsideRoot: o.allowOutsideRoot === true,
          splitIndex: o.split,
          known: o.known,
          model: o.model,
          tokenizer: o.tokenizer,
          ...(o.location ? { location: { row: o.location[0], col: o.location[1] } } : {}),
          epochs: o.epochs,
          batch: o.batch,
          frames: o.frames,
          lr: o.lr,
          seed: o.seed,
          valFraction: o.valFraction,
          selectOn: o.selectOn,
          selectionMetrics: o.selectionMetrics,
          augment: o.augment !== false,
          checkpointEvery: o.checkpointEvery,
          device: o.device,
          threads: o.threads,
          referenceBehaviour: {
            alphabeticalClassNames: Boolean(o.referenceClassOrder),
            zeroContextGradient: Boolean(o.referenceZeroContextGrad),
          },
          faces: facesFromFlags(o),
          out: o.out,
        },
        hooks,
      ).finally(hooks.stop);
      const b = r.best?.test;
      process.stdout.write(
        b
          ? `best epoch ${r.best!.epoch}: test closed-set acc ${pct(b.closed_set_accuracy)}, AUROC ${pct(b.auroc_arpl)} (ARPL) / ${pct(b.auroc_standard)} (standard), OSCR ${pct(b.oscr_arpl)} / ${pct(b.oscr_standard)} (results in ${r.outDir})\n`
          : `no epoch run (results in ${r.outDir})\n`,
      );
    }),
  );

  program.addCommand(
    evalCommand().action(async (o) => {
      // the evaluation's lines are its result: stdout
      configureModels({ allowRemoteModels: Boolean(o.allowRemote) });
      const hooks = commandHooks(NAME, o, (line) => process.stdout.write(`${line}\n`));
      await evaluateHespRun(o.run, hooks).finally(hooks.stop);
    }),
  );
  return program;
}
