import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DataFormatError, readTorchCheckpoint } from './index.js';

// Files written by PyTorch 1.13 (Debian python3-torch): torch.save of a state dict (float32 + float16), of a whole
// nn.Module, and torch.jit.script(...).save — see packages/core/test-data/torch (values in small-module.json).
const dir = join(import.meta.dirname, '..', 'test-data', 'torch');
const read = (f: string) => readTorchCheckpoint(readFileSync(join(dir, f)), f);

describe('readTorchCheckpoint on files PyTorch wrote', () => {
  it('a training checkpoint with its tensors one level down is refused with where they are', () => {
    // torch.save({'state_dict': {'w': torch.ones(2, 2)}, 'epoch': 3}, 'training-checkpoint.pt') (PyTorch 1.13)
    expect(() => read('training-checkpoint.pt')).toThrow(
      /holds no tensors at its top level; 'state_dict' holds a dict of tensors \(a training checkpoint\?\): save that dict on its own, e\.g\. torch\.save\(ckpt\['state_dict'\], 'weights\.pt'\)/,
    );
  });
  it('integer buffers (OpenAI CLIP sizes, position ids, BatchNorm counters) are listed; an integer weight is refused', () => {
    // torch.save({'w': randn(2, 3), 'input_resolution': tensor(224), 'context_length': tensor(77), 'vocab_size':
    // tensor(49408, int32), 'text_model.embeddings.position_ids': arange(5)[None],
    // 'vision_model.embeddings.position_ids': arange(5).expand(3, 5)})
    const c = read('integer-buffers.pt');
    expect(Object.keys(c.tensors)).toEqual(['w']);
    expect(c.tensors.w!.dims).toEqual([2, 3]);
    expect(c.integerTensors.sort()).toEqual(
      [
        'context_length',
        'input_resolution',
        'text_model.embeddings.position_ids',
        'vision_model.embeddings.position_ids',
        'vocab_size',
      ].sort(),
    );
    // torch.save({'w': randn(2), 'mlp.weight': ones(2, 2, int32)}): named as an integer tensor, not as missing
    expect(() => read('integer-weight.pt')).toThrow(/'mlp\.weight' is stored as IntStorage: not supported/);
    // torch.jit.script of BatchNorm1d(2) + Linear(2, 2): num_batches_tracked is int64
    const scripted = read('integer-scripted.pt');
    expect(scripted.kind).toBe('torchscript');
    expect(scripted.integerTensors).toEqual(['bn.num_batches_tracked']);
    expect(Object.keys(scripted.tensors).sort()).toEqual(
      ['bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.weight', 'lin.bias', 'lin.weight'].sort(),
    );
  });
  it('state dict with float32 and float16 tensors', () => {
    const c = read('small-state-dict.pt');
    expect(c.kind).toBe('state-dict');
    expect(c.tensors['mlp.weight']!.dims).toEqual([4, 3]);
    expect(c.tensors['mlp.weight']!.data[0]).toBeCloseTo(1.5409960746765137, 7);
    expect(c.tensors['mlp.bias']!.data[0]).toBe(-0.8564453125); // exact float16 value
  });
  it("a pickled nn.Module and a TorchScript archive give the module's tensors by attribute path, no code run", () => {
    const want = JSON.parse(readFileSync(join(dir, 'small-module.json'), 'utf8')) as Record<
      string,
      { dims: number[]; values: number[] }
    >;
    for (const [file, kind] of [
      ['small-module.pt', 'module'],
      ['small-scripted.pt', 'torchscript'],
    ] as const) {
      const c = read(file);
      expect(c.kind).toBe(kind);
      expect(Object.keys(c.tensors).sort()).toEqual(Object.keys(want).sort());
      for (const [k, v] of Object.entries(want)) {
        expect(c.tensors[k]!.dims).toEqual(v.dims);
        expect(Array.from(c.tensors[k]!.data)).toEqual(v.values.map(Math.fround));
      }
    }
  });
  it('ends with a named error on a pickle cut after a GLOBAL opcode (the input that looped forever)', () => {
    const evil = zipSync(
      { 'archive/data.pkl': Uint8Array.from([0x80, 0x02, ...new TextEncoder().encode('cposix')]) },
      { level: 0 },
    );
    expect(evil.length).toBeLessThan(300);
    const t0 = performance.now();
    expect(() => readTorchCheckpoint(evil, 'cut.pth')).toThrow(/cut\.pth: pickle truncated inside a GLOBAL name/);
    expect(performance.now() - t0).toBeLessThan(1000);
    // SETITEM on an empty stack, and a BINGET of a memo key never put, are named too
    const setitem = zipSync({ 'a/data.pkl': Uint8Array.from([0x80, 0x02, 0x73, 0x2e]) }, { level: 0 });
    expect(() => readTorchCheckpoint(setitem, 's.pth')).toThrow(DataFormatError);
    expect(() => readTorchCheckpoint(setitem, 's.pth')).toThrow(/s\.pth: pickle stack underflow/);
    const binget = zipSync({ 'a/data.pkl': Uint8Array.from([0x80, 0x02, 0x68, 0x07, 0x2e]) }, { level: 0 });
    expect(() => readTorchCheckpoint(binget, 'g.pth')).toThrow(/g\.pth: BINGET of unknown memo key 7/);
  });
  it('refuses checkpoints that would run code, naming the callable', () => {
    const pkl = Uint8Array.from([
      0x80,
      0x02,
      ...new TextEncoder().encode('cos\nsystem\n'),
      0x8c,
      2,
      0x6c,
      0x73,
      0x85,
      0x52,
      0x2e,
    ]);
    expect(() => readTorchCheckpoint(zipSync({ 'x/data.pkl': pkl }, { level: 0 }), 'evil.pth')).toThrow(
      /evil\.pth: the checkpoint calls os\.system.*refusing to load it/,
    );
  });
});
