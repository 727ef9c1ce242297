/**
 * The manifests of the public packages, checked without building (the build, tarballs and consumers are checked by
 * `pnpm test:consumer`, which `.ci/run` runs): ESM-only `exports` with types (require(esm) serves `require`), Node-10 type paths
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
    // ESM only (tooling/build/src/tsup.ts): `require` is served by Node's require(esm), no CommonJS twin
    const want = { '@vlfer/source': src, types: `${base}.d.ts`, default: `${base}.js` };
    need(
      JSON.stringify(v) === JSON.stringify(want),
      `export '${key}' must be ${JSON.stringify(want)} (types first, ESM only)`,
    );
    if (key !== '.')
      need(
        JSON.stringify(pkg.typesVersions?.['*']?.[key.slice(2)]) === JSON.stringify([want.types]),
        `typesVersions must map '${key.slice(2)}' to ${want.types} (TypeScript's node10 resolution has no exports)`,
      );
    if (key === '.')
      need(pkg.main === want.default && pkg.types === want.types, `main/types must be ${want.default} / ${want.types}`);
  }
  const tsup = join(repoRoot, dir, 'tsup.config.ts');
  need(
    existsSync(tsup) && readFileSync(tsup, 'utf8').includes('vlferTsupConfig('),
    'tsup.config.ts must use vlferTsupConfig (the shared ESM build)',
  );
  return out;
}

/**
 * Problems of one workspace typecheck project (`<dir>/tsconfig.json`, empty when it is right). `pnpm typecheck` is one
 * `tsc -b tsconfig.typecheck.json`: each of these projects checks the tests, examples and apps of one workspace package
 * against the declarations the build's composite projects (`tsconfig.build.json`) already emitted, so a typecheck after
 * `pnpm build` checks no package's sources again. That only holds when the project references its own build project
 * and those of every public @vlfer package it imports; without the reference tsc follows the `@vlfer/source`
 * condition into the dependency's sources and checks them once more per importer.
 */
export function typecheckProblems(dir: string, pkg: Manifest, tsconfig: Manifest, solution: Manifest): string[] {
  const out: string[] = [];
  const need = (cond: boolean, what: string) => {
    if (!cond) out.push(`${dir}/tsconfig.json: ${what}`);
  };
  const options = tsconfig.compilerOptions ?? {};
  need(
    options.noEmit === true && options.incremental === true,
    'needs noEmit and incremental (tsc -b keeps its state)',
  );
  const own = existsSync(join(repoRoot, dir, 'tsconfig.build.json')) ? ['./tsconfig.build.json'] : [];
  const up = dir.startsWith('packages/') ? '..' : '../../packages';
  const deps = [...new Set(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }))]
    .filter((d) => d.startsWith('@vlfer/'))
    .map((d) => d.slice('@vlfer/'.length))
    .filter((d) => existsSync(join(repoRoot, 'packages', d, 'tsconfig.build.json')))
    .map((d) => `${up}/${d}/tsconfig.build.json`);
  const want = [...own, ...deps].sort();
  const have = ((tsconfig.references ?? []) as { path: string }[]).map((r) => r.path).sort();
  need(
    JSON.stringify(have) === JSON.stringify(want),
    `references must be ${JSON.stringify(want)} (its own build project and those of its @vlfer packages), not ${JSON.stringify(have)}`,
  );
  need(
    ((solution.references ?? []) as { path: string }[]).some((r) => r.path === `${dir}/tsconfig.json`),
    'must be listed in tsconfig.typecheck.json (what pnpm typecheck builds)',
  );
  return out;
}

const workspaceProjects = ['packages', 'apps', 'tooling'].flatMap((group) =>
  readdirSync(join(repoRoot, group))
    .map((d) => `${group}/${d}`)
    .filter((d) => existsSync(join(repoRoot, d, 'package.json')) && existsSync(join(repoRoot, d, 'tsconfig.json'))),
);

describe('pnpm typecheck reuses the build', () => {
  const solution = read('tsconfig.typecheck.json');
  it('is one tsc -b over tsconfig.typecheck.json, which lists every workspace project with its build references', () => {
    expect(read('package.json').scripts.typecheck).toBe('exec tsc -b tsconfig.typecheck.json');
    expect(workspaceProjects.length).toBeGreaterThanOrEqual(20);
    expect(
      workspaceProjects.flatMap((d) =>
        typecheckProblems(d, read(`${d}/package.json`), read(`${d}/tsconfig.json`), solution),
      ),
    ).toEqual([]);
  });
  it('the check fails on a project that would check its dependencies from source', () => {
    const dir = 'packages/metrics';
    const old = { extends: '../../tsconfig.base.json', include: ['src', 'examples'] };
    const problems = typecheckProblems(dir, read(`${dir}/package.json`), old, { references: [] }).join('\n');
    expect(problems).toMatch(/noEmit and incremental/);
    expect(problems).toMatch(/references must be .*core\/tsconfig.build.json/);
    expect(problems).toMatch(/tsconfig.typecheck.json/);
  });
});

describe('public package manifests', () => {
  it('every public package is publishable as ESM (required through require(esm)) with types, licence and links', () => {
    expect(publicPackages.length).toBeGreaterThanOrEqual(10);
    expect(publicPackages.flatMap((p) => manifestProblems(p.dir, p.pkg))).toEqual([]);
  });
  it('the check fails on a CommonJS-wrapper export, or without engines or licence', () => {
    const good = publicPackages.find((p) => p.pkg.name === '@vlfer/metrics')!;
    const bad = {
      ...good.pkg,
      license: 'ISC',
      engines: undefined,
      exports: {
        '.': {
          '@vlfer/source': './src/index.ts',
          import: { types: './dist/index.d.ts', default: './dist/index.js' },
          require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
        },
        './package.json': './package.json',
      },
    };
    const problems = manifestProblems(good.dir, bad);
    expect(problems.join('\n')).toMatch(/license must be MIT/);
    expect(problems.join('\n')).toMatch(/engines.node/);
    expect(problems.join('\n')).toMatch(/export '.' must be \{"@vlfer\/source":"\.\/src\/index.ts","types"/);
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
