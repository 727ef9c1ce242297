import { defineLabelSet } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { toIndices, unweightedAverageRecall, weightedAverageRecall } from './index.js';

const SET = defineLabelSet('three', ['neutral', 'happiness', 'sadness']);

describe('toIndices: label names into the metrics', () => {
  it("maps names to the label set's ids, so UAR/WAR take predictions that carry names", () => {
    const trueNames = ['neutral', 'happiness', 'happiness', 'sadness'];
    const predNames = ['neutral', 'happiness', 'sadness', 'sadness'];
    expect(toIndices(trueNames, SET)).toEqual([0, 1, 1, 2]);
    expect(toIndices(predNames, SET.names)).toEqual([0, 1, 2, 2]);
    const t = toIndices(trueNames, SET);
    const p = toIndices(predNames, SET);
    expect(unweightedAverageRecall(t, p, SET.names.length)).toBeCloseTo((1 + 0.5 + 1) / 3, 12);
    expect(weightedAverageRecall(t, p)).toBe(0.75);
  });

  it('names the first unknown name, its position and the classes', () => {
    expect(() => toIndices(['neutral', 'Happy'], SET)).toThrow(
      "Argument 'names' passed to 'toIndices': names[1] 'Happy' is not in label set 'three' (neutral, happiness, sadness)",
    );
    expect(() => toIndices(['x'], ['a', 'b'])).toThrow(/names\[0\] 'x' is not in the class list \(a, b\)/);
  });
});
