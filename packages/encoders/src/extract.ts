import { InvalidArgumentError, type Tensor2D } from '@vlfer/core';
import type { ClipModel } from './clip.js';
import { hashBytes, hashFile, type FeatureCache } from '@vlfer/core';
import { preprocessImages, type ImageSource, type PreprocessMode, type Resizer } from './preprocess.js';
import type { PreprocessPool } from './preprocess-pool.js';

/** An image to encode; `key` identifies its content for the cache (default: SHA-256 of the file or buffer). */
export type EncodeItem = ImageSource | { source: ImageSource; key: string };

export interface EncodeImagesOptions {
  model: Pick<ClipModel, 'encodePixels' | 'embeddingDim' | 'preprocessor'>;
  items: readonly EncodeItem[];
  mode: PreprocessMode;
  /** @default 'pil' (bit-exact Pillow resampling) */
  resizer?: Resizer;
  /** @default 32 */
  batchSize?: number;
  cache?: FeatureCache;
  /** decode + resize on these worker threads instead of the calling thread (same bytes; `createPreprocessPool`) */
  preprocessPool?: PreprocessPool;
  /** Called after each batch with (items done, total, items served from cache). */
  onProgress?: (done: number, total: number, cached: number) => void;
}

function keyOf(item: EncodeItem): string {
  if (typeof item === 'string') return hashFile(item);
  if (item instanceof Uint8Array) return hashBytes(item);
  if ('key' in item) return item.key;
  return hashBytes(item.rgb);
}

function sourceOf(item: EncodeItem): ImageSource {
  return typeof item === 'object' && !(item instanceof Uint8Array) && 'source' in item ? item.source : item;
}

/**
 * Encode images to CLIP image features, in batches, reusing and filling an optional feature cache.
 * The next batch is decoded and resized while the current one runs in ONNX Runtime.
 * @returns image_embeds [items, D], in item order
 */
export async function encodeImages(options: EncodeImagesOptions): Promise<Tensor2D> {
  const { model, items, mode, cache, onProgress } = options;
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new InvalidArgumentError({ functionName: 'encodeImages', argument: 'batchSize', message: `must be a positive integer, got ${batchSize}` });
  const d = model.embeddingDim;
  const out = new Float32Array(items.length * d);
  const todo: number[] = [];
  const keys: string[] = cache ? items.map(keyOf) : [];
  let cached = 0;
  for (let i = 0; i < items.length; i++) {
    const hit = cache?.get(keys[i]!, d);
    if (hit) { out.set(hit, i * d); cached++; } else todo.push(i);
  }
  onProgress?.(cached, items.length, cached);
  const batches: number[][] = [];
  for (let b = 0; b < todo.length; b += batchSize) batches.push(todo.slice(b, b + batchSize));
  const prep = (batch: number[]) => {
    const sources = batch.map((i) => sourceOf(items[i]!));
    return options.preprocessPool ? options.preprocessPool.run(sources, mode, model.preprocessor, options.resizer ?? 'pil') : preprocessImages(sources, mode, model.preprocessor, options.resizer ?? 'pil');
  };
  let next = batches.length > 0 ? prep(batches[0]!) : undefined;
  let done = cached;
  for (let b = 0; b < batches.length; b++) {
    const pixels = await next!;
    next = b + 1 < batches.length ? prep(batches[b + 1]!) : undefined;
    // keep a rejected prefetch from surfacing as an unhandled rejection before it is awaited
    next?.catch(() => undefined);
    const emb = await model.encodePixels(pixels);
    batches[b]!.forEach((i, r) => {
      const v = emb.data.subarray(r * d, (r + 1) * d);
      out.set(v, i * d);
      cache?.set(keys[i]!, Float32Array.from(v));
    });
    done += batches[b]!.length;
    onProgress?.(done, items.length, cached);
  }
  return { dtype: 'float32', data: out, dims: [items.length, d] };
}
