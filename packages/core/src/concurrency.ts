/**
 * @file Bounded concurrency for async work, and long synchronous work that gives the event loop its turns
 * (runtime-neutral).
 */
import { InvalidArgumentError, throwIfAborted } from './errors.js';

/**
 * The longest delay `setTimeout` keeps, 2^31 − 1 ms (24.8 days), in Node and browsers: a longer one fires after
 * 1 ms. Timeouts that users set are bounded by it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `fn` over `items` with at most `concurrency` calls in flight, results in input order. After the first failure no
 * new call starts; the calls in flight finish, then that failure is thrown.
 * @throws InvalidArgumentError for a `concurrency` that is not a positive integer
 */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  // NaN or 0 started no worker: every result a hole, and no error
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new InvalidArgumentError({
      functionName: 'mapConcurrently',
      argument: 'concurrency',
      message: `expected a positive integer, got ${String(concurrency)}`,
    });
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  // a rejection that is no Error (a bug in fn) still surfaces as one
  if (failed !== undefined) throw failed instanceof Error ? failed : new Error(String(failed));
  return out;
}

/**
 * A turn of the event loop (`setImmediate` where the runtime has it, else a 0 ms timer): I/O, signal handlers and
 * the timers that are due run before the promise resolves (from inside a timer callback, those timers run at the
 * next turn). An awaited promise that is already resolved gives no such turn.
 */
export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => {
    const g = globalThis as { setImmediate?: (f: () => void) => unknown };
    if (g.setImmediate) g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });

/**
 * Long synchronous work written once as a generator of steps (it yields between steps, e.g. after each optimiser
 * iteration), run to its end at once. @returns what the generator returns
 */
export function runStepsSync<T>(steps: Generator<unknown, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

export interface RunStepsOptions<Y> {
  /** what the work is, for the AbortedError: `fitting the linear probe` */
  what: string;
  /** checked after every step; once it has fired the work stops there with an AbortedError */
  signal?: AbortSignal;
  /** called with every value the generator yields (progress) */
  onStep?: (step: Y) => void;
  /** the longest run of steps between two turns of the event loop, in milliseconds; default 50 (0: after every step) */
  sliceMs?: number;
}

/**
 * A pace for long loops of short synchronous steps in async code (a stat and a header read per listed image): await
 * the function it returns after each step; it gives the event loop a turn (`yieldToEventLoop`) once `sliceMs` has
 * passed since the last, so Ctrl-C, SIGTERM and timers are seen, and then throws an AbortedError naming `what` once
 * `signal` has fired. (An `await` of an already resolved promise gives no such turn: a loop of them holds the event
 * loop as a synchronous one does.)
 * @throws InvalidArgumentError for a negative or non-finite `sliceMs`
 */
export function eventLoopPacer(
  options: { what: string; signal?: AbortSignal | undefined; sliceMs?: number },
  /** the function named in the error (a caller's own, as `runSteps`) */
  functionName = 'eventLoopPacer',
): () => Promise<void> {
  const sliceMs = options.sliceMs ?? 50;
  if (!(Number.isFinite(sliceMs) && sliceMs >= 0))
    throw new InvalidArgumentError({
      functionName,
      argument: 'options.sliceMs',
      message: `must be a finite number of milliseconds ≥ 0, got ${sliceMs}`,
    });
  let since = performance.now();
  return async () => {
    if (performance.now() - since >= sliceMs) {
      await yieldToEventLoop();
      since = performance.now();
    }
    throwIfAborted(options.signal, options.what);
  };
}

/**
 * `runStepsSync` that gives the event loop a turn (`yieldToEventLoop`) once a slice of `sliceMs` has passed, and
 * checks `signal` after every step: a CLI's Ctrl-C, SIGTERM and parent watch are seen within a slice and a step, and
 * a second Ctrl-C exits at once. The steps are the same, so the result is the same as `runStepsSync`'s.
 * @throws AbortedError naming `what` when `signal` fires; what a step throws
 */
export async function runSteps<T, Y>(steps: Generator<Y, T, void>, options: RunStepsOptions<Y>): Promise<T> {
  const pace = eventLoopPacer(options, 'runSteps');
  throwIfAborted(options.signal, options.what);
  let done = false;
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) {
        done = true;
        return r.value;
      }
      options.onStep?.(r.value);
      // after every step: a signal aborted by the caller's own code (an onStep, a timer of the last turn) stops it
      await pace();
    }
  } finally {
    // stopped early (aborted, or a step or onStep threw): the generator's own finally blocks run
    if (!done) steps.return(undefined as never);
  }
}
