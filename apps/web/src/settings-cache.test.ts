import { describe, expect, it } from 'vitest';
import { SettingsCache } from './settings-cache.js';

/** A build that ends when the test says. */
function deferred<V>() {
  let resolve!: (v: V) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<V>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('the classifier kept for the settings it was built from', () => {
  it('equal settings share one build; a build for old settings that ends late is not returned for new ones', async () => {
    const cache = new SettingsCache<string, string>((a, b) => a === b);
    const builds: string[] = [];
    const pending = new Map<string, ReturnType<typeof deferred<string>>>();
    const build = (s: string) => {
      builds.push(s);
      const d = deferred<string>();
      pending.set(s, d);
      return d.promise;
    };
    const a1 = cache.get('basic-7', build);
    const a2 = cache.get('basic-7', build);
    expect(a2).toBe(a1);
    const b = cache.get('basic-8', build);
    pending.get('basic-8')!.resolve('classifier for basic-8');
    expect(await b).toBe('classifier for basic-8');
    // the basic-7 build, begun first, ends last: basic-8 is still what is kept
    pending.get('basic-7')!.resolve('classifier for basic-7');
    expect(await a1).toBe('classifier for basic-7');
    expect(await cache.get('basic-8', build)).toBe('classifier for basic-8');
    expect(builds).toEqual(['basic-7', 'basic-8']);
  });

  it('a failed build is not kept, and clear() forgets the kept one', async () => {
    const cache = new SettingsCache<string, string>((a, b) => a === b);
    let n = 0;
    const failing = cache.get('x', () => Promise.reject(new Error('prompts could not be encoded')));
    await expect(failing).rejects.toThrow('prompts could not be encoded');
    expect(await cache.get('x', async () => `built ${++n}`)).toBe('built 1');
    expect(await cache.get('x', async () => `built ${++n}`)).toBe('built 1');
    cache.clear();
    expect(await cache.get('x', async () => `built ${++n}`)).toBe('built 2');
  });
});
