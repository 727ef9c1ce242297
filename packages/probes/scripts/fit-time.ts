/**
 * @file How long `fitLinearProbe` takes on a set of the size of a real train part (10,000 features of 512 dimensions,
 * 7 classes, around 7 seeded random centres), at C = 1 and C = 100: seconds, L-BFGS iterations and function
 * evaluations, milliseconds per evaluation, and a digest of the weights (equal digests: the same bits), on each kernel
 * (`kernel`: WebAssembly SIMD, JavaScript), the two interleaved.
 * Run: node --conditions=@vlfer/source --import tsx packages/probes/scripts/fit-time.ts [--rounds N]
 * scikit-learn's time on a set of the same shape: /usr/bin/python3 packages/probes/scripts/fit_time_sklearn.py
 */
import { createHash } from 'node:crypto';
import { fitLinearProbe, PROBE_KERNELS, type ProbeKernelName } from '../src/index.js';

const n = 10_000;
const d = 512;
const k = 7;
let state = 1;
const uniform = () => (state = (state * 16807) % 2147483647) / 2147483647 - 0.5;
const centres = Array.from({ length: k }, () => Float64Array.from({ length: d }, uniform));
const data = new Float32Array(n * d);
const labels = Array.from({ length: n }, (_, i) => i % k);
for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = 0.15 * centres[labels[i]!]![j]! + uniform();
const features = { dtype: 'float32' as const, data, dims: [n, d] as [number, number] };
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 1) || 1;
for (let round = 0; round < rounds; round++)
  for (const c of [1, 100]) for (const kernel of PROBE_KERNELS) fit(c, kernel);

function fit(c: number, kernel: ProbeKernelName): void {
  const t0 = performance.now();
  const p = fitLinearProbe(features, labels, { c, kernel });
  const s = (performance.now() - t0) / 1000;
  const digest = createHash('sha256').update(p.coef).update(p.intercept).digest('hex').slice(0, 16);
  const o = p.optimizer;
  console.log(
    `C ${c}, ${kernel}: ${s.toFixed(2)} s, ${o.iterations} iterations, ${o.evaluations} evaluations, ` +
      `${((1000 * s) / o.evaluations).toFixed(1)} ms per evaluation (${o.reason}); weights ${digest}`,
  );
}
