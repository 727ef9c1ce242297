import { tensor2d, type Tensor2D } from '@vlfer/core';
import { loadReferences, maxRelErr as relErr } from '@vlfer/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdam, createSgd, infoNceSgdModelBytes, logitsPadding, normalizedGradientStep } from './index.js';
import { InfoNceGraph, InfoNceSgdStep } from './node/index.js';
import { symmetricInfoNceReference } from './info-nce.reference.js';

const ref = loadReferences().exp_clip_head as {
  X: number[][];
  targets: number[][];
  W0: number[][];
  steps: { loss: number; grad_W: number[][] }[];
  W_after_2_steps: number[][];
};
const X = tensor2d(ref.X);
const T = tensor2d(ref.targets);
let graph: InfoNceGraph;
beforeAll(async () => {
  graph = await InfoNceGraph.create();
});
afterAll(async () => {
  await graph.release();
});

describe('InfoNCE inputs', () => {
  it('names a rank-1 tensor or float64 data as what it is', async () => {
    const weight = tensor2d(ref.W0);
    const flat = { ...X, dims: [X.data.length] } as unknown as Tensor2D;
    await expect(graph.run({ features: flat, weight, targets: T })).rejects.toThrow(
      /'features' passed to 'InfoNceGraph\.run': expected shape \[\*, \*\], got \[\d+\]/,
    );
    const wide = { ...X, data: Float64Array.from(X.data) } as unknown as Tensor2D;
    await expect(graph.run({ features: wide, weight, targets: T })).rejects.toThrow(/'features'.*holds a Float64Array/);
  });
});

describe('symmetric InfoNCE vs PyTorch (references.json exp_clip_head), 1e-5 relative', () => {
  for (const impl of ['reference (float64 JS)', 'ONNX Runtime graph'] as const) {
    it(`${impl}: loss and grad_W for both SGD steps, and W after two steps`, async () => {
      const W = Float32Array.from(ref.W0.flat());
      const opt = createSgd({ weight: W }, { lr: 1e-3, momentum: 0.9, weightDecay: 1e-4 });
      for (const step of ref.steps) {
        const inputs = { features: X, weight: { dtype: 'float32', data: W, dims: [64, 32] } as Tensor2D, targets: T };
        const r = impl === 'ONNX Runtime graph' ? await graph.run(inputs) : symmetricInfoNceReference(inputs);
        expect(Math.abs(r.loss - step.loss) / step.loss).toBeLessThan(1e-5);
        expect(relErr(r.gradWeight, step.grad_W.flat())).toBeLessThan(1e-5);
        opt.step({ weight: Float32Array.from(r.gradWeight) });
      }
      expect(relErr(W, ref.W_after_2_steps.flat())).toBeLessThan(1e-5);
    });
  }
});

describe('InfoNCE properties', () => {
  it('matches central finite differences (float64 reference)', () => {
    const W = Float32Array.from(ref.W0.flat());
    const base = symmetricInfoNceReference({
      features: X,
      weight: { dtype: 'float32', data: W, dims: [64, 32] },
      targets: T,
      scale: 10,
    });
    for (const idx of [0, 17, 500, 2047]) {
      const h = 1e-3;
      const at = (delta: number) => {
        const w = Float32Array.from(W);
        w[idx] = w[idx]! + delta;
        return symmetricInfoNceReference({
          features: X,
          weight: { dtype: 'float32', data: w, dims: [64, 32] },
          targets: T,
          scale: 10,
        }).loss;
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(fd - base.gradWeight[idx]!)).toBeLessThan(1e-4 + 1e-2 * Math.abs(fd));
    }
  });
  it('is finite with zero feature and target rows (norms clamped at 1e-12)', async () => {
    const Xz = tensor2d([
      [0, 0, 0],
      [1, 2, 3],
      [0.5, -1, 2],
    ]);
    const Tz = tensor2d([
      [1, 0, 0, 0],
      [0, 0, 0, 0],
      [0, 1, 1, 0],
    ]);
    const Wz = tensor2d([
      [0.1, 0.2, 0.3],
      [0.3, -0.1, 0.2],
      [0.0, 0.5, -0.5],
      [0.2, 0.2, 0.2],
    ]);
    for (const r of [
      symmetricInfoNceReference({ features: Xz, weight: Wz, targets: Tz }),
      await graph.run({ features: Xz, weight: Wz, targets: Tz }),
    ]) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(Array.from(r.gradWeight).every(Number.isFinite)).toBe(true);
    }
  });
  it('counts in-batch retrieval hits and rejects mismatched shapes', async () => {
    const I = tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const r = await graph.run({ features: I, weight: I, targets: I });
    expect(r.correct).toBe(2);
    expect(r.loss).toBeCloseTo(Math.log(1 + Math.exp(-100)), 6);
    await expect(graph.run({ features: I, weight: tensor2d([[1, 0, 0]]), targets: I })).rejects.toThrow(
      /'weight'.*\[1, 3\] but features are 2-d/,
    );
    expect(() => symmetricInfoNceReference({ features: I, weight: I, targets: tensor2d([[1, 0, 0]]) })).toThrow(
      /'targets'.*expected \[2, 2\]/,
    );
  });
});

describe('optimisers (PyTorch semantics)', () => {
  it('SGD momentum: first step uses the raw gradient as the buffer', () => {
    const p = Float32Array.of(1, 2);
    const sgd = createSgd({ p }, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    sgd.step({ p: Float32Array.of(0.5, -1) });
    // d = g + 0.01 p = [0.51, -0.98]; p -= 0.1 d
    expect(Array.from(p)).toEqual([Math.fround(1 - 0.1 * Math.fround(0.51)), Math.fround(2 + 0.1 * Math.fround(0.98))]);
    const before = p[0]!;
    sgd.step({ p: Float32Array.of(0, 0) });
    const d2 = Math.fround(0.9 * Math.fround(0.51) + Math.fround(0.01 * before));
    expect(sgd.state().buffers.p![0]).toBeCloseTo(d2, 7);
  });
  it('setLearningRate changes the step size and keeps the state', () => {
    const p = Float32Array.of(1);
    const sgd = createSgd({ p }, { lr: 0.1 });
    sgd.step({ p: Float32Array.of(1) });
    sgd.setLearningRate(0.01);
    sgd.step({ p: Float32Array.of(1) });
    expect(p[0]).toBeCloseTo(1 - 0.1 - 0.01, 6);
    expect(sgd.state().step).toBe(2);
    expect(() => sgd.setLearningRate(0)).toThrow(/'lr'.*expected a finite number > 0, got 0/);
  });
  it('refuses settings that give NaN or climb the loss, and optimiser state of other parameters', () => {
    const p = { w: new Float32Array([1, 2]) };
    const sgdBad = [
      [{ lr: NaN }, 'lr'],
      [{ lr: 0.1, momentum: NaN }, 'momentum'],
      [{ lr: 0.1, momentum: -1 }, 'momentum'],
      [{ lr: 0.1, weightDecay: NaN }, 'weightDecay'],
    ] as const;
    for (const [o, arg] of sgdBad) expect(() => createSgd(p, o)).toThrow(new RegExp(`'${arg}' passed to 'createSgd'`));
    const adamBad = [
      [{ lr: -1 }, 'lr'],
      [{ lr: NaN }, 'lr'],
      [{ betas: [1, 0.999] as [number, number] }, 'betas\\[0\\]'],
      [{ betas: [0.9, NaN] as [number, number] }, 'betas\\[1\\]'],
    ] as const;
    for (const [o, arg] of adamBad)
      expect(() => createAdam(p, o)).toThrow(new RegExp(`'${arg}' passed to 'createAdam'`));
    const sgd = createSgd(p, { lr: 0.1, momentum: 0.9 });
    expect(() => sgd.loadState({ step: 1, buffers: { w: new Float32Array(3) } })).toThrow(
      /'buffers\.w' passed to 'Sgd\.loadState': has length 3, its parameter has 2/,
    );
    expect(() => sgd.loadState({ step: 1, buffers: { v: new Float32Array(2) } })).toThrow(
      /is no buffer of these parameters \(expected w\)/,
    );
    const adam = createAdam(p);
    adam.step({ w: new Float32Array([1, 1]) });
    expect(() => createAdam({ w: new Float32Array(2) }).loadState(adam.state())).not.toThrow();
    expect(() => createAdam({ w: new Float32Array(3) }).loadState(adam.state())).toThrow(/'buffers\.w\.exp_avg'/);
    expect(() => normalizedGradientStep(new Float32Array(5), [1, 0], 1, 2.5)).toThrow(
      /'repeat'.*expected an integer ≥ 1, got 2\.5/,
    );
  });
  it('Adam: first step moves each parameter by lr·sign(g)', () => {
    const p = Float32Array.of(1, -1, 0.5);
    const adam = createAdam({ p }, { lr: 0.01 });
    adam.step({ p: Float32Array.of(3, -0.2, 1e-3) });
    expect(Array.from(p).map((v) => v.toFixed(5))).toEqual(['0.99000', '-0.99000', '0.49000']);
    expect(() => adam.step({ q: Float32Array.of(1) } as never)).toThrow(/missing gradient for parameter 'p'/);
  });
});

describe('InfoNceSgdStep: gather + loss + SGD in one graph', () => {
  const tensor = (data: Float32Array, rows: number, cols: number): Tensor2D => ({
    dtype: 'float32',
    data,
    dims: [rows, cols],
  });
  const random = (n: number, seed: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
  it('matches PyTorch (references.json exp_clip_head): both losses and W after two steps, 1e-5 relative', async () => {
    const W = Float32Array.from(ref.W0.flat());
    const rows = Array.from({ length: X.dims[0] }, (_, i) => i);
    const stepper = await InfoNceSgdStep.create({
      features: X,
      targets: T,
      weight: tensor(W, 64, 32),
      lr: 1e-3,
      momentum: 0.9,
      weightDecay: 1e-4,
    });
    for (const step of ref.steps) {
      const r = await stepper.step(rows);
      expect(Math.abs(r.loss - step.loss) / step.loss).toBeLessThan(1e-5);
    }
    await stepper.release();
    expect(relErr(W, ref.W_after_2_steps.flat())).toBeLessThan(1e-5);
  });
  // E = 1024: the fused graph pads the logits product (logitsPadding), the loss graph it is compared with does not
  for (const [momentum, weightDecay, E] of [
    [0.9, 1e-4, 48],
    [0, 0, 48],
    [0.9, 1e-4, 1024],
  ] as const)
    it(`equals the loss graph + createSgd to float32 rounding over shuffled batches and a change of rate (momentum ${momentum}, decay ${weightDecay}, out dim ${E}), and resumes bit for bit from its state`, async () => {
      const [N, D, B] = [40, 24, 16];
      const features = tensor(random(N * D, 1), N, D);
      const targets = tensor(random(N * E, 2), N, E);
      const batches = [
        [3, 1, 4, 15, 9, 26, 5, 35, 8, 39, 7, 0, 2, 11, 33, 21],
        Array.from({ length: B }, (_, i) => 2 * i + 1),
        Array.from({ length: B }, (_, i) => 39 - i),
      ];
      const W0 = random(E * D, 3).map((v) => v * 0.3);
      const Wjs = Float32Array.from(W0);
      const sgd = createSgd({ weight: Wjs }, { lr: 0.5, momentum, weightDecay });
      const Wf = Float32Array.from(W0);
      const options = { features, targets, weight: tensor(Wf, E, D), lr: 0.5, momentum, weightDecay };
      const fused = await InfoNceSgdStep.create(options);
      for (const [k, rows] of batches.slice(0, 2).entries()) {
        // a schedule's step between the batches: both keep their momentum and use the new rate
        if (k === 1) [sgd, fused].forEach((o) => o.setLearningRate(0.05));
        const pick = (t: Tensor2D) =>
          tensor(
            Float32Array.from(rows.flatMap((r) => Array.from(t.data.subarray(r * t.dims[1], (r + 1) * t.dims[1])))),
            B,
            t.dims[1],
          );
        const js = await graph.run({ features: pick(features), weight: tensor(Wjs, E, D), targets: pick(targets) });
        sgd.step({ weight: js.gradWeight });
        const f = await fused.step(rows);
        expect(Math.abs(f.loss - js.loss) / js.loss).toBeLessThan(1e-6);
        expect(f.correct).toBe(js.correct);
      }
      fused.sync();
      expect(relErr(Wf, Wjs)).toBeLessThan(1e-6);
      expect(relErr(Wf, W0)).toBeGreaterThan(1e-3); // the steps moved W
      const state = fused.state();
      expect(state.step).toBe(2);
      expect(Object.keys(state.buffers)).toEqual(Object.keys(sgd.state().buffers));
      if (momentum > 0) expect(relErr(state.buffers.weight!, sgd.state().buffers.weight!)).toBeLessThan(1e-6);
      // resume: a new stepper from the state and a copy of the weights continues exactly as the first one does
      const Wr = Float32Array.from(Wf);
      const resumed = await InfoNceSgdStep.create({ ...options, lr: 0.05, weight: tensor(Wr, E, D), state });
      const [a, b] = [await fused.step(batches[2]!), await resumed.step(batches[2]!)];
      expect(b).toEqual(a);
      await Promise.all([fused.release(), resumed.release()]);
      expect(Array.from(Wr)).toEqual(Array.from(Wf));
      expect(resumed.state().step).toBe(3);
    });
  it('pads the logits product at output dims that are multiples of 1024 only, and checks outDim', () => {
    expect([4096, 1024, 48, 4112].map(logitsPadding)).toEqual([16, 16, 0, 0]);
    const size = (outDim?: number) => infoNceSgdModelBytes({ momentum: 0, weightDecay: 0, outDim }).length;
    expect(size(4096)).toBeGreaterThan(size());
    expect(size(48)).toBe(size());
    expect(() => size(0)).toThrow(/outDim/);
    expect(() => size(1.5)).toThrow(/outDim/);
  });
  it('rejects bad shapes and row indices, and leaves W untouched by a non-finite step', async () => {
    const f = tensor(random(12, 4), 4, 3);
    const t = tensor(random(8, 5), 4, 2);
    const w = tensor(random(6, 6), 2, 3);
    const base = { features: f, targets: t, weight: w, lr: 0.1, momentum: 0.9, weightDecay: 0 };
    await expect(InfoNceSgdStep.create({ ...base, weight: tensor(random(4, 6), 2, 2) })).rejects.toThrow(
      /'weight'.*\[2, 2\] but features are 3-d/,
    );
    await expect(InfoNceSgdStep.create({ ...base, targets: tensor(random(6, 1), 3, 2) })).rejects.toThrow(
      /'targets'.*expected \[4, 2\]/,
    );
    await expect(InfoNceSgdStep.create({ ...base, lr: 0 })).rejects.toThrow(/'lr'.*must be a finite number > 0/);
    const s = await InfoNceSgdStep.create(base);
    await expect(s.step([0, 4])).rejects.toThrow(/'rows'.*index 4 at 1 is outside \[0, 4\)/);
    await expect(s.step([])).rejects.toThrow(/'rows'.*at least one/);
    for (const lr of [0, -1, NaN]) expect(() => s.setLearningRate(lr)).toThrow(/'lr'.*must be a finite number > 0/);
    const before = Array.from(w.data);
    // non-finite inputs and settings are refused up front, naming them
    const nan = tensor(Float32Array.of(1, 1, 1, 1, NaN, 1, 1, 1, 1, 1, 1, 1), 4, 3);
    await expect(InfoNceSgdStep.create({ ...base, features: nan })).rejects.toThrow(
      /'features'.*row 1, column 1 is NaN; expected finite values/,
    );
    await expect(InfoNceSgdStep.create({ ...base, lr: Infinity })).rejects.toThrow(/'lr'.*got Infinity/);
    for (const scale of [0, -100, NaN])
      await expect(InfoNceSgdStep.create({ ...base, scale })).rejects.toThrow(
        /'scale'.*must be a number > 0 and ≤ 3.4028234663852886e\+38/,
      );
    await expect(
      InfoNceSgdStep.create({ ...base, features: { ...f, data: Float64Array.from(f.data) } as never }),
    ).rejects.toThrow(/'features'.*Float64Array/);
    // a step whose products overflow float32 has a non-finite loss: not applied
    const huge = await InfoNceSgdStep.create({
      ...base,
      features: tensor(new Float32Array(12).fill(3e38), 4, 3),
    });
    expect(Number.isNaN((await huge.step([0, 1])).loss)).toBe(true);
    await huge.release();
    expect(Array.from(w.data)).toEqual(before);
    expect(huge.state()).toEqual({ step: 0, buffers: {} });
    await s.release();
  });
});
