import { loadReferences } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import {
  auroc,
  averageFolds,
  rocCurve,
  bootstrapInterval,
  classificationReport,
  confusionMatrix,
  maxScores,
  openSetReport,
  oscr,
  perClassRecall,
  tiedScores,
  tnrAtTpr,
  unweightedAverageRecall,
  weightedAverageRecall,
  MAX_CONFUSION_CLASSES,
} from './index.js';

describe('options and inputs that would give another number silently', () => {
  it('refuses misspelt tie rules and variants instead of taking the other one', () => {
    expect(auroc([1, 1, 2], [1, 0, 1], { ties: 'half' })).toBeCloseTo(7 / 9, 12);
    const bad = { ties: 'Half' } as unknown as { ties: 'half' };
    expect(() => auroc([1, 1, 2], [1, 0, 1], bad)).toThrow(
      /'ties' passed to 'auroc': expected one of 'half', 'zero', got 'Half'/,
    );
    const variant = { variant: 'Standard' } as unknown as { variant: 'standard' };
    expect(() => tnrAtTpr([0.9, 0.8], [0.1], variant)).toThrow(/'variant' passed to 'tnrAtTpr'/);
    const oscrVariant = { variant: 'ARPL' } as unknown as { variant: 'arpl' };
    expect(() => oscr([[1, 0]], [0], [[0, 1]], oscrVariant)).toThrow(/'variant' passed to 'oscr'/);
  });
  it('tnrAtTpr at a target TPR of 0: a threshold above every score rejects every unknown', () => {
    expect(tnrAtTpr([1, 2, 3], [0, 3, 4], { targetTpr: 0 })).toBe(1);
    expect(tnrAtTpr([1, 2, 3], [0, 3, 4], { targetTpr: 1 / 3 })).toBe(1 / 3);
  });
  it('refuses a class id that would ask for a matrix beyond the heap, and cells that are no counts', () => {
    expect(() => confusionMatrix([0, 1e9], [0, 1])).toThrow(/'yTrue'.*1000000001 classes.*at most 4096/);
    expect(() => confusionMatrix([0, 1], [0, 1], 1e6)).toThrow(/'numClasses'.*1000000 classes/);
    expect(confusionMatrix([0], [0], MAX_CONFUSION_CLASSES)).toHaveLength(MAX_CONFUSION_CLASSES);
    expect(() =>
      perClassRecall([
        [-1, 0],
        [0, 1],
      ]),
    ).toThrow(/cell \[0\]\[0\] holds -1/);
    expect(() =>
      perClassRecall([
        [1, NaN],
        [0, 1],
      ]),
    ).toThrow(/cell \[0\]\[1\] holds NaN/);
  });
});

const ref = loadReferences().metrics as {
  y_true: number[];
  y_pred: number[];
  confusion_matrix: number[][];
  uar: number;
  war: number;
  known_logits: number[][];
  known_labels: number[];
  unknown_logits: number[][];
  auroc: number;
  auroc_strict_ties_zero: number;
  oscr: number;
};
const close = (a: number, b: number, tol = 1e-9) => expect(Math.abs(a - b)).toBeLessThanOrEqual(tol);

describe('references.json metrics (PyTorch/sklearn), to 1e-9', () => {
  it('confusion matrix, UAR, WAR', () => {
    expect(confusionMatrix(ref.y_true, ref.y_pred, 5)).toEqual(ref.confusion_matrix);
    close(unweightedAverageRecall(ref.y_true, ref.y_pred), ref.uar);
    close(weightedAverageRecall(ref.y_true, ref.y_pred), ref.war);
    const rep = classificationReport(ref.y_true, ref.y_pred, 5);
    close(rep.uar, ref.uar);
    close(rep.war, ref.war);
  });
  it('AUROC (ties 0.5 and strict) and OSCR', () => {
    const sk = maxScores(ref.known_logits);
    const su = maxScores(ref.unknown_logits);
    close(auroc(sk, su), ref.auroc);
    close(auroc(sk, su, { ties: 'zero' }), ref.auroc_strict_ties_zero);
    close(oscr(ref.known_logits, ref.known_labels, ref.unknown_logits), ref.oscr);
  });
  it('ARPL variants: compute_oscr and get_curve TNR@TPR95 (values from a numpy port of ARPL core/evaluation.py)', () => {
    close(oscr(ref.known_logits, ref.known_labels, ref.unknown_logits, { variant: 'arpl' }), 0.52625);
    close(tnrAtTpr(maxScores(ref.known_logits), maxScores(ref.unknown_logits), { variant: 'arpl' }), 0.15);
    // conventional definition (best TNR with TPR >= 0.95), value from a numpy threshold sweep
    close(tnrAtTpr(maxScores(ref.known_logits), maxScores(ref.unknown_logits)), 0.225);
    close(tnrAtTpr([3, 4], [1, 2]), 1);
    close(tnrAtTpr([3, 4], [1, 2], { variant: 'arpl' }), 0);
  });
  it("ARPL OSCR with tied scores: numpy's argsort(kind='stable') value, not its default (unstable) one; ties counted", () => {
    // 30 known + 20 unknown scores on 4 levels (numpy default_rng(7)); compute_oscr in numpy 1.24.2 gives 0.4425 with
    // argsort() and 0.330833… with argsort(kind='stable') (the ARPL code verbatim, /usr/bin/python3 on this machine;
    // over 200 such random sets the two differed in all 200, by up to 0.174)
    const known = [3, 2, 2, 3, 2, 3, 3, 0, 0, 1, 1, 3, 3, 0, 1, 3, 0, 3, 0, 1, 3, 1, 1, 1, 2, 1, 3, 1, 1, 2];
    const unknown = [2, 2, 2, 3, 3, 3, 2, 2, 1, 3, 1, 0, 3, 0, 3, 2, 0, 0, 1, 0];
    const correct = [1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1];
    // logits whose max is the score and whose argmax is class 0; the label says whether that is right
    const rows = (xs: number[]) => xs.map((s) => [s, s - 1]);
    const r = openSetReport(
      rows(known),
      correct.map((c) => (c ? 0 : 1)),
      rows(unknown),
    );
    close(r.arpl.oscr, 0.33083333333333337);
    expect(Math.abs(r.arpl.oscr - 0.4425)).toBeGreaterThan(0.1);
    expect(r.ties).toBe(50);
    expect(tiedScores([3, 2, 1], [2, 0.5])).toBe(2);
    expect(tiedScores([0], [-0, 1, 1, 1])).toBe(5);
    expect(tiedScores(maxScores(ref.known_logits), maxScores(ref.unknown_logits))).toBe(0);
  });
  it("UAR with a predicted class absent from y_true: sklearn's balanced_accuracy_score (0.5), not test.py's NaN", () => {
    // sklearn 1.2.1: balanced_accuracy_score([0,0,1,1], [0,2,1,0]) = 0.5; Exp-CLIP's test.py (diagonal of the
    // row-normalised confusion_matrix, labels y_true ∪ y_pred) gives nan from the 0/0 row of class 2
    close(unweightedAverageRecall([0, 0, 1, 1], [0, 2, 1, 0]), 0.5);
    close(unweightedAverageRecall([0, 0, 1, 1], [0, 2, 1, 0], 3), 0.5);
  });
  it('does not mutate its inputs (the HESP known.sort() bug)', () => {
    const sk = maxScores(ref.known_logits);
    const su = maxScores(ref.unknown_logits);
    const skCopy = sk.slice();
    const suCopy = su.slice();
    const klCopy = JSON.stringify(ref.known_logits);
    auroc(sk, su);
    tnrAtTpr(sk, su);
    oscr(ref.known_logits, ref.known_labels, ref.unknown_logits, { variant: 'arpl' });
    openSetReport(ref.known_logits, ref.known_labels, ref.unknown_logits);
    expect(sk).toEqual(skCopy);
    expect(su).toEqual(suCopy);
    expect(JSON.stringify(ref.known_logits)).toBe(klCopy);
  });
});

describe('brute-force cross-checks', () => {
  it('AUROC equals the pairwise definition on random data with many ties', () => {
    let seed = 3;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const k = Array.from({ length: 57 }, () => Math.round(rand() * 10));
    const u = Array.from({ length: 41 }, () => Math.round(rand() * 8));
    let half = 0,
      strict = 0;
    for (const a of k)
      for (const b of u) {
        if (a > b) {
          half++;
          strict++;
        } else if (a === b) half += 0.5;
      }
    close(auroc(k, u), half / (k.length * u.length), 1e-12);
    close(auroc(k, u, { ties: 'zero' }), strict / (k.length * u.length), 1e-12);
  });
  it('rocCurve: trapezoid area equals AUROC (ties 0.5), monotone from (0,0) to (1,1)', () => {
    const sk = maxScores(ref.known_logits);
    const su = maxScores(ref.unknown_logits);
    for (const [k, u] of [
      [sk, su],
      [
        [1, 1, 2],
        [1, 0],
      ],
    ] as const) {
      const pts = rocCurve(k, u);
      expect(pts[0]).toMatchObject({ fpr: 0, tpr: 0 });
      expect(pts.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
      let area = 0;
      for (let i = 1; i < pts.length; i++) {
        expect(pts[i]!.fpr).toBeGreaterThanOrEqual(pts[i - 1]!.fpr);
        area += ((pts[i]!.fpr - pts[i - 1]!.fpr) * (pts[i]!.tpr + pts[i - 1]!.tpr)) / 2;
      }
      close(area, auroc(k, u), 1e-12);
    }
  });
  it('ties: known [1,1,2] vs unknown [1,0]', () => {
    close(auroc([1, 1, 2], [1, 0]), 5 / 6, 1e-12);
    close(auroc([1, 1, 2], [1, 0], { ties: 'zero' }), 4 / 6, 1e-12);
  });
});

describe('degenerate cases', () => {
  it('one class: UAR = WAR = recall of that class', () => {
    close(unweightedAverageRecall([0, 0, 0, 0], [0, 1, 0, 0]), 0.75);
    close(weightedAverageRecall([0, 0, 0, 0], [0, 1, 0, 0]), 0.75);
    expect(perClassRecall(confusionMatrix([0, 0], [0, 1], 3))).toEqual([0.5, null, null]);
  });
  it('empty input is an error', () => {
    expect(() => unweightedAverageRecall([], [])).toThrow(/'yTrue' passed to 'unweightedAverageRecall'.*is empty/);
    expect(() => unweightedAverageRecall([0, 1], [0])).toThrow(/passed to 'unweightedAverageRecall'/);
    expect(() => auroc([], [1])).toThrow(/'knownScores'.*is empty/);
  });
  it('all-tie scores give AUROC 0.5 (or 0 strict) and OSCR = accuracy × 1 at the single threshold', () => {
    close(auroc([2, 2, 2], [2, 2]), 0.5);
    close(auroc([2, 2, 2], [2, 2], { ties: 'zero' }), 0);
    // one threshold: the curve jumps from (0,0) to (1, acc); trapezoid area = acc / 2
    close(
      oscr(
        [
          [1, 0],
          [0, 1],
        ],
        [0, 0],
        [[1, 0]],
      ),
      0.25,
    );
  });
  it('known and unknown logits over different numbers of classes are refused', () => {
    for (const f of [oscr, openSetReport])
      expect(() => f([[0, 1]], [1], [[0, 1, 2]])).toThrow(
        /'unknownLogits'.*has 3 columns but 'knownLogits' has 2: both must hold logits over the same known classes/,
      );
  });
  it('NaN scores are errors naming the index', () => {
    expect(() => auroc([0.1, Number.NaN], [0.2])).toThrow(/'knownScores'.*index 1 is NaN/);
    expect(() =>
      maxScores([
        [0, 1],
        [Number.NaN, 0],
      ]),
    ).toThrow(/row 1, column 0 is NaN/);
    // named with the function called, not the helper that found it
    expect(() => openSetReport([[Number.NaN, 1]], [1], [[0, 1]])).toThrow(
      /Argument 'knownLogits' passed to 'openSetReport': row 0, column 0 is NaN/,
    );
    expect(() => oscr([[0, 1]], [1], [[0, Infinity]])).toThrow(
      /Argument 'unknownLogits' passed to 'oscr': row 0, column 1 is Infinity/,
    );
    // logits with no columns are said to be so, not blamed on the labels
    for (const f of [oscr, openSetReport])
      expect(() => f([[]], [0], [[]])).toThrow(/'knownLogits'.*has rows of no columns; expected \[n, K\] logits/);
  });
  it('a class masked with −Infinity beside finite logits is scored as numpy max / argmax score it', () => {
    const masked = openSetReport(
      [
        [-Infinity, 1],
        [2, -Infinity],
      ],
      [1, 0],
      [[0.5, -Infinity]],
    );
    expect(masked).toEqual(
      openSetReport(
        [
          [-1e300, 1],
          [2, -1e300],
        ],
        [1, 0],
        [[0.5, -1e300]],
      ),
    );
    expect(maxScores([[-Infinity, 3]])).toEqual([3]);
    expect(() => maxScores([[-Infinity, -Infinity]])).toThrow(/row 0 is −Infinity in every column/);
  });
  it('labels out of range and length mismatches are errors', () => {
    expect(() => confusionMatrix([0, 5], [0, 1], 3)).toThrow(/index 1 holds 5/);
    expect(() => weightedAverageRecall([0, 1], [0])).toThrow(/'yPred'.*length 1/);
  });
});

describe('aggregation', () => {
  it('averages folds and reports the sample std', () => {
    const r = averageFolds([
      { uar: 0.5, war: 0.6 },
      { uar: 0.7, war: 0.8 },
    ]);
    close(r.uar.mean, 0.6);
    close(r.uar.std, Math.sqrt(0.02));
    expect(() => averageFolds([{ uar: 1 }, { war: 1 } as unknown as { uar: number }])).toThrow(/fold 1 has keys/);
  });
  it('bootstrap interval is seeded, contains the estimate and narrows with n', () => {
    const y = Array.from({ length: 400 }, (_, i) => i % 4);
    const p = y.map((v, i) => (i % 3 === 0 ? (v + 1) % 4 : v));
    const stat = (idx: Int32Array) =>
      weightedAverageRecall(
        Array.from(idx, (i) => y[i]!),
        Array.from(idx, (i) => p[i]!),
      );
    const a = bootstrapInterval({ n: y.length, statistic: stat, seed: 1, iterations: 300 });
    const b = bootstrapInterval({ n: y.length, statistic: stat, seed: 1, iterations: 300 });
    expect(a).toEqual(b);
    expect(a.lower).toBeLessThan(a.estimate);
    expect(a.upper).toBeGreaterThan(a.estimate);
    close(a.estimate, weightedAverageRecall(y, p));
    // binomial std of accuracy ≈ sqrt(p(1-p)/n): 95 % width ≈ 3.92 σ
    const sigma = Math.sqrt((a.estimate * (1 - a.estimate)) / y.length);
    expect(a.upper - a.lower).toBeGreaterThan(2.5 * sigma);
    expect(a.upper - a.lower).toBeLessThan(5.5 * sigma);
  });
});
