import { describe, expect, it } from 'vitest';
import { constantTargetsWarning, targetSpread, validateTarget } from './index.js';

describe('target checks refuse what would make them say nothing', () => {
  it('targetSpread and constantTargetsWarning: n·e finite values', () => {
    // a NaN spread compared with the threshold never warned of a constant teacher
    expect(() => targetSpread(Float32Array.of(NaN, 1, 1, 0), 2, 2)).toThrow(
      /'data' passed to 'targetSpread': index 0 is NaN/,
    );
    expect(() => constantTargetsWarning(Float32Array.of(NaN, 1, NaN, 1), 2, 2, 'teacher')).toThrow(
      /'data' passed to 'constantTargetsWarning'/,
    );
    expect(() => targetSpread(Float32Array.of(1, 0, 0), 1.5, 2)).toThrow(
      /'n' passed to 'targetSpread': expected an integer ≥ 0, got 1.5/,
    );
    expect(() => targetSpread(Float32Array.of(1, 0), -1, -2)).toThrow(/'n'/);
    expect(() => targetSpread(new Float32Array(5), 2, 3)).toThrow(
      /'data' passed to 'targetSpread': has 5 values, expected 6/,
    );
    expect(constantTargetsWarning(Float32Array.of(1, 0, 1, 0), 2, 2, 'teacher')).toMatch(
      /same target for all 2 images/,
    );
  });
  it('validateTarget names a dimension that is none as the argument, not the target', () => {
    expect(() => validateTarget([1, 1], { item: 'a.jpg', teacher: 't.npy', dim: NaN })).toThrow(
      /'dim' passed to 'validateTarget': expected a positive integer/,
    );
  });
});
