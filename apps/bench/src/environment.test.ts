/**
 * The machine-load part of a bench's environment record: /proc/stat parsing and the CPU time shares, including the
 * time stolen by the hypervisor (a shared host slows a bench without raising this machine's load average).
 */
import { describe, expect, it } from 'vitest';
import { benchEnvironment, cpuShares, cpuTicks } from './environment.js';

describe('cpuTicks and cpuShares', () => {
  it("reads the summary line's eight states and splits a span into busy, idle and stolen shares", () => {
    const before = cpuTicks(() => 'cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n')!;
    expect(before).toEqual([100, 0, 50, 800, 10, 0, 5, 35]);
    const after = cpuTicks(() => 'cpu  250 0 80 830 10 0 5 60 0 0\n')!;
    // deltas: user 150, system 30, idle 30, steal 25: 235 ticks
    expect(cpuShares(before, after)).toEqual({ busy: 180 / 235, idle: 30 / 235, steal: 25 / 235 });
    expect(cpuShares(after, after)).toEqual({ busy: 0, idle: 0, steal: 0 });
  });
  it('is undefined without /proc/stat and refuses a file of another shape, quoting it', () => {
    const enoent = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(
      cpuTicks(() => {
        throw enoent;
      }),
    ).toBeUndefined();
    expect(() => cpuTicks(() => 'intr 1 2 3\n')).toThrow(/\/proc\/stat: expected a first line 'cpu .*got 'intr 1 2 3'/);
    expect(() =>
      cpuTicks(() => {
        throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
      }),
    ).toThrow(/permission denied/);
  });
  it("records the load averages and, on Linux, this process's span of CPU shares summing to 1", () => {
    const until = performance.now() + 50; // a span of a few clock ticks (10 ms each) since the module loaded
    while (performance.now() < until);
    const m = benchEnvironment().machine as {
      loadAverage: number[];
      cpuShares?: { busy: number; idle: number; steal: number };
    };
    expect(m.loadAverage).toHaveLength(3);
    if (process.platform !== 'linux') return; // the shares come from /proc/stat (Linux only): nothing else to check
    const s = m.cpuShares!;
    expect(s.busy + s.idle + s.steal).toBeCloseTo(1, 9);
  });
});

describe('benchEnvironment: freed memory', () => {
  it("records whether glibc's malloc was told to keep freed memory, and says why not before any model loaded", () => {
    // no ClipGradientModel is loaded in this file's process: keepFreedMemory has not run
    expect(benchEnvironment().freedMemory).toEqual({ kept: false, reason: 'keepFreedMemory was not called' });
  });
});

describe('benchEnvironment: direct runs', () => {
  it("records whether ONNX Runtime's C API loads (on Linux with koffi, as CI runs: it does, with the version)", () => {
    const d = benchEnvironment().directRuns as { available: boolean; onnxruntimeVersion?: string; reason?: string };
    if (process.platform !== 'linux') return expect(typeof d.available).toBe('boolean');
    expect(d).toEqual({ available: true, onnxruntimeVersion: expect.stringMatching(/^1\.\d+\.\d+/) });
  });
});
