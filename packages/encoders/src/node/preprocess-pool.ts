import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { InvalidArgumentError, VlferError, type Tensor4D } from '@vlfer/core';
import { OPENAI_CLIP_PREPROCESSOR, type ClipPreprocessorConfig, type PreprocessMode } from '../preprocess.js';
import type { ImageSource } from '@vlfer/image/node';
import { pixelsOut, type Resizer } from './preprocess.js';
import { packageResolve } from './require.js';
import type { PreprocessJob } from './preprocess-worker.js';

/** Preprocessing on worker threads: the same bytes as `preprocessImages`, with decode + resize off the main thread. */
export interface PreprocessPool {
  /** number of worker threads */
  readonly size: number;
  /**
   * @param options.out where to write the pixels (at least batch·3·crop·crop values), as `preprocessImages` takes it
   * @returns pixel values [batch, 3, crop, crop], identical to `preprocessImages(sources, mode, config, resizer)`
   */
  run(
    sources: readonly ImageSource[],
    mode: PreprocessMode,
    config?: ClipPreprocessorConfig,
    resizer?: Resizer,
    options?: { out?: Float32Array },
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
  // the ESM build of tsx's register API (its package exports give require() the CJS one)
  const tsxApi = pathToFileURL(
    join(dirname(packageResolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs'),
  ).href;
  const body = new URL('./preprocess-worker.ts', thisFile).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(body)}); }).catch((e) => { process.nextTick(() => { throw e; }); });`;
  return { entry: code, options: { eval: true, execArgv: ['--conditions=@vlfer/source'] } };
}

/**
 * Start `workers` threads (default: available cores − 1, at least 1) that decode and resize images, so that
 * preprocessing runs beside the encoder instead of on the thread that drives it. Each batch is split into one
 * contiguous slice per worker, written into one SharedArrayBuffer.
 */
export function createPreprocessPool(options: { workers?: number } = {}): PreprocessPool {
  const size = options.workers ?? Math.max(1, availableParallelism() - 1);
  if (!Number.isInteger(size) || size < 1)
    throw new InvalidArgumentError({
      functionName: 'createPreprocessPool',
      argument: 'workers',
      message: `must be a positive integer, got ${size}`,
    });
  const spec = workerSpec();
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextId = 0;
  const busy = new Map<Worker, number>();
  let failure: Error | undefined;
  // a crashed worker fails every pending and later batch (never a silent hang)
  const fail = (e: Error) => {
    failure ??= e;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  let closed = false;
  const workers = Array.from({ length: size }, () => {
    const w = new Worker(spec.entry, spec.options);
    w.on('message', (m: { id: number; error?: { name: string; message: string } }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      busy.set(w, busy.get(w)! - 1);
      if (busy.get(w) === 0) w.unref(); // idle workers do not keep the process alive
      if (m.error) p?.reject(new PreprocessWorkerError(m.error.message));
      else p?.resolve();
    });
    w.on('error', (e) => fail(new PreprocessWorkerError(`preprocess worker crashed: ${e.message}`, { cause: e })));
    w.on('exit', (code) => {
      if (!closed) fail(new PreprocessWorkerError(`preprocess worker exited with code ${code}`));
    });
    busy.set(w, 0);
    w.unref();
    return w;
  });
  const post = (w: Worker, job: Omit<PreprocessJob, 'id'>) =>
    new Promise<void>((resolve, reject) => {
      if (failure) {
        reject(failure);
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve, reject });
      busy.set(w, busy.get(w)! + 1);
      w.ref();
      w.postMessage({ ...job, id });
    });
  // shared buffers of finished batches, reused: a fresh one per batch cost more in page faults than the work
  const free: SharedArrayBuffer[] = [];
  return {
    size,
    async run(sources, mode, config = OPENAI_CLIP_PREPROCESSOR, resizer = 'pil', options = {}) {
      if (closed)
        throw new InvalidArgumentError({
          functionName: 'PreprocessPool.run',
          argument: 'this',
          message: 'the pool is closed',
        });
      const c = config.cropSize;
      const per = 3 * c * c;
      const data = pixelsOut(options.out, sources.length, c, 'PreprocessPool.run');
      const reuse = free.findIndex((b) => b.byteLength >= data.byteLength);
      const buffer = reuse >= 0 ? free.splice(reuse, 1)[0]! : new SharedArrayBuffer(data.byteLength);
      const chunk = Math.ceil(sources.length / size);
      const jobs: Promise<void>[] = [];
      for (let k = 0; k * chunk < sources.length; k++) {
        jobs.push(
          post(workers[k]!, {
            sources: sources.slice(k * chunk, (k + 1) * chunk) as ImageSource[],
            mode,
            config,
            resizer,
            buffer,
            offset: k * chunk * per,
          }),
        );
      }
      // on failure the buffer is dropped, not reused: another slice may still be writing into it
      await Promise.all(jobs);
      // ONNX Runtime refuses SharedArrayBuffer-backed tensors ("Invalid argument"): one copy into a plain buffer
      data.set(new Float32Array(buffer, 0, data.length));
      if (free.length < 4) free.push(buffer);
      return { dtype: 'float32', data, dims: [sources.length, 3, c, c] };
    },
    async close() {
      closed = true;
      for (const p of pending.values()) p.reject(new PreprocessWorkerError('the preprocessing pool was closed'));
      pending.clear();
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
