/**
 * @file The build of every public package, derived from its package.json `exports` (one source of truth).
 *
 * Layout: ESM only. Each entry is `dist/<entry>.js`, real ES modules with static named exports (chunks shared between
 * entries, `sideEffects` stated per package), so a bundler tree-shakes what a consumer does not import and a misspelt
 * named import (`import { nms } from '@vlfer/faces'`) fails at bundle time. `tooling/build/src/bundle-size.ts` checks
 * both, with size budgets, on the installed tarballs.
 *
 * Why ESM only and not a dual ESM + CommonJS build: a dual build loads two copies of a package into a process that
 * both imports and requires it (two `InvalidArgumentError` classes, so `instanceof` fails; two caches). Until now the
 * code existed once as CommonJS with `export * from './index.cjs'` ESM wrappers: one instance, but nothing
 * tree-shook (importing `unweightedAverageRecall` bundled all of core and fflate) and misspelt imports bundled as
 * `undefined`. Our `engines` are Node >= 20.19, where `require()` loads an ES module (require(esm), unflagged in
 * 20.19 and 22.12): a CommonJS consumer's `require('@vlfer/metrics')` gets the very module namespace that `import`
 * gets, so the one-instance guarantee holds with a single ESM copy. What it costs: no module here may use top-level
 * `await` (require(esm) refuses it; the consumer test requires every entry), and tools that resolve types as
 * TypeScript < 5.8 did for `require` (attw bundles 5.6) call a CommonJS import of an ESM-only package "dynamic import
 * only": the consumer test runs attw with `--profile esm-only`, which ignores exactly that (node16-from-CJS) and the
 * node10 resolution (the `engines` Node has `exports`), and type-checks a `.cts` consumer with TypeScript 5.9 (module
 * nodenext understands require(esm)) instead.
 *
 * Source maps ship (`dist/**\/*.js.map`, sources relative to the map, `src/` is in the tarball); the consumer test
 * refuses a map that names an absolute path of the machine that built it.
 *
 * Why declarations come from `tsc -b` and not from tsup: tsup's declaration bundler type-checks a package together with
 * the sources of every @vlfer package below it, so a cold build checked `core` thirteen times and took 5 minutes on 2
 * cores. Each package's `tsconfig.build.json` is a composite project that references the packages it depends on;
 * `tsc -b` (run after tsup's JavaScript, below) checks each package once and reads its dependencies' emitted
 * declarations, and `pnpm typecheck` (tsconfig.typecheck.json) reuses that state for tests, examples and apps. The
 * tree `dist/types/**` holds the `.d.ts` files; each entry's `dist/<entry>.d.ts` re-exports its tree.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';
import type { Options } from 'tsup';

type Conditions = { '@vlfer/source'?: string; types?: string; default?: string };

/** The entries of a package: `{ 'node/index': 'src/node/index.ts', … }` from the `@vlfer/source` condition of each export. */
export function entriesOf(pkg: { name: string; exports: Record<string, Conditions | string> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(pkg.exports)) {
    if (key === './package.json' || typeof value === 'string') continue;
    const src = value['@vlfer/source'];
    const js = value.default;
    if (!src || !js?.startsWith('./dist/') || !js.endsWith('.js'))
      throw new Error(
        `${pkg.name}: export '${key}' needs an '@vlfer/source' file and a 'default' → ./dist/….js target`,
      );
    out[js.replace(/^\.\/dist\//, '').replace(/\.js$/, '')] = src.replace(/^\.\//, '');
  }
  return out;
}

/**
 * The JavaScript options every public package is built with (shared with the build test). `keepNames`: esbuild sets
 * every class's and function's `name` explicitly, so `new InvalidArgumentError(…).constructor.name` stays
 * `InvalidArgumentError` through a consumer's minifier (the CommonJS build once printed `_class2 [InvalidArgumentError]`).
 */
export const JS_BUILD_OPTIONS = {
  format: ['esm'],
  splitting: true,
  target: 'node20',
  keepNames: true,
} as const satisfies Options;

/**
 * tsup options for the package in the current directory.
 * @param extraEntries files built but not exported (e.g. a worker script loaded by path), `{ 'node/worker': 'src/node/worker.ts' }`
 */
export function vlferTsupConfig(extraEntries: Record<string, string> = {}): Options {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const entry = { ...entriesOf(pkg), ...extraEntries };
  return {
    entry,
    // declarations: `writeDeclarations` after the JavaScript (see the file comment)
    dts: false,
    sourcemap: true,
    clean: true,
    // dist/metafile-esm.json: which sources each output holds, for the sideEffects check (then deleted)
    metafile: true,
    // no import.meta shim: the few Node files that need their own path read `import.meta.url` (ESM) or `__filename`
    // where a consumer's bundler made them CommonJS
    ...JS_BUILD_OPTIONS,
    onSuccess() {
      for (const f of jsFiles('dist')) {
        const code = readFileSync(f, 'utf8');
        const marked = markNamesPure(code);
        if (marked !== code) writeFileSync(f, marked);
      }
      const metafile = join('dist', 'metafile-esm.json');
      const meta = JSON.parse(readFileSync(metafile, 'utf8')) as Metafile;
      rmSync(metafile);
      const problems = sideEffectsProblems(pkg.sideEffects, meta);
      if (problems.length > 0)
        throw new Error(`${pkg.name}: package.json sideEffects is not exact:\n${problems.join('\n')}`);
      writeDeclarations(entriesOf(pkg));
      return Promise.resolve();
    },
  };
}

/** Every `.js` file under `dir`. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? jsFiles(join(dir, d.name)) : d.name.endsWith('.js') ? [join(dir, d.name)] : [],
  );
}

/**
 * esbuild's keepNames follows each top-level function declaration with a statement `__name(fn, "fn");`. In the
 * unminified build that call changes nothing (a declared function already has its name), but to a consumer's bundler
 * it is a call with unknown effects that references `fn`, so every function of a module would be kept: importing
 * `unweightedAverageRecall` bundled all of metrics and core. Marking these statements `/* @__PURE__ *\/` (as esbuild
 * already marks the `const f = __name(() => …)` form) lets a bundler drop them with the functions nobody imports.
 * Classes keep their names in every bundle: esbuild names them inside the class body (`static { __name(this, "X") }`).
 */
export function markNamesPure(code: string): string {
  return code.replace(/^__name\(([\w$]+), "[\w$]+"\);$/gm, (statement) => `/* @__PURE__ */ ${statement}`);
}

/** The part of esbuild's metafile the sideEffects check reads: each output file and the source files in it. */
export interface Metafile {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

/**
 * Problems of a package's `sideEffects` against what the build put where (empty when exact). `sideEffects` is `false`
 * or lists the source files with top-level effects (`./src/…`, for bundlers reading the sources) and the built files
 * that hold them (`./dist/…`, globs allowed). Exact means: every output holding a listed source is listed, and every
 * listed output pattern matches an output that holds one (a stale `./dist/chunk-*.js` would make bundlers keep every
 * chunk). Output paths in the metafile are relative to the package (`dist/node/index.js`).
 */
export function sideEffectsProblems(sideEffects: unknown, meta: Metafile): string[] {
  if (sideEffects === false) return [];
  if (!Array.isArray(sideEffects) || !sideEffects.every((s) => typeof s === 'string'))
    return ['sideEffects must be false or a list of ./src/… and ./dist/… paths'];
  const sources = sideEffects.filter((s) => s.startsWith('./src/')).map((s) => s.slice(2));
  const globs = sideEffects.filter((s) => s.startsWith('./dist/'));
  const matches = (glob: string, file: string) =>
    new RegExp(
      `^${glob
        .slice(2)
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')}$`,
    ).test(file);
  const holding = Object.entries(meta.outputs)
    .filter(([out]) => out.endsWith('.js'))
    .filter(([, o]) => Object.keys(o.inputs).some((i) => sources.some((s) => i.endsWith(s))))
    .map(([out]) => out);
  const out: string[] = [];
  for (const s of sideEffects.filter((x) => !x.startsWith('./src/') && !x.startsWith('./dist/')))
    out.push(`'${s}' is neither ./src/… nor ./dist/…`);
  for (const f of holding)
    if (!globs.some((g) => matches(g, f))) out.push(`${f} holds a listed source with side effects but is not listed`);
  for (const g of globs)
    if (!holding.some((f) => matches(g, f))) out.push(`'${g}' matches no output that holds a listed source`);
  return out;
}

/**
 * Declarations of the package in the current directory: `tsc -b tsconfig.build.json` writes `dist/types/**\/*.d.ts`
 * (the referenced packages are built before this one by turbo's `^build`, so tsc only checks that they are up to
 * date), then each entry `dist/<entry>.d.ts` re-exports its tree.
 */
export function writeDeclarations(entries: Record<string, string>): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { stdio: 'inherit' });
  for (const [name, src] of Object.entries(entries)) {
    const target = posix.join('types', src.replace(/^src\//, '').replace(/\.ts$/, ''));
    let spec = relative(dirname(join('dist', name)), join('dist', target))
      .split('\\')
      .join('/');
    if (!spec.startsWith('.')) spec = `./${spec}`;
    const note = '// the declarations of this entry are the tree under dist/types (emitted by tsc -b)';
    writeFileSync(join('dist', `${name}.d.ts`), `${note}\nexport * from ${JSON.stringify(`${spec}.js`)};\n`);
  }
}

/** Workspace helpers a command-line app's build bundles in (private, never published): a dev dependency of the app. */
export const APP_BUNDLED: readonly string[] = ['@vlfer/cli-kit'];

/**
 * tsup options for a command-line app (`apps/cli`, the `vlfer` bin): `src/main.ts` as built JavaScript
 * (`dist/main.js`, the app's bin), so it starts without a TypeScript loader. The published @vlfer packages stay
 * external (their own `dist/` builds); the private `@vlfer/cli-kit` (source only) is bundled in.
 */
export function vlferAppTsupConfig(): Options {
  return {
    entry: ['src/main.ts'],
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    outDir: 'dist',
    clean: true,
    noExternal: [...APP_BUNDLED],
    external: ['cli-progress'],
  };
}
