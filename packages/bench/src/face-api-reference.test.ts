import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
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
});
