#!/usr/bin/env node
/**
 * @file pnpm bench:table — the README's side-by-side table ("Ratios and fractions of peak") from the JSON files
 * that the `--vs torch` benches wrote into one folder (`bench:encode`, `bench:encode --dtype int8`,
 * `bench:train-head`, `bench:hesp-step`, `bench:vjp`, `bench:load`): printed, and with `--readme` written between
 * the file's `<!-- bench:table:start -->` and `<!-- bench:table:end -->` markers (`--marker` names other markers, for a
 * second run's table beside the first). It measures nothing itself.
 */
import { Command } from 'commander';
import { readBenchResults, ratioTable } from './ratio-table.js';
import { replaceBetweenMarkers } from './preprocess-bench.js';

const o = new Command('bench:table')
  .option('--dir <dir>', 'folder of bench result JSON files (every *.json in it is read)', 'bench-results')
  .option('--readme <file>', 'also write the table into this README, between its bench:table markers')
  .option('--marker <name>', 'the markers to write between: <!-- NAME:start --> and <!-- NAME:end -->', 'bench:table')
  .parse()
  .opts<{ dir: string; readme?: string; marker: string }>();

try {
  if (!/^[a-z0-9][a-z0-9:._-]*$/i.test(o.marker))
    throw new Error(
      `--marker: expected letters, digits and : . _ - (e.g. bench:table), got ${JSON.stringify(o.marker)}`,
    );
  const table = ratioTable(readBenchResults(o.dir));
  process.stdout.write(`${table}\n`);
  if (o.readme) replaceBetweenMarkers(o.readme, table, o.marker);
} catch (e) {
  process.stderr.write(`bench:table: ${(e as Error).message}\n`);
  process.exit(1);
}
