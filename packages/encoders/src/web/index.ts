/**
 * @file `@vlfer/encoders/web`: CLIP in the browser on transformers.js's web build (onnxruntime-web, WebGPU or WASM)
 * with the same towers, tokenisation and encoders as `loadClip` in Node (`transformers-clip.ts`). Preprocessing
 * and the zero-shot classifier come from the runtime-neutral `@vlfer/encoders`.
 */
import { AutoProcessor, env } from '@huggingface/transformers';
import {
  checkOneOf,
  InvalidArgumentError,
  throwIfAborted,
  VlferError,
  type Tensor2D,
  type Tensor4D,
} from '@vlfer/core';
import { createImageClassifier, type ImageClassifier, type ZeroShotClassifierOptions } from '../classifier.js';
import {
  parsePreprocessorConfig,
  PREPROCESS_MODES,
  preprocessRgb,
  type ClipPreprocessorConfig,
  type PreprocessMode,
} from '../preprocess.js';
import type { DecodedImage } from '@vlfer/image';
import {
  checkTowerGraphs,
  checkTowersOrRelease,
  clipProjectionDim,
  loadTransformersTowers,
  transformersEncoders,
} from '../transformers-clip.js';

export const WEB_DEVICES = ['wasm', 'webgpu'] as const;
export type WebDevice = (typeof WEB_DEVICES)[number];

export interface LoadWebClipOptions {
  /**
   * A model directory served under `modelRoot` (e.g. `'tiny-clip'` for `/models/tiny-clip/config.json`), or a
   * Hugging Face id (e.g. `Xenova/clip-vit-base-patch32`) when `allowRemoteModels` is true.
   */
  model: string;
  /**
   * Path (same origin) under which model directories are served, e.g. `'/models/'`. A full URL of the page's own
   * origin is reduced to its path (transformers.js 4.3 looks local files up by path only).
   * @default none: local models off
   */
  modelRoot?: string;
  /** Fetch from the Hugging Face Hub what `modelRoot` lacks. @default false */
  allowRemoteModels?: boolean;
  /** @default 'webgpu' when the browser offers an adapter, else 'wasm' */
  device?: WebDevice;
  /** Where onnxruntime-web's `ort-wasm-simd-threaded.asyncify.{mjs,wasm}` are served. @default the jsDelivr CDN (transformers.js's default) */
  wasmPaths?: string;
  /** WASM threads (needs a cross-origin isolated page for more than 1). @default 1 */
  threads?: number;
  /** @default ['vision', 'text'] */
  towers?: readonly ('vision' | 'text')[];
  /** Download progress from transformers.js (`{ status, file, progress }`). */
  onProgress?: (event: { status: string; file?: string; progress?: number }) => void;
  /** Notices: each prompt longer than CLIP's 77 tokens, cut as `clip.tokenize(truncate=True)` does (end token kept). */
  log?: (line: string) => void;
}

/** CLIP loaded in the browser: the encoder interface the zero-shot classifier needs, like Node's `ClipModel`. */
export interface WebClipModel {
  readonly modelId: string;
  readonly device: WebDevice;
  /** Projection dimension D of image_embeds/text_embeds. */
  readonly embeddingDim: number;
  readonly preprocessor: ClipPreprocessorConfig;
  /** @param pixels [batch, 3, crop, crop] @returns image_embeds [batch, D] (not normalised) */
  encodePixels(pixels: Tensor4D): Promise<Tensor2D>;
  /** @returns text_embeds [texts, D] (not normalised); long prompts cut as `clip.tokenize(truncate=True)` */
  encodeTexts(texts: readonly string[]): Promise<Tensor2D>;
  /** CLIP token ids as `clip.tokenize(truncate=True)`, padded with <|endoftext|> to 77. @returns ids [texts · 77], dims, truncated rows */
  tokenize(texts: readonly string[]): { ids: number[]; dims: [number, number]; truncated: number[] };
  dispose(): Promise<void>;
}

/** Whether this browser offers a WebGPU adapter. */
export async function hasWebGpu(): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * Load CLIP's towers in the browser (transformers.js web build; fp32).
 * Stages: `resolveWebDevice` → `configureWebModels` (where models and onnxruntime-web's files come from) →
 * `checkServedModel` (a missing local model named with the server's answer) → the towers
 * (`loadTransformersTowers`) → `clipProjectionDim` → the preprocessor config → the encoders.
 * @example
 * const clip = await loadWebClip({ model: 'tiny-clip', modelRoot: '/models/', wasmPaths: '/ort/', device: 'wasm' });
 * const zs = await buildZeroShotClassifier({ model: clip, classNames, prompts });
 * @throws VlferError naming the part (tokenizer, tower, preprocessor config) and model that failed to load
 */
export async function loadWebClip(options: LoadWebClipOptions): Promise<WebClipModel> {
  const model = checkWebModelName(options?.model);
  const device = await resolveWebDevice(options.device);
  configureWebModels(options);
  const hfOptions: Record<string, unknown> = {
    dtype: 'fp32',
    device,
    ...(options.onProgress ? { progress_callback: options.onProgress } : {}),
  };
  const wrap = webLoadStep(model, device);
  if (env.allowLocalModels && !env.allowRemoteModels) await checkServedModel(model, env.localModelPath);
  const towers = new Set<'vision' | 'text'>(options.towers ?? ['vision', 'text']);
  const loaded = await loadTransformersTowers(model, hfOptions, towers, wrap);
  const config = (loaded.vision ?? loaded.text)!.config as unknown as Record<string, any>;
  const embeddingDim = clipProjectionDim(config, model);
  const proc = await wrap('the preprocessor config', () => AutoProcessor.from_pretrained(model, hfOptions));
  const preprocessor = parsePreprocessorConfig(
    (proc as unknown as { image_processor: { config: Record<string, any> } }).image_processor.config,
    `${model}/preprocessor_config.json`,
  );
  await checkTowersOrRelease(loaded, () =>
    checkTowerGraphs(loaded, { embeddingDim, cropSize: preprocessor.cropSize, config, source: model }),
  );
  const encoders = transformersEncoders(loaded, embeddingDim, preprocessor.cropSize, options.log);
  const { encodePixels, encodeTexts, tokenize, dispose } = encoders;
  return { modelId: model, device, embeddingDim, preprocessor, encodePixels, encodeTexts, tokenize, dispose };
}

/**
 * A model name the page may load: a served directory name or a Hugging Face id, `/`-separated segments of letters,
 * digits, `.`, `_` and `-`, each starting with a letter or digit. Anything else could leave the model root: `..`
 * climbs out of it, and a name starting with `//host` was fetched by transformers.js as a protocol-relative URL from
 * another origin, without `allowRemoteModels`. @throws InvalidArgumentError naming `model`
 */
export function checkWebModelName(model: unknown): string {
  const ok = typeof model === 'string' && model.split('/').every((part) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(part));
  if (!ok)
    throw new InvalidArgumentError({
      functionName: 'loadWebClip',
      argument: 'model',
      message: `expected a served model directory name or a Hugging Face id ('tiny-clip', 'Xenova/clip-vit-base-patch32': segments of letters, digits, '.', '_' and '-', each starting with a letter or digit), got ${typeof model === 'string' ? JSON.stringify(model.slice(0, 100)) : typeof model}`,
    });
  return model as string;
}

/**
 * The device to load on: `device` checked against `WEB_DEVICES`, or, when absent, `'webgpu'` where the browser offers
 * an adapter, else `'wasm'`. @throws InvalidArgumentError naming `device` when it is unknown, or `'webgpu'` without an
 * adapter
 */
export async function resolveWebDevice(device: WebDevice | undefined): Promise<WebDevice> {
  const fn = 'loadWebClip';
  const chosen = device
    ? checkOneOf(device, WEB_DEVICES, { functionName: fn, argument: 'device' })
    : (await hasWebGpu())
      ? 'webgpu'
      : 'wasm';
  if (chosen === 'webgpu' && !(await hasWebGpu()))
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'device',
      message: "'webgpu' was asked for but this browser offers no WebGPU adapter; use 'wasm'",
    });
  return chosen;
}

/**
 * The path under which transformers.js looks local models up, from `modelRoot`: a path is kept, a full URL must be
 * on the page's origin (`pageOrigin`, when there is a page) and is reduced to its path; always ends with `/`.
 * @throws InvalidArgumentError naming `modelRoot` when its origin is another
 */
export function webModelPath(modelRoot: string, pageOrigin: string | undefined): string {
  let root = modelRoot;
  if (/^https?:/.test(root)) {
    const url = new URL(root);
    if (pageOrigin !== undefined && url.origin !== pageOrigin)
      throw new InvalidArgumentError({
        functionName: 'loadWebClip',
        argument: 'modelRoot',
        message: `must be on the page's origin (${pageOrigin}), got ${url.origin}`,
      });
    root = url.pathname;
  }
  return root.endsWith('/') ? root : `${root}/`;
}

/**
 * Point transformers.js's `env` at the models (`modelRoot`, the Hub when `allowRemoteModels`) and onnxruntime-web at
 * its files (`wasmPaths`) and thread count (`threads`, default 1).
 * @throws InvalidArgumentError naming `threads`, `modelRoot` (another origin; or absent with remote models off)
 */
function configureWebModels(options: LoadWebClipOptions): void {
  const fn = 'loadWebClip';
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'threads',
      message: `must be a positive integer, got ${threads}`,
    });
  if (options.modelRoot !== undefined) {
    const page = (globalThis as { location?: { origin: string } }).location;
    const path = webModelPath(options.modelRoot, page?.origin);
    env.allowLocalModels = true;
    env.localModelPath = path;
  } else {
    env.allowLocalModels = false;
  }
  env.allowRemoteModels = options.allowRemoteModels ?? false;
  if (!env.allowLocalModels && !env.allowRemoteModels)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'modelRoot',
      message: 'is needed when allowRemoteModels is false (nowhere to load the model from)',
    });
  const wasm = env.backends.onnx.wasm as { wasmPaths?: string; numThreads?: number } | undefined;
  if (wasm) {
    if (options.wasmPaths)
      wasm.wasmPaths = options.wasmPaths.endsWith('/') ? options.wasmPaths : `${options.wasmPaths}/`;
    wasm.numThreads = threads;
  }
}

/** A runner for one loading step that turns its failure into an error naming the step, model, device and path. */
function webLoadStep(model: string, device: WebDevice): <T>(what: string, f: () => Promise<T>) => Promise<T> {
  return async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (error) {
      throw new VlferError(
        `Loading ${what} of '${model}' (${device}) failed: ${(error as Error).message}${env.allowLocalModels ? ` (looked under ${env.localModelPath}${model}/)` : ''}`,
        { cause: error },
      );
    }
  };
}

/**
 * Ask the server for `<modelPath><model>/config.json` before transformers.js does (it reports a missing local file as
 * "reading 'tokenizer_class'"). @throws VlferError with the URL and what the server answered (status, start of the
 * body) or why the request failed
 */
export async function checkServedModel(model: string, modelPath: string): Promise<void> {
  const url = `${modelPath}${model}/config.json`;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (error) {
    throw new VlferError(`Loading '${model}' failed: GET ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (!res.ok)
    throw new VlferError(
      `Loading '${model}' failed: GET ${url} answered ${res.status}${res.status === 404 ? ` — no model directory '${model}' is served under ${modelPath}` : ''}${(await res.text()).slice(0, 300).replace(/^(?=.)/, ': ')}`,
    );
}

/** Options of `zeroShotClassifier` in the browser. */
export interface WebZeroShotClassifierOptions extends ZeroShotClassifierOptions {
  /** A loaded CLIP (`loadWebClip`; stays the caller's to dispose), or anything with its encoders. */
  model: Pick<WebClipModel, 'encodePixels' | 'encodeTexts' | 'embeddingDim' | 'preprocessor'> & {
    readonly logitScale?: number | null;
  };
  /** Image preprocessing (`preprocessRgb`). @default 'clip' (CLIPImageProcessor) */
  mode?: PreprocessMode;
  /** Images per encoder call. @default 32 */
  batchSize?: number;
}

/**
 * The browser twin of `zeroShotClassifier` of `@vlfer/encoders/node` (same object, same results): a zero-shot
 * classifier whose prompts are encoded once, called with decoded images (`{ data, width, height, channels }`, 8-bit
 * RGB or grey, as `decodeImage` gives in Node).
 * @example
 * const clip = await loadWebClip({ model: 'tiny-clip', modelRoot: '/models/', device: 'wasm' });
 * const fer = await zeroShotClassifier({ model: clip, labels: BASIC_7 });
 * const [[top]] = await fer([image]); // { label, index, score }
 */
export async function zeroShotClassifier(
  options: WebZeroShotClassifierOptions,
): Promise<ImageClassifier<DecodedImage>> {
  const fn = 'zeroShotClassifier';
  const clip = options?.model;
  if (!clip || typeof clip.encodePixels !== 'function' || typeof clip.encodeTexts !== 'function')
    throw new InvalidArgumentError({ functionName: fn, argument: 'model', message: 'expected a loaded WebClipModel' });
  const mode = checkOneOf(options.mode ?? 'clip', PREPROCESS_MODES, { functionName: fn, argument: 'mode' });
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'batchSize',
      message: `must be a positive integer, got ${batchSize}`,
    });
  const S = clip.preprocessor.cropSize;
  return createImageClassifier<DecodedImage>(
    {
      model: clip,
      functionName: fn,
      async encodeImages(images, signal) {
        const D = clip.embeddingDim;
        const out = new Float32Array(images.length * D);
        for (let start = 0; start < images.length; start += batchSize) {
          throwIfAborted(signal, fn);
          const batch = images.slice(start, start + batchSize);
          const pixels = new Float32Array(batch.length * 3 * S * S);
          batch.forEach((img, i) => preprocessRgb(img, mode, clip.preprocessor, pixels, i * 3 * S * S));
          const f = await clip.encodePixels({ dtype: 'float32', data: pixels, dims: [batch.length, 3, S, S] });
          out.set(f.data, start * D);
        }
        return { dtype: 'float32', data: out, dims: [images.length, D] };
      },
    },
    options,
  );
}
