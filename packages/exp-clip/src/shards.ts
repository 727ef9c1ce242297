import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, InvalidArgumentError, type Shard } from '@vlfer/core';
import { ensureDir, writeJsonAtomic } from '@vlfer/core/node';
import type { EvalOptions, TrainOptions } from './options.js';

/** The options the shards of one job must agree on, hashed. */
function optionsKey<T extends object>(o: T, fields: readonly (keyof T)[]): string {
  return createHash('sha256')
    .update(JSON.stringify(Object.fromEntries(fields.map((f) => [f, o[f]]))))
    .digest('hex');
}

/**
 * What the shards of one evaluation must agree on: every option that changes which items are encoded or how (not
 * the prompt types, head or ensemble, which only the merge uses).
 */
export const evalShardKey = (o: EvalOptions): string =>
  optionsKey(o, [
    'dataset',
    'root',
    'annotations',
    'folds',
    'split',
    'model',
    'tokenizer',
    'labelSet',
    'classes',
    'preprocess',
    'resizer',
    'dtype',
    'batchSize',
    'frames',
    'shortClip',
    'rebase',
    'labelScheme',
    'duplicates',
    'extraFiles',
    'limit',
    'subsetSeed',
    'cacheDir',
    'faces',
  ]);

/** What the shards of one training must agree on: the images, model, preprocessing, teacher and faces (not the optimiser). */
export const trainShardKey = (o: TrainOptions): string =>
  optionsKey(o, [
    'unlabelled',
    'model',
    'tokenizer',
    'teacher',
    'teacherSource',
    'teacherKeys',
    'teacherModel',
    'instruction',
    'preprocess',
    'resizer',
    'dtype',
    'encodeBatchSize',
    'outputDim',
    'cacheDir',
    'faces',
  ]);

/** The record a finished shard leaves in `<out>/shards/`. */
export interface ShardRecord {
  key: string;
  shard: Shard;
  /** Units of the whole job, and how many this shard did. */
  units: number;
  unitsDone: number;
  finishedAt: string;
  /** What the job adds (counts, faces report …). */
  [more: string]: unknown;
}

const recordPath = (out: string, s: Shard) => join(out, 'shards', `${s.index}-of-${s.count}.json`);

/** Record that a shard finished (atomically, in `<out>/shards/`); the merge checks every shard's record. */
export function writeShardRecord(
  out: string,
  shard: Shard,
  key: string,
  info: { units: number; unitsDone: number } & Record<string, unknown>,
): string {
  const p = recordPath(out, shard);
  ensureDir(join(out, 'shards'));
  writeJsonAtomic(p, { key, shard, ...info, finishedAt: new Date().toISOString() } satisfies ShardRecord);
  return p;
}

/**
 * Before a merge: every one of the `count` shards finished, with the same options (`key`) and the same units. Missing
 * shards, shards run with other options (`differ` says which options count) and changed data are named.
 */
export function checkShardRecords(
  out: string,
  count: number,
  key: string,
  what: { functionName: string; verb: string; differ: string },
): ShardRecord[] {
  const records: ShardRecord[] = [];
  const problems: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = recordPath(out, { index: i, count });
    if (!existsSync(p)) {
      problems.push(`shard ${i}/${count} has not finished (${p} is missing)`);
      continue;
    }
    let m: ShardRecord;
    try {
      m = JSON.parse(readFileSync(p, 'utf8')) as ShardRecord;
    } catch (error) {
      throw new DataFormatError({ file: p, message: `not JSON (${(error as Error).message})`, cause: error });
    }
    if (m.key !== key) problems.push(`shard ${i}/${count} ran with other options (${what.differ})`);
    records.push(m);
  }
  if (records.length === count && new Set(records.map((m) => m.units)).size > 1)
    problems.push(
      `the shards saw different numbers of units (${records.map((m) => m.units).join(', ')}): the data changed between them`,
    );
  if (problems.length > 0)
    throw new InvalidArgumentError({
      functionName: what.functionName,
      argument: 'merge',
      message: `cannot ${what.verb} ${count} shards in ${out}: ${problems.join('; ')}`,
    });
  return records;
}
