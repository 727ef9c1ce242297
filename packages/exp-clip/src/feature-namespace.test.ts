import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '@vlfer/core/node';
import { forwardGraphsId } from '@vlfer/encoders';
import { loadClip } from '@vlfer/encoders/node';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { clipFeatureNamespace } from './eval-encode.js';

const tiny = sharedPath('fixtures', 'tiny-clip');
const settings = { dtype: 'fp32', preprocess: 'exp-clip', resizer: 'pil' };
const fingerprint = 'f'.repeat(64);

describe('clipFeatureNamespace: feature caches keyed by what decides the features', () => {
  it("the 'graphs' runtime's graph version and kind are in the namespace; the 'onnx' runtime's namespace has none", async () => {
    const graphs = await loadClip({ model: tiny, backend: 'graphs', towers: ['vision'] });
    const onnx = await loadClip({ model: tiny, towers: ['vision'] });
    try {
      expect([graphs.runtime, onnx.runtime]).toEqual(['graphs', 'onnx']);
      // on a CPU, the forward graphs with ONNX Runtime's fused attention
      expect(graphs.featureRecipe).toBe('vlfer-clip-graphs-2/ort-fused');
      expect(graphs.featureRecipe).toBe(forwardGraphsId({ ortFusedForward: true }));
      expect(clipFeatureNamespace(graphs, fingerprint, settings)).toEqual({
        model: fingerprint,
        dtype: 'fp32',
        preprocess: expect.stringMatching(/^exp-clip\/pil\/pillow-/),
        extra: 'vlfer-clip-graphs-2/ort-fused',
      });
      // the ONNX graphs are model files (in the fingerprint): the namespace, and so existing caches, are unchanged
      expect(onnx.featureRecipe).toBeUndefined();
      expect(Object.keys(clipFeatureNamespace(onnx, fingerprint, settings))).toEqual(['model', 'dtype', 'preprocess']);
    } finally {
      await Promise.all([graphs.dispose(), onnx.dispose()]);
    }
  });

  it('features of other graphs (standard, fused, int8) of the same model files go to separate cache directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-feature-ns-'));
    const roots = [{}, { ortFusedForward: true }, { quantize: 'int8' as const }].map(
      (o) =>
        new FeatureCache({
          dir,
          namespace: clipFeatureNamespace({ featureRecipe: forwardGraphsId(o), device: 'cpu' }, fingerprint, settings),
        }).root,
    );
    expect(new Set(roots).size).toBe(3);
  });

  it('the compute device is in the namespace, except the CPU, whose caches keep their directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-feature-ns-'));
    const recipe = forwardGraphsId({ ortFusedForward: true });
    const ns = (featureRecipe: string | undefined, device: 'cpu' | 'webgpu') =>
      clipFeatureNamespace({ featureRecipe, device }, fingerprint, settings);
    expect(ns(recipe, 'cpu').extra).toBe('vlfer-clip-graphs-2/ort-fused');
    expect(ns(recipe, 'webgpu').extra).toBe('vlfer-clip-graphs-2/ort-fused device=webgpu');
    expect(ns(undefined, 'cpu').extra).toBeUndefined(); // the 'onnx' runtime on a CPU: as before
    expect(ns(undefined, 'webgpu').extra).toBe('device=webgpu');
    const roots = [ns(recipe, 'cpu'), ns(recipe, 'webgpu'), ns(undefined, 'cpu'), ns(undefined, 'webgpu')].map(
      (namespace) => new FeatureCache({ dir, namespace }).root,
    );
    expect(new Set(roots).size).toBe(4);
  });
});
