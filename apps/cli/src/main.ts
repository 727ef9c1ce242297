#!/usr/bin/env node
/**
 * @file `vlfer`: the published command line of the toolkit — `vlfer exp-clip eval | train`, `vlfer hesp train |
 * eval`, `vlfer bench ablations | paper`, `vlfer data export-fer2013`. Each subcommand parses flags, draws progress and prints; the work is a library function of a package
 * (`evaluateZeroShot`, `trainHead`, `trainHesp`, `evaluateHespRun`, `runAblation`, `runPaperTable`). Every error, commander's parse errors included,
 * starts with `vlfer: `; `--version` prints the package's version.
 */
import { longFlags, runMain } from '@vlfer/cli-kit';
import { FLAG_NAMES as EXP_CLIP_FLAGS } from './exp-clip/options.js';
import { FLAG_NAMES as BENCH_FLAGS } from './bench/commands.js';
import { FLAG_NAMES as DATA_FLAGS } from './data/commands.js';
import { FLAG_NAMES as HESP_FLAGS } from './hesp/options.js';
import { NAME } from './name.js';
import { vlferProgram } from './program.js';

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
