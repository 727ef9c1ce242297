import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { BASIC_7 } from '@vlfer/datasets';
import { loadClip } from '@vlfer/encoders/node';
import { classificationReport } from '@vlfer/metrics';
import { sharedPath, copyWritable, processThreads } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatEvalTable, evaluateZeroShot as runEval } from './index.js';

const model = sharedPath('fixtures', 'tiny-clip');
const work = mkdtempSync(join(tmpdir(), 'vlfer-expclip-'));
const imageRoot = join(work, 'images');
const videoRoot = join(work, 'videos');
const folders = ['happy', 'sad', 'neutral', 'angry', 'surprise', 'disgust', 'fear'];

async function png(path: string, seed: number, w = 64, h = 48): Promise<void> {
  const px = new Uint8Array(w * h * 3).map((_, i) => (seed * 53 + i * (seed + 3)) % 256);
  writeFileSync(
    path,
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer(),
  );
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
      for (let i = 0; i < n; i++)
        await png(join(dir, `${String(i).padStart(5, '0')}.png`), fold * 100 + k * 10 + i, 32, 32);
      lines.push(`frames/f${fold}_${k} ${n} ${(k + fold) % 7}`);
    }
    writeFileSync(join(videoRoot, `set_${fold}_test.txt`), `${lines.join('\n')}\n`);
  }
}, 120_000);

function readCsv(path: string): string[][] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));
}

describe('exp-clip eval end to end on tiny-clip', () => {
  it('image folder: writes metrics that equal a recomputation from predictions.csv, deterministically', async () => {
    const out1 = join(work, 'run1');
    const r = await runEval(
      {
        dataset: 'image-folder',
        root: imageRoot,
        model,
        promptTypes: ['class_name', 'expression_ensemble_five'],
        out: out1,
        cacheDir: join(work, 'cache'),
      },
      { log: () => {} },
    );
    expect(r.results.map((p) => p.promptType)).toEqual(['class_name', 'expression_ensemble_five']);
    // the table's last line names the results as typed from the working directory, absolute from elsewhere
    const cwd = process.cwd();
    try {
      process.chdir(work);
      expect(formatEvalTable(r).split('\n').at(-1)).toMatch(/ from the cache; results in run1$/);
      process.chdir(imageRoot);
      expect(formatEvalTable(r).split('\n').at(-1)).toMatch(new RegExp(`; results in ${out1}$`));
    } finally {
      process.chdir(cwd);
    }
    const metrics = JSON.parse(readFileSync(join(out1, 'metrics.json'), 'utf8'));
    const rows = readCsv(join(out1, 'predictions.csv'));
    expect(rows[0]).toEqual([
      'prompt_type',
      'fold',
      'item',
      'label_id',
      'label',
      'predicted_id',
      'predicted',
      'correct',
      ...BASIC_7.names.map((n) => `p_${n}`),
    ]);
    expect(rows.length).toBe(1 + 2 * 21);
    expect(rows[1]!.slice(2, 5)).toEqual(['happy/0.png', '0', 'happiness']);
    for (const r of rows.slice(1)) expect(r.slice(8).reduce((a, v) => a + Number(v), 0)).toBeCloseTo(1, 5);
    for (const type of ['class_name', 'expression_ensemble_five'] as const) {
      const mine = rows.slice(1).filter((x) => x[0] === type);
      // the predicted class is the most probable one
      for (const r of mine)
        expect(Number(r[5])).toBe(
          r
            .slice(8)
            .map(Number)
            .indexOf(Math.max(...r.slice(8).map(Number))),
        );
      const rep = classificationReport(
        mine.map((x) => Number(x[3])),
        mine.map((x) => Number(x[5])),
        7,
      );
      expect(metrics.promptTypes[type].uar).toBeCloseTo(rep.uar, 12);
      expect(metrics.promptTypes[type].war).toBeCloseTo(rep.war, 12);
      expect(metrics.promptTypes[type].folds[0].perClassRecall.happiness).toBeCloseTo(rep.perClassRecall[0]!, 12);
    }
    const cm = readCsv(join(out1, 'confusion-matrix.csv'));
    expect(cm[0]).toEqual(['prompt_type', 'fold', 'true_class', ...BASIC_7.names.map((n) => `pred_${n}`)]);
    expect(cm.length).toBe(1 + 2 * 7);
    expect(cm.slice(1, 8).reduce((s, row) => s + row.slice(3).reduce((a, v) => a + Number(v), 0), 0)).toBe(21);
    // second run (features now from the cache) gives identical metrics and predictions
    const out2 = join(work, 'run2');
    await runEval(
      {
        dataset: 'image-folder',
        root: imageRoot,
        model,
        promptTypes: ['class_name', 'expression_ensemble_five'],
        out: out2,
        cacheDir: join(work, 'cache'),
      },
      { log: () => {} },
    );
    const m2 = JSON.parse(readFileSync(join(out2, 'metrics.json'), 'utf8'));
    expect(m2.promptTypes).toEqual(metrics.promptTypes);
    expect(readFileSync(join(out2, 'predictions.csv'), 'utf8')).toBe(
      readFileSync(join(out1, 'predictions.csv'), 'utf8'),
    );
    const cfg = JSON.parse(readFileSync(join(out1, 'config.resolved.json'), 'utf8'));
    expect(cfg.preprocess).toBe('exp-clip');
    expect(cfg.provenance.runtime.onnxruntimeNode).toBe('1.30.0');
    expect(cfg.provenance.git === null || typeof cfg.provenance.git.dirty === 'boolean').toBe(true);
    expect(cfg.datasetFingerprint).toMatch(/^[0-9a-f]{64}$/);
    // the second run was served from the cache and says so
    const run2 = JSON.parse(readFileSync(join(out2, 'run.json'), 'utf8'));
    expect(run2.counts).toMatchObject({ images: 21, cached: 21, encoded: 0 });
  });

  it('frame-directory videos over two folds: per-fold metrics and their mean', async () => {
    const out = join(work, 'video');
    const r = await runEval(
      {
        dataset: 'dfew',
        root: videoRoot,
        annotations: join(videoRoot, 'set_{fold}_test.txt'),
        folds: [1, 2],
        model,
        promptTypes: ['an_expression_of_name'],
        out,
      },
      { log: () => {} },
    );
    const p = r.results[0]!;
    expect(p.folds.map((f) => f.n)).toEqual([5, 5]);
    expect(r.counts.images).toBe(2 * 5 * 16);
    expect(p.mean.uar.mean).toBeCloseTo((p.folds[0]!.uar + p.folds[1]!.uar) / 2, 12);
    // the spread over folds is the sample std (n − 1): for two folds |a − b| / √2; the table says which it is
    expect(p.mean.uar.std).toBeCloseTo(Math.abs(p.folds[0]!.uar - p.folds[1]!.uar) / Math.SQRT2, 12);
    expect(formatEvalTable(r).split('\n')[0]).toMatch(/WAR % +mean ± sample std over 2 folds$/);
    const rows = readCsv(join(out, 'predictions.csv')).slice(1);
    for (const fold of ['1', '2']) {
      const mine = rows.filter((x) => x[1] === fold);
      const rep = classificationReport(
        mine.map((x) => Number(x[3])),
        mine.map((x) => Number(x[5])),
        7,
      );
      expect(p.folds[Number(fold) - 1]!.war).toBeCloseTo(rep.war, 12);
    }
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.promptTypes.an_expression_of_name.folds.map((f: { fold: number }) => f.fold)).toEqual([1, 2]);
    // into the same out: the lists' default scheme named is the same command; another scheme is other options
    const again = {
      dataset: 'dfew' as const,
      root: videoRoot,
      annotations: join(videoRoot, 'set_{fold}_test.txt'),
      folds: [1, 2],
      model,
      promptTypes: ['an_expression_of_name' as const],
      out,
    };
    const before = readFileSync(join(out, 'predictions.csv'), 'utf8');
    await runEval({ ...again, labelScheme: 'dfer-clip' }, { log: () => {} });
    expect(readFileSync(join(out, 'predictions.csv'), 'utf8')).toBe(before);
    await expect(runEval({ ...again, labelScheme: 'dfew-original' }, { log: () => {} })).rejects.toThrow(
      /earlier evaluation with other options \(labelScheme/,
    );
  });
});

describe('exp-clip eval --head', () => {
  it('projects image and text features with a saved head, and rejects a head of the wrong dim', async () => {
    const { createProjectionHead, saveProjectionHead } = await import('@vlfer/projection-head');
    const { createRng } = await import('@vlfer/core');
    const headPath = join(work, 'head.safetensors');
    saveProjectionHead(headPath, createProjectionHead({ inputDim: 24, outputDim: 64, rng: createRng(5) }));
    const r = await runEval(
      {
        dataset: 'image-folder',
        root: imageRoot,
        model,
        head: headPath,
        promptTypes: ['class_name'],
        out: join(work, 'head'),
      },
      { log: () => {} },
    );
    const plain = await runEval(
      { dataset: 'image-folder', root: imageRoot, model, promptTypes: ['class_name'], out: join(work, 'plain') },
      { log: () => {} },
    );
    expect(r.predictions[0]!.byPromptType.class_name!.probabilities.data).not.toEqual(
      plain.predictions[0]!.byPromptType.class_name!.probabilities.data,
    );
    // the results record which head file they are of; another file at that path does not replace them unasked
    const { hashFile } = await import('@vlfer/core/node');
    const recorded = JSON.parse(readFileSync(join(work, 'head', 'metrics.json'), 'utf8')).headFingerprint;
    expect(recorded).toBe(hashFile(headPath));
    expect(JSON.parse(readFileSync(join(work, 'head', 'config.resolved.json'), 'utf8')).headFingerprint).toBe(recorded);
    expect(JSON.parse(readFileSync(join(work, 'plain', 'metrics.json'), 'utf8')).headFingerprint).toBeUndefined();
    const headOpts = {
      dataset: 'image-folder' as const,
      root: imageRoot,
      model,
      head: headPath,
      promptTypes: ['class_name' as const],
      out: join(work, 'head'),
    };
    await runEval(headOpts, { log: () => {} }); // the same command again: the same set
    saveProjectionHead(headPath, createProjectionHead({ inputDim: 24, outputDim: 64, rng: createRng(6) }));
    await expect(runEval(headOpts, { log: () => {} })).rejects.toThrow(
      /already holds the results of an earlier evaluation with other options \(head: .*head\.safetensors holds another file than the one they were computed with \(SHA-256 [0-9a-f]{12}…\);/,
    );
    expect((await runEval({ ...headOpts, overwrite: true }, { log: () => {} })).outDir).toBe(join(work, 'head'));
    // a head trained on another model's features (its record says so) is a warning; on this model's, none
    const trainedOn = async (fingerprint: string) => {
      const h = createProjectionHead({ inputDim: 24, outputDim: 64, rng: createRng(5) });
      h.metadata = { encoder: 'other-clip', model_fingerprint: fingerprint };
      saveProjectionHead(headPath, h);
      const result = await runEval({ ...headOpts, out: undefined }, { log: () => {} });
      return result.warnings.filter((w) => w.startsWith('the head')); // not tiny-clip's degenerate-classifier one
    };
    expect(await trainedOn('f'.repeat(64))).toEqual([
      expect.stringMatching(
        /^the head .*head\.safetensors was trained on the features of other model files \(other-clip, model fingerprint f{12}…\) than .*tiny-clip \([0-9a-f]{12}…\): unless it is the same CLIP/,
      ),
    ]);
    expect(await trainedOn(r.modelFingerprint)).toEqual([]);
    // what trainHead records: the fingerprint of a vision-only load (it was warned about as "other model files")
    const visionOnly = await loadClip({ model, towers: ['vision'] });
    expect(visionOnly.contentFingerprint()).not.toBe(r.modelFingerprint);
    expect(await trainedOn(visionOnly.contentFingerprint())).toEqual([]);
    await visionOnly.dispose();
    // trained in int8, evaluated in fp32: other files of the same model are loaded, so the records are not compared
    const int8Head = createProjectionHead({ inputDim: 24, outputDim: 64, rng: createRng(5) });
    int8Head.metadata = { model_fingerprint: 'f'.repeat(64), training_config: JSON.stringify({ dtype: 'int8' }) };
    saveProjectionHead(headPath, int8Head);
    const int8Run = await runEval({ ...headOpts, out: undefined }, { log: () => {} });
    expect(int8Run.warnings.filter((w) => w.startsWith('the head'))).toEqual([]);
    const bad = join(work, 'bad.safetensors');
    saveProjectionHead(bad, createProjectionHead({ inputDim: 512, outputDim: 64, rng: createRng(5) }));
    await expect(
      runEval(
        {
          dataset: 'image-folder',
          root: imageRoot,
          model,
          head: bad,
          promptTypes: ['class_name'],
          out: join(work, 'bad'),
        },
        { log: () => {} },
      ),
    ).rejects.toThrow(/head input dim 512 does not match the encoder's embedding dim 24/);
    // the CLIP loaded before the head was refused is released (its sessions' threads end), in each of repeated calls;
    // it was left to a garbage collection that does not see ONNX Runtime's memory (gigabytes for a full-size CLIP)
    const before = processThreads();
    for (let i = 0; i < 3; i++)
      await expect(
        runEval({ dataset: 'image-folder', root: imageRoot, model, head: bad, promptTypes: ['class_name'] }, {}),
      ).rejects.toThrow(/head input dim 512/);
    expect(processThreads()).toBeLessThanOrEqual(before);
  });
});

describe('exp-clip eval rerun on other content', () => {
  it('refuses to replace results when the model files or the images at the same paths changed', async () => {
    const { chmodSync, openSync, writeSync, closeSync } = await import('node:fs');
    const copy = join(work, 'model-copy');
    const root = join(work, 'images-copy');
    copyWritable(model, copy);
    copyWritable(imageRoot, root);
    const opts = {
      dataset: 'image-folder' as const,
      root,
      model: copy,
      promptTypes: ['class_name' as const],
      out: join(work, 'content'),
      cacheDir: join(work, 'cache-content'),
    };
    await runEval(opts, { log: () => {} });
    const published = readFileSync(join(opts.out, 'metrics.json'));
    await runEval(opts, { log: () => {} }); // the same content again: the same set
    // one weight of the vision graph changed in place (the middle of the file: an initializer's raw data)
    const graph = join(copy, 'onnx', 'vision_model.onnx');
    const bytes = readFileSync(graph);
    const at = bytes.length >> 1;
    chmodSync(graph, 0o644); // copied read-only from the fixtures
    const fd = openSync(graph, 'r+');
    writeSync(fd, Uint8Array.of(bytes[at]! ^ 0x01), 0, 1, at);
    closeSync(fd);
    await expect(runEval(opts, { log: () => {} })).rejects.toThrow(
      /already holds the results of an earlier evaluation of the same options on other content \(model: .*model-copy holds other files than the ones they were computed with \(model fingerprint [0-9a-f]{12}… then, [0-9a-f]{12}… now\)\); pass overwrite/,
    );
    expect(readFileSync(join(opts.out, 'metrics.json'))).toEqual(published); // kept
    await runEval({ ...opts, overwrite: true }, { log: () => {} });
    const remodelled = readFileSync(join(opts.out, 'metrics.json'));
    // one image replaced by another of its class's images
    copyWritable(join(root, 'happy', '1.png'), join(root, 'happy', '0.png'));
    await expect(runEval(opts, { log: () => {} })).rejects.toThrow(
      /on other content \(dataset: .*images-copy holds other content than the one they were computed with \(dataset fingerprint [0-9a-f]{12}… then, [0-9a-f]{12}… now: /,
    );
    expect(readFileSync(join(opts.out, 'metrics.json'))).toEqual(remodelled);
    await runEval({ ...opts, overwrite: true }, { log: () => {} });
    // a label-set file that names other classes under the same ids (the items' labels, hence the dataset, unchanged)
    const setFile = join(work, 'label-set.json');
    const names = [...folders, 'contempt'];
    writeFileSync(setFile, JSON.stringify({ id: 'mine', names }));
    const withSet = { ...opts, labelSet: setFile, out: join(work, 'content-set') };
    await runEval(withSet, { log: () => {} });
    writeFileSync(setFile, JSON.stringify({ id: 'mine', names: [...folders, 'other'] }));
    await expect(runEval(withSet, { log: () => {} })).rejects.toThrow(
      /on other content \(label set: "mine" with classes \[.*"contempt"\] then, "mine" with \[.*"other"\] now\)/,
    );
    // the ONNX graphs unchanged, the checkpoint's logit_scale (which the probabilities use) changed to exp(3)
    const st = join(copy, 'model.safetensors');
    const head = readFileSync(st);
    const headerLength = Number(head.readBigUInt64LE(0));
    const [begin] = JSON.parse(head.subarray(8, 8 + headerLength).toString('utf8')).logit_scale.data_offsets;
    chmodSync(st, 0o644);
    const scaleFd = openSync(st, 'r+');
    writeSync(scaleFd, new Uint8Array(Float32Array.of(3).buffer), 0, 4, 8 + headerLength + begin);
    closeSync(scaleFd);
    await expect(runEval(opts, { log: () => {} })).rejects.toThrow(
      /on other content \(model: the logit scale of .*model-copy is 20\.0855\d* now, 14\.2848\d* in the results\)/,
    );
  }, 120_000);
});

describe('exp-clip eval on raw video files (video-folder, ffmpeg)', () => {
  it('decodes, samples 16 segment centres per clip and reports per-clip metrics', async () => {
    const { execFileSync } = await import('node:child_process');
    const { defaultFfmpegPath } = await import('@vlfer/encoders/node');
    const root = join(work, 'raw-videos');
    for (const [c, f] of ['happy', 'sad'].entries()) {
      mkdirSync(join(root, f), { recursive: true });
      for (let k = 0; k < 2; k++)
        execFileSync(defaultFfmpegPath(), [
          '-hide_banner',
          '-loglevel',
          'error',
          '-f',
          'lavfi',
          '-i',
          `testsrc=size=64x48:rate=10,hue=h=${60 * (2 * c + k)}`,
          '-t',
          '2',
          '-c:v',
          'mjpeg',
          join(root, f, `clip${k}.avi`),
        ]);
    }
    const r = await runEval(
      { dataset: 'video-folder', root, model, promptTypes: ['class_name'], out: join(work, 'raw') },
      { log: () => {} },
    );
    expect(r.counts.images).toBe(4 * 16);
    expect(r.results[0]!.folds[0]!.n).toBe(4);
    expect(r.predictions[0]!.ids[0]).toBe('happy/clip0.avi');
    expect(r.warnings.filter((w) => w.includes('ffmpeg'))).toEqual([]);
    // a damaged clip (frames lost while ffmpeg decoded past the damage) is a warning of the results, not a log line
    const bytes = readFileSync(join(root, 'sad', 'clip1.avi'));
    bytes.fill(0xc7, bytes.length >> 1, (bytes.length >> 1) + 4000);
    writeFileSync(join(root, 'sad', 'clip1.avi'), bytes);
    const damaged = await runEval(
      { dataset: 'video-folder', root, model, promptTypes: ['class_name'], out: join(work, 'raw-damaged') },
      { log: () => {} },
    );
    const said = damaged.warnings.filter((w) => w.includes('ffmpeg reported'));
    expect(said).toEqual([
      expect.stringMatching(/clip1\.avi: ffmpeg reported \d+ decoding error\(s\) .* frames were decoded/),
    ]);
    const metrics = JSON.parse(readFileSync(join(work, 'raw-damaged', 'metrics.json'), 'utf8'));
    expect(metrics.warnings).toEqual(expect.arrayContaining(said));
    // faces on video files: refused as the dataset is read, before the model loads (here a folder that holds none)
    const noModel = join(work, 'no-model');
    mkdirSync(noModel, { recursive: true });
    const faces = { modelDir: sharedPath('assets', 'face-detectors') };
    await expect(
      runEval(
        { dataset: 'video-folder', root, model: noModel, faces, out: join(work, 'raw-faces') },
        { log: () => {} },
      ),
    ).rejects.toThrow(/'faces'.*extract the frames of video files first/);
  }, 120_000);
});

describe('logit scale of the probabilities', () => {
  it("uses the checkpoint's exp(logit_scale) by default, records it, and changes no prediction or metric", async () => {
    const { loadReferences } = await import('@vlfer/test-utils');
    const { readdirSync, symlinkSync } = await import('node:fs');
    const promptTypes: ('class_name' | 'expression_ensemble_five')[] = ['class_name', 'expression_ensemble_five'];
    const base = {
      dataset: 'image-folder' as const,
      root: imageRoot,
      promptTypes,
      cacheDir: join(work, 'cache-scale'),
    };
    const fromModel = await runEval({ ...base, model, out: join(work, 'scale-model') }, { log: () => {} });
    const user = await runEval({ ...base, model, logitScale: 100, out: join(work, 'scale-100') }, { log: () => {} });
    // tiny-clip's logit_scale is its initial value, ln(1/0.07): exp = 14.29, not OpenAI's 100
    const want = loadReferences().logit_scale as number;
    expect(fromModel.logitScale!.source).toBe('model');
    expect(fromModel.logitScale!.value).toBeCloseTo(want, 4);
    expect(user.logitScale).toEqual({ value: 100, source: 'user' });
    const metrics = JSON.parse(readFileSync(join(work, 'scale-model', 'metrics.json'), 'utf8'));
    expect(metrics.logitScale).toEqual(fromModel.logitScale);
    expect(JSON.parse(readFileSync(join(work, 'scale-100', 'metrics.json'), 'utf8')).logitScale).toEqual({
      value: 100,
      source: 'user',
    });
    // same predictions and metrics; probabilities are the same logits at another temperature
    expect(user.results).toEqual(fromModel.results);
    expect(readFileSync(join(work, 'scale-100', 'confusion-matrix.csv'), 'utf8')).toBe(
      readFileSync(join(work, 'scale-model', 'confusion-matrix.csv'), 'utf8'),
    );
    for (const t of base.promptTypes) {
      const a = fromModel.predictions[0]!.byPromptType[t]!;
      const b = user.predictions[0]!.byPromptType[t]!;
      expect(b.predicted).toEqual(a.predicted);
      const C = 7;
      let maxErr = 0;
      for (let i = 0; i < a.predicted.length; i++)
        for (let j = 1; j < C; j++) {
          // log p_j − log p_0 scales with the logit scale
          const la = Math.log(a.probabilities.data[i * C + j]!) - Math.log(a.probabilities.data[i * C]!);
          const lb = Math.log(b.probabilities.data[i * C + j]!) - Math.log(b.probabilities.data[i * C]!);
          maxErr = Math.max(maxErr, Math.abs(lb - (la * 100) / fromModel.logitScale!.value));
        }
      expect(maxErr).toBeLessThan(1e-3);
      expect(b.probabilities.data).not.toEqual(a.probabilities.data);
    }
    // ONNX graphs without model.safetensors: no logit_scale, so 100, and the log says so
    const onnxOnly = join(work, 'onnx-only');
    mkdirSync(onnxOnly);
    for (const f of readdirSync(model)) if (f !== 'model.safetensors') symlinkSync(join(model, f), join(onnxOnly, f));
    const lines: string[] = [];
    const bare = await runEval(
      { ...base, promptTypes: ['class_name'], model: onnxOnly },
      { log: (l) => lines.push(l) },
    );
    expect(bare.logitScale).toEqual({ value: 100, source: 'default' });
    expect(lines.join('\n')).toMatch(/onnx-only holds no logit_scale \(ONNX graphs only\): the probabilities use 100/);
  }, 120_000);

  it('refuses a logit scale that is not positive, or one the float32 logits would under- or overflow with', async () => {
    for (const bad of [-1, 1e-44, 1e308])
      await expect(runEval({ dataset: 'image-folder', root: imageRoot, model, logitScale: bad })).rejects.toThrow(
        /logitScale.*expected a number from 1e-30 to 1e\+30/,
      );
  });
});

describe('numbers that say nothing are reported (issue 22, item 10)', () => {
  it('all-zero features: uniform probabilities and one class for every item are warnings in the result and metrics.json', async () => {
    const out = join(work, 'zero');
    const lines: string[] = [];
    const zero = {
      inputDim: 24,
      outputDim: 24,
      project: (x: { dims: readonly number[] }) => ({
        dtype: 'float32' as const,
        dims: [x.dims[0]!, 24] as [number, number],
        data: new Float32Array(x.dims[0]! * 24),
      }),
    };
    const r = await runEval(
      { dataset: 'image-folder', root: imageRoot, model, promptTypes: ['class_name'], cacheDir: undefined, out },
      { projection: zero as never, log: (l) => lines.push(l) },
    );
    expect(r.results[0]!.mean.uar.mean).toBeCloseTo(1 / 7); // the old silent number
    expect(r.warnings.join('\n')).toMatch(
      /class_name: 21 of 21 items score every class the same \(uniform probabilities\): their image features are zero \(norm 0\) after the head/,
    );
    expect(r.warnings.join('\n')).toMatch(
      /class_name: every one of the 21 items is predicted as '\w+': the classifier is degenerate/,
    );
    expect(lines.filter((l) => l.startsWith('warning: '))).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).warnings).toEqual(r.warnings);
  });
  it('a class folder without images and a limit larger than the set are warnings; a clean run has none', async () => {
    const root = join(work, 'with-empty');
    for (const f of ['happy', 'sad', 'angry']) {
      mkdirSync(join(root, f), { recursive: true });
      for (let i = 0; i < 2; i++) await png(join(root, f, `${i}.png`), i + f.length * 7);
    }
    mkdirSync(join(root, 'fear'));
    const r = await runEval({
      dataset: 'image-folder',
      root,
      model,
      promptTypes: ['class_name'],
      classes: ['happiness', 'sadness', 'anger', 'fear'],
      limit: 50,
    });
    expect(r.warnings).toContain(
      "image-folder: no images of class 'fear': their recall is undefined, and UAR is the mean over the other 3 of 4 classes",
    );
    expect(r.warnings).toContain(
      'image-folder: limit 50 is not smaller than the 6 items of the set: all of them are evaluated (no subset)',
    );
    const clean = await runEval({ dataset: 'image-folder', root: imageRoot, model, promptTypes: ['class_name'] });
    // the random-weight tiny CLIP does predict one class for all 21 images: that warning is right; no others
    expect(clean.warnings.filter((w) => !/the classifier is degenerate/.test(w))).toEqual([]);
    expect(clean.warnings.join('\n')).not.toMatch(/no images of class|limit|uniform/);
  });
});
