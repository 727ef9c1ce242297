/**
 * @file `--charts` / `--no-charts` of `vlfer bench ablations | paper`. The charts (`results/charts/*.svg|png` and those
 * of report.html) need vega and vega-lite, optional peer dependencies of @vlfer/bench that a plain
 * `npm install @vlfer/cli` leaves out. Neither flag: charts when both are installed, else none and one line on stderr
 * saying how to get them; `--charts`: without them the command stops before any work, naming the install command
 * (exit 1); `--no-charts`: none.
 */
import { Option } from 'commander';
import { CHART_PACKAGES, chartsWanted } from '@vlfer/bench';

/** `--charts`, for `addOption` (with `--no-charts`; neither given: `charts` is undefined). */
export const chartsOption = (): Option =>
  new Option(
    '--charts',
    `draw the charts, failing at once when vega and vega-lite are not installed (npm install ${CHART_PACKAGES.join(' ')}) (default: drawn when they are installed)`,
  );

/** `--no-charts`, for `addOption`. */
export const noChartsOption = (): Option => new Option('--no-charts', 'draw no charts');

/** Whether to draw charts, decided once from the flags, before any work. */
export function chartsFromFlags(o: { charts?: boolean }): boolean {
  return chartsWanted(o.charts, (line) => process.stderr.write(`${line}\n`));
}

/** The flag that repeats the choice in each task of a cluster job (none when neither was given). */
export const chartsFlag = (o: { charts?: boolean }): string[] =>
  o.charts === undefined ? [] : [o.charts ? '--charts' : '--no-charts'];
