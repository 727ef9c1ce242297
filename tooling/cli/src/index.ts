/**
 * @file What vlfer's command-line apps share (apps never import each other): progress bars drawn from the
 * packages' progress events, SIGINT/SIGTERM and parent death turned into an AbortSignal, errors printed by name
 * with option paths mapped to flags, and strict option parsers for commander.
 */
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { type Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import {
  AbortedError,
  DataFormatError,
  InvalidArgumentError,
  OptionsError,
  parseShard,
  shardFromEnv,
  type ProgressCallback,
  type ProgressEvent,
  type Shard,
} from '@vlfer/core';

/**
 * `weightDecay` → `--weight-decay`, or the flag `flags` names for options the CLI spells otherwise: the whole path
 * (`faces.modelDir` → `--face-models`), else its first part (`teacher.url` → the flag of `teacher`).
 */
export function flagOf(path: string, flags: Readonly<Record<string, string>> = {}): string {
  const first = path.split('.')[0] ?? path;
  return flags[path] ?? flags[first] ?? `--${first.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Seconds as `42s`, `3m05s` or `2h07m` (progress ETAs). */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Progress bars on stderr, one per phase, with rate, ETA and the cached count; a no-op when disabled. Step
 * phases show the loss of the last step.
 */
export function progressBars(enabled: boolean): ProgressCallback & { stop(): void } {
  let bar: SingleBar | undefined;
  let phase = '';
  let t0 = 0;
  let first = 0;
  const stop = () => {
    bar?.stop();
    bar = undefined;
    phase = '';
  };
  const report = ((e: ProgressEvent) => {
    if (!enabled) return;
    if (e.phase !== phase) {
      stop();
      phase = e.phase;
      bar = new SingleBar(
        {
          format: `${e.phase} [{bar}] {percentage}% | {value}/{total} ${e.unit} | {rate} ${e.unit}/s | ETA {remaining}{extra}`,
          stream: process.stderr,
          noTTYOutput: true,
          notTTYSchedule: 10_000,
          barsize: 30,
        },
        Presets.shades_classic,
      );
      bar.start(e.total, e.done, { rate: '-', remaining: e.done >= e.total ? '0s' : '-', extra: '' });
      t0 = performance.now();
      first = e.done - (e.cached ?? 0);
    }
    const s = (performance.now() - t0) / 1000;
    const extra = [
      e.cached ? `${e.cached} cached` : '',
      e.detail?.loss !== undefined ? `loss ${Number(e.detail.loss).toFixed(4)}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    // items computed per second: those served from a cache (`cached`, a resumed run passes thousands a second) are
    // left out, or the rate and the ETA of the work left would count them
    const work = e.done - (e.cached ?? 0);
    const rate = s > 0.5 && work > first ? (work - first) / s : undefined;
    bar!.update(e.done, {
      rate: rate ? rate.toFixed(1) : '-',
      remaining: e.done >= e.total ? '0s' : rate ? formatDuration((e.total - e.done) / rate) : '-',
      extra: extra ? ` | ${extra}` : '',
    });
    if (e.done >= e.total) stop();
  }) as ProgressCallback & { stop(): void };
  report.stop = stop;
  return report;
}

/**
 * The process that launched this one (pnpm, a shell, a scheduler step), read when cli-kit is loaded — early, so a
 * parent that dies while the models load is still noticed. pnpm's scripts `exec` node, so this is pnpm itself.
 */
const launchParent = process.ppid;

/**
 * Whether the launching process is a wrapper that can die without passing its signal on (so the run would go on
 * orphaned): a Node.js process (pnpm, npm, yarn, a launcher script), by its executable or name in `/proc` on Linux,
 * read at load. A shell, `nohup`, a scheduler step or init is not watched: `nohup vlfer … &` from a shell that then exits goes
 * on running. Where `/proc` cannot say (macOS, Windows), every launcher is watched.
 */
const launchedByWrapper = isWrapperProcess(launchParent);

/**
 * Whether process `pid` is a Node.js wrapper (`launchedByWrapper`): its executable is node (npm sets its title, so
 * `/proc/<pid>/comm` says `npm run <script>`) or its name starts with a package manager's (a standalone pnpm binary).
 * Where `/proc` cannot say (macOS, Windows, a process already gone), every launcher is watched (true).
 */
export function isWrapperProcess(pid: number): boolean {
  const managers = /^(node|nodejs|pnpm|npm|npx|yarn|bun)(\b|$)/;
  try {
    const exe = basename(readlinkSync(`/proc/${pid}/exe`));
    if (exe === basename(process.execPath) || managers.test(exe)) return true;
  } catch {
    // another user's process (no access to exe), or none: its name below
  }
  try {
    return managers.test(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
  } catch {
    return true;
  }
}

/**
 * Call `onGone` once when the process that launched this one has exited (a killed wrapper such as pnpm): checked
 * every second, on a timer that does not keep the process alive. The parent seen when cli-kit loaded is watched only
 * when it is such a wrapper (`launchedByWrapper`): a run started from a shell outlives the shell.
 * @param parent the pid to watch instead of the parent seen when cli-kit loaded: a child process that its starter
 *   told its pid (e.g. in its arguments) notices a starter that died even before this child got this far
 */
export function onParentExit(onGone: (parent: number) => void, parent: number = launchParent): void {
  if (parent === launchParent && !launchedByWrapper) return;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    onGone(parent);
  }, 1000);
  watch.unref();
}

/**
 * For commands with nothing to save (benchmarks, exports, their child processes): exit with 130 as soon as the
 * launching process (or `parent`, see `onParentExit`) is gone, instead of going on orphaned. The command must give
 * the event loop a turn now and then (await between steps).
 */
export function exitWithParent(name: string, parent?: number): void {
  onParentExit((gone) => {
    process.stderr.write(`${name}: the parent process ${gone} is gone; exiting\n`);
    process.exit(130);
  }, parent);
}

/** What a command passes a pipeline: its abort signal, progress bars and log; `stop()` ends the bar when it returns. */
export interface CommandHooks {
  signal: AbortSignal;
  onProgress: ProgressCallback;
  log: (line: string) => void;
  stop(): void;
}

/**
 * How the log of `commandHooks` spells option names: as typed by the library until `runMain` sets the command line's
 * flags, then as `flagsInText` spells them in errors (`valFraction 0 holds out none` → `--val-fraction 0 …`).
 */
let logWords: (line: string) => string = (line) => line;

/**
 * `text` with the control characters a terminal would act on (ESC sequences that recolour or move the cursor, BEL,
 * carriage return, backspace, C1 controls) written as `\x1b`-style escapes: class names, file names and other data
 * reach log lines and error messages as they are. Newlines and tabs are kept (messages span lines on purpose).
 */
export function terminalSafe(text: string): string {
  return text.replace(
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/**
 * The hooks every command gives its pipeline: `cliAbortSignal(name)`, progress bars unless `--no-progress`, and a log
 * that first ends the running bar so a line never lands inside it (`write`: stderr by default), with option names
 * spelled as the flags `runMain` was given. Call `stop()` once the pipeline settles (`.finally(hooks.stop)`).
 */
export function commandHooks(
  name: string,
  flags: { progress?: boolean },
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  stopping?: string,
): CommandHooks {
  const progress = progressBars(flags.progress !== false);
  const stop = () => progress.stop();
  return {
    // the running bar ends before the notice: stopped later, a terminal bar moves the cursor back over it
    signal: cliAbortSignal(name, stopping, stop),
    onProgress: progress,
    log: (line) => {
      stop();
      write(terminalSafe(logWords(line)));
    },
    stop,
  };
}

/**
 * An AbortSignal for a CLI run: the first SIGINT/SIGTERM aborts it (the pipeline stops at the next batch or
 * step and leaves resumable state; `stopping` says what happens for a command that does otherwise), a second exits
 * at once with 130. When the parent process dies (a killed
 * wrapper such as pnpm), the run is aborted the same way instead of going on orphaned. `beforeNotice` runs before
 * each notice is written (`commandHooks`: it ends the running progress bar).
 */
export function cliAbortSignal(
  name: string,
  stopping = 'stopping at the next step and saving resumable state',
  beforeNotice: () => void = () => undefined,
): AbortSignal {
  const controller = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count++;
    if (count > 1) process.exit(130);
    beforeNotice();
    process.stderr.write(`\n${name}: ${sig}: ${stopping} (again to quit at once)\n`);
    controller.abort(new Error(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  onParentExit((parent) => {
    if (controller.signal.aborted) return;
    beforeNotice();
    process.stderr.write(`${name}: the parent process ${parent} is gone; stopping\n`);
    controller.abort(new Error('parent process exited'));
  });
  return controller.signal;
}

/**
 * Who an argument error is about, for a command-line user: the flag when the error names one or a pipeline
 * option that a flag sets, `environment variable X` when it names a variable that is set; undefined when it names
 * neither (an internal error: the caller keeps the function's name for a bug report).
 * @param flags options the CLI spells otherwise than `flagOf` would (`splitIndex` → `--split`)
 * @param entryPoints pipeline functions the command calls with its flags: every argument of theirs is a flag
 * @param knownFlags the long flags of the command line (`--label-set`, …): an option of an inner function whose
 *   flag is among them is named by that flag
 */
export function argumentOf(
  error: InvalidArgumentError,
  flags: Readonly<Record<string, string>> = {},
  entryPoints: readonly string[] = [],
  knownFlags: readonly string[] = [],
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const a = error.argument;
  if (entryPoints.includes(error.functionName) || knownFlags.includes(flagOf(a, flags))) return flagOf(a, flags);
  if (a.startsWith('-')) return a; // the caller named the flag itself, e.g. parseShard(text, '--shard')
  // a variable's name: one that is set, or one that must be (VLFER_SHARD_COUNT beside JOB_COMPLETION_INDEX)
  if (/^[A-Z][A-Z0-9_]*$/.test(a) && (env[a] !== undefined || a.includes('_'))) return `environment variable ${a}`;
  return undefined;
}

/**
 * A library message with the option names in it spelled as the command line's flags: `splitIndex` → `--split`,
 * `labelScheme 'label-set'` → `--label-scheme 'label-set'`. Only camelCase words whose flag is one of `knownFlags`
 * are options, and any option `describeChangedFields` lists (`lr (0.001 then, 0.01 now)`); one already followed by
 * its flag (`cacheDir (--cache-dir)`) stays, and so do ordinary words and paths (`/data/labelSet/a.png`). Advice
 * written for both (`pass allowOutsideRoot: true (CLI --allow-outside-root)`) keeps the command line's half (`pass
 * --allow-outside-root`); a message naming the command line otherwise (`(CLI --keys)`) is left as it is.
 */
export function flagsInText(
  text: string,
  flags: Readonly<Record<string, string>>,
  knownFlags: readonly string[],
): string {
  // advice written for both audiences, `pass duplicates: 'drop' (CLI --duplicates drop)`: the command line's half
  // (only where this command has that flag: `vlfer bench` has no --extra-files, and keeps the library's half)
  text = text.replace(
    /\b(?:pass|call) (?:(?! \(CLI|\bpass |\bcall |[;.] ).)+? \(CLI:? (--[^()]+)\)/g,
    (whole, cli: string) => (knownFlags.includes(cli.split(' ')[0]!) ? `pass ${cli}` : whole),
  );
  if (/\(CLI\b/.test(text)) return text;
  const asFlag = (whole: string, before: string, name: string) => {
    const flag = flagOf(name, flags);
    return knownFlags.includes(flag) ? `${before}${flag}` : whole;
  };
  // a switch the command line turns off (`--no-augment` for `augment`): its values are said as the flag given or not,
  // not as the option's true and false, which would read backwards
  text = text.replace(
    /(^|[\s(,])([a-z][A-Za-z0-9]*) \((true|false|nothing) then, (true|false|nothing) now\)/g,
    (whole, before: string, name: string, then: string, now: string) => {
      const flag = flagOf(name, flags);
      if (!flag.startsWith('--no-') || !knownFlags.includes(flag)) return whole;
      const given = (v: string) => (v === 'false' ? 'given' : 'not given');
      return `${before}${flag} (${given(then)} then, ${given(now)} now)`;
    },
  );
  const word = /(^|[\s(])([a-z]+[A-Z][A-Za-z0-9]*)(?=$|[\s),;:]|\.(?:\s|$))(?! \(--)/g;
  // a changed option as `describeChangedFields` lists it, `lr (0.001 then, 0.01 now)`, is one whatever its case
  const changed = /(^|[\s(,])([a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)*)(?= \([^()]* then, [^()]* now\))/g;
  return text.replace(word, asFlag).replace(changed, asFlag);
}

/**
 * The line `runMain` prints for an error (without the `name: ` prefix). Argument errors say who they are about
 * (`argumentOf`): `--merge: …` instead of the library's `Argument 'merge' passed to 'evaluateZeroShot': …`, so no
 * user-facing message names an internal function; option errors list one flag per issue.
 */
export function errorLine(
  error: unknown,
  flags: Readonly<Record<string, string>> = {},
  entryPoints: readonly string[] = [],
  knownFlags: readonly string[] = [],
): string {
  const named = (text: string) => flagsInText(text, flags, knownFlags);
  if (error instanceof OptionsError)
    return `invalid options:\n${error.issues.map((i) => `  ${flagOf(i.path, flags)}: ${named(i.message)}`).join('\n')}`;
  // (OptionsError is an InvalidArgumentError too: it goes first, with a flag per issue)
  if (error instanceof InvalidArgumentError) {
    const who = argumentOf(error, flags, entryPoints, knownFlags);
    const detail = named(error.detail);
    if (error.argument === 'options' && entryPoints.includes(error.functionName)) return detail; // all of them
    if (who !== undefined) return `${who}: ${detail}`;
  }
  // a data error names its file and line; what it advises may name an option (`read it with labelScheme …`)
  if (error instanceof DataFormatError)
    return error.message.slice(0, error.message.length - error.detail.length) + named(error.detail);
  return error instanceof Error ? error.message : String(error);
}

/**
 * Standard output or error whose reader went away (`| head -1`, `| true`, a closed terminal): later writes to it are
 * dropped and the command goes on to its own end and exit status (a run still publishes its results). Node would
 * otherwise raise EPIPE as an unhandled 'error' event: a stack trace and exit 1, mid-run when it was stderr.
 */
export function dropWritesToClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error; // as without this listener
      stream.write = (() => true) as typeof stream.write;
    });
  }
}

/**
 * Run a CLI's main function: errors are printed as `name: message` (`errorLine`: option and argument errors with
 * their flags; no stack traces unless VLFER_DEBUG=1); an aborted run exits 130 and says how to resume; others exit 1.
 * The log lines of `commandHooks` name options by these flags too. A closed stdout or stderr ends no command
 * (`dropWritesToClosedPipes`).
 */
export function runMain(
  name: string,
  main: () => Promise<void>,
  flags: Readonly<Record<string, string>> = {},
  /** pipeline functions the command calls with its flags: their argument errors are named by flag */
  entryPoints: readonly string[] = [],
  /** the long flags of the command line: inner functions' errors about an option one of them sets name the flag */
  knownFlags: readonly string[] = [],
): void {
  logWords = (line) => flagsInText(line, flags, knownFlags);
  dropWritesToClosedPipes();
  main().catch((error: unknown) => {
    if (process.env.VLFER_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    if (error instanceof AbortedError) {
      process.stderr.write(
        `${name}: ${error.message}${/rerun/.test(error.message) ? '' : '; completed work is kept (caches, checkpoints): rerun the same command to resume'}\n`,
      );
      process.exitCode = 130;
      return;
    }
    process.stderr.write(`${name}: ${terminalSafe(errorLine(error, flags, entryPoints, knownFlags))}\n`);
    process.exitCode = 1;
  });
}

/** The long flags of a command and all its subcommands (`--out`, `--label-set`, …), for `runMain`'s `knownFlags`. */
/**
 * Refuse an empty value of the path flags named in `flags` (option key → flag): `--out ''` is most likely an unset
 * shell variable, and read as the current directory it would name the wrong place.
 * @throws Error `--out: an empty path (an unset variable?)`
 */
export function refuseEmptyPaths(o: Record<string, unknown>, flags: Readonly<Record<string, string>>): void {
  for (const [key, flag] of Object.entries(flags))
    if (o[key] === '') throw new Error(`${flag}: an empty path (an unset variable?)`);
}

/**
 * Refuse an option typed on the command line (commander's value source 'cli') that the run would not use, naming its
 * flag and why: accepted, it did nothing, yet a run records its options as choices. `rules`: the option's key (its
 * attribute name, or a library option's name that `flags` spells as this command's flag), whether it applies, and why it does not (a library's words: the options it names, `dtype 'int8'`
 * or `selectOn`, are said as this command's flags, `--dtype int8`, with `flags` for those spelled otherwise).
 * @throws InvalidArgumentError `--split: dataset image-folder has no train/test split to choose (…)`
 */
export function refuseInapplicableFlags(
  cmd: Command,
  rules: readonly (readonly [key: string, applies: boolean, why: string])[],
  flags: Readonly<Record<string, string>> = {},
): void {
  for (const [key, applies, why] of rules) {
    // a library option spelled otherwise on this command line (`teacherKeys` → `--keys`) by its flag
    const option =
      cmd.options.find((o) => o.attributeName() === key) ?? cmd.options.find((o) => o.long === flagOf(key, flags));
    if (applies || !option || cmd.getOptionValueSource(option.attributeName()) !== 'cli') continue;
    const flag = option.long ?? key;
    const known = cmd.options.flatMap((o) => (o.long ? [o.long] : []));
    // an option with its value, `dtype 'int8'`, as the command line spells it: `--dtype int8`
    const said = why.replace(/\b([a-z][A-Za-z0-9]*) '([^'\s]*)'/g, (whole, name: string, value: string) =>
      known.includes(flagOf(name, flags)) ? `${flagOf(name, flags)} ${value}` : whole,
    );
    throw new CommanderArgumentError(`${flag}: ${flagsInText(said, flags, known)}`);
  }
}

/**
 * The options of `cmd` given more than once with different values among the command-line `tokens` (commander keeps
 * the last): `--lr 0.1 … --lr 0.01` in a long job script, or `--charts … --no-charts`. Overriding a flag set
 * earlier in a script is legitimate, so the caller warns rather than refuses. Tokens after `--` are operands.
 * @returns one line per option: `--lr given 2 times (0.1, then 0.01): the last is used`
 */
export function repeatedFlags(cmd: Command, tokens: readonly string[]): string[] {
  const seen = new Map<string, { flag: string; said: string[]; meant: string[] }>();
  // a value as the option parses it (`--prompts 1` and `--prompts class_name` mean one prompt type)
  const meaning = (option: Command['options'][number], flag: string, value: string | undefined) => {
    if (value === undefined || !option.parseArg) return `${flag} ${value ?? ''}`;
    try {
      return `${flag} ${JSON.stringify(option.parseArg(value, undefined))}`;
    } catch {
      return `${flag} ${value}`; // commander reports the bad value itself
    }
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--') break;
    if (!token.startsWith('--')) continue;
    const eq = token.indexOf('=');
    const flag = eq > 0 ? token.slice(0, eq) : token;
    const option = cmd.options.find((o) => o.long === flag);
    if (!option) continue;
    const takesValue = option.required || option.optional;
    const value = eq > 0 ? token.slice(eq + 1) : takesValue && i + 1 < tokens.length ? tokens[++i]! : undefined;
    const key = option.attributeName();
    const entry = seen.get(key) ?? { flag, said: [], meant: [] };
    entry.said.push(value === undefined ? flag : entry.flag === flag ? value : `${flag} ${value}`);
    entry.meant.push(meaning(option, flag, value));
    seen.set(key, entry);
  }
  return [...seen.values()]
    .filter(({ meant }) => new Set(meant).size > 1)
    .map(({ flag, said }) => `${flag} given ${said.length} times (${said.join(', then ')}): the last is used`);
}

/**
 * Refuse a directory flag (option key → flag) that names a file: it would fail later, naming no flag.
 * @throws Error `--cache-dir: f.csv is a file; expected a directory (created if missing)`
 */
export function refuseFilesAsDirectories(o: Record<string, unknown>, flags: Readonly<Record<string, string>>): void {
  for (const [key, flag] of Object.entries(flags)) {
    const p = o[key];
    if (typeof p === 'string' && existsSync(p) && !statSync(p).isDirectory())
      throw new Error(`${flag}: ${p} is a file; expected a directory (created if missing)`);
  }
}

/**
 * Refuse flags given on the command line (not defaults) that do nothing here: the options `keys` of `cmd`, when
 * `applies` is false; `needs` says what they need (`'--emit'`).
 * @throws Error `--cpus: only with --emit`
 */
export function refuseUnusedFlags(cmd: Command, keys: readonly string[], applies: boolean, needs: string): void {
  if (applies) return;
  for (const key of keys) {
    const option = cmd.options.find((o) => o.attributeName() === key);
    if (option && cmd.getOptionValueSource(key) === 'cli') throw new Error(`${option.long}: only with ${needs}`);
  }
}

export function longFlags(cmd: Command): string[] {
  return [...new Set([...cmd.options.flatMap((o) => (o.long ? [o.long] : [])), ...cmd.commands.flatMap(longFlags)])];
}

/**
 * Commander parser: `--shard i/n`, shard i (0-based, as SLURM array task ids) of n: 0 ≤ i < n. A bad value is a
 * commander argument error (`option '--shard <i/n>' argument '3/2' is invalid. …`), like every other flag's.
 */
export function shardFlag(v: string): Shard {
  try {
    return parseShard(v, '--shard');
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    throw new CommanderArgumentError(
      `expected --shard i/n, shard i of n counted from 0: 0 ≤ i < n (e.g. 0/4, 1/4, 2/4, 3/4), got '${v}'`,
    );
  }
}

/** Commander parser: an integer (optionally ≥ min). */
export function integer(min = Number.MIN_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v.trim())) throw new CommanderArgumentError(`expected an integer, got '${v}'`);
    const n = Number(v);
    if (n < min) throw new CommanderArgumentError(`expected an integer ≥ ${min}, got ${n}`);
    return n;
  };
}

/** Commander parser: a finite number (optionally > 0, optionally at most `max`). */
export function number(options: { positive?: boolean; max?: number } = {}): (v: string) => number {
  return (v) => {
    const n = Number(v);
    // decimal only: Number() also reads '0x10' as 16 and '' as 0
    if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v) || !Number.isFinite(n))
      throw new CommanderArgumentError(`expected a number, got '${v}'`);
    if (options.positive && !(n > 0)) throw new CommanderArgumentError(`expected a positive number, got ${n}`);
    if (options.max !== undefined && n > options.max)
      throw new CommanderArgumentError(`expected a number ≤ ${options.max}, got ${n}`);
    return n;
  };
}

/** Commander parser: comma-separated integers (`0,3,5`). */
export function integerList(v: string): number[] {
  return v.split(',').map((s) => integer(0)(s));
}

/** Commander parser: comma-separated non-empty strings. */
export function stringList(v: string): string[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((p) => !p)) throw new CommanderArgumentError(`expected comma-separated names, got '${v}'`);
  return parts;
}

/** Commander parser: `1-5` (ascending) or `1,2,3`. */
export function foldList(v: string): number[] {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(v);
  if (m) {
    const a = Number(m[1]),
      b = Number(m[2]);
    if (a < 1 || b < a) throw new CommanderArgumentError(`'${v}' is not an ascending range of folds ≥ 1, e.g. 1-5`);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  }
  return v.split(',').map((s) => integer(1)(s));
}

/** Commander parser: `<from>=<to>`. */
export function rebasePair(v: string): { from: string; to: string } {
  const i = v.indexOf('=');
  if (i <= 0) throw new CommanderArgumentError(`expected <from>=<to>, got '${v}'`);
  return { from: v.slice(0, i), to: v.slice(i + 1) };
}

/**
 * The face flags every command that reads images or frames takes (`@vlfer/faces`): `--faces detect|detect:align`
 * turns them on; the rest tune them. `facesFromFlags` turns the parsed values into the pipelines' `faces` option.
 * `clips`: a command of clips (HESP), whose `--when-no-face` has no `skip` (a clip keeps its frame count).
 */
export function addFaceOptions(cmd: Command, options: { clips?: boolean } = {}): Command {
  return cmd
    .addOption(
      new Option(
        '--faces <mode>',
        'detect faces and use their crops: box crops with a margin, or five-point aligned crops',
      ).choices(['detect', 'detect:align']),
    )
    .option('--face-detector <id|file.onnx>', 'yunet-s (default), yunet-n, ultraface, or an .onnx file')
    .option('--face-models <dir>', 'directory holding the detector files (default: $VLFER_FACE_MODELS)')
    .addOption(new Option('--face-select <policy>', 'images with several faces').choices(['largest', 'central', 'all']))
    .addOption(
      options.clips
        ? // a clip keeps its frame count: one without a face is used whole or stops the run
          new Option('--when-no-face <policy>', 'clips without a face: use them whole, or stop').choices([
            'full',
            'fail',
          ])
        : new Option(
            '--when-no-face <policy>',
            'images or clips without a face: skip them, use them whole, or stop',
          ).choices(['skip', 'full', 'fail']),
    )
    .option('--face-size <px>', 'side of the face crops', integer(16))
    .option('--face-cache <dir>', 'detections and crops (default .vlfer-cache/faces)');
}

/** Flags of the `faces` option's fields, for error messages. */
export const FACE_FLAG_NAMES = {
  'faces.detector': '--face-detector',
  'faces.modelDir': '--face-models',
  'faces.selection': '--face-select',
  'faces.noFace': '--when-no-face',
  'faces.size': '--face-size',
  'faces.cacheDir': '--face-cache',
  modelDir: '--face-models',
  'faces.missing': '--faces (missing frames)',
  faces: '--faces',
};

/** The `faces` option from the flags of `addFaceOptions` (undefined without `--faces`; the other flags then are an error). */
export function facesFromFlags(o: Record<string, unknown>): Record<string, unknown> | undefined {
  const tuned = ['faceDetector', 'faceModels', 'faceSelect', 'whenNoFace', 'faceSize', 'faceCache'].filter(
    (k) => o[k] !== undefined,
  );
  if (o.faces === undefined) {
    if (tuned.length)
      throw new Error(
        `${tuned.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} ${tuned.length > 1 ? 'need' : 'needs'} --faces detect or --faces detect:align`,
      );
    return undefined;
  }
  const pick = (flag: string, key: string) => (o[flag] !== undefined ? { [key]: o[flag] } : {});
  return {
    align: o.faces === 'detect:align',
    ...pick('faceDetector', 'detector'),
    ...pick('faceModels', 'modelDir'),
    ...pick('faceSelect', 'selection'),
    ...pick('whenNoFace', 'noFace'),
    ...pick('faceSize', 'size'),
    ...pick('faceCache', 'cacheDir'),
  };
}

/**
 * The shard a command runs: `--shard i/n`, else the scheduler's array-job variables (`shardFromEnv`), which it says
 * it used; none with `--merge`. Every command that takes `--shard` reads it this way.
 */
export function shardFromFlags(o: { shard?: Shard; merge?: number }, log: (line: string) => void): Shard | undefined {
  if (o.shard || o.merge) return o.shard;
  const env = shardFromEnv(process.env);
  if (env) log(`shard ${env.shard.index}/${env.shard.count} (${env.source})`);
  return env?.shard;
}
