import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';

let req: NodeJS.Require | undefined;
/**
 * `require` for this package's dependencies that ship CommonJS only (ffmpeg's path, the Emscripten JPEG decoder),
 * from ESM and CommonJS builds alike: `__filename` in the CommonJS build (import.meta is empty there),
 * `import.meta.url` in the sources and the ESM build (also where `__filename` is not a path: a worker evaluated
 * from a string names itself '[worker eval]').
 */
function packageRequireFn(): NodeJS.Require {
  req ??= createRequire(typeof __filename === 'string' && isAbsolute(__filename) ? __filename : import.meta.url);
  return req;
}

/** `require(id)` from this package. */
export function packageRequire(id: string): unknown {
  return packageRequireFn()(id);
}

/** `require.resolve(id)` from this package: the path of a dependency's file. */
export function packageResolve(id: string): string {
  return packageRequireFn().resolve(id);
}

/**
 * The URL of tsx's ESM register API (its package exports give require() the CJS one): a worker thread started from
 * the TypeScript sources imports it and calls `register()` before importing TypeScript.
 */
export function tsxRegisterApiUrl(): string {
  return pathToFileURL(join(dirname(packageResolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs')).href;
}
