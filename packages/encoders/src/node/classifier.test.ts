import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineLabelSet, VlferError } from '@vlfer/core';
import { expClipPrompts } from '@vlfer/llm-knowledge';
import { sharedPath, processThreads } from '@vlfer/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { zeroShotClassifier as webZeroShotClassifier } from '../web/index.js';
import { classify, decodeImage, loadClip, zeroShotClassifier, type ClipModel } from './index.js';

const tiny = sharedPath('fixtures', 'tiny-clip');
const dir = sharedPath('data', 'fer2013-privatetest', 'happy');
const files = readdirSync(dir)
  .sort()
  .slice(0, 3)
  .map((f) => join(dir, f));
// the seven basic classes in Exp-CLIP's order (BASIC_7 of @vlfer/datasets)
const BASIC_7 = defineLabelSet('basic-7', ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear']);

/** The model with its text encoder counted. */
function counting(clip: ClipModel): { model: ClipModel; texts: () => number } {
  let n = 0;
  const model: ClipModel = {
    ...clip,
    encodeTexts: (texts) => {
      n += 1;
      return clip.encodeTexts(texts);
    },
  };
  return { model, texts: () => n };
}

afterEach(() => vi.restoreAllMocks());

describe('zeroShotClassifier', () => {
  it('encodes the prompts once, takes a LabelSet and Exp-CLIP prompts, gives { label, index, score } as classify does', async () => {
    const clip = await loadClip({ model: tiny });
    try {
      const { model, texts } = counting(clip);
      const prompts = expClipPrompts('expression_ensemble_ten', BASIC_7);
      const fer = await zeroShotClassifier({ model, labels: BASIC_7, prompts });
      expect(fer.labels).toEqual(BASIC_7.names);
      expect(fer.labelSet).toBe(BASIC_7);
      expect(fer.promptsPerClass).toBe(10);
      const first = await fer(files);
      const again = await fer(files.slice(0, 1));
      await fer([files[2]!]);
      expect(texts()).toBe(1);
      expect(again[0]).toEqual(first[0]);
      expect(first).toHaveLength(3);
      for (const row of first) {
        expect(row).toHaveLength(7);
        for (const p of row) expect(p.index).toBe(BASIC_7.names.indexOf(p.label));
        expect(row.map((p) => p.score)).toEqual([...row.map((p) => p.score)].sort((a, b) => b - a));
        expect(row.reduce((s, p) => s + p.score, 0)).toBeCloseTo(1, 5);
      }
      // the one-call API gives the same scores (and now takes a LabelSet too)
      const once = await classify(clip, files, { labels: BASIC_7, prompts });
      expect(once).toEqual(first.map((row) => row.map(({ label, score }) => ({ label, score }))));
      await fer.dispose();
    } finally {
      await clip.dispose();
    }
  });

  it('after dispose(): one clear error, no tensor dump; the model passed in is still usable', async () => {
    const clip = await loadClip({ model: tiny });
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const fer = await zeroShotClassifier({ model: clip, labels: ['happiness', 'sadness'] });
      await fer.dispose();
      await fer.dispose(); // a second dispose is a no-op
      expect(fer.disposed).toBe(true);
      const error = await fer(files).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VlferError);
      expect((error as Error).message).toBe(
        'zeroShotClassifier: the classifier was called after dispose(); build a new classifier with zeroShotClassifier(…) to classify again',
      );
      // the classifier did not own the model
      expect((await classify(clip, files.slice(0, 1), { labels: ['a', 'b'] }))[0]).toHaveLength(2);
    } finally {
      await clip.dispose();
    }
    expect(logged).not.toHaveBeenCalled();
  });

  it("a disposed ClipModel refuses with one VlferError instead of ONNX Runtime's dump (both runtimes)", async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    for (const backend of ['onnx', 'graphs'] as const) {
      const clip = await loadClip({ model: tiny, backend });
      await clip.dispose();
      await clip.dispose();
      await expect(classify(clip, files, { labels: ['happiness', 'sadness'] })).rejects.toThrow(
        /^ClipModel\.encodeTexts: this CLIP model was disposed \(dispose\(\) was called\); load it again to use it$/,
      );
      const S = clip.preprocessor.cropSize;
      await expect(
        clip.encodePixels({ dtype: 'float32', data: new Float32Array(3 * S * S), dims: [1, 3, S, S] }),
      ).rejects.toThrow(VlferError);
    }
    expect(logged).not.toHaveBeenCalled();
  });

  it('loads and owns a model given by path; checks its options', async () => {
    const fer = await zeroShotClassifier({ model: tiny, labels: ['happiness', 'sadness'], prompts: 'a {} face.' });
    expect((await fer(files)).map((r) => r.length)).toEqual([2, 2, 2]);
    await fer.dispose();
    await expect(zeroShotClassifier({ model: tiny, labels: [] })).rejects.toThrow(
      /'labels' passed to 'zeroShotClassifier': expected a LabelSet .* or a non-empty array of class names/,
    );
    await expect(
      zeroShotClassifier({
        model: tiny,
        labels: BASIC_7,
        prompts: expClipPrompts('class_name', ['happiness', 'anger']),
      }),
    ).rejects.toThrow(/'prompts' passed to 'zeroShotClassifier': were made for the classes \[happiness, anger\]/);
    // a mode refused: before the model is loaded (it was loaded, then left to the garbage collector, threads and all)
    const before = processThreads();
    for (let i = 0; i < 3; i++)
      await expect(zeroShotClassifier({ model: tiny, labels: BASIC_7, mode: 'bogus' as 'clip' })).rejects.toThrow(
        /'mode' passed to 'zeroShotClassifier'/,
      );
    expect(processThreads()).toBeLessThanOrEqual(before);
  });

  it('the browser twin (@vlfer/encoders/web) gives the same predictions from decoded pixels', async () => {
    const clip = await loadClip({ model: tiny });
    try {
      const node = await zeroShotClassifier({ model: clip, labels: BASIC_7, mode: 'clip' });
      const web = await webZeroShotClassifier({ model: clip, labels: BASIC_7, mode: 'clip', batchSize: 2 });
      const a = await node(files);
      const b = await web(await Promise.all(files.map((f) => decodeImage(f))));
      expect(b.map((r) => r.map((p) => p.index))).toEqual(a.map((r) => r.map((p) => p.index)));
      b.forEach((row, i) => row.forEach((p, j) => expect(p.score).toBeCloseTo(a[i]![j]!.score, 5)));
      await web.dispose();
      await expect(web([])).rejects.toThrow(/after dispose\(\)/);
      await node.dispose();
    } finally {
      await clip.dispose();
    }
  });
});
