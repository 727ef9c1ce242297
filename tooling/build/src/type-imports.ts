/**
 * @file The published types of a package must resolve with what installing it installs: every bare module a
 * declaration file reachable from the package's `exports` imports is one of its dependencies or a required peer, not
 * an optional peer (a consumer's type check, `skipLibCheck: false` as TypeScript's default, would fail without it:
 * `@vlfer/datasets/node` once named `sharp`). Checked on every package by `pnpm test:consumer`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';

interface Manifest {
  name: string;
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/**
 * The module specifiers a declaration file imports or re-exports: `from '…'`, `import('…')`, `import '…'`,
 * `import x = require('…')` and `/// <reference types="…" />`; text in comments is not read.
 */
export function declarationImports(text: string): string[] {
  const references = [...text.matchAll(/^\s*\/\/\/\s*<reference\s+types\s*=\s*["']([^"']+)["']/gm)].map((m) => m[1]!);
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const found = code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm);
  return [...references, ...[...found].map((m) => m[1]!)];
}

/** A bare specifier's package name (`@scope/name/sub` → `@scope/name`, `node:fs` → `node:fs`). */
const packageOf = (s: string) =>
  s
    .split('/')
    .slice(0, s.startsWith('@') ? 2 : 1)
    .join('/');

/**
 * Problems of one package's published types (empty when they resolve with its own dependencies).
 * @param dir the package directory (built: `dist/types` present)
 */
export function typeImportProblems(dir: string, manifest: Manifest): string[] {
  const required = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}).filter((p) => !manifest.peerDependenciesMeta?.[p]?.optional),
  ]);
  // every `types` condition, at any depth of the exports (`{ import: { types, default } }` too)
  const typesOf = (v: unknown): string[] =>
    v && typeof v === 'object'
      ? Object.entries(v).flatMap(([k, x]) => (k === 'types' && typeof x === 'string' ? [x] : typesOf(x)))
      : [];
  const entries = typesOf(manifest.exports);
  const seen = new Set<string>();
  const work = entries.map((e) => join(dir, e));
  const problems: string[] = [];
  while (work.length > 0) {
    const file = work.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!existsSync(file)) {
      problems.push(`${manifest.name}: ${relative(dir, file)} is imported by its types and missing`);
      continue;
    }
    for (const s of declarationImports(readFileSync(file, 'utf8'))) {
      if (s.startsWith('.')) work.push(join(dirname(file), s.replace(/\.(m|c)?js$/, '.d.$1ts')));
      // 'node': `/// <reference types="node" />`, Node's own types, which a consumer of a Node package has
      else if (!s.startsWith('node:') && s !== 'node' && !builtinModules.includes(s) && !required.has(packageOf(s)))
        problems.push(
          `${manifest.name}: ${relative(dir, file)} imports '${s}', which installing ${manifest.name} does not install${manifest.peerDependencies?.[packageOf(s)] ? ' (an optional peer)' : ''}: a consumer's type check fails without it`,
        );
    }
  }
  return problems;
}
