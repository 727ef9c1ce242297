import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ComputeDevice } from '@vlfer/core';
import { ortSessionOptions } from '@vlfer/core/node';
import { loadImageFolder } from '@vlfer/datasets/node';
import { createPreprocessPool, encodeImages, loadClip, preprocessImages, type ClipDtype } from '@vlfer/encoders/node';
import { median } from './torch.js';

export interface EncodeBenchRow {
  model: string;
  dtype: ClipDtype;
  device: ComputeDevice;
  batch: number;
  /**
   * 'raw-ort': one ORT session run on a ready [batch,3,224,224] tensor; 'pipeline': decode + preprocess + encode of
   * real images; 'preprocess': decode + preprocess alone (the CPU-side ceiling of the pipeline).
   */
  mode: 'raw-ort' | 'raw-graphs' | 'pipeline' | 'preprocess';
  /**
   * What ran the encoder: 'onnx', an exported ONNX graph (the fixtures', as transformers.js-layout models such as
   * Xenova/clip-vit-base-patch32 ship); 'graphs', vlfer's own graphs built from config.json + model.safetensors
   * (`loadClip`'s 'graphs' runtime, what Hugging Face-layout models such as openai/clip-vit-base-patch32 run).
   */
  runtime?: 'onnx' | 'graphs';
  /** 'graphs' runtime: where the float32 weights went when asked (`LoadClipOptions.weightsIn`); absent: the default */
  weightsIn?: 'inputs' | 'graph';
  /** pipeline/preprocess: worker threads decoding and resizing (0: the main thread) */
  preprocessWorkers?: number;
  imagesPerSecond: number;
  images: number;
  seconds: number;
  medianBatchMs?: number;
  /** raw rows: this process's CPU time per batch (all threads; median), less moved by other load than wall time */
  cpuMsPerBatch?: number;
  /** raw rows: minor page faults of this process per batch (median): memory freed and faulted in again */
  minorPageFaultsPerBatch?: number;
}

/** The tensor every raw encode row encodes, as `torch/encode.py` does too: sin(i · 0.001), [batch, 3, 224, 224]. */
export function sinPixels(batch: number) {
  const data = Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.001));
  return { dtype: 'float32' as const, data, dims: [batch, 3, 224, 224] as [number, number, number, number] };
}

/** Anything with `encodePixels` on a [batch, 3, 224, 224] tensor: a `ClipModel`, or a gradient model's forward. */
export type PixelEncoder = {
  encodePixels(px: ReturnType<typeof sinPixels>): Promise<{ data: Float32Array; dims: readonly number[] }>;
};

/**
 * `reps` timed `encodePixels` calls after one untimed call, each with this process's CPU time (all threads,
 * `process.cpuUsage`: the work done, less moved by other processes' load than wall time) and minor page faults
 * (memory freed and faulted in again). @returns the medians: milliseconds, CPU milliseconds and faults per call
 */
export async function timeEncodes(
  encoder: PixelEncoder,
  px: ReturnType<typeof sinPixels>,
  reps: number,
): Promise<{ ms: number; cpuMs: number; minorPageFaults: number; totalSeconds: number }> {
  await encoder.encodePixels(px);
  const [ts, cpu, faults]: [number[], number[], number[]] = [[], [], []];
  for (let r = 0; r < reps; r++) {
    const [t0, c0, f0] = [performance.now(), process.cpuUsage(), process.resourceUsage().minorPageFault];
    await encoder.encodePixels(px);
    ts.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    faults.push(process.resourceUsage().minorPageFault - f0);
  }
  const totalSeconds = ts.reduce((a, b) => a + b, 0) / 1000;
  return { ms: median(ts), cpuMs: median(cpu), minorPageFaults: median(faults), totalSeconds };
}

/** The timing fields of a raw row from `timeEncodes`' medians of `reps` calls on `batch` images each. */
function timedRow(t: Awaited<ReturnType<typeof timeEncodes>>, batch: number, reps: number) {
  return {
    imagesPerSecond: (batch * 1000) / t.ms,
    images: batch * reps,
    seconds: t.totalSeconds,
    medianBatchMs: t.ms,
    cpuMsPerBatch: t.cpuMs,
    minorPageFaultsPerBatch: t.minorPageFaults,
  };
}

/**
 * Images/s of a raw ORT session on the vision graph: one untimed run, then `reps` timed runs (`timeEncodes`: medians of
 * wall time, CPU time and page faults).
 */
export async function benchRawSession(options: {
  onnxPath: string;
  batch: number;
  reps: number;
  device?: ComputeDevice;
  label: string;
  dtype?: ClipDtype;
  threads?: number;
}): Promise<EncodeBenchRow> {
  const device = options.device ?? 'cpu';
  // the session options every vlfer session gets (threads: every CPU this process may use, or `threads`)
  const s = await ort.InferenceSession.create(
    options.onnxPath,
    ortSessionOptions({
      device,
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    }) as ort.InferenceSession.SessionOptions,
  );
  const n = options.batch;
  const px = sinPixels(n);
  const feeds = { [s.inputNames[0]!]: new ort.Tensor('float32', px.data, [n, 3, 224, 224]) };
  // the session as a `PixelEncoder`, so its rows are timed as `benchRawGraphs`' are (CPU time and page faults too)
  const session: PixelEncoder = {
    encodePixels: async () => {
      const out = Object.values(await s.run(feeds))[0]!;
      return { data: out.data as Float32Array, dims: out.dims };
    },
  };
  try {
    const t = await timeEncodes(session, px, options.reps);
    const base = { model: options.label, dtype: options.dtype ?? 'fp32', device, batch: n, mode: 'raw-ort' } as const;
    return { ...base, ...timedRow(t, n, options.reps) };
  } finally {
    await s.release();
  }
}

/**
 * Images/s of `loadClip`'s 'graphs' runtime (vlfer's own graphs, float32, weights as on a CPU by default) encoding a
 * ready [batch, 3, 224, 224] tensor (the sin tensor `benchRawSession` and the PyTorch peer encode): one untimed
 * call, then `reps` timed `encodePixels` calls (median).
 */
export async function benchRawGraphs(options: {
  modelDir: string;
  batch: number;
  reps: number;
  label: string;
  threads?: number;
  /** `LoadClipOptions.weightsIn`; default: the CPU's ('inputs') */
  weightsIn?: 'inputs' | 'graph';
}): Promise<EncodeBenchRow> {
  const weightsIn = options.weightsIn ? { weightsIn: options.weightsIn } : {};
  const clip = await loadClip({
    model: options.modelDir,
    backend: 'graphs',
    towers: ['vision'],
    ...weightsIn,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
  const n = options.batch;
  try {
    if (clip.runtime !== 'graphs') throw new Error(`benchRawGraphs: ${options.modelDir} loaded on '${clip.runtime}'`);
    const t = await timeEncodes(clip, sinPixels(n), options.reps);
    const base = { model: options.label, dtype: 'fp32', device: 'cpu', batch: n, mode: 'raw-graphs' } as const;
    return { ...base, runtime: 'graphs', ...weightsIn, ...timedRow(t, n, options.reps) };
  } finally {
    await clip.dispose();
  }
}

/** Images/s of the full pipeline (sharp decode + resize + normalise + ORT) over the first `images` of an image folder. */
export async function benchPipeline(options: {
  modelDir: string;
  imageRoot: string;
  images: number;
  batch: number;
  dtype?: ClipDtype;
  device?: ComputeDevice;
  label: string;
  mode?: 'clip' | 'exp-clip';
  preprocessWorkers?: number;
  /** which runtime `loadClip` uses (`EncodeBenchRow.runtime`); default: what it picks for the directory */
  runtime?: 'onnx' | 'graphs';
  /** 'graphs' runtime: `LoadClipOptions.weightsIn`; default: the device's */
  weightsIn?: 'inputs' | 'graph';
}): Promise<EncodeBenchRow> {
  const dtype = options.dtype ?? 'fp32';
  const device = options.device ?? 'cpu';
  const workers = options.preprocessWorkers ?? 0;
  const backend = options.runtime ? { backend: options.runtime } : {};
  const weightsIn = options.weightsIn ? { weightsIn: options.weightsIn } : {};
  const clip = await loadClip({ model: options.modelDir, dtype, device, towers: ['vision'], ...backend, ...weightsIn });
  if (options.runtime && clip.runtime !== options.runtime)
    throw new Error(`benchPipeline: ${options.modelDir} loaded on '${clip.runtime}', not '${options.runtime}'`);
  const take = await sampleImages(options.imageRoot, options.images);
  const pool = workers > 0 ? createPreprocessPool({ workers }) : undefined;
  try {
    const run = (items: string[]) =>
      encodeImages({
        model: clip,
        items,
        mode: options.mode ?? 'exp-clip',
        batchSize: options.batch,
        ...(pool ? { preprocessPool: pool } : {}),
      });
    await run(take.slice(0, options.batch));
    const t0 = performance.now();
    await run(take);
    const seconds = (performance.now() - t0) / 1000;
    return {
      model: options.label,
      dtype,
      device,
      batch: options.batch,
      mode: 'pipeline',
      ...(options.runtime ? { runtime: options.runtime } : {}),
      ...weightsIn,
      preprocessWorkers: workers,
      imagesPerSecond: options.images / seconds,
      images: options.images,
      seconds,
    };
  } finally {
    await pool?.close();
    await clip.dispose();
  }
}

/** `images` paths spread over an image folder (deterministic). */
export async function sampleImages(root: string, images: number): Promise<string[]> {
  const paths = (await loadImageFolder(root, { verify: 'none' })).items.map((i) => i.path);
  return Array.from({ length: images }, (_, i) => paths[(i * 7919) % paths.length]!);
}

/** Images/s of decode + preprocess alone, on the main thread (`workers` 0) or a worker pool: the median of three passes over the images after an untimed one. */
export async function benchPreprocess(options: {
  imageRoot: string;
  images: number;
  batch: number;
  preprocessWorkers: number;
  mode?: 'clip' | 'exp-clip';
}): Promise<EncodeBenchRow> {
  const take = await sampleImages(options.imageRoot, options.images);
  const pool = options.preprocessWorkers > 0 ? createPreprocessPool({ workers: options.preprocessWorkers }) : undefined;
  const mode = options.mode ?? 'exp-clip';
  // one output buffer reused from batch to batch, as encodeImages does
  const out = new Float32Array(options.batch * 3 * 224 * 224);
  const prep = (items: string[]) =>
    pool ? pool.run(items, mode, undefined, 'pil', { out }) : preprocessImages(items, mode, undefined, 'pil', { out });
  const pass = async () => {
    for (let i = 0; i < take.length; i += options.batch) await prep(take.slice(i, i + options.batch));
  };
  try {
    // one untimed pass over all the images (JIT and WebAssembly tier-up, file cache), then the median of three timed
    // passes; PyTorch's script does the same
    await pass();
    const times: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      await pass();
      times.push((performance.now() - t0) / 1000);
    }
    const seconds = median(times);
    return {
      model: '-',
      dtype: 'fp32',
      device: 'cpu',
      batch: options.batch,
      mode: 'preprocess',
      preprocessWorkers: options.preprocessWorkers,
      imagesPerSecond: options.images / seconds,
      images: options.images,
      seconds,
    };
  } finally {
    await pool?.close();
  }
}

export function listGraphDirs(root: string): string[] {
  return readdirSync(root)
    .filter((d) => d.startsWith('vit-'))
    .map((d) => join(root, d));
}
