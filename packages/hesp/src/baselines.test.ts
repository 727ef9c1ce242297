import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, createRng, type ProgressEvent, type Tensor2D } from '@vlfer/core';
import { auroc, oscr } from '@vlfer/metrics';
import { maxSoftmaxScore } from '@vlfer/open-set';
import { probeLogits, sweepLinearProbe } from '@vlfer/probes';
import { sharedPath, writeSyntheticVideoSet } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  encodeOpenSetSplit,
  loadHespData,
  OPEN_SET_BASELINES,
  parseOpenSetBaselineOptions,
  runOpenSetBaselines,
  scoreOpenSetBaseline,
  type ClipFeatureSet,
  type OpenSetBaselineOptionsInput,
  type OpenSetBaselineResult,
  type OpenSetSplitFeatures,
  hespDataFingerprints,
  hespDatasetFingerprint,
} from './index.js';

const E = 6;
const rng = createRng(11);
/** n features around direction `axis` (unit vector e_axis scaled by 3) plus N(0, 0.3²) noise per dimension. */
const around = (axis: number, n: number) =>
  Array.from({ length: n }, () => Array.from({ length: E }, (_, j) => (j === axis ? 3 : 0) + 0.3 * rng.normal()));
const tensor = (rows: number[][]): Tensor2D => ({
  dtype: 'float32',
  data: Float32Array.from(rows.flat()),
  dims: [rows.length, E],
});
const set = (groups: [axis: number, label: number, n: number][], prefix: string): ClipFeatureSet => {
  const rows = groups.flatMap(([axis, , n]) => around(axis, n));
  const labels = groups.flatMap(([, label, n]) => Array<number>(n).fill(label));
  return { frameDirs: labels.map((_, i) => `${prefix}/${i}`), labels, features: tensor(rows) };
};

/** Three known classes along e0, e1, e2; unknown clips along e3 and e4 (another direction of the feature space). */
function syntheticFeatures(extra: Partial<OpenSetBaselineOptionsInput> = {}): OpenSetSplitFeatures {
  const options = parseOpenSetBaselineOptions({
    dataset: 'afew',
    trainAnnotations: 'train.txt',
    testAnnotations: 'test.txt',
    known: [0, 1, 2],
    model: 'unused',
    ...extra,
  });
  const text = tensor([0, 1, 2].map((k) => Array.from({ length: E }, (_, j) => (j === k ? 1 : 0))));
  return {
    options,
    classNames: ['Angry', 'Disgust', 'Fear'],
    knownNames: ['anger', 'disgust', 'fear'],
    labelNames: ['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise'],
    split: { index: null, known: [0, 1, 2], unknown: [3, 4, 5, 6], openness: 0.2 },
    train: set(
      [
        [0, 0, 8],
        [1, 1, 8],
        [2, 2, 8],
      ],
      'train',
    ),
    val: set(
      [
        [0, 0, 2],
        [1, 1, 2],
        [2, 2, 2],
      ],
      'val',
    ),
    testKnown: set(
      [
        [0, 0, 4],
        [1, 1, 4],
        [2, 2, 4],
      ],
      'known',
    ),
    testUnknown: set(
      [
        [3, 3, 4],
        [4, 4, 4],
      ],
      'unknown',
    ),
    text,
    warnings: [],
    probeKey: 'synthetic',
    datasetFingerprint: 'd'.repeat(64),
    modelFingerprint: 'm'.repeat(64),
  };
}

describe('open-set baselines on frozen features (synthetic)', () => {
  const f = syntheticFeatures();
  let results: Record<string, OpenSetBaselineResult> = {};
  beforeAll(async () => {
    results = {};
    for (const m of OPEN_SET_BASELINES) results[m] = await scoreOpenSetBaseline(f, m);
  });

  it('every baseline ranks the known test clips above the unknown ones and classifies the known ones', () => {
    for (const m of OPEN_SET_BASELINES) {
      const r = results[m]!;
      const sk = r.known.map((k) => k.knownness);
      const su = r.unknown.map((u) => u.knownness);
      expect(Math.min(...sk), m).toBeGreaterThan(Math.max(...su));
      expect(r.test.auroc_standard, m).toBe(1);
      expect(r.test.closed_set_accuracy, m).toBe(1);
      expect(r.known.map((k) => k.frameDir)).toEqual(f.testKnown.frameDirs);
      expect(r.unknown.every((u) => Number.isInteger(u.predicted) && u.predicted >= 0 && u.predicted < 3)).toBe(true);
      expect(r.unknown.map((u) => u.originalLabel)).toEqual([
        ...Array(4).fill('happiness'),
        ...Array(4).fill('neutral'),
      ]);
    }
    // score ranges of each paper's definition
    for (const s of results.msp!.known.map((k) => k.knownness)) expect(s).toBeGreaterThan(1 / 3);
    for (const s of results['clip-msp']!.unknown.map((k) => k.knownness)) expect(s).toBeLessThanOrEqual(1);
    for (const s of results.knn!.unknown.map((k) => k.knownness)) expect(s).toBeGreaterThanOrEqual(-2);
    // energy (T = 1) is logsumexp of the same logits: never below the max logit
    results.energy!.known.forEach((k, i) =>
      expect(k.knownness).toBeGreaterThanOrEqual(results['max-logit']!.known[i]!.knownness),
    );
  });

  it('the metrics are recomputable from the row: AUROC, OSCR and accuracy from the scores and predictions', async () => {
    for (const m of OPEN_SET_BASELINES) {
      // a harder set, so the numbers are not all 1
      const hard = syntheticFeatures();
      hard.testUnknown = set([[0, 3, 3]], 'unknown-near-class-0');
      const r = await scoreOpenSetBaseline(hard, m);
      const sk = r.known.map((k) => k.knownness);
      const su = r.unknown.map((u) => u.knownness);
      expect(r.test.auroc_standard, m).toBeCloseTo(auroc(sk, su), 12);
      expect(r.test.auroc_arpl, m).toBeCloseTo(auroc(sk, su, { ties: 'zero' }), 12);
      const correct = r.known.filter((k) => k.predicted === k.label).length;
      expect(r.test.closed_set_accuracy).toBeCloseTo(correct / r.known.length, 12);
      // OSCR from one-hot "logits" whose max is the score and whose argmax is the prediction
      const rows = (xs: { knownness: number; predicted?: number }[]) =>
        xs.map((x) => [0, 1, 2].map((j) => (j === (x.predicted ?? 0) ? x.knownness : x.knownness - 1e6)));
      expect(r.test.oscr_standard, m).toBeCloseTo(
        oscr(
          rows(r.known),
          r.known.map((k) => k.label),
          rows(r.unknown),
        ),
        12,
      );
      expect(r.test.n_known).toBe(12);
      expect(r.test.n_unknown).toBe(3);
    }
  });

  it('MSP is the max softmax of the linear probe chosen on the validation part; kNN is the k-th neighbour distance', async () => {
    const sweep = sweepLinearProbe(
      { features: f.train.features, labels: f.train.labels },
      { features: f.val.features, labels: f.val.labels },
      { numClasses: 3 },
    );
    const want = maxSoftmaxScore(probeLogits(sweep.probe, f.testKnown.features));
    results.msp!.known.forEach((k, i) => expect(k.knownness).toBeCloseTo(want[i]!, 12));
    expect(results.msp!.details.probe).toMatch(/chosen on 6 validation clips/);
    // k defaults to min(50, smallest per-class training count 8) = 8
    expect(results.knn!.details.k).toBe(8);
    const unit = (r: ArrayLike<number>) => {
      const n = Math.hypot(...Array.from(r));
      return Array.from(r, (v) => v / n);
    };
    const q = unit(f.testUnknown.features.data.subarray(0, E));
    const d = Array.from({ length: 24 }, (_, r) =>
      Math.hypot(...unit(f.train.features.data.subarray(r * E, (r + 1) * E)).map((v, j) => v - q[j]!)),
    ).sort((a, b) => a - b);
    expect(results.knn!.unknown[0]!.knownness).toBeCloseTo(-d[7]!, 6);
    const k3 = await scoreOpenSetBaseline(syntheticFeatures({ knnK: 3 }), 'knn');
    expect(k3.details.k).toBe(3);
  });

  it('a method it does not know, hooks of the wrong kind and a signal already aborted are refused before scoring', async () => {
    const f = syntheticFeatures();
    for (const m of ['mls', 'MSP', undefined, 42])
      await expect(scoreOpenSetBaseline(f, m as never)).rejects.toThrow(
        /'method' passed to 'scoreOpenSetBaseline': expected one of 'msp', 'max-logit', 'energy', 'knn', 'clip-msp'/,
      );
    await expect(runOpenSetBaselines({} as never, ['msp', 'mls' as never])).rejects.toThrow(
      /'methods' passed to 'runOpenSetBaselines': expected one of .*got 'mls'/,
    );
    await expect(scoreOpenSetBaseline(f, 'msp', { onProgress: 5 as never })).rejects.toThrow(/'onProgress'/);
    for (const m of OPEN_SET_BASELINES)
      await expect(scoreOpenSetBaseline(f, m, { signal: AbortSignal.abort() })).rejects.toThrow(AbortedError);
  });

  it('with a probe cache, the probe is fitted once per split content (probeKey) and gives the same scores', async () => {
    const probes = new Map();
    const a = syntheticFeatures();
    const fresh = await scoreOpenSetBaseline(a, 'msp');
    expect(await scoreOpenSetBaseline(a, 'msp', { probes })).toEqual(fresh);
    await scoreOpenSetBaseline({ ...a, testUnknown: a.testKnown }, 'energy', { probes });
    expect([...probes.keys()]).toEqual(['synthetic:binary']);
    await scoreOpenSetBaseline({ ...syntheticFeatures(), probeKey: 'another split' }, 'knn', { probes });
    expect(probes.size).toBe(2);
  });

  it("the probe's fit stops when the signal fires and reports its fits; nothing half-fitted is cached", async () => {
    const probes = new Map();
    const controller = new AbortController();
    const events: ProgressEvent[] = [];
    const run = scoreOpenSetBaseline(syntheticFeatures(), 'msp', {
      probes,
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        controller.abort(new Error('SIGINT'));
      },
    });
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    await expect(run).rejects.toThrow(/fitting the known-class probe was aborted/);
    expect(events[0]).toMatchObject({ phase: 'fit', done: 0, total: 15, unit: 'fits' });
    expect(probes.size).toBe(0);
  });

  it('kNN scoring reports its rows and stops when the signal fires', async () => {
    const f = syntheticFeatures();
    const total = f.testKnown.features.dims[0] + f.testUnknown.features.dims[0];
    const events: ProgressEvent[] = [];
    await scoreOpenSetBaseline(f, 'knn', { probes: new Map(), onProgress: (e) => events.push(e) });
    const knn = events.filter((e) => e.phase === 'knn');
    expect(knn.at(-1)).toEqual({ phase: 'knn', done: total, total, unit: 'clips' });
    expect(knn.map((e) => e.done)).toEqual([...knn.map((e) => e.done)].sort((a, b) => a - b));
    const controller = new AbortController();
    const run = scoreOpenSetBaseline(f, 'knn', {
      probes: new Map(),
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'knn') controller.abort(new Error('SIGINT'));
      },
    });
    await expect(run).rejects.toThrow(/scoring with the k nearest neighbours was aborted/);
  });

  it('calls that overlap fit the probe once; one aborted beside them leaves the others to fit it', async () => {
    const f = syntheticFeatures();
    const firstFits: string[] = [];
    const counting = (who: string) => (e: ProgressEvent) => e.done === 0 && firstFits.push(who);
    const probes = new Map();
    const [a, b] = await Promise.all([
      scoreOpenSetBaseline(f, 'msp', { probes, onProgress: counting('msp') }),
      scoreOpenSetBaseline(f, 'energy', { probes, onProgress: counting('energy') }),
    ]);
    expect(firstFits).toEqual(['msp']);
    expect(a.known.map((k) => k.predicted)).toEqual(b.known.map((k) => k.predicted));
    // the fit that started first is aborted: the call waiting on it fits the probe itself, with the same result
    const cache = new Map();
    const stop = new AbortController();
    const aborted = scoreOpenSetBaseline(f, 'msp', {
      probes: cache,
      signal: stop.signal,
      onProgress: () => stop.abort(new Error('SIGINT')),
    });
    const waiting = scoreOpenSetBaseline(f, 'msp', { probes: cache });
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    expect(await waiting).toEqual(a);
    expect(cache.size).toBe(1);
  });

  it('refuses options that are not the baselines’, naming them', () => {
    const base: OpenSetBaselineOptionsInput = {
      dataset: 'afew',
      trainAnnotations: 'a',
      testAnnotations: 'b',
      known: [0, 1],
      model: 'm',
    };
    expect(() => parseOpenSetBaselineOptions({ ...base, epochs: 3 } as unknown as OpenSetBaselineOptionsInput)).toThrow(
      /epochs: is not an option of the open-set baselines/,
    );
    expect(() => parseOpenSetBaselineOptions({ ...base, knnK: 0 })).toThrow(/knnK/);
    expect(() => parseOpenSetBaselineOptions({ ...base, energyTemperature: -1 })).toThrow(/energyTemperature/);
    expect(() => parseOpenSetBaselineOptions({ ...base, splitIndex: 0 })).toThrow(/splitIndex|known/);
  });
});

describe('encodeOpenSetSplit on tiny-clip with a synthetic video set', () => {
  it('encodes HESP’s split (same parts as loadHespData), reports progress, and stops at the signal', async () => {
    const work = mkdtempSync(join(tmpdir(), 'vlfer-baselines-'));
    await writeSyntheticVideoSet(work, {
      trainClasses: [0, 1, 2],
      testClasses: [0, 1, 2, 3],
      trainPerClass: 3,
      testPerClass: 2,
      trainFrames: 4,
      testFrames: 4,
    });
    const input: OpenSetBaselineOptionsInput = {
      dataset: 'afew',
      trainAnnotations: join(work, 'train.txt'),
      testAnnotations: join(work, 'test.txt'),
      root: work,
      known: [0, 1, 2],
      model: sharedPath('fixtures', 'tiny-clip'),
      frames: 2,
      batch: 4,
      valFraction: 0.2,
    };
    const events: number[] = [];
    const cache = new Map<string, Float32Array>();
    const f = await encodeOpenSetSplit(input, { onProgress: (e) => events.push(e.done), cache });
    const data = loadHespData(parseOpenSetBaselineOptions(input).hesp);
    expect(f.train.frameDirs).toEqual(data.train.map((v) => v.frameDir));
    expect(f.val.labels).toEqual(data.val.map((v) => v.label));
    expect(f.testUnknown.labels).toEqual([3, 3]);
    expect(f.train.features.dims).toEqual([data.train.length, 24]); // tiny-clip projection_dim 24
    expect(f.text.dims).toEqual([3, 24]);
    expect(events.at(-1)).toBe(9 + 6 + 2);
    expect(cache.size).toBe(17 + 3); // every clip and class text once
    // another split of the same clips: nothing is encoded again (the cache gains no entry; progress counts every clip)
    const again: number[] = [];
    const g = await encodeOpenSetSplit({ ...input, known: [0, 1] }, { onProgress: (e) => again.push(e.done), cache });
    expect(again).toEqual([5, 6, 10, 14]); // train, val, known test, unknown test (classes 2, 3)
    expect(cache.size).toBe(20);
    expect(g.probeKey).not.toBe(f.probeKey);
    expect((await encodeOpenSetSplit(input, { cache })).probeKey).toBe(f.probeKey);
    expect((await encodeOpenSetSplit({ ...input, seed: 1 }, { cache })).probeKey).not.toBe(f.probeKey); // another validation part
    expect(g.testKnown.features.data).toEqual(f.testKnown.features.data.subarray(0, 4 * 24));
    // content fingerprints: HESP's on the same data (a run of this split, the loaded model's files), also when every
    // feature came from the cache; another split reads other training clips, so other data
    expect(f.datasetFingerprint).toBe(
      hespDatasetFingerprint(hespDataFingerprints(parseOpenSetBaselineOptions(input).hesp, data)),
    );
    expect(f.modelFingerprint).toMatch(/^[0-9a-f]{64}$/); // equal to a HESP row's: packages/bench/src/open-set-baselines.test.ts
    expect((await encodeOpenSetSplit(input, { cache })).modelFingerprint).toBe(f.modelFingerprint);
    expect(g.datasetFingerprint).not.toBe(f.datasetFingerprint);
    // with a frame-hash index kept across calls (the bench's rows of one split): the same fingerprint, each frame read
    // once (one index entry per frame file); a frame rewritten in place is read again and changes the fingerprint
    const frameHashes = new Map<string, string>();
    const frameFiles = [
      ...new Set([...data.train, ...data.val, ...data.testKnown, ...data.testUnknown].map((v) => v.frameDir)),
    ].flatMap((d) => readdirSync(d).map((x) => join(d, x)));
    expect((await encodeOpenSetSplit(input, { cache, frameHashes })).datasetFingerprint).toBe(f.datasetFingerprint);
    expect(frameHashes.size).toBe(frameFiles.length);
    expect((await encodeOpenSetSplit(input, { cache, frameHashes })).datasetFingerprint).toBe(f.datasetFingerprint);
    expect(frameHashes.size).toBe(frameFiles.length);
    // every frame of one clip rewritten with other pixels: its features are encoded again (the shared cache keys
    // clips by their frames' content; it served the old ones under the new fingerprint), the others come from it
    const { default: sharp } = await import('sharp');
    const clipDir = data.testKnown[0]!.frameDir;
    const inClip = frameFiles.filter((p) => p.startsWith(`${clipDir}/`));
    for (const p of inClip) {
      const { width, height } = await sharp(p).metadata();
      const px = Buffer.alloc(width! * height! * 3, 200);
      writeFileSync(
        p,
        await sharp(px, { raw: { width: width!, height: height!, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
    const changed = await encodeOpenSetSplit(input, { cache, frameHashes });
    expect(changed.datasetFingerprint).not.toBe(f.datasetFingerprint);
    expect(frameHashes.size).toBe(frameFiles.length + inClip.length);
    const featureRow = (s: typeof f, i: number, d = s.testKnown.features.dims[1]) =>
      Array.from(s.testKnown.features.data.subarray(i * d, (i + 1) * d));
    expect(featureRow(changed, 0)).not.toEqual(featureRow(f, 0));
    expect(featureRow(changed, 1)).toEqual(featureRow(f, 1));
    const r = await scoreOpenSetBaseline(f, 'energy');
    expect(r.test.n_known).toBe(6);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(encodeOpenSetSplit(input, { signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
  }, 120_000);
});
