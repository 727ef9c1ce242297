import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { AutoTokenizer, CLIPTextModelWithProjection, CLIPVisionModelWithProjection, Tensor as HfTensor, type PreTrainedTokenizer } from '@huggingface/transformers';
import { assertShape, InvalidArgumentError, VlferError, type Tensor2D, type Tensor4D } from '@vlfer/core';
import { getModelEnvironment } from './env.js';
import { parsePreprocessorConfig, type ClipPreprocessorConfig } from './preprocess.js';
import { requiredModelFiles, type ClipModelId } from './registry.js';
import { assertWebGpu } from './webgpu.js';

export type ClipDtype = 'fp32' | 'fp16' | 'q8';
/** Compute backend. `'webgpu'` is ONNX Runtime's WebGPU execution provider (Dawn/Vulkan). */
export type ComputeDevice = 'cpu' | 'webgpu';

const DTYPE_SUFFIX: Record<ClipDtype, string> = { fp32: '', fp16: '_fp16', q8: '_quantized' };

export interface LoadClipOptions {
  /** Hugging Face id (e.g. `Xenova/clip-vit-base-patch32`) or a local directory in that layout. */
  model: ClipModelId;
  /** @default 'fp32' */
  dtype?: ClipDtype;
  /** @default 'cpu' */
  device?: ComputeDevice;
  /** Which towers to load. @default both */
  towers?: readonly ('vision' | 'text')[];
  /** SHA-256 of files relative to a local model directory, checked before loading. */
  checksums?: Readonly<Record<string, string>>;
  /** Threads ONNX Runtime may use inside one operator. @default ORT's default (all cores) */
  intraOpNumThreads?: number;
}

/** A loaded CLIP: frozen image and text towers with projection (`image_embeds`, `text_embeds`). */
export interface ClipModel {
  readonly modelId: string;
  readonly dtype: ClipDtype;
  readonly device: ComputeDevice;
  /** Projection dimension D of image_embeds/text_embeds (read from config.json). */
  readonly embeddingDim: number;
  readonly preprocessor: ClipPreprocessorConfig;
  /** @param pixels [batch, 3, H, W] @returns image_embeds [batch, D] (not normalised) */
  encodePixels(pixels: Tensor4D): Promise<Tensor2D>;
  /** @returns text_embeds [texts, D] (not normalised); tokenised to 77 tokens, truncated */
  encodeTexts(texts: readonly string[]): Promise<Tensor2D>;
  /** CLIP token ids, padded with <|endoftext|> to 77. @returns ids [texts · 77] and dims */
  tokenize(texts: readonly string[]): { ids: number[]; dims: [number, number] };
  /** The underlying ONNX Runtime session of a tower (for benchmarks and IO binding). */
  session(tower: 'vision' | 'text'): unknown;
  dispose(): Promise<void>;
}

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function layoutHelp(suffix: string): string {
  return `expected a directory holding ${requiredModelFiles(suffix).join(', ')} (the Hugging Face / transformers.js layout, e.g. a download of Xenova/clip-vit-base-patch32)`;
}

function resolveLocalDir(model: string): string | undefined {
  const candidates = [isAbsolute(model) || model.startsWith('.') ? resolve(model) : undefined, join(getModelEnvironment().localModelPath, model)];
  for (const c of candidates) if (c && existsSync(c) && statSync(c).isDirectory()) return c;
  return undefined;
}

/**
 * Load CLIP image and text encoders through @huggingface/transformers on onnxruntime-node.
 * A local directory (absolute, relative, or under `localModelPath`) is loaded offline; otherwise the id is
 * fetched from the Hub when `allowRemoteModels` is true (see `configureModels`).
 * @throws VlferError naming the missing files and the expected layout when the model cannot be found
 */
export async function loadClip(options: LoadClipOptions): Promise<ClipModel> {
  const dtype = options.dtype ?? 'fp32';
  const device = options.device ?? 'cpu';
  const suffix = DTYPE_SUFFIX[dtype];
  if (suffix === undefined) throw new InvalidArgumentError({ functionName: 'loadClip', argument: 'dtype', message: `expected fp32, fp16 or q8, got '${dtype}'` });
  if (device !== 'cpu' && device !== 'webgpu') throw new InvalidArgumentError({ functionName: 'loadClip', argument: 'device', message: `expected 'cpu' or 'webgpu', got '${device}'` });
  if (device === 'webgpu') await assertWebGpu(`loadClip(${options.model})`);
  const towers = new Set(options.towers ?? ['vision', 'text']);
  const localDir = resolveLocalDir(options.model);
  const env = getModelEnvironment();
  if (localDir) {
    const missing = requiredModelFiles(suffix).filter((f) => (f.includes('vision') ? towers.has('vision') : f.includes('text_model') ? towers.has('text') : true) && !existsSync(join(localDir, f)));
    if (missing.length > 0) throw new VlferError(`Model directory ${localDir} lacks ${missing.join(', ')}; ${layoutHelp(suffix)}`);
    for (const [file, want] of Object.entries(options.checksums ?? {})) {
      const got = await sha256File(join(localDir, file));
      if (got !== want.toLowerCase()) throw new VlferError(`Checksum mismatch for ${join(localDir, file)}: sha256 ${got}, expected ${want}`);
    }
  } else if (!env.allowRemoteModels) {
    throw new VlferError(`Model '${options.model}' is not a local directory and remote models are disabled (no directory '${join(env.localModelPath, options.model)}'). Provide ${layoutHelp(suffix)}, or call configureModels({ allowRemoteModels: true }) where the Hugging Face Hub is reachable.`);
  }
  const source = localDir ?? options.model;
  const hfOptions: Record<string, unknown> = {
    dtype,
    device,
    local_files_only: localDir !== undefined,
    session_options: options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {},
  };
  const wrap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (error) {
      const msg = (error as Error).message;
      const hint = (device === 'webgpu' ? ' (device webgpu needs a WebGPU adapter: a GPU with a Vulkan driver and libvulkan.so.1)' : '')
        + (localDir ? '' : `. If the Hugging Face Hub is unreachable, provide ${layoutHelp(suffix)} and pass its path`);
      throw new VlferError(`Loading ${what} of '${options.model}' (${dtype}, ${device}) failed: ${msg}${hint}`, { cause: error });
    }
  };
  const configJson = localDir ? JSON.parse(readFileSync(join(localDir, 'config.json'), 'utf8')) : undefined;
  const tokenizer: PreTrainedTokenizer | undefined = towers.has('text') ? await wrap('the tokenizer', () => AutoTokenizer.from_pretrained(source, hfOptions)) : undefined;
  const text = towers.has('text') ? await wrap('the text tower', () => CLIPTextModelWithProjection.from_pretrained(source, hfOptions)) : undefined;
  const vision = towers.has('vision') ? await wrap('the vision tower', () => CLIPVisionModelWithProjection.from_pretrained(source, hfOptions)) : undefined;
  const config = configJson ?? (vision ?? text)!.config;
  const embeddingDim = Number(config.projection_dim ?? config.vision_config?.projection_dim);
  if (!Number.isInteger(embeddingDim) || embeddingDim <= 0) throw new VlferError(`config.json of '${options.model}' has no projection_dim`);
  let preprocessor: ClipPreprocessorConfig;
  if (localDir) {
    const file = join(localDir, 'preprocessor_config.json');
    preprocessor = parsePreprocessorConfig(JSON.parse(readFileSync(file, 'utf8')), file);
  } else {
    const { AutoProcessor } = await import('@huggingface/transformers');
    const proc = await wrap('the preprocessor config', () => AutoProcessor.from_pretrained(source, hfOptions));
    preprocessor = parsePreprocessorConfig((proc as any).image_processor.config);
  }

  const tokenize = (texts: readonly string[]) => {
    if (!tokenizer) throw new VlferError('This ClipModel was loaded without the text tower');
    const enc = tokenizer([...texts], { padding: 'max_length', max_length: 77, truncation: true }) as { input_ids: HfTensor; attention_mask: HfTensor };
    return { enc, ids: Array.from(enc.input_ids.data as BigInt64Array, Number), dims: enc.input_ids.dims as [number, number] };
  };

  return {
    modelId: options.model,
    dtype,
    device,
    embeddingDim,
    preprocessor,
    async encodePixels(pixels) {
      if (!vision) throw new VlferError('This ClipModel was loaded without the vision tower');
      const size = preprocessor.cropSize;
      assertShape(pixels, [null, 3, size, size], 'pixels', 'ClipModel.encodePixels');
      const out = await vision({ pixel_values: new HfTensor('float32', pixels.data, [...pixels.dims]) });
      const e = out.image_embeds as HfTensor;
      return { dtype: 'float32', data: e.data as Float32Array, dims: [pixels.dims[0], embeddingDim] };
    },
    async encodeTexts(texts) {
      if (!text) throw new VlferError('This ClipModel was loaded without the text tower');
      if (texts.length === 0) return { dtype: 'float32', data: new Float32Array(0), dims: [0, embeddingDim] };
      const { enc } = tokenize(texts);
      const out = await text({ input_ids: enc.input_ids, attention_mask: enc.attention_mask });
      const e = out.text_embeds as HfTensor;
      return { dtype: 'float32', data: Float32Array.from(e.data as Float32Array), dims: [texts.length, embeddingDim] };
    },
    tokenize(texts) {
      const { ids, dims } = tokenize(texts);
      return { ids, dims };
    },
    session(tower) {
      const m = tower === 'vision' ? vision : text;
      if (!m) throw new VlferError(`This ClipModel was loaded without the ${tower} tower`);
      return (m as any).sessions.model;
    },
    async dispose() {
      await Promise.all([vision?.dispose(), text?.dispose()]);
    },
  };
}

/**
 * Just the CLIP tokenizer of a model (Hub id or local directory): ids padded with <|endoftext|> to 77, truncated.
 * @returns tokenize(texts) → { ids [texts · 77], dims [texts, 77] }
 */
export async function loadClipTokenizer(model: string): Promise<(texts: readonly string[]) => { ids: number[]; dims: [number, number] }> {
  const localDir = resolveLocalDir(model);
  const tokenizer = await AutoTokenizer.from_pretrained(localDir ?? model, { local_files_only: localDir !== undefined });
  return (texts) => {
    const enc = tokenizer([...texts], { padding: 'max_length', max_length: 77, truncation: true }) as { input_ids: HfTensor };
    return { ids: Array.from(enc.input_ids.data as BigInt64Array, Number), dims: enc.input_ids.dims as [number, number] };
  };
}
