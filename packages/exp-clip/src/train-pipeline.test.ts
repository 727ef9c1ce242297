import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOptions } from '@vlfer/core';
import type { Teacher } from '@vlfer/llm-knowledge';
import { copyClassFolderSubset, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { TrainOptionsSchema } from './options.js';
import { prepareTrainingData } from './train.js';

/** A teacher that answers after `ms`, a vector from the image's name, recording each call's size and the overlap. */
function slowTeacher(ms: number) {
  const calls: number[] = [];
  let inFlight = 0;
  let most = 0;
  const teacher: Teacher = {
    id: 'test:slow',
    source: 'test',
    dim: 4,
    async embed(images) {
      calls.push(images.length);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
      return images.map((p) => {
        const c = p.split('/').pop()!;
        return Float32Array.of(c.length, c.charCodeAt(0), c.charCodeAt(1) || 1, 1);
      });
    },
  };
  return { teacher, calls, most: () => most };
}

describe('prepareTrainingData asks the teacher for teacherConcurrency images at a time, while CLIP encodes on', () => {
  it('groups units into calls of ≥ teacherConcurrency images; the same rows, in the same order, as one unit a call', async () => {
    const work = mkdtempSync(join(tmpdir(), 'vlfer-train-pipeline-'));
    const unlabelled = join(work, 'faces');
    await copyClassFolderSubset(sharedPath('data', 'fer2013-privatetest'), unlabelled, 6); // 42 images
    const options = (teacherConcurrency: number) =>
      parseOptions(
        TrainOptionsSchema,
        {
          unlabelled,
          model: sharedPath('fixtures', 'tiny-clip'),
          teacher: 'import',
          teacherSource: join(work, 'unused.jsonl'),
          out: join(work, 'out'),
          outputDim: 4,
          encodeBatchSize: 8,
          teacherConcurrency,
        },
        'test',
      );
    const one = slowTeacher(5);
    const progress: number[] = [];
    const ctx = { log: () => {}, onProgress: (e: { done: number }) => progress.push(e.done) };
    const a = await prepareTrainingData(options(1), one.teacher, ctx, null);
    // one call per unit of 8 (the last 2), one at a time, progress after each unit
    expect(one.calls).toEqual([8, 8, 8, 8, 8, 2]);
    expect(progress).toEqual([8, 16, 24, 32, 40, 42]);
    const grouped = slowTeacher(5);
    progress.length = 0;
    const b = await prepareTrainingData(options(20), grouped.teacher, ctx, null);
    // before: still one call of 8 per unit (the requests in flight capped at the unit's size)
    expect(grouped.calls).toEqual([24, 18]);
    expect(progress).toEqual([24, 42]);
    expect(grouped.most()).toBe(1); // one group at a time: targets appended in unit order
    expect(b.paths).toEqual(a.paths);
    expect(Array.from(b.targets.data)).toEqual(Array.from(a.targets.data));
    expect(b.targets.dims).toEqual([42, 4]);
    expect(Array.from(b.features.data)).toEqual(Array.from(a.features.data));
    // progress counts the images the feature cache served (a resumed run's), so the bar's rate leaves them out
    const events: { done: number; cached?: number }[] = [];
    const cacheDir = join(work, 'cache');
    const cached = (o: ReturnType<typeof options>) => ({ ...o, cacheDir });
    await prepareTrainingData(cached(options(1)), slowTeacher(0).teacher, { log: () => {} }, null);
    await prepareTrainingData(
      cached(options(1)),
      slowTeacher(0).teacher,
      { log: () => {}, onProgress: (e) => events.push(e) },
      null,
    );
    expect(events.map((e) => [e.done, e.cached])).toEqual([8, 16, 24, 32, 40, 42].map((n) => [n, n]));
  }, 120_000);
});
