import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Shard } from '@vlfer/core';
import {
  checkShardRecords as checkRecords,
  claimRunKind,
  ensureDir,
  writeShardRecord as writeRecord,
  type RunKind,
  type ShardRecord,
} from '@vlfer/core/node';
import type { EvalOptions, TrainOptions } from './options.js';

export type { ShardRecord } from '@vlfer/core/node';

/** Options that are always paths: compared as absolute paths (`data`, `data/` and `/abs/data` are one root). */
const PATHS = new Set(['root', 'annotations', 'cacheDir', 'unlabelled', 'teacherKeys']);
/** Options that are a path or a name (a hub model id, a built-in label set, a URL): absolute when the path exists. */
const PATHS_OR_NAMES = new Set(['model', 'tokenizer', 'labelSet', 'teacherSource']);

/**
 * The options the shards of one job must agree on, by name (the record keeps them, so the merge names the one that
 * differs); paths made absolute, so shards started from another directory, or with the same path spelled otherwise,
 * agree when they read the same files.
 */
function pick<T extends object>(o: T, fields: readonly (keyof T & string)[]): Record<string, unknown> {
  const value = (f: string, v: unknown) =>
    typeof v === 'string' && (PATHS.has(f) || (PATHS_OR_NAMES.has(f) && existsSync(v))) ? resolve(v) : v;
  return Object.fromEntries(fields.map((f) => [f, value(f, o[f])]));
}

/**
 * What the shards of one evaluation must agree on: every option that changes which items are encoded or how (not
 * the prompt types, head or ensemble, which only the merge uses).
 */
export const evalShardFields = (o: EvalOptions): Record<string, unknown> =>
  pick(o, [
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
    'folderIds',
    'views',
    'peakFrames',
    'limit',
    'subsetSeed',
    'cacheDir',
    'faces',
  ]);

/** What the shards of one training must agree on: the images, model, preprocessing, teacher and faces (not the optimiser). */
export const trainShardFields = (o: TrainOptions): Record<string, unknown> =>
  pick(o, [
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

/** An option's name in messages: the library option and its CLI flag (`cacheDir (--cache-dir)`). */
const optionName = (f: string) => `${f} (--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)})`;

/**
 * Record that a shard finished (atomically, in `<out>/shards/<i>-of-<n>.json`, with a checksum); the merge checks
 * every shard's record. `counts` are non-negative integers (images, cached, encoded …). `out` is created and claimed
 * for `kind` here, not when the shard starts (it only checks then, `checkRunKind`): a shard that fails leaves no
 * directory or claim behind.
 */
export function writeShardRecord(
  out: string,
  shard: Shard,
  kind: RunKind,
  fields: Record<string, unknown>,
  info: { units: number; unitsDone: number; counts: Record<string, number>; extra?: Record<string, unknown> },
): string {
  ensureDir(resolve(out));
  claimRunKind(resolve(out), kind);
  return writeRecord(join(out, 'shards'), shard, {
    agree: fields,
    units: info.units,
    unitsDone: info.unitsDone,
    counts: info.counts,
    ...(info.extra ? { extra: info.extra } : {}),
  });
}

/**
 * Before a merge: every one of the `count` shards finished, with the same options as this call (the option that
 * differs is named, with both values), an unedited record, the same units, and units that add up to the job.
 */
export function checkShardRecords(
  out: string,
  count: number,
  fields: Record<string, unknown>,
  what: { functionName: string; verb: string },
): ShardRecord[] {
  return checkRecords(join(out, 'shards'), count, {
    expected: fields,
    name: optionName,
    functionName: what.functionName,
    argument: 'merge',
    verb: what.verb,
    what: out,
  });
}
