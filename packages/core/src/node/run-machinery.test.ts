import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ChecksumError, DataFormatError, FileIoError, RunLockedError } from '../index.js';
import { tsxLoader } from '@vlfer/test-utils';
import { FINGERPRINT_INDEX_ENTRIES } from './hash.js';
import type { FailpointKind } from './index.js';
import {
  failpointCount,
  FeatureCache,
  fingerprintFiles,
  forEachLine,
  loadCheckpoint,
  provenance,
  readJsonLines,
  RUN_KIND_FILE,
  RUN_LOCK_FILE,
  RunDirectory,
  saveCheckpoint,
  setFailpoint,
  setWriteFailpoint,
  verifyRunOutputs,
  writeFileAtomic,
  type TextLine,
} from './index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-run-'));
afterEach(() => {
  for (const kind of ['write', 'rename', 'unlink'] as const) setFailpoint(kind, undefined);
});

describe('run directories are locked', () => {
  it("a directory that cannot be made is named at once (Node's recursive mkdir loops forever under /proc)", () => {
    expect(() => RunDirectory.open('/proc/vlfer-run/out', { command: 'test' })).toThrow(FileIoError);
    expect(() => RunDirectory.open('/proc/vlfer-run/out', { command: 'test' })).toThrow(/\/proc\/vlfer-run\/out/);
    // parents made one at a time; an existing directory is left as it is, a file in the way is named
    const d = tmp();
    RunDirectory.open(join(d, 'a', 'b', 'c'), { command: 'test' }).close();
    writeFileSync(join(d, 'file'), 'x');
    expect(() => RunDirectory.open(join(d, 'file', 'sub'), { command: 'test' })).toThrow(FileIoError);
  });
  it('refuses a second run on a locked directory, naming the holder, and frees it on close', () => {
    const dir = tmp();
    const a = RunDirectory.open(dir, { command: 'exp-clip eval' });
    expect(() => RunDirectory.open(dir, { command: 'exp-clip eval' })).toThrow(RunLockedError);
    expect(() => RunDirectory.open(dir, { command: 'exp-clip eval' })).toThrow(
      new RegExp(`in use by another run: pid ${process.pid} on ${hostname()}, started .* \\(exp-clip eval\\)`),
    );
    a.close();
    RunDirectory.open(dir, { command: 'again' }).close();
    expect(existsSync(join(dir, RUN_LOCK_FILE))).toBe(false);
  });
  it('takes over the lock of a process that is gone (same host) or silent for too long (another host)', () => {
    const dir = tmp();
    // a pid that exited: the lock a SIGKILLed run leaves behind
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(
      join(dir, RUN_LOCK_FILE),
      JSON.stringify({
        pid: Number(dead),
        host: hostname(),
        processStart: null,
        startedAt: 'x',
        command: 'killed run',
        token: 't',
      }),
    );
    const notes: string[] = [];
    RunDirectory.open(dir, { command: 'rerun', log: (l) => notes.push(l) }).close();
    expect(notes.join('\n')).toMatch(
      new RegExp(`removed the stale lock of pid ${dead} on ${hostname()} \\(process gone\\)`),
    );
    writeFileSync(
      join(dir, RUN_LOCK_FILE),
      JSON.stringify({
        pid: 1,
        host: 'node-17',
        processStart: null,
        startedAt: 'x',
        command: 'slurm task',
        token: 't',
      }),
    );
    expect(() => RunDirectory.open(dir, { command: 'rerun' })).toThrow(/pid 1 on node-17/);
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(join(dir, RUN_LOCK_FILE), old, old);
    RunDirectory.open(dir, { command: 'rerun', log: (l) => notes.push(l) }).close();
    expect(notes.at(-1)).toMatch(/node-17 \(no heartbeat for \d+ s\)/);
  });
});

describe('a run directory holds one kind of run', () => {
  const kind = (k: string) => ({ kind: k, files: ['metrics.json'], functionName: 'f', argument: 'out' });
  it('claimed at its first run; another kind refused while something is in it; an empty claim is no claim', () => {
    const d = tmp();
    // a run that wrote nothing (refused options) takes its claim back as it closes: the directory is as it found it
    RunDirectory.open(d, { command: 'a', expects: kind('a') }).close();
    expect(readdirSync(d)).toEqual([]);
    const a = RunDirectory.open(d, { command: 'a', expects: kind('a') });
    expect(readFileSync(join(d, RUN_KIND_FILE), 'utf8')).toBe('a\n');
    // a run of kind a that wrote nothing and was killed at once (no close): b may take the directory
    const killed = a as unknown as { released: boolean; heartbeat: ReturnType<typeof setInterval> };
    killed.released = true; // as if killed: the claim stays, the lock is left for the next run to take over
    clearInterval(killed.heartbeat);
    rmSync(join(d, RUN_LOCK_FILE));
    const b = RunDirectory.open(d, { command: 'b', expects: kind('b') });
    expect(readFileSync(join(d, RUN_KIND_FILE), 'utf8')).toBe('b\n');
    writeFileSync(join(d, 'checkpoint.safetensors'), 'c');
    b.close();
    expect(readFileSync(join(d, RUN_KIND_FILE), 'utf8')).toBe('b\n'); // it wrote something: the claim stays
    expect(() => RunDirectory.open(d, { command: 'a', expects: kind('a') })).toThrow(
      `Argument 'out' passed to 'f': ${d} holds an unfinished run of 'b' (checkpoint.safetensors), which 'a' would replace; choose another output directory`,
    );
    // the refusal is the run's, not the lock's: the lock is released
    expect(existsSync(join(d, RUN_LOCK_FILE))).toBe(false);
    expect(() => RunDirectory.open(join(d, 'checkpoint.safetensors'), { command: 'a', expects: kind('a') })).toThrow(
      /checkpoint\.safetensors is a file, not a directory; choose an output directory/,
    );
  });
  it('a directory the run created and left holding nothing is removed on close; one it found or wrote in is kept', () => {
    const d = tmp();
    const made = join(d, 'runs', 'eval-1');
    RunDirectory.open(made, { command: 'a', expects: kind('a') }).close(); // failed before writing anything
    expect(existsSync(join(d, 'runs'))).toBe(false); // and the parent it made for it
    mkdirSync(join(d, 'runs', 'other'), { recursive: true });
    RunDirectory.open(made, { command: 'a', expects: kind('a') }).close();
    expect(readdirSync(join(d, 'runs'))).toEqual(['other']); // a parent it found is kept
    const found = join(d, 'found');
    mkdirSync(found);
    RunDirectory.open(found, { command: 'a', expects: kind('a') }).close();
    expect([existsSync(found), readdirSync(found)]).toEqual([true, []]); // kept, and its claim taken back
    const wrote = join(d, 'wrote');
    const run = RunDirectory.open(wrote, { command: 'a', expects: kind('a') });
    writeFileSync(run.path('checkpoint.safetensors'), 'c');
    run.close();
    expect(readdirSync(wrote).sort()).toEqual([RUN_KIND_FILE, 'checkpoint.safetensors']);
    const published = RunDirectory.open(join(d, 'published'), { command: 'a', expects: kind('a') });
    published.publish({ 'metrics.json': '{}' });
    published.close();
    expect(readdirSync(join(d, 'published')).sort()).toEqual([RUN_KIND_FILE, 'manifest.json', 'metrics.json']);
  });
  it('result files no vlfer run published are never overwritten; temporary files of killed writes are removed', () => {
    const d = tmp();
    writeFileSync(join(d, 'metrics.json'), 'mine');
    expect(() => RunDirectory.open(d, { command: 'a', expects: kind('a') })).toThrow(
      /holds files no vlfer run published \(metrics\.json\) among its files \(metrics\.json\)/,
    );
    const e = tmp();
    mkdirSync(join(e, 'work'));
    for (const f of ['.x.json.123.ab12.tmp', 'work/.log.jsonl.9.zz.tmp', 'work/keep.tmp'])
      writeFileSync(join(e, f), '');
    // shard records are written without the lock: a killed shard's temporary file goes once it is older than any
    // write takes (it stayed through the shard's rerun, the merge and the publish), a fresh one may be a shard's now
    mkdirSync(join(e, 'shards'));
    for (const f of ['shards/.1-of-2.json.77.old1.tmp', 'shards/.2-of-2.json.78.new1.tmp', 'shards/1-of-2.json'])
      writeFileSync(join(e, f), '');
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(join(e, 'shards/.1-of-2.json.77.old1.tmp'), old, old);
    RunDirectory.open(e, { command: 'a', expects: kind('a') }).close();
    expect([readdirSync(e).sort(), readdirSync(join(e, 'work'))]).toEqual([['shards', 'work'], ['keep.tmp']]);
    expect(readdirSync(join(e, 'shards')).sort()).toEqual(['.2-of-2.json.78.new1.tmp', '1-of-2.json']);
    // files a run writes, found without a manifest, checkpoint or claim: someone's own (an older vlfer's working
    // names too), as is any file a refused run found: its claim is taken back, so the next run refuses them too
    for (const name of ['best.safetensors', 'epochs.jsonl', 'train-log.jsonl', 'run.json']) {
      const f = tmp();
      writeFileSync(join(f, name), 'mine');
      expect(() => RunDirectory.open(f, { command: 'a', expects: kind('a') }), name).toThrow(
        `holds files no vlfer run published (${name})`,
      );
      expect(readdirSync(f), name).toEqual([name]);
    }
    const g = tmp();
    writeFileSync(join(g, 'notes.txt'), 'n');
    const refused = RunDirectory.open(g, { command: 'a', expects: kind('a') });
    mkdirSync(refused.path('work')); // made, then the run was refused (options checked after the open)
    refused.close();
    expect(readdirSync(g)).toEqual(['notes.txt']);
    // an empty directory someone else made meanwhile is not the run's: kept, and with it the run's record
    const meanwhile = RunDirectory.open(g, { command: 'a', expects: kind('a') });
    mkdirSync(join(g, 'user-empty-dir'));
    meanwhile.close();
    expect(readdirSync(g).sort()).toEqual([RUN_KIND_FILE, 'notes.txt', 'user-empty-dir']);
    rmSync(join(g, 'user-empty-dir'), { recursive: true });
    rmSync(join(g, RUN_KIND_FILE));
    writeFileSync(join(g, 'metrics.json'), 'mine');
    expect(() => RunDirectory.open(g, { command: 'a', expects: kind('a') })).toThrow(/files no vlfer run published/);
  });
});

describe('a lock file that names no run (issue 22, item 11)', () => {
  it('empty, garbage or without pid/host: taken over with a notice naming what was wrong (never "pid undefined")', () => {
    const old = new Date(Date.now() - 10 * 60_000);
    for (const [content, why] of [
      ['', /the file is empty/],
      ['\u0000\u0000garbage', /not JSON: "\\u0000\\u0000garbage"/],
      ['{}', /no process id \(field 'pid'\) in '\{\}'/],
      [JSON.stringify({ pid: 12 }), /no host name \(field 'host'\)/],
      [`{"pid": ${'9'.repeat(5000)}`, /not JSON: "\{\\"pid\\": 9+…" \(5008 characters, the first 200 shown\)/],
    ] as const) {
      const dir = tmp();
      writeFileSync(join(dir, RUN_LOCK_FILE), content);
      utimesSync(join(dir, RUN_LOCK_FILE), old, old);
      const notes: string[] = [];
      RunDirectory.open(dir, { command: 'rerun', log: (l) => notes.push(l) }).close();
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/took over the lock file \.vlfer-run\.lock, which names no run \(/);
      expect(notes[0]).toMatch(why);
      expect(notes[0]).not.toMatch(/undefined/);
      expect(notes[0]!.length).toBeLessThan(600);
    }
  });
  it('a folder where the lock file belongs is named as such, not blamed on other runs starting at once', () => {
    const dir = tmp();
    mkdirSync(join(dir, RUN_LOCK_FILE));
    expect(() => RunDirectory.open(dir, { command: 'test' })).toThrow(DataFormatError);
    expect(() => RunDirectory.open(dir, { command: 'test' })).toThrow(
      /\.vlfer-run\.lock: is a folder where the run lock file belongs \(no vlfer run makes one\): remove it/,
    );
    const linked = tmp();
    symlinkSync(join(linked, 'nowhere'), join(linked, RUN_LOCK_FILE));
    expect(() => RunDirectory.open(linked, { command: 'test' })).toThrow(
      /\.vlfer-run\.lock: is a symbolic link to nothing where the run lock file belongs/,
    );
  });
});

describe('outputs are published as a verified set', () => {
  it('writes a manifest last; a changed file is named; a stale file of the previous set is removed', () => {
    const run = RunDirectory.open(tmp(), { command: 'test' });
    run.publish({ 'metrics.json': '{"uar": 0.5}\n', 'predictions.csv': 'a\n', 'old.csv': 'x\n' });
    expect(Object.keys(verifyRunOutputs(run.dir).files)).toEqual(['metrics.json', 'old.csv', 'predictions.csv']);
    run.publish({ 'metrics.json': '{"uar": 0.6}\n', 'predictions.csv': 'b\n' });
    expect(existsSync(run.path('old.csv'))).toBe(false);
    writeFileSync(run.path('predictions.csv'), 'edited\n');
    expect(() => verifyRunOutputs(run.dir)).toThrow(ChecksumError);
    expect(() => verifyRunOutputs(run.dir)).toThrow(/predictions\.csv: differs from the manifest/);
    run.close();
    expect(() => verifyRunOutputs(tmp())).toThrow(
      /manifest\.json: missing: the run has not finished writing a complete set/,
    );
  });
  it('a disk that fills (or turns read-only) while staging leaves the previous complete set intact and names the file', () => {
    for (const code of ['ENOSPC', 'EROFS']) {
      const run = RunDirectory.open(tmp(), { command: 'test' });
      run.publish({ 'metrics.json': 'old metrics\n', 'predictions.csv': 'old predictions\n' });
      setWriteFailpoint({ at: 2, code, sticky: true });
      let error: unknown;
      try {
        run.publish({ 'metrics.json': 'new metrics\n', 'predictions.csv': 'new predictions\n' });
      } catch (e) {
        error = e;
      }
      setWriteFailpoint(undefined);
      expect(error).toBeInstanceOf(FileIoError);
      expect(String(error)).toMatch(
        new RegExp(`cannot write ${run.dir.replaceAll('/', '\\/')}\\/predictions\\.csv: ${code}`),
      );
      verifyRunOutputs(run.dir);
      expect(readFileSync(run.path('metrics.json'), 'utf8')).toBe('old metrics\n');
      expect(readdirSync(run.dir).filter((f) => f.startsWith('.staging'))).toEqual([]);
      run.close();
    }
  });
  it('a failure at any write, rename or delete of a publish leaves the complete old or the complete new set', () => {
    const oldSet = {
      'metrics.json': 'old metrics\n',
      'predictions.csv': 'old,1\n',
      'old-only.csv': 'x\n',
      'sub/a.txt': 'A\n',
    };
    const newSet = {
      'metrics.json': 'new metrics!\n',
      'predictions.csv': 'new,2\n',
      'new-only.csv': 'y\n',
      'sub/a.txt': 'B\n',
    };
    const listing = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name !== RUN_LOCK_FILE)
        .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
        .sort();
    /** The directory holds exactly one of the two sets, verified; returns which. */
    const which = (dir: string): 'old' | 'new' => {
      const m = verifyRunOutputs(dir);
      const set = m.files['old-only.csv'] ? oldSet : newSet;
      expect(listing(dir)).toEqual([...Object.keys(set), 'manifest.json'].sort());
      for (const [name, text] of Object.entries(set)) expect(readFileSync(join(dir, name), 'utf8')).toBe(text);
      return set === oldSet ? 'old' : 'new';
    };
    // how many operations of each kind one publish makes
    const total: Partial<Record<FailpointKind, number>> = {};
    {
      const run = RunDirectory.open(tmp(), { command: 'test' });
      run.publish(oldSet);
      for (const kind of ['write', 'rename', 'unlink'] as const) setFailpoint(kind, { at: 1e9, code: 'EIO' });
      run.publish(newSet);
      for (const kind of ['write', 'rename', 'unlink'] as const) total[kind] = failpointCount(kind);
      run.close();
    }
    expect(total).toEqual({ write: 6, rename: 5, unlink: 2 }); // 4 files + manifest + journal; 4 + manifest; old-only + journal
    const outcomes: string[] = [];
    for (const kind of ['write', 'rename', 'unlink'] as const)
      for (let at = 1; at <= total[kind]!; at++)
        for (const sticky of [false, true]) {
          const dir = tmp();
          const notices: string[] = [];
          const run = RunDirectory.open(dir, { command: 'test', log: (l) => notices.push(l) });
          run.publish(oldSet);
          setFailpoint(kind, { at, code: 'EIO', sticky });
          let error: unknown;
          try {
            run.publish(newSet);
          } catch (e) {
            error = e;
          }
          if (error !== undefined) expect(error).toBeInstanceOf(FileIoError);
          if (!sticky) {
            // verified by this process, which holds the lock: a committed publish is completed first
            setFailpoint(kind, undefined);
            const got = which(dir);
            if (error === undefined) {
              expect(got).toBe('new');
              // a failure after the commit that a retry got past is told, not swallowed
              if (kind !== 'write')
                expect(notices).toEqual([
                  expect.stringMatching(/EIO: injected failure.*; retried, the outputs are published/),
                ]);
            }
            outcomes.push(`${kind}:${at} ${error ? 'failed' : 'ok'} -> ${got}`);
            run.close();
            continue;
          }
          run.close();
          // the fault persists: a reader never takes a mix for a finished set
          let got: string;
          try {
            got = which(dir);
          } catch (e) {
            expect(e).toBeInstanceOf(FileIoError);
            got = 'refused';
          }
          setFailpoint(kind, undefined);
          const notes: string[] = [];
          RunDirectory.open(dir, { command: 'rerun', log: (l) => notes.push(l) }).close(); // completes a committed publish
          const after = which(dir);
          if (got !== 'refused') expect(after).toBe(got);
          outcomes.push(
            `${kind}:${at}+ ${error ? 'failed' : 'ok'} -> ${got} -> ${after}${notes.length ? ' (completed on open)' : ''}`,
          );
          expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
        }
    // before the commit (the journal write) the old set stays; after it the new set is completed
    expect(outcomes).toContain('write:5 failed -> old'); // the staged manifest (the write:5)
    expect(outcomes).toContain('write:6+ failed -> old -> old'); // the journal: nothing committed
    expect(outcomes).toContain('rename:3+ failed -> refused -> new (completed on open)');
    expect(outcomes).toContain('rename:1 ok -> new'); // a transient failure after the commit: retried at once
  });
  it('a committed publish is not completed by a reader while another run holds the directory', () => {
    const dir = tmp();
    const run = RunDirectory.open(dir, { command: 'test' });
    run.publish({ 'metrics.json': 'old\n' });
    setFailpoint('rename', { at: 1, code: 'EIO', sticky: true });
    expect(() => run.publish({ 'metrics.json': 'new\n' })).toThrow(/cannot move .*metrics\.json: EIO/);
    setFailpoint('rename', undefined);
    run.close();
    writeFileSync(
      join(dir, RUN_LOCK_FILE),
      JSON.stringify({
        pid: process.ppid,
        host: hostname(),
        processStart: null,
        startedAt: 'x',
        command: 'other',
        token: 't',
      }),
    );
    expect(() => verifyRunOutputs(dir)).toThrow(
      /\.vlfer-publish\.json: the outputs are being published by another run/,
    );
    rmSync(join(dir, RUN_LOCK_FILE));
    expect(verifyRunOutputs(dir).files['metrics.json']!.bytes).toBe(4);
    expect(readFileSync(join(dir, 'metrics.json'), 'utf8')).toBe('new\n');
  });
  it('a committed publish whose staging directory was deleted is named; the next run publishes again', () => {
    const dir = tmp();
    const run = RunDirectory.open(dir, { command: 'test' });
    run.publish({ 'a.txt': 'old a\n', 'b.txt': 'old b\n' });
    setFailpoint('rename', { at: 2, code: 'EIO', sticky: true });
    expect(() => run.publish({ 'a.txt': 'new a\n', 'b.txt': 'new b\n' })).toThrow(/cannot move .*b\.txt: EIO/);
    setFailpoint('rename', undefined);
    const staging = readdirSync(dir).find((f) => f.startsWith('.staging-'))!;
    rmSync(join(dir, staging), { recursive: true });
    expect(() => verifyRunOutputs(dir)).toThrow(
      /\.vlfer-publish\.json: an interrupted publish cannot be completed: its staging directory .+ is gone/,
    );
    run.close();
    const notes: string[] = [];
    const again = RunDirectory.open(dir, { command: 'rerun', log: (l) => notes.push(l) });
    expect(notes).toEqual([expect.stringMatching(/an interrupted publish could not be completed/)]);
    expect(() => verifyRunOutputs(dir)).toThrow(/a\.txt: differs from the manifest/); // a mix is never taken for a set
    again.publish({ 'a.txt': 'new a\n', 'b.txt': 'new b\n' });
    expect(Object.keys(verifyRunOutputs(dir).files)).toEqual(['a.txt', 'b.txt']);
    again.close();
  });
  it('atomic writes name the target file on failure and leave no temp file', () => {
    const dir = tmp();
    setWriteFailpoint({ at: 1, code: 'ENOSPC' });
    expect(() => writeFileAtomic(join(dir, 'x.json'), '{}')).toThrow(/cannot write .*x\.json: ENOSPC/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('checkpoints, cache entries and logs are checked on read', () => {
  it('a flipped bit in a checkpoint is a ChecksumError naming the file', () => {
    const p = join(tmp(), 'checkpoint.safetensors');
    saveCheckpoint(p, {
      tensors: { weight: { dims: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) } },
      optimizer: { step: 7, buffers: { weight: new Float32Array(6) } },
      meta: { epoch: 2, step: 1 },
    });
    const back = loadCheckpoint(p);
    expect(back.meta).toEqual({ epoch: 2, step: 1 });
    expect(back.optimizer!.step).toBe(7);
    const bytes = readFileSync(p);
    bytes[bytes.length - 3]! ^= 1; // a low bit of the last float
    writeFileSync(p, bytes);
    expect(() => loadCheckpoint(p)).toThrow(ChecksumError);
    expect(() => loadCheckpoint(p)).toThrow(/checkpoint\.safetensors: checksum mismatch/);
    writeFileSync(p, '{"not": "a checkpoint"}');
    expect(() => loadCheckpoint(p)).toThrow(DataFormatError);
  });
  it('a cache entry whose values changed (e.g. negated) is reported and recomputed, not used', () => {
    const notes: string[] = [];
    const cache = new FeatureCache({
      dir: tmp(),
      namespace: { model: 'm', dtype: 'fp32', preprocess: 'p' },
      onCorrupt: (f, why) => notes.push(`${f} ${why}`),
    });
    const key = 'ab'.repeat(32);
    cache.set(key, Float32Array.of(1, -2, 3));
    expect(Array.from(cache.get(key, 3)!)).toEqual([1, -2, 3]);
    const file = join(cache.root, 'ab', `${key}.f32`);
    const b = readFileSync(file);
    for (let o = 32; o < b.length; o += 4) b[o + 3]! ^= 0x80; // flip every sign bit
    writeFileSync(file, b);
    expect(cache.get(key, 3)).toBeUndefined();
    expect(cache.corrupt).toBe(1);
    expect(notes[0]).toMatch(/checksum mismatch/);
    expect(cache.get(key, 4)).toBeUndefined();
    expect(notes[1]).toMatch(/holds a 3-d vector, expected 4-d/);
  });
  it('of two runs storing one entry (a teacher answering in other last digits), the first stays and both get it', () => {
    const dir = tmp();
    const namespace = { model: 'm', dtype: 'fp32', preprocess: 'p' };
    const [first, second] = [new FeatureCache({ dir, namespace }), new FeatureCache({ dir, namespace })];
    const key = 'cd'.repeat(32);
    expect(Array.from(first.set(key, Float32Array.of(0.5, 0.25)))).toEqual([0.5, 0.25]);
    // the second run computed the entry meanwhile, a little otherwise: it is given the stored one, which stays
    expect(Array.from(second.set(key, Float32Array.of(0.5000001, 0.25)))).toEqual([0.5, 0.25]);
    expect(Array.from(first.get(key, 2)!)).toEqual([0.5, 0.25]);
    // a damaged entry, or one of another dimension, is replaced (and not reported by the store)
    const file = join(first.root, 'cd', `${key}.f32`);
    writeFileSync(file, 'garbage');
    expect(Array.from(second.set(key, Float32Array.of(1, 2)))).toEqual([1, 2]);
    expect(Array.from(second.set(key, Float32Array.of(3, 4, 5)))).toEqual([3, 4, 5]);
    expect(Array.from(first.get(key, 3)!)).toEqual([3, 4, 5]);
    expect([first.corrupt, second.corrupt]).toEqual([0, 0]);
    expect(readdirSync(join(first.root, 'cd'))).toEqual([`${key}.f32`]); // no temp file left
  });
  it("an entry swapped with another key's (or copied from another namespace) is reported and recomputed, not used", () => {
    const notes: string[] = [];
    const dir = tmp();
    const namespace = { model: 'm', dtype: 'fp32', preprocess: 'p' };
    const cache = new FeatureCache({ dir, namespace, onCorrupt: (f, why) => notes.push(`${f} ${why}`) });
    const [a, b] = ['aa'.repeat(32), 'bb'.repeat(32)];
    cache.set(a, Float32Array.of(1, 2));
    cache.set(b, Float32Array.of(3, 4));
    const [fa, fb] = [join(cache.root, 'aa', `${a}.f32`), join(cache.root, 'bb', `${b}.f32`)];
    const [ba, bb] = [readFileSync(fa), readFileSync(fb)];
    writeFileSync(fa, bb);
    writeFileSync(fb, ba);
    expect(cache.get(a, 2)).toBeUndefined();
    expect(cache.get(b, 2)).toBeUndefined();
    expect(cache.corrupt).toBe(2);
    expect(notes[0]).toMatch(/checksum mismatch \(the values were changed on disk, or the entry is another key's\)/);
    // the same key in another namespace (another model) is another entry too
    const other = new FeatureCache({ dir, namespace: { ...namespace, model: 'm2' } });
    other.set(a, Float32Array.of(9, 9));
    writeFileSync(fa, readFileSync(join(other.root, 'aa', `${a}.f32`)));
    expect(cache.get(a, 2)).toBeUndefined();
    expect(cache.corrupt).toBe(3);
    // an entry of the first format (values summed alone) is a miss, rewritten by the caller, and not reported
    const v1 = Buffer.from(ba);
    v1[4] = 1;
    writeFileSync(fa, v1);
    expect(cache.get(a, 2)).toBeUndefined();
    expect(cache.corrupt).toBe(3);
    cache.set(a, Float32Array.of(1, 2));
    expect(Array.from(cache.get(a, 2)!)).toEqual([1, 2]);
  });
  it('a log line torn by a crash is repaired (or named); other bad lines are named with their line', () => {
    const p = join(tmp(), 'train-log.jsonl');
    writeFileSync(p, '{"step": 0}\n{"step": 1}\n{"st');
    expect(() => readJsonLines(p)).toThrow(/train-log\.jsonl:3: not valid JSON \(the last line is incomplete/);
    expect(readJsonLines(p, { repairTornTail: true })).toEqual({
      rows: [{ step: 0 }, { step: 1 }],
      lines: [1, 2],
      repaired: true,
    });
    expect(readFileSync(p, 'utf8')).toBe('{"step": 0}\n{"step": 1}\n');
    // a crash before the appended bytes reached the disk leaves zeros in their place: a torn tail too, not UTF-16
    writeFileSync(p, Buffer.concat([Buffer.from('{"step": 0}\n{"step": 1}\n'), Buffer.alloc(37)]));
    expect(() => readJsonLines(p)).toThrow(/train-log\.jsonl:3: not valid JSON \(the last line is incomplete/);
    expect(readJsonLines(p, { repairTornTail: true }).rows).toEqual([{ step: 0 }, { step: 1 }]);
    expect(readFileSync(p, 'utf8')).toBe('{"step": 0}\n{"step": 1}\n');
    // two files joined with `cat`: the second one's byte-order mark is no JSON
    writeFileSync(p, '\ufeff{"step": 0}\n\ufeff{"step": 1}\n');
    expect(readJsonLines(p).rows).toEqual([{ step: 0 }, { step: 1 }]);
    writeFileSync(p, '{"step": 0}\nnope\n{"step": 2}\n');
    expect(() => readJsonLines(p, { repairTornTail: true })).toThrow(/train-log\.jsonl:2: not valid JSON/);
  });
  it('forEachLine splits at LF, CRLF and lone CR across any chunk boundary, each line decoded whole', () => {
    const p = join(tmp(), 'lines.txt');
    // a CRLF, a multi-byte character and the byte-order mark each cut by some chunk size
    const text = '\ufeffä€1\r\n\r\n2😀\r3\n\n4 ü\r\n5';
    writeFileSync(p, text);
    for (const chunkBytes of [1, 2, 3, 4, 5, 7, 64]) {
      const got: TextLine[] = [];
      forEachLine(p, (l) => got.push(l), { chunkBytes });
      expect(
        got.map((l) => [l.line, l.text, l.terminated]),
        `chunks of ${chunkBytes}`,
      ).toEqual([
        [1, 'ä€1', true],
        [2, '', true],
        [3, '2😀', true],
        [4, '3', true],
        [5, '', true],
        [6, '4 ü', true],
        [7, '5', false],
      ]);
      // each offset is where the line's bytes start (line 1's at the byte-order mark)
      const bytes = Buffer.from(text);
      const at = (l: TextLine) =>
        bytes
          .subarray(l.offset)
          .toString()
          .replace(/^\ufeff/, '');
      expect(got.filter((l) => !at(l).startsWith(l.text)).map((l) => l.line)).toEqual([]);
    }
    writeFileSync(p, 'a\nb\n');
    const ended: TextLine[] = [];
    forEachLine(p, (l) => ended.push(l));
    expect(ended.map((l) => [l.text, l.terminated])).toEqual([
      ['a', true],
      ['b', true],
    ]);
    writeFileSync(p, Buffer.from('\ufeffa\n', 'utf16le'));
    expect(() => forEachLine(p, () => {}, { what: 'keys file' })).toThrow(/the keys file is UTF-16 \(it starts/);
    writeFileSync(p, Buffer.from('a\nb\n', 'utf16le'));
    expect(() => forEachLine(p, () => {}, { chunkBytes: 3 })).toThrow(/is no UTF-8 text \(it holds NUL bytes/);
  });
  it('JSON lines ending in CR only (old Mac tools) or CRLF, with a byte-order mark, are read line by line', () => {
    const p = join(tmp(), 'targets.jsonl');
    // before: one line of two JSON values, refused as "the last line is incomplete" (and, with repairTornTail, erased)
    for (const text of ['\ufeff{"a": 1}\r{"a": 2}\r', '{"a": 1}\r\n\r\n{"a": 2}', '{"a": 1}\r{"a": 2}']) {
      writeFileSync(p, text);
      expect(readJsonLines(p, { repairTornTail: true }).rows).toEqual([{ a: 1 }, { a: 2 }]);
      expect(readFileSync(p, 'utf8')).toBe(text);
    }
    expect(readJsonLines(p).lines).toEqual([1, 2]);
    writeFileSync(p, '{"a": 1}\r{"a": 2}\r{"a"');
    expect(() => readJsonLines(p)).toThrow(/targets\.jsonl:3: not valid JSON \(the last line is incomplete/);
    writeFileSync(p, '{"a": 1}\r{"a"\r');
    expect(() => readJsonLines(p, { repairTornTail: true })).toThrow(/targets\.jsonl:2: not valid JSON: /);
  });
  it('a fingerprint index that cannot be saved (read-only or full cache) leaves the fingerprint exact and the run going', () => {
    const dir = tmp();
    const f = join(dir, 'vision_model.onnx');
    writeFileSync(f, 'weights');
    const expected = fingerprintFiles({ 'onnx/vision_model.onnx': f });
    for (const code of ['EROFS', 'ENOSPC']) {
      setWriteFailpoint({ at: 1, code });
      try {
        // before: "cannot write …/fingerprints.json: EROFS" stopped a run served wholly from a read-only cache
        expect(fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir })).toBe(expected);
      } finally {
        setWriteFailpoint(undefined);
      }
    }
    expect(existsSync(join(dir, 'fingerprints.json'))).toBe(false);
    setWriteFailpoint({ at: 1, code: 'EIO' });
    try {
      expect(() => fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir })).toThrow(/EIO/);
    } finally {
      setWriteFailpoint(undefined);
    }
  });
  it('a feature cache on a read-only or full disk says what can be done', () => {
    const key = 'a'.repeat(64);
    const cache = new FeatureCache({ dir: tmp(), namespace: { model: 'm', dtype: 'fp32', preprocess: 'p' } });
    setWriteFailpoint({ at: 1, code: 'EROFS' });
    try {
      expect(() => cache.set(key, Float32Array.of(1, 2))).toThrow(
        /cannot write the feature cache entry .*[0-9a-f]{64}\.f32: EROFS: .*; make the cache folder .* writable or free space there, or give the run another cache folder/,
      );
    } finally {
      setWriteFailpoint(undefined);
    }
    cache.set(key, Float32Array.of(1, 2));
    expect(Array.from(cache.get(key, 2)!)).toEqual([1, 2]);
  });
  it('content fingerprints follow the bytes, not the path', () => {
    const dir = tmp();
    const f = join(dir, 'vision_model.onnx');
    writeFileSync(f, 'weights v1');
    const a = fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir });
    expect(fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir })).toBe(a);
    writeFileSync(f, 'weights v2');
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    expect(fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir })).not.toBe(a);
    // both states are kept: a machine sharing the cache folder may hold the first (its copy of the model)
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'fingerprints.json'), 'utf8'))).length).toBe(2);
  });
  it("a fingerprint index keeps other processes' entries, and its last 4096", async () => {
    const dir = tmp();
    const index = () => Object.keys(JSON.parse(readFileSync(join(dir, 'fingerprints.json'), 'utf8'))).sort();
    const [a, b, fifo] = ['a.onnx', 'b.onnx', 'slow.onnx'].map((n) => join(dir, n)) as [string, string, string];
    writeFileSync(a, 'model a');
    writeFileSync(b, 'model b');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // another process reads the index, then hashes a file that takes a while (a FIFO: its read waits for our write)
    const child = spawn(
      process.execPath,
      [
        '--import',
        tsxLoader(),
        '--input-type=module',
        '-e',
        `const { fingerprintFiles } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'index.ts')).href)});
         process.stdout.write(fingerprintFiles({ slow: ${JSON.stringify(fifo)} }, { indexDir: ${JSON.stringify(dir)} }));`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const ended = new Promise((resolve) => child.on('close', resolve));
    const writer = await open(fifo, 'w'); // opens once the child reads the FIFO: it has read the (absent) index
    fingerprintFiles({ a }, { indexDir: dir });
    expect(index()).toEqual([expect.stringContaining('/a.onnx|')]);
    await writer.write('slow model');
    await writer.close();
    expect(await ended).toBe(0);
    expect(out).toMatch(/^[0-9a-f]{64}$/);
    // before: the child saved the index it read (empty) plus its own entry, losing a.onnx's
    expect(index()).toEqual([expect.stringContaining('/a.onnx|'), expect.stringContaining('/slow.onnx|')]);
    // entries of files not seen from here stay (another machine's copy of a model at the same path: dropping them
    // made the machines sharing a cache folder hash their models again at every run), up to the last 4096 saved
    rmSync(fifo);
    rmSync(a);
    const old = Object.fromEntries(Array.from({ length: 4100 }, (_, i) => [`/gone/${i}|1|2|3|4`, 'e'.repeat(64)]));
    writeFileSync(join(dir, 'fingerprints.json'), JSON.stringify(old));
    fingerprintFiles({ b }, { indexDir: dir });
    const kept = Object.keys(JSON.parse(readFileSync(join(dir, 'fingerprints.json'), 'utf8')));
    expect(kept.length).toBe(FINGERPRINT_INDEX_ENTRIES);
    expect(kept[0]).toBe('/gone/5|1|2|3|4');
    expect(kept.at(-1)).toContain('/b.onnx|');
  });
  it('a damaged fingerprint index is rebuilt, whatever JSON it holds', () => {
    const dir = tmp();
    const f = join(dir, 'vision_model.onnx');
    writeFileSync(f, 'weights');
    const expected = fingerprintFiles({ 'onnx/vision_model.onnx': f });
    const key = `${f}|7|`;
    for (const text of ['null', '5', '"x"', '[]', '{"k": 7}', `{"${key}": "not a hash"}`, '{', '\u0000']) {
      writeFileSync(join(dir, 'fingerprints.json'), text);
      // before: `null`, `5` and `"x"` threw a TypeError (cannot read or set a property of them)
      expect(fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir })).toBe(expected);
      expect(Object.values(JSON.parse(readFileSync(join(dir, 'fingerprints.json'), 'utf8')))).toEqual([
        createHash('sha256').update('weights').digest('hex'),
      ]);
    }
    rmSync(join(dir, 'fingerprints.json'));
    mkdirSync(join(dir, 'fingerprints.json'));
    expect(() => fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir })).toThrow(
      /fingerprints\.json: EISDIR/,
    );
  });
  it('a model overwritten in place with the same size, mtime and inode (cp -p) gets a new fingerprint', async () => {
    const dir = tmp();
    const f = join(dir, 'vision_model.onnx');
    writeFileSync(f, 'weights v1');
    const stamp = new Date('1980-01-01T00:00:00Z');
    utimesSync(f, stamp, stamp);
    const before = statSync(f);
    const a = fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir });
    // ctime follows the kernel's coarse clock: let it move past the first write's stamp (a wait, not a deadline)
    while (Date.now() < before.ctimeMs + 20) await new Promise((r) => setTimeout(r, 5));
    writeFileSync(f, 'weights v2'); // same size, same inode (truncate + write in place)
    utimesSync(f, stamp, stamp); // what cp -p does with the mtime
    const after = statSync(f);
    expect([after.size, after.mtimeMs, after.ino]).toEqual([before.size, before.mtimeMs, before.ino]);
    expect(after.ctimeMs).not.toBe(before.ctimeMs);
    expect(fingerprintFiles({ 'onnx/vision_model.onnx': f }, { indexDir: dir })).not.toBe(a);
  });
});

describe('provenance', () => {
  it("records the machine's GPUs as nvidia-smi lists them (a stand-in nvidia-smi on PATH)", () => {
    const bin = tmp();
    writeFileSync(
      join(bin, 'nvidia-smi'),
      '#!/bin/sh\necho "NVIDIA H200, 143771 MiB, 570.124.06"\necho "NVIDIA H200, 143771 MiB, 570.124.06"\n',
      { mode: 0o755 },
    );
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      expect(provenance().gpu).toBe(
        'NVIDIA H200, 143771 MiB, driver 570.124.06; NVIDIA H200, 143771 MiB, driver 570.124.06',
      );
    } finally {
      process.env.PATH = path;
    }
    expect(provenance({ gpu: 'given' }).gpu).toBe('given');
  });
});
