import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChecksumError, DataFormatError, FileIoError, RunLockedError } from '../index.js';
import {
  FeatureCache,
  fingerprintFiles,
  loadCheckpoint,
  provenance,
  readJsonLines,
  RUN_LOCK_FILE,
  RunDirectory,
  saveCheckpoint,
  setWriteFailpoint,
  verifyRunOutputs,
  writeFileAtomic,
} from './index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-run-'));
afterEach(() => setWriteFailpoint(undefined));

describe('run directories are locked', () => {
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
  it('a log line torn by a crash is repaired (or named); other bad lines are named with their line', () => {
    const p = join(tmp(), 'train-log.jsonl');
    writeFileSync(p, '{"step": 0}\n{"step": 1}\n{"st');
    expect(() => readJsonLines(p)).toThrow(/train-log\.jsonl:3: not valid JSON \(the last line is incomplete/);
    expect(readJsonLines(p, { repairTornTail: true })).toEqual({ rows: [{ step: 0 }, { step: 1 }], repaired: true });
    expect(readFileSync(p, 'utf8')).toBe('{"step": 0}\n{"step": 1}\n');
    writeFileSync(p, '{"step": 0}\nnope\n{"step": 2}\n');
    expect(() => readJsonLines(p, { repairTornTail: true })).toThrow(/train-log\.jsonl:2: not valid JSON/);
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
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'fingerprints.json'), 'utf8'))).length).toBe(2);
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
