import { createRng } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { argmaxRows, auroc, maxScores, openSetReport, openSetReportFromScores } from './index.js';

const logits = (rng: ReturnType<typeof createRng>, n: number, k: number, shift: number) =>
  Array.from({ length: n }, () => Array.from({ length: k }, (_, j) => rng.normal() + (j === 0 ? shift : 0)));

describe('openSetReportFromScores', () => {
  it('equals openSetReport (both families, ties, counts) when the score is the max logit and the prediction the argmax', () => {
    const rng = createRng(3);
    const known = logits(rng, 40, 4, 1.5);
    const unknown = logits(rng, 25, 4, 0);
    const labels = known.map((_, i) => i % 4);
    // quantised scores so ties occur and the ARPL tie handling is exercised too
    const q = (rows: number[][]) => rows.map((r) => r.map((v) => Math.round(v * 2) / 2));
    for (const [k, u] of [
      [known, unknown],
      [q(known), q(unknown)],
    ] as const) {
      const want = openSetReport(k, labels, u);
      const got = openSetReportFromScores({
        knownScores: maxScores(k),
        unknownScores: maxScores(u),
        knownPredictions: argmaxRows(k),
        knownLabels: labels,
      });
      expect(got).toEqual(want);
    }
    expect(openSetReport(q(known), labels, q(unknown)).ties).toBeGreaterThan(0);
  });
  it('scores any known-ness (here MSP-like values in (0, 1]) and names bad arguments', () => {
    const r = openSetReportFromScores({
      knownScores: [0.9, 0.8, 0.4],
      unknownScores: [0.5, 0.3],
      knownPredictions: [0, 1, 1],
      knownLabels: [0, 1, 0],
    });
    expect(r.closedSetAccuracy).toBeCloseTo(2 / 3, 12);
    expect(r.standard.auroc).toBeCloseTo(auroc([0.9, 0.8, 0.4], [0.5, 0.3]), 12);
    expect(r.standard.auroc).toBeCloseTo(5 / 6, 12);
    expect(() =>
      openSetReportFromScores({ knownScores: [1], unknownScores: [], knownPredictions: [0], knownLabels: [0] }),
    ).toThrow(/unknownScores.*empty/);
    expect(() =>
      openSetReportFromScores({ knownScores: [1, 2], unknownScores: [0], knownPredictions: [0], knownLabels: [0, 0] }),
    ).toThrow(/knownPredictions/);
    expect(() =>
      openSetReportFromScores({ knownScores: [NaN], unknownScores: [0], knownPredictions: [0], knownLabels: [0] }),
    ).toThrow(/knownScores/);
  });
});
