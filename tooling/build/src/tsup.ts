/**
 * @file The build of every public package, derived from its package.json `exports` (one source of truth).
 *
 * Why CommonJS plus thin ESM wrappers: `require` and `import` must both work, and a plain dual build would load two
 * copies of a package into one process when both are used (two `InvalidArgumentError` classes, so `instanceof`
 * fails; two caches). Here the code exists once, as CommonJS (`dist/*.cjs`, chunks shared between entries); each
 * ESM entry (`dist/*.js`) only re-exports its CommonJS twin (`export * from './index.cjs'`; Node finds the names with
 * cjs-module-lexer), so importers and requirers share one instance. Declarations come for both (`.d.ts`, `.d.cts`).
 *
 * Why declarations come from `tsc -b` and not from tsup: tsup's declaration bundler type-checks a package together with
 * the sources of every @vlfer package below it, once per format, so a cold build checked `core` thirteen times and
 * took 5 minutes on 2 cores. Each package's `tsconfig.build.json` is a composite project that references the packages
 * it depends on; `tsc -b` (run after tsup's JavaScript, below) checks each package once and reads its dependencies'
 * emitted declarations. The tree `dist/types/**` holds `.d.ts` files and `.d.cts` twins whose relative specifiers
 * point at `.cjs`, so CommonJS consumers resolve CommonJS-typed declarations; each entry's `dist/<entry>.d.ts` and
 * `.d.cts` re-export its tree.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';
import type { Options } from 'tsup';

type Conditions = {
  '@vlfer/source'?: string;
  import?: { types: string; default: string };
  require?: { types: string; default: string };
};

/** The entries of a package: `{ 'node/index': 'src/node/index.ts', … }` from the `@vlfer/source` condition of each export. */
export function entriesOf(pkg: { name: string; exports: Record<string, Conditions | string> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(pkg.exports)) {
    if (key === './package.json' || typeof value === 'string') continue;
    const src = value['@vlfer/source'];
    const cjs = value.require?.default;
    if (!src || !cjs?.endsWith('.cjs'))
      throw new Error(`${pkg.name}: export '${key}' needs an '@vlfer/source' file and a 'require' → dist/….cjs target`);
    out[cjs.replace(/^\.\/dist\//, '').replace(/\.cjs$/, '')] = src.replace(/^\.\//, '');
  }
  return out;
}

/**
 * The JavaScript options every public package is built with (shared with the build test). `keepNames`: tsup turns
 * the ESM chunks into CommonJS with sucrase, which makes each class with fields an anonymous `(_class2 = class …)`,
 * so `new InvalidArgumentError(…).constructor.name` was `_class2` and Node printed `_class2 [InvalidArgumentError]`;
 * esbuild's keepNames sets every class's and function's `name` explicitly, which also survives a consumer's minifier.
 */
export const JS_BUILD_OPTIONS = { splitting: true, target: 'node20', keepNames: true } as const satisfies Options;

/**
 * tsup options for the package in the current directory.
 * @param extraEntries files built but not exported (e.g. a worker script loaded by path), `{ 'node/worker': 'src/node/worker.ts' }`
 */
export function vlferTsupConfig(extraEntries: Record<string, string> = {}): Options {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const entry = { ...entriesOf(pkg), ...extraEntries };
  return {
    entry,
    format: ['cjs', 'esm'],
    // declarations: `writeDeclarations` after the JavaScript (see the file comment)
    dts: false,
    sourcemap: true,
    clean: true,
    // no import.meta shim: tsup's runs at load in a shared chunk and fails outside a document (web workers, vm). The
    // few Node files that need their own path read `__filename` when it exists and `import.meta.url` otherwise (the
    // sources); in the CommonJS files that second branch is dead and is replaced below, as `import.meta` is ESM syntax.
    ...JS_BUILD_OPTIONS,
    async onSuccess() {
      // drop the ESM JavaScript tsup wrote (declarations stay), then write each ESM entry as a re-export of its twin
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
          d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)],
        );
      for (const f of walk('dist')) {
        if (f.endsWith('.js') || f.endsWith('.js.map')) rmSync(f);
        else if (f.endsWith('.cjs')) {
          const code = readFileSync(f, 'utf8');
          if (code.includes('import.meta')) writeFileSync(f, code.replaceAll('import.meta.url', 'undefined'));
          if (readFileSync(f, 'utf8').includes('import.meta'))
            throw new Error(`${pkg.name}: ${f} uses import.meta beyond import.meta.url; CommonJS cannot`);
        }
      }
      for (const name of Object.keys(entry)) {
        const base = name.split('/').pop()!;
        writeFileSync(
          join('dist', `${name}.js`),
          `// ESM entry of ${pkg.name}: the code is the CommonJS build (one instance for import and require)\nexport * from './${base}.cjs';\n`,
        );
      }
      writeDeclarations(entriesOf(pkg));
    },
  };
}

/** A relative module specifier ending in `.js` (in `from '…'`, `import('…')` and `/// <reference path>`). */
const RELATIVE_JS = /(['"])(\.{1,2}\/[^'"]*?)\.js\1/g;

/**
 * Declarations of the package in the current directory: `tsc -b tsconfig.build.json` writes `dist/types/**\/*.d.ts`
 * (the referenced packages are built before this one by turbo's `^build`, so tsc only checks that they are up to
 * date), then each `.d.ts` gets a `.d.cts` twin, and each entry `dist/<entry>.d.ts` / `.d.cts` re-exports its tree.
 */
export function writeDeclarations(entries: Record<string, string>): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { stdio: 'inherit' });
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)],
    );
  for (const f of walk(join('dist', 'types'))) {
    if (!f.endsWith('.d.ts')) continue;
    const cts = readFileSync(f, 'utf8').replace(RELATIVE_JS, '$1$2.cjs$1');
    writeFileSync(f.replace(/\.d\.ts$/, '.d.cts'), cts);
  }
  for (const [name, src] of Object.entries(entries)) {
    const target = posix.join('types', src.replace(/^src\//, '').replace(/\.ts$/, ''));
    let spec = relative(dirname(join('dist', name)), join('dist', target))
      .split('\\')
      .join('/');
    if (!spec.startsWith('.')) spec = `./${spec}`;
    const note = '// the declarations of this entry are the tree under dist/types (emitted by tsc -b)';
    writeFileSync(join('dist', `${name}.d.ts`), `${note}\nexport * from ${JSON.stringify(`${spec}.js`)};\n`);
    writeFileSync(join('dist', `${name}.d.cts`), `${note}\nexport * from ${JSON.stringify(`${spec}.cjs`)};\n`);
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
