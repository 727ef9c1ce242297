import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { createRng, readTorchCheckpoint, tensor } from '@vlfer/core';
import { readSafetensors } from '@vlfer/core/node';
import { describe, expect, it } from 'vitest';
import { createProjectionHead, loadProjectionHead, ProjectionHead, saveProjectionHead } from './index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vlfer-head-'));
/** Byte equality of large float arrays (vitest's deep equality walks 2M elements slowly). */
const sameBytes = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Pickle opcodes as torch.save (protocol 2) writes `Linear_Matrix.state_dict()`. */
function torchStatePickle(out: number, inp: number, evil = false): Uint8Array {
  const b: number[] = [];
  const s = (x: string) => b.push(...new TextEncoder().encode(x));
  const u32 = (v: number) => b.push(v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255);
  const uni = (x: string) => {
    b.push(0x58);
    u32(x.length);
    s(x);
  };
  const glob = (m: string, n: string) => {
    b.push(0x63);
    s(`${m}\n${n}\n`);
  };
  const int = (v: number) => {
    if (v < 256) b.push(0x4b, v);
    else if (v < 65536) b.push(0x4d, v & 255, v >> 8);
    else {
      b.push(0x4a);
      u32(v);
    }
  };
  let memo = 0;
  const put = () => b.push(0x71, memo++);
  b.push(0x80, 0x02);
  glob('collections', 'OrderedDict');
  put();
  b.push(0x29, 0x52);
  put();
  b.push(0x28); // MARK for SETITEMS
  uni('mlp.weight');
  put();
  if (evil) glob('os', 'system');
  else glob('torch._utils', '_rebuild_tensor_v2');
  put();
  b.push(0x28, 0x28);
  uni('storage');
  put();
  glob('torch', 'FloatStorage');
  put();
  uni('0');
  put();
  uni('cpu');
  put();
  int(out * inp);
  b.push(0x74);
  put();
  b.push(0x51);
  int(0);
  int(out);
  int(inp);
  b.push(0x86);
  put();
  int(inp);
  int(1);
  b.push(0x86);
  put();
  b.push(0x89);
  glob('collections', 'OrderedDict');
  put();
  b.push(0x29, 0x52);
  put();
  b.push(0x74);
  put();
  b.push(0x52);
  put();
  b.push(0x75); // SETITEMS
  // state {'_metadata': OrderedDict([('', {'version': 1}), ('mlp', {'version': 1})])}, then BUILD
  b.push(0x7d);
  put();
  uni('_metadata');
  put();
  glob('collections', 'OrderedDict');
  put();
  b.push(0x29, 0x52);
  put();
  b.push(0x28);
  uni('');
  put();
  b.push(0x7d);
  put();
  uni('version');
  put();
  int(1);
  b.push(0x73);
  uni('mlp');
  put();
  b.push(0x7d);
  put();
  uni('version');
  put();
  int(1);
  b.push(0x73);
  b.push(0x75);
  b.push(0x73, 0x62, 0x2e); // SETITEM, BUILD, STOP
  return Uint8Array.from(b);
}

function torchZip(out: number, inp: number, weight: Float32Array, evil = false): Uint8Array {
  return zipSync(
    {
      'ExpCLIP_B32_model/data.pkl': torchStatePickle(out, inp, evil),
      'ExpCLIP_B32_model/byteorder': new TextEncoder().encode('little'),
      'ExpCLIP_B32_model/data/0': new Uint8Array(weight.buffer),
      'ExpCLIP_B32_model/version': new TextEncoder().encode('3\n'),
    },
    { level: 0 },
  );
}

describe('ProjectionHead', () => {
  it('refuses dims that are no positive integers and inputs that are no float32 matrix, naming them', async () => {
    // outputDim -1 gave "Invalid typed array length: -4", 1.5 a head of 6 weights
    for (const outputDim of [-1, 1.5, NaN])
      expect(() => createProjectionHead({ inputDim: 4, outputDim, rng: createRng(1) })).toThrow(
        /'outputDim' passed to 'createProjectionHead': expected an integer ≥ 1/,
      );
    const head = createProjectionHead({ inputDim: 3, outputDim: 2, rng: createRng(1) });
    try {
      const torn = { dtype: 'float32' as const, data: new Float32Array(9), dims: [2, 3] as [number, number] };
      await expect(head.project(torn)).rejects.toThrow(/'x'.*data length 9 does not match dims \[2, 3\]/);
      const flat = { dtype: 'float32' as const, data: new Float32Array(3), dims: [3] } as unknown as typeof torn;
      await expect(head.project(flat)).rejects.toThrow(/'x'.*expected shape \[\*, \*\], got \[3\]/);
      const rows = [[1, 2, 3]] as unknown as typeof torn;
      await expect(head.project(rows)).rejects.toThrow(/'x'.*got an array of length 1 \(build one with tensor2d/);
      const holed = {
        dtype: 'float32' as const,
        data: Float32Array.of(1, 2, 3, 4, NaN, 6),
        dims: [2, 3] as [number, number],
      };
      await expect(head.project(holed)).rejects.toThrow(/'x'.*NaN/);
    } finally {
      await head.dispose();
    }
  });
  it('initialises like nn.Linear (U(±1/√D)) from the injected RNG', () => {
    const a = createProjectionHead({ inputDim: 512, rng: createRng(1) });
    const b = createProjectionHead({ inputDim: 512, rng: createRng(1) });
    expect(a.outputDim).toBe(4096);
    expect(sameBytes(a.weight, b.weight)).toBe(true);
    const bound = 1 / Math.sqrt(512);
    let max = 0,
      sum = 0,
      sq = 0;
    for (const v of a.weight) {
      max = Math.max(max, Math.abs(v));
      sum += v;
      sq += v * v;
    }
    expect(max).toBeLessThanOrEqual(bound);
    expect(Math.abs(sum / a.weight.length)).toBeLessThan(1e-3 * bound * 10);
    expect(Math.abs(sq / a.weight.length - bound ** 2 / 3) / (bound ** 2 / 3)).toBeLessThan(0.01);
  });
  it('projects [n, D] → [n, 4096] equal to a direct x·Wᵀ and checks dims', async () => {
    const head = createProjectionHead({ inputDim: 24, outputDim: 40, rng: createRng(2) });
    const x = tensor<'R2'>(
      Float32Array.from({ length: 3 * 24 }, (_, i) => Math.sin(i)),
      [3, 24],
    );
    const y = await head.project(x);
    expect(y.dims).toEqual([3, 40]);
    let m = 0;
    for (let r = 0; r < 3; r++)
      for (let o = 0; o < 40; o++) {
        let s = 0;
        for (let k = 0; k < 24; k++) s += x.data[r * 24 + k]! * head.weight[o * 24 + k]!;
        m = Math.max(m, Math.abs(s - y.data[r * 40 + o]!));
      }
    expect(m).toBeLessThan(1e-5);
    await expect(head.project(tensor<'R2'>(new Float32Array(10), [1, 10]))).rejects.toThrow(
      /10-d rows, the head expects 24-d/,
    );
    await head.dispose();
  });
  it('saves and loads safetensors with metadata', () => {
    const d = tmp();
    const head = createProjectionHead({
      inputDim: 8,
      outputDim: 16,
      rng: createRng(3),
      metadata: { encoder: 'tiny-clip' },
    });
    saveProjectionHead(join(d, 'head.safetensors'), head, { epochs: '5' });
    const back = loadProjectionHead(join(d, 'head.safetensors'), { expectInputDim: 8 });
    expect(back.weight).toEqual(head.weight);
    expect(back.metadata).toMatchObject({ encoder: 'tiny-clip', epochs: '5', input_dim: '8', output_dim: '16' });
    expect(readSafetensors(join(d, 'head.safetensors')).tensors['mlp.weight']!.dims).toEqual([16, 8]);
    expect(() => loadProjectionHead(join(d, 'head.safetensors'), { expectInputDim: 512 })).toThrow(
      /head input dim 8 does not match the encoder's embedding dim 512/,
    );
    // a directory (a run's folder given for its head) is said to be one
    expect(() => loadProjectionHead(d)).toThrow(/: a directory; expected a head file \(\.safetensors or \.pth\)/);
  });
});

describe('released .pth checkpoints', () => {
  it('reads mlp.weight [4096, 512] from a torch.save zip', () => {
    const d = tmp();
    const w = Float32Array.from({ length: 4096 * 512 }, (_, i) => Math.cos(i) * 0.01);
    writeFileSync(join(d, 'ExpCLIP_B32_model.pth'), torchZip(4096, 512, w));
    const head = loadProjectionHead(join(d, 'ExpCLIP_B32_model.pth'), { expectInputDim: 512 });
    expect([head.outputDim, head.inputDim]).toEqual([4096, 512]);
    expect(sameBytes(head.weight, w)).toBe(true);
    expect(head).toBeInstanceOf(ProjectionHead);
  });
  it('refuses checkpoints that call anything but tensor rebuilders', () => {
    expect(() => readTorchCheckpoint(torchZip(2, 2, new Float32Array(4), true), 'evil.pth')).toThrow(
      /evil\.pth: the checkpoint calls os\.system.*refusing/,
    );
    expect(() => readTorchCheckpoint(new Uint8Array([1, 2, 3]), 'junk.pth')).toThrow(/junk\.pth: not a zip archive/);
  });
});
