/**
 * @file `pnpm <script>` runs a script through `sh -c`. Without `exec`, sh stays node's parent when pnpm is killed, so
 * the command never notices and runs on holding its lock (issue 22, item 9). Every script of the root package.json
 * that starts a program must `exec` it, and each CLI script, started through the real pnpm on work that would run
 * for many minutes, must stop once pnpm is SIGKILLed: its node process gone with every process it started, its run
 * lock released.
 *
 * The scripts run from a scratch directory that holds a copy of the root package.json (the scripts exactly as they
 * are), links to the repository's apps and node_modules, and — since `pnpm test` runs before `pnpm build` —
 * `apps/cli/dist/main.js` as a one-line shim that imports the CLI's source through tsx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import {
  alive,
  commandLine,
  descendants,
  processReport,
  repoRoot,
  sharedPath,
  until,
  writePaperAfew,
  writeSyntheticVideoSet,
} from '@vlfer/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
const work = mkdtempSync(join(tmpdir(), 'vlfer-wrapper-kill-'));
const scratch = join(work, 'repo');
const tsxLoader = pathToFileURL(
  join(dirname(createRequire(join(repoRoot, 'package.json')).resolve('tsx/package.json')), 'dist', 'loader.mjs'),
).href;

const files = (dir: string) => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : []);

interface Case {
  /** how the test is titled, when not by `script` alone (a second case of the same script) */
  name?: string;
  script: string;
  args: () => string[];
  /** the work has begun (the command's modules are loaded) */
  started: (output: string) => boolean;
  env?: Record<string, string>;
  /**
   * a process the command starts and waits on (matched on its command line): the kill lands while it runs, and it
   * must end too
   */
  child?: RegExp;
  /** checks of what the kill left behind, once every process has ended */
  after?: () => void;
}
const out = (name: string) => join(work, name);
const longEval = (name: string) => [
  'eval',
  '--dataset',
  'fer2013',
  '--root',
  sharedPath('data', 'fer2013-privatetest'),
  '--model',
  sharedPath('fixtures', 'tiny-clip'),
  '--prompts',
  '1',
  '--batch-size',
  '8',
  '--no-cache',
  '--no-progress',
  '--out',
  out(name),
];
const longTrain = (name: string) => [
  'train',
  '--dataset',
  'afew',
  '--train',
  join(work, 'videos', 'train.txt'),
  '--test',
  join(work, 'videos', 'test.txt'),
  '--root',
  join(work, 'videos'),
  '--model',
  sharedPath('fixtures', 'tiny-clip'),
  '--known',
  '0,1',
  '--epochs',
  '100000',
  '--no-progress',
  '--out',
  out(name),
];
/** a `--shared` folder whose `fixtures/graphs/tiny` is the tiny CLIP's config, for the random-weight benchmarks */
const tinyShared = () => join(work, 'shared');
const cases: Case[] = [
  { script: 'exp-clip', args: () => longEval('e1'), started: () => existsSync(join(out('e1'), '.vlfer-run.lock')) },
  { script: 'exp-clip:dev', args: () => longEval('e2'), started: () => existsSync(join(out('e2'), '.vlfer-run.lock')) },
  { script: 'hesp', args: () => longTrain('h1'), started: () => existsSync(join(out('h1'), '.vlfer-run.lock')) },
  { script: 'hesp:dev', args: () => longTrain('h2'), started: () => existsSync(join(out('h2'), '.vlfer-run.lock')) },
  {
    script: 'vlfer',
    args: () => ['exp-clip', ...longEval('v1')],
    started: () => existsSync(join(out('v1'), '.vlfer-run.lock')),
  },
  {
    script: 'vlfer:dev',
    args: () => ['hesp', ...longTrain('v2')],
    started: () => existsSync(join(out('v2'), '.vlfer-run.lock')),
  },
  {
    script: 'bench:ablations',
    args: () => [
      '--only',
      'exp-clip-zero-shot/prompt-x-preprocess',
      '--shared',
      dirname(sharedPath('fixtures')),
      '--results',
      out('ablations'),
      '--cache-dir',
      out('ablations-cache'),
    ],
    started: () => files(out('ablations')).length > 0,
  },
  {
    // one HESP split of the paper table on a synthetic AFEW set (the same runner as bench:ablations)
    script: 'bench:paper',
    args: () => [
      'hesp-table',
      '--data-root',
      out('paper-data'),
      '--backbones',
      'tiny-clip',
      '--splits',
      '0',
      '--epochs',
      '1000000',
      '--shared',
      dirname(sharedPath('fixtures')),
      '--results',
      out('paper'),
      '--cache-dir',
      out('paper-cache'),
    ],
    started: () => files(out('paper')).length > 0,
  },
  {
    script: 'bench:train-head',
    args: () => [
      '--pairs',
      '2048',
      '--dim',
      '8',
      '--out-dim',
      '16',
      '--batch',
      '64',
      '--epochs',
      '1000000',
      '--threads',
      '1',
      '--out',
      out('train-head.json'),
    ],
    started: (o) => o.includes('generated 2048 pairs'),
  },
  {
    // with its PyTorch peer (the --vs torch bench that reaches its peer soonest): a tiny head, rounds without end, so
    // that vlfer and train_head.py take turns of a few seconds each; the kill lands while train_head.py runs, which
    // must end too (the bench kills its process group on exit, and the peer watches the bench's pid)
    name: 'bench:train-head --vs torch',
    script: 'bench:train-head',
    args: () => [
      ...['--pairs', '2048', '--dim', '8', '--out-dim', '16', '--batch', '64', '--epochs', '100', '--threads', '1'],
      ...['--vs', 'torch', '--rounds', '1000000', '--out', out('train-head-torch.json')],
    ],
    started: (o) => o.includes('generated 2048 pairs'),
    child: /train_head\.py/,
    after: () => expect(existsSync(out('train-head-torch.json'))).toBe(false),
  },
  {
    script: 'bench:cache',
    args: () => ['--entries', '1000000', '--dim', '8'],
    env: { TMPDIR: out('cache-tmp') },
    started: () => files(out('cache-tmp')).length > 50,
  },
  {
    script: 'bench:faces',
    args: () => ['--shared', dirname(sharedPath('fixtures')), '--runs', '1000000', '--threads', '1'],
    env: { TMPDIR: out('faces-tmp') },
    started: () => files(out('faces-tmp')).some((f) => f.endsWith('.jpg')),
  },
  ...(['bench:hesp-step', 'bench:vjp'] as const).map((script) => ({
    script,
    args: () => [
      '--shared',
      tinyShared(),
      '--arch',
      'tiny',
      ...(script === 'bench:hesp-step' ? ['--clips', '2', '--frames', '2', '--steps'] : ['--images', '2', '--reps']),
      '1000000',
      '--threads',
      '1',
      '--models-dir',
      out(`${script}-models`),
      '--out',
      out(`${script}.json`),
    ],
    // the kill lands in the timed loop: a loop of runs must still give the parent watch its turn
    started: (output: string) => /^vlfer (warm-up|VJP|step) \d+:/m.test(output),
  })),
  {
    script: 'bench:load',
    args: () => [
      '--shared',
      tinyShared(),
      '--arch',
      'tiny',
      '--rounds',
      '1000000',
      '--threads',
      '1',
      '--models-dir',
      out('bench-load-models'),
      '--out',
      out('bench-load.json'),
    ],
    started: () => files(out('bench-load-models')).some((f) => f.endsWith('model.safetensors')),
  },
  {
    // four FER2013 images, vlfer's side only (no --vs torch): the bench waits on one taskset-pinned
    // preprocess-child.ts doing a million passes; the kill lands while it runs. Nothing may be left: no child, no
    // results JSON, no temporary list directory.
    script: 'bench:preprocess',
    args: () => [
      '--shared',
      dirname(sharedPath('fixtures')),
      '--sizes',
      '48x48',
      '--images',
      '4',
      '--modes',
      'exp-clip',
      '--threads',
      '1',
      '--rounds',
      '1',
      '--passes',
      '1000000',
      '--image-dir',
      out('pp-images'),
      '--out',
      out('preprocess.json'),
    ],
    env: { TMPDIR: out('pp-tmp') },
    started: () => files(out('pp-tmp')).some((f) => f.startsWith('vlfer-bench-preprocess-lists-')),
    child: /preprocess-child\.ts/,
    after: () => {
      expect(files(out('pp-tmp')).filter((f) => f.startsWith('vlfer-bench-preprocess-lists-'))).toEqual([]);
      expect(existsSync(out('preprocess.json'))).toBe(false);
    },
  },
];

beforeAll(async () => {
  mkdirSync(join(scratch, 'apps'), { recursive: true });
  writeFileSync(join(scratch, 'package.json'), JSON.stringify(pkg, null, 2));
  symlinkSync(join(repoRoot, 'node_modules'), join(scratch, 'node_modules'));
  symlinkSync(join(repoRoot, 'apps', 'bench'), join(scratch, 'apps', 'bench'));
  mkdirSync(join(scratch, 'apps', 'cli', 'dist'), { recursive: true });
  symlinkSync(join(repoRoot, 'apps', 'cli', 'src'), join(scratch, 'apps', 'cli', 'src'));
  symlinkSync(join(repoRoot, 'apps', 'cli', 'package.json'), join(scratch, 'apps', 'cli', 'package.json'));
  writeFileSync(
    join(scratch, 'apps', 'cli', 'dist', 'main.js'),
    `await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'apps', 'cli', 'src', 'main.ts')).href)});\n`,
  );
  for (const d of ['cache-tmp', 'faces-tmp', 'pp-tmp']) mkdirSync(out(d));
  mkdirSync(join(tinyShared(), 'fixtures', 'graphs', 'tiny'), { recursive: true });
  mkdirSync(join(tinyShared(), 'assets'), { recursive: true });
  writeFileSync(
    join(tinyShared(), 'fixtures', 'graphs', 'tiny', 'config.json'),
    readFileSync(sharedPath('fixtures', 'tiny-clip', 'config.json')),
  );
  symlinkSync(sharedPath('assets', 'clip-tokenizer'), join(tinyShared(), 'assets', 'clip-tokenizer'));
  await writePaperAfew(out('paper-data'));
  await writeSyntheticVideoSet(join(work, 'videos'), {
    trainClasses: [0, 1],
    testClasses: [0, 1, 2],
    trainPerClass: 2,
    testPerClass: 1,
    trainFrames: 4,
    testFrames: 4,
  });
}, 120_000);

let started: ChildProcess | undefined;
let seen: number[] = [];
afterEach(() => {
  // a failed case must not leave its processes running on a shared machine
  for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (started?.pid && alive(started.pid)) started.kill('SIGKILL');
  started = undefined;
  seen = [];
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('package.json scripts exec their program (a killed pnpm leaves no orphan)', () => {
  it('every script that starts one program starts it with exec (so it is pnpm\u2019s child, not a shell\u2019s)', () => {
    const programs = /^(node|pnpm|vite|vitest|turbo|tsup|tsc|prettier|changeset)\b/;
    const missing = Object.entries(pkg.scripts).filter(([, cmd]) => !cmd.includes('&&') && programs.test(cmd));
    expect(missing.map(([name]) => name)).toEqual([]);
    for (const [name, cmd] of Object.entries(pkg.scripts))
      if (/^exec /.test(cmd)) expect(cmd, name).not.toMatch(/&&|;|\|/);
  });

  it('every CLI script is covered below', () => {
    const cli = Object.entries(pkg.scripts)
      .filter(([, cmd]) => /apps\/[^ ]+\/(src|dist)\/[^ ]+\.(ts|js)( |$)/.test(cmd))
      .map(([name]) => name);
    // export-vjp-graphs writes four graphs synchronously in seconds: nothing long-running to stop
    // bench:encode materialises ViT-B/32-size weights (hundreds of MB) before any work: too heavy for pnpm test
    // bench:table reads a folder of JSON files and writes one table in well under a second: nothing to stop
    expect(cli.filter((n) => !['export-vjp-graphs', 'bench:encode', 'bench:table'].includes(n)).sort()).toEqual(
      [...new Set(cases.map((c) => c.script))].sort(),
    );
  });

  it.each(cases.map((c) => ({ ...c, name: c.name ?? c.script })))(
    'pnpm -s $name: SIGKILL to pnpm ends the node process it started and releases its lock',
    async (c) => {
      const pnpm = spawn('pnpm', ['-s', c.script, ...c.args()], {
        cwd: scratch,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        env: {
          ...process.env,
          ...c.env,
          ...(c.script === 'exp-clip' || c.script === 'hesp' || c.script === 'vlfer'
            ? { NODE_OPTIONS: `--conditions=@vlfer/source --import ${tsxLoader}` }
            : {}),
        },
      });
      started = pnpm;
      let output = '';
      pnpm.stdout!.on('data', (b: Buffer) => (output += b.toString()));
      pnpm.stderr!.on('data', (b: Buffer) => (output += b.toString()));
      let exited = false;
      pnpm.on('exit', () => (exited = true));
      const matching = (pids: number[]) => pids.filter((p) => c.child?.test(commandLine(p)));
      await until(
        () => exited || (c.started(output) && (!c.child || matching(descendants(pnpm.pid!)).length > 0)),
        `${c.script} to start its work${c.child ? ` and a process matching ${c.child}` : ''}`,
      );
      expect(exited, `pnpm -s ${c.script} ended before it was killed:\n${output.slice(-3000)}`).toBe(false);
      seen = descendants(pnpm.pid!);
      expect(seen.length).toBeGreaterThan(0);
      if (c.child) expect(matching(seen), `${c.child} among the processes pnpm started`).toHaveLength(1);
      pnpm.kill('SIGKILL');
      await until(() => exited, 'pnpm to die');
      // events, not deadlines: every process pnpm had started ends, and the lock goes with it
      await until(
        () => seen.every((p) => !alive(p)),
        `the processes pnpm started (${seen.join(', ')}) to end after pnpm was killed`,
        undefined,
        // a hang says where each survivor is, and what the command printed
        () => `alive: ${seen.filter(alive).map(processReport).join('; ')}; output: ${output.slice(-2000)}`,
      );
      expect(output).toMatch(/: the parent process \d+ is gone; (stopping|exiting)/);
      const runs = ['e1', 'e2', 'h1', 'h2', 'ablations'].flatMap((d) => files(out(d)).map((f) => join(d, f)));
      expect(runs.filter((f) => f.endsWith('.vlfer-run.lock'))).toEqual([]);
      c.after?.();
    },
    240_000,
  );
});
