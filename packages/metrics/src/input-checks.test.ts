import { describe, expect, it } from 'vitest';
import {
  averageFolds,
  confusionMatrix,
  perClassRecall,
  seedSummary,
  studentTCdf,
  studentTQuantile,
  tiedScores,
} from './index.js';

describe('metric inputs that crashed unnamed are named', () => {
  it('missing arrays and rows, and fold values that are no numbers', () => {
    expect(() => confusionMatrix(undefined as never, [0])).toThrow(/'yTrue' passed to 'confusionMatrix'.*undefined/);
    expect(() => perClassRecall([null as never])).toThrow(/'matrix' passed to 'perClassRecall': row 0 is null/);
    expect(() => perClassRecall(undefined as never)).toThrow(/'matrix'.*got undefined/);
    expect(() => tiedScores(undefined as never, [1])).toThrow(/'knownScores' passed to 'tiedScores'/);
    expect(() => averageFolds([{ a: '1' }] as never)).toThrow(
      /'folds' passed to 'averageFolds': fold 0's 'a' is a string \("1"\); expected a number/,
    );
  });
  it('Student t edges: an infinite t, an infinite df, a confidence that rounds to 1, values that overflow', () => {
    expect(studentTCdf(Infinity, 3)).toBe(1);
    expect(studentTCdf(-Infinity, 3)).toBe(0);
    expect(() => studentTCdf(NaN, 3)).toThrow(/'t' passed to 'studentTCdf'/);
    expect(() => studentTQuantile(0.975, Infinity)).toThrow(/'df'.*must be a finite number > 0, got Infinity/);
    expect(() => seedSummary([0.5, 0.6], { confidence: 1 - 1e-16 })).toThrow(/'confidence' passed to 'seedSummary'/);
    expect(() => seedSummary([1e308, 1e308])).toThrow(/'values' passed to 'seedSummary'.*overflows/);
  });
});
