import { InvalidArgumentError } from './errors.js';

/** One part of a job split into `count` parts: `index` in 0..count-1. */
export interface Shard {
  index: number;
  count: number;
}

/** `"2/8"` → `{ index: 2, count: 8 }` (0-based index, as SLURM array task ids from 0). */
export function parseShard(text: string, argument = 'shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index >= 0 && index < count))
    throw new InvalidArgumentError({
      functionName: 'parseShard',
      argument,
      message: `expected i/n with 0 ≤ i < n (e.g. 0/4), got '${text}'`,
    });
  return { index, count };
}

/**
 * The shard of this process from a scheduler's environment, or null outside an array job:
 * SLURM array jobs (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`), or Kubernetes
 * Indexed Jobs (`JOB_COMPLETION_INDEX` of `VLFER_SHARD_COUNT`, which the emitted manifest sets to the completions).
 * @returns the shard and the variables it came from
 */
export function shardFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): { shard: Shard; source: string } | null {
  const int = (name: string) => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v))
      throw new InvalidArgumentError({
        functionName: 'shardFromEnv',
        argument: name,
        message: `must be a non-negative integer, got '${v}'`,
      });
    return Number(v);
  };
  const task = int('SLURM_ARRAY_TASK_ID');
  if (task !== undefined) {
    const count = int('SLURM_ARRAY_TASK_COUNT');
    const min = int('SLURM_ARRAY_TASK_MIN') ?? 0;
    if (count === undefined)
      throw new InvalidArgumentError({
        functionName: 'shardFromEnv',
        argument: 'SLURM_ARRAY_TASK_COUNT',
        message: 'is not set although SLURM_ARRAY_TASK_ID is (Slurm ≥ 18.08 sets both); pass the shard explicitly',
      });
    const index = task - min;
    if (index < 0 || index >= count)
      throw new InvalidArgumentError({
        functionName: 'shardFromEnv',
        argument: 'SLURM_ARRAY_TASK_ID',
        message: `${task} − ${min} is outside 0..${count - 1}; use a contiguous --array=0-${count - 1}`,
      });
    return { shard: { index, count }, source: `SLURM_ARRAY_TASK_ID=${task} of SLURM_ARRAY_TASK_COUNT=${count}` };
  }
  const k8s = int('JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    const count = int('VLFER_SHARD_COUNT');
    if (count === undefined || k8s >= count)
      throw new InvalidArgumentError({
        functionName: 'shardFromEnv',
        argument: 'VLFER_SHARD_COUNT',
        message: `must be set to the Job's completions (> JOB_COMPLETION_INDEX=${k8s}) for an Indexed Job`,
      });
    return { shard: { index: k8s, count }, source: `JOB_COMPLETION_INDEX=${k8s} of VLFER_SHARD_COUNT=${count}` };
  }
  return null;
}

/** FNV-1a 32-bit of a string's UTF-16 code units: a stable hash for assigning work to shards. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The shard a named unit of work belongs to (a stable hash of its id, so adding runs moves no other run). */
export function shardOfKey(key: string, count: number): number {
  if (!Number.isSafeInteger(count) || count < 1)
    throw new InvalidArgumentError({
      functionName: 'shardOfKey',
      argument: 'count',
      message: `expected a positive integer, got ${String(count)}`,
    });
  return fnv1a(key) % count;
}

/** Whether unit `u` (numbered in a fixed order) belongs to `shard` (round-robin: u mod count). */
export function inShard(u: number, shard: Shard | null | undefined): boolean {
  return !shard || u % shard.count === shard.index;
}
