import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBundles } from './bundle-size.js';

// two tiny installed packages: one in today's layout (static ESM), one in the old layout (ESM entry re-exporting its
// CommonJS twin, `export * from './index.cjs'`), each with a used and an unused export
let dir = '';
const pkg = (name: string, files: Record<string, string>) => {
  const root = join(dir, 'node_modules', name);
  mkdirSync(root, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(root, f), text);
};
const unused = `'${'x'.repeat(20_000)}'`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vlfer-bundle-size-'));
  pkg('static-esm', {
    'package.json': JSON.stringify({ name: 'static-esm', type: 'module', sideEffects: false, exports: './index.js' }),
    'index.js': `export function uar(x) { return x + 1; }\nexport function big() { return ${unused}; }\n`,
  });
  pkg('cjs-wrapped', {
    'package.json': JSON.stringify({ name: 'cjs-wrapped', type: 'module', sideEffects: false, exports: './index.js' }),
    'index.js': "export * from './index.cjs';\n",
    'index.cjs': `exports.uar = (x) => x + 1;\nexports.big = () => ${unused};\n`,
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bundle budgets and static named exports', () => {
  it('static ESM: the unused export is shaken off and a misspelt import fails to bundle', async () => {
    const { rows, failures } = await checkBundles(
      dir,
      [{ name: 'uar', code: "export { uar } from 'static-esm';", maxGzipBytes: 200 }],
      [{ name: 'misspelt', code: "export { uarr } from 'static-esm';" }],
    );
    expect(failures).toEqual([]);
    expect(rows[0]!.gzipBytes).toBeLessThan(200);
  });
  it('the old layout (ESM wrapper over CommonJS) fails both: over budget, and the misspelt import bundles', async () => {
    const { failures } = await checkBundles(
      dir,
      [{ name: 'uar', code: "export { uar } from 'cjs-wrapped';", maxGzipBytes: 200 }],
      [{ name: 'misspelt', code: "export { uarr } from 'cjs-wrapped';" }],
    );
    expect(failures.join('\n')).toMatch(/^uar: .* gzip is over its budget of 0\.2 KB/m);
    expect(failures.join('\n')).toMatch(/^misspelt: bundled without an error/m);
  });
  it('an entry that does not resolve is a failure naming the budget', async () => {
    const { failures } = await checkBundles(
      dir,
      [{ name: 'gone', code: "export * from 'no-such-package';", maxGzipBytes: 1 }],
      [],
    );
    expect(failures.join()).toMatch(/^gone: does not bundle: .*no-such-package/);
  });
});
