import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { AbortedError } from '@vlfer/core';
import {
  evaluateZeroShot,
  formatQuantizationReport,
  guardSample,
  quantizationGuard,
  TrainOptionsSchema,
  type EvalData,
  type EvalOptions,
} from './index.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-int8-guard-'));
// 21 FER2013 test images (3 per class, stratified and seeded) on the random-weight tiny-clip ('graphs' runtime)
const base = {
  dataset: 'image-folder' as const,
  root: sharedPath('data', 'fer2013-privatetest'),
  model: sharedPath('fixtures', 'tiny-clip'),
  promptTypes: ['class_name' as const, 'expression_ensemble_five' as const],
  limit: 21,
  dtype: 'int8' as const,
};
/** Zeroes the per-channel scales of one int8 weight: that layer's output is then its bias only. */
const damage = (key: string, scales: Float32Array) => {
  if (key === 'vision_model.encoder.layers.0.mlp.fc1.weight') scales.fill(0);
};
const metricsOf = (out: string) => JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));

describe('exp-clip eval dtype int8: the quantization guard', () => {
  it('passes on tiny-clip, prints its numbers and records them in metrics.json', async () => {
    const lines: string[] = [];
    const out = join(work, 'ok');
    const r = await evaluateZeroShot({ ...base, out }, { log: (l) => lines.push(l) });
    const guardLine = lines.find((l) => l.startsWith('int8 guard'));
    console.log(guardLine);
    expect(guardLine).toMatch(/^int8 guard on 21 of this run's items: cosine to fp32 mean 0\.99.*: passed$/);
    const q = metricsOf(out).quantization;
    expect(q).toEqual(r.quantization);
    expect(q).toMatchObject({ dtype: 'int8', sample: 21, passed: true, accepted: false });
    expect(q.cosineMin).toBeGreaterThanOrEqual(0.999);
    expect(q.cosineMin).toBeLessThan(1); // the features went through int8
    expect(q.argmaxAgreement).toBeGreaterThanOrEqual(0.99);
    expect(q.thresholds).toEqual({ cosineMin: 0.999, argmaxAgreement: 0.99 });
  }, 300_000);

  it('refuses a damaged quantization (a zeroed weight scale), naming both numbers, the thresholds and the opt-out', async () => {
    const out = join(work, 'damaged');
    const run = evaluateZeroShot({ ...base, out }, { log: () => {}, int8ScalesHook: damage });
    await expect(run).rejects.toThrow(
      /cosine to fp32 mean [\d.-]+, min [\d.-]+ \(needs ≥ 0\.999\); zero-shot argmax agreement [\d.]+ % \(needs ≥ 99 %\).*refused.*acceptInaccurateQuantization/,
    );
    expect(existsSync(join(out, 'metrics.json'))).toBe(false);
  }, 300_000);

  it('refuses on the argmax agreement alone: a zeroed text projection leaves the image cosines intact', async () => {
    const lines: string[] = [];
    const textDamage = (key: string, scales: Float32Array) => {
      if (key === 'text_projection.weight') scales.fill(0); // every class scores 0: argmax is class 0
    };
    const run = evaluateZeroShot({ ...base }, { log: (l) => lines.push(l), int8ScalesHook: textDamage });
    await expect(run).rejects.toThrow(/zero-shot argmax agreement [\d.]+ % \(needs ≥ 99 %\).*refused/);
    const line = lines.find((l) => l.startsWith('int8 guard'))!;
    console.log(`text damaged: ${line}`);
    expect(Number(/min ([\d.]+)/.exec(line)![1])).toBeGreaterThanOrEqual(0.999);
    expect(Number(/agreement ([\d.]+) %/.exec(line)![1])).toBeLessThan(99);
  }, 300_000);

  it('runs a damaged quantization with acceptInaccurateQuantization, recorded as failed and accepted', async () => {
    const out = join(work, 'accepted');
    const lines: string[] = [];
    await evaluateZeroShot(
      { ...base, out, acceptInaccurateQuantization: true },
      { log: (l) => lines.push(l), int8ScalesHook: damage },
    );
    const q = metricsOf(out).quantization;
    console.log(`damaged: ${formatQuantizationReport(q)}`);
    expect(q).toMatchObject({ dtype: 'int8', sample: 21, passed: false, accepted: true });
    expect(q.cosineMin).toBeLessThan(0.999);
    expect(lines).toContain('warning: the int8 guard failed and the run goes on (acceptInaccurateQuantization)');
  }, 300_000);

  it('fp32 runs have no guard and no quantization entry', async () => {
    const out = join(work, 'fp32');
    const r = await evaluateZeroShot({ ...base, dtype: 'fp32', promptTypes: ['class_name'], out }, { log: () => {} });
    expect(r.quantization).toBeNull();
    expect(metricsOf(out).quantization).toBeUndefined();
  }, 300_000);

  it('video datasets: the guard encodes the centre frame of each sampled clip', async () => {
    // two folds of three DFEW-style frame directories, four FER2013 images each
    const root = join(work, 'videos');
    const faces = sharedPath('data', 'fer2013-privatetest', 'happy');
    const files = readdirSync(faces).sort().slice(0, 24);
    for (const fold of [1, 2]) {
      const lines: string[] = [];
      for (let k = 0; k < 3; k++) {
        const dir = join(root, 'frames', `f${fold}_${k}`);
        mkdirSync(dir, { recursive: true });
        for (let i = 0; i < 4; i++)
          copyWritable(
            join(faces, files[(fold - 1) * 12 + k * 4 + i]!),
            join(dir, `${String(i).padStart(5, '0')}.jpg`),
          );
        lines.push(`frames/f${fold}_${k} 4 ${k}`);
      }
      writeFileSync(join(root, `set_${fold}_test.txt`), `${lines.join('\n')}\n`);
    }
    const lines: string[] = [];
    const r = await evaluateZeroShot(
      {
        dataset: 'dfew',
        root,
        annotations: join(root, 'set_{fold}_test.txt'),
        folds: [1, 2],
        model: base.model,
        promptTypes: ['class_name'],
        frames: 4,
        dtype: 'int8',
      },
      { log: (l) => lines.push(l) },
    );
    expect(r.quantization).toMatchObject({ dtype: 'int8', sample: 6, passed: true });
    expect(lines.find((l) => l.startsWith('int8 guard'))).toMatch(/^int8 guard on 6 of this run's items: .*: passed$/);
  }, 300_000);

  it('exp-clip train refuses dtype int8 (no guard there), naming the option', () => {
    const train = { unlabelled: 'u', model: 'm', teacher: 'import', teacherSource: 't.npy', out: 'o' };
    expect(TrainOptionsSchema.safeParse(train).success).toBe(true);
    const r = TrainOptionsSchema.safeParse({ ...train, dtype: 'int8' });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['dtype', "'int8' features are checked by a guard only in exp-clip eval; train the head on fp32 features"],
    ]);
  });

  it('an abort stops the guard before it decodes another sampled clip', async () => {
    const data = [
      { kind: 'frames', items: [0, 1, 2].map((k) => ({ frameDir: join(work, `no-clip-${k}`), label: 0 })) },
    ] as unknown as EvalData[];
    const stop = new AbortController();
    stop.abort();
    const options = { dtype: 'int8', quantizationSample: 64, subsetSeed: 0 } as EvalOptions;
    const run = {} as Parameters<typeof quantizationGuard>[2];
    // before: every sampled clip was decoded at once (an ffmpeg each for videos), the signal unseen
    await expect(quantizationGuard(options, data, run, { log: () => {}, signal: stop.signal })).rejects.toThrow(
      AbortedError,
    );
  });
  it('samples the same images for the same seed, from every fold, each once, all of them when fewer', () => {
    const fold = (paths: string[]) =>
      ({ kind: 'images', items: paths.map((path) => ({ path, label: 0 })) }) as EvalData;
    const data = [fold(['a', 'b', 'c', 'd']), fold(['e', 'f', 'a'])];
    const s1 = guardSample(data, 4, 7);
    expect(s1).toHaveLength(4);
    expect(new Set(s1).size).toBe(4);
    expect(guardSample(data, 4, 7)).toEqual(s1);
    expect(guardSample(data, 100, 7).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });
});
