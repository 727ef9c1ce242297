import { tensor2d, type Tensor2D } from '@vlfer/core';
import { loadReferences } from '@vlfer/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdam, createSgd } from './index.js';
import { InfoNceGraph } from './node/index.js';
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
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
};
let graph: InfoNceGraph;
beforeAll(async () => {
  graph = await InfoNceGraph.create();
});
afterAll(async () => {
  await graph.release();
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
    expect(() => sgd.setLearningRate(0)).toThrow(/must be > 0/);
  });
  it('Adam: first step moves each parameter by lr·sign(g)', () => {
    const p = Float32Array.of(1, -1, 0.5);
    const adam = createAdam({ p }, { lr: 0.01 });
    adam.step({ p: Float32Array.of(3, -0.2, 1e-3) });
    expect(Array.from(p).map((v) => v.toFixed(5))).toEqual(['0.99000', '-0.99000', '0.49000']);
    expect(() => adam.step({ q: Float32Array.of(1) } as never)).toThrow(/missing gradient for parameter 'p'/);
  });
});
