import { availableParallelism } from 'node:os';
import { COMPUTE_DEVICES, checkOneOf, type ComputeDevice } from '../options.js';
import { InvalidArgumentError } from '../errors.js';

/** Threads of ONNX Runtime sessions. */
export interface ThreadOptions {
  /**
   * Threads inside one operator. @default `VLFER_THREADS`, else every CPU this process may use
   * (`os.availableParallelism()`, which honours CPU affinity; ORT's own default counts physical cores only).
   */
  intraOpNumThreads?: number;
}

/** The thread count sessions use when none is given: `VLFER_THREADS` or `os.availableParallelism()`. */
export function defaultThreads(): number {
  const env = process.env.VLFER_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError({
        functionName: 'defaultThreads',
        argument: 'VLFER_THREADS',
        message: `must be a positive integer, got '${env}'`,
      });
    return n;
  }
  return availableParallelism();
}

/**
 * ONNX Runtime session options shared by every session vlfer creates (device checked at run time, threads set,
 * quiet logs, full graph optimisation). Plain data: no ONNX Runtime import here.
 */
export function ortSessionOptions(options: ThreadOptions & { device?: ComputeDevice } = {}): {
  executionProviders: string[];
  graphOptimizationLevel: 'all';
  logSeverityLevel: 3;
  intraOpNumThreads: number;
  interOpNumThreads: number;
} {
  const device = checkOneOf(options.device ?? 'cpu', COMPUTE_DEVICES, {
    functionName: 'ortSessionOptions',
    argument: 'device',
  });
  const threads = options.intraOpNumThreads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1)
    throw new InvalidArgumentError({
      functionName: 'ortSessionOptions',
      argument: 'intraOpNumThreads',
      message: `must be a positive integer, got ${threads}`,
    });
  return {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  };
}
