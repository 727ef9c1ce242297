/**
 * @file `vlfer bench paper <table>`: run a paper's table (exp-clip-table2, hesp-table) on the datasets of its data
 * config that are on disk, skip (and list) the others, and write <results>/<table>.md and .csv beside the paper's
 * numbers with the difference, and the summary.csv and HTML report of `vlfer bench ablations` over its runs.
 */
import { Argument, Command } from 'commander';
import {
  cliAbortSignal,
  integer,
  integerList,
  refuseEmptyPaths,
  refuseFilesAsDirectories,
  refuseUnusedFlags,
  stringList,
} from '@vlfer/cli-kit';
import {
  BACKBONES,
  PAPER_TABLES,
  runPaperTable,
  writeReport,
  writeSummary,
  type BackboneId,
  type PaperTableId,
} from '@vlfer/bench';
import { chartsOption, noChartsOption } from './charts.js';
import { NAME } from '../name.js';

/** `paper <table>` with the options of the former `pnpm bench:paper`. */
export function paperCommand(): Command {
  return new Command('paper')
    .description("run a paper's table on the datasets of its data config that are on disk and compare with the paper")
    .addArgument(new Argument('<table>', 'the paper table').choices(Object.keys(PAPER_TABLES)))
    .option('--config <file>', "data config (default: the table's config in @vlfer/bench's configs/)")
    .option(
      '--data-root <dir>',
      "folder the config's relative paths are taken from (default: the config's dataRoot, else its folder)",
      process.env.VLFER_DATA,
    )
    .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
    .option('--results <dir>', 'results directory', 'results/paper')
    .option('--cache-dir <dir>', 'feature/target cache', '.vlfer-cache/features')
    .option(
      '--backbones <ids>',
      `comma-separated backbones (default: the paper's); known: ${Object.keys(BACKBONES).join(', ')}`,
      stringList,
    )
    .option('--limit <n>', 'a class-stratified, seeded subset of n items per evaluation (smoke runs)', integer(1))
    .option('--splits <list>', 'hesp-table: only these split indices 0..19 (smoke runs; default all 20)', integerList)
    .option('--epochs <n>', "hesp-table: epochs per split (smoke runs; default the paper's 100)", integer(1))
    .addOption(chartsOption())
    .addOption(noChartsOption())
    .action(async (table: PaperTableId, o, cmd: Command) => {
      refuseEmptyPaths(o, {
        config: '--config',
        dataRoot: '--data-root',
        shared: '--shared',
        results: '--results',
        cacheDir: '--cache-dir',
      });
      refuseUnusedFlags(cmd, ['splits', 'epochs'], table === 'hesp-table', 'hesp-table');
      refuseFilesAsDirectories(o, { results: '--results', cacheDir: '--cache-dir' });
      for (const b of (o.backbones as string[] | undefined) ?? [])
        if (!(b in BACKBONES))
          throw new Error(`--backbones: unknown backbone '${b}'; known: ${Object.keys(BACKBONES).join(', ')}`);
      for (const s of (o.splits as number[] | undefined) ?? [])
        if (s > 19) throw new Error(`--splits: split index ${s} is outside 0..19`);
      const splits = (o.splits as number[] | undefined) ?? [];
      if (new Set(splits).size !== splits.length)
        throw new Error(`--splits: ${splits.join(',')} names a split twice; each split is one run`);
      const r = await runPaperTable(table, {
        shared: o.shared,
        resultsDir: o.results,
        cacheDir: o.cacheDir,
        signal: cliAbortSignal(NAME),
        ...(o.config ? { config: o.config } : {}),
        ...(o.dataRoot ? { dataRoot: o.dataRoot } : {}),
        ...(o.backbones ? { backbones: o.backbones as BackboneId[] } : {}),
        ...(o.limit ? { limit: o.limit } : {}),
        ...(o.splits ? { splits: o.splits } : {}),
        ...(o.epochs ? { epochs: o.epochs } : {}),
        ...(o.charts !== undefined ? { charts: o.charts as boolean } : {}),
      });
      process.stdout.write(
        `${r.skipped.length ? `skipped (not on disk):\n${r.skipped.map((s) => `  ${s.what}: missing ${s.missing}`).join('\n')}\n` : ''}table: ${r.markdown}\ncsv: ${r.csv}\nsummary: ${writeSummary(o.results)}\nreport: ${writeReport(o.results, { charts: r.charts }).path}\n`,
      );
    });
}
