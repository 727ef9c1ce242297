import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '@vlfer/core';
import { loadReferences, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { classify, loadClip, safetensorsLogitScale } from './index.js';

const tiny = sharedPath('fixtures', 'tiny-clip');
const pt = join(import.meta.dirname, '..', '..', 'test-data', 'openai-clip', 'openai-tiny-state-dict.pt');
// PyTorch's model.logit_scale.exp() of tiny-clip (shared/tools/make_fixtures.py): 14.29, its initial value
const want = loadReferences().logit_scale as number;

describe("the checkpoint's logit scale", () => {
  it('is read from model.safetensors (beside ONNX graphs or alone) and from an OpenAI .pt', async () => {
    for (const options of [
      { model: tiny },
      { model: tiny, backend: 'graphs' as const },
      { model: pt, tokenizer: tiny, config: join(tiny, 'config.json') },
    ]) {
      const clip = await loadClip({ ...options, towers: ['text'] });
      expect(clip.logitScale).toBeCloseTo(want, 4);
      await clip.dispose();
    }
    expect(safetensorsLogitScale(join(tmpdir(), 'no-such-model.safetensors'))).toBeNull();
  });

  it('is null for a safetensors file without logit_scale; a malformed one is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-scale-'));
    const none = join(dir, 'none.safetensors');
    writeFileSync(none, encodeSafetensors({ w: { dims: [1], data: new Float32Array([1]) } }));
    expect(safetensorsLogitScale(none)).toBeNull();
    const two = join(dir, 'two.safetensors');
    writeFileSync(two, encodeSafetensors({ logit_scale: { dims: [2], data: new Float32Array([1, 2]) } }));
    expect(() => safetensorsLogitScale(two)).toThrow(/two\.safetensors.*logit_scale.*expected one finite value, got 2/);
    const one = join(dir, 'one.safetensors');
    writeFileSync(one, encodeSafetensors({ logit_scale: { dims: [], data: new Float32Array([Math.log(100)]) } }));
    expect(safetensorsLogitScale(one)).toBeCloseTo(100, 4);
  });

  it("classify: logitScale 'model' sharpens nothing but the probabilities (same order as 100)", async () => {
    const clip = await loadClip({ model: tiny });
    try {
      const img = sharedPath('data', 'fer2013-privatetest', 'happy');
      const { readdirSync } = await import('node:fs');
      const files = readdirSync(img)
        .sort()
        .slice(0, 4)
        .map((f) => join(img, f));
      const labels = ['happiness', 'sadness', 'anger'];
      const a = await classify(clip, files, { labels });
      const b = await classify(clip, files, { labels, logitScale: 'model' });
      expect(b.map((r) => r.map((s) => s.label))).toEqual(a.map((r) => r.map((s) => s.label)));
      expect(b[0]![0]!.score).not.toBeCloseTo(a[0]![0]!.score, 6);
      // before: 1e-44 (every logit underflowed to 0: all items the first label) and 1e308 (overflow) were taken
      for (const bad of [0, 1e-44, 1e-31, 1e31, 1e308, Infinity, NaN])
        await expect(classify(clip, files, { labels, logitScale: bad })).rejects.toThrow(
          new RegExp(
            `'logitScale' passed to 'buildZeroShotClassifier'.*must be a number from 1e-30 to 1e\\+30 .*got ${String(bad).replace('+', '\\+')}$`,
          ),
        );
      for (const edge of [1e-30, 1e30]) {
        const c = await classify(clip, files, { labels, logitScale: edge });
        expect(c.map((r) => r.map((s) => s.label))).toEqual(a.map((r) => r.map((s) => s.label)));
      }
    } finally {
      await clip.dispose();
    }
  });
});
