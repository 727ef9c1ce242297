import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manyTensorsCheckpoint, nestedDictPickle, noneOpcodeBomb, sharedStorageBomb } from '@vlfer/test-utils';
import * as fflate from 'fflate';
import { describe, expect, it, vi } from 'vitest';
import {
  AbortedError,
  DataFormatError,
  encodeSafetensors,
  readTorchCheckpoint,
  readTorchCheckpointAsync,
} from './index.js';
import { loadCheckpoint } from './node/index.js';

// Issue 22 item 8: storage bombs, opcode floods and deep nesting in PyTorch checkpoints. Boundedness is proven by
// counting inflate calls and by the budget errors, never by a clock.
vi.mock('fflate', async (importOriginal) => {
  const real = await importOriginal<typeof fflate>();
  return { ...real, inflateSync: vi.fn(real.inflateSync) };
});
const inflateCalls = () => vi.mocked(fflate.inflateSync).mock.calls.length;

describe('PyTorch checkpoint bombs end in a named error, within budgets', () => {
  it('inflates a storage shared by 301 tensors once, not once per tensor', () => {
    const file = sharedStorageBomb({ refs: 301, mib: 1, values: 4 });
    const before = inflateCalls();
    const c = readTorchCheckpoint(file, 'shared.pth');
    expect(inflateCalls() - before).toBe(1);
    expect(Object.keys(c.tensors)).toHaveLength(301);
    expect(c.tensors['t300']!.dims).toEqual([4]);
  });

  it('refuses a 1 MB file whose one storage inflates to 1 GiB (301 references), naming the budget, inflating nothing', () => {
    const file = sharedStorageBomb({ refs: 301, mib: 1024 });
    expect(file.length).toBeLessThan(1_200_000);
    const before = inflateCalls();
    expect(() => readTorchCheckpoint(file, 'bomb.pth')).toThrow(DataFormatError);
    expect(() => readTorchCheckpoint(file, 'bomb.pth')).toThrow(
      /^bomb\.pth: entry 'archive\/data\/0' inflates to 1073741824 bytes, .*past the budget of \d+ bytes \(64 MiB \+ 4 × the \d+-byte file\)/,
    );
    expect(inflateCalls() - before).toBe(0);
    // an explicit budget is named as such
    expect(() =>
      readTorchCheckpoint(sharedStorageBomb({ refs: 1, mib: 2 }), 'b.pth', { inflateBudget: 1 << 20 }),
    ).toThrow(/past the budget of 1048576 bytes \(inflateBudget\)/);
  });

  it('refuses 301 tensors that each copy one whole storage (output budget), instead of taking 301 × its memory', () => {
    const file = sharedStorageBomb({ refs: 301, mib: 1 });
    expect(() => readTorchCheckpoint(file, 'copies.pth')).toThrow(
      /^copies\.pth: the tensors would hold \d+\+ float32 values, past the budget of \d+ \(16 M \+ the bytes of the file and of its storages\)/,
    );
  });

  it('refuses a 146 KB pickle that inflates to 150 MiB of NONE opcodes (V8 crashed on it) by the inflate budget', () => {
    const file = noneOpcodeBomb({ mib: 150 });
    expect(file.length).toBeLessThan(200_000);
    expect(() => readTorchCheckpoint(file, 'none.pth')).toThrow(
      /^none\.pth: entry 'archive\/data\.pkl' inflates to 157286400 bytes/,
    );
  });

  it('refuses a stored pickle of 5 MiB NONE opcodes by the object budget (stack + memo), naming it', () => {
    expect(() => readTorchCheckpoint(noneOpcodeBomb({ mib: 5, stored: true }), 'flood.pth')).toThrow(
      /^flood\.pth: pickle holds more than 4194304 values at once on its stack and memo/,
    );
    expect(() =>
      readTorchCheckpoint(noneOpcodeBomb({ mib: 1, stored: true }), 'flood.pth', { objectBudget: 1000 }),
    ).toThrow(/more than 1000 values/);
  });

  it('counts opcodes against a budget and names it', () => {
    const file = manyTensorsCheckpoint(1000);
    expect(Object.keys(readTorchCheckpoint(file, 'ok.pth').tensors)).toHaveLength(1000);
    expect(() => readTorchCheckpoint(file, 'ops.pth', { opcodeBudget: 5000 })).toThrow(
      /^ops\.pth: pickle exceeds the budget of 5000 opcodes/,
    );
  });

  it('reads a module whose attributes nest 200,000 dicts deep (no recursion: no stack overflow)', () => {
    const c = readTorchCheckpoint(nestedDictPickle(200_000), 'deep.pth');
    expect(c.kind).toBe('module');
    const [key] = Object.keys(c.tensors);
    expect(key).toBe(`${'a.'.repeat(200_000)}x`);
    expect(Array.from(c.tensors[key!]!.data)).toEqual([1.5, -2]);
  });
});

describe('readTorchCheckpointAsync yields to the event loop and honours its AbortSignal', () => {
  it('gives the same tensors as the synchronous reader', async () => {
    const file = manyTensorsCheckpoint(100);
    const a = await readTorchCheckpointAsync(file, 'm.pth');
    expect(a).toEqual(readTorchCheckpoint(file, 'm.pth'));
  });

  it('reports the conversion per tensor (phase read checkpoint) without changing the tensors', async () => {
    const file = manyTensorsCheckpoint(100);
    const done: number[] = [];
    const a = await readTorchCheckpointAsync(file, 'm.pth', {
      onProgress: (e) => {
        expect([e.phase, e.total, e.unit]).toEqual(['read checkpoint', 100, 'tensors']);
        done.push(e.done);
      },
    });
    expect(done).toEqual(Array.from({ length: 101 }, (_, i) => i));
    expect(a).toEqual(readTorchCheckpoint(file, 'm.pth'));
  });

  it('stops with an AbortedError naming the file when the signal fires during the parse', async () => {
    const file = manyTensorsCheckpoint(20_000); // ~480,000 opcodes: several slices
    const ac = new AbortController();
    // a macrotask: it can only run if the parser yields to the event loop before it finishes
    setImmediate(() => ac.abort(new Error('SIGINT')));
    const p = readTorchCheckpointAsync(file, 'slow.pth', { signal: ac.signal });
    await expect(p).rejects.toThrow(AbortedError);
    await expect(readTorchCheckpointAsync(file, 'slow.pth', { signal: ac.signal })).rejects.toThrow(
      /reading slow\.pth was aborted/,
    );
  });
});

describe('deeply nested JSON values are described, not stringified (JSON.stringify overflowed the stack)', () => {
  it('a training checkpoint whose optimizerStep is 200,000 nested lists (with a valid checksum) names the field', () => {
    const meta = `{"optimizerStep":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const w = { dims: [1], data: Float32Array.of(1) };
    // the checksum as saveCheckpoint computes it: sha256(meta \0 (name \0 dims \0 bytes)…)
    const sha256 = createHash('sha256')
      .update(meta)
      .update('\0')
      .update('w\x001\0')
      .update(new Uint8Array(w.data.buffer))
      .digest('hex');
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-deep-')), 'deep.ckpt');
    writeFileSync(file, encodeSafetensors({ w }, { format: 'vlfer-checkpoint', version: '1', meta, sha256 }));
    expect(() => loadCheckpoint(file)).toThrow(DataFormatError);
    expect(() => loadCheckpoint(file)).toThrow(
      /deep\.ckpt \(field 'optimizerStep'\): expected a non-negative integer, got \[\[…\]\]$/,
    );
  });
});
