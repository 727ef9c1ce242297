import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, tensor } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { fitLinearProbe, sweepLinearProbe } from './index.js';
import { jsProbeKernel, wasmProbeKernel, type ProbeKernel } from './probe-kernel.js';
import { PROBE_KERNELS_WASM } from './probe-kernels-wasm.js';

/** Seeded features [n, D] of k classes around random centres, and their labels. */
function blobs(n: number, d: number, k: number, seed = 7) {
  let state = seed;
  const uniform = () => (state = (state * 16807) % 2147483647) / 2147483647 - 0.5;
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, uniform));
  const labels = Array.from({ length: n }, (_, i) => (i * 3 + (i >> 2)) % k);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) data[i * d + t] = 0.4 * centres[labels[i]!]![t]! + uniform();
  return { features: tensor<'R2'>(data, [n, d]), labels };
}

/** Runs a kernel over every block of n rows at θ with seeded residuals: the logits of each block and the gradient. */
function sweepKernel(kernel: ProbeKernel, theta: Float64Array, [n, d]: [number, number], k: number) {
  const logits: number[] = [];
  kernel.begin(theta);
  for (let i0 = 0; i0 < n; i0 += 4) {
    kernel.logits(i0);
    logits.push(...kernel.z);
    for (let i = 0; i < kernel.res.length; i++) kernel.res[i] = i0 + 4 * i < n ? Math.sin(i0 + 3 * i) : 0;
    kernel.accumulate(i0);
  }
  const grad = new Float64Array(k * d);
  kernel.end(grad);
  return { logits, grad };
}

describe('probe kernels', () => {
  it.each([
    [13, 5, 3], // odd D and k, n not a multiple of 4
    [9, 6, 2],
    [4, 1, 7],
    [21, 34, 8],
  ])('WebAssembly and JavaScript give the same bits (n %i, D %i, k %i)', (n, d, k) => {
    const { features } = blobs(n, d, k);
    const theta = Float64Array.from({ length: k * d + k }, (_, i) => Math.cos(i * 0.7) * (i % 3 === 0 ? 1e-3 : 2));
    const wasm = wasmProbeKernel(features.data, [n, d], k);
    expect(wasm?.name, 'this Node has WebAssembly SIMD').toBe('wasm');
    const a = sweepKernel(wasm!, theta, [n, d], k);
    const b = sweepKernel(jsProbeKernel(Float64Array.from(features.data), [n, d], k), theta, [n, d], k);
    expect(new Float64Array(a.logits)).toEqual(new Float64Array(b.logits));
    expect(a.grad).toEqual(b.grad);
    // the logits are the sums they claim to be (row i0 + r; blocks past the end repeat row i0)
    const row = 1;
    const z = Array.from({ length: k }, (_, j) => {
      let s = theta[k * d + j]!;
      for (let t = 0; t < d; t++) s += theta[j * d + t]! * features.data[row * d + t]!;
      return s;
    });
    expect(a.logits.slice(k, 2 * k)).toEqual(z);
  });

  it('a fit gives the same weights to the bit on either kernel, and the sweep too', () => {
    const { features, labels } = blobs(203, 37, 5);
    const wasm = fitLinearProbe(features, labels, { c: 3, kernel: 'wasm' });
    const js = fitLinearProbe(features, labels, { c: 3, kernel: 'js' });
    const auto = fitLinearProbe(features, labels, { c: 3 });
    expect(wasm.optimizer.iterations).toBeGreaterThan(5);
    expect(wasm.coef).toEqual(js.coef);
    expect(wasm.intercept).toEqual(js.intercept);
    expect(auto.coef).toEqual(js.coef);
    expect(wasm.optimizer).toEqual(js.optimizer);
    const train = { features, labels };
    const validation = blobs(40, 37, 5, 11);
    const sweep = (kernel: 'wasm' | 'js') => sweepLinearProbe(train, validation, { kernel, search: 'grid' });
    expect(sweep('wasm').probe.coef).toEqual(sweep('js').probe.coef);
  });

  it('refuses a kernel it does not know, naming the option', () => {
    const { features, labels } = blobs(8, 3, 2);
    expect(() => fitLinearProbe(features, labels, { kernel: 'gpu' as never })).toThrow(InvalidArgumentError);
    expect(() => fitLinearProbe(features, labels, { kernel: 'gpu' as never })).toThrow(
      /Argument 'kernel' passed to 'fitLinearProbe': expected one of 'wasm', 'js', got 'gpu'/,
    );
  });

  it('the committed module is src/probe-kernels.wat compiled (tooling/build/src/build-wasm.mjs)', async () => {
    // @ts-expect-error a plain ES module script without types
    const { compileWat, wasmModuleSource } = await import('../../../tooling/build/src/build-wasm.mjs');
    const wat = join(import.meta.dirname, 'probe-kernels.wat');
    expect(await compileWat(wat)).toBe(PROBE_KERNELS_WASM);
    expect(readFileSync(join(import.meta.dirname, 'probe-kernels-wasm.ts'), 'utf8')).toBe(
      wasmModuleSource(wat, 'PROBE_KERNELS_WASM', PROBE_KERNELS_WASM),
    );
  });
});
