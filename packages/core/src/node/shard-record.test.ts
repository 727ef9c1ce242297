import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, checkShardRecords, readShardRecord, rowChecksum, writeShardRecord } from './index.js';

const what = { functionName: 'merge', argument: 'merge', verb: 'merge' };
const base = { agree: { model: 'm', options: { a: 1, nested: { b: 2 } } }, units: 3 };

describe('shard records (@vlfer/core/node)', () => {
  it('round-trips; canonical JSON and row checksums ignore key order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-shard-rec-'));
    const p = writeShardRecord(dir, { index: 0, count: 1 }, { ...base, unitsDone: 3, counts: { images: 5 } });
    expect(readShardRecord(p, { index: 0, count: 1 }).counts.images).toBe(5);
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: undefined }] })).toBe('{"a":[1,{"d":2}],"b":1}');
    expect(rowChecksum({ x: 1, y: 2 })).toBe(rowChecksum({ y: 2, x: 1 }));
    expect(() => readShardRecord(p, { index: 1, count: 2 })).toThrow(/\(field 'shard'\): is 0\/1, expected 1\/2/);
  });
  it('names the nested field that differs, fingerprints that disagree, and units that do not add up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-shard-rec-'));
    writeShardRecord(dir, { index: 0, count: 3 }, { ...base, unitsDone: 1, fingerprints: { data: { fer: 'aaaa' } } });
    writeShardRecord(
      dir,
      { index: 1, count: 3 },
      { ...base, agree: { ...base.agree, options: { a: 1, nested: { b: 3 } } }, unitsDone: 1 },
    );
    writeShardRecord(dir, { index: 2, count: 3 }, { ...base, unitsDone: 0, fingerprints: { data: { fer: 'bbbb' } } });
    const merge = () => checkShardRecords(dir, 3, { ...what, expected: { model: 'm' } });
    expect(merge).toThrow(
      /cannot merge 3 shards in .*: shard 1\/3 ran with other options: options \(nested\.b\) is 3 there, 2 in shard 0\/3; the shards read different data for 'fer' \(shard 0\/3: aaaa…, shard 2\/3: bbbb…\): the data changed between them or one ran on another copy$/,
    );
    // the units are judged once the options agree (other options, e.g. a batch size, cut the job otherwise)
    writeShardRecord(dir, { index: 1, count: 3 }, { ...base, unitsDone: 1 });
    expect(merge).toThrow(
      /bbbb…\): the data changed between them or one ran on another copy; the shards did 2 units of the job's 3 \(/,
    );
    expect(() => checkShardRecords(dir, 3, { ...what, expected: { model: 'other' } })).toThrow(
      /shard 0\/3 ran with other options: model is "m" there, "other" here/,
    );
  });
  it('refuses an edited record and an unknown format, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-shard-rec-'));
    const p = writeShardRecord(dir, { index: 0, count: 1 }, { ...base, unitsDone: 3 });
    const r = JSON.parse(readFileSync(p, 'utf8'));
    writeFileSync(p, JSON.stringify({ ...r, agree: { ...r.agree, model: 'n' } }));
    expect(() => readShardRecord(p)).toThrow(/\(field 'key'\): does not match agree: the record was edited/);
    writeFileSync(p, JSON.stringify({ key: 'k', shard: { index: 0, count: 1 }, units: 3, unitsDone: 3 }));
    expect(() => readShardRecord(p)).toThrow(/\(field 'format'\): expected 'vlfer-shard-record\/1', got nothing/);
  });
});
