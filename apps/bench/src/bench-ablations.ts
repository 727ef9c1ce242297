#!/usr/bin/env node
/**
 * @file pnpm bench:ablations — run the ablation registry (skipping finished runs) and write results/*.jsonl,
 * results/summary.csv and confusion-matrix / ROC charts.
 */
import { Command } from 'commander';
import { cliAbortSignal, integer, runMain } from '@vlfer/cli-kit';
import { ABLATIONS, expandAblation, loadBenchData, runAblation, writeSummary, type AblationSpec } from './ablations.js';

const NAME = 'bench:ablations';
runMain(NAME, async () => {
  const o = new Command(NAME)
    .option('--only <ids>', `comma-separated ablation ids (default: those that run on the shared assets alone): ${Object.keys(ABLATIONS).join(', ')}`)
    .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
    .option('--data-config <file>', 'JSON: models, videoSets (HESP annotation lists), trainSets (unlabelled images + teacher); see apps/bench/README.md')
    .option('--results <dir>', 'results directory', 'results')
    .option('--cache-dir <dir>', 'feature/target cache', '.vlfer-cache/features')
    .option('--limit <n>', 'a class-stratified, seeded subset of n items per evaluation (smoke runs; part of the run ids)', integer(1))
    .option('--list', 'list ablations with their run counts and exit')
    .parse()
    .opts();
  const registry = ABLATIONS as Record<string, AblationSpec>;
  if (o.list) {
    for (const [id, spec] of Object.entries(registry)) {
      const n = expandAblation(id, spec).length;
      process.stdout.write(`${id} (${n} run${n === 1 ? '' : 's'}): ${spec.description}\n`);
    }
    return;
  }
  const data = o.dataConfig ? loadBenchData(o.dataConfig) : undefined;
  // without a data config, the default set is what the shared assets can run (no user data, no Hub)
  const ids = o.only ? String(o.only).split(',') : Object.keys(registry).filter((id) => data || ['exp-clip-zero-shot', 'face-api'].includes(registry[id]!.method));
  for (const id of ids) if (!registry[id]) throw new Error(`--only: unknown ablation '${id}'; known: ${Object.keys(registry).join(', ')}`);
  const signal = cliAbortSignal(NAME);
  for (const id of ids) {
    const r = await runAblation(id, { shared: o.shared, resultsDir: o.results, cacheDir: o.cacheDir, signal, ...(o.limit ? { limit: o.limit } : {}), ...(data ? { data } : {}) });
    process.stderr.write(`${id}: ${r.ran} run, ${r.skipped} already finished\n`);
  }
  process.stdout.write(`summary: ${writeSummary(o.results)}\n`);
});
