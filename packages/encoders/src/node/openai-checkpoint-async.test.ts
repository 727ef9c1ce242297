import { join } from 'node:path';
import { AbortedError, type ProgressEvent } from '@vlfer/core';
import { readTorchCheckpointFile } from '@vlfer/core/node';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ClipGradientModel, loadClip, loadClipWeights, loadClipWeightsAsync, resolveClipSource } from './index.js';

// OpenAI .pt weights for training were parsed synchronously (the event loop blocked, no progress, no abort): they are
// now read and parsed in slices. The weights must stay exactly those of the synchronous reader.
const dir = join(import.meta.dirname, '..', '..', 'test-data', 'openai-clip');
const tiny = sharedPath('fixtures', 'tiny-clip');
const config = join(tiny, 'config.json'); // the tiny CLIP's head counts (its widths are not multiples of 64)
const bytes = (d: ArrayLike<number>) => Buffer.from(Float32Array.from(d).buffer);

describe('OpenAI .pt checkpoints are read without blocking, with progress and an AbortSignal', () => {
  for (const file of ['openai-tiny-state-dict.pt', 'openai-tiny-jit.pt', 'openai-tiny-jit-fp16.pt']) {
    it(`${file}: the same bundle as the synchronous reader, bit for bit, and progress per tensor`, async () => {
      const source = resolveClipSource(join(dir, file));
      const events: ProgressEvent[] = [];
      const a = await loadClipWeightsAsync(
        source,
        { config, onProgress: (e) => events.push(e) },
        { byReference: true },
      );
      const s = loadClipWeights(source, { config }, { byReference: true });
      const { weights: wa, ...ra } = a;
      const { weights: ws, ...rs } = s;
      expect(ra).toEqual(rs);
      expect(Object.keys(wa).sort()).toEqual(Object.keys(ws).sort());
      for (const k of Object.keys(ws)) {
        expect(wa[k]!.dims, k).toEqual(ws[k]!.dims);
        expect(bytes(wa[k]!.data).equals(bytes(ws[k]!.data)), k).toBe(true);
      }
      const n = Object.keys(readTorchCheckpointFile(join(dir, file)).tensors).length;
      expect(events.map((e) => e.done)).toEqual(Array.from({ length: n + 1 }, (_, i) => i));
      expect(new Set(events.map((e) => `${e.phase}|${e.total}|${e.unit}`))).toEqual(
        new Set([`read checkpoint|${n}|tensors`]),
      );
    });
  }

  it('loadClip and ClipGradientModel.load pass their signal and progress to the parse', async () => {
    const model = join(dir, 'openai-tiny-jit.pt');
    const ac = new AbortController();
    ac.abort(new Error('SIGINT'));
    await expect(ClipGradientModel.load(model, { tokenizer: tiny, config, signal: ac.signal })).rejects.toThrow(
      AbortedError,
    );
    await expect(loadClip({ model, tokenizer: tiny, config, signal: ac.signal })).rejects.toThrow(
      /reading .*openai-tiny-jit\.pt was aborted/,
    );
    const phases: string[] = [];
    const clip = await loadClip({ model, tokenizer: tiny, config, onProgress: (e) => phases.push(e.phase) });
    await clip.dispose();
    expect(phases.length).toBeGreaterThan(1);
    expect(new Set(phases)).toEqual(new Set(['read checkpoint']));
  });
});
