import {
  checkOneOf,
  eventLoopPacer,
  InvalidArgumentError,
  runSteps,
  runStepsSync,
  throwIfAborted,
  type ProgressCallback,
  type Tensor2D,
  type Tensor4D,
} from '@vlfer/core';
import { hashBytes, hashFile, type FeatureCache } from '@vlfer/core/node';
import { PREPROCESS_MODES, type PreprocessMode } from '../preprocess.js';
import type { ClipModel } from './clip.js';
import type { PreprocessPool } from './preprocess-pool.js';
import { describeSource, type ImageSource } from '@vlfer/image/node';
import { preprocessImages, RESIZERS, type Resizer } from './preprocess.js';

/**
 * An image to encode: any `ImageSource` (a path, a dataset item `{ path, label }`, an encoded buffer, raw RGB), or
 * `{ source, key }` with the cache key given (frames of decoded videos).
 */
export type EncodeItem = ImageSource | { source: ImageSource; key: string };

export interface EncodeImagesOptions {
  model: Pick<ClipModel, 'encodePixels' | 'embeddingDim' | 'preprocessor'>;
  items: readonly EncodeItem[];
  mode: PreprocessMode;
  /** @default 'pil' (bit-exact Pillow resampling) */
  resizer?: Resizer;
  /** @default 32 */
  batchSize?: number;
  /**
   * Feature cache (entries keyed by content, checksummed); damaged entries are recomputed. With a cache, batches
   * are fixed windows of `batchSize` items and a window with any missing item is encoded whole, so every feature
   * is computed in the same batch as in an uninterrupted run: a resumed run gives bit-identical features.
   */
  cache?: FeatureCache;
  /** Content keys of the items when the caller has computed them (SHA-256 hex). */
  keys?: readonly string[];
  /** decode + resize on these worker threads instead of the calling thread (same bytes; `createPreprocessPool`) */
  preprocessPool?: PreprocessPool;
  /** Checked between batches; features computed so far stay in the cache, so a rerun resumes. */
  signal?: AbortSignal;
  /** Called after each batch (phase 'encode', unit 'images', `cached` = served from the cache). */
  onProgress?: ProgressCallback;
}

export interface EncodeResult {
  /** image_embeds [items, D], in item order */
  features: Tensor2D;
  /** Content key of each item (the cache key). */
  keys: string[];
  /** Items served from the cache. */
  cached: number;
  /** Items run through the encoder. */
  encoded: number;
}

function isKeyed(item: EncodeItem): item is { source: ImageSource; key: string } {
  return typeof item === 'object' && !(item instanceof Uint8Array) && 'source' in item && 'key' in item;
}

/** The content key of an item: SHA-256 of the file or bytes (or the given key). */
export function contentKey(item: EncodeItem): string {
  if (isKeyed(item)) return item.key;
  if (typeof item === 'string') return hashFile(item);
  if (item instanceof Uint8Array) return hashBytes(item);
  if ('path' in item) return hashFile(item.path);
  if ('rgb' in item) return hashBytes(item.rgb);
  throw new InvalidArgumentError({
    functionName: 'encodeImages',
    argument: 'items',
    message: `cannot key ${describeSource(item as ImageSource)}`,
  });
}

/**
 * `contentKey` of each item, serving the event loop every 50 ms: hashing an AffectNet-sized set takes minutes, in
 * which Ctrl-C and `signal` are now seen. @throws AbortedError once `signal` fires
 */
async function contentKeys(items: readonly EncodeItem[], signal: AbortSignal | undefined): Promise<string[]> {
  const pace = eventLoopPacer({ what: 'encoding images', signal });
  const keys: string[] = [];
  for (const item of items) {
    await pace();
    keys.push(contentKey(item));
  }
  return keys;
}

function sourceOf(item: EncodeItem): ImageSource {
  return isKeyed(item) ? item.source : item;
}

/**
 * Encode images to CLIP image features, in batches, reusing and filling an optional feature cache.
 * The next batch is decoded and resized while the current one runs in ONNX Runtime.
 * Stages: `checkEncodeOptions` → `contentKey` per item → `planEncodeBatches` (cache hits, windows to encode) →
 * `pixelBatchPreparer` (decode + resize, double-buffered) → `encodeBatches` (encode, fill the cache).
 */
export async function encodeImages(options: EncodeImagesOptions): Promise<EncodeResult> {
  const { model, items, cache, onProgress } = options;
  const { mode, resizer, batchSize } = checkEncodeOptions(options);
  const d = model.embeddingDim;
  const out = new Float32Array(items.length * d);
  const keys = options.keys ? [...options.keys] : await contentKeys(items, options.signal);
  const steps = planSteps(keys, d, batchSize, cache, out); // a cache read per item: paced, stopped by the signal
  const plan = await runSteps(steps, {
    what: 'encoding images',
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const { cached } = plan;
  onProgress?.({ phase: 'encode', done: cached, total: items.length, unit: 'images', cached });
  const prepare = pixelBatchPreparer(options, mode, resizer, batchSize);
  await encodeBatches(options, plan, prepare, keys, out);
  return {
    features: { dtype: 'float32', data: out, dims: [items.length, d] },
    keys,
    cached,
    encoded: plan.missing.size,
  };
}

/**
 * The checked mode, resizer and batch size of `encodeImages` (batchSize default 32).
 * @throws InvalidArgumentError naming `items`, `mode`, `resizer`, `batchSize` or `keys`
 */
export function checkEncodeOptions(options: EncodeImagesOptions): {
  mode: PreprocessMode;
  resizer: Resizer;
  batchSize: number;
} {
  const { items } = options;
  const fn = 'encodeImages';
  if (!Array.isArray(items))
    throw new InvalidArgumentError({ functionName: fn, argument: 'items', message: 'expected an array of images' });
  const mode = checkOneOf(options.mode, PREPROCESS_MODES, { functionName: fn, argument: 'mode' });
  const resizer = checkOneOf(options.resizer ?? 'pil', RESIZERS, { functionName: fn, argument: 'resizer' });
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize <= 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'batchSize',
      message: `must be a positive integer, got ${batchSize}`,
    });
  if (options.keys && options.keys.length !== items.length)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'keys',
      message: `${options.keys.length} keys for ${items.length} items`,
    });
  return { mode, resizer, batchSize };
}

/** Which items `encodeImages` runs through the encoder, and in which batches. */
export interface EncodePlan {
  /** Item indices per batch to encode: whole windows [w, w + batchSize) that have at least one cache miss. */
  batches: number[][];
  /** Items not in the cache (encoded and then stored). */
  missing: Set<number>;
  /** Items served from the cache. */
  cached: number;
}

/**
 * Serve what the cache holds and plan the rest: items are cut into fixed windows of `batchSize`; a cached item's
 * feature is written into `out` at its row, and a window with any miss is encoded whole, so that every feature is
 * computed in the same batch as in an uninterrupted run (a resumed run gives bit-identical features).
 * @param keys content key per item @param d feature dimension D @param out [items, D], filled for cache hits
 */
export function planEncodeBatches(
  keys: readonly string[],
  d: number,
  batchSize: number,
  cache: FeatureCache | undefined,
  out: Float32Array,
): EncodePlan {
  return runStepsSync(planSteps(keys, d, batchSize, cache, out));
}

/** The steps of `planEncodeBatches`, one window of `batchSize` keys each. */
function* planSteps(
  keys: readonly string[],
  d: number,
  batchSize: number,
  cache: FeatureCache | undefined,
  out: Float32Array,
): Generator<void, EncodePlan, void> {
  const batches: number[][] = [];
  const missing = new Set<number>();
  let cached = 0;
  for (let w = 0; w < keys.length; w += batchSize) {
    const window = Array.from({ length: Math.min(batchSize, keys.length - w) }, (_, k) => w + k);
    let miss = false;
    for (const i of window) {
      const hit = cache?.get(keys[i]!, d);
      if (hit) {
        out.set(hit, i * d);
        cached++;
      } else {
        miss = true;
        missing.add(i);
      }
    }
    if (miss) batches.push(window);
    yield;
  }
  return { batches, missing, cached };
}

/**
 * Decode + resize of one batch of item indices to pixels [batch, 3, crop, crop], on the preprocess pool when given.
 * Two pixel buffers are taken in turn: batch b + 1 is written while batch b is encoded, and no batch allocates.
 */
function pixelBatchPreparer(
  options: EncodeImagesOptions,
  mode: PreprocessMode,
  resizer: Resizer,
  batchSize: number,
): (batch: number[]) => Promise<Tensor4D> {
  const { model, items } = options;
  const crop = model.preprocessor.cropSize;
  const buffers: Float32Array[] = [];
  let turn = 0;
  return (batch) => {
    const sources = batch.map((i) => sourceOf(items[i]!));
    const k = turn++ % 2;
    buffers[k] ??= new Float32Array(Math.min(batchSize, items.length) * 3 * crop * crop);
    const out = { out: buffers[k] };
    return options.preprocessPool
      ? options.preprocessPool.run(sources, mode, model.preprocessor, resizer, out)
      : preprocessImages(sources, mode, model.preprocessor, resizer, out);
  };
}

/**
 * Encode the planned batches, preparing batch b + 1 while batch b runs in the encoder; each feature goes to its row
 * of `out` (image_embeds [items, D]) and, for items not cached before, into the cache. Checks `signal` between
 * batches; reports progress after each.
 */
async function encodeBatches(
  options: EncodeImagesOptions,
  plan: EncodePlan,
  prepare: (batch: number[]) => Promise<Tensor4D>,
  keys: readonly string[],
  out: Float32Array,
): Promise<void> {
  const { model, items, cache, onProgress, signal } = options;
  const { batches, missing, cached } = plan;
  const d = model.embeddingDim;
  let next = batches.length > 0 ? prepare(batches[0]!) : undefined;
  next?.catch(() => undefined);
  let done = cached;
  try {
    for (let b = 0; b < batches.length; b++) {
      throwIfAborted(signal, 'encoding images');
      const pixels = await next!;
      next = b + 1 < batches.length ? prepare(batches[b + 1]!) : undefined;
      // keep a rejected prefetch from surfacing as an unhandled rejection before it is awaited
      next?.catch(() => undefined);
      const emb = await model.encodePixels(pixels);
      batches[b]!.forEach((i, r) => {
        const v = emb.data.subarray(r * d, (r + 1) * d);
        out.set(v, i * d);
        if (missing.has(i)) cache?.set(keys[i]!, Float32Array.from(v));
      });
      done += batches[b]!.filter((i) => missing.has(i)).length;
      onProgress?.({ phase: 'encode', done, total: items.length, unit: 'images', cached });
    }
  } finally {
    await next?.catch(() => undefined);
  }
}
