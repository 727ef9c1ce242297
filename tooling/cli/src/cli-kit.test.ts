import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { DataFormatError, InvalidArgumentError, OptionsError, parseShard } from '@vlfer/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  argumentOf,
  commandHooks,
  errorLine,
  flagsInText,
  formatDuration,
  longFlags,
  number,
  isWrapperProcess,
  onParentExit,
  terminalSafe,
  progressBars,
  refuseInapplicableFlags,
  repeatedFlags,
  runMain,
  shardFlag,
} from './index.js';

afterEach(() => vi.restoreAllMocks());

describe('progress output', () => {
  it('formats ETAs as seconds, minutes or hours', () => {
    expect([formatDuration(0.4), formatDuration(59.6), formatDuration(185), formatDuration(7620)]).toEqual([
      '0s',
      '1m00s',
      '3m05s',
      '2h07m',
    ]);
  });
  it('a bar that completes at once shows ETA 0s, never a placeholder from the bar library', () => {
    let out = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
      out += String(c);
      return true;
    });
    const p = progressBars(true);
    p({ phase: 'evaluate', done: 3, total: 3, unit: 'epochs' });
    p.stop();
    vi.restoreAllMocks();
    expect(out).toMatch(/evaluate .* 3\/3 epochs \| - epochs\/s \| ETA 0s/);
    expect(out).not.toMatch(/NULL|LLs|NaN|Infinity/);
  });
  it('the rate and ETA count the items computed, not those a resumed run took from a cache', () => {
    let out = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
      out += String(c);
      return true;
    });
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const p = progressBars(true);
    p({ phase: 'encode + targets', done: 0, total: 50_000, unit: 'images', cached: 0 });
    now = 1000;
    p({ phase: 'encode + targets', done: 15_000, total: 50_000, unit: 'images', cached: 14_990 });
    now = 2000;
    p({ phase: 'encode + targets', done: 15_010, total: 50_000, unit: 'images', cached: 14_990 });
    p.stop();
    vi.restoreAllMocks();
    // 20 computed in 2 s: 10 images/s and 58m19s for the 34,990 left (before: 7505 images/s, ETA 5s)
    expect(out).toMatch(/15010\/50000 images \| 10\.0 images\/s \| ETA 58m19s \| 14990 cached/);
  });
  it('Ctrl-C ends the running bar before its notice (a bar stopped after it moved the cursor back over it)', () => {
    const out: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
      out.push(String(c));
      return true;
    });
    const before = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
    const hooks = commandHooks('vlfer', {});
    const onSigint = process.listeners('SIGINT').find((l) => !before.has(l))!;
    try {
      hooks.onProgress({ phase: 'encode', done: 1, total: 4, unit: 'images' });
      out.length = 0;
      (onSigint as (sig: NodeJS.Signals) => void)('SIGINT');
      expect(hooks.signal.aborted).toBe(true);
      const notice = out.findIndex((c) => c.includes('vlfer: SIGINT: stopping at the next step'));
      expect(notice, out.join('')).toBeGreaterThan(0); // the bar's last drawing and its end came first
      expect(out.slice(notice + 1).join('')).toBe('');
    } finally {
      for (const sig of ['SIGINT', 'SIGTERM'] as const)
        for (const l of process.listeners(sig)) if (!before.has(l)) process.off(sig, l);
      hooks.stop();
    }
  });
});

describe('error lines for a command-line user', () => {
  const err = (functionName: string, argument: string, message = 'is wrong') =>
    new InvalidArgumentError({ functionName, argument, message });
  const known = ['--label-set', '--split', '--merge'];
  it("name the flag or the environment variable, never the internal function's name", () => {
    const line = (e: InvalidArgumentError) => errorLine(e, { splitIndex: '--split' }, ['evaluateZeroShot'], known);
    expect(line(err('evaluateZeroShot', 'merge'))).toBe('--merge: is wrong');
    expect(line(err('evaluateZeroShot', 'options'))).toBe('is wrong');
    expect(line(err('resolveLabelSet', 'labelSet'))).toBe('--label-set: is wrong');
    expect(line(err('loadHespData', 'splitIndex'))).toBe('--split: is wrong');
    let thrown: unknown;
    try {
      parseShard('3/2', '--shard');
    } catch (e) {
      thrown = e;
    }
    expect(line(thrown as InvalidArgumentError)).toBe("--shard: expected i/n with 0 ≤ i < n (e.g. 0/4), got '3/2'");
    expect(argumentOf(err('shardFromEnv', 'VLFER_SHARD_COUNT'), {}, [], [], { VLFER_SHARD_COUNT: 'x' })).toBe(
      'environment variable VLFER_SHARD_COUNT',
    );
    // an argument that is no flag and no variable is an internal error: the function stays named for a bug report
    expect(line(err('takeRows', 'indices'))).toBe("Argument 'indices' passed to 'takeRows': is wrong");
    expect(errorLine(new OptionsError('f', [{ path: 'splitIndex', message: 'bad' }]), { splitIndex: '--split' })).toBe(
      'invalid options:\n  --split: bad',
    );
  });
  it('spell the option names inside a message as flags, and leave ordinary words, paths and user data alone', () => {
    const flags = { splitIndex: '--split', 'faces.modelDir': '--face-models', faces: '--faces' };
    const all = [...known, '--known', '--label-scheme', '--root', '--cache-dir', '--allow-outside-root'];
    expect(flagsInText("was given with labelSet 'x' too (splitIndex, 0..19)", flags, all)).toBe(
      "was given with --label-set 'x' too (--split, 0..19)",
    );
    expect(flagsInText('labelScheme.', flags, all)).toBe('--label-scheme.');
    // a switch turned off by --no-…: said as the flag given or not, not as the option's values (which read backwards)
    const off = { ...flags, augment: '--no-augment' };
    expect(
      flagsInText('other options (augment (true then, false now), seed (0 then, 1 now))', off, [
        ...all,
        '--no-augment',
        '--seed',
      ]),
    ).toBe('other options (--no-augment (not given then, given now), --seed (0 then, 1 now))');
    expect(flagsInText('augment (false then, nothing now)', off, [...all, '--no-augment'])).toBe(
      '--no-augment (given then, not given now)',
    );
    // a path, a flag the command lacks, plain words (class names of one's own among them): unchanged
    const kept = 'file /data/labelSet/a.png of labelSetX: class id 0 (root) and known ids; labelScheme.x or outOfSet';
    expect(flagsInText(kept, flags, all)).toBe(kept);
    // already followed by its flag: unchanged; advice for both audiences: the command line's half
    const both = 'cacheDir (--cache-dir) is "/a" there; pass allowOutsideRoot: true (CLI --allow-outside-root)';
    expect(flagsInText(both, flags, all)).toBe('cacheDir (--cache-dir) is "/a" there; pass --allow-outside-root');
    for (const [lib, cli] of <[string, string][]>[
      ["(pass extraFiles: 'skip' (CLI --extra-files skip) to ignore)", '(pass --extra-files skip to ignore)'],
      ['pass overwrite: true (CLI: --overwrite) to replace them', 'pass --overwrite to replace them'],
      [
        'or call configureModels({ allowRemoteModels: true }) (CLI --allow-remote) where the Hub is reachable',
        'or pass --allow-remote where the Hub is reachable',
      ],
      ['needs `keys`: a file (CLI --keys); also labelSet', 'needs `keys`: a file (CLI --keys); also labelSet'],
      [
        'cannot pass through x; to go on, pass duplicates: "drop" (CLI --duplicates drop) to keep one',
        'cannot pass through x; to go on, pass --duplicates drop to keep one',
      ],
    ])
      expect(flagsInText(lib, flags, [...all, '--extra-files', '--overwrite', '--duplicates', '--allow-remote'])).toBe(
        cli,
      );
    // a command without that flag (vlfer bench has no --extra-files) keeps the library's half: no flag it lacks
    const lacking = "(pass extraFiles: 'skip' (CLI --extra-files skip) to ignore)";
    expect(flagsInText(lacking, flags, all)).toBe(lacking);
    expect(flagsInText('cacheDir (--cache-dir) is "/a"', flags, all)).toBe('cacheDir (--cache-dir) is "/a"');
    // the options describeChangedFields lists, whatever their case; others and values stay
    const changes = 'other options (lr (0.01 then, 0.02 now), note (a then, b now), labelSet (nothing then, "x" now))';
    expect(flagsInText(changes, flags, [...all, '--lr'])).toBe(
      'other options (--lr (0.01 then, 0.02 now), note (a then, b now), --label-set (nothing then, "x" now))',
    );
    // a field of an option, by the flag that sets it
    const nested = { 'referenceBehaviour.alphabeticalClassNames': '--reference-class-order' };
    expect(
      flagsInText('(referenceBehaviour.alphabeticalClassNames (false then, true now))', nested, [
        '--reference-class-order',
      ]),
    ).toBe('(--reference-class-order (false then, true now))');
    const e = new InvalidArgumentError({
      functionName: 'resolveLabelSet',
      argument: 'classes',
      message: 'with labelSet',
    });
    expect(errorLine(e, flags, [], [...all, '--classes'])).toBe('--classes: with --label-set');
    const o = new OptionsError('f', [{ path: 'known', message: 'and splitIndex' }]);
    expect(errorLine(o, flags, [], all)).toBe('invalid options:\n  --known: and --split');
    // a dotted option path is named by its own flag where the CLI has one, else by its first part's
    const f = new OptionsError('f', [
      { path: 'faces.modelDir', message: 'bad' },
      { path: 'faces.size', message: 'bad' },
    ]);
    expect(errorLine(f, flags, [], all)).toBe('invalid options:\n  --face-models: bad\n  --faces: bad');
    // a data error: its file (here a path that reads like an option) stays, its advice is spelled with flags
    const d = new DataFormatError({ file: 'labelScheme', line: 3, message: "read it with labelScheme 'x'" });
    expect(errorLine(d, flags, [], all)).toBe("labelScheme:3: read it with --label-scheme 'x'");
  });
  it("a command's log lines name options by the flags runMain was given, as its errors do", async () => {
    const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
    const lines: string[] = [];
    const warning = "valFraction 0.1 holds out none (raise valFraction, or selectOn 'test'); file /d/valFraction.csv";
    let done!: () => void;
    const ran = new Promise<void>((resolve) => (done = resolve));
    runMain(
      't',
      async () => {
        const hooks = commandHooks('t', { progress: false }, (line) => lines.push(line));
        hooks.log(warning);
        hooks.stop();
        done();
      },
      {},
      [],
      ['--val-fraction', '--select-on'],
    );
    await ran;
    expect(lines).toEqual([
      "--val-fraction 0.1 holds out none (raise --val-fraction, or --select-on 'test'); file /d/valFraction.csv",
    ]);
    for (const sig of ['SIGINT', 'SIGTERM'] as const)
      for (const l of process.listeners(sig).filter((l) => !before[sig].includes(l))) process.off(sig, l);
  });
  it('number() reads decimal numbers only', () => {
    expect([number()('1e-3'), number()('.5'), number()('-2')]).toEqual([0.001, 0.5, -2]);
    for (const bad of ['0x10', '', 'NaN', '1e400', '1,5']) expect(() => number()(bad)).toThrow(/expected a number/);
    // a bound in the flag's own unit (--teacher-timeout said 2147483647 ms for a flag in seconds)
    expect(() => number({ positive: true, max: 2_147_483 })('2147484')).toThrow(
      'expected a number ≤ 2147483, got 2147484',
    );
    expect(number({ positive: true, max: 2_147_483 })('2147483')).toBe(2_147_483);
  });
  it('--shard says what it expects; longFlags lists the flags of every subcommand', () => {
    expect(shardFlag('1/4')).toEqual({ index: 1, count: 4 });
    for (const bad of ['3/2', '2/2', 'x', '1/0'])
      expect(() => shardFlag(bad)).toThrow(`expected --shard i/n, shard i of n counted from 0: 0 ≤ i < n`);
    const cmd = new Command('a').option('--x-y <n>').addCommand(new Command('b').option('--z').option('--x-y <n>'));
    expect(longFlags(cmd).sort()).toEqual(['--x-y', '--z']);
  });
});

describe('terminal-safe text', () => {
  it('writes the control characters a terminal would act on as escapes, keeping newlines and tabs', () => {
    expect(terminalSafe('red\u001b[31mX\u001b[0m, bell\u0007, a\rb\u0008\u009b; two\nlines\tok é')).toBe(
      'red\\x1b[31mX\\x1b[0m, bell\\x07, a\\x0db\\x08\\x9b; two\nlines\tok é',
    );
  });
});

describe('parent watch', () => {
  afterEach(() => vi.useRealTimers());
  it.runIf(process.platform === 'linux')(
    'watches a Node.js launcher (pnpm, npm, a launcher script), not a shell or nohup: `nohup vlfer … &` outlives its shell',
    async () => {
      expect(isWrapperProcess(process.ppid)).toBe(true); // vitest's main process, a node
      const shell = spawn('bash', ['-c', 'sleep 5'], { stdio: 'ignore' });
      const sleeper = spawn('sleep', ['5'], { stdio: 'ignore' });
      // npm sets its title: /proc/<pid>/comm reads 'npm run <script>', its executable is node
      const npm = spawn(process.execPath, [
        '-e',
        "process.title = 'npm run w'; console.log(); setTimeout(() => {}, 5000)",
      ]);
      try {
        await new Promise((r) => npm.stdout.once('data', r));
        expect(readFileSync(`/proc/${npm.pid}/comm`, 'utf8').trim()).toBe('npm run w');
        expect([isWrapperProcess(shell.pid!), isWrapperProcess(sleeper.pid!)]).toEqual([false, false]);
        expect(isWrapperProcess(npm.pid!)).toBe(true);
      } finally {
        shell.kill();
        sleeper.kill();
        npm.kill();
      }
    },
  );
  it('onParentExit fires once, within a second, when the watched pid is no longer the parent; never while it is', () => {
    vi.useFakeTimers();
    const gone: number[] = [];
    const stays: number[] = [];
    // a starter that passed its pid but is not (any longer) this process's parent, e.g. one that died before we ran
    onParentExit((p) => gone.push(p), process.ppid + 1);
    onParentExit((p) => stays.push(p), process.ppid);
    vi.advanceTimersByTime(999);
    expect(gone).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(gone).toEqual([process.ppid + 1]);
    vi.advanceTimersByTime(5000);
    expect(gone).toHaveLength(1);
    expect(stays).toEqual([]);
  });
});

describe('flags given twice, and flags that do not apply', () => {
  const cmd = () =>
    new Command('eval')
      .option('--lr <x>')
      .option('--cache-dir <dir>')
      .option('--no-cache')
      .option('--overwrite')
      .option('--dtype <d>', 'dtype', 'fp32')
      .option('--subset-seed <n>')
      .exitOverride();
  it('repeatedFlags names each flag given with different values, in order, and nothing else', () => {
    const argv = [
      'node',
      'vlfer',
      'eval',
      '--lr',
      '0.1',
      '--overwrite',
      '--lr=0.01',
      '--overwrite',
      '--cache-dir',
      'a',
    ];
    expect(repeatedFlags(cmd(), [...argv, '--cache-dir', 'a', '--', '--lr', '5'])).toEqual([
      '--lr given 2 times (0.1, then 0.01): the last is used',
    ]);
    // the same value twice, a switch twice, one value spelled two ways (as the option parses it): nothing to say
    expect(repeatedFlags(cmd(), ['--overwrite', '--overwrite', '--lr', '1', '--lr', '1'])).toEqual([]);
    const parsed = new Command('eval').option('--lr <x>', 'lr', (v) => Number(v));
    expect(repeatedFlags(parsed, ['--lr', '0.10', '--lr', '1e-1'])).toEqual([]);
    expect(repeatedFlags(parsed, ['--lr', '0.1', '--lr', '0.01'])).toHaveLength(1);
  });
  it('refuseInapplicableFlags says a library option and its quoted value as the flag', () => {
    const c = cmd();
    c.parse(['--subset-seed', '3'], { from: 'user' });
    expect(() =>
      refuseInapplicableFlags(c, [['subsetSeed', false, "seeds the sample of the int8 guard (dtype 'int8')"]]),
    ).toThrow('--subset-seed: seeds the sample of the int8 guard (--dtype int8)');
    // typed at all is what counts; a default never is
    expect(() => refuseInapplicableFlags(c, [['dtype', false, 'never']])).not.toThrow();
  });
});
