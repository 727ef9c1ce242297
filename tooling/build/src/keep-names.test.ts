import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { build } from 'tsup';
import { describe, expect, it } from 'vitest';
import { JS_BUILD_OPTIONS } from './tsup.js';

const core = resolve(import.meta.dirname, '..', '..', '..', 'packages', 'core', 'src');

describe('the build keeps class names', () => {
  it('a built and minified error class prints as itself (keepNames), loaded through require(esm)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vlfer-keep-names-'));
    try {
      // two entries sharing errors.ts (a shared chunk, as in the packages), minified as a consumer's bundler would
      await build({
        ...JS_BUILD_OPTIONS,
        entry: { errors: join(core, 'errors.ts'), options: join(core, 'options.ts') },
        outDir: out,
        dts: false,
        sourcemap: false,
        minify: true,
        silent: true,
      });
      writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
      // loaded with require(): the ESM build as a CommonJS consumer gets it (Node >= 20.19)
      const built = createRequire(import.meta.url)(join(out, 'errors.js')) as Record<string, new (o: never) => Error>;
      const errors = [
        new built.InvalidArgumentError!({ functionName: 'f', argument: 'x', message: 'bad' } as never),
        new built.DataFormatError!({ file: 'a.csv', message: 'bad' } as never),
        new built.VlferError!('bad' as never),
      ];
      for (const e of errors) {
        expect(e.constructor.name).toBe(e.name);
        expect(inspect(e).split('\n')[0]).toMatch(new RegExp(`^${e.name}: `));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
