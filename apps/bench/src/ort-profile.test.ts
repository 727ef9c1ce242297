/**
 * The ONNX Runtime profile summary of `bench:hesp-step --profile`: kernel time by op type over the runs after the
 * skipped ones, on hand-written trace events and on a profile ONNX Runtime writes for a two-node graph.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { buildModel } from '@vlfer/core';
import { summariseOrtProfile, summariseOrtProfiles, type OrtProfileEvent } from './ort-profile.js';

const run = (ts: number, dur: number): OrtProfileEvent => ({ cat: 'Session', name: 'model_run', ts, dur });
const kernel = (op: string, ts: number, dur: number, provider = 'CPUExecutionProvider'): OrtProfileEvent => ({
  cat: 'Node',
  name: `${op.toLowerCase()}_1_kernel_time`,
  ts,
  dur,
  args: { op_name: op, provider },
});

describe('summariseOrtProfile', () => {
  const events = [
    run(0, 5000),
    kernel('MatMul', 10, 4000),
    { cat: 'Node', name: 'matmul_1_fence_before', ts: 10, dur: 7, args: { op_name: 'MatMul' } },
    run(6000, 3000),
    kernel('MatMul', 6010, 2000, 'WebGpuExecutionProvider'),
    kernel('Add', 8010, 500),
    run(10000, 1000),
    kernel('Add', 10010, 250),
  ];
  it('sums kernel time by op type over the runs left after skipRuns, largest first', () => {
    const s = summariseOrtProfile(events, 1);
    expect(s.runs).toBe(2);
    expect(s.runMs).toBe(4);
    expect(s.kernelMs).toBe(2.75);
    expect(s.byOp).toEqual([
      { op: 'MatMul', ms: 2, count: 1 },
      { op: 'Add', ms: 0.75, count: 2 },
    ]);
    expect(s.byProvider).toEqual([
      { provider: 'WebGpuExecutionProvider', ms: 2, count: 1 },
      { provider: 'CPUExecutionProvider', ms: 0.75, count: 2 },
    ]);
    expect(summariseOrtProfile(events).byOp[0]).toEqual({ op: 'MatMul', ms: 6, count: 2 });
  });
  it('refuses to skip every run', () => {
    expect(() => summariseOrtProfile(events, 3)).toThrow(/skipRuns must be an integer in \[0, 3\), got 3/);
  });
});

describe('summariseOrtProfiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-ort-profile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it("reads the profile ONNX Runtime writes for a session, named by the session's prefix", async () => {
    const model = buildModel({
      name: 'p',
      nodes: [
        { op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] },
        { op: 'Relu', inputs: ['c'], outputs: ['y'] },
      ],
      inputs: [
        { name: 'a', type: 'float32', dims: [4, 8] },
        { name: 'b', type: 'float32', dims: [8, 4] },
      ],
      outputs: [{ name: 'y', type: 'float32', dims: [4, 4] }],
      opset: 17,
    });
    const s = await ort.InferenceSession.create(model, {
      enableProfiling: true,
      profileFilePrefix: join(dir, 'run-tiny'),
    });
    const feeds = {
      a: new ort.Tensor('float32', new Float32Array(32).fill(1), [4, 8]),
      b: new ort.Tensor('float32', new Float32Array(32).fill(1), [8, 4]),
    };
    for (let i = 0; i < 4; i++) await s.run(feeds);
    s.endProfiling();
    await s.release();
    expect(readdirSync(dir).some((f) => f.startsWith('run-tiny_'))).toBe(true);
    const summary = summariseOrtProfiles(join(dir, 'run'), 0.5);
    expect(Object.keys(summary)).toEqual(['tiny']);
    expect(summary.tiny!.runs).toBe(2);
    expect(summary.tiny!.byOp.map((r) => r.op).sort()).toEqual(['MatMul', 'Relu']);
    expect(summary.tiny!.byOp.every((r) => r.count === 2)).toBe(true);
    // ONNX Runtime names the execution provider of each kernel event
    expect(summary.tiny!.byProvider.map((r) => r.provider)).toEqual(['CPUExecutionProvider']);
  });
});
