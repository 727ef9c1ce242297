/**
 * @file Consumer smoke test of the published packages (`pnpm test:consumer`; run by `.ci/run` after `pnpm build`).
 *
 * As a researcher outside the monorepo would: `pnpm pack` every public package, install the tarballs into a fresh
 * project, then
 * 1. check each tarball: LICENSE, README and every exported file present; no tests, test data or fixtures;
 * 2. `import` and `require` (require(esm)) every entry in one process: same names, same objects (one instance);
 * 3. run a CommonJS consumer (`.cjs`) that calls into the packages;
 * 4. type-check an ESM `.ts` consumer (module nodenext) and a CommonJS `.cts` consumer against the published declarations;
 * 5. bundle the runtime-neutral entries (core, metrics, datasets, llm-knowledge, losses, image, encoders, faces, open-set,
 *    projection-head/format) with
 *    esbuild for `--platform=browser` and run the bundle in a fresh `vm` context (no Node globals);
 * 6. run publint --strict and attw (profile esm-only: node16 from ESM, bundler; see tsup.ts) on every package;
 * 7. bundle-size budgets and a misspelt named import (bundle-size.ts).
 * 8. run the `vlfer` bin of the installed @vlfer/cli: `--version`, a bad flag (one `vlfer: ` line), and `vlfer exp-clip
 *    eval` on four FER2013 images with the tiny test CLIP; publint --strict on its tarball; `npx vlfer bench --help`,
 *    `vlfer bench ablations --list` (the registry of the installed @vlfer/bench) and `vlfer bench paper` with a
 *    missing data root (its shipped data config is read, the error names the path, exit 1).
 * 9. vega and vega-lite, optional peers of @vlfer/bench, are not installed with @vlfer/cli: `vlfer bench ablations
 *    --charts` stops at once naming the install command; the zero-shot ablation runs, with a report without charts,
 *    and `--emit` writes job files; then, with vega and vega-lite added to the project, `--charts` draws the charts.
 * Each tarball's source maps must name only files inside the tarball (no absolute path of the build machine), and its
 * types import no module that installing it does not install (an optional peer: `type-imports.ts`).
 * The consumer files are in `tooling/build/consumer/`. Any failure exits non-zero with what failed. `--keep` leaves
 * the temporary project for inspection.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { packAll, publicApps, publicPackages, repoRoot, type PublicPackage } from './pack.js';
import { sourceMapProblems } from './source-maps.js';
import { typeImportProblems } from './type-imports.js';
import { bundleTable, checkBundles, MUST_FAIL } from './bundle-size.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';

const root = repoRoot;
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const keep = process.argv.includes('--keep');
// the CLI checks run on the shared test assets: said at once when they are absent, not as a raw ENOENT at step 8
const shared = process.env.VLFER_SHARED ?? join(root, '..', 'shared');
for (const asset of [
  ['fixtures', 'tiny-clip'],
  ['data', 'fer2013-privatetest'],
])
  if (!existsSync(join(shared, ...asset)))
    throw new Error(
      `pnpm test:consumer runs the CLI on the shared test assets: ${join(shared, ...asset)} is missing (put the shared folder beside the repository as ../shared, or set VLFER_SHARED)`,
    );
const failures: string[] = [];
const step = (what: string) => process.stdout.write(`\n== ${what}\n`);
const fail = (what: string) => {
  failures.push(what);
  process.stdout.write(`FAIL ${what}\n`);
};

const packages = publicPackages();
const specifiers = (p: PublicPackage) =>
  Object.keys(p.exports)
    .filter((k) => k !== './package.json')
    .map((k) => (k === '.' ? p.name : `${p.name}/${k.slice(2)}`));

const work = mkdtempSync(join(tmpdir(), 'vlfer-consumer-'));
const tarballs = join(work, 'tarballs');
const project = join(work, 'project');
// the consumer files (an ESM import/require check, a .cjs consumer, .ts/.cts consumers, a browser entry)
cpSync(join(import.meta.dirname, '..', 'consumer'), project, { recursive: true });
process.stdout.write(`consumer project in ${project}\n`);

step('pack');
const packed = packAll(tarballs);
for (const f of packed.failures) fail(f);
const tgz = packed.tarballs;
for (const p of packages) {
  const file = tgz[p.name];
  if (!file) continue;
  const files = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  const needed = [
    'LICENSE',
    'README.md',
    'package.json',
    ...Object.values(p.exports)
      .flatMap((v) => {
        if (typeof v === 'string') return [];
        const { types, default: js } = v as { types?: string; default?: string };
        return [types, js, js && `${js}.map`].filter((f): f is string => typeof f === 'string');
      })
      .map((f) => f.replace(/^\.\//, '')),
  ];
  for (const f of needed) if (!files.includes(f)) fail(`${p.name}: tarball lacks ${f}`);
  const stray = files.filter((f) =>
    /(^|\/)(test-data|__fixtures__|fixtures)\/|\.test\.ts$|\.reference\.ts$|tsconfig\.json$|tsup\.config\.ts$/.test(f),
  );
  if (stray.length > 0) fail(`${p.name}: tarball ships test files: ${stray.slice(0, 5).join(', ')}`);
  for (const problem of sourceMapProblems(file, files)) fail(`${p.name}: ${problem}`);
  for (const problem of typeImportProblems(p.dir, JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'))))
    fail(problem);
  process.stdout.write(`${p.name}: ${files.length} files, ${(readFileSync(file).length / 1024).toFixed(0)} KiB\n`);
}
if (failures.length > 0) throw new Error(`packing failed:\n${failures.join('\n')}`);

step('install the tarballs into a fresh project');
const overrides = Object.fromEntries(Object.entries(tgz).map(([n, f]) => [n, `file:${f}`]));
const typesNode = JSON.parse(readFileSync(join(root, 'node_modules', '@types', 'node', 'package.json'), 'utf8'))
  .version as string;
writeFileSync(
  join(project, 'package.json'),
  JSON.stringify(
    {
      name: 'consumer',
      private: true,
      type: 'module',
      dependencies: overrides,
      devDependencies: { '@types/node': typesNode },
      pnpm: { overrides },
    },
    null,
    2,
  ),
);
const install = spawnSync(
  'pnpm',
  ['install', '--prefer-offline', '--ignore-workspace', '--config.strict-peer-dependencies=false'],
  { cwd: project, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } },
);
if (install.status !== 0) {
  process.stdout.write(install.stdout + install.stderr);
  throw new Error('pnpm install of the tarballs failed');
}

step('import and require every entry: same names, same objects');
const all = packages.flatMap(specifiers);
const same = spawnSync(process.execPath, ['same-instance.mjs', JSON.stringify(all)], {
  cwd: project,
  encoding: 'utf8',
});
process.stdout.write(same.stdout);
if (same.status !== 0) fail(`import/require: ${same.stderr.trim()}`);

step('a CommonJS consumer');
const cjs = spawnSync(process.execPath, ['consumer.cjs'], { cwd: project, encoding: 'utf8' });
process.stdout.write(cjs.stdout);
if (cjs.status !== 0) fail(`CommonJS consumer: ${cjs.stderr.trim().split('\n').slice(0, 6).join('\n')}`);

step('type-check an ESM .ts and a CommonJS .cts consumer (module nodenext)');
writeFileSync(
  join(project, 'tsconfig.json'),
  JSON.stringify(
    {
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['consumer.ts', 'consumer.cts'],
    },
    null,
    2,
  ),
);
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
  { cwd: project, encoding: 'utf8' },
);
if (tsc.status !== 0) fail(`type-check: ${tsc.stdout.trim().split('\n').slice(0, 12).join('\n')}`);
else process.stdout.write('consumer.ts and consumer.cts type-check\n');

step('bundle the runtime-neutral entries for the browser and run them in a fresh context');
const bundle = spawnSync(
  bin('esbuild'),
  [
    'browser.mjs',
    '--bundle',
    '--platform=browser',
    '--format=iife',
    '--outfile=browser-bundle.js',
    '--log-level=warning',
  ],
  { cwd: project, encoding: 'utf8' },
);
if (bundle.status !== 0)
  fail(`esbuild --platform=browser: ${bundle.stderr.trim().split('\n').slice(0, 12).join('\n')}`);
else {
  const code = readFileSync(join(project, 'browser-bundle.js'), 'utf8');
  // web-platform globals every browser has (safetensors headers are JSON in UTF-8); no Node globals
  const context: Record<string, unknown> = { console, TextEncoder, TextDecoder };
  context.globalThis = context;
  try {
    runInNewContext(code, context, { filename: 'browser-bundle.js' });
    const r = context.result as Record<string, unknown>;
    process.stdout.write(`bundle ${(code.length / 1024).toFixed(0)} KiB ran: ${JSON.stringify(r)}\n`);
    if (
      r.auroc !== 0.75 ||
      r.classes !== 8 ||
      r.clips !== 1 ||
      r.frames !== 16 ||
      r.prompts !== 10 ||
      r.cosine !== 100 ||
      r.faces !== 6 ||
      r.head !== 136 ||
      r.resized !== 64 ||
      r.pil !== 53 ||
      Math.abs((r.pixel as number) - 0.2) > 1e-6
    )
      fail(`browser bundle computed ${JSON.stringify(r)}`);
  } catch (error) {
    fail(`browser bundle threw in a fresh context: ${(error as Error).message}`);
  }
}

step('bundle budgets (esbuild, minified, gzip -9) and a misspelt named import');
const sizes = await checkBundles(project);
process.stdout.write(`${bundleTable(sizes.rows)}\n`);
for (const f of sizes.failures) fail(`bundle: ${f}`);
if (sizes.failures.length === 0)
  process.stdout.write(`within budget; ${MUST_FAIL.map((m) => m.name).join(', ')}: fails to bundle, as it must\n`);

step('the vlfer command of @vlfer/cli, installed from its tarball: --version, an error, a tiny evaluation');
for (const problem of cliProblems()) fail(`@vlfer/cli: ${problem}`);
step(
  'vlfer bench (@vlfer/bench through the installed @vlfer/cli): npx vlfer bench --help, --list, a missing data root',
);
for (const problem of benchCliProblems()) fail(`@vlfer/cli bench: ${problem}`);
step(
  'vega and vega-lite are optional peers of @vlfer/bench: vlfer bench without them (--charts fails, the rest works), then with them',
);
for (const problem of chartProblems()) fail(`@vlfer/cli charts: ${problem}`);

step('publint --strict and attw on every package');
for (const p of packages) {
  const pl = spawnSync(bin('publint'), ['--strict', tgz[p.name]!], { cwd: p.dir, encoding: 'utf8' });
  if (pl.status !== 0 || /warning|error/i.test(pl.stdout)) fail(`publint ${p.name}:\n${pl.stdout.trim()}`);
  // esm-only: the packages are ESM that Node >= 20.19 also serves to require() (see tooling/build/src/tsup.ts); attw's
  // TypeScript 5.6 predates require(esm) and would call node16-from-CJS "dynamic import only"; the .cts consumer above
  // is the check of that resolution (TypeScript 5.9, module nodenext), the require() consumers the check at run time
  const at = spawnSync(bin('attw'), [tgz[p.name]!, '--profile', 'esm-only', '--format', 'table-flipped'], {
    cwd: p.dir,
    encoding: 'utf8',
  });
  if (at.status !== 0) fail(`attw ${p.name}:\n${at.stdout.trim()}`);
  else process.stdout.write(`${p.name}: publint clean, attw green (profile esm-only: node16 ESM, bundler)\n`);
}

for (const app of publicApps()) {
  const pl = spawnSync(bin('publint'), ['--strict', tgz[app.name]!], { cwd: app.dir, encoding: 'utf8' });
  if (pl.status !== 0 || /warning|error/i.test(pl.stdout)) fail(`publint ${app.name}:\n${pl.stdout.trim()}`);
  else process.stdout.write(`${app.name}: publint clean (a bin, no library exports: no attw)\n`);
}

if (!keep) rmSync(work, { recursive: true, force: true });
if (failures.length > 0) {
  process.stdout.write(`\n${failures.length} consumer check(s) failed\n`);
  process.exit(1);
}
process.stdout.write(`\nall consumer checks passed (${packages.length} packages)\n`);

/**
 * Run the installed `vlfer` bin as a user would: `--version` equals @vlfer/cli's version; a bad dataset id is one
 * `vlfer: ` line and exit 1; `vlfer exp-clip eval` on two classes × two FER2013 images with the tiny test CLIP prints
 * its table and writes metrics.json. Returns what went wrong.
 */
function cliProblems(): string[] {
  const problems: string[] = [];
  const vlfer = join(project, 'node_modules', '.bin', 'vlfer');
  const run = (args: string[]) => spawnSync(vlfer, args, { cwd: project, encoding: 'utf8' });
  const want = publicApps().find((a) => a.name === '@vlfer/cli')?.version;
  const version = run(['--version']);
  if (version.status !== 0 || version.stdout.trim() !== want)
    problems.push(`vlfer --version printed '${version.stdout.trim()}' (exit ${version.status}), expected ${want}`);
  const bad = run(['exp-clip', 'eval', '--dataset', 'fer-2013', '--root', '.', '--model', 'm']);
  if (bad.status !== 1 || !/^vlfer: option '--dataset <id>'/.test(bad.stderr))
    problems.push(`a bad --dataset gave exit ${bad.status} and: ${bad.stderr.trim().slice(0, 300)}`);
  const data = join(project, 'faces');
  for (const c of ['happy', 'sad']) {
    const from = join(shared, 'data', 'fer2013-privatetest', c);
    mkdirSync(join(data, c), { recursive: true });
    for (const f of readdirSync(from).sort().slice(0, 2)) cpSync(join(from, f), join(data, c, f));
  }
  const out = join(project, 'eval');
  const model = join(shared, 'fixtures', 'tiny-clip');
  const ok = run(
    ['exp-clip', 'eval', '--dataset', 'image-folder', '--root', data, '--model', model].concat([
      '--prompts',
      '1',
      '--out',
      out,
      '--no-progress',
      '--no-cache',
    ]),
  );
  if (ok.status !== 0) problems.push(`vlfer exp-clip eval failed (exit ${ok.status}): ${ok.stderr.trim().slice(-600)}`);
  else if (!/class_name\s+\d+\.\d+\s+\d+\.\d+/.test(ok.stdout) || !existsSync(join(out, 'metrics.json')))
    problems.push(`vlfer exp-clip eval printed no table or wrote no metrics.json:\n${ok.stdout.slice(0, 400)}`);
  else process.stdout.write(`vlfer ${want}: --version, the error line and a 4-image evaluation as expected\n`);
  return problems;
}

/**
 * `vlfer bench` from the installed tarballs, as a user runs it: `npx vlfer bench --help` names both subcommands,
 * `vlfer bench ablations --list` lists the registry of @vlfer/bench, and `vlfer bench paper exp-clip-table2` with a
 * missing data root reads the data config shipped in @vlfer/bench and fails naming the path.
 */
function benchCliProblems(): string[] {
  const problems: string[] = [];
  const help = spawnSync('npx', ['--no-install', 'vlfer', 'bench', '--help'], { cwd: project, encoding: 'utf8' });
  if (
    help.status !== 0 ||
    !/^ {2}ablations \[options\]/m.test(help.stdout) ||
    !/^ {2}paper \[options\] <table>/m.test(help.stdout)
  )
    problems.push(
      `npx vlfer bench --help (exit ${help.status}) did not list ablations and paper:\n${help.stdout}${help.stderr}`,
    );
  const vlfer = join(project, 'node_modules', '.bin', 'vlfer');
  const list = spawnSync(vlfer, ['bench', 'ablations', '--list'], { cwd: project, encoding: 'utf8' });
  if (list.status !== 0 || !/^exp-clip-zero-shot\/prompt-x-preprocess \(\d+ runs\): /m.test(list.stdout))
    problems.push(`vlfer bench ablations --list (exit ${list.status}):\n${list.stdout.slice(0, 300)}${list.stderr}`);
  const gone = join(project, 'no-such-data');
  const paper = spawnSync(vlfer, ['bench', 'paper', 'exp-clip-table2', '--data-root', gone], {
    cwd: project,
    encoding: 'utf8',
  });
  if (paper.status !== 1 || !paper.stderr.startsWith(`vlfer: --data-root: the data root ${gone} does not exist`))
    problems.push(`vlfer bench paper with a missing data root gave exit ${paper.status} and: ${paper.stderr.trim()}`);
  if (problems.length === 0)
    process.stdout.write('vlfer bench: --help, --list and the missing data root error as expected\n');
  return problems;
}

/**
 * vega and vega-lite, optional peer dependencies of @vlfer/bench, from the installed tarballs: not installed with
 * @vlfer/cli; `vlfer bench ablations --charts` stops before any run with one `vlfer: ` line naming them and the install
 * command (exit 1); without the flag the zero-shot ablation (tiny CLIP, 7 images) runs and writes its rows, summary and
 * a report without charts that says how to get them, and `--emit slurm --no-charts` writes job files whose tasks
 * repeat the flag. Then, with the two packages added to the project, `--charts` draws every run's confusion matrix
 * and inlines them into the report.
 */
function chartProblems(): string[] {
  const problems: string[] = [];
  const peers = (
    JSON.parse(readFileSync(join(root, 'packages', 'bench', 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
    }
  ).peerDependencies;
  const install = `npm install vega@${peers.vega} vega-lite@${peers['vega-lite']}`;
  const installed = () =>
    readdirSync(join(project, 'node_modules', '.pnpm')).filter((d) => /^vega(-lite)?@/.test(d)).length > 0;
  if (installed()) problems.push('vega or vega-lite was installed with @vlfer/cli: they are optional peers');
  const vlfer = join(project, 'node_modules', '.bin', 'vlfer');
  const id = 'exp-clip-zero-shot/prompt-x-preprocess';
  const ablation = (results: string, ...flags: string[]) =>
    spawnSync(
      vlfer,
      ['bench', 'ablations', '--only', id, '--shared', shared, '--limit', '7', '--results', results, ...flags],
      {
        cwd: project,
        encoding: 'utf8',
      },
    );
  const rows = (results: string) => join(results, 'exp-clip-zero-shot__prompt-x-preprocess.jsonl');
  const bare = join(project, 'results-no-vega');
  const asked = ablation(bare, '--charts');
  const error = `vlfer: charts need vega and vega-lite, optional peer dependencies of @vlfer/bench, and vega and vega-lite are not installed: ${install}\n`;
  if (asked.status !== 1 || asked.stderr !== error || existsSync(rows(bare)))
    problems.push(
      `--charts without vega gave exit ${asked.status}, ran ${existsSync(rows(bare)) ? 'runs' : 'nothing'} and printed: ${asked.stderr.trim().slice(0, 600)}`,
    );
  const plain = ablation(bare);
  const report = join(bare, 'report.html');
  if (plain.status !== 0)
    problems.push(`bench ablations without vega failed (exit ${plain.status}): ${plain.stderr.trim().slice(-600)}`);
  else if (
    readFileSync(rows(bare), 'utf8').trim().split('\n').length !== 10 ||
    !existsSync(join(bare, 'summary.csv')) ||
    existsSync(join(bare, 'charts')) ||
    !readFileSync(report, 'utf8').includes(
      `No charts: they need vega and vega-lite, optional peer dependencies of @vlfer/bench (to draw them: ${install}`,
    ) ||
    !plain.stderr.includes(`no charts: they need vega and vega-lite`)
  )
    problems.push(
      `bench ablations without vega: not 10 rows, a summary and a report without charts:\n${plain.stdout}${plain.stderr.slice(-600)}`,
    );
  const emitDir = join(project, 'cluster');
  const emit = spawnSync(
    vlfer,
    ['bench', 'ablations', '--only', id, '--emit', 'slurm', '--emit-dir', emitDir, '--no-charts'],
    {
      cwd: project,
      encoding: 'utf8',
    },
  );
  // the shards' task and the merge task both repeat the flag
  const repeated =
    emit.status === 0 &&
    ['array.sbatch', 'merge.sbatch'].every((f) => readFileSync(join(emitDir, f), 'utf8').includes('--no-charts'));
  if (!repeated)
    problems.push(
      `--emit slurm --no-charts (exit ${emit.status}) wrote no job that repeats --no-charts: ${emit.stderr.trim()}`,
    );
  const add = spawnSync(
    'pnpm',
    [
      'add',
      `vega@${peers.vega}`,
      `vega-lite@${peers['vega-lite']}`,
      '--prefer-offline',
      '--ignore-workspace',
      '--config.strict-peer-dependencies=false',
    ],
    { cwd: project, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } },
  );
  if (add.status !== 0)
    return [...problems, `pnpm add vega vega-lite failed: ${(add.stdout + add.stderr).trim().slice(-600)}`];
  const drawn = join(project, 'results-vega');
  const withVega = ablation(drawn, '--charts');
  const svgs = existsSync(join(drawn, 'charts'))
    ? readdirSync(join(drawn, 'charts')).filter((f) => f.endsWith('.confusion.svg'))
    : [];
  if (withVega.status !== 0)
    problems.push(
      `--charts with vega installed failed (exit ${withVega.status}): ${withVega.stderr.trim().slice(-600)}`,
    );
  else if (
    svgs.length !== 10 ||
    !readFileSync(join(drawn, 'charts', svgs[0]!), 'utf8').startsWith('<svg') ||
    readFileSync(join(drawn, 'report.html'), 'utf8').includes('No charts:')
  )
    problems.push(
      `--charts with vega installed drew ${svgs.length} confusion matrices (expected 10) or a report without charts`,
    );
  if (problems.length === 0)
    process.stdout.write(
      'vega and vega-lite: optional (not installed with @vlfer/cli); --charts names the install command; runs, summary, report and job files without them; with them the charts are drawn\n',
    );
  return problems;
}
