import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError, parseOptions, type ProgressEvent, type Tensor2D } from '@vlfer/core';
import { BASIC_7, type ImageItem } from '@vlfer/datasets';
import type { EncodeItem } from '@vlfer/encoders/node';
import type { FaceCropper } from '@vlfer/faces/node';
import { sharedPath } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EvalData } from './data.js';
import {
  classifyAndScore,
  confusionMatrixCsv,
  evalMetrics,
  evalDataWarnings,
  evalOutputFiles,
  evalPrompts,
  foldPredictions,
  loadEvalModel,
  predictionsCsv,
  predictionsCsvBytes,
  resolveLogitScale,
  scoreFold,
  sharedLabelSet,
  type EvalResult,
} from './evaluate.js';
import {
  createEvalEncoder,
  createEvalFaceCropper,
  encodeEvalData,
  sampleClips,
  selectFaces,
  type EncodeCounts,
  type EvalEncoder,
} from './eval-encode.js';
import { EvalOptionsSchema, type EvalOptionsInput } from './options.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-expclip-stages-'));
const opts = (o: Partial<EvalOptionsInput> = {}) =>
  parseOptions(EvalOptionsSchema, { dataset: 'image-folder', root: work, model: 'm', ...o }, 'test');
const t2 = (rows: number[][]): Tensor2D => ({
  dtype: 'float32',
  data: Float32Array.from(rows.flat()),
  dims: [rows.length, rows[0]!.length],
});
const twoClasses = { id: 'ab', names: ['a', 'b'] };
const images = (labels: number[], fold: number | null = null, total = labels.length): EvalData => ({
  fold,
  labelSet: twoClasses,
  dropped: [],
  source: work,
  labelSetReason: 'given',
  total,
  subset: null,
  warnings: [],
  kind: 'images',
  items: labels.map((label, i) => ({ path: join(work, `${fold ?? 0}-${i}.png`), label })),
});

/** An encoder that writes each item's index in the call sequence as its one-dimensional feature. */
function fakeEncoder(): EvalEncoder & { calls: number[] } {
  const counts: EncodeCounts = { images: 0, cached: 0, encoded: 0, damagedCacheEntries: 0 };
  const calls: number[] = [];
  return {
    counts,
    dim: 1,
    calls,
    close: async () => undefined,
    encode: async (items: EncodeItem[]) => {
      calls.push(items.length);
      const features = t2(items.map((_, i) => [counts.images + i]));
      counts.images += items.length;
      counts.encoded += items.length;
      return { features, keys: items.map((_, i) => `k${counts.images - items.length + i}`), cached: 0, encoded: 0 };
    },
  };
}

describe('evaluation stages', () => {
  it('resolveLogitScale: a user number, else the model value, else 100 (default)', () => {
    expect(resolveLogitScale(30, 14.3)).toEqual({ value: 30, source: 'user' });
    expect(resolveLogitScale('model', 14.3)).toEqual({ value: 14.3, source: 'model' });
    expect(resolveLogitScale('model', null)).toEqual({ value: 100, source: 'default' });
    // a checkpoint whose exp(logit_scale) the float32 logits cannot take: named as the model's, with what to give
    expect(() => resolveLogitScale('model', 5.5e34)).toThrow(
      /'logitScale' passed to 'evaluateZeroShot': is 'model', and the model's own logit_scale gives exp\(logit_scale\) = 5\.5e\+34, .*give a number \(CLI --logit-scale\), e\.g\. 100/,
    );
    expect(resolveLogitScale(100, 5.5e34)).toEqual({ value: 100, source: 'user' });
  });

  it('evalDataWarnings: names empty classes and a limit not below the set; none for a clean set', () => {
    expect(evalDataWarnings({ dataset: 'image-folder', limit: undefined }, [images([0, 1])])).toEqual([]);
    const w = evalDataWarnings({ dataset: 'dfew', limit: 5 }, [images([0, 0], 2, 3)]);
    expect(w).toEqual([
      "dfew fold 2: no images of class 'b': their recall is undefined, and UAR is the mean over the other 1 of 2 classes",
      'dfew fold 2: limit 5 is not smaller than the 3 items of the set: all of them are evaluated (no subset)',
    ]);
    // the loader's own warnings (a video list's unpadded frame numbers) come first, fold by fold
    const order = 'list.txt: the frames of 1 of 2 clips are numbered with numbers of different widths';
    expect(
      evalDataWarnings({ dataset: 'dfew', limit: undefined }, [{ ...images([0, 1], 1), warnings: [order] }]),
    ).toEqual([order]);
  });

  it('sharedLabelSet: the folds share one label set, else the two folds are named', () => {
    expect(sharedLabelSet([images([0], 1), images([1], 2)])).toBe(twoClasses);
    const other = { ...images([0], 2), labelSet: { id: 'xy', names: ['x', 'y'] } };
    expect(() => sharedLabelSet([images([0], 1), other])).toThrow('fold 2 has label set xy, fold 1 has ab');
  });

  it('evalPrompts: curated prompts per type; class names without curated prompts are logged as template-filled', () => {
    const lines: string[] = [];
    const p = evalPrompts({ promptTypes: ['class_name', 'expression_ensemble_five'] }, BASIC_7, {
      log: (l) => lines.push(l),
    });
    expect(Object.keys(p.byType)).toEqual(['class_name', 'expression_ensemble_five']);
    expect(p.fromTemplates).toEqual([]);
    expect(lines).toEqual([]);
    const q = evalPrompts(
      { promptTypes: ['class_name'] },
      { id: 'x', names: ['happiness', 'boredom'] },
      {
        log: (l) => lines.push(l),
      },
    );
    expect(q.fromTemplates).toEqual(['boredom']);
    expect(lines[0]).toMatch(/no curated Exp-CLIP prompts for boredom/);
  });

  it('scoreFold: argmax predictions, softmax rows, UAR/WAR, and warnings for flat rows and one predicted class', () => {
    const ctx = { promptType: 'class_name' as const, fold: 3, classNames: ['a', 'b'], projected: true };
    const s = scoreFold(
      t2([
        [2, 1],
        [0, 5],
        [1, 3],
      ]),
      [0, 1, 0],
      ctx,
    );
    expect(s.predicted).toEqual([0, 1, 1]);
    expect(s.result).toMatchObject({
      fold: 3,
      n: 3,
      uar: 0.75,
      war: 2 / 3,
      confusionMatrix: [
        [1, 1],
        [0, 1],
      ],
    });
    expect(s.probabilities.data[0]! + s.probabilities.data[1]!).toBeCloseTo(1, 6);
    expect(s.warnings).toEqual([]);
    const flat = scoreFold(
      t2([
        [1, 1],
        [4, 2],
      ]),
      [0, 1],
      ctx,
    );
    expect(flat.warnings).toEqual([
      expect.stringMatching(/^class_name fold 3: 1 of 2 items score every class the same .* after the head/),
      expect.stringMatching(/^class_name fold 3: every one of the 2 items is predicted as 'a'/),
    ]);
    expect(() => scoreFold(t2([[1, 2]]), [0, 1], ctx)).toThrow(InvalidArgumentError);
  });

  it('foldPredictions: ids relative to the root, labels in item order, nothing predicted yet', () => {
    const [p] = foldPredictions(opts(), [images([1, 0], 4)]);
    expect(p).toEqual({ fold: 4, ids: ['4-0.png', '4-1.png'], labels: [1, 0], byPromptType: {} });
  });

  it('encodeEvalData: units of batchSize images numbered across folds; a shard does only its own, in order', async () => {
    const o = opts({ batchSize: 2 });
    const data = [images([0, 1, 0, 1, 0], 1), images([1, 1, 0], 2)]; // units: fold 1 → 0, 1, 2; fold 2 → 3, 4
    const all = fakeEncoder();
    const full = await encodeEvalData(o, data, { encoder: all, shard: null });
    expect(all.calls).toEqual([2, 2, 1, 2, 1]);
    expect([full.units, full.unitsDone]).toEqual([5, 5]);
    expect(full.features.map((f) => Array.from(f.data))).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7],
    ]);
    expect(full.data.map((d) => d.items.length)).toEqual([5, 3]);
    expect(full.datasetFingerprint).toMatch(/^[0-9a-f]{64}$/);
    const odd = fakeEncoder();
    const shard = await encodeEvalData(o, data, { encoder: odd, shard: { index: 1, count: 2 } });
    expect(odd.calls).toEqual([2, 2]); // units 1 (fold 1, items 2-3) and 3 (fold 2, items 0-1)
    expect([shard.units, shard.unitsDone]).toEqual([5, 2]);
    expect(shard.data.map((d) => (d.items as ImageItem[]).map((i) => i.path.slice(work.length + 1)))).toEqual([
      ['1-2.png', '1-3.png'],
      ['2-0.png', '2-1.png'],
    ]);
    const aborted = new AbortController();
    aborted.abort(new Error('stop'));
    await expect(
      encodeEvalData(o, data, { encoder: fakeEncoder(), shard: null }, { signal: aborted.signal }),
    ).rejects.toThrow(/evaluation/);
  });

  it("encode progress counts the fold's images with faces selected: each phase once up to its total, cached a running total", async () => {
    const dir = join(work, 'progress');
    mkdirSync(dir, { recursive: true });
    const data = images([0, 1, 0, 1, 0], 1);
    for (const [i, it] of (data.items as ImageItem[]).entries()) {
      it.path = join(dir, it.path.slice(work.length + 1));
      await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 40 * i, g: 9, b: 9 } } })
        .png()
        .toFile(it.path);
    }
    const faces = [1, 0, 2, 1, 0]; // units of 2: faces 1+0, 2+1, 0 (the last unit keeps nothing)
    const cropper = {
      cropImages: async (items: ImageItem[], hooks: { onProgress?: (e: ProgressEvent) => void }) =>
        items.flatMap((it, i) => {
          hooks.onProgress?.({ phase: 'faces', done: i + 1, total: items.length, unit: 'images' });
          const n = faces[(data.items as ImageItem[]).indexOf(it)]!;
          return Array.from({ length: n }, (_, face) => ({ ...it, source: it.path, face }));
        }),
    } as unknown as FaceCropper;
    const o = opts({ model: sharedPath('fixtures', 'tiny-clip'), batchSize: 2, cacheDir: join(dir, 'cache') });
    const model = await loadEvalModel(o);
    try {
      for (const run of [0, 1]) {
        const events: ProgressEvent[] = [];
        const encoder = createEvalEncoder(o, model.clip, 'fingerprint', { onProgress: (e) => events.push(e) });
        await encodeEvalData(o, [data], { encoder, cropper, shard: null }, { onProgress: (e) => events.push(e) });
        for (const phase of ['faces', 'encode fold 1']) {
          const done = events.filter((e) => e.phase === phase).map((e) => e.done);
          expect(done, phase).toEqual([...done].sort((a, b) => a - b));
          expect(done.at(-1), phase).toBe(5);
          expect(new Set(events.filter((e) => e.phase === phase).map((e) => e.total)), phase).toEqual(new Set([5]));
        }
        const cached = events.filter((e) => e.cached !== undefined).map((e) => e.cached);
        expect(cached.at(-1)).toBe(encoder.counts.cached);
        expect(encoder.counts).toMatchObject({ images: 4, cached: run === 0 ? 0 : 4 });
      }
      // a shard counts its own units' images: units 0 and 2 (images 0, 1 and 4) of 2/2 → total 3, ending there
      const events: ProgressEvent[] = [];
      const encoder = createEvalEncoder(o, model.clip, 'fingerprint', { onProgress: (e) => events.push(e) });
      const hooks = { onProgress: (e: ProgressEvent) => events.push(e) };
      await encodeEvalData(o, [data], { encoder, cropper, shard: { index: 0, count: 2 } }, hooks);
      for (const phase of ['faces', 'encode fold 1'])
        expect(
          events.filter((e) => e.phase === phase).map((e) => [e.done, e.total]),
          phase,
        ).toContainEqual([3, 3]);
    } finally {
      await model.clip.dispose();
    }
  }, 60_000);

  it('loadEvalModel + classifyAndScore (tiny-clip): per prompt type and fold, warnings passed on as they arise', async () => {
    const o = opts({
      model: sharedPath('fixtures', 'tiny-clip'),
      promptTypes: ['class_name', 'expression_ensemble_five'],
    });
    const model = await loadEvalModel(o);
    try {
      expect(model.logitScale.source).toBe('model');
      expect(model.projection).toBeUndefined();
      const data = [images([0, 1, 1], 1), images([1, 0], 2)];
      const D = model.clip.embeddingDim;
      const zeros = (n: number): Tensor2D => ({ dtype: 'float32', data: new Float32Array(n * D), dims: [n, D] });
      const predictions = foldPredictions(o, data);
      const seen: string[] = [];
      const r = await classifyAndScore(
        o,
        {
          model,
          labelSet: twoClasses,
          prompts: evalPrompts(o, twoClasses),
          data,
          features: [zeros(3), zeros(2)],
          predictions,
        },
        { onWarning: (w) => seen.push(w) },
      );
      expect(r.results.map((p) => [p.promptType, p.folds.map((f) => [f.fold, f.n])])).toEqual([
        [
          'class_name',
          [
            [1, 3],
            [2, 2],
          ],
        ],
        [
          'expression_ensemble_five',
          [
            [1, 3],
            [2, 2],
          ],
        ],
      ]);
      expect(predictions[1]!.byPromptType.expression_ensemble_five!.probabilities.dims).toEqual([2, 2]);
      expect(seen).toEqual(r.warnings);
      expect(seen.filter((w) => /items score every class the same/.test(w))).toHaveLength(4);
    } finally {
      await model.dispose();
    }
  });

  it('selectFaces without a cropper keeps the images as they are', async () => {
    const group: ImageItem[] = [{ path: 'x.png', label: 0 }];
    expect(await selectFaces(group, undefined)).toBe(group);
  });

  describe('sampleClips', () => {
    const clip = join(work, 'clip');
    beforeAll(async () => {
      mkdirSync(clip);
      for (let i = 0; i < 5; i++)
        writeFileSync(
          join(clip, `${String(i).padStart(5, '0')}.png`),
          await sharp(new Uint8Array(8 * 8 * 3).fill(i * 40), { raw: { width: 8, height: 8, channels: 3 } })
            .png()
            .toBuffer(),
        );
    });
    it('samples framesPerClip frames of each frame directory, short clips padded', async () => {
      const s = await sampleClips([{ frameDir: clip, numFrames: 5, label: 2, line: 1 }], {
        framesPerClip: 8,
        shortClip: 'edge-pad',
      });
      expect(s.clips).toEqual([{ frameDir: clip, numFrames: 5, label: 2, line: 1 }]);
      expect(s.frames).toHaveLength(1);
      expect(s.frames[0]).toHaveLength(8);
      expect(s.frames[0]!.every((f) => typeof f === 'string' && f.startsWith(clip))).toBe(true);
    });
  });

  it('createEvalFaceCropper: none without faces; video files with faces are refused, naming the option', async () => {
    expect(await createEvalFaceCropper(opts(), [images([0])])).toBeUndefined();
    const videos: EvalData = { ...images([0]), kind: 'video-files', items: [{ path: 'clip.mp4', label: 0 }] };
    await expect(
      createEvalFaceCropper(opts({ faces: { modelDir: sharedPath('assets', 'face-detectors') } }), [videos]),
    ).rejects.toThrow(/faces.*extract the frames of video files first/);
  });

  it('evalOutputFiles is made of evalMetrics, confusionMatrixCsv and predictionsCsv', () => {
    const r = {
      options: opts(),
      labelSet: twoClasses,
      results: [
        {
          promptType: 'class_name',
          folds: [
            {
              fold: null,
              n: 2,
              uar: 0.5,
              war: 0.5,
              perClassRecall: [1, 0],
              confusionMatrix: [
                [1, 0],
                [1, 0],
              ],
            },
          ],
          mean: { uar: { mean: 0.5, std: 0 }, war: { mean: 0.5, std: 0 } },
        },
      ],
      predictions: [
        {
          fold: null,
          ids: ['x.png', 'y.png'],
          labels: [0, 1],
          byPromptType: {
            class_name: {
              predicted: [0, 0],
              probabilities: t2([
                [0.75, 0.25],
                [0.5, 0.5],
              ]),
            },
          },
        },
      ],
    } as unknown as EvalResult;
    expect(confusionMatrixCsv(r)).toBe(
      'prompt_type,fold,true_class,pred_a,pred_b\nclass_name,,a,1,0\nclass_name,,b,1,0\n',
    );
    // classes named as the fixed columns: every column name once (before: `fold` and `true_class` twice)
    const clash = { ...r, labelSet: { ...r.labelSet, names: ['fold', 'true_class'] } } as EvalResult;
    const header = confusionMatrixCsv(clash).split('\n')[0]!.split(',');
    expect(header).toEqual(['prompt_type', 'fold', 'true_class', 'pred_fold', 'pred_true_class']);
    expect(predictionsCsv(r).split('\n').slice(1)).toEqual([
      'class_name,,x.png,0,a,0,a,1,0.75,0.25',
      'class_name,,y.png,1,b,0,a,0,0.5,0.5',
      '',
    ]);
    const files = evalOutputFiles(r);
    // written as bytes (a large set's file is longer than a string can be), the same text
    expect(Buffer.from(files['predictions.csv']!).toString()).toBe(predictionsCsv(r));
    for (const piece of [1, 10, 40]) expect(predictionsCsvBytes(r, piece).toString()).toBe(predictionsCsv(r));
    const metrics = JSON.parse(files['metrics.json'] as string);
    expect(metrics.promptTypes.class_name.folds[0].perClassRecall).toEqual({ a: 1, b: 0 });
    // one fold: its std over folds is undefined, written as null (before: 0, as if the folds had agreed)
    expect([metrics.promptTypes.class_name.uarStdOverFolds, metrics.promptTypes.class_name.warStdOverFolds]).toEqual([
      null,
      null,
    ]);
    const folds = r.results[0]!.folds;
    const two = {
      ...r,
      results: [
        {
          ...r.results[0]!,
          folds: [folds[0]!, { ...folds[0]!, fold: 2 }],
          mean: { uar: { mean: 0.5, std: 0.25 }, war: { mean: 0.5, std: 0.125 } },
        },
      ],
    } as EvalResult;
    const twoFolds = (evalMetrics(two).promptTypes as Record<string, Record<string, unknown>>).class_name!;
    expect([twoFolds.uarStdOverFolds, twoFolds.warStdOverFolds]).toEqual([0.25, 0.125]);
  });
});
