// prepack of every public package: its tarball carries the repository's LICENSE (copied in; git-ignored there)
// and must have been built. Run by `pnpm pack` / `pnpm publish` in the package directory.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
copyFileSync(join('..', '..', 'LICENSE'), 'LICENSE');
const problems = [];
for (const [key, v] of Object.entries(pkg.exports ?? {})) {
  if (key === './package.json') continue;
  for (const [cond, ext] of [
    ['import', '.js'],
    ['require', '.cjs'],
  ]) {
    const c = v?.[cond];
    if (!c || typeof c.types !== 'string' || typeof c.default !== 'string' || !c.default.endsWith(ext)) {
      problems.push(`export '${key}' needs "${cond}": { "types": …, "default": "./dist/…${ext}" }`);
      continue;
    }
    for (const f of [c.types, c.default]) if (!existsSync(f)) problems.push(`${f} is missing (run pnpm build)`);
  }
}
for (const f of Object.values(typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {})))
  if (!existsSync(f)) problems.push(`bin ${f} is missing (run pnpm build)`);
if (problems.length > 0) {
  console.error(`${pkg.name} cannot be packed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
