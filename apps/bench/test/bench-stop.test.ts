/**
 * @file Stopping a bench while a child it waits on runs (the killed-pnpm case is in
 * tooling/repo-checks/src/wrapper-kill.test.ts). `pnpm bench:preprocess`: Ctrl-C and SIGTERM end it at once with a
 * message, a non-zero exit and no results; the child it was waiting on ends with it, PyTorch's DataLoader workers
 * included; a bench that is SIGKILLed itself (no handler runs) leaves no child behind either, as each child watches
 * the bench's pid. The bench runs on four FER2013 images and far more passes or rounds than a test waits for. A
 * `--vs torch` bench (bench:train-head, the one that reaches its peer soonest) SIGTERMed while its PyTorch peer runs
 * exits with 143, says it killed the peer, and no process of the peer's group is left. Each timing child and every
 * PyTorch script, told the pid of a starter that is already gone, exits on its own with 130 (no window in which a
 * dying bench goes unnoticed). The PyTorch cases need Debian's python3-torch (or VLFER_TORCH_PYTHON); without it
 * they fail with the install hint of `torchPython`.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  alive,
  commandLine,
  descendants,
  groupMembers,
  repoRoot,
  sharedPath,
  spawnCli,
  until,
} from '@vlfer/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { torchPython } from '../src/torch.js';

const PREPROCESS = 'apps/bench/src/bench-preprocess.ts';
const TRAIN_HEAD = 'apps/bench/src/bench-train-head.ts';
const VLFER_CHILD = /preprocess-child\.ts/;
const TORCH_CHILD = /preprocess\.py/;
/** bench:train-head's epochs per run for the tiny head below: a few seconds on either side (2-core machine) */
const TRAIN_HEAD_EPOCHS = '100';

interface Run {
  bench: ChildProcessWithoutNullStreams;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** the results JSON the run was given (`--out`), its TMPDIR and its own folder */
  out: string;
  tmp: string;
  dir: string;
}

let running: Run | undefined;
let seen: number[] = [];
afterEach(() => {
  // a failed case must not leave its processes running on a shared machine
  for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (running?.bench.pid && alive(running.bench.pid)) running.bench.kill('SIGKILL');
  running = undefined;
  seen = [];
});

/**
 * The bench `entry` with `args` and `--out <its folder>/results.json`, with a TMPDIR of its own, in a process group of
 * its own (as a terminal's foreground job).
 */
function start(entry: string, args: (dir: string) => string[]): Run {
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-bench-stop-'));
  const [out, tmp] = [join(dir, 'results.json'), mkdtempSync(join(dir, 'tmp-'))];
  const bench = spawnCli(entry, [...args(dir), '--out', out], { env: { TMPDIR: tmp }, detached: true });
  let output = '';
  bench.stdout.on('data', (b: Buffer) => (output += b.toString()));
  bench.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    bench.on('close', (code, signal) => resolve({ code, signal })),
  );
  running = { bench, output: () => output, exit, out, tmp, dir };
  return running;
}

/** bench:preprocess on four 48² images with `args`, and a README with its markers (`--readme`). */
function startPreprocess(args: string[]): Run {
  return start(PREPROCESS, (dir) => {
    writeFileSync(readmeOf(dir), 'before\n<!-- bench:preprocess:start -->\nold\n<!-- bench:preprocess:end -->\n');
    return [
      ...['--shared', dirname(sharedPath('fixtures')), '--sizes', '48x48', '--modes', 'exp-clip'],
      ...['--image-dir', join(dir, 'images'), '--readme', readmeOf(dir), ...args],
    ];
  });
}
const readmeOf = (dir: string) => join(dir, 'README.md');

/**
 * Wait until the bench runs a child matching `child` (with at least `grandchildren` processes of its own), and return
 * the bench's pid and every process below it, which must all end after the bench is stopped.
 */
async function whileChildRuns(run: Run, child: RegExp, grandchildren = 0): Promise<number[]> {
  let exited = false;
  void run.exit.then(() => (exited = true));
  const matching = () => descendants(run.bench.pid!).filter((p) => child.test(commandLine(p)));
  await until(
    () => exited || matching().some((p) => descendants(p).length >= grandchildren),
    `the bench to start a process matching ${child}${grandchildren ? ` with ${grandchildren} of its own` : ''}`,
  );
  expect(exited, `the bench ended before it was stopped:\n${run.output().slice(-3000)}`).toBe(false);
  seen = [run.bench.pid!, ...descendants(run.bench.pid!)];
  expect(
    seen.some((p) => child.test(commandLine(p))),
    `${child} among the bench's processes`,
  ).toBe(true);
  return seen;
}

/** Every process of the run has ended, and no results JSON was written. */
async function allEnded(run: Run, pids: number[]): Promise<void> {
  await until(() => pids.every((p) => !alive(p)), `the bench's processes (${pids.join(', ')}) to end`, 60_000);
  expect(existsSync(run.out)).toBe(false);
}

/** bench:preprocess: every process has ended; nothing was written: no results, the README as it was, no list files. */
async function nothingLeft(run: Run, pids: number[]): Promise<void> {
  await allEnded(run, pids);
  expect(readFileSync(readmeOf(run.dir), 'utf8')).toContain('\nold\n');
  expect(readdirSync(run.tmp).filter((f) => f.startsWith('vlfer-bench-preprocess-lists-'))).toEqual([]);
}

describe('bench:preprocess stops cleanly', () => {
  it('Ctrl-C (SIGINT to its process group) while vlfer’s child runs: exit 130 at once, a message, nothing left', async () => {
    const run = startPreprocess(['--images', '4', '--threads', '1', '--rounds', '1', '--passes', '1000000']);
    const pids = await whileChildRuns(run, VLFER_CHILD);
    const child = pids.find((p) => VLFER_CHILD.test(commandLine(p)))!;
    const t0 = performance.now();
    process.kill(-run.bench.pid!, 'SIGINT');
    const { code } = await run.exit;
    const ms = performance.now() - t0;
    console.log(`bench:preprocess: SIGINT to exit ${ms.toFixed(0)} ms`);
    expect(code).toBe(130);
    // taskset execs the node child: the group leader is the process that runs preprocess-child.ts
    expect(run.output()).toContain(
      `bench:preprocess: SIGINT: stopped and killed preprocess-child.ts (process group ${child}); no results written (${run.out} is as it was)`,
    );
    await nothingLeft(run, pids);
  }, 120_000);

  it('SIGTERM while the PyTorch peer runs with two DataLoader workers: exit 143, the peer and its workers end too', async () => {
    // 2 threads: vlfer's worker pool, then preprocess.py with a DataLoader of 2 worker processes, round after round
    const run = startPreprocess([
      ...['--images', '4', '--batch', '2', '--threads', '2'],
      ...['--rounds', '1000000', '--passes', '200', '--vs', 'torch'],
    ]);
    const pids = await whileChildRuns(run, TORCH_CHILD, 2);
    process.kill(run.bench.pid!, 'SIGTERM');
    const { code } = await run.exit;
    expect(code).toBe(143);
    expect(run.output()).toMatch(
      /bench:preprocess: SIGTERM: stopped and killed preprocess\.py \(process group \d+\); no results written/,
    );
    await nothingLeft(run, pids);
  }, 180_000);

  it('SIGKILL to the bench alone (no handler runs) while vlfer’s child runs: the child notices and exits', async () => {
    const run = startPreprocess(['--images', '4', '--threads', '1', '--rounds', '1', '--passes', '1000000']);
    const pids = await whileChildRuns(run, VLFER_CHILD);
    process.kill(run.bench.pid!, 'SIGKILL');
    expect((await run.exit).signal).toBe('SIGKILL');
    await until(() => pids.every((p) => !alive(p)), `the bench's child (${pids.join(', ')}) to end`, 60_000);
    expect(existsSync(run.out)).toBe(false);
  }, 120_000);
});

describe('a --vs torch bench stops its PyTorch peer', () => {
  const PEER = /train_head\.py/;
  it('bench:train-head: SIGTERM while train_head.py runs: exit 143, a line naming the peer killed, nothing of its group left', async () => {
    // a tiny head, rounds without end: vlfer trains for a few seconds, then the peer does, and so on; the signal
    // lands as soon as a peer runs
    const run = start(TRAIN_HEAD, () => [
      ...['--pairs', '2048', '--dim', '8', '--out-dim', '16', '--batch', '64', '--epochs', TRAIN_HEAD_EPOCHS],
      ...['--threads', '1', '--vs', 'torch', '--rounds', '1000000'],
    ]);
    const pids = await whileChildRuns(run, PEER);
    const peer = pids.find((p) => PEER.test(commandLine(p)))!;
    expect(groupMembers(peer), 'the peer leads a process group of its own').toContain(peer);
    process.kill(run.bench.pid!, 'SIGTERM');
    const { code } = await run.exit;
    expect(code).toBe(143);
    expect(run.output()).toContain(
      `bench:train-head: SIGTERM: stopped and killed train_head.py (process group ${peer}); no results written (${run.out} is as it was)`,
    );
    await allEnded(run, pids);
    await until(() => groupMembers(peer).length === 0, `no process left in the peer's group ${peer}`, 10_000);
  }, 180_000);
});

describe('timing children and PyTorch peers watch the pid they are given', () => {
  /** The pid of a process that has ended: a bench that died before its child got going. */
  const goneStarter = () =>
    new Promise<number>((resolve) => {
      const p = spawn('true');
      p.on('exit', () => resolve(p.pid!));
    });
  const list = () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-pp-watch-'));
    const angry = join(sharedPath('data', 'fer2013-privatetest'), 'angry');
    writeFileSync(
      join(dir, 'list.txt'),
      `${readdirSync(angry)
        .slice(0, 4)
        .map((f) => join(angry, f))
        .join('\n')}\n`,
    );
    return join(dir, 'list.txt');
  };
  /** Run `argv` (busy far longer than the test waits) to its end: it must end by itself with 130 and say why. */
  async function endsOnItsOwn(argv: string[], name: string, parent: number): Promise<void> {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    seen = [p.pid!];
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let code: number | null | undefined;
    p.on('close', (c) => (code = c));
    await until(() => code !== undefined, `${name}, told a parent that is gone, to exit on its own`, 60_000);
    expect(stderr).toContain(`${name}: the parent process ${parent} is gone; exiting`);
    expect(code).toBe(130);
  }

  it('preprocess-child.ts', async () => {
    const parent = await goneStarter();
    const spec = { list: list(), mode: 'exp-clip', draft: false, workers: 0, batch: 4, passes: 1_000_000, parent };
    const child = join(repoRoot, 'apps', 'bench', 'src', 'preprocess-child.ts');
    const argv = [process.execPath, '--conditions=@vlfer/source', '--import', 'tsx', child, JSON.stringify(spec)];
    await endsOnItsOwn(argv, 'bench:preprocess child', parent);
  }, 120_000);

  /** Flags that keep each PyTorch script busy far longer than a test waits (tiny-clip's config for the CLIP ones). */
  const tiny = () => sharedPath('fixtures', 'tiny-clip', 'config.json');
  const PEERS: Record<string, () => string[]> = {
    'encode.py': () => ['--config', tiny(), '--batch', '1', '--reps', '1000000'],
    'hesp_step.py': () => ['--config', tiny(), '--clips', '1', '--frames', '1', '--steps', '1000000'],
    // one load of a tiny file: the watch, started before it, ends the script first
    'load.py': () => ['--config', tiny(), '--checkpoint', sharedPath('fixtures', 'tiny-clip', 'model.safetensors')],
    'preprocess.py': () => ['--list', list(), '--mode', 'exp-clip', '--passes', '1000000'],
    'train_head.py': () => ['--pairs', '64', '--dim', '8', '--out-dim', '16', '--batch', '8', '--epochs', '1000000'],
    'vjp.py': () => ['--config', tiny(), '--images', '1', '--reps', '1000000'],
  };
  const TORCH_DIR = join(repoRoot, 'apps', 'bench', 'torch');

  it('every script in apps/bench/torch that a bench runs is among the cases below', () => {
    const scripts = readdirSync(TORCH_DIR).filter(
      (f) => f.endsWith('.py') && !['common.py', 'clip_model.py'].includes(f),
    );
    expect(scripts.sort()).toEqual(Object.keys(PEERS).sort());
  });

  it.each(Object.keys(PEERS))(
    'the PyTorch peer apps/bench/torch/%s',
    async (script) => {
      const parent = await goneStarter();
      const flags = [...PEERS[script]!(), '--threads', '1', '--parent', String(parent)];
      await endsOnItsOwn([torchPython(), join(TORCH_DIR, script), ...flags], script, parent);
    },
    120_000,
  );
});
