import { describe, expect, it } from 'vitest';
import { checkHeadWeight, encodeHeadWeights, ProjectionHead } from './index.js';

describe('heads the file reader would refuse are refused when built or written', () => {
  it('a NaN weight, a weight of another size, sizes that are none', () => {
    expect(() => new ProjectionHead({ inputDim: 1, outputDim: 1, weight: Float32Array.of(NaN) })).toThrow(
      /'weight' passed to 'ProjectionHead': row 0, column 0 is NaN/,
    );
    expect(() => checkHeadWeight({ dims: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5) }, 'w.safetensors', {})).toThrow(
      /w\.safetensors.*mlp\.weight.*holds 5 values; expected 2 × 3/,
    );
    expect(() => checkHeadWeight({ dims: [-2, -3], data: new Float32Array(6) }, 'w.safetensors', {})).toThrow(
      /of positive sizes, got \[-2, -3\]/,
    );
    expect(() => encodeHeadWeights({ inputDim: -2, outputDim: -3, weight: new Float32Array(6), metadata: {} })).toThrow(
      /'head.inputDim' passed to 'encodeHeadWeights'/,
    );
  });
});
