/**
 * @file Job files for running `bench:ablations` on a cluster: a SLURM array job (one task per shard) with the merge
 * as a dependent job, or a Kubernetes Indexed Job plus a merge Job. Each task runs the same command; the shard comes
 * from `SLURM_ARRAY_TASK_ID` / `JOB_COMPLETION_INDEX` (`shardFromEnv` of @vlfer/core).
 *
 * Nothing a user typed is pasted into a file as it is: commands are argv arrays, joined for the batch script with
 * {@link shellQuote} (POSIX single quotes); `#SBATCH` values are validated ({@link validateClusterJob}) and the log
 * path is written in sbatch's own quoting ({@link sbatchQuote}); the Kubernetes manifests are built as objects and
 * written by the `yaml` library, and their containers run the argv directly (no shell in between). A value that
 * cannot be written safely is refused with a {@link ClusterOptionError} naming its flag, before any file is written.
 */
import { chmodSync, existsSync, mkdirSync, realpathSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { Document } from 'yaml';
import { VlferError } from '@vlfer/core';
import { ensureDir, writeFileAtomic } from '@vlfer/core/node';

export interface ClusterJob {
  /** Array tasks (shards). */
  shards: number;
  /** The argv every task runs (without --shard), e.g. `['pnpm', 'bench:ablations', '--only', …]`. */
  argv: string[];
  /** The argv that merges the shards (run once, after all tasks succeeded). */
  mergeArgv: string[];
  /** Directory the jobs start in (the repository checkout on the shared filesystem). */
  workdir: string;
  /**
   * Absolute paths the tasks read or write besides `workdir` (shared assets, results, caches, data): Kubernetes pods
   * mount the shared volume at the folder that holds all of them and `workdir`.
   */
  paths?: readonly string[];
  name: string;
  cpus: number;
  /** Memory per task in SLURM's form: an integer with an optional unit K, M (the default), G or T (powers of 1024). */
  memory: string;
  /** Time limit per task in one of SLURM's forms (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`). */
  time: string;
  partition?: string;
  /** Kubernetes: the container image holding node, pnpm and the checkout. */
  image?: string;
}

/** A `--emit` option whose value cannot be written into a job file; `flag` names the option. */
export class ClusterOptionError extends VlferError {
  override name = 'ClusterOptionError';
  readonly flag: string;
  constructor(flag: string, value: string, expected: string) {
    super(`${flag}: ${JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value)} is not ${expected}`);
    this.flag = flag;
  }
}

const SAFE_WORD = /^[A-Za-z0-9_@%+,./:-]+$/;

/**
 * One argument as a POSIX shell word that the shell reads back as exactly `s`: left bare when it holds only
 * characters no shell treats specially (letters, digits, `_@%+,./:-`), otherwise in single quotes, where nothing is
 * special, with each `'` written as `'\''`. NUL cannot be in an argument and is refused.
 */
export function shellQuote(s: string): string {
  if (s.includes('\0')) throw new VlferError(`a shell argument cannot contain a NUL character: ${JSON.stringify(s)}`);
  return SAFE_WORD.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** An argv as one shell command line (each argument through {@link shellQuote}). */
export function shellJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new VlferError('shellJoin: an empty command');
  return argv.map(shellQuote).join(' ');
}

/**
 * A value for an `#SBATCH` line in sbatch's own quoting: sbatch reads the line up to unquoted white space, honours
 * `"…"` and backslash escapes, and ends the line at an unescaped `#` — so the value is put in double quotes with `\`,
 * `"` and `#` escaped. A newline (or CR) ends the line whatever the quoting and is refused.
 * `flag` names the option the value came from, for the error.
 */
export function sbatchQuote(value: string, flag: string): string {
  if (/[\n\r\0]/.test(value)) throw new ClusterOptionError(flag, value, 'usable in an #SBATCH line (no line breaks)');
  return `"${value.replace(/[\\"#]/g, '\\$&')}"`;
}

const MEMORY = /^[1-9][0-9]{0,8}[KMGT]?$/;
const TIME = /^(\d{1,6}|\d{1,6}:\d{1,2}|\d{1,6}:\d{1,2}:\d{1,2}|\d{1,4}-\d{1,2}(:\d{1,2}(:\d{1,2})?)?)$/;
const PARTITION = /^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$/;
const JOB_NAME = /^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$/;
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

/** Whether the seconds and minutes of a SLURM time limit are below 60, and its hours below 24 after a day count. */
function timeFieldsInRange(time: string): boolean {
  const [days, rest] = time.includes('-') ? time.split('-') : [undefined, time];
  const fields = rest!.split(':').map(Number);
  // MM, MM:SS, HH:MM:SS; after days: HH, HH:MM, HH:MM:SS
  const [h, m, s] = days !== undefined ? fields : fields.length === 3 ? fields : [undefined, ...fields];
  return (
    (h === undefined || days === undefined || h < 24) &&
    (s === undefined || s < 60) &&
    (m === undefined || h === undefined || m < 60)
  );
}

/**
 * Check every value that ends up in a job file's directives or manifest fields (`--mem`, `--time`, `--partition`,
 * `--image`, `--cpus`, `--shards`; paths need no check, they are quoted). Throws {@link ClusterOptionError}.
 */
export function validateClusterJob(job: ClusterJob): void {
  if (!Number.isSafeInteger(job.shards) || job.shards < 1)
    throw new ClusterOptionError('--shards', String(job.shards), 'a positive integer');
  if (!Number.isSafeInteger(job.cpus) || job.cpus < 1)
    throw new ClusterOptionError('--cpus', String(job.cpus), 'a positive integer');
  if (!MEMORY.test(job.memory))
    throw new ClusterOptionError(
      '--mem',
      job.memory,
      'a memory size like 16G (a positive integer with K, M, G or T; M if none)',
    );
  if (!TIME.test(job.time) || !timeFieldsInRange(job.time))
    throw new ClusterOptionError(
      '--time',
      job.time,
      'a SLURM time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS; e.g. 24:00:00 or 1-12:00:00)',
    );
  if (job.partition !== undefined && !PARTITION.test(job.partition))
    throw new ClusterOptionError(
      '--partition',
      job.partition,
      'a partition name (letters, digits, _ . -; several separated by commas)',
    );
  if (job.image !== undefined && !IMAGE.test(job.image))
    throw new ClusterOptionError('--image', job.image, 'a container image reference like registry/name:tag');
  if (!JOB_NAME.test(job.name)) throw new ClusterOptionError('job name', job.name, 'a lowercase DNS label');
  if (job.argv.length === 0 || job.mergeArgv.length === 0) throw new VlferError('the cluster job has no command');
}

/**
 * `array.sbatch`, `merge.sbatch` and `submit.sh` (submits the array, then the merge with `--dependency=afterok` and
 * `--kill-on-invalid-dep=yes`, so a failed array task cancels the merge instead of leaving it pending); job logs go
 * to `logs/`. `dir` is named `--emit-dir` in errors: a line break cannot be written into `#SBATCH --output`, and
 * SLURM drops a backslash from a log path; spaces, quotes, `#` and `%` work (tested on SLURM 22.05).
 */
export function writeSlurmJob(dir: string, job: ClusterJob): string[] {
  validateClusterJob(job);
  const logs = resolve(dir, 'logs');
  // slurmstepd drops every backslash of an --output path (and then expands no %A/%a): refused
  if (logs.includes('\\'))
    throw new ClusterOptionError('--emit-dir', dir, 'usable for SLURM log files (SLURM drops a backslash from them)');
  // sbatch expands %A, %a, %j … in --output: a `%` of the directory is written `%%`, the file name's codes stay
  const logDir = logs.replaceAll('%', '%%');
  const arrayLog = sbatchQuote(join(logDir, `${job.name}-%A_%a.out`), '--emit-dir');
  const mergeLog = sbatchQuote(join(logDir, `${job.name}-merge-%j.out`), '--emit-dir');
  const head = (name: string, extra: string[]) => [
    '#!/bin/bash',
    `#SBATCH --job-name=${name}`,
    `#SBATCH --cpus-per-task=${job.cpus}`,
    `#SBATCH --mem=${job.memory}`,
    `#SBATCH --time=${job.time}`,
    ...(job.partition ? [`#SBATCH --partition=${job.partition}`] : []),
    ...extra,
    'set -euo pipefail',
    `cd ${shellQuote(job.workdir)}`,
    `export VLFER_THREADS=\${SLURM_CPUS_PER_TASK:-${job.cpus}}`,
  ];
  const array = [
    ...head(job.name, [`#SBATCH --array=0-${job.shards - 1}`, `#SBATCH --output=${arrayLog}`]),
    '# the shard is read from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT',
    shellJoin(job.argv),
    '',
  ].join('\n');
  const merge = [...head(`${job.name}-merge`, [`#SBATCH --output=${mergeLog}`]), shellJoin(job.mergeArgv), ''].join(
    '\n',
  );
  const submit = [
    '#!/bin/bash',
    'set -euo pipefail',
    'here=$(cd "$(dirname "$0")" && pwd)',
    'array=$(sbatch --parsable "$here/array.sbatch")',
    '# a failed array task makes the dependency unsatisfiable: --kill-on-invalid-dep=yes cancels the merge then',
    'merge=$(sbatch --parsable --dependency=afterok:"${array%%;*}" --kill-on-invalid-dep=yes "$here/merge.sbatch")',
    'echo "array job $array, merge job $merge (runs after every array task succeeded)"',
    '',
  ].join('\n');
  ensureDir(logs);
  const files = { 'array.sbatch': array, 'merge.sbatch': merge, 'submit.sh': submit };
  for (const [f, text] of Object.entries(files)) {
    writeFileAtomic(join(dir, f), text);
    chmodSync(join(dir, f), 0o755);
  }
  return Object.keys(files).map((f) => join(dir, f));
}

/** SLURM's memory units (powers of 1024; no unit means M) as a Kubernetes quantity. */
export function kubernetesMemory(memory: string): string {
  if (!MEMORY.test(memory))
    throw new ClusterOptionError('--mem', memory, 'a memory size like 16G (an integer with K, M, G or T; M if none)');
  const unit = /[KMGT]$/.test(memory) ? memory.slice(-1) : 'M';
  return `${memory.replace(/[KMGT]$/, '')}${unit}i`;
}

/**
 * Where the pods mount the shared volume (claim `vlfer-work`): the deepest folder holding `workdir` and every path of
 * `job.paths`, so each path the command names exists in the pod as on the machine that wrote the job.
 * @throws VlferError naming the paths when only `/` holds them all (a volume cannot be mounted there)
 */
export function kubernetesMountPath(job: Pick<ClusterJob, 'workdir' | 'paths'>): string {
  // a link is followed in the pod: where it leads must be mounted too
  const spelt = [job.workdir, ...(job.paths ?? [])].map((p) => resolve(p));
  const all = [...new Set([...spelt, ...spelt.map((p) => (existsSync(p) ? realpathSync(p) : p))])];
  const parts = all.map((p) => p.split(sep).filter(Boolean));
  const common: string[] = [];
  for (let i = 0; parts.every((q) => i < q.length && q[i] === parts[0]![i]); i++) common.push(parts[0]![i]!);
  if (common.length === 0)
    throw new VlferError(
      `--emit k8s: the job names ${all.join(', ')}, which share no folder but /: the pods mount one volume (claim vlfer-work) at the folder holding all of them; keep the working directory, --shared, --results, --cache-dir and the data under one folder`,
    );
  return `${sep}${common.join(sep)}`;
}

/** The two manifests of {@link writeKubernetesJob} as plain objects (what the YAML files parse back to). */
export function kubernetesManifests(job: ClusterJob): { indexed: object; merge: object } {
  validateClusterJob(job);
  const memory = kubernetesMemory(job.memory);
  const mountPath = kubernetesMountPath(job);
  const container = (name: string, argv: string[], env: { name: string; value: string }[]) => ({
    name,
    image: job.image ?? 'node:20-bookworm',
    workingDir: job.workdir,
    // the argv itself: no shell reads it
    command: [...argv],
    env: [...env, { name: 'VLFER_THREADS', value: String(job.cpus) }],
    resources: { requests: { cpu: String(job.cpus), memory }, limits: { memory } },
    volumeMounts: [{ name: 'work', mountPath }],
  });
  const volumes = [{ name: 'work', persistentVolumeClaim: { claimName: 'vlfer-work' } }];
  const indexed = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: job.name },
    spec: {
      completionMode: 'Indexed',
      completions: job.shards,
      parallelism: job.shards,
      backoffLimitPerIndex: 1,
      template: {
        spec: {
          restartPolicy: 'Never',
          // VLFER_SHARD_COUNT with JOB_COMPLETION_INDEX (set by Kubernetes) gives each pod its shard
          containers: [container('shard', job.argv, [{ name: 'VLFER_SHARD_COUNT', value: String(job.shards) }])],
          volumes,
        },
      },
    },
  };
  const merge = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${job.name}-merge` },
    spec: {
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [container('merge', job.mergeArgv, [{ name: 'VLFER_MERGE', value: '1' }])],
          volumes,
        },
      },
    },
  };
  return { indexed, merge };
}

/**
 * YAML text with every string double-quoted (the library escapes tabs and C0 controls there) and the characters it
 * leaves raw escaped too: DEL and the C1 controls (`\x7f`…), NEL, LINE and PARAGRAPH SEPARATOR (`\N`, `\L`, `\P`),
 * which YAML readers other than the library (PyYAML, kubectl's go-yaml) fold into spaces (so the pod would run
 * another argv than the one asked for), and the non-characters U+FFFE, U+FFFF (`\uFFFE`), which they refuse. Only
 * quoted scalars can hold them (the keys and comments are ours).
 */
function yamlEscapes(text: string): string {
  const named: Record<string, string> = { '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P' };
  return text.replace(/[\u007f-\u009f\u2028\u2029\ufffe\uffff]/g, (c) => {
    const code = c.charCodeAt(0);
    return (
      named[c] ?? (code > 0xff ? `\\u${code.toString(16).toUpperCase()}` : `\\x${code.toString(16).padStart(2, '0')}`)
    );
  });
}

/** `indexed-job.yaml`: an Indexed Job (completions = parallelism = shards) and a merge Job to apply after it completes. */
export function writeKubernetesJob(dir: string, job: ClusterJob): string[] {
  const { indexed, merge } = kubernetesManifests(job);
  const yaml = (value: object, comment: string) => {
    const doc = new Document(value);
    doc.commentBefore = comment;
    return yamlEscapes(doc.toString({ lineWidth: 0, defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' }));
  };
  const files: [string, string][] = [
    [
      'indexed-job.yaml',
      yaml(indexed, ' kubectl apply -f indexed-job.yaml; when it completes: kubectl apply -f merge-job.yaml'),
    ],
    ['merge-job.yaml', yaml(merge, ' apply after indexed-job.yaml completed: merges the shards')],
  ];
  ensureDir(dir);
  for (const [f, text] of files) writeFileAtomic(join(dir, f), text);
  return files.map(([f]) => join(dir, f));
}
