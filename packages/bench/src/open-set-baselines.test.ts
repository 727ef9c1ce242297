import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError } from '@vlfer/core';
import { auroc, pairedBootstrapTest } from '@vlfer/metrics';
import { sharedPath, writeSmallVideoSet, writeSyntheticVideoSet } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expandAblation,
  mergeAblation,
  readRows,
  rowMetricsProblem,
  runAblation,
  shardRowsFile,
  writeSummary,
} from './ablations.js';
import { ABLATIONS, type AblationSpec } from './registry.js';
import { clipItemId, openSetItems } from './methods/open-set-baselines.js';

const METHODS = ['hesp', 'msp', 'max-logit', 'energy', 'knn', 'clip-msp'];

describe('open-set baselines as ablation methods', () => {
  it('the registry puts HESP and the five baselines on the same 20 MAFW splits (and on one split in the smoke entry)', () => {
    const runs = expandAblation('open-set/hesp-vs-baselines', ABLATIONS['open-set/hesp-vs-baselines']);
    expect(runs.length).toBe(6 * 20);
    expect([...new Set(runs.map((r) => r.coords.method))]).toEqual(METHODS);
    const smoke = expandAblation('open-set/hesp-vs-baselines-smoke', ABLATIONS['open-set/hesp-vs-baselines-smoke']);
    expect(smoke.map((r) => [r.coords.method, r.coords.split])).toEqual(METHODS.map((m) => [m, 0]));
  });

  it('item ids are the frame directories relative to the root (else the path), sorted; unknown clips have label -1', () => {
    const items = openSetItems(
      {
        known: [{ frameDir: '/d/frames/b', label: 1, predicted: 0, knownness: 0.5 }],
        unknown: [
          { frameDir: '/d/frames/c', knownness: 0.1 },
          { frameDir: '/d/frames/a', knownness: 0.2, predicted: 1 },
        ],
      },
      '/d',
    );
    expect(items).toEqual({
      ids: ['frames/a', 'frames/b', 'frames/c'],
      labels: [-1, 1, -1],
      predicted: [1, 0, -1],
      knownness: [0.2, 0.5, 0.1],
    });
    expect(clipItemId('/elsewhere/x', '/d')).toBe('/elsewhere/x'); // outside the root: the path itself
    expect(clipItemId('/d/lists/../frames/y', '/d/')).toBe('frames/y');
  });
});

describe('HESP vs the open-set baselines on one split (tiny-clip, synthetic video set)', () => {
  const work = mkdtempSync(join(tmpdir(), 'vlfer-abl-openset-'));
  let afew: Awaited<ReturnType<typeof writeSmallVideoSet>>;
  beforeAll(async () => {
    afew = await writeSmallVideoSet(join(work, 'video'));
  }, 120_000);

  it('runs the smoke ablation: six rows on the same test clips, items that pair up, metrics that follow from the scores', async () => {
    const results = join(work, 'results');
    const data = { models: {}, trainSets: {}, videoSets: { afew } };
    const logs: string[] = [];
    // each run's pipeline reports its progress through the ablation's onProgress
    const phases = new Set<string>();
    const r = await runAblation('open-set/hesp-vs-baselines-smoke', {
      shared: sharedPath(),
      resultsDir: results,
      data,
      log: (l) => logs.push(l),
      onProgress: (e) => void phases.add(`${e.phase} (${e.unit})`),
    });
    expect(r).toEqual({ ran: 6, skipped: 0 });
    expect([...phases].sort()).toEqual([
      'encode (clips)', // the baselines' features
      'evaluate (epochs)', // HESP's scoring of its checkpoints
      'fingerprint (clips)', // HESP's hashing of the frames before it trains or scores (a signal stops it)
      'fit (fits)', // the probe of the MSP, max-logit and energy baselines
      'knn (clips)',
      'score (clips)', // evaluateHespRun's scoring of the selected state
      'train (steps)', // HESP
    ]);
    const rows = readRows(join(results, 'open-set__hesp-vs-baselines-smoke.jsonl'));
    expect(rows.map((x) => x.method)).toEqual(METHODS);
    const hesp = rows[0]!;
    // afew split 0: known = classes 0 and 1 (2 test clips each), unknown = classes 2 and 3 (2 each)
    expect(hesp.items!.ids).toEqual([
      'frames/te_0_0',
      'frames/te_0_1',
      'frames/te_1_0',
      'frames/te_1_1',
      'frames/te_2_0',
      'frames/te_2_1',
      'frames/te_3_0',
      'frames/te_3_1',
    ]);
    for (const row of rows) {
      expect(rowMetricsProblem(row), row.method).toBeNull();
      expect(row.items!.ids, row.method).toEqual(hesp.items!.ids);
      // known indices follow the sorted known class ids (class 0 → 0, class 1 → 1)
      expect(row.items!.labels, row.method).toEqual([0, 0, 1, 1, -1, -1, -1, -1]);
      expect(row.labelNames).toEqual(hesp.labelNames);
      expect(row.metrics.n_known).toBe(4);
      expect(row.metrics.n_unknown).toBe(4);
      const known = row.items!.knownness!.filter((_, i) => row.items!.labels[i] !== -1);
      const unknown = row.items!.knownness!.filter((_, i) => row.items!.labels[i] === -1);
      expect(row.metrics.auroc_standard, row.method).toBeCloseTo(auroc(known, unknown), 12);
      expect(row.metrics.auroc_arpl, row.method).toBeCloseTo(auroc(known, unknown, { ties: 'zero' }), 12);
      expect([...row.scores!.known].sort()).toEqual([...known].sort());
      const correct = row.items!.labels.filter((y, i) => y !== -1 && row.items!.predicted[i] === y).length;
      expect(row.metrics.closed_set_accuracy).toBeCloseTo(correct / 4, 12);
      if (row.method !== 'hesp')
        expect(
          row.items!.predicted.every((p) => p === 0 || p === 1),
          row.method,
        ).toBe(true);
    }
    // a baseline row is checked as an open-set row: its counts must add up
    expect(rowMetricsProblem({ ...rows[1]!, metrics: { ...rows[1]!.metrics, n: 9 } })).toMatch(
      /metrics\.n is 9, expected n_known \+ n_unknown = 8/,
    );
    // HESP reports, for an unknown clip too, the known class it would give (argmax over the known classes)
    const unknownPredicted = hesp.items!.predicted.filter((_, i) => hesp.items!.labels[i] === -1);
    expect(unknownPredicted.length).toBe(4);
    for (const p of unknownPredicted) expect(p >= 0 && p < hesp.labelNames.length).toBe(true);
    // a paired test between HESP and MSP runs on the items (AUROC on resampled items, strata keep both kinds)
    const [a, b] = [hesp, rows[1]!].map((row) => (idx: Int32Array) => {
      const pick = Array.from(idx, (i) => i);
      const s = (known: boolean) =>
        pick.filter((i) => (row.items!.labels[i] !== -1) === known).map((i) => row.items!.knownness![i]!);
      return auroc(s(true), s(false));
    });
    const strata = Int32Array.from(hesp.items!.labels, (y) => (y === -1 ? 1 : 0));
    const test = pairedBootstrapTest({ n: 8, statisticA: a!, statisticB: b!, iterations: 200, seed: 1, strata });
    expect(test.difference).toBeCloseTo(hesp.metrics.auroc_standard! - rows[1]!.metrics.auroc_standard!, 12);
    // the classifier, the chosen C and k are logged; the clips are encoded once for the five baselines (the first
    // baseline run loads CLIP, the others find every feature in the cache and do not)
    expect(
      logs.some((l) =>
        /^ {2}msp: classifier linear probe on 7 known training clips; probe C \S+ chosen on 1 validation clips/.test(l),
      ),
    ).toBe(true);
    expect(logs.some((l) => /^ {2}knn: .*; k 3; bank 7 known training clips$/.test(l))).toBe(true);
    expect(logs.some((l) => /^ {2}clip-msp: classifier zero-shot CLIP, 14.28 · cos/.test(l))).toBe(true);
    // every row carries the content fingerprints of what it read: the same data and model for all six methods
    expect(hesp.datasetFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(hesp.modelFingerprint).toMatch(/^[0-9a-f]{64}$/);
    for (const row of rows) {
      expect(row.datasetFingerprint, row.method).toBe(hesp.datasetFingerprint);
      expect(row.modelFingerprint, row.method).toBe(hesp.modelFingerprint);
    }
    const summary = readFileSync(writeSummary(results), 'utf8');
    for (const m of METHODS)
      expect(summary).toMatch(new RegExp(`^open-set/hesp-vs-baselines-smoke,${m},tiny-clip,,0,,,afew,,0,8,`, 'm'));
    const header = summary.split('\n')[0]!.split(',');
    const line = summary.split('\n').find((l) => l.startsWith('open-set/hesp-vs-baselines-smoke,knn,'))!;
    expect(line.split(',')[header.indexOf('dataset_fingerprint')]).toBe(hesp.datasetFingerprint);
  }, 300_000);

  it('rows of two splits of one data set read different clips, so different data fingerprints: no false "data changed"', async () => {
    const dir = join(work, 'video-7');
    const all = [0, 1, 2, 3, 4, 5, 6];
    await writeSyntheticVideoSet(dir, {
      trainClasses: all,
      testClasses: all,
      trainPerClass: 4,
      testPerClass: 1,
      trainFrames: 2,
      testFrames: 2,
    });
    const id = 'test/msp-two-splits';
    const spec = { ...ABLATIONS['open-set/hesp-vs-baselines-smoke'], method: 'msp' as const };
    const registry = {
      [id]: { ...spec, axes: { backbone: spec.axes.backbone, dataset: spec.axes.dataset, split: [0, 1] } },
    };
    const results = join(work, 'results-two-splits');
    const videoSets = { afew: { train: join(dir, 'train.txt'), test: join(dir, 'test.txt'), root: dir } };
    const opts = { shared: sharedPath(), resultsDir: results, registry, log: () => {} };
    expect(await runAblation(id, { ...opts, data: { models: {}, trainSets: {}, videoSets } })).toEqual({
      ran: 2,
      skipped: 0,
    });
    const rows = readRows(join(results, 'test__msp-two-splits.jsonl'));
    expect(rows[0]!.datasetFingerprint).not.toBe(rows[1]!.datasetFingerprint);
  }, 300_000);

  it('a stop during the baselines ends with the resume hint and keeps the finished rows; the rerun runs the rest', async () => {
    // the rows after the first of a split find every feature in the cache: before the check between runs, a stop
    // there was never seen and the ablation ran to its end without saying how to resume
    const id = 'test/baselines-stopped';
    const spec = ABLATIONS['open-set/hesp-vs-baselines-smoke'];
    const registry = {
      [id]: { ...spec, method: 'msp' as const, axes: { ...spec.axes, method: ['msp', 'max-logit', 'energy'] } },
    } as Record<string, AblationSpec>;
    const results = join(work, 'results-stopped');
    const videoSets = { afew: { train: afew.train, test: afew.test } };
    const opts = {
      shared: sharedPath(),
      resultsDir: results,
      registry,
      data: { models: {}, trainSets: {}, videoSets },
    };
    const controller = new AbortController();
    const error = await runAblation(id, {
      ...opts,
      signal: controller.signal,
      log: (l) => {
        if (l.startsWith('[2/3]')) controller.abort(new Error('SIGINT'));
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    const file = join(results, 'test__baselines-stopped.jsonl');
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as Error).message).toBe(
      `${id} at run ${id}|method=max-logit,backbone=tiny-clip,dataset=afew,split=0|seed=0 (1 finished row kept in ${file}; rerun the same command to resume) was aborted`,
    );
    expect(readRows(file).map((r) => r.method)).toEqual(['msp']);
    expect(await runAblation(id, { ...opts, log: () => {} })).toEqual({ ran: 2, skipped: 1 });
    expect(readRows(file).map((r) => r.method)).toEqual(['msp', 'max-logit', 'energy']);
  }, 300_000);

  it('--merge refuses two shards of the smoke ablation run on different frames (test frames inverted for shard 1/2)', async () => {
    const id = 'open-set/hesp-vs-baselines-smoke';
    const dir = join(work, 'video-shards');
    const videoSets = { afew: await writeSmallVideoSet(dir) };
    const results = join(work, 'results-shards');
    const shard = async (index: number) =>
      runAblation(id, {
        shared: sharedPath(),
        resultsDir: results,
        data: { models: {}, trainSets: {}, videoSets },
        shard: { index, count: 2 },
        log: () => {},
      });
    await shard(0);
    // the same paths, other pixels: every test frame colour-inverted in place
    const { default: sharp } = await import('sharp');
    for (const clip of readdirSync(join(dir, 'frames')).filter((c) => c.startsWith('te_')))
      for (const f of readdirSync(join(dir, 'frames', clip))) {
        const file = join(dir, 'frames', clip, f);
        writeFileSync(file, await sharp(readFileSync(file)).negate({ alpha: false }).png().toBuffer());
      }
    await shard(1);
    const counts = [0, 1].map((i) => readRows(shardRowsFile(results, id, { index: i, count: 2 })).length);
    expect(counts[0]! > 0 && counts[1]! > 0, `rows per shard ${counts.join(', ')}`).toBe(true);
    await expect(mergeAblation(id, { resultsDir: results, count: 2 })).rejects.toThrow(
      /the shards read different data for 'afew split 0' \(shard 0\/2: [0-9a-f]{12}…, shard 1\/2: [0-9a-f]{12}…\)/,
    );
  }, 300_000);
});
