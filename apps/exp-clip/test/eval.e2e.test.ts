import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { BASIC_7 } from '@vlfer/datasets';
import { classificationReport } from '@vlfer/metrics';
import { repoRoot, sharedPath } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { runEval } from '../src/index.js';

const model = sharedPath('fixtures', 'tiny-clip');
const work = mkdtempSync(join(tmpdir(), 'vlfer-expclip-'));
const imageRoot = join(work, 'images');
const videoRoot = join(work, 'videos');
const folders = ['happy', 'sad', 'neutral', 'angry', 'surprise', 'disgust', 'fear'];

async function png(path: string, seed: number, w = 64, h = 48): Promise<void> {
  const px = new Uint8Array(w * h * 3).map((_, i) => (seed * 53 + i * (seed + 3)) % 256);
  writeFileSync(path, await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

beforeAll(async () => {
  for (const [c, f] of folders.entries()) {
    mkdirSync(join(imageRoot, f), { recursive: true });
    for (let i = 0; i < 3; i++) await png(join(imageRoot, f, `${i}.png`), c * 10 + i);
  }
  // two folds of frame-directory clips in DFER-CLIP list format
  for (const fold of [1, 2]) {
    const lines: string[] = [];
    for (let k = 0; k < 5; k++) {
      const dir = join(videoRoot, 'frames', `f${fold}_${k}`);
      mkdirSync(dir, { recursive: true });
      const n = 10 + 5 * k;
      for (let i = 0; i < n; i++) await png(join(dir, `${String(i).padStart(5, '0')}.png`), fold * 100 + k * 10 + i, 32, 32);
      lines.push(`frames/f${fold}_${k} ${n} ${(k + fold) % 7}`);
    }
    writeFileSync(join(videoRoot, `set_${fold}_test.txt`), `${lines.join('\n')}\n`);
  }
}, 120_000);

function readCsv(path: string): string[][] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => l.split(','));
}

describe('exp-clip eval end to end on tiny-clip', () => {
  it('image folder: writes metrics that equal a recomputation from predictions.csv, deterministically', async () => {
    const out1 = join(work, 'run1');
    const r = await runEval({ dataset: 'image-folder', root: imageRoot, model, promptTypes: ['class_name', 'expression_ensemble_five'], out: out1, progress: false, cacheDir: join(work, 'cache') }, { log: () => {} });
    expect(r.results.map((p) => p.promptType)).toEqual(['class_name', 'expression_ensemble_five']);
    const metrics = JSON.parse(readFileSync(join(out1, 'metrics.json'), 'utf8'));
    const rows = readCsv(join(out1, 'predictions.csv'));
    expect(rows[0]).toEqual(['fold', 'item', 'label', 'pred_class_name', 'pred_expression_ensemble_five']);
    expect(rows.length).toBe(1 + 21);
    for (const [col, type] of [[3, 'class_name'], [4, 'expression_ensemble_five']] as const) {
      const rep = classificationReport(rows.slice(1).map((x) => Number(x[2])), rows.slice(1).map((x) => Number(x[col])), 7);
      expect(metrics.promptTypes[type].uar).toBeCloseTo(rep.uar, 12);
      expect(metrics.promptTypes[type].war).toBeCloseTo(rep.war, 12);
      expect(metrics.promptTypes[type].folds[0].perClassRecall.happiness).toBeCloseTo(rep.perClassRecall[0]!, 12);
    }
    const cm = readCsv(join(out1, 'confusion-matrix.csv'));
    expect(cm[0]).toEqual(['prompt_type', 'fold', 'true_class', ...BASIC_7.names]);
    expect(cm.length).toBe(1 + 2 * 7);
    expect(cm.slice(1, 8).reduce((s, row) => s + row.slice(3).reduce((a, v) => a + Number(v), 0), 0)).toBe(21);
    // second run (features now from the cache) gives identical metrics and predictions
    const out2 = join(work, 'run2');
    await runEval({ dataset: 'image-folder', root: imageRoot, model, promptTypes: ['class_name', 'expression_ensemble_five'], out: out2, progress: false, cacheDir: join(work, 'cache') }, { log: () => {} });
    const m2 = JSON.parse(readFileSync(join(out2, 'metrics.json'), 'utf8'));
    expect(m2.promptTypes).toEqual(metrics.promptTypes);
    expect(readFileSync(join(out2, 'predictions.csv'), 'utf8')).toBe(readFileSync(join(out1, 'predictions.csv'), 'utf8'));
    const cfg = JSON.parse(readFileSync(join(out1, 'config.resolved.json'), 'utf8'));
    expect(cfg.preprocess).toBe('exp-clip');
    expect(cfg.environment.runtime.onnxruntimeNode).toBe('1.30.0');
  });

  it('frame-directory videos over two folds: per-fold metrics and their mean', async () => {
    const out = join(work, 'video');
    const r = await runEval({ dataset: 'dfew', root: videoRoot, annotations: join(videoRoot, 'set_{fold}_test.txt'), folds: [1, 2], model, promptTypes: ['an_expression_of_name'], out, progress: false }, { log: () => {} });
    const p = r.results[0]!;
    expect(p.folds.map((f) => f.n)).toEqual([5, 5]);
    expect(r.timing.itemsEncoded).toBe(2 * 5 * 16);
    expect(p.mean.uar.mean).toBeCloseTo((p.folds[0]!.uar + p.folds[1]!.uar) / 2, 12);
    const rows = readCsv(join(out, 'predictions.csv')).slice(1);
    for (const fold of ['1', '2']) {
      const mine = rows.filter((x) => x[0] === fold);
      const rep = classificationReport(mine.map((x) => Number(x[2])), mine.map((x) => Number(x[3])), 7);
      expect(p.folds[Number(fold) - 1]!.war).toBeCloseTo(rep.war, 12);
    }
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.promptTypes.an_expression_of_name.folds.map((f: { fold: number }) => f.fold)).toEqual([1, 2]);
  });

  it('the CLI validates flags and prints a table', () => {
    const run = (args: string[]) => {
      try {
        return { code: 0, out: execFileSync('node', ['--import', 'tsx', '--conditions=@vlfer/source', join(repoRoot, 'apps/exp-clip/src/main.ts'), ...args], { cwd: repoRoot, stdio: 'pipe' }).toString() };
      } catch (e) {
        const err = e as { status: number; stderr: Buffer };
        return { code: err.status, out: err.stderr.toString() };
      }
    };
    const bad = run(['eval', '--dataset', 'image-folder', '--root', imageRoot, '--model', model, '--prompts', '7']);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/prompt type 7 is not in 1\.\.5/);
    const ok = run(['eval', '--dataset', 'image-folder', '--root', imageRoot, '--model', model, '--prompts', '3', '--out', join(work, 'cli'), '--no-progress', '--no-cache']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/a_photo_of_a_face_with_an_expression_of_name\s+\d+\.\d\d\s+\d+\.\d\d/);
  }, 120_000);
});

describe('exp-clip eval --head', () => {
  it('projects image and text features with a saved head, and rejects a head of the wrong dim', async () => {
    const { createProjectionHead, saveProjectionHead } = await import('@vlfer/projection-head');
    const { createRng } = await import('@vlfer/core');
    const headPath = join(work, 'head.safetensors');
    saveProjectionHead(headPath, createProjectionHead({ inputDim: 24, outputDim: 64, rng: createRng(5) }));
    const r = await runEval({ dataset: 'image-folder', root: imageRoot, model, head: headPath, promptTypes: ['class_name'], out: join(work, 'head'), progress: false }, { log: () => {} });
    const plain = await runEval({ dataset: 'image-folder', root: imageRoot, model, promptTypes: ['class_name'], out: join(work, 'plain'), progress: false }, { log: () => {} });
    expect(r.predictions[0]!.byPromptType.class_name).not.toEqual(plain.predictions[0]!.byPromptType.class_name);
    const bad = join(work, 'bad.safetensors');
    saveProjectionHead(bad, createProjectionHead({ inputDim: 512, outputDim: 64, rng: createRng(5) }));
    await expect(runEval({ dataset: 'image-folder', root: imageRoot, model, head: bad, promptTypes: ['class_name'], out: join(work, 'bad'), progress: false }, { log: () => {} })).rejects.toThrow(/head input dim 512 does not match the encoder's embedding dim 24/);
  });
});

describe('exp-clip eval on raw video files (video-folder, ffmpeg)', () => {
  it('decodes, samples 16 segment centres per clip and reports per-clip metrics', async () => {
    const { execFileSync } = await import('node:child_process');
    const { defaultFfmpegPath } = await import('@vlfer/encoders');
    const root = join(work, 'raw-videos');
    for (const [c, f] of ['happy', 'sad'].entries()) {
      mkdirSync(join(root, f), { recursive: true });
      for (let k = 0; k < 2; k++) execFileSync(defaultFfmpegPath(), ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=64x48:rate=10,hue=h=${60 * (2 * c + k)}`, '-t', '2', '-c:v', 'mjpeg', join(root, f, `clip${k}.avi`)]);
    }
    const r = await runEval({ dataset: 'video-folder', root, model, promptTypes: ['class_name'], out: join(work, 'raw'), progress: false }, { log: () => {} });
    expect(r.timing.itemsEncoded).toBe(4 * 16);
    expect(r.results[0]!.folds[0]!.n).toBe(4);
    expect(r.predictions[0]!.ids[0]!.endsWith('clip0.avi')).toBe(true);
  }, 120_000);
});
