import { describe, expect, it } from 'vitest';
import {
  assertArrayLike,
  assertFiniteValues,
  concatRows,
  cosineLogits,
  encodeSafetensors,
  softmaxRows,
  tensor,
  tensor2d,
  unitRows,
  unitRowsBackward,
  type Tensor2D,
} from './index.js';

const t = (data: number[], dims: [number, number]): Tensor2D => tensor(Float32Array.from(data), dims);

describe('inputs that gave NaN, garbage or an unnamed TypeError are refused by name', () => {
  it('tensor and tensor2d: float32 data and numbers only', () => {
    expect(() => tensor(new Float64Array(6) as never, [2, 3])).toThrow(
      /'data' passed to 'tensor': expected a Float32Array, got a Float64Array/,
    );
    expect(() => tensor2d([[1, 'x' as never]])).toThrow(/'rows' passed to 'tensor2d': row 0, column 1 is a string/);
    expect(() => tensor2d([[1, 2], null as never])).toThrow(/row 1 is null, expected an array of numbers/);
    expect(() => tensor2d(undefined as never)).toThrow(/expected an array of rows, got undefined/);
    expect(tensor2d([[1, NaN]]).data[1]).toBeNaN(); // a number, if not a finite one, is the caller's to give
  });
  it('concatRows, unitRows, unitRowsBackward: shapes checked before reading', () => {
    expect(() => concatRows([[1, 2, 3] as never], 3)).toThrow(/'blocks\[0\]' passed to 'concatRows'.*tensor2d/);
    expect(() => concatRows(undefined as never, 3)).toThrow(/'blocks'.*got undefined/);
    const a = t([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => unitRows(a, 3, 3)).toThrow(/'t' passed to 'unitRows': holds 6 values, fewer than the 3 × 3/);
    expect(() => unitRows(a, -1, 3)).toThrow(/'rows'.*integer ≥ 0, got -1/);
    expect(() => unitRowsBackward(new Float64Array(2), unitRows(a, 2, 3), 2, 3)).toThrow(
      /'dh' passed to 'unitRowsBackward': holds 2 values, expected 6/,
    );
  });
  it('softmaxRows takes values as maxRows does; cosineLogits a scale > 0', () => {
    for (const row of [
      [NaN, 1],
      [Infinity, 1],
      [-Infinity, -Infinity],
    ])
      expect(() => softmaxRows(t(row, [1, 2]))).toThrow(/'x' passed to 'softmaxRows': row 0/);
    expect(Array.from(softmaxRows(t([-Infinity, 0], [1, 2])).data)).toEqual([0, 1]);
    // and within LOGIT_SCALE_RANGE: 1e-44 made every float32 logit 0 (all items the first class), 1e39 Infinity
    for (const scale of [-100, 0, NaN, 1e-44, 1e-31, 1e31, 1e39, Infinity])
      expect(() => cosineLogits(t([1, 0], [1, 2]), t([1, 0], [1, 2]), scale)).toThrow(
        /'scale' passed to 'cosineLogits': must be a number from 1e-30 to 1e\+30 /,
      );
    for (const scale of [1e-30, 1e30])
      expect(Array.from(cosineLogits(t([1, 0], [1, 2]), t([1, 0], [1, 2]), scale).logits.data)).toEqual([
        Math.fround(scale),
      ]);
  });
  it('encodeSafetensors refuses dims the reader refuses; the assertion helpers name where', () => {
    expect(() => encodeSafetensors({ w: { dims: [-1, -2], data: new Float32Array(2) } })).toThrow(
      /'w' has dims \[-1,-2\]; expected a list of non-negative integers/,
    );
    expect(() => assertFiniteValues(t([1, 2, 3, NaN], [2, 2]), 'x', 'f')).toThrow(
      /'x' passed to 'f': row 1, column 1 is NaN/,
    );
    expect(() => assertFiniteValues({ data: [0, -Infinity] }, 'v', 'f')).toThrow(/index 1 is -Infinity/);
    expect(() => assertArrayLike(undefined, 'labels', 'f')).toThrow(
      /'labels' passed to 'f': expected an array, got undefined/,
    );
    expect(() => assertArrayLike([1], 'labels', 'f', 2)).toThrow(/has 1 values, expected 2/);
  });
});
