#!/usr/bin/env node
/**
 * @file pnpm bench:ablations — run the ablation registry (skipping finished runs) and write results/*.jsonl,
 * results/summary.csv and confusion-matrix / ROC charts.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { parseShard } from '@vlfer/core';
import { cliAbortSignal, integer, runMain, shardFromFlags } from '@vlfer/cli-kit';
import {
  ABLATIONS,
  expandAblation,
  loadBenchData,
  mergeAblation,
  runAblation,
  writeSummary,
  type AblationSpec,
} from './ablations.js';
import { shellQuote, writeKubernetesJob, writeSlurmJob } from './cluster.js';
import { writeReport } from './report.js';

const NAME = 'bench:ablations';
runMain(NAME, async () => {
  const o = new Command(NAME)
    .option(
      '--only <ids>',
      `comma-separated ablation ids (default: those that run on the shared assets alone): ${Object.keys(ABLATIONS).join(', ')}`,
    )
    .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
    .option(
      '--data-config <file>',
      'JSON: models, videoSets (HESP annotation lists), trainSets (unlabelled images + teacher); see apps/bench/README.md',
    )
    .option('--results <dir>', 'results directory', 'results')
    .option('--cache-dir <dir>', 'feature/target cache', '.vlfer-cache/features')
    .option(
      '--limit <n>',
      'a class-stratified, seeded subset of n items per evaluation (smoke runs; part of the run ids)',
      integer(1),
    )
    .option('--list', 'list ablations with their run counts and exit')
    .option(
      '--shard <i/n>',
      'run only shard i of n (runs split by a stable hash of their id); default: from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX + VLFER_SHARD_COUNT',
      (v) => parseShard(v, '--shard'),
    )
    .option('--merge <n>', 'merge the n shards into the files one unsharded run writes, then the summary', integer(1))
    .addOption(
      new Option('--emit <kind>', 'write cluster job files for --shards tasks instead of running').choices([
        'slurm',
        'k8s',
      ]),
    )
    .option('--shards <n>', 'array tasks for --emit', integer(1), 4)
    .option('--emit-dir <dir>', 'where --emit writes', 'cluster')
    .option('--cpus <n>', 'CPUs per task (--emit)', integer(1), 4)
    .option('--mem <size>', 'memory per task (--emit)', '16G')
    .option('--time <hh:mm:ss>', 'time limit per task (--emit, SLURM)', '24:00:00')
    .option('--partition <name>', 'SLURM partition (--emit)')
    .option('--image <image>', 'container image (--emit k8s)')
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
  const ids = o.only
    ? String(o.only).split(',')
    : Object.keys(registry).filter((id) => data || ['exp-clip-zero-shot', 'face-api'].includes(registry[id]!.method));
  for (const id of ids)
    if (!registry[id]) throw new Error(`--only: unknown ablation '${id}'; known: ${Object.keys(registry).join(', ')}`);
  if (o.emit) {
    // every task runs this same command; the shard comes from the scheduler's environment
    const args = [
      '--only',
      ids.join(','),
      '--shared',
      resolve(o.shared),
      '--results',
      resolve(o.results),
      '--cache-dir',
      resolve(o.cacheDir),
      ...(o.limit ? ['--limit', String(o.limit)] : []),
      ...(o.dataConfig ? ['--data-config', resolve(o.dataConfig)] : []),
    ];
    // an argv, never a string: cluster.ts quotes each argument for the batch script and hands k8s the argv itself
    const argv = ['pnpm', 'bench:ablations', ...args];
    const job = {
      shards: o.shards,
      argv,
      mergeArgv: [...argv, '--merge', String(o.shards)],
      workdir: process.cwd(),
      name: 'vlfer-ablations',
      cpus: o.cpus,
      memory: o.mem,
      time: o.time,
      ...(o.partition !== undefined ? { partition: o.partition } : {}),
      ...(o.image !== undefined ? { image: o.image } : {}),
    };
    const files = o.emit === 'slurm' ? writeSlurmJob(o.emitDir, job) : writeKubernetesJob(o.emitDir, job);
    const [first, second, third] = files.map(shellQuote);
    process.stdout.write(
      `${files.join('\n')}\n${o.emit === 'slurm' ? `submit with: bash ${third}` : `kubectl apply -f ${first}; after it completes: kubectl apply -f ${second}`}\n`,
    );
    return;
  }
  if (o.merge) {
    for (const id of ids) {
      const r = await mergeAblation(id, {
        resultsDir: o.results,
        count: o.merge,
        ...(o.limit ? { limit: o.limit } : {}),
      });
      process.stderr.write(`${id}: merged ${r.runs} runs from ${o.merge} shards\n`);
    }
    process.stdout.write(`summary: ${writeSummary(o.results)}\nreport: ${writeReport(o.results).path}\n`);
    return;
  }
  const shard = shardFromFlags(o, (l) => process.stderr.write(`${l}\n`));
  const signal = cliAbortSignal(NAME);
  for (const id of ids) {
    const r = await runAblation(id, {
      shared: o.shared,
      resultsDir: o.results,
      cacheDir: o.cacheDir,
      signal,
      ...(o.limit ? { limit: o.limit } : {}),
      ...(data ? { data } : {}),
      ...(shard ? { shard } : {}),
    });
    process.stderr.write(`${id}: ${r.ran} run, ${r.skipped} already finished\n`);
  }
  if (shard) process.stdout.write(`shard ${shard.index}/${shard.count} done; merge with --merge ${shard.count}\n`);
  else process.stdout.write(`summary: ${writeSummary(o.results)}\nreport: ${writeReport(o.results).path}\n`);
});
