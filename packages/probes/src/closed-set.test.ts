import {
  argmaxRows,
  createRng,
  InvalidArgumentError,
  runSteps,
  tensor,
  tensor2d,
  type ProgressEvent,
  type Tensor2D,
} from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SPLIT_FRACTIONS,
  fitClosedSetMethod,
  fitClosedSetMethodSteps,
  partsOf,
  probeProgress,
  type ProbeProgress,
  probeLogits,
  selectFewShot,
  splitStratified,
  sweepLinearProbe,
  takeRows,
  tipAdapterLogits,
} from './index.js';

/** n items per class around 3 directions in 4-D, seeded. */
function sample(n: number, seed: number, spread = 0.4): { features: Tensor2D; labels: number[] } {
  const rng = createRng(seed);
  const centres = [
    [1, 0, 0, 0.2],
    [0, 1, 0, 0.2],
    [0, 0, 1, 0.2],
  ];
  const labels = Array.from({ length: 3 * n }, (_, i) => i % 3);
  const data = Float32Array.from(labels.flatMap((y) => centres[y]!.map((c) => c + spread * rng.normal())));
  return { features: tensor(data, [labels.length, 4]), labels };
}

describe('splitStratified', () => {
  const ids = Array.from({ length: 120 }, (_, i) => `c${i % 4}/img${String(i).padStart(3, '0')}.jpg`);
  const labels = ids.map((_, i) => i % 4);

  it('cuts every class into 30/20/50 % disjoint parts that cover the set, the same for the same seed', () => {
    const s = splitStratified(ids, labels, { seed: 0 });
    expect(DEFAULT_SPLIT_FRACTIONS).toEqual({ train: 0.3, validation: 0.2, test: 0.5 });
    expect([...s.train, ...s.validation, ...s.test].sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
    for (let c = 0; c < 4; c++) {
      const count = (part: number[]) => part.filter((i) => labels[i] === c).length;
      expect([count(s.train), count(s.validation), count(s.test)]).toEqual([9, 6, 15]);
    }
    expect(splitStratified(ids, labels, { seed: 0 })).toEqual(s);
    expect(splitStratified(ids, labels, { seed: 1 }).test).not.toEqual(s.test);
  });

  it('gives train one unit of every class of two or more, and cuts classes larger than a call takes arguments', () => {
    const sizes = [1, 2, 3, 4, 5, 6, 7, 10];
    const many = sizes.flatMap((u, c) => Array.from({ length: u }, (_, k) => ({ id: `c${c}/${k}.jpg`, label: c })));
    const s = splitStratified(
      many.map((m) => m.id),
      many.map((m) => m.label),
      { seed: 0 },
    );
    const counts = sizes.map((_, c) =>
      [s.train, s.validation, s.test].map((part) => part.filter((i) => many[i]!.label === c).length),
    );
    // a 3-item class was 0 / 1 / 2: nothing to train (or take few shots) on
    expect(counts).toEqual([
      [0, 0, 1],
      [1, 0, 1],
      [1, 1, 1],
      [1, 1, 2],
      [1, 1, 3],
      [2, 1, 3],
      [2, 1, 4],
      [3, 2, 5],
    ]);
    // 200,000 items of one class: push(...part) threw "Maximum call stack size exceeded"
    const n = 200_000;
    const big = splitStratified(
      Array.from({ length: n }, (_, i) => `x/${i}.jpg`),
      new Uint8Array(n),
      { seed: 1, fractions: { train: 0.8, validation: 0.2, test: 0 } },
    );
    expect([big.train.length, big.validation.length, big.test.length]).toEqual([160_000, 40_000, 0]);
  });

  it('does not depend on the order the items are listed in (ordered by id first)', () => {
    const s = splitStratified(ids, labels, { seed: 3 });
    const perm = createRng(9).shuffled(ids.map((_, i) => i));
    const t = splitStratified(
      perm.map((i) => ids[i]!),
      perm.map((i) => labels[i]!),
      { seed: 3 },
    );
    const idsOf = (part: number[], order: (i: number) => string) => part.map(order).sort();
    expect(idsOf(t.test, (i) => ids[perm[i]!]!)).toEqual(idsOf(s.test, (i) => ids[i]!));
    expect(idsOf(t.train, (i) => ids[perm[i]!]!)).toEqual(idsOf(s.train, (i) => ids[i]!));
  });

  it('keeps items with the same group (byte-identical copies) in one part, the same for the same seed', () => {
    // 120 items; every 5th item of a class has 2 more copies elsewhere in the class (same content hash)
    const groups = ids.map((id, i) => (i % 20 < 12 ? `h${(i % 4) + 4 * Math.floor(i / 20)}` : `h-${id}`));
    expect(new Set(groups).size).toBeLessThan(ids.length);
    for (const seed of [0, 1, 2, 3, 4, 5, 6, 7]) {
      const s = splitStratified(ids, labels, { seed, groups });
      expect([...s.train, ...s.validation, ...s.test].sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
      const partOf = new Map<string, string>();
      for (const [name, part] of Object.entries(s))
        for (const i of part) {
          expect(partOf.get(groups[i]!) ?? name, `${ids[i]} (group ${groups[i]}) seed ${seed}`).toBe(name);
          partOf.set(groups[i]!, name);
        }
      expect(splitStratified(ids, labels, { seed, groups })).toEqual(s);
    }
    // all groups distinct: exactly the per-item split
    expect(splitStratified(ids, labels, { seed: 5, groups: ids.map((id) => `x${id}`) })).toEqual(
      splitStratified(ids, labels, { seed: 5 }),
    );
    expect(() => splitStratified(ids, labels, { seed: 0, groups: ['a'] })).toThrow(/groups.*1 entries for 120 ids/);
  });

  it('refuses a duplicated id, a length mismatch, bad labels and fractions that do not sum to 1', () => {
    expect(() => splitStratified(['a', 'a'], [0, 1], { seed: 0 })).toThrow(/duplicated id/);
    expect(() => splitStratified(['a', 'b'], [0], { seed: 0 })).toThrow(/1 entries for 2 ids/);
    expect(() => splitStratified(['a', 'b'], [0, -1], { seed: 0 })).toThrow(/holds -1/);
    expect(() =>
      splitStratified(['a'], [0], { seed: 0, fractions: { train: 0.5, validation: 0.5, test: 0.5 } }),
    ).toThrow(InvalidArgumentError);
  });
});

describe('fitClosedSetMethod', () => {
  const train = sample(30, 1);
  const validation = sample(15, 2);
  const test = sample(20, 3);
  const classWeights = tensor2d([
    [1, 0, 0, 0.2],
    [0, 1, 0, 0.2],
    [0, 0, 1, 0.2],
  ]);
  const inputs = { numClasses: 3, test: test.features, train, validation, classWeights };
  const accuracy = (p: number[]) => p.filter((y, i) => y === test.labels[i]).length / p.length;

  it('linear probe: the CLIP sweep of C on validation, then the best probe on the test items', () => {
    const r = fitClosedSetMethod('linear-probe', inputs);
    const s = sweepLinearProbe(train, validation, { numClasses: 3 });
    expect(r.sweep!.c).toBe(s.c);
    expect(r.predicted).toEqual(argmaxRows(probeLogits(s.probe, test.features)));
    expect(accuracy(r.predicted)).toBeGreaterThan(0.9);
    expect(r.shotIndices).toBeUndefined();
  });

  it('few-shot probe: the probe on the seeded shots of the train part; another seed draws other shots', () => {
    const r = fitClosedSetMethod('few-shot-probe', inputs, { shots: 2, seed: 5 });
    const shots = selectFewShot(train.labels, 2, { seed: 5, numClasses: 3 });
    expect(r.shotIndices).toEqual(shots);
    const s = sweepLinearProbe(
      { features: takeRows(train.features, shots), labels: shots.map((i) => train.labels[i]!) },
      validation,
      { numClasses: 3 },
    );
    expect(r.predicted).toEqual(argmaxRows(probeLogits(s.probe, test.features)));
    expect(fitClosedSetMethod('few-shot-probe', inputs, { shots: 2, seed: 6 }).shotIndices).not.toEqual(shots);
  });

  it("Tip-Adapter: the cache of the seeded shots and the class weights, training-free (α, β the paper's)", () => {
    const r = fitClosedSetMethod('tip-adapter', inputs, { shots: 4, seed: 1 });
    const shots = selectFewShot(train.labels, 4, { seed: 1, numClasses: 3 });
    const cache = { keys: takeRows(train.features, shots), labels: shots.map((i) => train.labels[i]!) };
    expect(r.shotIndices).toEqual(shots);
    expect(r.predicted).toEqual(argmaxRows(tipAdapterLogits(test.features, cache, classWeights)));
    expect(r.sweep).toBeUndefined();
    expect(accuracy(r.predicted)).toBeGreaterThan(0.9);
  });

  it('zero-shot: the argmax of the given logits; a missing input or shot count is named', () => {
    const logits = tensor2d(test.labels.map((y) => [0, 1, 2].map((c) => (c === (y + 1) % 3 ? 1 : 0))));
    expect(
      fitClosedSetMethod('zero-shot', { numClasses: 3, test: test.features, zeroShotLogits: logits }).predicted,
    ).toEqual(test.labels.map((y) => (y + 1) % 3));
    expect(() => fitClosedSetMethod('linear-probe', { numClasses: 3, test: test.features, train })).toThrow(
      /validation.*linear-probe needs it/,
    );
    expect(() => fitClosedSetMethod('tip-adapter', inputs)).toThrow(/shots.*tip-adapter needs it/);
    expect(() => fitClosedSetMethod('few-shot-probe', inputs, { shots: 31 })).toThrow(/fewer than 31 shots/);
    expect(partsOf('zero-shot')).toEqual(['test']);
    expect(partsOf('tip-adapter')).toEqual(['train', 'test']);
  });
  it('checks every part before a fit: labels per row, feature dims, class weights, the method and the seed', () => {
    // 3 labels for 4 rows fitted on the first 3 rows, silently; a dim mismatch surfaced only after the sweep
    const short = { ...train, labels: train.labels.slice(0, -1) };
    for (const m of ['tip-adapter', 'few-shot-probe', 'linear-probe'] as const)
      expect(() => fitClosedSetMethod(m, { ...inputs, train: short }, { shots: 2 })).toThrow(
        /'train\.labels' passed to 'fitClosedSetMethod': has 89 labels for 90 feature rows/,
      );
    const wide = tensor<'R2'>(new Float32Array(60 * 5), [60, 5]);
    expect(() => fitClosedSetMethod('linear-probe', { ...inputs, test: wide })).toThrow(
      /'test' passed to 'fitClosedSetMethod': expected shape \[\*, 4\], got \[60, 5\]/,
    );
    expect(() =>
      fitClosedSetMethod('tip-adapter', { ...inputs, classWeights: tensor2d([[1, 0, 0, 0]]) }, { shots: 2 }),
    ).toThrow(/'classWeights'.*expected shape \[3, 4\]/);
    const knn = 'knn' as unknown as 'zero-shot';
    expect(() => fitClosedSetMethod(knn, inputs)).toThrow(/'method'.*expected one of 'zero-shot'/);
    expect(() => fitClosedSetMethod('few-shot-probe', inputs, { shots: 2, seed: 0.5 })).toThrow(
      /'seed' passed to 'selectFewShot': expected an integer, got 0\.5/,
    );
    const search = { search: 'Grid' } as unknown as { search: 'grid' };
    expect(() => sweepLinearProbe(train, validation, { ...search, numClasses: 3 })).toThrow(
      /'search'.*'binary', 'grid'/,
    );
  });
});

describe('fitClosedSetMethodSteps (the sweep in steps, for runSteps)', () => {
  it('gives what fitClosedSetMethod gives, yields each fit in order, and stops on an abort between iterations', async () => {
    const train = sample(30, 1);
    const inputs = { numClasses: 3, test: sample(10, 3).features, train, validation: sample(10, 2) };
    const direct = fitClosedSetMethod('linear-probe', inputs);
    const steps: ProbeProgress[] = [];
    const events: ProgressEvent[] = [];
    const onProgress = probeProgress((e) => events.push(e), 'fit', Infinity);
    const stepped = await runSteps(fitClosedSetMethodSteps('linear-probe', inputs), {
      what: 'fitting',
      onStep: (s) => {
        steps.push(s);
        onProgress(s);
      },
    });
    expect(stepped).toEqual(direct);
    const fits = direct.sweep!.evaluated.length;
    expect([...new Set(steps.map((s) => s.fit))]).toEqual(Array.from({ length: fits }, (_, i) => i + 1));
    expect(steps.every((s) => s.fits === 15 && s.iteration >= 1)).toBe(true);
    // one event per fit (everyMs Infinity): done counts the fits before it
    expect(events.map((e) => [e.phase, e.done, e.total, e.unit])).toEqual(
      Array.from({ length: fits }, (_, i) => ['fit', i, 15, 'fits']),
    );
    const controller = new AbortController();
    const seen: ProbeProgress[] = [];
    await expect(
      runSteps(fitClosedSetMethodSteps('linear-probe', inputs), {
        what: 'fitting the probe',
        signal: controller.signal,
        onStep: (s) => {
          seen.push(s);
          if (s.fit === 2) controller.abort(new Error('SIGINT'));
        },
      }),
    ).rejects.toThrow('fitting the probe was aborted');
    expect(seen.at(-1)).toMatchObject({ fit: 2, iteration: 1 });
  });
});
