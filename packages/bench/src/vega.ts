/**
 * @file Loads vega and vega-lite, the optional peer dependencies that draw charts (`chart-packages.ts`), when a chart
 * is rendered and not before. Not exported from the package entry: `ChartModules` names vega's own types, which a
 * consumer's type check could not resolve without vega installed.
 */
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import { CHART_PACKAGE_NAMES, chartsMissingError, isMissingPackage } from './chart-packages.js';

/** The two modules a chart is rendered with. */
export interface ChartModules {
  vega: typeof Vega;
  vegaLite: typeof VegaLite;
}

const importChartModules = async (): Promise<ChartModules> => {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  return { vega, vegaLite };
};

/**
 * vega and vega-lite, imported now.
 * @param importModules how they are imported (a test passes one that fails)
 * @throws VlferError naming the packages and the install command when one of them is not installed; any other
 * failure to load them (a module missing inside them, a broken install) is rethrown as it is
 */
export async function loadChartModules(importModules = importChartModules): Promise<ChartModules> {
  try {
    return await importModules();
  } catch (error) {
    const missing = CHART_PACKAGE_NAMES.filter((name) => isMissingPackage(error, name));
    if (missing.length === 0) throw error;
    throw chartsMissingError(missing, error);
  }
}
