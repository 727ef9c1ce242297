/**
 * @file `vlfer bench ablations`: run the ablation registry of @vlfer/bench (skipping finished runs) and write
 * results/*.jsonl, results/summary.csv, the HTML report and the confusion-matrix / ROC charts (`--charts`, `--no-charts`:
 * `charts.ts`); or list the ablations, write SLURM / Kubernetes job files (`--emit`), or merge shards (`--merge`). The
 * work is @vlfer/bench.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { parseShard } from '@vlfer/core';
import { cliAbortSignal, integer, shardFromFlags } from '@vlfer/cli-kit';
import {
  ABLATIONS,
  expandAblation,
  loadBenchData,
  mergeAblation,
  runAblation,
  shellQuote,
  writeKubernetesJob,
  writeReport,
  writeSlurmJob,
  writeSummary,
  type AblationSpec,
  type BenchData,
} from '@vlfer/bench';
import { chartsFlag, chartsFromFlags, chartsOption, noChartsOption } from './charts.js';
import { NAME } from '../name.js';

/** What each cluster task runs when `--job-command` is not given: the installed `vlfer`. */
export const DEFAULT_JOB_COMMAND = 'npx --no-install vlfer bench ablations';

/** `ablations` with the options of the former `pnpm bench:ablations`. */
export function ablationsCommand(): Command {
  return new Command('ablations')
    .description(
      'run the ablation registry (finished runs are skipped) and write results/*.jsonl, summary.csv, report.html and charts',
    )
    .option(
      '--only <ids>',
      `comma-separated ablation ids (default: those that run on the shared assets alone): ${Object.keys(ABLATIONS).join(', ')}`,
    )
    .option('--shared <dir>', 'shared assets folder', process.env.VLFER_SHARED ?? '../shared')
    .option(
      '--data-config <file>',
      'JSON: models, videoSets (HESP annotation lists), trainSets (unlabelled images + teacher); see the @vlfer/bench README',
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
    .option('--job-command <words>', 'the command each task of --emit runs, split on spaces', DEFAULT_JOB_COMMAND)
    .option('--cpus <n>', 'CPUs per task (--emit)', integer(1), 4)
    .option('--mem <size>', 'memory per task (--emit)', '16G')
    .option('--time <hh:mm:ss>', 'time limit per task (--emit, SLURM)', '24:00:00')
    .option('--partition <name>', 'SLURM partition (--emit)')
    .option('--image <image>', 'container image (--emit k8s)')
    .addOption(chartsOption())
    .addOption(noChartsOption())
    .action(async (o) => {
      const registry = ABLATIONS as Record<string, AblationSpec>;
      if (o.list) return listAblations(registry);
      const data = o.dataConfig ? loadBenchData(o.dataConfig) : undefined;
      // without a data config, the default set is what the shared assets can run (no user data, no Hub)
      const ids: string[] = o.only
        ? String(o.only).split(',')
        : Object.keys(registry).filter(
            (id) => data || ['exp-clip-zero-shot', 'face-api'].includes(registry[id]!.method),
          );
      for (const id of ids)
        if (!registry[id])
          throw new Error(`--only: unknown ablation '${id}'; known: ${Object.keys(registry).join(', ')}`);
      if (o.emit) return emitJobs(o, ids);
      if (o.merge) return mergeShards(o, ids);
      await runAblations(o, ids, data);
    });
}

function listAblations(registry: Record<string, AblationSpec>): void {
  for (const [id, spec] of Object.entries(registry)) {
    const n = expandAblation(id, spec).length;
    process.stdout.write(`${id} (${n} run${n === 1 ? '' : 's'}): ${spec.description}\n`);
  }
}

function emitJobs(o: Record<string, any>, ids: string[]): void {
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
    ...chartsFlag(o),
  ];
  const command = String(o.jobCommand).split(' ').filter(Boolean);
  if (command.length === 0) throw new Error(`--job-command: expected a command, got '${String(o.jobCommand)}'`);
  // an argv, never a string: @vlfer/bench quotes each argument for the batch script and hands k8s the argv itself
  const argv = [...command, ...args];
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
}

async function mergeShards(o: Record<string, any>, ids: string[]): Promise<void> {
  const charts = chartsFromFlags(o);
  for (const id of ids) {
    const r = await mergeAblation(id, {
      resultsDir: o.results,
      count: o.merge,
      charts,
      ...(o.limit ? { limit: o.limit } : {}),
    });
    process.stderr.write(`${id}: merged ${r.runs} runs from ${o.merge} shards\n`);
  }
  process.stdout.write(`summary: ${writeSummary(o.results)}\nreport: ${writeReport(o.results, { charts }).path}\n`);
}

async function runAblations(o: Record<string, any>, ids: string[], data: BenchData | undefined): Promise<void> {
  const charts = chartsFromFlags(o);
  const shard = shardFromFlags(o, (l) => process.stderr.write(`${l}\n`));
  const signal = cliAbortSignal(NAME);
  for (const id of ids) {
    const r = await runAblation(id, {
      shared: o.shared,
      resultsDir: o.results,
      cacheDir: o.cacheDir,
      signal,
      charts,
      ...(o.limit ? { limit: o.limit } : {}),
      ...(data ? { data } : {}),
      ...(shard ? { shard } : {}),
    });
    process.stderr.write(`${id}: ${r.ran} run, ${r.skipped} already finished\n`);
  }
  if (shard) process.stdout.write(`shard ${shard.index}/${shard.count} done; merge with --merge ${shard.count}\n`);
  else
    process.stdout.write(`summary: ${writeSummary(o.results)}\nreport: ${writeReport(o.results, { charts }).path}\n`);
}
