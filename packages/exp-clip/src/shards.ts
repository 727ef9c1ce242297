import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataFormatError, InvalidArgumentError, type Shard } from '@vlfer/core';
import { ensureDir, writeJsonAtomic } from '@vlfer/core/node';
import type { FacesReport } from './faces.js';
import type { EvalOptions } from './options.js';

/**
 * What the shards of one evaluation must agree on: every option that changes which items are encoded or how (not
 * the prompt types, head or ensemble, which only the merge uses).
 */
export function evalShardKey(o: EvalOptions): string {
  const { dataset, root, annotations, folds, split, model, tokenizer, labelSet, classes, preprocess, resizer, dtype, batchSize, frames, shortClip, rebase, labelScheme, duplicates, extraFiles, limit, subsetSeed, cacheDir, faces } = o;
  return createHash('sha256').update(JSON.stringify({ dataset, root, annotations, folds, split, model, tokenizer, labelSet, classes, preprocess, resizer, dtype, batchSize, frames, shortClip, rebase, labelScheme, duplicates, extraFiles, limit, subsetSeed, cacheDir, faces })).digest('hex');
}

export interface ShardMarker {
  key: string;
  shard: Shard;
  /** Units of the whole job (all folds), and how many this shard did. */
  units: number;
  unitsDone: number;
  images: number;
  encoded: number;
  cached: number;
  faces: FacesReport | null;
  finishedAt: string;
}

const markerPath = (out: string, s: Shard) => join(out, 'shards', `${s.index}-of-${s.count}.json`);

/** Record that a shard finished (atomically, in `<out>/shards/`): the merge checks every shard's marker. */
export function writeShardMarker(o: EvalOptions, shard: Shard, info: Omit<ShardMarker, 'key' | 'shard' | 'finishedAt'>): string {
  const p = markerPath(o.out!, shard);
  ensureDir(join(o.out!, 'shards'));
  writeJsonAtomic(p, { key: evalShardKey(o), shard, ...info, finishedAt: new Date().toISOString() } satisfies ShardMarker);
  return p;
}

/**
 * Before a merge: every one of the `count` shards finished with the same options. Missing shards and shards run
 * with other options are named.
 */
export function checkShardMarkers(o: EvalOptions, count: number): ShardMarker[] {
  const key = evalShardKey(o);
  const markers: ShardMarker[] = [];
  const problems: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = markerPath(o.out!, { index: i, count });
    if (!existsSync(p)) { problems.push(`shard ${i}/${count} has not finished (${p} is missing)`); continue; }
    let m: ShardMarker;
    try { m = JSON.parse(readFileSync(p, 'utf8')) as ShardMarker; } catch (error) { throw new DataFormatError({ file: p, message: `not JSON (${(error as Error).message})`, cause: error }); }
    if (m.key !== key) problems.push(`shard ${i}/${count} ran with other options (dataset, model, preprocessing, subset, faces …)`);
    markers.push(m);
  }
  if (markers.length === count && new Set(markers.map((m) => m.units)).size > 1) problems.push(`the shards saw different numbers of units (${markers.map((m) => m.units).join(', ')}): the data changed between them`);
  if (problems.length > 0) throw new InvalidArgumentError({ functionName: 'evaluateZeroShot', argument: 'merge', message: `cannot merge ${count} shards in ${o.out}: ${problems.join('; ')}` });
  return markers;
}
