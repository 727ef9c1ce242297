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

/**
 * The most threads a session may be given: 4 per CPU this process may use (`os.availableParallelism()`). ONNX
 * Runtime starts that many threads in every session (a HESP run holds four), and more threads than CPUs only wait
 * for each other; a mistyped count in the thousands exhausts memory and threads before the first result.
 */
export function maxThreads(): number {
  return 4 * availableParallelism();
}

/** Why `n` is not a thread count (a positive integer up to `maxThreads()`), or undefined when it is one. */
export function threadCountProblem(n: number): string | undefined {
  if (!Number.isInteger(n) || n < 1) return `must be a positive integer, got ${n}`;
  const max = maxThreads();
  if (n > max)
    return `must be at most ${max} (4 per CPU; this process may use ${availableParallelism()}), got ${n}: more threads than CPUs only wait for each other`;
  return undefined;
}

/** The thread count sessions use when none is given: `VLFER_THREADS` or `os.availableParallelism()`. */
export function defaultThreads(): number {
  const env = process.env.VLFER_THREADS;
  if (env !== undefined && env !== '') {
    const n = /^\s*\d+\s*$/.test(env) ? Number(env) : NaN;
    const problem = Number.isNaN(n) ? `must be a positive integer, got '${env}'` : threadCountProblem(n);
    if (problem)
      throw new InvalidArgumentError({ functionName: 'defaultThreads', argument: 'VLFER_THREADS', message: problem });
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
  const problem = threadCountProblem(threads);
  if (problem)
    throw new InvalidArgumentError({
      functionName: 'ortSessionOptions',
      argument: 'intraOpNumThreads',
      message: problem,
    });
  return {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  };
}

/**
 * Why ONNX Runtime could not create a session from a file, where the file itself is no ONNX model: 'not a protobuf
 * ModelProto' (garbage) or 'it has no graph' (an empty file); undefined for any other failure (a device, memory, an
 * operator), which the caller reports as it came. For messages naming the file and what was expected.
 */
export function notAnOnnxModel(error: unknown): string | undefined {
  const msg = String((error as Error | undefined)?.message ?? error);
  if (!/ModelProto does not have a graph|Protobuf parsing failed|INVALID_PROTOBUF|No graph was found/i.test(msg))
    return undefined;
  return /graph/i.test(msg) ? 'it has no graph' : 'not a protobuf ModelProto';
}
