// prepack of every public package: its tarball carries the repository's LICENSE (copied in; git-ignored there)
// and must have been built. Run by `pnpm pack` / `pnpm publish` in the package directory.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
copyFileSync(join('..', '..', 'LICENSE'), 'LICENSE');
const problems = [];
for (const [key, v] of Object.entries(pkg.exports ?? {})) {
  if (key === './package.json') continue;
  // ESM only (tooling/build/src/tsup.ts): one JavaScript file and its declarations per export
  if (typeof v?.types !== 'string' || typeof v?.default !== 'string' || !v.default.endsWith('.js')) {
    problems.push(`export '${key}' needs { "types": "./dist/….d.ts", "default": "./dist/….js" }`);
    continue;
  }
  for (const f of [v.types, v.default]) if (!existsSync(f)) problems.push(`${f} is missing (run pnpm build)`);
}
for (const f of Object.values(typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {})))
  if (!existsSync(f)) problems.push(`bin ${f} is missing (run pnpm build)`);
if (problems.length > 0) {
  console.error(`${pkg.name} cannot be packed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
