import { describe, expect, it } from 'vitest';
import { COSINE_EPSILON, cosineLogits, unitRows, unitRowsBackward } from './ops.js';
import type { Tensor2D } from './tensor.js';

const t = (dims: [number, number], values: number[]): Tensor2D => ({
  dtype: 'float32',
  data: Float32Array.from(values),
  dims,
});

describe('cosine logits kernels', () => {
  it('unitRows scales each row to unit norm and clamps a zero row at COSINE_EPSILON', () => {
    const u = unitRows(t([2, 2], [3, 4, 0, 0]), 2, 2);
    expect(Array.from(u.norms)).toEqual([5, COSINE_EPSILON]);
    expect(Array.from(u.h)).toEqual([0.6, 0.8, 0, 0]);
  });
  it('unitRowsBackward removes the component along the row (a radial gradient vanishes)', () => {
    const u = unitRows(t([1, 2], [3, 4]), 1, 2);
    const radial = unitRowsBackward(Float64Array.of(0.6, 0.8), u, 1, 2);
    expect(Math.abs(radial.data[0]!) + Math.abs(radial.data[1]!)).toBeLessThan(1e-7);
    const tangent = unitRowsBackward(Float64Array.of(-0.8, 0.6), u, 1, 2);
    expect(Array.from(tangent.data)).toEqual([Math.fround(-0.8 / 5), Math.fround(0.6 / 5)]);
    expect(tangent.dims).toEqual([1, 2]);
  });
  it('cosineLogits gradients match finite differences', () => {
    const a = t([2, 3], [0.3, -1, 2, 1, 0.5, -0.2]);
    const b = t([2, 3], [1, 1, 0, -0.4, 2, 1]);
    const d = t([2, 2], [1, -2, 0.5, 3]);
    const loss = (x: Tensor2D, y: Tensor2D) =>
      cosineLogits(x, y, 10).logits.data.reduce((s, v, i) => s + v * d.data[i]!, 0);
    const { gradA, gradB } = cosineLogits(a, b, 10).backward(d);
    const h = 1e-2;
    for (const [x, g, which] of [
      [a, gradA, 'a'],
      [b, gradB, 'b'],
    ] as const)
      for (let i = 0; i < 6; i++) {
        const plus = t([2, 3], Array.from(x.data));
        const minus = t([2, 3], Array.from(x.data));
        plus.data[i]! += h;
        minus.data[i]! -= h;
        const num =
          which === 'a' ? (loss(plus, b) - loss(minus, b)) / (2 * h) : (loss(a, plus) - loss(a, minus)) / (2 * h);
        expect(g.data[i]!).toBeCloseTo(num, 1);
      }
  });
});
