import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { build } from 'tsup';
import { describe, expect, it } from 'vitest';
import { JS_BUILD_OPTIONS } from './tsup.js';

const core = resolve(import.meta.dirname, '..', '..', '..', 'packages', 'core', 'src');

describe('the build keeps class names', () => {
  it("a built error class prints as itself, not as sucrase's _class2", async () => {
    const out = mkdtempSync(join(tmpdir(), 'vlfer-keep-names-'));
    try {
      // two entries sharing errors.ts: the shared-chunk CommonJS path the packages are built through
      await build({
        ...JS_BUILD_OPTIONS,
        entry: { errors: join(core, 'errors.ts'), options: join(core, 'options.ts') },
        format: ['cjs'],
        outDir: out,
        dts: false,
        sourcemap: false,
        silent: true,
      });
      const built = createRequire(import.meta.url)(join(out, 'errors.cjs')) as Record<string, new (o: never) => Error>;
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
