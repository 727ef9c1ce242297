import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ChecksumError, DataFormatError, InvalidArgumentError } from '../errors.js';
import type { Shard } from '../shard.js';
import { readTextFile, writeJsonAtomic } from './fs.js';
import { hashBytes } from './hash.js';

/**
 * Shard records: what one shard of an array job leaves beside its outputs, and what the merge checks before it
 * trusts them (used by `exp-clip eval/train --merge` and `bench:ablations --merge`).
 *
 * A record holds the values every shard of a job must share (`agree`: options, config and code fingerprints,
 * compared by name, so the merge says which one differs), content fingerprints of the data and models the shard
 * read (`fingerprints`: a name seen by two shards must have one value), the units of work, optional counts, and a
 * SHA-256 of each row the shard wrote (`rows`). The record carries a SHA-256 of its own canonical JSON
 * (`checksum`): a hand-edited record or row is refused. The checksums detect edits and damage, they are not
 * signatures (whoever edits a row can recompute them).
 */

export const SHARD_RECORD_FORMAT = 'vlfer-shard-record/1';

/** The record a shard leaves in its job's shard directory as `<i>-of-<n>.json`. */
export interface ShardRecord {
  format: typeof SHARD_RECORD_FORMAT;
  shard: Shard;
  /** SHA-256 of the canonical JSON of `agree`. */
  key: string;
  /** Values every shard of the job must share, by name (options, config and code fingerprints). */
  agree: Record<string, unknown>;
  /** Content fingerprints by kind and name (`{ data: { fer2013: … }, model: { … } }`). */
  fingerprints: Record<string, Record<string, string>>;
  /** Units of the whole job, and how many this shard did. */
  units: number;
  unitsDone: number;
  /** Job counts (non-negative safe integers): images encoded, from the cache … */
  counts: Record<string, number>;
  /** SHA-256 (`rowChecksum`) of each row the shard wrote, by row id. */
  rows: Record<string, string>;
  /** Anything else the job reports (not checked). */
  extra: Record<string, unknown>;
  finishedAt: string;
  /** SHA-256 of the canonical JSON of every other field. */
  checksum: string;
}

export type ShardRecordInput = Pick<ShardRecord, 'agree' | 'units' | 'unitsDone'> &
  Partial<Pick<ShardRecord, 'fingerprints' | 'counts' | 'rows' | 'extra'>>;

/** JSON with object keys sorted at every level (undefined members left out, as JSON.stringify does). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const o = value as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** The checksum of one row as `rows` records it: SHA-256 of its canonical JSON. */
export const rowChecksum = (row: unknown): string => hashBytes(canonicalJson(row));

/** Where the record of `shard` lives in a job's shard directory. */
export const shardRecordPath = (dir: string, shard: Shard): string =>
  join(dir, `${shard.index}-of-${shard.count}.json`);

const sealed = (r: Omit<ShardRecord, 'checksum'>): string => hashBytes(canonicalJson(r));

/** Write (atomically) the record of a shard into `dir`. @returns its path */
export function writeShardRecord(dir: string, shard: Shard, input: ShardRecordInput): string {
  const body: Omit<ShardRecord, 'checksum'> = {
    format: SHARD_RECORD_FORMAT,
    shard: { index: shard.index, count: shard.count },
    key: hashBytes(canonicalJson(input.agree)),
    agree: input.agree,
    fingerprints: input.fingerprints ?? {},
    units: input.units,
    unitsDone: input.unitsDone,
    counts: input.counts ?? {},
    rows: input.rows ?? {},
    extra: input.extra ?? {},
    finishedAt: new Date().toISOString(),
  };
  const p = shardRecordPath(dir, shard);
  writeJsonAtomic(p, { ...body, checksum: sealed(body) });
  return p;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** A value in a message: JSON, cut at 80 characters; `typed` marks strings (a count written as "9"). */
const describe = (v: unknown, typed = true): string => {
  const s = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return `${s.length > 80 ? `${s.slice(0, 77)}…` : s}${typed && typeof v === 'string' ? ' (a string)' : ''}`;
};
/** Where two JSON values first differ: `[path, a, b]` (path '' when they differ at the top), or null when equal. */
function firstDifference(a: unknown, b: unknown, path = ''): [string, unknown, unknown] | null {
  if (canonicalJson(a) === canonicalJson(b)) return null;
  if (isObject(a) && isObject(b))
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
  return [path, a, b];
}
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Read and check one record: its shape (every field named with what was expected), that it is the record of
 * `shard` when given, and its checksum.
 * @throws DataFormatError naming the file and field; ChecksumError for an edited record
 */
export function readShardRecord(path: string, shard?: Shard): ShardRecord {
  let r: unknown;
  try {
    r = JSON.parse(readTextFile(path, 'shard record'));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new DataFormatError({ file: path, message: `not JSON (${error.message})`, cause: error });
  }
  const bad = (field: string | undefined, message: string) =>
    new DataFormatError({ file: path, ...(field ? { field } : {}), message });
  if (!isObject(r)) throw bad(undefined, `expected a shard record (a JSON object), got ${describe(r)}`);
  if (r.format !== SHARD_RECORD_FORMAT)
    throw bad(
      'format',
      `expected '${SHARD_RECORD_FORMAT}', got ${describe(r.format)} (a record of an older vlfer, or not a shard record): run the shard again`,
    );
  const s = r.shard;
  if (!isObject(s) || !isCount(s.index) || !isCount(s.count) || s.index >= s.count)
    throw bad('shard', `expected { index, count } with 0 ≤ index < count, got ${describe(s)}`);
  if (shard && (s.index !== shard.index || s.count !== shard.count))
    throw bad(
      'shard',
      `is ${s.index}/${s.count}, expected ${shard.index}/${shard.count} (the file was renamed or copied)`,
    );
  for (const f of ['units', 'unitsDone'] as const)
    if (!isCount(r[f])) throw bad(f, `expected a non-negative integer, got ${describe(r[f])}`);
  if ((r.unitsDone as number) > (r.units as number))
    throw bad('unitsDone', `${String(r.unitsDone)} is more than the job's ${String(r.units)} units`);
  if (typeof r.key !== 'string' || !HEX64.test(r.key))
    throw bad('key', `expected a SHA-256 (64 hex digits), got ${describe(r.key)}`);
  if (!isObject(r.agree)) throw bad('agree', `expected an object, got ${describe(r.agree)}`);
  if (!isObject(r.fingerprints)) throw bad('fingerprints', `expected an object, got ${describe(r.fingerprints)}`);
  for (const [kind, m] of Object.entries(r.fingerprints)) {
    if (!isObject(m)) throw bad(`fingerprints.${kind}`, `expected an object of strings, got ${describe(m)}`);
    for (const [name, v] of Object.entries(m))
      if (typeof v !== 'string') throw bad(`fingerprints.${kind}.${name}`, `expected a string, got ${describe(v)}`);
  }
  if (!isObject(r.counts)) throw bad('counts', `expected an object, got ${describe(r.counts)}`);
  for (const [name, v] of Object.entries(r.counts))
    if (!isCount(v)) throw bad(`counts.${name}`, `expected a non-negative integer, got ${describe(v)}`);
  if (!isObject(r.rows)) throw bad('rows', `expected an object, got ${describe(r.rows)}`);
  for (const [id, v] of Object.entries(r.rows))
    if (typeof v !== 'string' || !HEX64.test(v))
      throw bad('rows', `the checksum of row '${id.slice(0, 200)}' is ${describe(v)}, expected 64 hex digits`);
  if (!isObject(r.extra)) throw bad('extra', `expected an object, got ${describe(r.extra)}`);
  if (typeof r.finishedAt !== 'string')
    throw bad('finishedAt', `expected a date string, got ${describe(r.finishedAt)}`);
  if (typeof r.checksum !== 'string' || !HEX64.test(r.checksum))
    throw bad('checksum', `expected a SHA-256 (64 hex digits), got ${describe(r.checksum)}`);
  const { checksum, ...body } = r as unknown as ShardRecord;
  if (hashBytes(canonicalJson(body.agree)) !== body.key)
    throw new ChecksumError({ file: path, field: 'key', message: 'does not match agree: the record was edited' });
  if (sealed(body) !== checksum)
    throw new ChecksumError({
      file: path,
      field: 'checksum',
      message: 'does not match the record: it was edited or damaged after the shard wrote it; run the shard again',
    });
  return r as unknown as ShardRecord;
}

/** How `checkShardRecords` words its error. */
export interface CheckShardRecordsOptions {
  /** Values this process expects in every record's `agree` (e.g. the merge's own options), by name. */
  expected?: Record<string, unknown>;
  /** How a field of `agree` is named in messages (e.g. `cacheDir` → `cacheDir (--cache-dir)`). */
  name?: (field: string) => string;
  /** For the error: the function and argument the merge came from, and its verb ('merge', 'train from'). */
  functionName: string;
  argument: string;
  verb: string;
  /** The job's name in the message. @default dir */
  what?: string;
}

/**
 * Before a merge: every one of the `count` shards in `dir` left a valid, unedited record; the records agree with
 * `expected` and with each other on every field of `agree` (the field and both values are named), on every content
 * fingerprint they share, on the job's units, and their units add up to the job (each unit done by one shard).
 * Every problem is collected and reported at once.
 * @throws InvalidArgumentError listing the problems
 */
export function checkShardRecords(dir: string, count: number, options: CheckShardRecordsOptions): ShardRecord[] {
  const { records, problems } = shardRecordProblems(dir, count, options);
  if (problems.length > 0)
    throw new InvalidArgumentError({
      functionName: options.functionName,
      argument: options.argument,
      message: `cannot ${options.verb} ${count} shards in ${options.what ?? dir}: ${problems.join('; ')}`,
    });
  return records;
}

const at = (s: Shard) => `shard ${s.index}/${s.count}`;

/**
 * Reads the records of shards 0 … count−1 in `dir`. A missing record, or one that fails {@link readShardRecord},
 * is a problem (not thrown); errors other than DataFormatError are thrown.
 */
export function readShardRecords(dir: string, count: number): { records: ShardRecord[]; problems: string[] } {
  const records: ShardRecord[] = [];
  const problems: string[] = [];
  for (let i = 0; i < count; i++) {
    const shard = { index: i, count };
    const p = shardRecordPath(dir, shard);
    if (!existsSync(p)) {
      problems.push(`${at(shard)} has not finished (${p} is missing)`);
      continue;
    }
    try {
      records.push(readShardRecord(p, shard));
    } catch (error) {
      if (!(error instanceof DataFormatError)) throw error;
      problems.push(`${at(shard)}: ${error.message}`);
    }
  }
  return { records, problems };
}

/**
 * Problems where a record's `agree` differs from `expected` (values this process expects) or, for fields not
 * expected, from the first record: one problem per record, naming each field (through `name`) and both values.
 */
export function optionProblems(
  records: readonly ShardRecord[],
  expected: Record<string, unknown> | undefined,
  name: (field: string) => string,
): string[] {
  const problems: string[] = [];
  const first = records[0];
  for (const r of records) {
    const fields = new Set([...Object.keys(expected ?? {}), ...Object.keys(r.agree)]);
    const differ: string[] = [];
    for (const f of fields) {
      const mine = expected && f in expected;
      if (!mine && (!first || r === first)) continue;
      const d = firstDifference(r.agree[f], mine ? expected[f] : first!.agree[f]);
      if (d)
        differ.push(
          `${name(f)}${d[0] ? ` (${d[0]})` : ''} is ${describe(d[1], false)} there, ${describe(d[2], false)} ${mine ? 'here' : `in ${at(first!.shard)}`}`,
        );
    }
    if (differ.length > 0) problems.push(`${at(r.shard)} ran with other options: ${differ.join('; ')}`);
  }
  return problems;
}

/** Problems where two records hold different content fingerprints for the same kind and name. */
export function fingerprintProblems(records: readonly ShardRecord[]): string[] {
  const problems: string[] = [];
  const kinds = new Set(records.flatMap((r) => Object.keys(r.fingerprints)));
  for (const kind of kinds) {
    const names = new Set(records.flatMap((r) => Object.keys(r.fingerprints[kind] ?? {})));
    for (const n of names) {
      const seen = records.filter((r) => r.fingerprints[kind]?.[n] !== undefined);
      if (new Set(seen.map((r) => r.fingerprints[kind]![n])).size > 1)
        problems.push(
          `the shards read different ${kind} for '${n}' (${seen.map((r) => `${at(r.shard)}: ${r.fingerprints[kind]![n]!.slice(0, 12)}…`).join(', ')}): the ${kind} changed between them or one ran on another copy`,
        );
    }
  }
  return problems;
}

/**
 * When all `count` records are there: problems where they saw different numbers of units, or their `unitsDone`
 * do not add up to the job's units.
 */
export function unitProblems(records: readonly ShardRecord[], count: number): string[] {
  if (records.length !== count || count === 0) return [];
  const first = records[0]!;
  if (new Set(records.map((r) => r.units)).size > 1)
    return [
      `the shards saw different numbers of units (${records.map((r) => `${at(r.shard)}: ${r.units}`).join(', ')}): the data changed between them`,
    ];
  const done = records.reduce((s, r) => s + r.unitsDone, 0);
  if (done === first.units) return [];
  return [
    `the shards did ${done} units of the job's ${first.units} (${records.map((r) => `${at(r.shard)}: ${r.unitsDone}`).join(', ')})`,
  ];
}

/**
 * What `checkShardRecords` checks, as a list of problems (for callers that add their own before throwing).
 * Stages: {@link readShardRecords} → {@link optionProblems} → {@link fingerprintProblems} → {@link unitProblems}.
 */
export function shardRecordProblems(
  dir: string,
  count: number,
  options: Pick<CheckShardRecordsOptions, 'expected' | 'name'>,
): { records: ShardRecord[]; problems: string[] } {
  const { records, problems } = readShardRecords(dir, count);
  const optionDiffs = optionProblems(records, options.expected, options.name ?? ((f: string) => f));
  // shards of other options cut the job into other units (a batch size): the units are then no sign of changed data
  problems.push(
    ...optionDiffs,
    ...fingerprintProblems(records),
    ...(optionDiffs.length ? [] : unitProblems(records, count)),
  );
  return { records, problems };
}
