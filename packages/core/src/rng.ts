import { InvalidArgumentError } from './errors.js';
import { checkFiniteNumber } from './options.js';

/**
 * A small, seeded pseudo-random generator (sfc32 seeded through splitmix32).
 * Determinism is injected: every function that needs randomness takes an `Rng`; nothing seeds at import.
 */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal sample (Box–Muller). */
  normal(): number;
  /** A new array with the elements of `items` in random order (input untouched). */
  shuffled<T>(items: readonly T[]): T[];
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/** Uniform integer in [0, n) from 32-bit draws: one below 2³², two (53 bits) above, where one would reach only multiples of n / 2³². */
function intBelow(n: number, nextU32: () => number): number {
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new InvalidArgumentError({
      functionName: 'Rng.int',
      argument: 'n',
      message: `expected a positive safe integer, got ${String(n)}`,
    });
  if (n > 4294967296) return Math.floor((((nextU32() >>> 5) * 67108864 + (nextU32() >>> 6)) / 2 ** 53) * n);
  return Math.floor((nextU32() / 4294967296) * n);
}

/**
 * Create a seeded generator. The same seed always gives the same stream; seeds are integers taken modulo 2³² (so
 * seeds equal modulo 2³² give the same stream; beyond 2⁵³ the double's value, as `seed * 1000003 + epoch` makes it).
 * @param where the function and option a bad seed is named as (a caller's own `seed` option)
 * @throws InvalidArgumentError naming `seed` when it is not an integer (a fraction was floored, silently)
 */
export function createRng(seed: number, where = { functionName: 'createRng', argument: 'seed' }): Rng {
  checkFiniteNumber(seed, where, { integer: true });
  const init = splitmix32(Math.floor(seed));
  let a = init(),
    b = init(),
    c = init(),
    d = init();
  const nextU32 = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) nextU32();
  let spare: number | null = null;
  const rng: Rng = {
    next: () => nextU32() / 4294967296,
    int: (n: number) => intBelow(n, nextU32),
    normal: () => {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = 0;
      while (u === 0) u = rng.next();
      const v = rng.next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    shuffled: <T>(items: readonly T[]): T[] => {
      const out = items.slice();
      for (let i = out.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
  return rng;
}

/** murmur3's 32-bit finaliser: every input bit moves every output bit. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The seed of one named random stream of a run: a 32-bit hash of the run's `seed`, the stream's `name` and its
 * indices (epoch, step, …), for `createRng`. Streams of different names or indices are unrelated, where sums such
 * as `seed · 1000003 + epoch` make one stream's seed another's (epoch 0 step k against epoch k + 1).
 * @param seed an integer (as `createRng`'s) @param indices non-negative integers
 */
export function streamSeed(seed: number, name: string, ...indices: readonly number[]): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`streamSeed: seed must be a safe integer, got ${seed}`);
  for (const i of indices)
    if (!Number.isSafeInteger(i) || i < 0)
      throw new RangeError(`streamSeed: indices must be non-negative integers, got ${indices.join(', ')}`);
  const words = [
    Math.floor(seed / 2 ** 32) >>> 0,
    seed >>> 0,
    name.length,
    ...indices.flatMap((i) => [i / 2 ** 32, i]),
  ];
  let h = 0x6a09e667;
  const add = (w: number) => {
    h = mix32((h ^ (w >>> 0)) + 0x9e3779b9);
  };
  for (let c = 0; c < name.length; c++) add(name.charCodeAt(c));
  for (const w of words) add(Math.floor(w));
  return h;
}
