import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from '@vlfer/test-utils';
import ts from 'typescript';

export interface WorkspacePackage {
  name: string;
  dir: string;
  group: 'packages' | 'apps' | 'tooling';
  private: boolean;
  manifest: Record<string, any>;
  deps: string[];
  devDeps: string[];
}

/** Every workspace package with its manifest. */
export function workspacePackages(): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const group of ['packages', 'apps', 'tooling'] as const) {
    for (const name of readdirSync(join(repoRoot, group))) {
      const file = join(repoRoot, group, name, 'package.json');
      if (!existsSync(file)) continue;
      const m = JSON.parse(readFileSync(file, 'utf8'));
      out.push({
        name: m.name,
        dir: join(repoRoot, group, name),
        group,
        private: Boolean(m.private),
        manifest: m,
        deps: Object.keys({ ...m.dependencies, ...m.peerDependencies }),
        devDeps: Object.keys(m.devDependencies ?? {}),
      });
    }
  }
  return out;
}

/** TypeScript files under a directory (recursively). */
export function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return e === 'node_modules' || e === 'dist' ? [] : sourceFiles(p);
    return /\.(ts|tsx|mts|cts)$/.test(e) ? [p] : [];
  });
}

/**
 * Module specifiers imported by a file (static, dynamic, export-from, require), read by TypeScript's own pre-processor:
 * comments and code inside string literals (e.g. a bundle entry written as text) are not imports.
 */
export function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return [...new Set(info.importedFiles.map((f) => f.fileName))];
}

/** The package name of a bare specifier (`@scope/name/sub` → `@scope/name`), or undefined for relative ones. */
export function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/**
 * Files reachable from an entry through relative imports and workspace-package imports (following the
 * `@vlfer/source` export of each subpath), with every bare import met on the way.
 */
export function reach(
  entry: string,
  packages: Map<string, WorkspacePackage>,
): { files: string[]; bare: { spec: string; from: string }[] } {
  const seen = new Set<string>();
  const bare: { spec: string; from: string }[] = [];
  const stack = [resolve(entry)];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const spec of importsOf(f)) {
      if (spec.startsWith('.')) {
        const base = resolve(dirname(f), spec);
        const cand = [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')].find(
          (c) => existsSync(c) && statSync(c).isFile(),
        );
        if (cand) stack.push(cand);
        continue;
      }
      const pkg = packageOf(spec);
      const ws = pkg ? packages.get(pkg) : undefined;
      if (ws) {
        const sub = spec === pkg ? '.' : `./${spec.slice(pkg!.length + 1)}`;
        const target = ws.manifest.exports?.[sub]?.['@vlfer/source'] ?? ws.manifest.exports?.[sub]?.import;
        if (target) stack.push(resolve(ws.dir, target));
        bare.push({ spec, from: relative(repoRoot, f) });
      } else {
        bare.push({ spec, from: relative(repoRoot, f) });
      }
    }
  }
  return { files: [...seen], bare };
}

/** npm packages a package depends on, transitively (from node_modules manifests). */
export function externalClosure(pkgDir: string, deps: string[]): Set<string> {
  const out = new Set<string>();
  const visit = (fromDir: string, name: string) => {
    let dir = fromDir;
    let manifest: string | undefined;
    for (;;) {
      const cand = join(dir, 'node_modules', name, 'package.json');
      if (existsSync(cand)) {
        manifest = cand;
        break;
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
    if (!manifest) return;
    const real = dirname(manifest);
    const key = `${name}@${real}`;
    if (out.has(key)) return;
    out.add(key);
    const m = JSON.parse(readFileSync(manifest, 'utf8'));
    for (const d of Object.keys({ ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies }))
      visit(real, d);
  };
  for (const d of deps) visit(pkgDir, d);
  return new Set([...out].map((k) => k.slice(0, k.lastIndexOf('@'))));
}
