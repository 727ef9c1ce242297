/**
 * vega and vega-lite are optional peer dependencies of @vlfer/bench (42 MB and 80 packages of a plain
 * `npm install @vlfer/cli`): without them, asking for a chart fails with the packages and the install command, and
 * everything else goes on without charts. The missing packages are simulated by the injectable importer and resolver.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VlferError } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { CHART_PACKAGES, CHARTS_LEFT_OUT, chartsWanted, missingChartPackages } from './chart-packages.js';
import { writeReport } from './report.js';
import { loadChartModules } from './vega.js';

const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as Record<
  string,
  Record<string, unknown>
>;
const INSTALL = 'npm install vega@^5.33.1 vega-lite@^5.23.0';
/** What Node's resolver throws for a package that is not installed. */
const notFound = (id: string) =>
  Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- /x/dist/chunk.js`), {
    code: 'MODULE_NOT_FOUND',
  });
/** A resolver without the packages `absent` (and nothing else missing). */
const without =
  (...absent: string[]) =>
  (id: string) => {
    if (absent.some((name) => id === `${name}/package.json`)) throw notFound(id);
    return `/x/node_modules/${id}`;
  };
const rejected = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('vega and vega-lite are optional peer dependencies of @vlfer/bench', () => {
  it('are declared as optional peers (and dev dependencies), with the versions the install command names', () => {
    const peers = manifest.peerDependencies!;
    expect(CHART_PACKAGES).toEqual([`vega@${String(peers.vega)}`, `vega-lite@${String(peers['vega-lite'])}`]);
    expect(CHART_PACKAGES.join(' ')).toBe(INSTALL.slice('npm install '.length));
    for (const name of ['vega', 'vega-lite']) {
      expect(manifest.peerDependenciesMeta![name]).toEqual({ optional: true });
      // the tests run on the version the peer range starts from
      expect([manifest.devDependencies![name], `^${manifest.devDependencies![name]}`]).toContain(peers[name]);
      expect(manifest.dependencies![name]).toBeUndefined();
    }
  });

  it('without them, asking for charts fails before any work, naming the packages and the install command', () => {
    let thrown: unknown;
    try {
      chartsWanted(true, () => {}, without('vega-lite'));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(VlferError);
    expect((thrown as Error).message).toBe(
      `charts need vega and vega-lite, optional peer dependencies of @vlfer/bench, and vega-lite is not installed: ${INSTALL}`,
    );
    expect(() => chartsWanted(true, () => {}, without('vega', 'vega-lite'))).toThrow(
      `and vega and vega-lite are not installed: ${INSTALL}`,
    );
  });

  it('without them and without a choice, no charts, and one line says how to get them', () => {
    const lines: string[] = [];
    expect(chartsWanted(undefined, (l) => lines.push(l), without('vega'))).toBe(false);
    expect(lines).toEqual([
      `no charts: they need vega and vega-lite, optional peer dependencies of @vlfer/bench, and vega is not installed (to draw them: ${INSTALL}, then run again)`,
    ]);
    // `charts: false` does not look for them; installed, they are used unless refused
    const broken = () => {
      throw new Error('resolved');
    };
    expect(chartsWanted(false, (l) => lines.push(l), broken)).toBe(false);
    expect(chartsWanted(undefined, (l) => lines.push(l), without())).toBe(true);
    expect(chartsWanted(true, (l) => lines.push(l), without())).toBe(true);
    expect(lines).toHaveLength(1);
  });

  it('another failure to resolve them (a broken install) is rethrown, not taken for "not installed"', () => {
    const broken = Object.assign(new Error('Invalid package config /x/node_modules/vega/package.json'), {
      code: 'ERR_INVALID_PACKAGE_CONFIG',
    });
    expect(() =>
      missingChartPackages(() => {
        throw broken;
      }),
    ).toThrow(broken);
    expect(missingChartPackages()).toEqual([]); // installed in this workspace (dev dependencies)
  });

  it('rendering without them fails with the install command; a module missing inside them is rethrown as it is', async () => {
    const missing = Object.assign(new Error("Cannot find package 'vega-lite' imported from /x/dist/chunk.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const error = await rejected(loadChartModules(() => Promise.reject(missing)));
    expect(error).toBeInstanceOf(VlferError);
    expect((error as Error).message).toBe(
      `charts need vega and vega-lite, optional peer dependencies of @vlfer/bench, and vega-lite is not installed: ${INSTALL}`,
    );
    expect((error as Error).cause).toBe(missing);
    const inside = Object.assign(
      new Error("Cannot find package 'vega-scale' imported from /x/node_modules/vega/build/vega.module.js"),
      { code: 'ERR_MODULE_NOT_FOUND' },
    );
    expect(await rejected(loadChartModules(() => Promise.reject(inside)))).toBe(inside);
    const { vega, vegaLite } = await loadChartModules();
    expect(typeof vega.View).toBe('function');
    expect(typeof vegaLite.compile).toBe('function');
  });

  it('a report without charts inlines neither package and says how to get the charts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-report-'));
    const plain = writeReport(dir, { charts: false });
    const page = readFileSync(plain.path, 'utf8');
    expect(plain.charts).toBe(0);
    expect(page).toContain(`<p class="note">${CHARTS_LEFT_OUT}</p>`);
    expect(CHARTS_LEFT_OUT).toContain(INSTALL);
    const drawn = readFileSync(writeReport(dir, { charts: true }).path, 'utf8');
    expect(page.length).toBeLessThan(10_000);
    expect(drawn.length - page.length).toBeGreaterThan(500_000); // vega.min.js and vega-lite.min.js
    expect(drawn).not.toContain(CHARTS_LEFT_OUT);
  });
});
