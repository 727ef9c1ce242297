/**
 * @file `pnpm pack:all [dir]`: a tarball of every public package and of `@vlfer/cli` (default `./tarballs`), for installing vlfer into a
 * project before it is published, or for checking what would be published. Needs `pnpm build` first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

export interface PublicPackage {
  dir: string;
  name: string;
  version: string;
  exports: Record<string, unknown>;
}

/** The public (non-private) packages under packages/. */
export function publicPackages(): PublicPackage[] {
  return readdirSync(join(repoRoot, 'packages'))
    .map((d) => ({
      dir: join(repoRoot, 'packages', d),
      ...JSON.parse(readFileSync(join(repoRoot, 'packages', d, 'package.json'), 'utf8')),
    }))
    .filter((p) => !p.private);
}

/** The published command-line apps under apps/ (`@vlfer/cli`, the `vlfer` bin): a bin, no library exports. */
export function publicApps(): { dir: string; name: string; version: string; bin: Record<string, string> }[] {
  return readdirSync(join(repoRoot, 'apps'))
    .filter((d) => existsSync(join(repoRoot, 'apps', d, 'package.json')))
    .map((d) => ({
      dir: join(repoRoot, 'apps', d),
      ...JSON.parse(readFileSync(join(repoRoot, 'apps', d, 'package.json'), 'utf8')),
    }))
    .filter((p) => !p.private);
}

/**
 * `pnpm pack` each public package and app into `dest`; returns the tarball of each package name, and the failures
 * (pack's own message).
 */
export function packAll(dest: string): { tarballs: Record<string, string>; failures: string[] } {
  mkdirSync(dest, { recursive: true });
  const tarballs: Record<string, string> = {};
  const failures: string[] = [];
  for (const p of [...publicPackages(), ...publicApps()]) {
    const r = spawnSync('pnpm', ['pack', '--pack-destination', resolve(dest)], { cwd: p.dir, encoding: 'utf8' });
    if (r.status !== 0) failures.push(`${p.name}: pnpm pack failed:\n${(r.stderr || r.stdout).trim()}`);
    else tarballs[p.name] = r.stdout.trim().split('\n').pop()!.trim();
  }
  return { tarballs, failures };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const dest = process.argv[2] ?? join(repoRoot, 'tarballs');
  const { tarballs, failures } = packAll(dest);
  for (const f of Object.values(tarballs)) process.stdout.write(`${f}\n`);
  if (failures.length > 0) {
    process.stderr.write(`${failures.join('\n')}\n`);
    process.exit(1);
  }
}
