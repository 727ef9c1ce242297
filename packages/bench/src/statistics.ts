/**
 * @file The statistics of `summary.csv`, `paired.csv` and the report, from the rows' per-item outcomes
 * (`ResultRow.items`) and `@vlfer/metrics`: per run, 95 % bootstrap intervals over items; per coordinate over
 * several seeds, mean ± std and the t-interval of the mean; between runs on the same items, paired bootstrap and
 * permutation tests. Every resampling is seeded (`STATISTICS`), so the same rows give the same numbers.
 */
import { rowChecksum } from '@vlfer/core/node';
import {
  bootstrapInterval,
  classificationIntervals,
  openSetIntervals,
  pairedClassificationTests,
  pairedOpenSetTests,
  seedSummary,
  type OpenSetScores,
  type PairedMetricTest,
} from '@vlfer/metrics';
import type { ItemOutcomes, ResultRow, RunCoords } from './ablations.js';
import { isOpenSetRow } from './items.js';

/** Resampling settings of every interval and test (seed of the RNG, resamples, permutations, level). */
export const STATISTICS = { seed: 0, iterations: 1000, permutations: 2000, confidence: 0.95 } as const;
/**
 * Runs on the same items are compared pair by pair while that costs at most this many item-pairs (pairs × items: about
 * 30 s of CPU; 32 runs of 70 items is 34,720), or when there are at most {@link MAX_ALL_PAIRS} runs; larger groups are
 * compared against their reference run only.
 */
export const ALL_PAIRS_ITEM_BUDGET = 200_000;
/** Groups of at most this many runs on the same items are always compared pair by pair. */
export const MAX_ALL_PAIRS = 12;
/** Whether a group of `runs` runs on `items` items is compared pair by pair (else against its reference only). */
export const comparesAllPairs = (runs: number, items: number): boolean =>
  runs <= MAX_ALL_PAIRS || ((runs * (runs - 1)) / 2) * items <= ALL_PAIRS_ITEM_BUDGET;

/** Metrics with intervals (fractions): closed-set UAR/WAR; open-set closed-set accuracy, AUROC and OSCR (standard). */
export const CI_METRICS = ['uar', 'war', 'closed_set_accuracy', 'auroc_standard', 'oscr_standard'] as const;
export type CiMetric = (typeof CI_METRICS)[number];

export interface Interval {
  estimate: number;
  lower: number;
  upper: number;
}

/** A coordinate's interval: over items (one seed: bootstrap) or over seeds (several: t-interval of the mean). */
export interface GroupInterval extends Interval {
  over: 'items' | 'seeds';
  /** seeds: the sample std over seeds; items: null */
  std: number | null;
}

/** A row's items as the open-set functions take them (known items in id order, then unknown items). */
function openScores(it: ItemOutcomes): OpenSetScores & { unknownIds: string[] } {
  const known = it.labels.flatMap((l, i) => (l >= 0 ? [i] : []));
  const unknown = it.labels.flatMap((l, i) => (l < 0 ? [i] : []));
  const k = it.knownness ?? [];
  return {
    knownScores: known.map((i) => k[i]!),
    unknownScores: unknown.map((i) => k[i]!),
    knownPredictions: known.map((i) => it.predicted[i]!),
    knownLabels: known.map((i) => it.labels[i]!),
    unknownIds: unknown.map((i) => it.ids[i]!),
  };
}

const resample = { seed: STATISTICS.seed, iterations: STATISTICS.iterations, confidence: STATISTICS.confidence };
const pick = (ci: Interval): Interval => ({ estimate: ci.estimate, lower: ci.lower, upper: ci.upper });

/**
 * 95 % percentile bootstrap intervals over a run's items (seeded, `STATISTICS`): UAR and WAR for a closed-set row;
 * closed-set accuracy (over the known items) and AUROC/OSCR (standard definitions, knowns and unknowns resampled
 * separately) for an open-set row. Empty for a row without `items`.
 */
export function runIntervals(row: ResultRow): Partial<Record<CiMetric, Interval>> {
  const it = row.items;
  if (!it || it.ids.length === 0) return {};
  if (!isOpenSetRow(row)) {
    const ci = classificationIntervals(it.labels, it.predicted, { ...resample, numClasses: row.labelNames.length });
    return { uar: pick(ci.uar), war: pick(ci.war) };
  }
  const s = openScores(it);
  const out: Partial<Record<CiMetric, Interval>> = {};
  if (s.knownLabels.length > 0)
    out.closed_set_accuracy = pick(classificationIntervals(s.knownLabels, s.knownPredictions, resample).war);
  if (s.knownLabels.length > 0 && s.unknownScores.length > 0) {
    const ci = openSetIntervals(s, resample);
    out.auroc_standard = pick(ci.auroc);
    out.oscr_standard = pick(ci.oscr);
  }
  return out;
}

/**
 * The interval of each metric of one coordinate (its runs over seeds): with one run, the bootstrap interval over
 * its items; with several, mean ± sample std over seeds and the Student t interval of the mean (`seedSummary`) —
 * unless every seed gave the same value (a method that draws nothing from its seed): a zero-width t-interval would
 * hide the items' uncertainty, so the bootstrap interval over the first run's items is given (`over: 'items'`, std 0).
 */
export function groupIntervals(rows: readonly ResultRow[]): Partial<Record<CiMetric, GroupInterval>> {
  const out: Partial<Record<CiMetric, GroupInterval>> = {};
  if (rows.length === 1) {
    for (const [m, ci] of Object.entries(cachedIntervals(rows[0]!)) as [CiMetric, Interval][])
      out[m] = { ...ci, over: 'items', std: null };
    return out;
  }
  for (const m of CI_METRICS) {
    const values = rows.map((r) => r.metrics[m]);
    if (values.some((v) => v === undefined)) continue;
    const same = values.every((v) => v === values[0]);
    const items = same ? cachedIntervals(rows[0]!)[m] : undefined;
    if (items) {
      out[m] = { ...items, over: 'items', std: 0 };
      continue;
    }
    const s = seedSummary(values as number[], { confidence: STATISTICS.confidence });
    out[m] = { estimate: s.mean, lower: s.lower!, upper: s.upper!, over: 'seeds', std: s.std };
  }
  return out;
}

/**
 * 95 % percentile bootstrap interval of each class's recall over that class's items of one run (seeded,
 * `STATISTICS`): the recall is the fraction of the class's items predicted as the class, so the items of the other
 * classes do not enter. Open-set rows: over the known items. Classes by name; a class without items has none.
 */
export function perClassRecallIntervals(row: ResultRow): Record<string, Interval> {
  const it = row.items;
  const out: Record<string, Interval> = {};
  if (!it) return out;
  for (const [c, name] of row.labelNames.entries()) {
    const correct = it.labels.flatMap((l, i) => (l === c ? [it.predicted[i] === c ? 1 : 0] : []));
    if (correct.length === 0) continue;
    const ci = bootstrapInterval({
      ...resample,
      n: correct.length,
      statistic: (idx) => idx.reduce((sum, i) => sum + correct[i]!, 0) / idx.length,
    });
    out[name] = pick(ci);
  }
  return out;
}

const intervalCache = new Map<string, Partial<Record<CiMetric, Interval>>>();
/** `runIntervals`, remembered by the row's checksum (summary.csv and the report ask for the same rows). */
export function cachedIntervals(row: ResultRow): Partial<Record<CiMetric, Interval>> {
  const key = rowChecksum(row);
  let v = intervalCache.get(key);
  if (!v) intervalCache.set(key, (v = runIntervals(row)));
  return v;
}

/** The summary's group of a row: everything but the seed. */
export const coordinateKey = (r: ResultRow): string =>
  JSON.stringify([
    r.ablation,
    r.method,
    r.coords.backbone,
    r.coords.trainSet ?? '',
    r.coords.split ?? '',
    r.coords.promptType ?? '',
    r.coords.preprocess ?? '',
    r.coords.dataset,
    r.coords.subset ?? '',
    r.coords.shots ?? '', // last: summary.csv writes it after the fingerprint column
  ]);

/** Runs that may see the same items: same ablation, dataset, split and subset (any seed; checked item by item). */
const itemsKey = (r: ResultRow): string =>
  JSON.stringify([r.ablation, r.coords.dataset, r.coords.split ?? '', r.coords.subset ?? '']);

const COORD_NAMES: Record<string, string> = { trainSet: 'train set', promptType: 'prompt', preprocess: 'preprocess' };

/**
 * Short, complete names for an ablation's runs: the coordinates (and the seed) whose values differ between its
 * runs, in full, e.g. `class_name · clip` or `hesp · split 3 · seed 1`; the method when nothing differs.
 * @returns run id → label
 */
export function runLabels(rows: readonly Pick<ResultRow, 'id' | 'method' | 'coords' | 'seed'>[]): Map<string, string> {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.coords)))] as (keyof RunCoords)[];
  const differs = keys.filter((k) => new Set(rows.map((r) => String(r.coords[k] ?? ''))).size > 1);
  const seeds = new Set(rows.map((r) => r.seed)).size > 1;
  return new Map(
    rows.map((r) => {
      const parts = differs.map((k) => {
        const v = r.coords[k];
        return v === undefined ? `no ${COORD_NAMES[k] ?? k}` : typeof v === 'number' ? `${k} ${v}` : String(v);
      });
      if (seeds) parts.push(`seed ${r.seed}`);
      return [r.id, parts.length ? parts.join(' · ') : r.method];
    }),
  );
}

/** A paired comparison of two runs on the same items (A − B). */
export interface PairedComparison {
  ablation: string;
  a: ResultRow;
  b: ResultRow;
  /** 'reference': B is the first run (registry order) on these items; 'pair': any other pair */
  kind: 'reference' | 'pair';
  n: number;
  tests: Partial<Record<CiMetric, PairedMetricTest>>;
}

const sameItems = (a: ItemOutcomes, b: ItemOutcomes) =>
  a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i] && a.labels[i] === b.labels[i]);

/** Paired tests of every metric two runs share, on their common items (`STATISTICS`). */
export function comparePair(a: ResultRow, b: ResultRow): Partial<Record<CiMetric, PairedMetricTest>> {
  const options = { ...resample, permutations: STATISTICS.permutations };
  if (!isOpenSetRow(a)) {
    const t = pairedClassificationTests(a.items!.labels, a.items!.predicted, b.items!.predicted, {
      ...options,
      numClasses: a.labelNames.length,
    });
    return { uar: t.uar, war: t.war };
  }
  const [sa, sb] = [openScores(a.items!), openScores(b.items!)];
  if (sa.knownLabels.length === 0 || sa.unknownScores.length === 0) return {};
  const t = pairedOpenSetTests(sa, sb, options);
  return { closed_set_accuracy: t.closedSetAccuracy, auroc_standard: t.auroc, oscr_standard: t.oscr };
}

/**
 * The paired comparisons of a set of rows: within each ablation, runs on the same items (same dataset, split and
 * subset, identical item ids and labels; seeds may differ, both closed-set or both open-set) are compared: each run against
 * the first of them (the reference, in registry order), and every other pair too when `comparesAllPairs` says so
 * (a budget of item-pairs, or at most `MAX_ALL_PAIRS` runs). Rows without items are left out and named in `skipped`.
 */
export function pairedComparisons(rows: readonly ResultRow[]): { pairs: PairedComparison[]; skipped: string[] } {
  const skipped: string[] = [];
  const sets = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (!r.items) skipped.push(`${r.id}: no per-item outcomes (written before rows held items; run it again)`);
    else sets.set(itemsKey(r), [...(sets.get(itemsKey(r)) ?? []), r]);
  }
  const pairs: PairedComparison[] = [];
  for (const set of sets.values()) {
    const all = comparesAllPairs(set.length, set[0]!.items!.ids.length);
    for (let i = 0; i < set.length; i++)
      for (let j = i + 1; j < set.length; j++) {
        if (i > 0 && !all) break;
        const [b, a] = [set[i]!, set[j]!];
        if (!sameItems(a.items!, b.items!) || isOpenSetRow(a) !== isOpenSetRow(b)) {
          if (i === 0) skipped.push(`${a.id} vs ${b.id}: not the same items (ids, labels) or not the same task`);
          continue;
        }
        pairs.push({
          ablation: a.ablation,
          a,
          b,
          kind: i === 0 ? 'reference' : 'pair',
          n: a.items!.ids.length,
          tests: cachedPair(a, b),
        });
      }
  }
  return { pairs, skipped };
}

const pairCache = new Map<string, Partial<Record<CiMetric, PairedMetricTest>>>();
function cachedPair(a: ResultRow, b: ResultRow): Partial<Record<CiMetric, PairedMetricTest>> {
  const key = `${rowChecksum(a)} ${rowChecksum(b)}`;
  let v = pairCache.get(key);
  if (!v) pairCache.set(key, (v = comparePair(a, b)));
  return v;
}
