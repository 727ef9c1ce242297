/**
 * @file `vlfer bench ablations`: run the ablation registry of @vlfer/bench (skipping finished runs) and write
 * results/*.jsonl, results/summary.csv, the HTML report and the confusion-matrix / ROC charts (`--charts`, `--no-charts`:
 * `charts.ts`); or list the ablations, write SLURM / Kubernetes job files (`--emit`), or merge shards (`--merge`). The
 * work is @vlfer/bench.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { parseShard } from '@vlfer/core';
import {
  commandHooks,
  integer,
  refuseEmptyPaths,
  refuseFilesAsDirectories,
  refuseUnusedFlags,
  shardFromFlags,
} from '@vlfer/cli-kit';
import {
  ABLATIONS,
  benchDataPaths,
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
    .option('--no-progress', 'no progress bars for the runs (passed on to the jobs of --emit)')
    .action(async (o, cmd: Command) => {
      const registry = ABLATIONS as Record<string, AblationSpec>;
      checkAblationFlags(o, cmd);
      const only: string[] | undefined = o.only !== undefined ? String(o.only).split(',') : undefined;
      for (const id of only ?? [])
        if (!registry[id])
          throw new Error(`--only: unknown ablation '${id}'; known: ${Object.keys(registry).join(', ')}`);
      if (o.list) return listAblations(only ? Object.fromEntries(only.map((id) => [id, registry[id]!])) : registry);
      const data = o.dataConfig ? loadBenchData(o.dataConfig) : undefined;
      // without a data config, the default set is what the shared assets can run (no user data, no Hub)
      const ids: string[] =
        only ??
        Object.keys(registry).filter((id) => data || ['exp-clip-zero-shot', 'face-api'].includes(registry[id]!.method));
      if (o.emit) return emitJobs(o, ids, data);
      if (o.merge) return mergeShards(o, ids);
      await runAblations(o, ids, data);
    });
}

/**
 * Refuse empty paths and flags that would do nothing or contradict each other: cluster settings without `--emit`
 * (the whole grid would run here), `--image` for SLURM or `--partition`/`--time` for Kubernetes, `--emit` with
 * `--shard` or `--merge` (the job files run every shard and the merge), `--shard` with `--merge`, and a
 * `--cache-dir` or `--results` that is a file.
 */
function checkAblationFlags(o: Record<string, any>, cmd: Command): void {
  refuseEmptyPaths(o, {
    shared: '--shared',
    dataConfig: '--data-config',
    results: '--results',
    cacheDir: '--cache-dir',
    emitDir: '--emit-dir',
  });
  // (not --job-command: `pnpm bench:ablations` always gives it, for the jobs it may emit)
  const cluster = ['shards', 'emitDir', 'cpus', 'mem', 'time', 'partition', 'image'];
  refuseUnusedFlags(cmd, cluster, o.emit !== undefined, '--emit');
  refuseUnusedFlags(cmd, ['image'], o.emit !== 'slurm', '--emit k8s');
  refuseUnusedFlags(cmd, ['partition', 'time'], o.emit !== 'k8s', '--emit slurm');
  if (o.emit !== undefined && (o.shard !== undefined || o.merge !== undefined))
    throw new Error(
      `--emit: writes job files for every shard and the merge; leave out ${o.shard !== undefined ? '--shard' : '--merge'}`,
    );
  if (o.shard !== undefined && o.merge !== undefined)
    throw new Error('--merge: merges the shards once all have run; leave out --shard');
  refuseUnusedFlags(cmd, ['progress'], !o.list && o.merge === undefined, 'runs or --emit (not --list or --merge)');
  refuseFilesAsDirectories(o, { cacheDir: '--cache-dir', results: '--results' });
  const running = (['emit', 'shard', 'merge'] as const).filter((k) => o[k] !== undefined);
  if (o.list && running.length)
    throw new Error(`--list: lists the ablations and exits; leave out --${running.join(', --')}`);
}

function listAblations(registry: Record<string, AblationSpec>): void {
  for (const [id, spec] of Object.entries(registry)) {
    const n = expandAblation(id, spec).length;
    process.stdout.write(`${id} (${n} run${n === 1 ? '' : 's'}): ${spec.description}\n`);
  }
}

function emitJobs(o: Record<string, any>, ids: string[], data: BenchData | undefined): void {
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
    // --no-progress for the runs only: the merge runs nothing and refuses it
    argv: [...argv, ...(o.progress === false ? ['--no-progress'] : [])],
    mergeArgv: [...argv, '--merge', String(o.shards)],
    workdir: process.cwd(),
    paths: [
      resolve(o.shared),
      resolve(o.results),
      resolve(o.cacheDir),
      ...(o.dataConfig ? [resolve(o.dataConfig)] : []),
      ...(data ? benchDataPaths(data) : []),
    ],
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
  // the runs' log ends the running bar first, so a line never lands inside it
  const { signal, onProgress, log, stop } = commandHooks(NAME, o);
  try {
    for (const id of ids) {
      const r = await runAblation(id, {
        shared: o.shared,
        resultsDir: o.results,
        cacheDir: o.cacheDir,
        signal,
        onProgress,
        log,
        charts,
        ...(o.limit ? { limit: o.limit } : {}),
        ...(data ? { data } : {}),
        ...(shard ? { shard } : {}),
      });
      log(`${id}: ${r.ran} run${r.ran === 1 ? '' : 's'}, ${r.skipped} already finished`);
    }
  } finally {
    stop();
  }
  if (shard) process.stdout.write(`shard ${shard.index}/${shard.count} done; merge with --merge ${shard.count}\n`);
  else
    process.stdout.write(`summary: ${writeSummary(o.results)}\nreport: ${writeReport(o.results, { charts }).path}\n`);
}
