import { describe, expect, it } from 'vitest';
import { classificationReport } from '@vlfer/metrics';
import { rowMetricsProblem, type ResultRow } from './ablations.js';
import { itemIdUnder, itemOutcomes } from './items.js';
import {
  comparesAllPairs,
  groupIntervals,
  pairedComparisons,
  perClassRecallIntervals,
  runIntervals,
  runLabels,
} from './statistics.js';

const names = ['happiness', 'sadness', 'anger'];
/** A closed-set row whose numbers follow from its items. */
function closedRow(
  predicted: number[],
  labels: number[],
  coords: Partial<ResultRow['coords']> = {},
  seed = 1,
): ResultRow {
  const rep = classificationReport(labels, predicted, names.length);
  const ids = labels.map((_, i) => `c${i % 3}/img${String(i).padStart(3, '0')}.png`);
  return {
    id: `abl|${JSON.stringify(coords)}|seed=${seed}`,
    ablation: 'abl',
    method: 'exp-clip-zero-shot',
    coords: { backbone: 'tiny-clip', dataset: 'fer2013', ...coords },
    seed,
    metrics: { uar: rep.uar, war: rep.war, n: labels.length },
    perClassRecall: Object.fromEntries(names.map((c, i) => [c, rep.perClassRecall[i] ?? null])),
    confusionMatrix: rep.confusionMatrix,
    labelNames: names,
    items: itemOutcomes(ids, labels, predicted),
    provenance: {} as ResultRow['provenance'],
    seconds: 1,
    finishedAt: '2026-12-02T00:00:00Z',
  };
}
const labels = Array.from({ length: 30 }, (_, i) => i % 3);
const good = labels.map((l, i) => (i % 5 === 0 ? (l + 1) % 3 : l));
const poor = labels.map((l, i) => (i % 2 === 0 ? (l + 2) % 3 : l));

/** An open-set row: 6 known clips (2 classes), 4 unknown, knownness given. */
function openRow(knownness: number[], predicted: number[]): ResultRow {
  const lab = [0, 1, 0, 1, 0, 1, -1, -1, -1, -1];
  const known = lab.flatMap((l, i) => (l >= 0 ? [i] : []));
  const rep = classificationReport(
    known.map((i) => lab[i]!),
    known.map((i) => predicted[i]!),
    2,
  );
  return {
    ...closedRow([0], [0]),
    id: 'open|x',
    method: 'hesp',
    labelNames: ['a', 'b'],
    metrics: { closed_set_accuracy: rep.war, n_known: 6, n_unknown: 4, n: 10, auroc_standard: 0.5 },
    perClassRecall: { a: rep.perClassRecall[0]!, b: rep.perClassRecall[1]! },
    confusionMatrix: rep.confusionMatrix,
    scores: { known: known.map((i) => knownness[i]!), unknown: lab.flatMap((l, i) => (l < 0 ? [knownness[i]!] : [])) },
    items: itemOutcomes(
      lab.map((_, i) => `clip${i}`),
      lab,
      predicted,
      knownness,
    ),
  };
}

describe('per-item outcomes of a row (ResultRow.items)', () => {
  it('are sorted by id, refuse repeated ids and arrays of different lengths; ids are paths under the root', () => {
    const it = itemOutcomes(['b', 'a', 'c'], [1, 0, 2], [1, 1, 2], [0.2, 0.1, 0.3]);
    expect(it).toEqual({ ids: ['a', 'b', 'c'], labels: [0, 1, 2], predicted: [1, 1, 2], knownness: [0.1, 0.2, 0.3] });
    expect(() => itemOutcomes(['a', 'a'], [0, 0], [0, 0])).toThrow(/'a' appears twice/);
    expect(() => itemOutcomes(['a'], [0, 1], [0])).toThrow(/1 ids, 2 labels/);
    expect(itemIdUnder('/data/fer', '/data/fer/angry/1.png')).toBe('angry/1.png');
    expect(itemIdUnder('/data/fer', '/elsewhere/1.png')).toBe('/elsewhere/1.png');
  });

  it('rowMetricsProblem checks items against the confusion matrix, n and the ROC scores (old code ignored them)', () => {
    const row = closedRow(good, labels);
    expect(rowMetricsProblem(row)).toBeNull();
    // a prediction changed in items only: the matrix recomputed from the items differs
    const edited = {
      ...row,
      items: { ...row.items!, predicted: row.items!.predicted.map((p, i) => (i === 0 ? (p + 1) % 3 : p)) },
    };
    expect(rowMetricsProblem(edited)).toMatch(/recomputed from items differs/);
    expect(rowMetricsProblem({ ...row, items: { ...row.items!, labels: row.items!.labels.slice(1) } })).toMatch(
      /30 ids, 29 labels/,
    );
    expect(rowMetricsProblem({ ...row, items: { ...row.items!, ids: [...row.items!.ids].reverse() } })).toMatch(
      /unique and sorted/,
    );
    expect(rowMetricsProblem({ ...row, items: { ...row.items!, labels: row.items!.labels.map(() => -1) } })).toMatch(
      /labels\[0\] is -1, expected a class index in \[0, 3\)$/,
    );
    const open = openRow([3, 2, 3, 1, 2, 2, 0, 1, 0.5, 2.5], [0, 1, 1, 1, 0, 0, 1, 0, 0, 1]);
    expect(rowMetricsProblem(open)).toBeNull();
    expect(rowMetricsProblem({ ...open, scores: { known: open.scores!.known, unknown: [0, 1, 0.5, 9] } })).toMatch(
      /differ from the row’s ROC scores/,
    );
    expect(rowMetricsProblem({ ...open, metrics: { ...open.metrics, n_unknown: 3, n: 9 } })).toMatch(
      /4 unknown items, metrics.n_unknown says 3/,
    );
    // tied known-ness scores are counted (`ties`, as openSetReport gives it): a count, not a fraction
    expect(rowMetricsProblem({ ...open, metrics: { ...open.metrics, ties: 6 } })).toBeNull();
    expect(rowMetricsProblem({ ...open, metrics: { ...open.metrics, ties: 11 } })).toMatch(
      /metrics\.ties is 11, more than the 10 test clips/,
    );
    expect(rowMetricsProblem({ ...open, metrics: { ...open.metrics, ties: 0.5 } })).toMatch(
      /metrics\.ties is 0\.5, expected a count/,
    );
    const { knownness: _k, ...noScores } = open.items!;
    expect(rowMetricsProblem({ ...open, items: noScores })).toMatch(/need knownness/);
  });
});

describe('statistics from items', () => {
  it('bootstrap intervals over items contain the row’s metrics, and are seeded (the same twice)', () => {
    const row = closedRow(good, labels);
    const ci = runIntervals(row);
    expect(ci.uar!.estimate).toBeCloseTo(row.metrics.uar!, 12);
    expect(ci.war!.estimate).toBeCloseTo(row.metrics.war!, 12);
    expect(ci.war!.lower).toBeLessThan(ci.war!.estimate);
    expect(ci.war!.upper).toBeGreaterThan(ci.war!.estimate);
    expect(runIntervals(row)).toEqual(ci);
    const open = openRow([3, 2, 3, 1, 2, 2, 0, 1, 0.5, 2.5], [0, 1, 1, 1, 0, 0, 1, 0, 0, 1]);
    const oci = runIntervals(open);
    expect(oci.closed_set_accuracy!.estimate).toBeCloseTo(open.metrics.closed_set_accuracy!, 12);
    expect(Object.keys(oci).sort()).toEqual(['auroc_standard', 'closed_set_accuracy', 'oscr_standard']);
    // several seeds: mean, std and the t-interval of the mean over seeds
    const g = groupIntervals([closedRow(good, labels, {}, 1), closedRow(poor, labels, {}, 2)]);
    expect(g.war!.over).toBe('seeds');
    expect(g.war!.estimate).toBeCloseTo(
      (closedRow(good, labels).metrics.war! + closedRow(poor, labels).metrics.war!) / 2,
      12,
    );
    // seeds that changed nothing: not a zero-width t-interval, but the bootstrap over the items
    const same = groupIntervals([closedRow(good, labels, {}, 1), closedRow(good, labels, {}, 2)]);
    expect(same.war).toEqual({ ...runIntervals(closedRow(good, labels)).war, over: 'items', std: 0 });
    expect(same.war!.upper - same.war!.lower).toBeGreaterThan(0.1);
  });

  it('per-class recall intervals: over each class’s own items, around the row’s recall; open-set rows over known items', () => {
    const row = closedRow(good, labels);
    const ci = perClassRecallIntervals(row);
    expect(Object.keys(ci)).toEqual(names);
    for (const c of names) {
      expect(ci[c]!.estimate).toBeCloseTo(row.perClassRecall[c]!, 12);
      expect(ci[c]!.lower).toBeLessThanOrEqual(ci[c]!.estimate);
      expect(ci[c]!.upper).toBeGreaterThanOrEqual(ci[c]!.estimate);
      expect(ci[c]!.lower).toBeGreaterThanOrEqual(0);
      expect(ci[c]!.upper).toBeLessThanOrEqual(1);
    }
    // a class whose items are all right has a degenerate interval at 1; the other classes' items do not enter
    const allRight = closedRow(
      labels.map((l, i) => (l === 0 ? 0 : (l + (i % 2)) % 3)),
      labels,
    );
    expect(perClassRecallIntervals(allRight).happiness).toEqual({ estimate: 1, lower: 1, upper: 1 });
    expect(perClassRecallIntervals(row)).toEqual(ci); // seeded
    const open = openRow([3, 2, 3, 1, 2, 2, 0, 1, 0.5, 2.5], [0, 1, 1, 1, 0, 0, 1, 0, 0, 1]);
    expect(perClassRecallIntervals(open).a!.estimate).toBeCloseTo(open.perClassRecall.a!, 12);
  });
  it('every pair is compared while pairs × items stays within the budget (32 runs of 70 items), else against the reference', () => {
    expect(comparesAllPairs(12, 1_000_000)).toBe(true);
    expect(comparesAllPairs(32, 70)).toBe(true); // the tester's closed-set report: probe vs few-shot was missing
    expect(comparesAllPairs(45, 3589)).toBe(false);
    expect(comparesAllPairs(13, 3589)).toBe(false);
  });
  it('paired comparisons: every run against the first on the same items, and every other pair; A − B', () => {
    const rows = [
      closedRow(good, labels, { promptType: 'class_name' }),
      closedRow(poor, labels, { promptType: 'an_expression_of_name' }),
      closedRow(good, labels, { promptType: 'expression_ensemble_ten' }),
    ];
    const { pairs, skipped } = pairedComparisons(rows);
    expect(skipped).toEqual([]);
    expect(pairs.map((p) => [p.a.coords.promptType, p.b.coords.promptType, p.kind])).toEqual([
      ['an_expression_of_name', 'class_name', 'reference'],
      ['expression_ensemble_ten', 'class_name', 'reference'],
      ['expression_ensemble_ten', 'an_expression_of_name', 'pair'],
    ]);
    const t = pairs[0]!.tests.war!;
    expect(t.difference).toBeCloseTo(rows[1]!.metrics.war! - rows[0]!.metrics.war!, 12);
    expect(t.pValue).toBeLessThan(0.05); // 15 of 30 wrong against 6 of 30
    expect(pairs[1]!.tests.war!.difference).toBe(0);
    expect(pairs[1]!.tests.war!.permutationP).toBe(1);
    // a row of other items (another subset) is not paired; a row without items is named
    const other = { ...closedRow(good, labels, { subset: 'strat-n30-seed1' }) };
    const { items: _i, ...old } = closedRow(good, labels, { promptType: 'expression_ensemble_five' });
    const r = pairedComparisons([...rows, other, old as ResultRow]);
    expect(r.pairs.length).toBe(3);
    expect(r.skipped).toEqual([expect.stringMatching(/no per-item outcomes/)]);
  });

  it('run labels: the coordinates that differ, in full; the seed only when seeds differ', () => {
    const rows = [
      closedRow(good, labels, { promptType: 'a_photo_of_a_face_with_an_expression_of_name', preprocess: 'clip' }),
      closedRow(good, labels, { promptType: 'a_photo_of_a_face_with_an_expression_of_name', preprocess: 'exp-clip' }),
      closedRow(good, labels, { promptType: 'class_name', preprocess: 'clip' }, 2),
    ];
    expect([...runLabels(rows).values()]).toEqual([
      'a_photo_of_a_face_with_an_expression_of_name · clip · seed 1',
      'a_photo_of_a_face_with_an_expression_of_name · exp-clip · seed 1',
      'class_name · clip · seed 2',
    ]);
    expect([
      ...runLabels([
        { ...rows[0]!, coords: { ...rows[0]!.coords, split: 3 } },
        { ...rows[0]!, id: 'y', coords: { ...rows[0]!.coords, split: 4 } },
      ]).values(),
    ]).toEqual(['split 3', 'split 4']);
    expect([...runLabels([rows[0]!]).values()]).toEqual(['exp-clip-zero-shot']);
  });
});
