import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { runInt8Bench } from './bench-int8.js';

describe('bench:encode --dtype int8 --vs torch (on the tiny-clip architecture)', () => {
  it('times vlfer fp32/int8 and PyTorch fp32/quantize_dynamic (wall and CPU time), with cosines and the load average', async () => {
    // a shared/ folder whose fixtures/graphs/tiny is tiny-clip's config (random weights are written from it)
    const shared = mkdtempSync(join(tmpdir(), 'vlfer-int8-bench-'));
    mkdirSync(join(shared, 'fixtures', 'graphs', 'tiny'), { recursive: true });
    mkdirSync(join(shared, 'assets'));
    copyWritable(
      sharedPath('fixtures', 'tiny-clip', 'config.json'),
      join(shared, 'fixtures', 'graphs', 'tiny', 'config.json'),
    );
    symlinkSync(sharedPath('assets', 'clip-tokenizer'), join(shared, 'assets', 'clip-tokenizer'));
    const out = join(shared, 'int8.json');
    const o = { shared, model: 'tiny', batch: 2, reps: 1, rounds: 1, threads: 1, modelsDir: join(shared, 'models') };
    await runInt8Bench({ ...o, out, vsTorch: true });
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r.vlfer.imagesPerSecond.fp32).toBeGreaterThan(0);
    expect(r.vlfer.imagesPerSecond.int8).toBeGreaterThan(0);
    expect(r.vlfer.imagesPerSecond.fp32StoredWeights).toBeGreaterThan(0);
    expect(r.vlfer.int8CosineToFp32.min).toBeGreaterThanOrEqual(0.999);
    expect(r.vlfer.int8CosineToFp32.min).toBeLessThan(1);
    expect(r.torch.quantize).toMatchObject({ method: 'quantize_dynamic', modules: 'nn.Linear', dtype: 'qint8' });
    expect(r.torch.int8CosineToFp32.min).toBeGreaterThan(0.99);
    expect(r.torch.int8CosineToFp32.min).toBeLessThan(1);
    expect(r.ratio.int8VsTorchInt8).toBeCloseTo(r.vlfer.imagesPerSecond.int8 / r.torch.imagesPerSecond.int8);
    // CPU time per batch on both sides, and the CPU-time ratios computed from them
    for (const side of [r.vlfer, r.torch])
      for (const k of ['fp32', 'int8']) expect(side.cpuMsPerBatch[k]).toBeGreaterThan(0);
    expect(r.cpuRatio.int8VsTorchInt8).toBeCloseTo(r.torch.cpuMsPerBatch.int8 / r.vlfer.cpuMsPerBatch.int8);
    expect(r.cpuRatio.int8VsTorchFp32).toBeCloseTo(r.torch.cpuMsPerBatch.fp32 / r.vlfer.cpuMsPerBatch.int8);
    expect(r.loadAverage.start).toHaveLength(3);
    // provenance of the run, and what the peer ran with (its settings and threads)
    expect(r.environment.git.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(r.torch.environment.OMP_WAIT_POLICY).toBe('PASSIVE');
    expect(r.torch.openblasThreads).toBe(1);
    expect(r.runtime).toBe('graphs');
  }, 600_000);
});
