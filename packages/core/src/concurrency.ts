/** @file Bounded concurrency for async work (runtime-neutral). */

/**
 * `fn` over `items` with at most `concurrency` calls in flight, results in input order. After the first failure no
 * new call starts; the calls in flight finish, then that failure is thrown.
 */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
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
