/**
 * The torch peer of `--vs torch`: the environment it is started with (checked by running a tiny Python that prints
 * what it sees), and its load row reading the checkpoint file it is given. Needs Debian's python3-torch (or
 * VLFER_TORCH_PYTHON); without it these tests fail with the install hint of `torchPython`.
 */
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '@vlfer/core';
import { writeSafetensors } from '@vlfer/core/node';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import { ClipGradientModel } from '@vlfer/encoders/node';
import { describe, expect, it } from 'vitest';
import { parseCpuFlags, runTorch, runTorchScript, TORCH_ENV, torchEnv } from './torch.js';

const TORCH_DIR = join(import.meta.dirname, '..', 'torch');

describe('torchEnv', () => {
  it('limits every thread pool torch may use and lets idle OpenMP threads sleep', () => {
    const avx512 = new Set(['avx2', 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl']);
    const env = torchEnv(3, { PATH: '/bin', OPENBLAS_NUM_THREADS: '16', OMP_WAIT_POLICY: 'ACTIVE' }, avx512);
    expect(env).toMatchObject({
      PATH: '/bin',
      OMP_WAIT_POLICY: 'PASSIVE',
      OPENBLAS_NUM_THREADS: '3',
      OMP_NUM_THREADS: '3',
      MKL_NUM_THREADS: '3',
      MALLOC_MMAP_THRESHOLD_: TORCH_ENV.MALLOC_MMAP_THRESHOLD_,
      OPENBLAS_CORETYPE: 'SkylakeX',
    });
  });
  it('asks OpenBLAS for its AVX-512 kernels only on a CPU that has AVX-512 (elsewhere they end the peer with SIGILL)', () => {
    expect(torchEnv(2, { PATH: '/bin' }, new Set(['avx2', 'fma'])).OPENBLAS_CORETYPE).toBeUndefined();
    expect(torchEnv(2, { PATH: '/bin' }, new Set(['avx2', 'avx512f'])).OPENBLAS_CORETYPE).toBeUndefined();
  });
  it("reads the first processor's flags from /proc/cpuinfo (x86 `flags`, Arm `Features`; `vmx flags` is not it)", () => {
    const x86 =
      'processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f\nvmx flags\t: ept\n\nprocessor\t: 1\nflags\t\t: fpu';
    expect([...parseCpuFlags(x86)]).toEqual(['fpu', 'sse2', 'avx2', 'avx512f']);
    expect([...parseCpuFlags('processor\t: 0\nFeatures\t: fp asimd asimddp\n')]).toEqual(['fp', 'asimd', 'asimddp']);
    expect(parseCpuFlags('processor\t: 0\nisa\t: rv64imafdc\n').size).toBe(0);
  });
  it('refuses a thread count that is not a positive integer', () => {
    expect(() => torchEnv(0)).toThrow(/positive integer thread count, got 0/);
    expect(() => torchEnv(1.5)).toThrow(/got 1.5/);
  });
});

describe('runTorchScript', () => {
  it('starts the peer with OPENBLAS_NUM_THREADS and OMP_WAIT_POLICY set before Python starts, and OpenBLAS obeys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-torch-env-'));
    const script = join(dir, 'env.py');
    writeFileSync(
      script,
      [
        'import os, sys',
        // what the interpreter saw at start, before torch (and OpenBLAS) loaded
        "seen = {k: os.environ.get(k) for k in ('OPENBLAS_NUM_THREADS', 'OMP_WAIT_POLICY', 'OMP_NUM_THREADS')}",
        'argv = sys.argv[1:]',
        `sys.path.insert(0, ${JSON.stringify(TORCH_DIR)})`,
        'import torch',
        'from common import emit, setup',
        'setup(int(sys.argv[sys.argv.index("--threads") + 1]))',
        'torch.ones(64, 64) @ torch.ones(64, 64)',
        'emit({"seen": seen, "argv": argv}, peak=False)',
      ].join('\n'),
    );
    const r = await runTorchScript(script, { images: 2, skipped: undefined }, 1);
    // its flags, then the thread count and this process's pid, which the script watches (torch/common.py)
    expect(r.argv).toEqual(['--images', '2', '--threads', '1', '--parent', String(process.pid)]);
    expect(r.seen).toEqual({ OPENBLAS_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '1' });
    // the result records the environment, torch's parallel setup and the BLAS in use
    expect(r.environment).toMatchObject({ OPENBLAS_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE' });
    expect(r.threads).toBe(1);
    expect(r.parallelInfo).toMatch(/at::get_num_threads\(\) : 1/);
    expect((r.blas as string[]).some((l) => l.includes('openblas'))).toBe(true);
    // OpenBLAS's own pool, as the library reports it: the limit reached it (set_num_threads alone does not)
    expect(r.openblasThreads).toBe(1);
  });
  it('names the script and its error when it fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-torch-env-'));
    writeFileSync(join(dir, 'broken.py'), 'raise SystemExit("no such model")\n');
    await expect(runTorchScript(join(dir, 'broken.py'), {}, 1)).rejects.toThrow(
      /^--vs torch: broken\.py exited with 1: no such model$/,
    );
  });
});

describe('torch/load.py (the load row of bench:hesp-step --vs torch)', () => {
  /** tiny-clip's config and weights in a fresh folder; `scale` multiplies its visual projection */
  const checkpoint = (scale: number) => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-torch-load-'));
    copyWritable(sharedPath('fixtures', 'tiny-clip', 'config.json'), join(dir, 'config.json'));
    const file = sharedPath('fixtures', 'tiny-clip', 'model.safetensors');
    const t = decodeSafetensors(readFileSync(file), file);
    const proj = t.tensors['visual_projection.weight']!;
    const tensors = Object.fromEntries(
      Object.entries(t.tensors).map(([k, v]) => [
        k,
        { dims: v.dims, data: k === 'visual_projection.weight' ? v.data.map((x) => x * scale) : v.data },
      ]),
    );
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const sum = proj.data.reduce((a, x) => a + x * scale, 0);
    return { dir, sum };
  };
  it('loads the weights of the file it is given, memory-mapped and from a .pt written beside it', async () => {
    for (const scale of [1, -3]) {
      const { dir, sum } = checkpoint(scale);
      const args = {
        config: join(dir, 'config.json'),
        checkpoint: join(dir, 'model.safetensors'),
        pt: join(dir, 'model.pt'),
      };
      const r = await runTorch('load', args, 1);
      expect(r.checkpoint).toBe(args.checkpoint);
      expect(r.ptWritten).toBe(true);
      expect(existsSync(args.pt)).toBe(true);
      expect(r.visualProjectionSum).toBeCloseTo(sum, 3);
      expect(r.safetensorsSeconds).toBeGreaterThan(0);
      expect(r.ptSeconds).toBeGreaterThan(0);
      // a second run reuses the .pt; a newer checkpoint replaces it
      expect((await runTorch('load', args, 1)).ptWritten).toBe(false);
      utimesSync(args.checkpoint, new Date(), new Date(Date.now() + 60_000));
      expect((await runTorch('load', args, 1)).ptWritten).toBe(true);
    }
  });
  it('--only: one format per process, timed to the stages of bench:load, encoding the images vlfer encodes', async () => {
    const { dir } = checkpoint(1);
    const args = {
      config: join(dir, 'config.json'),
      checkpoint: join(dir, 'model.safetensors'),
      pt: join(dir, 'model.pt'),
    };
    const m = await ClipGradientModel.load(dir, { weightsIn: 'graph', gradients: false, intraOpNumThreads: 1 });
    const S = m.arch.vision.imageSize!;
    const px = Float32Array.from({ length: 2 * 3 * S * S }, (_, i) => Math.sin(0.01 * i)); // as bench:load
    const vlfer = (await m.visionForwardEmbeds({ dtype: 'float32', data: px, dims: [2, 3, S, S] })).data;
    await m.release();
    for (const only of ['safetensors', 'pt']) {
      const r = await runTorch('load', { ...args, only }, 1);
      expect(r.format).toBe(only);
      expect(r.ready).toEqual(r.open); // a built module with its state dict has nothing left to prepare
      expect(r.firstBatch.seconds).toBeGreaterThan(r.open.seconds);
      expect(r.firstBatch.cpuSeconds).toBeGreaterThan(0);
      expect(r.startupSeconds).toBeGreaterThan(0);
      expect(r.imageEmbeds).toHaveLength(vlfer.length);
      const diff = Math.max(...vlfer.map((v, i) => Math.abs(v - r.imageEmbeds[i])));
      expect(diff).toBeLessThan(1e-4);
    }
  });
  it('refuses a checkpoint path that is not a file, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-torch-load-'));
    await expect(
      runTorch('load', { config: join(dir, 'config.json'), checkpoint: join(dir, 'missing.safetensors') }, 1),
    ).rejects.toThrow(/--checkpoint: .*missing\.safetensors is not a file/);
  });
});

describe('torch/encode.py', () => {
  it('times eager, jit.freeze and jit.optimize_for_inference in the warm-up and keeps the fastest, on record', async () => {
    const r = await runTorch(
      'encode',
      { config: sharedPath('fixtures', 'tiny-clip', 'config.json'), batch: 1, reps: 1, 'trial-reps': 1 },
      1,
    );
    const trials = r.encoderTrials as Record<string, { medianSeconds?: number; error?: string }>;
    expect(Object.keys(trials).sort()).toEqual(['eager', 'jit.freeze', 'jit.optimize_for_inference']);
    for (const t of Object.values(trials)) expect(t.medianSeconds ?? t.error).toBeDefined();
    const timed = Object.entries(trials).filter(([, t]) => t.medianSeconds !== undefined);
    const fastest = timed.reduce((a, b) => (b[1].medianSeconds! < a[1].medianSeconds! ? b : a))[0];
    expect(r.encoder).toBe(fastest);
    expect(r.rawImagesPerSecond).toBeGreaterThan(0);
    // the GEMM peak of the peer, at its thread count
    expect((r.matmulPeak as { engine: string; n: number; threads: number }[])[0]).toMatchObject({
      engine: 'torch',
      n: 2048,
      threads: 1,
    });
  });
});
