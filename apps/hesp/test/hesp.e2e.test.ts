import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { sharedPath } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateRun, runHesp, type EpochRecord } from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-hesp-'));
const model = sharedPath('fixtures', 'tiny-clip');

async function clip(dir: string, label: number, k: number, n: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f < n; f++) {
    const px = new Uint8Array(32 * 32 * 3).map((_, i) => ((label * 60 + (i % 3) * 40 + ((i >> 5) * (label + 1)) + f * 3 + k * 7) % 256));
    writeFileSync(join(dir, `${String(f).padStart(5, '0')}.png`), await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer());
  }
  return `${dir.slice(work.length + 1)} ${n} ${label}`;
}

beforeAll(async () => {
  const train: string[] = [];
  const test: string[] = [];
  for (const label of [0, 1, 2]) for (let k = 0; k < 5; k++) train.push(await clip(join(work, 'frames', `tr_${label}_${k}`), label, k, 6));
  for (const label of [0, 1, 2, 3, 4]) for (let k = 0; k < 2; k++) test.push(await clip(join(work, 'frames', `te_${label}_${k}`), label, k + 10, 5));
  writeFileSync(join(work, 'train.txt'), `${train.join('\n')}\n`);
  writeFileSync(join(work, 'test.txt'), `${test.join('\n')}\n`);
}, 120_000);

const cfg = (out: string, epochs: number) => ({
  dataset: 'afew' as const, trainAnnotations: join(work, 'train.txt'), testAnnotations: join(work, 'test.txt'), root: work, known: [0, 1, 2], model,
  epochs, batch: 6, frames: 2, nCtx: 4, logitScale: 14.28, seed: 0, valFraction: 0.2, out: join(work, out), progress: false,
});

describe('hesp train/eval end to end on tiny-clip with synthetic frame directories', () => {
  it('trains, the loss falls, metrics are written each epoch, and a rerun resumes', async () => {
    const r = await runHesp(cfg('run', 3), { log: () => {} });
    expect(r.epochs.length).toBe(3);
    const steps = readFileSync(join(work, 'run', 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; total: number });
    expect(steps.length).toBe(3 * 2); // 12 train clips (3 held out for validation) / batch 6
    expect(steps.at(-1)!.total).toBeLessThan(steps[0]!.total);
    const epochs = readFileSync(join(work, 'run', 'epochs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EpochRecord);
    for (const e of epochs) {
      expect(e.test.nKnown).toBe(6);
      expect(e.test.nUnknown).toBe(4);
      for (const v of [e.test.closedSetAccuracy, e.test.auroc, e.test.oscr]) expect(v).toBeGreaterThanOrEqual(0);
      expect(e.val!.n).toBe(3);
    }
    const metrics = JSON.parse(readFileSync(join(work, 'run', 'metrics.json'), 'utf8'));
    expect(metrics.selectedOn).toBe('validation part of the training data');
    // the CAM rule chose a centre where the 56-px patch fits
    for (const v of [metrics.visualPromptCentre.row, metrics.visualPromptCentre.col]) { expect(v).toBeGreaterThanOrEqual(28); expect(v).toBeLessThanOrEqual(195); }
    const more = await runHesp(cfg('run', 4), { log: () => {} });
    expect(more.resumedFromEpoch).toBe(3);
    expect(JSON.parse(readFileSync(join(work, 'run', 'metrics.json'), 'utf8')).visualPromptCentre).toEqual(metrics.visualPromptCentre);
    expect(more.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
    const test = await evaluateRun(join(work, 'run'), { log: () => {} });
    expect(test.nKnown + test.nUnknown).toBe(10);
    expect(JSON.parse(readFileSync(join(work, 'run', 'eval.json'), 'utf8')).test.auroc).toBeCloseTo(test.auroc, 12);
  }, 300_000);
  it('rejects unknown split options clearly', async () => {
    await expect(runHesp({ ...cfg('bad', 1), known: [0, 9] }, { log: () => {} })).rejects.toThrow(/class id 9 is outside basic-7/);
  });
});
