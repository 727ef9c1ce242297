import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '@vlfer/core';
import { FeatureCache } from '@vlfer/core/node';
import { describe, expect, it } from 'vitest';
import { checkEncodeOptions, planEncodeBatches, type EncodeImagesOptions } from './extract.js';

describe('the stages of encodeImages', () => {
  it('planEncodeBatches: cache hits fill their rows; a window with any miss is encoded whole, others not at all', () => {
    const d = 2;
    const cache = new FeatureCache({
      dir: mkdtempSync(join(tmpdir(), 'vlfer-plan-')),
      namespace: { model: 'plan', dtype: 'fp32', preprocess: 'clip' },
    });
    const keys = ['a', 'b', 'c', 'd', 'e'].map((k) => k.repeat(64));
    // items 0, 1 (the whole first window) and 3 are cached
    for (const i of [0, 1, 3]) cache.set(keys[i]!, Float32Array.from([i, i + 0.5]));
    const out = new Float32Array(keys.length * d);
    const plan = planEncodeBatches(keys, d, 2, cache, out);
    expect(plan.batches).toEqual([[2, 3], [4]]);
    expect([...plan.missing].sort()).toEqual([2, 4]);
    expect(plan.cached).toBe(3);
    expect([...out]).toEqual([0, 0.5, 1, 1.5, 0, 0, 3, 3.5, 0, 0]);
    // without a cache every window is encoded
    const none = planEncodeBatches(keys, d, 3, undefined, new Float32Array(keys.length * d));
    expect(none).toEqual({
      batches: [
        [0, 1, 2],
        [3, 4],
      ],
      missing: new Set([0, 1, 2, 3, 4]),
      cached: 0,
    });
  });

  it('checkEncodeOptions: defaults (pil, 32) and one error per bad option, naming it', () => {
    const model = { embeddingDim: 2 } as EncodeImagesOptions['model'];
    const base: EncodeImagesOptions = { model, items: ['x.png'], mode: 'clip' };
    expect(checkEncodeOptions(base)).toEqual({ mode: 'clip', resizer: 'pil', batchSize: 32 });
    expect(() => checkEncodeOptions({ ...base, batchSize: 0 })).toThrow(/batchSize.*positive integer, got 0/);
    expect(() => checkEncodeOptions({ ...base, keys: [] })).toThrow(/0 keys for 1 items/);
    expect(() => checkEncodeOptions({ ...base, mode: 'bogus' as 'clip' })).toThrow(InvalidArgumentError);
    expect(() => checkEncodeOptions({ ...base, items: 'x.png' as unknown as string[] })).toThrow(
      /expected an array of images/,
    );
  });
});
