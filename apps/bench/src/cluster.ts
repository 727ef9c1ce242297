/**
 * @file Job files for running `bench:ablations` on a cluster: a SLURM array job (one task per shard) with the merge
 * as a dependent job, or a Kubernetes Indexed Job plus a merge Job. Each task runs the same command; the shard comes
 * from `SLURM_ARRAY_TASK_ID` / `JOB_COMPLETION_INDEX` (`shardFromEnv` of @vlfer/core).
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@vlfer/core/node';

export interface ClusterJob {
  /** Array tasks (shards). */
  shards: number;
  /** The command every task runs (without --shard), e.g. `pnpm bench:ablations --only … --results /shared/results`. */
  command: string;
  /** The command that merges the shards (run once, after all tasks succeeded). */
  mergeCommand: string;
  /** Directory the jobs start in (the repository checkout on the shared filesystem). */
  workdir: string;
  name: string;
  cpus: number;
  memory: string;
  time: string;
  partition?: string;
  /** Kubernetes: the container image holding node, pnpm and the checkout. */
  image?: string;
}

const shq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** `array.sbatch`, `merge.sbatch` and `submit.sh` (submits the array, then the merge with --dependency=afterok); job logs go to `logs/`. */
export function writeSlurmJob(dir: string, job: ClusterJob): string[] {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const logs = resolve(dir, 'logs');
  const head = (name: string, extra: string[]) => [
    '#!/bin/bash',
    `#SBATCH --job-name=${name}`,
    `#SBATCH --cpus-per-task=${job.cpus}`,
    `#SBATCH --mem=${job.memory}`,
    `#SBATCH --time=${job.time}`,
    ...(job.partition ? [`#SBATCH --partition=${job.partition}`] : []),
    ...extra,
    'set -euo pipefail',
    `cd ${shq(job.workdir)}`,
    `export VLFER_THREADS=\${SLURM_CPUS_PER_TASK:-${job.cpus}}`,
  ];
  const array = [
    ...head(job.name, [`#SBATCH --array=0-${job.shards - 1}`, `#SBATCH --output=${logs}/${job.name}-%A_%a.out`]),
    '# the shard is read from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT',
    job.command,
    '',
  ].join('\n');
  const merge = [
    ...head(`${job.name}-merge`, [`#SBATCH --output=${logs}/${job.name}-merge-%j.out`]),
    job.mergeCommand,
    '',
  ].join('\n');
  const submit = [
    '#!/bin/bash',
    'set -euo pipefail',
    'here=$(cd "$(dirname "$0")" && pwd)',
    'array=$(sbatch --parsable "$here/array.sbatch")',
    'merge=$(sbatch --parsable --dependency=afterok:"${array%%;*}" "$here/merge.sbatch")',
    'echo "array job $array, merge job $merge (runs after every array task succeeded)"',
    '',
  ].join('\n');
  const files = { 'array.sbatch': array, 'merge.sbatch': merge, 'submit.sh': submit };
  for (const [f, text] of Object.entries(files)) {
    writeFileAtomic(join(dir, f), text);
    chmodSync(join(dir, f), 0o755);
  }
  return Object.keys(files).map((f) => join(dir, f));
}

/** `indexed-job.yaml`: an Indexed Job (completions = parallelism = shards) and a merge Job to apply after it completes. */
export function writeKubernetesJob(dir: string, job: ClusterJob): string[] {
  mkdirSync(dir, { recursive: true });
  const image = job.image ?? 'node:20-bookworm';
  const container = (name: string, command: string, env: string[]) => [
    '      containers:',
    `      - name: ${name}`,
    `        image: ${image}`,
    `        workingDir: ${job.workdir}`,
    `        command: ["bash", "-c", ${JSON.stringify(command)}]`,
    '        env:',
    ...env,
    `        - { name: VLFER_THREADS, value: "${job.cpus}" }`,
    `        resources: { requests: { cpu: "${job.cpus}", memory: "${job.memory}" }, limits: { memory: "${job.memory}" } }`,
    '        volumeMounts: [{ name: work, mountPath: ' + JSON.stringify(job.workdir) + ' }]',
    '      volumes: [{ name: work, persistentVolumeClaim: { claimName: vlfer-work } }]',
  ];
  const text = [
    '# kubectl apply -f indexed-job.yaml; when it completes: kubectl apply -f merge-job.yaml',
    'apiVersion: batch/v1',
    'kind: Job',
    `metadata: { name: ${job.name} }`,
    'spec:',
    '  completionMode: Indexed',
    `  completions: ${job.shards}`,
    `  parallelism: ${job.shards}`,
    '  backoffLimitPerIndex: 1',
    '  template:',
    '    spec:',
    '      restartPolicy: Never',
    ...container('shard', job.command, [
      `        - { name: VLFER_SHARD_COUNT, value: "${job.shards}" }  # with JOB_COMPLETION_INDEX, set by Kubernetes`,
    ]),
    '',
  ].join('\n');
  const merge = [
    'apiVersion: batch/v1',
    'kind: Job',
    `metadata: { name: ${job.name}-merge }`,
    'spec:',
    '  template:',
    '    spec:',
    '      restartPolicy: Never',
    ...container('merge', job.mergeCommand, ['        - { name: VLFER_MERGE, value: "1" }']),
    '',
  ].join('\n');
  writeFileAtomic(join(dir, 'indexed-job.yaml'), text);
  writeFileAtomic(join(dir, 'merge-job.yaml'), merge);
  return [join(dir, 'indexed-job.yaml'), join(dir, 'merge-job.yaml')];
}
