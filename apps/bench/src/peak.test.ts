/**
 * The matmul-peak arithmetic of the benches: FLOP counts of the rows, fractions of the peak, the reference peak,
 * and ORT's GEMM measurement on a small matrix (its rate is only checked to be a positive number: no timing).
 */
import { describe, expect, it } from 'vitest';
import {
  forwardFlops,
  forwardVjpFlops,
  fractionOfPeak,
  gemmFlops,
  headStepFlops,
  matmulPeakOrt,
  peakAfterRounds,
  peakRecord,
  referencePeak,
  towerFlops,
} from './peak.js';

const B32 = { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, image_size: 224, patch_size: 32 };

describe('FLOP counts', () => {
  it('counts ViT-B/32 at 8.8 GFLOP per image (4.4 G multiply-adds, the published CLIP figure)', () => {
    // 50 tokens: patch conv 2·49·768·3072, 12 layers of 2·50·(4·768² + 2·768·3072), attention 12·4·50²·768, proj
    const f = towerFlops(B32, 512);
    expect(f.weights).toBe(2 * 49 * 768 * 3072 + 12 * 2 * 50 * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * 768 * 512);
    expect(f.attention).toBe(12 * 4 * 50 * 50 * 768);
    expect(forwardFlops(B32, 512, 1) / 1e9).toBeCloseTo(8.82, 1);
    expect(forwardFlops(B32, 512, 32)).toBe(32 * forwardFlops(B32, 512, 1));
  });
  it("counts vlfer's class-token-only last vision layer: k and v over all tokens, the rest for one row", () => {
    const full = towerFlops(B32, 512);
    const cls = towerFlops(B32, 512, { clsOnlyLastLayer: true });
    // the last layer's q, out_proj, fc1, fc2 and both attention products lose 49 of their 50 rows
    expect(full.weights - cls.weights).toBe(2 * 49 * (2 * 768 * 768 + 2 * 768 * 3072));
    expect(full.attention - cls.attention).toBe(4 * 49 * 50 * 768);
    const saved = 1 - forwardFlops(B32, 512, 1, { clsOnlyLastLayer: true }) / forwardFlops(B32, 512, 1);
    expect(saved).toBeGreaterThan(0.06);
    expect(saved).toBeLessThan(0.07);
    expect(forwardVjpFlops(B32, 512, 2, { clsOnlyLastLayer: true })).toBe(2 * (2 * cls.weights + 3 * cls.attention));
    expect(() =>
      towerFlops({ hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12 }, 512, {
        tokens: 77,
        clsOnlyLastLayer: true,
      }),
    ).toThrow(/vision tower/);
  });
  it('counts a text tower at 77 tokens unless told, and the VJP as one more weight product and two attention ones', () => {
    const text = { hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12 };
    const f = towerFlops(text, 512);
    expect(f.attention).toBe(12 * 4 * 77 * 77 * 512);
    expect(towerFlops(text, 512, { tokens: 77 })).toEqual(f);
    expect(forwardVjpFlops(text, 512, 3)).toBe(3 * (2 * f.weights + 3 * f.attention));
  });
  it('counts a head step as forward x·W and ŷ·tᵀ and backward xᵀ·dy and dlogits·t', () => {
    expect(headStepFlops(512, 512, 4096)).toBe(4 * 512 * 512 * 4096 + 4 * 512 * 512 * 4096);
    expect(headStepFlops(2, 3, 5)).toBe(4 * 2 * 3 * 5 + 4 * 2 * 2 * 5);
    expect(() => headStepFlops(0, 3, 5)).toThrow(/positive integers/);
  });
  it('refuses configs without the fields that set the cost', () => {
    expect(() => towerFlops({ hidden_size: 768 } as never, 512)).toThrow(/positive integers/);
  });
});

describe('fractionOfPeak', () => {
  it('is the achieved GFLOP/s over the peak', () => {
    expect(fractionOfPeak(gemmFlops(2048), 0.1, 343.6)).toEqual({
      gflops: gemmFlops(2048) / 0.1 / 1e9,
      fraction: gemmFlops(2048) / 0.1 / 1e9 / 343.6,
    });
    expect(fractionOfPeak(190e9, 1, 190).fraction).toBe(1);
  });
  it('refuses a zero, negative or missing number, naming it', () => {
    expect(() => fractionOfPeak(1e9, 0, 100)).toThrow(/seconds must be a positive number, got 0/);
    expect(() => fractionOfPeak(1e9, 1, Number.NaN)).toThrow(/peakGflops/);
    expect(() => fractionOfPeak(-1, 1, 100)).toThrow(/flops/);
  });
});

describe('referencePeak and peakRecord', () => {
  const ort = { engine: 'onnxruntime', n: 2048, threads: 2, seconds: [0.1], gflops: 150 };
  it("takes the fastest engine, so no row is measured against a slower BLAS's peak", () => {
    expect(referencePeak([ort, { engine: 'torch', gflops: 190 }])).toEqual({ engine: 'torch', gflops: 190 });
    expect(referencePeak([ort])).toEqual({ engine: 'onnxruntime', gflops: 150 });
    expect(() => referencePeak([{ engine: 'x', gflops: Number.NaN }])).toThrow(/no positive GEMM rate/);
  });
  it("folds in the torch peer's torch and numpy rates and keeps its errors on record", () => {
    const peer = {
      matmulPeak: [
        { engine: 'torch', n: 2048, threads: 2, seconds: [0.09], gflops: 191 },
        { engine: 'numpy', error: 'No module named numpy' },
      ],
    };
    const p = peakRecord('AMD EPYC 9R14', ort, peer);
    expect(p.reference).toEqual({ engine: 'torch peer: torch', gflops: 191 });
    expect(p.torch).toEqual(peer.matmulPeak);
    expect(p.cpu).toBe('AMD EPYC 9R14');
    expect(peakRecord('cpu', ort).torch).toBeUndefined();
  });
  it("takes each engine's best over ORT's measurements and the peer's rounds (a peak timed under load understates)", () => {
    const round = (torchRate: number, numpyRate?: number) => ({
      matmulPeak: [
        { engine: 'torch', n: 2048, threads: 2, seconds: [0.1], gflops: torchRate },
        numpyRate === undefined
          ? { engine: 'numpy', error: 'No module named numpy' }
          : { engine: 'numpy', n: 2048, threads: 2, seconds: [0.1], gflops: numpyRate },
      ],
    });
    const slowOrt = { ...ort, gflops: 54 };
    const p = peakRecord('cpu', [slowOrt, ort], [round(107), round(124, 149), round(120)]);
    expect(p.ort.gflops).toBe(150);
    expect(p.ortGflops).toEqual([54, 150]);
    expect(p.torchRounds).toBe(3);
    expect(p.torch).toEqual([round(124, 149).matmulPeak[0], round(124, 149).matmulPeak[1]]);
    expect(p.reference).toEqual({ engine: 'onnxruntime', gflops: 150 });
    expect(peakRecord('cpu', [ort], [round(200)]).reference).toEqual({ engine: 'torch peer: torch', gflops: 200 });
    // an engine no round could time stays on record with its error
    expect(peakRecord('cpu', ort, [round(100)]).torch).toContainEqual({
      engine: 'numpy',
      error: 'No module named numpy',
    });
    expect(() => peakRecord('cpu', [])).toThrow(/at least one ONNX Runtime peak/);
  });
});

describe('matmulPeakOrt', () => {
  it('multiplies n×n matrices in an ORT MatMul graph at the given thread count and reports 2n³/median', async () => {
    const p = await matmulPeakOrt({ threads: 1, n: 64, reps: 3 });
    expect(p).toMatchObject({ engine: 'onnxruntime', n: 64, threads: 1 });
    expect(p.seconds).toHaveLength(3);
    const sorted = [...p.seconds].sort((a, b) => a - b);
    expect(p.gflops).toBeCloseTo(gemmFlops(64) / sorted[1]! / 1e9, 6);
  });
  it('is timed again after the rounds at the same size and threads, both measurements on record', async () => {
    const before = await matmulPeakOrt({ threads: 1, n: 64, reps: 1 });
    const p = await peakAfterRounds('cpu', before, []);
    expect(p.ortGflops).toHaveLength(2);
    expect(p.ortGflops![0]).toBe(before.gflops);
    expect(p.ort).toMatchObject({ n: 64, threads: 1, gflops: Math.max(...p.ortGflops!) });
    expect(p.torch).toBeUndefined();
  });
  it('refuses a bad size', async () => {
    await expect(matmulPeakOrt({ threads: 1, n: 0 })).rejects.toThrow(/n must be a positive integer, got 0/);
  });
});
