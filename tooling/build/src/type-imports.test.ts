import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { declarationImports, typeImportProblems } from './type-imports.js';

describe('published types resolve with what installing the package installs', () => {
  it('finds imports, re-exports and import() types', () => {
    expect(
      declarationImports(
        "/** from 'not-this' */\nimport type sharp from 'sharp';\nexport { a } from './a.js';\n// import 'nor-this'\nexport type X = import('vega').View;\nimport './side.js';",
      ),
    ).toEqual(['sharp', './a.js', 'vega', './side.js']);
    expect(
      declarationImports(
        "/// <reference types=\"node\" />\nimport fs = require('fs-extra');\nimport type v = require(\"vega\");\nexport * from './x.js'; // 'sharp' named in a comment",
      ),
    ).toEqual(['node', 'fs-extra', 'vega', './x.js']);
  });
  it('names an optional peer that a reachable declaration imports, and not one an unreachable file imports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-type-imports-'));
    mkdirSync(join(dir, 'dist', 'types', 'node'), { recursive: true });
    const d = (f: string, text: string) => writeFileSync(join(dir, 'dist', 'types', f), text);
    d('index.d.ts', "export * from './node/check.js';\nimport type { Z } from 'zod';");
    d('node/check.d.ts', "import type sharp from 'sharp';\nimport type { Stats } from 'node:fs';");
    d('node/unreached.d.ts', "import type vega from 'vega';");
    const manifest = {
      name: '@x/p',
      exports: { '.': { types: './dist/types/index.d.ts', default: './dist/index.js' } },
      dependencies: { zod: '^4' },
      peerDependencies: { sharp: '^0.35.5', vega: '^5' },
      peerDependenciesMeta: { sharp: { optional: true }, vega: { optional: true } },
    };
    expect(typeImportProblems(dir, manifest)).toEqual([
      "@x/p: dist/types/node/check.d.ts imports 'sharp', which installing @x/p does not install (an optional peer): a consumer's type check fails without it",
    ]);
    expect(typeImportProblems(dir, { ...manifest, peerDependenciesMeta: {} })).toEqual([]);
    // entries under nested conditions are read too
    const nested = { import: { types: './dist/types/index.d.ts', default: './dist/index.js' } };
    expect(typeImportProblems(dir, { ...manifest, exports: { '.': nested } })).toHaveLength(1);
  });
});
