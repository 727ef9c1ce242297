import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { loadCheckpoint } from '@vlfer/core/node';
import { createFaceCropper } from '@vlfer/faces/node';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { trainHead } from './index.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-train-faces-'));
const photos = join(work, 'photos');
const targetsFile = join(work, 'targets.jsonl');
const modelDir = sharedPath('assets', 'face-detectors');
const E = 16;
/** The faces options of the run, as the run spells them: the detector by name in a model folder. */
const faces = { modelDir, cacheDir: join(work, 'faces-cache'), selection: 'all' as const };
/** Other crops: a wider margin. */
const wider = { ...faces, margin: 0.4 };

beforeAll(async () => {
  // real multi-face photos (face-api.js's demo), and a teacher's stand-in targets for the crops of both settings
  const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
  mkdirSync(photos, { recursive: true });
  for (const i of [1, 2, 3])
    await sharp(join(demo, `sample${i}.jpg`))
      .resize(480, 360)
      .png()
      .toFile(join(photos, `${i}.png`));
  const lines: string[] = [];
  for (const settings of [faces, wider]) {
    const cropper = await createFaceCropper(settings);
    try {
      const crops = await cropper.cropImages(['1.png', '2.png', '3.png'].map((f) => ({ path: join(photos, f) })));
      for (const c of crops)
        lines.push(
          JSON.stringify({
            path: c.path,
            embedding: Array.from({ length: E }, (_, k) => Math.sin(lines.length * 1.7 + k * 0.9)),
          }),
        );
    } finally {
      await cropper.dispose();
    }
  }
  writeFileSync(targetsFile, `${lines.join('\n')}\n`);
}, 120_000);

const options = (out: string, epochs: number, facesOptions: Record<string, unknown>) => ({
  unlabelled: photos,
  model: sharedPath('fixtures', 'tiny-clip'),
  teacher: 'import' as const,
  teacherSource: targetsFile,
  epochs,
  batch: 2,
  lr: 0.01,
  seed: 1,
  outputDim: E,
  faces: facesOptions,
  out,
  cacheDir: join(work, 'cache'),
});

describe('exp-clip train on face crops', () => {
  it('resumes with its faces options spelt otherwise; other crops are refused as other data', async () => {
    const out = join(work, 'run');
    const first = await trainHead(options(out, 1, faces), { log: () => {} });
    expect(first.status).toBe('completed');
    const csv = readFileSync(join(out, 'face-crops.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('crop,source,face');
    expect(csv.length - 1).toBeGreaterThan(3); // several faces per photo
    const recordedKey = loadCheckpoint(join(out, 'checkpoint.safetensors')).meta.trainingKey;

    // the same detector by its file, no model folder, its default threshold written out, another crop cache: the
    // same crops (their content keys and features are checked), one run under the key it was started with
    const byFile = {
      ...faces,
      modelDir: undefined,
      detector: join(modelDir, 'yunet_s_dynamic.onnx'),
      scoreThreshold: 0.7,
      cacheDir: join(work, 'faces-cache-2'),
    };
    const resumed = await trainHead(options(out, 2, byFile), { log: () => {} });
    expect(resumed.resumedFrom).toEqual({ epoch: 1, step: 0 });
    expect(loadCheckpoint(join(out, 'checkpoint.safetensors')).meta.trainingKey).toBe(recordedKey);
    const config = JSON.parse(readFileSync(join(out, 'config.resolved.json'), 'utf8'));
    expect(config.trainingKey).toBe(recordedKey);
    // the published options spell faces as the key does (so a later call compares them), with this call's cache
    expect(config.faces).toMatchObject({ modelDir, cacheDir: byFile.cacheDir });
    expect(config.faces.detector).toBe('yunet-s');

    // a published head without its checkpoint answers a call that spells its faces otherwise
    const copy = join(work, 'copy');
    copyWritable(out, copy);
    rmSync(join(copy, 'checkpoint.safetensors'));
    expect((await trainHead(options(copy, 2, byFile), { log: () => {} })).status).toBe('already-trained');

    // other crops: past the options check, refused by the crops' content
    await expect(trainHead(options(out, 3, wider), { log: () => {} })).rejects.toThrow(
      /checkpoint\.safetensors was trained on other data: the face crops of the unlabelled images, the CLIP features(, the teacher targets)? changed since/,
    );
    await expect(trainHead(options(copy, 2, wider), { log: () => {} })).rejects.toThrow(
      /holds a head trained on other data/,
    );
    // options other than faces are refused before any encoding, naming them
    await expect(trainHead({ ...options(out, 3, byFile), lr: 0.02 }, { log: () => {} })).rejects.toThrow(
      /was written with other training options \(lr \(0\.01 then, 0\.02 now\)\); use another/,
    );
  }, 300_000);
});
