#!/usr/bin/env node
/**
 * @file pnpm bench:table — the README's side-by-side table ("Ratios and fractions of peak") from the JSON files
 * that the `--vs torch` benches wrote into one folder (`bench:encode`, `bench:encode --dtype int8`,
 * `bench:train-head`, `bench:hesp-step`, `bench:vjp`, `bench:load`): printed, and with `--readme` written between
 * the file's `<!-- bench:table:start -->` and `<!-- bench:table:end -->` markers. It measures nothing itself.
 */
import { Command } from 'commander';
import { readBenchResults, ratioTable } from './ratio-table.js';
import { replaceBetweenMarkers } from './preprocess-bench.js';

const o = new Command('bench:table')
  .option('--dir <dir>', 'folder of bench result JSON files (every *.json in it is read)', 'bench-results')
  .option('--readme <file>', 'also write the table into this README, between its bench:table markers')
  .parse()
  .opts<{ dir: string; readme?: string }>();

try {
  const table = ratioTable(readBenchResults(o.dir));
  process.stdout.write(`${table}\n`);
  if (o.readme) replaceBetweenMarkers(o.readme, table, 'bench:table');
} catch (e) {
  process.stderr.write(`bench:table: ${(e as Error).message}\n`);
  process.exit(1);
}
