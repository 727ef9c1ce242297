/** @file `vlfer bench ablations | paper`: the ablation runner and the paper tables of @vlfer/bench. */
import { Command } from 'commander';
import { ablationsCommand } from './ablations.js';
import { paperCommand } from './paper.js';

/** Flags spelled otherwise than the library option they set (for error messages). */
export const FLAG_NAMES = { dataRoot: '--data-root' };

/** `bench` with its subcommands `ablations` and `paper`. */
export function benchCommand(): Command {
  return new Command('bench')
    .description('ablations over methods, backbones, datasets, prompts and seeds; the paper tables')
    .addCommand(ablationsCommand())
    .addCommand(paperCommand());
}
