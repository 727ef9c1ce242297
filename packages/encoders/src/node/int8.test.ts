import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { clipGraphModel, visionTowerVjpModel } from '../clip-graphs.js';
import { quantizeLinearInt8, rowCosines } from '../quantize.js';
import { loadClip, type ClipModel } from './clip.js';
import { loadClipWeights, resolveClipSource } from './clip-source.js';
import { encodeImages } from './extract.js';

const tiny = sharedPath('fixtures', 'tiny-clip');
const images = (() => {
  const root = sharedPath('data', 'fer2013-privatetest');
  return readdirSync(root)
    .sort()
    .flatMap((c) =>
      readdirSync(join(root, c))
        .sort()
        .slice(0, 3)
        .map((f) => join(root, c, f)),
    );
})();
const prompts = ['a photo of a happy face.', 'an expression of anger.', 'a sad person.', 'a face with no expression.'];

async function features(model: ClipModel) {
  const img = (await encodeImages({ model, items: images, mode: 'clip' })).features;
  return { img, txt: await model.encodeTexts(prompts) };
}

describe("int8 'graphs' runtime (DynamicQuantizeMatMul)", () => {
  it('quantizes each output channel symmetrically to [−63, 63] (7 bits), transposed to [in, out]', () => {
    const w = Float32Array.from([0.5, -1, 0.25, 0, 0, 0]); // [2 out, 3 in]
    const { q, scales, dims } = quantizeLinearInt8(w, 2, 3);
    expect(dims).toEqual([3, 2]);
    expect(Array.from(scales)).toEqual([Math.fround(1 / 63), 1]);
    expect(Array.from(q)).toEqual([32, 0, -63, 0, 16, 0]); // 0.5·63 = 31.5 → 32, 0.25·63 = 15.75 → 16, column 1 zero
  });

  it('tiny-clip: int8 image and text features keep cosine ≥ 0.999 to fp32 (printed per item)', async () => {
    const fp32 = await loadClip({ model: tiny, backend: 'graphs' });
    const int8 = await loadClip({ model: tiny, backend: 'graphs', dtype: 'int8' });
    expect([fp32.dtype, int8.dtype, int8.runtime]).toEqual(['fp32', 'int8', 'graphs']);
    // what feature caches key on besides the files: the graphs' version and kind
    expect([fp32.featureRecipe, int8.featureRecipe]).toEqual([
      'vlfer-clip-graphs-2/ort-fused',
      'vlfer-clip-graphs-2/int8-w7-cls',
    ]);
    const a = await features(fp32);
    const b = await features(int8);
    await Promise.all([fp32.dispose(), int8.dispose()]);
    const ci = rowCosines(a.img, b.img);
    const ct = rowCosines(a.txt, b.txt);
    console.log(`tiny-clip int8 vs fp32 cosine, ${images.length} images: ${ci.map((c) => c.toFixed(5)).join(' ')}`);
    console.log(`tiny-clip int8 vs fp32 cosine, ${prompts.length} prompts: ${ct.map((c) => c.toFixed(5)).join(' ')}`);
    expect(Math.min(...ci, ...ct)).toBeGreaterThanOrEqual(0.999);
    expect(Math.min(...ci)).toBeLessThan(1 - 1e-7); // the features really went through int8
  });

  it('graph: q, k and v read one quantized activation (no stacked weights, no Split)', () => {
    const { arch, weights } = loadClipWeights(resolveClipSource(tiny, { backend: 'graphs' }));
    const nodes = (kind: 'visionForward' | 'textForward') => {
      const bytes = Buffer.from(
        clipGraphModel(kind, arch[kind === 'visionForward' ? 'vision' : 'text'], {
          weights,
          quantize: 'int8',
          withGradient: false,
        }),
      );
      const count = (op: string) => bytes.toString('latin1').match(new RegExp(`${op}_\\d+`, 'g'))?.length ?? 0; // node names
      return ['DynamicQuantizeLinear', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul', 'Split'].map(count);
    };
    const L = arch.vision.numLayers;
    // per layer: one activation quantized for q, k, v (3 products), then out_proj, fc1, fc2; and the projection
    expect(nodes('visionForward')).toEqual([L, 3 * L, 3 * L + 1, 0]);
    expect(nodes('textForward')).toEqual([
      arch.text.numLayers,
      3 * arch.text.numLayers,
      3 * arch.text.numLayers + 1,
      0,
    ]);
  });

  it('refuses an int8 graph with gradients or without stored weights', () => {
    const arch = {
      hiddenSize: 8,
      numLayers: 1,
      numHeads: 2,
      intermediateSize: 16,
      projectionDim: 4,
      layerNormEps: 1e-5,
    };
    const vision = { ...arch, patchSize: 16, imageSize: 32 };
    expect(() => visionTowerVjpModel(vision, { quantize: 'int8' })).toThrow(/pass weights and withGradient: false/);
    expect(() => visionTowerVjpModel(vision, { quantize: 'int8', withGradient: false })).toThrow(/pass weights/);
  });

  it('refuses int8 for an ONNX directory, naming q8 and the graphs backend', async () => {
    await expect(loadClip({ model: tiny, backend: 'onnx', dtype: 'int8' })).rejects.toThrow(/'q8'.*backend: 'graphs'/);
  });
});
