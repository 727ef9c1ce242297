/**
 * Worker body of `createPreprocessPool`: preprocesses a slice of a batch into a shared Float32Array.
 * Messages in: { id, sources, mode, config, resizer, decoding, buffer, offset }; out: { id } or { id, error }.
 */
import { parentPort } from 'node:worker_threads';
import type { ClipPreprocessorConfig, PreprocessMode } from '../preprocess.js';
import type { ImageSource } from '@vlfer/image/node';
import { preprocessImageInto, type PreprocessDecoding, type Resizer } from './preprocess.js';

export interface PreprocessJob {
  id: number;
  sources: ImageSource[];
  mode: PreprocessMode;
  config: ClipPreprocessorConfig;
  resizer: Resizer;
  decoding: PreprocessDecoding;
  buffer: SharedArrayBuffer;
  offset: number;
}

if (!parentPort) throw new Error('preprocess-worker must run in a worker thread (createPreprocessPool starts it)');
const port = parentPort;
port.on('message', (job: PreprocessJob) => {
  const out = new Float32Array(job.buffer);
  const per = 3 * job.config.cropSize * job.config.cropSize;
  Promise.all(
    job.sources.map((s, i) =>
      preprocessImageInto(s, job.mode, job.config, out, job.offset + i * per, job.resizer, null, job.decoding),
    ),
  ).then(
    () => port.postMessage({ id: job.id }),
    (error: unknown) =>
      port.postMessage({
        id: job.id,
        error:
          error instanceof Error
            ? { name: error.name, message: error.message }
            : { name: 'Error', message: String(error) },
      }),
  );
});
