import { FeatureCache, hashBytes, hashFile, InvalidArgumentError, type Tensor2D } from '@vlfer/core';
import { getInstruction } from './instructions.js';

/**
 * An LLM teacher: maps an unlabelled face image plus an instruction to a target embedding (Exp-CLIP: BLIP-2
 * FlanT5-XXL encoder output, mean-pooled, 4096-d). Targets are deterministic, so they are computed once and
 * cached (`computeTargets`), unlike the reference code that recomputes them at every step.
 */
export interface Teacher {
  /** Stable id; part of the target cache key (e.g. `import:<file sha>`, `http:<model>@<url>`). */
  readonly id: string;
  /** Embedding dimension when known before the first call. */
  readonly dim?: number;
  /** @returns one embedding per image, in order */
  embed(images: readonly string[], instruction: string): Promise<Float32Array[]>;
}

export interface ComputeTargetsOptions {
  teacher: Teacher;
  images: readonly string[];
  /** Instruction id from the registry. @default 'exp-clip' */
  instructionId?: string;
  /** Target cache directory; entries are keyed by teacher id + instruction + image content hash. */
  cacheDir?: string;
  /** Images per teacher call. @default 64 */
  batchSize?: number;
  /** The head output dim the targets must have (a mismatch is an error naming both). */
  expectDim?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Teacher targets for every image, served from / written to the on-disk cache (atomic per item, so an
 * interrupted run resumes). Targets are L2-normalised, as the reference does before the loss.
 * @returns [images, E]
 */
export async function computeTargets(options: ComputeTargetsOptions): Promise<Tensor2D> {
  const { teacher, images } = options;
  const instructionId = options.instructionId ?? 'exp-clip';
  const instruction = getInstruction(instructionId);
  const batchSize = options.batchSize ?? 64;
  const cache = options.cacheDir
    ? new FeatureCache({ dir: options.cacheDir, namespace: { modelId: teacher.id, dtype: 'float32', preprocess: 'teacher-target', extra: hashBytes(instruction) } })
    : undefined;
  const keys = cache ? images.map((p) => hashFile(p)) : [];
  let dim = options.expectDim ?? teacher.dim;
  const out: (Float32Array | undefined)[] = new Array(images.length);
  const todo: number[] = [];
  images.forEach((_, i) => {
    const hit = cache && dim !== undefined ? cache.get(keys[i]!, dim) : undefined;
    if (hit) out[i] = hit; else todo.push(i);
  });
  let done = images.length - todo.length;
  options.onProgress?.(done, images.length);
  for (let b = 0; b < todo.length; b += batchSize) {
    const idx = todo.slice(b, b + batchSize);
    const vecs = await teacher.embed(idx.map((i) => images[i]!), instruction);
    if (vecs.length !== idx.length) throw new Error(`Teacher ${teacher.id} returned ${vecs.length} embeddings for ${idx.length} images`);
    vecs.forEach((v, r) => {
      dim ??= v.length;
      if (v.length !== dim) {
        throw new InvalidArgumentError({ functionName: 'computeTargets', argument: 'teacher', message: `teacher ${teacher.id} gives ${v.length}-d targets but the projection head outputs ${dim}-d (image ${images[idx[r]!]})` });
      }
      let n = 0;
      for (const x of v) n += x * x;
      n = Math.max(Math.sqrt(n), 1e-12);
      const t = Float32Array.from(v, (x) => x / n);
      out[idx[r]!] = t;
      cache?.set(keys[idx[r]!]!, t);
    });
    done += idx.length;
    options.onProgress?.(done, images.length);
  }
  if (dim === undefined) throw new InvalidArgumentError({ functionName: 'computeTargets', argument: 'images', message: 'is empty' });
  const data = new Float32Array(images.length * dim);
  out.forEach((v, i) => data.set(v!, i * dim!));
  return { dtype: 'float32', data, dims: [images.length, dim] };
}
