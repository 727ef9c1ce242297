import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';

let req: NodeJS.Require | undefined;
/**
 * `require` for this package's dependencies that ship CommonJS only (the Emscripten JPEG decoder),
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
