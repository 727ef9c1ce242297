import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createLockFile,
  currentProcess,
  judgeLock,
  mergePreviousOutputs,
  newLockInfo,
  processGone,
  recoverRunDirectory,
  RUN_LOCK_FILE,
  RunDirectory,
  type RunManifest,
  stageOutputs,
  takeOverLock,
} from './run-dir.js';
import {
  fingerprintProblems,
  optionProblems,
  readShardRecords,
  type ShardRecord,
  unitProblems,
  writeShardRecord,
} from './shard-record.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-stages-'));

describe('run directory stages', () => {
  it('createLockFile writes the record once and refuses a second lock with EEXIST', () => {
    const dir = tmp();
    const info = newLockInfo('vlfer test');
    expect(info.host).toBe(hostname());
    expect(info.token).toMatch(/^[0-9a-f]{16}$/);
    createLockFile(join(dir, RUN_LOCK_FILE), info);
    expect(JSON.parse(readFileSync(join(dir, RUN_LOCK_FILE), 'utf8'))).toEqual(info);
    expect(() => createLockFile(join(dir, RUN_LOCK_FILE), info)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });
  it('judgeLock waits for a fresh unreadable lock, takes over a dead holder, refuses a live one', () => {
    const live = newLockInfo('live');
    expect(judgeLock('/d', '/d/l', { problem: 'empty', age: 10 }, live.host, 1000, true)).toEqual({ kind: 'wait' });
    expect(judgeLock('/d', '/d/l', { problem: 'empty', age: 10 }, live.host, 1000, false)).toMatchObject({
      kind: 'take-over',
      notice: expect.stringMatching(/names no run \(empty\)/),
    });
    const dead = { ...live, pid: 2 ** 22 + 12345, processStart: null };
    expect(judgeLock('/d', '/d/l', { info: dead, age: 0 }, live.host, 1000, true)).toMatchObject({
      kind: 'take-over',
      notice: expect.stringMatching(/stale lock of pid \d+ .*\(process gone\)/),
    });
    expect(() => judgeLock('/d', '/d/l', { info: live, age: 0 }, live.host, 1000, true)).toThrow(
      /\/d is in use by another run: pid \d+/,
    );
    const remote = { ...live, host: 'elsewhere' };
    expect(judgeLock('/d', '/d/l', { info: remote, age: 5000 }, live.host, 1000, true)).toMatchObject({
      notice: expect.stringMatching(/no heartbeat for 5 s/),
    });
  });
  it("a holder in another PID namespace of this host (a container with the host's name) is not judged gone", () => {
    const live = newLockInfo('live');
    const dead = { ...live, pid: 2 ** 22 + 12345, processStart: null };
    // pid 1 of a container is no pid here: before, it was "process gone" and its lock taken while it ran
    const container = { ...dead, pidNamespace: 'pid:[1]' };
    expect(() => judgeLock('/d', '/d/l', { info: container, age: 0 }, live.host, 1000, true)).toThrow(/is in use by/);
    expect(judgeLock('/d', '/d/l', { info: container, age: 5000 }, live.host, 1000, true)).toMatchObject({
      notice: expect.stringMatching(/no heartbeat for 5 s/),
    });
    expect(processGone(container)).toBe(false);
    expect(processGone(dead)).toBe(true); // a record of before (no namespace), or of this namespace
    expect(processGone({ ...dead, pidNamespace: live.pidNamespace })).toBe(true);
  });
  it('a holder killed but not yet reaped by its parent (a zombie) is gone: its pid answers, but it holds nothing', async () => {
    // sh starts a sleep in the background, prints its pid and becomes a sleep that never reaps it
    const parent = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number((await once(parent.stdout!, 'data'))[0].toString());
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const record = { ...currentProcess(), pid, processStart: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]! };
      expect(processGone(record)).toBe(false); // running
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/\) Z /); // a zombie: kill(pid, 0) still succeeds
      expect(processGone(record)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
  it('a run whose lock another run holds now publishes nothing', () => {
    const dir = tmp();
    const run = RunDirectory.open(dir, { command: 'a' });
    try {
      writeFileSync(join(dir, RUN_LOCK_FILE), JSON.stringify(newLockInfo('b')));
      expect(() => run.publish({ 'x.txt': 'x' })).toThrow(
        /no longer holds its lock .*another run holds it\); nothing was published/,
      );
      expect(existsSync(join(dir, 'x.txt'))).toBe(false);
    } finally {
      run.close();
    }
  });
  it('takeOverLock removes only the stale lock it judged; a fresh lock is never read empty', () => {
    const dir = tmp();
    const lock = join(dir, RUN_LOCK_FILE);
    writeFileSync(lock, '');
    expect(takeOverLock(lock, '')).toBe('removed');
    expect(existsSync(lock)).toBe(false);
    // another run took the empty lock over and made its own meanwhile: moved aside by the rename, then put back (the
    // rename alone had left both runs going); a fresh lock is linked into place whole, never empty
    const fresh = newLockInfo('fresh');
    createLockFile(lock, fresh);
    expect(readdirSync(dir)).toEqual([RUN_LOCK_FILE]);
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toEqual(fresh);
    expect(takeOverLock(lock, '')).toBe('changed');
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toEqual(fresh);
    expect(readdirSync(dir)).toEqual([RUN_LOCK_FILE]);
    // leftovers of a takeover or a lock write killed in that instant are no outputs, and go a minute later
    const old = new Date(Date.now() - 61_000);
    for (const f of [`${RUN_LOCK_FILE}.stale-1a2b3c4d`, `${RUN_LOCK_FILE}.0123456789abcdef.new`]) {
      writeFileSync(join(dir, f), 'x');
      utimesSync(join(dir, f), old, old);
    }
    writeFileSync(join(dir, `${RUN_LOCK_FILE}.stale-young`), 'x');
    recoverRunDirectory(dir);
    expect(readdirSync(dir).sort()).toEqual([RUN_LOCK_FILE, `${RUN_LOCK_FILE}.stale-young`]);
  });
  it("recoverRunDirectory deletes staging folders their runs left, not a live process's", () => {
    const dir = tmp();
    const dead = `.staging-${2 ** 22 + 12345}-abcd`;
    const own = `.staging-${process.pid}-abcd`;
    const live = `.staging-1-abcd`; // pid 1 lives: a run that lost its lock in a takeover race may be publishing there
    for (const d of [dead, own, live]) mkdirSync(join(dir, d));
    const lines: string[] = [];
    recoverRunDirectory(dir, (l) => lines.push(l));
    expect(readdirSync(dir)).toEqual([live]);
    expect(lines).toEqual([]);
    const hourAgo = new Date(Date.now() - 3_700_000);
    utimesSync(join(dir, live), hourAgo, hourAgo); // (a container's pid 1, its run long gone)
    recoverRunDirectory(dir);
    expect(readdirSync(dir)).toEqual([]);
  });
  it('stageOutputs writes the files and lists their checksums; mergePreviousOutputs keeps old entries, sorted', () => {
    const dir = tmp();
    const manifest: RunManifest = { format: 'vlfer-run-outputs', version: 1, files: {} };
    stageOutputs(dir, join(dir, 'stage'), ['b.txt'], { 'b.txt': 'hi' }, manifest);
    expect(readFileSync(join(dir, 'stage', 'b.txt'), 'utf8')).toBe('hi');
    expect(manifest.files['b.txt']).toEqual({
      sha256: '8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4',
      bytes: 2,
    });
    const run = RunDirectory.open(dir, { command: 'test' });
    const previous = run.publish({ 'a.txt': 'old', 'b.txt': 'old' });
    run.close();
    mergePreviousOutputs(dir, manifest, previous);
    expect(Object.keys(manifest.files)).toEqual(['a.txt', 'b.txt']);
    expect(manifest.files['b.txt']!.bytes).toBe(2);
    writeFileSync(join(dir, 'a.txt'), 'edited');
    expect(() => mergePreviousOutputs(dir, manifest, previous)).toThrow(/a\.txt/);
  });
});

describe('shard record stages', () => {
  const base = { agree: { model: 'm' }, units: 4 };
  const records = (dir: string) => readShardRecords(dir, 3);
  it('readShardRecords reads what is there and lists the missing shard', () => {
    const dir = tmp();
    writeShardRecord(dir, { index: 0, count: 3 }, { ...base, unitsDone: 2 });
    writeShardRecord(dir, { index: 2, count: 3 }, { ...base, unitsDone: 1 });
    const got = records(dir);
    expect(got.records.map((r) => r.shard.index)).toEqual([0, 2]);
    expect(got.problems).toEqual([expect.stringMatching(/^shard 1\/3 has not finished/)]);
  });
  const rec = (index: number, over: Partial<ShardRecord>): ShardRecord =>
    ({ shard: { index, count: 2 }, agree: {}, fingerprints: {}, units: 4, unitsDone: 2, ...over }) as ShardRecord;
  it('optionProblems compares with the expected values and with the first record', () => {
    const rs = [rec(0, { agree: { lr: 1 } }), rec(1, { agree: { lr: 2 } })];
    expect(optionProblems(rs, undefined, (f) => `--${f}`)).toEqual([
      'shard 1/2 ran with other options: --lr is 2 there, 1 in shard 0/2',
    ]);
    expect(optionProblems(rs, { lr: 1 }, (f) => f)).toEqual([
      'shard 1/2 ran with other options: lr is 2 there, 1 here',
    ]);
  });
  it('fingerprintProblems names the kind and item that differ; unitProblems checks the sum', () => {
    const a = rec(0, { fingerprints: { data: { fer: 'a'.repeat(64) } } });
    const b = rec(1, { fingerprints: { data: { fer: 'b'.repeat(64) } } });
    expect(fingerprintProblems([a, b])).toEqual([
      expect.stringMatching(/different data for 'fer' \(shard 0\/2: a{12}…/),
    ]);
    expect(fingerprintProblems([a, a])).toEqual([]);
    expect(unitProblems([a, b], 2)).toEqual([]);
    expect(unitProblems([a, rec(1, { unitsDone: 1 })], 2)).toEqual([
      "the shards did 3 units of the job's 4 (shard 0/2: 2, shard 1/2: 1)",
    ]);
    expect(unitProblems([a, rec(1, { units: 5 })], 2)[0]).toMatch(/different numbers of units/);
    expect(unitProblems([a], 2)).toEqual([]);
  });
});
