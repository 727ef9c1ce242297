import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { InvalidArgumentError, VlferError, type Tensor4D } from '@vlfer/core';
import { OPENAI_CLIP_PREPROCESSOR, type ClipPreprocessorConfig, type PreprocessMode } from '../preprocess.js';
import type { ImageSource } from '@vlfer/image/node';
import { decodeOptionsFor, pixelsOut, type PreprocessDecoding, type Resizer } from './preprocess.js';
import { packageResolve, tsxRegisterApiUrl } from './require.js';
import type { PreprocessJob } from './preprocess-worker.js';

/** Preprocessing on worker threads: the same bytes as `preprocessImages`, with decode + resize off the main thread. */
export interface PreprocessPool {
  /** number of worker threads */
  readonly size: number;
  /**
   * @param options.out where to write the pixels (at least batch·3·crop·crop values), as `preprocessImages` takes it
   * @param options.draft, options.jpegDecoder how JPEGs are decoded, as `preprocessImages` takes them
   * @returns pixel values [batch, 3, crop, crop], identical to `preprocessImages(sources, mode, config, resizer, options)`
   */
  run(
    sources: readonly ImageSource[],
    mode: PreprocessMode,
    config?: ClipPreprocessorConfig,
    resizer?: Resizer,
    options?: { out?: Float32Array } & PreprocessDecoding,
  ): Promise<Tensor4D>;
  /** stop the workers; pending batches reject */
  close(): Promise<void>;
}

/** A worker failed on an image; the message is the worker's (it names the file). */
export class PreprocessWorkerError extends VlferError {
  override name = 'PreprocessWorkerError';
}

/** This file: `__filename` in the CommonJS build (import.meta is empty there), `import.meta.url` in the sources. */
const thisFile = typeof __filename === 'string' ? pathToFileURL(__filename).href : import.meta.url;

function workerSpec(): { entry: URL | string; options: WorkerOptions } {
  // from the built package the worker is dist/node/preprocess-worker.js (found from the package's own manifest, since
  // this code may sit in a shared chunk); from the sources (tests, tsx) it is TypeScript: a bootstrap loads tsx in the
  // worker thread, then imports it with the workspace's source condition
  if (!thisFile.endsWith('.ts')) {
    const root = dirname(packageResolve('@vlfer/encoders/package.json'));
    return { entry: join(root, 'dist', 'node', 'preprocess-worker.js'), options: {} };
  }
  const tsxApi = tsxRegisterApiUrl();
  const body = new URL('./preprocess-worker.ts', thisFile).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(body)}); }).catch((e) => { process.nextTick(() => { throw e; }); });`;
  return { entry: code, options: { eval: true, execArgv: ['--conditions=@vlfer/source'] } };
}

/**
 * Start `workers` threads (default: available cores − 1, at least 1) that decode and resize images, so that
 * preprocessing runs beside the encoder instead of on the thread that drives it. Each batch is split into one
 * contiguous slice per worker (`batchSlices`), written into one SharedArrayBuffer.
 */
export function createPreprocessPool(options: { workers?: number } = {}): PreprocessPool {
  const size = options.workers ?? Math.max(1, availableParallelism() - 1);
  if (!Number.isInteger(size) || size < 1)
    throw new InvalidArgumentError({
      functionName: 'createPreprocessPool',
      argument: 'workers',
      message: `must be a positive integer, got ${size}`,
    });
  const pool = new PreprocessWorkers(size, workerSpec());
  // shared buffers of finished batches, reused: a fresh one per batch cost more in page faults than the work
  const free: SharedArrayBuffer[] = [];
  return {
    size,
    async run(sources, mode, config = OPENAI_CLIP_PREPROCESSOR, resizer = 'pil', options = {}) {
      if (pool.closed)
        throw new InvalidArgumentError({
          functionName: 'PreprocessPool.run',
          argument: 'this',
          message: 'the pool is closed',
        });
      const c = config.cropSize;
      const per = 3 * c * c;
      const data = pixelsOut(options.out, sources.length, c, 'PreprocessPool.run');
      const decoding: PreprocessDecoding = {
        ...(options.draft !== undefined ? { draft: options.draft } : {}),
        ...(options.jpegDecoder !== undefined ? { jpegDecoder: options.jpegDecoder } : {}),
      };
      decodeOptionsFor(decoding, mode, config); // argument errors here, not from a worker
      const reuse = free.findIndex((b) => b.byteLength >= data.byteLength);
      const buffer = reuse >= 0 ? free.splice(reuse, 1)[0]! : new SharedArrayBuffer(data.byteLength);
      const jobs = batchSlices(sources.length, size).map(({ start, end }, k) =>
        pool.post(pool.workers[k]!, {
          sources: sources.slice(start, end) as ImageSource[],
          mode,
          config,
          resizer,
          decoding,
          buffer,
          offset: start * per,
        }),
      );
      // on failure the buffer is dropped, not reused: another slice may still be writing into it
      await Promise.all(jobs);
      // ONNX Runtime refuses SharedArrayBuffer-backed tensors ("Invalid argument"): one copy into a plain buffer
      data.set(new Float32Array(buffer, 0, data.length));
      if (free.length < 4) free.push(buffer);
      return { dtype: 'float32', data, dims: [sources.length, 3, c, c] };
    },
    close: () => pool.close(),
  };
}

/**
 * How a batch of `count` images is shared among `workers` threads: contiguous slices [start, end) of
 * ceil(count / workers) images (the last one shorter), one per worker from the first, none empty.
 */
export function batchSlices(count: number, workers: number): { start: number; end: number }[] {
  const chunk = Math.ceil(count / workers);
  const slices: { start: number; end: number }[] = [];
  for (let k = 0; k * chunk < count; k++) slices.push({ start: k * chunk, end: Math.min((k + 1) * chunk, count) });
  return slices;
}

/**
 * The threads of a pool and their book-keeping: jobs in flight by id, jobs per worker (an idle worker is unref'd,
 * so it does not keep the process alive), and the first failure, which fails every pending and later job (a crashed
 * worker never leaves a batch hanging).
 */
class PreprocessWorkers {
  readonly workers: Worker[];
  closed = false;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly busy = new Map<Worker, number>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(size: number, spec: { entry: URL | string; options: WorkerOptions }) {
    this.workers = Array.from({ length: size }, () => this.start(spec));
  }

  /** Run one slice of a batch on `w`; resolves when its pixels are in the shared buffer. */
  post(w: Worker, job: Omit<PreprocessJob, 'id'>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) {
        reject(this.failure);
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.busy.set(w, this.busy.get(w)! + 1);
      w.ref();
      w.postMessage({ ...job, id });
    });
  }

  /** Stop the workers; pending jobs reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new PreprocessWorkerError('the preprocessing pool was closed'));
    this.pending.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private start(spec: { entry: URL | string; options: WorkerOptions }): Worker {
    const w = new Worker(spec.entry, spec.options);
    w.on('message', (m: { id: number; error?: { name: string; message: string } }) => this.settle(w, m));
    w.on('error', (e) => this.fail(new PreprocessWorkerError(`preprocess worker crashed: ${e.message}`, { cause: e })));
    w.on('exit', (code) => {
      if (!this.closed) this.fail(new PreprocessWorkerError(`preprocess worker exited with code ${code}`));
    });
    this.busy.set(w, 0);
    w.unref();
    return w;
  }

  private settle(w: Worker, m: { id: number; error?: { name: string; message: string } }): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    this.busy.set(w, this.busy.get(w)! - 1);
    if (this.busy.get(w) === 0) w.unref(); // idle workers do not keep the process alive
    if (m.error) p?.reject(new PreprocessWorkerError(m.error.message));
    else p?.resolve();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
