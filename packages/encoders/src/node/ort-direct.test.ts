import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, InvalidArgumentError } from '@vlfer/core';
import { referencePixels, sharedPath } from '@vlfer/test-utils';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ClipGradientModel } from './clip-gradients.js';
import { DirectSession, directRunsStatus, directSessionRefusal } from './ort-direct.js';
import { packageResolve } from './require.js';
import { probeWebGpu } from './webgpu.js';

/** y = x + x, z = x·x (both [n]), w = Σ x (a scalar), over a float32 input x [n]. */
const model = buildModel({
  name: 'direct-test',
  nodes: [
    { op: 'Add', inputs: ['x', 'x'], outputs: ['y'] },
    { op: 'Mul', inputs: ['x', 'x'], outputs: ['z'] },
    { op: 'ReduceSum', inputs: ['x'], outputs: ['w'], attrs: { keepdims: 0 } },
  ],
  inputs: [{ name: 'x', type: 'float32', dims: ['n'] }],
  outputs: [
    { name: 'y', type: 'float32', dims: ['n'] },
    { name: 'z', type: 'float32', dims: ['n'] },
    { name: 'w', type: 'float32', dims: [] },
  ],
});
const OPTIONS: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'all',
  intraOpNumThreads: 2,
  interOpNumThreads: 1,
  enableCpuMemArena: false,
  executionProviders: ['cpu'],
  logSeverityLevel: 4, // the failures this file provokes on purpose stay out of the log
};
const root = fileURLToPath(new URL('../../../../', import.meta.url));
/** Whether two float32 arrays hold the same bits (not merely equal values). */
const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
/** Fresh fetches y, z [n] and w [] of the test graph, for a run of n inputs. */
const fetchesOf = (n: number) => ({
  y: f32(new Float32Array(n), [n]),
  z: f32(new Float32Array(n), [n]),
  w: f32(new Float32Array(1), []),
});
/** x: 3 leading values that are not the input, then n values with fractional parts (a subarray, as the model passes) */
function input(n: number): Float32Array {
  return Float32Array.from({ length: n + 3 }, (_, i) => (i < 3 ? 1e6 : Math.sin(i) * 3.7)).subarray(3);
}

// The C API is called on Linux (with the optional koffi), which this repository's CI runs: there it must load.
describe.runIf(process.platform === 'linux')('DirectSession (ONNX Runtime C API through koffi; Linux)', () => {
  const sessions: DirectSession[] = [];
  const open = async (options = OPTIONS) => {
    const s = await DirectSession.create(model, options);
    sessions.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of sessions) await s.release();
  });

  it('loads here, on the ONNX Runtime that onnxruntime-node ships', () => {
    const status = directRunsStatus();
    const pkg = JSON.parse(readFileSync(packageResolve('onnxruntime-node/package.json'), 'utf8')) as {
      version: string;
    };
    expect(status).toEqual({ available: true, onnxruntimeVersion: pkg.version });
  });

  it("writes every output into the caller's buffers: the bits onnxruntime-node returns, and the same objects", async () => {
    const s = await open();
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['y', 'z', 'w']);
    const x = input(100_003);
    const fetches = fetchesOf(x.length);
    const out = await s.run({ x: f32(x, [x.length]) }, fetches);
    for (const k of ['y', 'z', 'w'] as const) expect(out[k]).toBe(fetches[k]);
    const binding = await ort.InferenceSession.create(model, OPTIONS);
    try {
      const ref = await binding.run({ x: f32(x, [x.length]) });
      for (const k of ['y', 'z', 'w'] as const)
        expect(sameBits(fetches[k].data as Float32Array, ref[k]!.data as Float32Array)).toBe(true);
      expect(fetches.y.data[7]).toBe(Math.fround(2 * x[7]!));
    } finally {
      await binding.release();
    }
  });

  it('refuses a null fetch, a tensor it cannot pass, and names ONNX Runtime errors (shape, input name)', async () => {
    const s = await open();
    const x = f32(input(8), [8]);
    const full = () => fetchesOf(8);
    await expect(s.run({ x }, { ...full(), z: null })).rejects.toThrow(/must be a tensor; null: z/);
    await expect(s.run({ x }, { ...full(), z: new ort.Tensor('string', ['a'], [1]) as never })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(s.run({ x }, { ...full(), y: f32(new Float32Array(7), [7]) })).rejects.toThrow(
      /ONNX Runtime Run: .*output 'y'.*shape \{7\}/s,
    );
    await expect(s.run({ q: x }, full())).rejects.toThrow(/Invalid input name: q/);
    // the session still runs after the failures, and a released one says so
    const ok = full();
    await s.run({ x }, ok);
    expect(ok.z.data[1]).toBe(Math.fround((x.data[1] as number) ** 2));
    const gone = await DirectSession.create(model, OPTIONS);
    await gone.release();
    await expect(gone.run({ x }, full())).rejects.toThrow(/released/);
  });

  it('gives the event loop a turn before each run, as onnxruntime-node does: a loop of runs sees timers (and signals)', async () => {
    const s = await open();
    const x = f32(input(8), [8]);
    const fetches = () => fetchesOf(8);
    let immediate = false;
    setImmediate(() => (immediate = true));
    await s.run({ x }, fetches());
    expect(immediate, 'an immediate queued before the run ran before it ended').toBe(true);
    // a resolved-at-once run left a loop of awaited runs in the microtask queue: the timer never fired in it
    let timer = false;
    setTimeout(() => (timer = true), 20);
    const t0 = performance.now();
    let runs = 0;
    while (!timer && performance.now() - t0 < 3000) {
      await s.run({ x }, fetches());
      runs++;
    }
    expect(timer, `a 20 ms timer fired during ${runs} runs`).toBe(true);
  });

  it('refuses what it would not write or read as asked: an output that is an input, a tensor not backed by its typed array', async () => {
    const echo = buildModel({
      name: 'echo',
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: 'float32', dims: [3] }],
      outputs: [
        { name: 'y', type: 'float32', dims: [3] },
        { name: 'x', type: 'float32', dims: [3] },
      ],
    });
    await expect(DirectSession.create(echo, OPTIONS)).rejects.toThrow(/outputs that are also graph inputs.*: x/);
    const s = await open();
    const fetches = () => ({
      y: f32(new Float32Array(3), [3]),
      z: f32(new Float32Array(3), [3]),
      w: f32(new Float32Array(1), []),
    });
    await expect(s.run({ x: undefined as never }, fetches())).rejects.toThrow(
      /feeds\.x.*a tensor was expected, got undefined/,
    );
    const wrong = f32(new Float32Array(3), [3]);
    (wrong as unknown as { cpuData: unknown }).cpuData = new Float64Array(3);
    await expect(s.run({ x: wrong }, fetches())).rejects.toThrow(/feeds\.x.*holding Float64Array\(3\)/);
  });

  it('translates the options it knows and refuses the others by name', async () => {
    expect(directSessionRefusal(OPTIONS)).toBeUndefined();
    expect(directSessionRefusal({ ...OPTIONS, freeDimensionOverrides: { n: 8 } })).toMatch(/freeDimensionOverrides/);
    expect(directSessionRefusal({ executionProviders: ['webgpu'] })).toMatch(/webgpu/);
    expect(directSessionRefusal({ graphOptimizationLevel: 'most' as never })).toMatch(/most/);
    expect(directSessionRefusal({ graphOptimizationLevel: 'toString' as never })).toMatch(/toString/);
    expect(directSessionRefusal({ executionMode: 'eager' as never })).toMatch(/executionMode eager/);
    expect(directSessionRefusal({ intraOpNumThreads: 1.5 })).toMatch(/intraOpNumThreads 1\.5/);
    expect(directSessionRefusal({ logSeverityLevel: 5 as never })).toMatch(/logSeverityLevel 5/);
    expect(directSessionRefusal({ enableCpuMemArena: 'false' as never })).toMatch(
      /enableCpuMemArena false \(expected a boolean\)/,
    );
    expect(directSessionRefusal({ extra: 'x' as never })).toMatch(/extra x \(expected an object/);
    await expect(DirectSession.create(model, { executionProviders: ['cuda'] })).rejects.toThrow(InvalidArgumentError);
    // `extra` reaches ONNX Runtime as configuration entries, nested keys joined by '.': an ORT-format load of ONNX bytes fails
    await expect(
      DirectSession.create(model, { ...OPTIONS, extra: { session: { load_model_format: 'ORT' } } }),
    ).rejects.toThrow(/ONNX Runtime CreateSessionFromArray/);
    await expect(DirectSession.create(new Uint8Array([1, 2, 3]), OPTIONS)).rejects.toThrow(/protobuf parsing failed/);
    await expect(DirectSession.create(model, { ...OPTIONS, extra: { session: { x: 1 } } })).rejects.toThrow(
      /options\.extra\.session\.x.*must be a string, got 1/,
    );
  });

  it('profiles: endProfiling writes the Chrome trace at the prefix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-direct-'));
    try {
      const s = await open({ ...OPTIONS, enableProfiling: true, profileFilePrefix: join(dir, 'p') });
      const x = f32(input(16), [16]);
      await s.run(
        { x },
        { y: f32(new Float32Array(16), [16]), z: f32(new Float32Array(16), [16]), w: f32(new Float32Array(1), []) },
      );
      s.endProfiling();
      const files = readdirSync(dir);
      expect(files).toHaveLength(1);
      const trace = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as { name: string }[];
      expect(trace.some((e) => e.name === 'model_run')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(process.platform === 'linux')('DirectSession and onnxruntime-node share one environment', () => {
  it("created after the user's ort.env settings: asked first, the status does not take the environment's log level", () => {
    const script = `
      import * as ort from 'onnxruntime-node';
      ort.env.logLevel = 'verbose';
      const { directRunsStatus, DirectSession } = await import(${JSON.stringify(new URL('./ort-direct.ts', import.meta.url).href)});
      const { buildModel } = await import('@vlfer/core');
      const status = directRunsStatus();
      const model = buildModel({
        name: 'env', nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
        inputs: [{ name: 'x', type: 'float32', dims: [1] }], outputs: [{ name: 'y', type: 'float32', dims: [1] }],
      });
      await (await DirectSession.create(model)).release();
      await (await ort.InferenceSession.create(model)).release();
      console.log(JSON.stringify({ status }));
    `;
    const r = spawnSync(
      process.execPath,
      ['--conditions=@vlfer/source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: join(root, 'packages', 'encoders'), encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`the child failed (${r.status}): ${r.stderr}`);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).status.available).toBe(true);
    // verbose lines come from the environment onnxruntime-node created with the user's level
    expect(r.stderr.split('\n').filter((l) => l.includes('[V:onnxruntime')).length).toBeGreaterThan(10);
  }, 60_000);
});

describe.runIf(process.platform === 'linux')('ClipGradientModel.directRuns (tiny-clip)', () => {
  const tiny = sharedPath('fixtures', 'tiny-clip');

  it('gives the bits onnxruntime-node gives, through pooled residual buffers, for both weight placements', async () => {
    const px = referencePixels();
    const [c, S] = [px.dims[1], px.dims[2]];
    // 5 images: the reference pixels, then the same scaled by −0.5
    const m = 5;
    const data = new Float32Array(m * c * S * S).map(
      (_, i) => px.data[i % px.data.length]! * (i < px.data.length ? 1 : -0.5),
    );
    const pixels = { dtype: 'float32' as const, data, dims: [m, c, S, S] as [number, number, number, number] };
    for (const weightsIn of ['inputs', 'graph'] as const) {
      const create = vi.spyOn(DirectSession, 'create');
      const direct = await ClipGradientModel.load(tiny, { weightsIn, directRuns: true });
      const binding = await ClipGradientModel.load(tiny, { weightsIn, directRuns: false });
      try {
        const E = direct.arch.vision.projectionDim;
        const cot = {
          dtype: 'float32' as const,
          data: Float32Array.from({ length: m * E }, (_, i) => Math.cos(i)),
          dims: [m, E] as [number, number],
        };
        const a1 = await direct.visionVjp(pixels, cot);
        const a2 = await direct.visionVjp(pixels, cot); // the second forward writes into the first one's residual buffers
        const b = await binding.visionVjp(pixels, cot);
        expect(create).toHaveBeenCalledTimes(2); // the forward-with-residuals and backward sessions, not the text ones
        expect([direct.directRuns, binding.directRuns]).toEqual([true, false]);
        for (const a of [a1, a2]) {
          expect(sameBits(a.imageEmbeds.data, b.imageEmbeds.data)).toBe(true);
          expect(sameBits(a.gradPixels.data, b.gradPixels.data)).toBe(true);
        }
        const e = await direct.visionForwardEmbeds(pixels, 2);
        expect(sameBits(e.data, b.imageEmbeds.data)).toBe(true);
      } finally {
        create.mockRestore();
        await direct.release();
        await binding.release();
      }
    }
  });

  it('a released model runs nothing more and creates no session (a run in flight when release() came fails)', async () => {
    const m = await ClipGradientModel.load(tiny, { directRuns: true });
    const S = m.arch.vision.imageSize!;
    const E = m.arch.vision.projectionDim;
    const px = {
      dtype: 'float32' as const,
      data: new Float32Array(2 * 3 * S * S).fill(0.5),
      dims: [2, 3, S, S] as [number, number, number, number],
    };
    const cot = { dtype: 'float32' as const, data: new Float32Array(2 * E).fill(1), dims: [2, E] as [number, number] };
    const create = vi.spyOn(DirectSession, 'create');
    try {
      const inFlight = m.visionVjp(px, cot);
      const released = m.release();
      await expect(inFlight).rejects.toThrow(/the model was released/);
      await released;
      await expect(m.visionVjp(px, cot)).rejects.toThrow(/the model was released/);
      expect(create.mock.calls.length).toBeLessThanOrEqual(1); // the backward's session is never created
    } finally {
      create.mockRestore();
    }
  });

  it('directRuns: true is refused where it cannot run, naming why; by default a GPU model does not ask for it', async () => {
    await expect(ClipGradientModel.load(tiny, { directRuns: true, device: 'webgpu' })).rejects.toThrow(
      /runs on a CPU only, not webgpu/,
    );
    // without an adapter the load is refused as loadClip's is (webgpu.test.ts); with one, no direct session is made
    if (!(await probeWebGpu()).available) {
      await expect(ClipGradientModel.load(tiny, { device: 'webgpu' })).rejects.toThrow(
        /no WebGPU adapter is available/,
      );
      return;
    }
    const create = vi.spyOn(DirectSession, 'create');
    try {
      const gpu = await ClipGradientModel.load(tiny, { device: 'webgpu' }); // sessions are created when first used
      await gpu.release();
      expect(create).not.toHaveBeenCalled();
    } finally {
      create.mockRestore();
    }
  });

  it('without koffi: the status says why, the default logs it and runs through onnxruntime-node, true throws', () => {
    const script = `
      import Module from 'node:module';
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request === 'koffi') throw Object.assign(new Error("Cannot find module 'koffi'"), { code: 'MODULE_NOT_FOUND' });
        return resolve.call(this, request, ...rest);
      };
      const { directRunsStatus } = await import(${JSON.stringify(new URL('./ort-direct.ts', import.meta.url).href)});
      const { ClipGradientModel } = await import(${JSON.stringify(new URL('./clip-gradients.ts', import.meta.url).href)});
      const model = ${JSON.stringify(tiny)};
      const log = [];
      const m = await ClipGradientModel.load(model, { log: (l) => log.push(l) });
      const S = m.arch.vision.imageSize, E = m.arch.vision.projectionDim;
      const px = { dtype: 'float32', data: new Float32Array(2 * 3 * S * S).fill(0.25), dims: [2, 3, S, S] };
      const r = await m.visionVjp(px, { dtype: 'float32', data: new Float32Array(2 * E).fill(1), dims: [2, E] });
      await m.release();
      const refused = await ClipGradientModel.load(model, { directRuns: true }).then(() => '', (e) => e.message);
      console.log(JSON.stringify({ status: directRunsStatus(), log, finite: r.gradPixels.data.every(Number.isFinite), refused }));
    `;
    const r = spawnSync(
      process.execPath,
      ['--conditions=@vlfer/source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`the child failed (${r.status}): ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      status: { available: boolean; reason: string };
      log: string[];
      finite: boolean;
      refused: string;
    };
    expect(out.status.available).toBe(false);
    expect(out.status.reason).toMatch(/the optional dependency koffi did not load \(Cannot find module 'koffi'\)/);
    expect(out.log).toEqual([
      `vision residuals copied by onnxruntime-node, not written in place: ${out.status.reason}`,
    ]);
    expect(out.finite).toBe(true);
    expect(out.refused).toMatch(/directRuns.*koffi did not load/);
  }, 60_000);
});
