import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';

let req: NodeJS.Require | undefined;
/**
 * `require` for this package's dependencies that ship CommonJS only (ffmpeg's path, the Emscripten JPEG decoder),
 * from ESM and CommonJS builds alike: `__filename` in the CommonJS build (import.meta is empty there),
 * `import.meta.url` in the sources and the ESM build (also where `__filename` is not a path: a worker evaluated
 * from a string names itself '[worker eval]').
 */
export function packageRequire(id: string): unknown {
  req ??= createRequire(typeof __filename === 'string' && isAbsolute(__filename) ? __filename : import.meta.url);
  return req(id);
}
