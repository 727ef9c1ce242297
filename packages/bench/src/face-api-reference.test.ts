import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { AbortedError, type ProgressEvent } from '@vlfer/core';
import { runFaceApiReference } from './face-api-reference.js';

describe('supervised reference row: face-api.js expression model on FER2013 PrivateTest', () => {
  it('reproduces the known accuracy 0.569 on all 3,589 images (tfjs wasm)', async () => {
    const r = await runFaceApiReference({ root: sharedPath('data', 'fer2013-privatetest') });
    expect(r.backend).toBe('wasm');
    expect(r.items.length).toBe(3589);
    expect(Math.abs(r.report.war - 0.569)).toBeLessThan(0.0015);
    expect(r.report.uar).toBeGreaterThan(0);
    expect(r.report.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(3589);
  }, 300_000);
  it('reports each image predicted, and stops between images at the signal', async () => {
    const root = sharedPath('data', 'fer2013-privatetest');
    const events: ProgressEvent[] = [];
    const r = await runFaceApiReference({ root, limit: 14, onProgress: (e) => events.push(e) });
    expect(events.map((e) => `${e.phase} ${e.done}/${e.total} ${e.unit}`)).toEqual(
      Array.from({ length: 14 }, (_, k) => `predict ${k + 1}/14 images`),
    );
    const controller = new AbortController();
    const stopped = runFaceApiReference({
      root,
      limit: 14,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.done === 3) controller.abort(new Error('SIGINT'));
      },
    });
    await expect(stopped).rejects.toThrow(AbortedError);
    expect(r.items.length).toBe(14);
  }, 120_000);
});
