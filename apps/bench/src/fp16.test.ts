import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadReferences, referencePixels, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { convertToFp16Weights, float32ToFloat16Bits } from './fp16.js';

describe('fp16 weight conversion', () => {
  it('rounds to nearest-even half precision', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
  });
  it('tiny-clip vision graph with fp16 weights gives image_embeds within fp16 precision', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'vlfer-fp16-')), 'vision_model_fp16.onnx');
    const n = convertToFp16Weights(sharedPath('fixtures', 'tiny-clip', 'onnx', 'vision_model.onnx'), out);
    expect(n).toBeGreaterThan(10);
    const s = await ort.InferenceSession.create(out, { logSeverityLevel: 3 });
    const p = referencePixels();
    const px = new ort.Tensor('float32', p.data, p.dims);
    const e = (await s.run({ pixel_values: px })).image_embeds!.data as Float32Array;
    const ref = loadReferences().vision.image_embeds.flat() as number[];
    let m = 0,
      d = 0;
    ref.forEach((v, i) => {
      m = Math.max(m, Math.abs(v - e[i]!));
      d = Math.max(d, Math.abs(v));
    });
    expect(m / d).toBeLessThan(5e-3);
    expect(m).toBeGreaterThan(0); // the weights really changed precision
  });
});
