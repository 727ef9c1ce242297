import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { AbortedError, ChecksumError, DataFormatError, RunLockedError } from '@vlfer/core';
import { loadCheckpoint, saveCheckpoint, setWriteFailpoint, verifyRunOutputs } from '@vlfer/core/node';
import { parseCsvText } from '@vlfer/datasets';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { evaluateZeroShot, trainHead } from './index.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-rel-'));
const model = sharedPath('fixtures', 'tiny-clip');
const root = join(work, 'images');
const fer = sharedPath('data', 'fer2013-privatetest');
const unlabelled = join(work, 'unlabelled');
const targets = join(work, 'targets.jsonl');
afterEach(() => setWriteFailpoint(undefined));

async function png(path: string, v: number): Promise<void> {
  writeFileSync(
    path,
    await sharp(
      new Uint8Array(40 * 30 * 3).map((_, i) => (v * 31 + i * ((v % 5) + 1)) % 256),
      { raw: { width: 40, height: 30, channels: 3 } },
    )
      .png()
      .toBuffer(),
  );
}

beforeAll(async () => {
  for (const [c, f] of ['happy', 'sad', 'angry'].entries()) {
    mkdirSync(join(root, f), { recursive: true });
    for (let i = 0; i < 12; i++) await png(join(root, f, `${i}.png`), c * 20 + i);
  }
  await png(join(root, 'sad', 'carriage\rreturn, "quoted".png'), 99);
  mkdirSync(unlabelled, { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < 16; i++) {
    const p = join(unlabelled, `${i}.png`);
    await png(p, 100 + i);
    lines.push(JSON.stringify({ path: p, embedding: Array.from({ length: 8 }, (_, k) => Math.sin(i * 3 + k)) }));
  }
  writeFileSync(targets, `${lines.join('\n')}\n`);
}, 60_000);

const evalOpts = (out: string, extra: Record<string, unknown> = {}) => ({
  dataset: 'image-folder' as const,
  root,
  model,
  promptTypes: ['class_name' as const],
  out,
  cacheDir: join(work, 'cache'),
  ...extra,
});
const trainOpts = (out: string, extra: Record<string, unknown> = {}) => ({
  unlabelled,
  model,
  teacher: 'import' as const,
  teacherSource: targets,
  epochs: 2,
  batch: 8,
  outputDim: 8,
  lr: 0.01,
  out,
  cacheDir: join(work, 'tcache'),
  ...extra,
});

describe('exp-clip runs: nothing lost, nothing silently stale, every fault named', () => {
  it('a second run on the same output directory is refused while the first runs, naming it', async () => {
    const out = join(work, 'shared-out');
    const first = evaluateZeroShot(evalOpts(out));
    await expect(evaluateZeroShot(evalOpts(out))).rejects.toThrow(RunLockedError);
    await expect(evaluateZeroShot(evalOpts(out))).rejects.toThrow(/in use by another run: pid \d+ .*\(exp-clip eval\)/);
    await first;
    verifyRunOutputs(out);
  }, 60_000);

  it('a model file replaced in place gets new features (the cache is keyed by content, not path)', async () => {
    const copy = join(work, 'model-copy');
    copyWritable(model, copy);
    const a = await evaluateZeroShot({ ...evalOpts(join(work, 'm1')), model: copy });
    const again = await evaluateZeroShot({ ...evalOpts(join(work, 'm2')), model: copy });
    expect(again.counts.cached).toBe(again.counts.images);
    const onnx = join(copy, 'onnx', 'vision_model.onnx');
    const bytes = readFileSync(onnx);
    for (let i = Math.floor(bytes.length * 0.6); i < bytes.length * 0.6 + 64; i += 4) bytes[i + 3]! ^= 0x01; // change some weights
    writeFileSync(onnx, bytes);
    const b = await evaluateZeroShot({ ...evalOpts(join(work, 'm3')), model: copy });
    expect(b.counts.cached).toBe(0);
    expect(b.modelFingerprint).not.toBe(a.modelFingerprint);
    expect(b.predictions[0]!.byPromptType.class_name!.probabilities.data).not.toEqual(
      a.predictions[0]!.byPromptType.class_name!.probabilities.data,
    );
  }, 60_000);

  it('a full disk while publishing leaves the previous complete results, and names the file', async () => {
    const out = join(work, 'disk');
    await evaluateZeroShot(evalOpts(out));
    const before = readFileSync(join(out, 'predictions.csv'), 'utf8');
    setWriteFailpoint({ at: 1, code: 'ENOSPC', sticky: true });
    // replacing an earlier set is asked for (overwrite); the new set is published as one, or not at all
    await expect(
      evaluateZeroShot(evalOpts(out, { promptTypes: ['an_expression_of_name'], overwrite: true })),
    ).rejects.toThrow(
      /cannot write .*disk\/(config\.resolved\.json|confusion-matrix\.csv|metrics\.json|predictions\.csv): ENOSPC/,
    );
    setWriteFailpoint(undefined);
    verifyRunOutputs(out);
    expect(readFileSync(join(out, 'predictions.csv'), 'utf8')).toBe(before);
  }, 60_000);

  it('an out that holds earlier results is refused before anything loads, unless overwrite replaces them as one set', async () => {
    const out = join(work, 'earlier');
    await evaluateZeroShot(evalOpts(out));
    const before = readFileSync(join(out, 'predictions.csv'), 'utf8');
    // the same command again (a resume after a kill, a warm rerun) republishes the same configuration
    await evaluateZeroShot(evalOpts(out));
    expect(readFileSync(join(out, 'predictions.csv'), 'utf8')).toBe(before);
    // other options: refused before the model loads (this model path does not exist), naming the directory and what to pass
    const other = join(work, 'no-such-model');
    await expect(evaluateZeroShot({ ...evalOpts(out), model: other })).rejects.toThrow(
      `Argument 'out' passed to 'evaluateZeroShot': ${out} already holds the results of an earlier evaluation with other options (model ("${evalOpts(out).model}" then, "${other}" now); config.resolved.json, confusion-matrix.csv, metrics.json, predictions.csv); pass overwrite: true (CLI: --overwrite) to replace them as one set, or choose another output directory`,
    );
    // the same paths spelt otherwise are the same command: a trailing slash, a relative path
    const cwd = process.cwd();
    try {
      process.chdir(work);
      await evaluateZeroShot({ ...evalOpts(out), out: 'earlier/', model: `${evalOpts(out).model}/` });
      // the same relative root from another directory names other images: another command (run.json's cwd)
      for (const [dir, n] of [
        ['a', 2],
        ['b', 3],
      ] as const)
        for (const c of ['happy', 'sad']) {
          mkdirSync(join(work, dir, 'imgs', c), { recursive: true });
          for (const f of readdirSync(join(fer, c)).slice(0, n))
            copyWritable(join(fer, c, f), join(work, dir, 'imgs', c, f));
        }
      const rel = join(work, 'relative-root');
      process.chdir(join(work, 'a'));
      await evaluateZeroShot({ ...evalOpts(rel), root: 'imgs' });
      process.chdir(join(work, 'b'));
      await expect(evaluateZeroShot({ ...evalOpts(rel), root: 'imgs' })).rejects.toThrow(
        `other options (root ("${join(work, 'a', 'imgs')}" then, "${join(work, 'b', 'imgs')}" now);`,
      );
    } finally {
      process.chdir(cwd);
    }
    expect(readFileSync(join(out, 'predictions.csv'), 'utf8')).toBe(before);
    verifyRunOutputs(out);
    const r = await evaluateZeroShot(evalOpts(out, { promptTypes: ['an_expression_of_name'], overwrite: true }));
    expect(r.outDir).toBe(out);
    const m = verifyRunOutputs(out);
    expect(Object.keys(m.files).sort()).toEqual([
      'config.resolved.json',
      'confusion-matrix.csv',
      'metrics.json',
      'predictions.csv',
    ]);
    expect(readFileSync(join(out, 'metrics.json'), 'utf8')).toMatch(/an_expression_of_name/);
    expect(readFileSync(join(out, 'metrics.json'), 'utf8')).not.toMatch(/"class_name"/);
    // how the set was written is no setting of the results
    expect(readFileSync(join(out, 'config.resolved.json'), 'utf8')).not.toMatch(/overwrite/);
    expect(m.kind).toBe('exp-clip eval');
    // another command's results (here a training run's head, as a set of that kind records it) are not an
    // evaluation's to replace: refused with overwrite too, before anything loads, the head kept
    const trained = join(work, 'a-training');
    mkdirSync(trained);
    writeFileSync(join(trained, 'head.safetensors'), 'h');
    const files = { 'head.safetensors': { sha256: 'x', bytes: 1 } };
    const manifest = { format: 'vlfer-run-outputs', version: 1, kind: 'exp-clip train', files };
    writeFileSync(join(trained, 'manifest.json'), JSON.stringify(manifest));
    for (const overwrite of [false, true])
      await expect(
        evaluateZeroShot({ ...evalOpts(trained), model: join(work, 'no-such-model'), overwrite }),
      ).rejects.toThrow(
        `Argument 'out' passed to 'evaluateZeroShot': ${trained} holds the results of 'exp-clip train' (head.safetensors), which 'exp-clip eval' would replace; choose another output directory`,
      );
    expect(readFileSync(join(trained, 'head.safetensors'), 'utf8')).toBe('h');
  }, 60_000);

  it('an abort while encoding stops at the next batch and frees the directory; the rerun resumes from the cache', async () => {
    const out = join(work, 'abort');
    const controller = new AbortController();
    const t0 = performance.now();
    await expect(
      evaluateZeroShot(
        { ...evalOpts(out, { cacheDir: join(work, 'abort-cache'), batchSize: 4 }) },
        {
          signal: controller.signal,
          onProgress: (e) => {
            if (e.done >= 4) controller.abort();
          },
        },
      ),
    ).rejects.toThrow(AbortedError);
    expect(performance.now() - t0).toBeLessThan(20_000);
    const r = await evaluateZeroShot(evalOpts(out, { cacheDir: join(work, 'abort-cache'), batchSize: 4 }));
    expect(r.counts.cached).toBeGreaterThanOrEqual(4);
    expect(r.counts.cached).toBeLessThan(r.counts.images);
  }, 60_000);

  it('an empty evaluation set is reported before any model loads; a file name with a carriage return stays one CSV row', async () => {
    const empty = join(work, 'empty');
    mkdirSync(join(empty, 'happy'), { recursive: true });
    // a model directory that holds no model: loading it would fail, so the data were refused before any load
    const notAModel = join(work, 'not-a-model');
    mkdirSync(notAModel, { recursive: true });
    await expect(evaluateZeroShot({ ...evalOpts(join(work, 'e')), root: empty, model: notAModel })).rejects.toThrow(
      /empty: holds no items to evaluate/,
    );
    const r = await evaluateZeroShot(evalOpts(join(work, 'cr')));
    const rows = parseCsvText(readFileSync(join(work, 'cr', 'predictions.csv'), 'utf8'), 'predictions.csv').records;
    expect(rows.length).toBe(r.counts.images);
    expect(rows.some((x) => x.cells.item === 'sad/carriage\rreturn, "quoted".png')).toBe(true);
  }, 60_000);

  it('training refuses a checkpoint whose targets changed, whose bytes changed, or whose metadata is not valid', async () => {
    const out = join(work, 'train');
    const controller = new AbortController();
    let steps = 0;
    await expect(
      trainHead(trainOpts(out), {
        signal: controller.signal,
        onStep: () => {
          if (++steps === 1) controller.abort();
        },
      }),
    ).rejects.toThrow(AbortedError);
    const ckpt = join(out, 'checkpoint.safetensors');
    const original = readFileSync(ckpt);
    // teacher targets regenerated in place
    const old = readFileSync(targets, 'utf8');
    writeFileSync(
      targets,
      old.replaceAll('"embedding":[', '"embedding":[0.5,').replace(
        /\[0\.5,([^\]]*)\]/g,
        (_, rest: string) =>
          `[${rest
            .split(',')
            .map((v) => String(Number(v) + 0.5))
            .join(',')}]`,
      ),
    );
    await expect(trainHead(trainOpts(out))).rejects.toThrow(
      /was trained on other data: the teacher targets changed since/,
    );
    writeFileSync(targets, old);
    // flipped bits
    const flipped = Buffer.from(original);
    flipped[flipped.length - 5]! ^= 2;
    writeFileSync(ckpt, flipped);
    await expect(trainHead(trainOpts(out))).rejects.toThrow(ChecksumError);
    // a well-formed checkpoint with nonsense metadata
    const c = loadCheckpoint((writeFileSync(ckpt, original), ckpt));
    saveCheckpoint(ckpt, { ...c, meta: { ...c.meta, epoch: 'abc' } });
    await expect(trainHead(trainOpts(out))).rejects.toThrow(DataFormatError);
    await expect(trainHead(trainOpts(out))).rejects.toThrow(/checkpoint\.safetensors \(field 'epoch'\): .*number/);
    // the genuine checkpoint resumes, repairing a log line torn by a crash
    writeFileSync(ckpt, original);
    const working = join(out, 'work', 'train-log.jsonl'); // the log while training; train-log.jsonl is published
    writeFileSync(working, `${readFileSync(working, 'utf8')}{"epoch":0,"st`);
    const r = await trainHead(trainOpts(out));
    expect(r.resumedFrom).toEqual({ epoch: 0, step: 1 });
    const log = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { globalStep: number });
    expect(log.map((l) => l.globalStep)).toEqual([0, 1, 2, 3]);
    expect(readdirSync(out).sort()).toEqual(
      [
        '.vlfer-run-kind',
        '.vlfer-run.lock',
        'checkpoint.safetensors',
        'config.resolved.json',
        'head.safetensors',
        'manifest.json',
        'metrics.json',
        'run.json',
        'train-log.jsonl',
        'work',
      ].filter((f) => f !== '.vlfer-run.lock'),
    );
  }, 120_000);
});
