#!/usr/bin/env node
/**
 * @file pnpm bench:ablations — run the ablation registry (skipping finished runs) and write results/*.jsonl,
 * results/summary.csv and confusion-matrix charts.
 */
import { Command } from 'commander';
import { ABLATIONS, runAblation, writeSummary } from './ablations.js';

const o = new Command('bench:ablations')
  .option('--only <ids>', `comma-separated ablation ids (default all): ${Object.keys(ABLATIONS).join(', ')}`)
  .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
  .option('--results <dir>', 'results directory', 'results')
  .option('--cache-dir <dir>', 'feature cache', '.vlfer-cache/features')
  .option('--limit <n>', 'first n items per run (smoke runs)', (v) => Number(v))
  .option('--list', 'list ablations and exit')
  .parse()
  .opts();

if (o.list) {
  for (const [id, spec] of Object.entries(ABLATIONS)) process.stdout.write(`${id}: ${spec.description}\n`);
} else {
  const ids = o.only ? String(o.only).split(',') : Object.keys(ABLATIONS);
  for (const id of ids) {
    const r = await runAblation(id, { shared: o.shared, resultsDir: o.results, cacheDir: o.cacheDir, ...(o.limit ? { limit: o.limit } : {}) });
    process.stderr.write(`${id}: ${r.ran} run, ${r.skipped} already finished\n`);
  }
  process.stdout.write(`summary: ${writeSummary(o.results)}\n`);
}
