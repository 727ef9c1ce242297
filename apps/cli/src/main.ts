#!/usr/bin/env node
/**
 * @file `vlfer`: the published command line of the toolkit — `vlfer exp-clip eval | train`, `vlfer hesp train |
 * eval`, `vlfer bench ablations | paper`, `vlfer data export-fer2013`. Each subcommand parses flags, draws progress and prints; the work is a library function of a package
 * (`evaluateZeroShot`, `trainHead`, `trainHesp`, `evaluateHespRun`, `runAblation`, `runPaperTable`). Every error, commander's parse errors included,
 * starts with `vlfer: `; `--version` prints the package's version.
 */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { longFlags, runMain } from '@vlfer/cli-kit';
import { expClipCommand } from './exp-clip/commands.js';
import { FLAG_NAMES as EXP_CLIP_FLAGS } from './exp-clip/options.js';
import { benchCommand, FLAG_NAMES as BENCH_FLAGS } from './bench/commands.js';
import { dataCommand, FLAG_NAMES as DATA_FLAGS } from './data/commands.js';
import { hespCommand } from './hesp/commands.js';
import { FLAG_NAMES as HESP_FLAGS } from './hesp/options.js';
import { NAME } from './name.js';

/** The version of @vlfer/cli (its package.json: one level above both `src/` and `dist/`). */
const version = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** The `vlfer` program: its subcommands, `--version`, and one message style for every command's errors. */
export function vlferProgram(): Command {
  const program = new Command(NAME)
    .description(
      'vision-language facial expression recognition: Exp-CLIP, HESP and their ablations from the command line',
    )
    .version(version, '-V, --version', 'print the version of @vlfer/cli')
    .addCommand(expClipCommand())
    .addCommand(hespCommand())
    .addCommand(benchCommand())
    .addCommand(dataCommand());
  // commander writes its own parse errors as `error: …`; subcommands added with addCommand do not inherit output
  // settings, so every command gets the same one
  const output = {
    outputError: (message: string, write: (s: string) => void) => write(message.replace(/^error: /, `${NAME}: `)),
  };
  const configure = (c: Command): void => {
    c.configureOutput(output);
    // help shows a default as it is typed: `(default: model)`, not commander's JSON `(default: "model")`
    for (const o of c.options)
      if (typeof o.defaultValue === 'string' && o.defaultValueDescription === undefined)
        o.defaultValueDescription = o.defaultValue;
    c.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/**
 * The pipeline functions each subcommand calls with its flags: every argument of theirs is a flag of that command
 * (`vlfer bench` runs evaluateZeroShot too, but with paths of its own making: `root` is no flag of bench).
 */
const ENTRY_POINTS: Record<string, string[]> = {
  'exp-clip': ['evaluateZeroShot', 'trainHead'],
  hesp: ['trainHesp', 'evaluateHespRun'],
  bench: ['planPaperTable'],
  data: ['exportFer2013Csv'],
};

const sub = process.argv[2] ?? '';
const program = vlferProgram();
runMain(
  NAME,
  () => program.parseAsync(process.argv).then(() => undefined),
  { ...EXP_CLIP_FLAGS, ...HESP_FLAGS, ...BENCH_FLAGS, ...DATA_FLAGS },
  ENTRY_POINTS[sub] ?? Object.values(ENTRY_POINTS).flat(),
  // the functions these call check some options themselves (loadEvalData: --annotations, resolveLabelSet:
  // --label-set, …): their errors name the flag too, never the function; only the flags of the command that ran
  longFlags(program.commands.find((c) => c.name() === sub) ?? program),
);
