/**
 * The manifests of the public packages, checked without building (the build, tarballs and consumers are checked by
 * `pnpm test:consumer`, which `.ci/run` runs): dual `exports` with types for import and require, Node-10 type paths
 * for subpaths, engines, licence, links, files, side effects, the prepack hook, the tsup config; and the release
 * settings (private packages not versioned).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { entriesOf } from '@vlfer/build/tsup';

type Manifest = Record<string, any>;
const read = (p: string): Manifest => JSON.parse(readFileSync(join(repoRoot, p), 'utf8'));
const publicPackages = readdirSync(join(repoRoot, 'packages'))
  .map((d) => ({ dir: `packages/${d}`, pkg: read(`packages/${d}/package.json`) }))
  .filter((p) => !p.pkg.private);
/** Published command-line apps (`@vlfer/cli`): a bin and no library exports. */
const publicApps = readdirSync(join(repoRoot, 'apps'))
  .filter((d) => existsSync(join(repoRoot, 'apps', d, 'package.json')))
  .map((d) => ({ dir: `apps/${d}`, pkg: read(`apps/${d}/package.json`) }))
  .filter((p) => !p.pkg.private);
const rootEngines = read('package.json').engines.node as string;

/** Problems of one public manifest (empty when it is right). */
export function manifestProblems(dir: string, pkg: Manifest): string[] {
  const out: string[] = [];
  const need = (cond: boolean, what: string) => {
    if (!cond) out.push(`${pkg.name}: ${what}`);
  };
  need(pkg.license === 'MIT', 'license must be MIT (LICENSE at the root is MIT)');
  need(pkg.engines?.node === rootEngines, `engines.node must be '${rootEngines}' like the workspace`);
  need(typeof pkg.homepage === 'string' && pkg.homepage.includes(dir), `homepage must point at ${dir}`);
  need(typeof pkg.bugs?.url === 'string', 'bugs.url is missing');
  need(Array.isArray(pkg.keywords) && pkg.keywords.length >= 3, 'keywords are missing');
  need(pkg.repository?.directory === dir, `repository.directory must be ${dir}`);
  need(pkg.sideEffects !== undefined, 'sideEffects must be stated (false, or the files that have them)');
  need(pkg.type === 'module', "type must be 'module' (the .js entries are the ESM wrappers)");
  need(
    pkg.scripts?.prepack === 'node ../../tooling/build/src/prepack.mjs',
    'prepack must copy the LICENSE and check the build',
  );
  need(pkg.scripts?.build === 'tsup', "build must be 'tsup'");
  // declarations come from one tsc -b pass over composite projects (tooling/build/src/tsup.ts): the references must
  // be the package's @vlfer dependencies, or tsc would check a package before what it imports
  const build = JSON.parse(readFileSync(join(repoRoot, dir, 'tsconfig.build.json'), 'utf8'));
  const deps = Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@vlfer/'));
  need(
    JSON.stringify((build.references ?? []).map((r: { path: string }) => r.path).sort()) ===
      JSON.stringify(deps.map((d) => `../${d.slice('@vlfer/'.length)}/tsconfig.build.json`).sort()),
    `tsconfig.build.json must reference exactly the @vlfer dependencies (${deps.join(', ') || 'none'})`,
  );
  need(build.compilerOptions?.composite === true, 'tsconfig.build.json must be composite');
  for (const f of ['dist', '!dist/**/*.tsbuildinfo', 'LICENSE', 'README.md', '!src/**/*.test.ts'])
    need(pkg.files?.includes(f), `files must include '${f}'`);
  need(
    !(pkg.files ?? []).some((f: string) => /test-data|fixtures/.test(f) && !f.startsWith('!')),
    'files must not include test data',
  );
  need(pkg.exports?.['./package.json'] === './package.json', "exports must include './package.json'");
  for (const [key, v] of Object.entries<any>(pkg.exports ?? {})) {
    if (key === './package.json') continue;
    const src: string | undefined = v?.['@vlfer/source'];
    need(
      typeof src === 'string' && existsSync(join(repoRoot, dir, src)),
      `export '${key}' needs an existing '@vlfer/source' file`,
    );
    const base = (src ?? '').replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '');
    const want = {
      import: { types: `${base}.d.ts`, default: `${base}.js` },
      require: { types: `${base}.d.cts`, default: `${base}.cjs` },
    };
    need(
      JSON.stringify({ import: v?.import, require: v?.require }) === JSON.stringify(want),
      `export '${key}' must be ${JSON.stringify(want)} (types first in each)`,
    );
    if (key !== '.')
      need(
        JSON.stringify(pkg.typesVersions?.['*']?.[key.slice(2)]) === JSON.stringify([want.require.types]),
        `typesVersions must map '${key.slice(2)}' to ${want.require.types} (TypeScript's node10 resolution has no exports)`,
      );
    if (key === '.')
      need(
        pkg.main === want.require.default && pkg.types === want.require.types,
        `main/types must be ${want.require.default} / ${want.require.types}`,
      );
  }
  const tsup = join(repoRoot, dir, 'tsup.config.ts');
  need(
    existsSync(tsup) && readFileSync(tsup, 'utf8').includes('vlferTsupConfig('),
    'tsup.config.ts must use vlferTsupConfig (the shared CommonJS + ESM-wrapper build)',
  );
  return out;
}

describe('public package manifests', () => {
  it('every public package is publishable as CommonJS and ESM with types, licence and links', () => {
    expect(publicPackages.length).toBeGreaterThanOrEqual(10);
    expect(publicPackages.flatMap((p) => manifestProblems(p.dir, p.pkg))).toEqual([]);
  });
  it('the check fails on a manifest without require, engines or licence', () => {
    const good = publicPackages.find((p) => p.pkg.name === '@vlfer/metrics')!;
    const bad = {
      ...good.pkg,
      license: 'ISC',
      engines: undefined,
      exports: {
        '.': { '@vlfer/source': './src/index.ts', import: good.pkg.exports['.'].import },
        './package.json': './package.json',
      },
    };
    const problems = manifestProblems(good.dir, bad);
    expect(problems.join('\n')).toMatch(/license must be MIT/);
    expect(problems.join('\n')).toMatch(/engines.node/);
    expect(problems.join('\n')).toMatch(/export '.' must be .*"require"/);
  });
  it('the build entries come from the exports (one source of truth)', () => {
    expect(entriesOf(read('packages/core/package.json') as Parameters<typeof entriesOf>[0])).toEqual({
      index: 'src/index.ts',
      'node/index': 'src/node/index.ts',
    });
  });
  it('a published app (@vlfer/cli) has its bin in dist, ships dist and its READMEs, and is built before packing', () => {
    expect(publicApps.map((p) => p.pkg.name)).toEqual(['@vlfer/cli']);
    for (const { dir, pkg } of publicApps) {
      expect(pkg.license).toBe('MIT');
      expect(pkg.engines?.node).toBe(rootEngines);
      expect(pkg.publishConfig).toEqual({ access: 'public' });
      expect(Object.values(pkg.bin as Record<string, string>)).toEqual(['./dist/main.js']);
      expect(pkg.files).toContain('dist');
      for (const f of (pkg.files as string[]).filter((f) => f.endsWith('.md') && f !== 'CHANGELOG.md'))
        expect(existsSync(join(repoRoot, dir, f)), `${dir}/${f}`).toBe(true);
      expect(pkg.scripts.prepack).toBe('node ../../tooling/build/src/prepack.mjs');
      // workspace helpers are bundled in, so they must not be runtime dependencies of a published package
      expect(Object.keys(pkg.dependencies).filter((d) => d.startsWith('@vlfer/') && !d.includes('cli-kit'))).toEqual(
        Object.keys(pkg.dependencies).filter((d) => d.startsWith('@vlfer/')),
      );
    }
  });
  it('private workspace packages are not versioned by changesets, and every pending changeset names public packages only', () => {
    const config = read('.changeset/config.json');
    expect(config.privatePackages).toEqual({ version: false, tag: false });
    const names = new Set([...publicPackages, ...publicApps].map((p) => p.pkg.name));
    for (const f of readdirSync(join(repoRoot, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
      const front = readFileSync(join(repoRoot, '.changeset', f), 'utf8').split('---')[1] ?? '';
      for (const m of front.matchAll(/'([^']+)':/g)) expect(names.has(m[1]!), `${f} names ${m[1]}`).toBe(true);
    }
  });
});
