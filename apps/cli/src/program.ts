/** @file The `vlfer` program (commander): its subcommands, `--version` and one message style for every error. */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { repeatedFlags } from '@vlfer/cli-kit';
import { expClipCommand } from './exp-clip/commands.js';
import { benchCommand } from './bench/commands.js';
import { dataCommand } from './data/commands.js';
import { hespCommand } from './hesp/commands.js';
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
    // one line per problem: commander's suggestion for a misspelt flag goes on the line that names it
    outputError: (message: string, write: (s: string) => void) =>
      write(message.replace(/^error: /, `${NAME}: `).replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')),
  };
  const configure = (c: Command): void => {
    c.configureOutput(output);
    requiredAfterUnknown(c);
    warnRepeatedFlags(c);
    suggestForFlagEqualsValue(c);
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
 * Commander checks required options before unknown ones, so `--datset x` was reported as `--dataset` missing, never
 * naming the misspelt flag: the required options of `c` are checked after the unknown ones instead (in a preAction
 * hook, with commander's own message), so the misspelt flag is named first, with commander's suggestion.
 */
function requiredAfterUnknown(c: Command): void {
  const required = c.options.filter((o) => o.mandatory);
  for (const o of required) o.makeOptionMandatory(false);
  if (required.length)
    c.hook('preAction', (cmd, action) => {
      if (action !== cmd) return;
      for (const o of required)
        if (cmd.getOptionValue(o.attributeName()) === undefined)
          cmd.error(`error: required option '${o.flags}' not specified`, {
            code: 'commander.missingMandatoryOptionValue',
          });
    });
}

/**
 * A flag given twice with different values takes the last (commander's rule, and a job script may override a flag
 * set earlier): said on stderr before the command runs, so a stray duplicate in a long command line is seen.
 */
function warnRepeatedFlags(c: Command): void {
  c.hook('preAction', (cmd, action) => {
    if (action !== cmd) return;
    let root: Command = cmd;
    while (root.parent) root = root.parent;
    const tokens = (root as unknown as { rawArgs?: string[] }).rawArgs ?? [];
    for (const line of repeatedFlags(cmd, tokens)) process.stderr.write(`${NAME}: warning: ${line}\n`);
  });
}

/**
 * Commander matches a misspelt `--flag=value` against the known flags as the whole token, so `--datset=fer2013` got
 * no suggestion: `c` reports such a token by its flag (`unknown option '--datset' (did you mean --dataset?)`).
 */
function suggestForFlagEqualsValue(c: Command): void {
  // unknownOption is commander's (14) own hook for an unknown flag, not in its type declarations
  const internal = c as unknown as { unknownOption(flag: string): void };
  const unknownOption = internal.unknownOption.bind(c);
  internal.unknownOption = (flag) => unknownOption(/^--[^=]+=/.test(flag) ? flag.slice(0, flag.indexOf('=')) : flag);
}
