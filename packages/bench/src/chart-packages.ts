/**
 * @file vega and vega-lite draw the charts (`results/charts/*.svg|png` and the report's). They are optional peer
 * dependencies of @vlfer/bench: they added 42 MB and 80 packages to a plain `npm install @vlfer/cli`, and the runs,
 * summaries, paired tests, paper tables and job files do not need them. This module finds out whether they are
 * installed and words the error when a chart is asked for without them; it names none of their types, so the
 * published declarations resolve without them (`vega.ts` loads them).
 */
import { createRequire } from 'node:module';
import { VlferError } from '@vlfer/core';

/** The packages charts need, with the versions @vlfer/bench is built against (its `peerDependencies`). */
export const CHART_PACKAGES = ['vega@^5.33.1', 'vega-lite@^5.23.0'] as const;

/** Their names. */
export const CHART_PACKAGE_NAMES = ['vega', 'vega-lite'] as const;
const INSTALL = `npm install ${CHART_PACKAGES.join(' ')}`;
const require = createRequire(import.meta.url);

/**
 * Whether `error` says that the package `name` itself cannot be found (`import('vega')` or
 * `require.resolve('vega/package.json')`); a module missing inside it ('vega-scale', a broken install) is not that.
 */
export function isMissingPackage(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    new RegExp(`['"]${name}(/package\\.json)?['"]`).test(String((error as Error).message))
  );
}

/**
 * Which of vega and vega-lite cannot be resolved from @vlfer/bench (empty when charts can be drawn). Any other
 * failure to resolve them is rethrown.
 * @param resolve how a package's `package.json` is found (a test passes one that fails)
 */
export function missingChartPackages(resolve: (id: string) => string = require.resolve): string[] {
  return CHART_PACKAGE_NAMES.filter((name) => {
    try {
      resolve(`${name}/package.json`);
      return false;
    } catch (error) {
      if (isMissingPackage(error, name)) return true;
      throw error;
    }
  });
}

const notInstalled = (missing: readonly string[]) =>
  `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not installed`;

/** The error of a chart asked for while `missing` (of vega, vega-lite) are not installed: names the install command. */
export function chartsMissingError(missing: readonly string[], cause?: unknown): VlferError {
  return new VlferError(
    `charts need vega and vega-lite, optional peer dependencies of @vlfer/bench, and ${notInstalled(missing)}: ${INSTALL}`,
    { cause },
  );
}

/**
 * Whether to draw charts, from a `charts` option, decided once before any work: `true` draws them and throws the
 * error naming the install command now when vega or vega-lite is not installed; `false` draws none; `undefined`
 * draws them when both are installed, else none, and `log` gets one line saying so and how to get them.
 * @throws VlferError with `charts: true` when vega or vega-lite is not installed
 */
export function chartsWanted(
  charts: boolean | undefined,
  log: (line: string) => void,
  resolve?: (id: string) => string,
): boolean {
  if (charts === false) return false;
  const missing = missingChartPackages(resolve);
  if (missing.length === 0) return true;
  if (charts === true) throw chartsMissingError(missing);
  log(
    `no charts: they need vega and vega-lite, optional peer dependencies of @vlfer/bench, and ${notInstalled(missing)} (to draw them: ${INSTALL}, then run again)`,
  );
  return false;
}

/** What a report page without charts says in their place. */
export const CHARTS_LEFT_OUT = `No charts: they need vega and vega-lite, optional peer dependencies of @vlfer/bench (to draw them: ${INSTALL}, then write the report again).`;
