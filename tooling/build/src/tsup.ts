/**
 * @file The build of every public package, derived from its package.json `exports` (one source of truth).
 *
 * Why CommonJS plus thin ESM wrappers: `require` and `import` must both work, and a plain dual build would load two
 * copies of a package into one process when both are used (two `InvalidArgumentError` classes, so `instanceof`
 * fails; two caches). Here the code exists once, as CommonJS (`dist/*.cjs`, chunks shared between entries); each
 * ESM entry (`dist/*.js`) only re-exports its CommonJS twin (`export * from './index.cjs'`; Node finds the names with
 * cjs-module-lexer), so importers and requirers share one instance. Declarations come for both (`.d.ts`, `.d.cts`).
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
 * tsup options for the package in the current directory.
 * @param extraEntries files built but not exported (e.g. a worker script loaded by path), `{ 'node/worker': 'src/node/worker.ts' }`
 */
export function vlferTsupConfig(extraEntries: Record<string, string> = {}): Options {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const entry = { ...entriesOf(pkg), ...extraEntries };
  return {
    entry,
    format: ['cjs', 'esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: true,
    // no import.meta shim: tsup's runs at load in a shared chunk and fails outside a document (web workers, vm). The
    // few Node files that need their own path read `__filename` when it exists and `import.meta.url` otherwise (the
    // sources); in the CommonJS files that second branch is dead and is replaced below, as `import.meta` is ESM syntax.
    target: 'node20',
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
    },
  };
}

/**
 * tsup options for a command-line app (`apps/exp-clip`, `apps/hesp`): `src/main.ts` as built JavaScript
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
    noExternal: ['@vlfer/cli-kit'],
    external: ['cli-progress'],
  };
}
