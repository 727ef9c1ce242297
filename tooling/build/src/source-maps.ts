/**
 * @file The source maps a package ships must point into the package: each `sources` entry relative to its map and
 * present in the tarball (`src/` ships), no absolute path and no `file:` URL of the machine that built it (those leak
 * the builder's directories and resolve to nothing on the user's machine). Checked on every tarball by
 * `pnpm test:consumer`.
 */
import { execFileSync } from 'node:child_process';
import { posix } from 'node:path';

/**
 * Problems of one source map (empty when it is right).
 * @param mapPath the map's path inside the package (`dist/index.js.map`)
 * @param map the parsed map
 * @param files every path in the package (`dist/index.js`, `src/index.ts`, …)
 */
export function mapProblems(
  mapPath: string,
  map: { sourceRoot?: string; sources?: unknown },
  files: string[],
): string[] {
  const out: string[] = [];
  const absolute = (s: string) =>
    s.startsWith('/') || /^[A-Za-z]:[\\/]/.test(s) || /^[a-z]+:\/\//i.test(s) || s.startsWith('file:');
  if (map.sourceRoot && absolute(map.sourceRoot))
    out.push(`${mapPath}: sourceRoot is an absolute path (${map.sourceRoot})`);
  if (!Array.isArray(map.sources)) return [...out, `${mapPath}: has no sources list`];
  const have = new Set(files);
  for (const source of map.sources as unknown[]) {
    if (typeof source !== 'string') {
      out.push(`${mapPath}: a source is ${JSON.stringify(source)}, expected a relative path`);
      continue;
    }
    if (absolute(source)) {
      out.push(`${mapPath}: source '${source}' is an absolute path of the build machine`);
      continue;
    }
    const target = posix.normalize(posix.join(posix.dirname(mapPath), map.sourceRoot ?? '', source));
    if (!have.has(target)) out.push(`${mapPath}: source '${source}' (${target}) is not in the package`);
  }
  return out;
}

/** Problems of every `.map` file in a packed tarball; `files` lists the tarball's paths without the `package/` prefix. */
export function sourceMapProblems(tarball: string, files: string[]): string[] {
  return files
    .filter((f) => f.endsWith('.map'))
    .flatMap((f) => {
      const text = execFileSync('tar', ['-xzOf', tarball, `package/${f}`], { encoding: 'utf8', maxBuffer: 1 << 28 });
      let map: { sourceRoot?: string; sources?: unknown };
      try {
        map = JSON.parse(text) as typeof map;
      } catch (error) {
        return [`${f}: is not JSON (${(error as Error).message})`];
      }
      return mapProblems(f, map, files);
    });
}
