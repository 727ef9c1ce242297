import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources: every workspace package name resolves to its src entry points,
// so `pnpm test` needs no build step first.
const root = resolve(import.meta.dirname);
const alias: { find: string | RegExp; replacement: string }[] = [];
for (const group of ['packages', 'apps', 'tooling']) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir)) {
    const manifest = join(dir, name, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; exports?: Record<string, unknown> };
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      const source = (target as Record<string, string>)['@vlfer/source'];
      if (!source) continue;
      const spec = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
      alias.push({ find: new RegExp(`^${spec.replace(/[/.]/g, '\\$&')}$`), replacement: join(dir, name, source) });
    }
  }
}

/**
 * Two tiers. `pnpm test` (the README's command, what CI runs first): unit and parity tests, a few minutes on 2 cores.
 * `pnpm test:integration`: whole-CLI runs (error messages, SIGKILL drills, shards and merges), the real SLURM cluster,
 * headless-Chromium pages, the face-api.js reference, the README transcripts and the killed-pnpm drill of every
 * CLI script. `.ci/run` runs both.
 */
const INTEGRATION = [
  'apps/*/test/**/*.test.ts',
  'packages/bench/src/face-api-reference.test.ts',
  'packages/bench/src/report.test.ts',
  'tooling/repo-checks/src/readme-examples.test.ts',
  'tooling/repo-checks/src/wrapper-kill.test.ts',
];
const ALL = [
  'packages/*/src/**/*.test.ts',
  'apps/*/src/**/*.test.ts',
  'apps/*/test/**/*.test.ts',
  'tooling/*/src/**/*.test.ts',
];

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // one temporary root per run (TMPDIR), removed at its end: the suite leaves nothing in /tmp
    globalSetup: [join(root, 'tooling', 'test-utils', 'src', 'temp-root.ts')],
    projects: [
      { extends: true, test: { name: 'unit', include: ALL, exclude: INTEGRATION } },
      { extends: true, test: { name: 'integration', include: INTEGRATION } },
    ],
  },
});
