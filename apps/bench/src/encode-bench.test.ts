import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, sharedPath } from '@vlfer/test-utils';
import { benchPipeline, benchRawGraphs, benchRawSession } from './encode-bench.js';
import { writeRandomClip } from './random-clip.js';

/** A one-layer CLIP at 224 px (the size the raw rows encode), random weights in the Hugging Face layout. */
function smallClip(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vlfer-enc-'));
  const tower = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2 };
  const config = {
    projection_dim: 16,
    vision_config: { ...tower, image_size: 224, patch_size: 32, layer_norm_eps: 1e-5 },
    text_config: { ...tower, vocab_size: 49408, max_position_embeddings: 77, layer_norm_eps: 1e-5 },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return writeRandomClip({
    configFile: join(dir, 'config.json'),
    tokenizerDir: sharedPath('assets', 'clip-tokenizer'),
    outDir: join(dir, 'model'),
  });
}

describe('bench:encode raw rows of the exported ONNX graph', () => {
  it('times the session as the graphs rows are: medians of wall time, CPU time and page faults', async () => {
    const raw = await benchRawSession({
      onnxPath: sharedPath('fixtures', 'tiny-clip', 'onnx', 'vision_model.onnx'),
      batch: 2,
      reps: 3,
      label: 'tiny',
      threads: 1,
    });
    expect([raw.mode, raw.dtype, raw.device, raw.batch, raw.images]).toEqual(['raw-ort', 'fp32', 'cpu', 2, 6]);
    expect(raw.imagesPerSecond).toBeCloseTo((2 * 1000) / raw.medianBatchMs!, 6);
    // the session runs on this thread's pool: some CPU time per batch, and a count (possibly 0) of page faults
    expect(raw.cpuMsPerBatch).toBeGreaterThan(0);
    expect(Number.isInteger(raw.minorPageFaultsPerBatch)).toBe(true);
    // the total of three timed runs is at least their median twice over (the median and the longest)
    expect(raw.seconds * 1000).toBeGreaterThanOrEqual(2 * raw.medianBatchMs!);
  });
});

describe("bench:encode --runtime graphs (loadClip's own graphs)", () => {
  it('times the graphs runtime on the raw tensor and through the pipeline, and says which runtime ran', async () => {
    const dir = smallClip();
    const raw = await benchRawGraphs({ modelDir: dir, batch: 2, reps: 2, label: 'small', threads: 1 });
    expect([raw.mode, raw.runtime, raw.dtype, raw.batch, raw.images]).toEqual(['raw-graphs', 'graphs', 'fp32', 2, 4]);
    expect(raw.imagesPerSecond).toBeCloseTo((2 * 1000) / raw.medianBatchMs!, 6);
    const fer = sharedPath('data', 'fer2013-privatetest');
    const pipe = await benchPipeline({
      modelDir: dir,
      imageRoot: fer,
      images: 3,
      batch: 2,
      label: 'small',
      runtime: 'graphs',
    });
    expect([pipe.mode, pipe.runtime, pipe.images]).toEqual(['pipeline', 'graphs', 3]);
    // --weights-in graph: the rows say where the weights went (absent above: the CPU default)
    const stored = await benchRawGraphs({
      modelDir: dir,
      batch: 2,
      reps: 1,
      label: 'small',
      threads: 1,
      weightsIn: 'graph',
    });
    expect([raw.weightsIn, stored.weightsIn]).toEqual([undefined, 'graph']);
    const storedPipe = await benchPipeline({
      modelDir: dir,
      imageRoot: fer,
      images: 2,
      batch: 2,
      label: 'small',
      runtime: 'graphs',
      weightsIn: 'graph',
    });
    expect(storedPipe.weightsIn).toBe('graph');
    // the ONNX runtime asked of a directory without onnx/ graphs: refused, not run on another runtime
    await expect(
      benchPipeline({ modelDir: dir, imageRoot: fer, images: 1, batch: 1, label: 'small', runtime: 'onnx' }),
    ).rejects.toThrow(/onnx/i);
  });

  it('refuses runtime combinations it would not honour, naming the option, before any work', () => {
    const cases: [string[], RegExp][] = [
      [['--dtype', 'int8', '--runtime', 'onnx'], /--dtype int8 runs on the 'graphs' runtime.*not --runtime onnx/],
      [['--runtime', 'graphs', '--device', 'webgpu'], /--runtime graphs times the CPU.*not --device webgpu$/m],
      [['--runtime', 'graphs', '--dtypes', 'fp16'], /--runtime graphs times fp32.*not --dtypes fp16/],
      [['--runtime', 'graphs', '--raw-batches', '4,x'], /--raw-batches: 'x' is not a positive integer/],
      [['--weights-in', 'graph'], /--weights-in places the float32 weights of --runtime graphs, not of --runtime onnx/],
      [['--dtype', 'int8', '--weights-in', 'inputs'], /--weights-in .*\(int8 layers always store theirs\)/],
      [['--runtime', 'graphs', '--weights-in', 'stored'], /--weights-in.*'stored' is invalid/],
    ];
    for (const [args, message] of cases) {
      const r = runCli('apps/bench/src/bench-encode.ts', [...args, '--out', '/nonexistent/never-written.json']);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});
