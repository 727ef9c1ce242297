import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AutoTokenizer, type PreTrainedTokenizer } from '@huggingface/transformers';
import {
  assertShape,
  checkOneOf,
  COMPUTE_DEVICES,
  DataFormatError,
  decodeSafetensors,
  InvalidArgumentError,
  VlferError,
  type ComputeDevice,
  type Tensor2D,
  type Tensor4D,
} from '@vlfer/core';
import { fileStateKey, fingerprintFiles, hashFile } from '@vlfer/core/node';
import { parsePreprocessorConfig, type ClipPreprocessorConfig, type PreprocessMode } from '../preprocess.js';
import { requiredModelFiles, type ClipModelId } from '../registry.js';
import { checkWeightsIn, ClipGradientModel, eotPositions } from './clip-gradients.js';
import {
  earlierClipContentFingerprints,
  ownTokenizerNotice,
  resolveClipSource,
  tokenizerFiles,
  type ClipBackend,
  type ClipSource,
  type LoadWeightsOptions,
} from './clip-source.js';
import { getModelEnvironment, modelFileCacheDir } from './env.js';
import { defaultThreads, notAnOnnxModel, threadCountProblem, type ThreadOptions } from '@vlfer/core/node';
import { readTextFile } from '@vlfer/core/node';
import { assertWebGpu } from './webgpu.js';
import {
  checkTowerGraphs,
  checkTowersOrRelease,
  clipProjectionDim,
  disposedMessage,
  loadTransformersTowers,
  tokenizeWith,
  towerSession,
  transformersEncoders,
  type TransformersClipTowers,
} from '../transformers-clip.js';

/**
 * `fp32`, `fp16`, `q8`: the transformers.js graphs of that precision ('onnx' runtime); `int8`: the 'graphs' runtime
 * with int8 linear layers (ONNX Runtime's `DynamicQuantizeMatMul`, weights quantized at load).
 */
export const CLIP_DTYPES = ['fp32', 'fp16', 'q8', 'int8'] as const;
export type ClipDtype = (typeof CLIP_DTYPES)[number];
export type { ComputeDevice };

const DTYPE_SUFFIX: Record<ClipDtype, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '' };

export interface LoadClipOptions extends LoadWeightsOptions, ThreadOptions {
  /**
   * Hugging Face id (e.g. `Xenova/clip-vit-base-patch32`), a local directory (ONNX layout, or config.json +
   * model.safetensors), or an OpenAI checkpoint file (`ViT-B-32.pt`, TorchScript or state dict).
   */
  model: ClipModelId;
  /** @default 'fp32' ('graphs' runs fp32 and int8; 'onnx' fp32, fp16 and q8) */
  dtype?: ClipDtype;
  /** Testing: alter the int8 per-channel scales of a weight (`dtype: 'int8'`), e.g. to damage the quantization. */
  int8ScalesHook?: (key: string, scales: Float32Array) => void;
  /** @default 'cpu' */
  device?: ComputeDevice;
  /** Which towers to load. @default both */
  towers?: readonly ('vision' | 'text')[];
  /**
   * SHA-256 of files relative to a local model directory (or of the checkpoint file: key `checkpoint`), checked before
   * loading; of a Hub id's files (`onnx/vision_model.onnx`, …), checked on the downloaded files before the model is
   * returned.
   */
  checksums?: Readonly<Record<string, string>>;
  /**
   * Runtime for a directory that has ONNX graphs and weights: `'onnx'` (transformers.js) or `'graphs'` (forward
   * graphs built from the weights, the same ones HESP differentiates). @default 'auto': ONNX when present
   */
  backend?: ClipBackend;
  /**
   * The 'graphs' runtime (a config.json + model.safetensors directory, an OpenAI `.pt`): where the float32 weights
   * go (`ClipGradientModelOptions.weightsIn`).
   * - `'inputs'` (the default on a CPU): fed at every run, views of a memory map of model.safetensors. Quickest to
   *   load and the least memory: ONNX Runtime packs each weight as a run reads it.
   * - `'graph'` (the default on a GPU): stored in the graphs as external data pointing into model.safetensors;
   *   ONNX Runtime maps the file and prepacks every weight once, when the session is created. On a CPU that is for
   *   long encoding jobs: ViT-B/32 encoded 32 images 2–7 % faster in in-process A/B runs, and took about 0.6 s more
   *   to become ready (apps/bench/README.md, "Weights stored for long encoding jobs"). An OpenAI `.pt` (pickled,
   *   not raw) cannot be referenced: its converted weights are copied into the graphs, with a notice to `log`, and
   *   loading then holds them more than once; `'inputs'` feeds them from memory (no map).
   * The features of the two differ in the last bits; `featureRecipe` tells them apart (`/stored-weights`), so feature
   * caches keep them apart. Refused for the 'onnx' runtime (its weights are in its graphs) and, as `'inputs'`, for
   * `dtype: 'int8'` (int8 layers store their quantized weights).
   */
  weightsIn?: 'inputs' | 'graph';
  /**
   * Notices worth showing; today: each prompt longer than CLIP's 77 tokens, which is cut as
   * `clip.tokenize(truncate=True)` does (the end token kept last). Packages never print; CLIs pass their logger.
   */
  log?: (line: string) => void;
}

/** A loaded CLIP: frozen image and text towers with projection (`image_embeds`, `text_embeds`). */
export interface ClipModel {
  readonly modelId: string;
  readonly dtype: ClipDtype;
  readonly device: ComputeDevice;
  /** `'onnx'`: transformers.js on exported ONNX graphs; `'graphs'`: TypeScript-built graphs on the weights. */
  readonly runtime: 'onnx' | 'graphs';
  /** Projection dimension D of image_embeds/text_embeds. */
  readonly embeddingDim: number;
  readonly preprocessor: ClipPreprocessorConfig;
  /**
   * The preprocessing the weights were published with, used by `classify` when no mode is given: `'openai'`
   * (`clip.load`'s transform) for an OpenAI `.pt` checkpoint, `'clip'` (CLIPImageProcessor) for Hugging Face and
   * transformers.js directories. Absent on models built elsewhere (then `'clip'`).
   */
  readonly preprocessMode?: PreprocessMode;
  /**
   * `exp(logit_scale)` of the checkpoint, the multiplier CLIP (and Exp-CLIP's code) puts on cosine similarities:
   * from `logit_scale` of Hugging Face `model.safetensors` (also when it sits beside ONNX graphs) or of an OpenAI
   * `.pt`; null when the model files hold none (ONNX graphs only, e.g. a Hub download of Xenova/clip-vit-*).
   */
  readonly logitScale: number | null;
  /** @param pixels [batch, 3, H, W] @returns image_embeds [batch, D] (not normalised) */
  encodePixels(pixels: Tensor4D): Promise<Tensor2D>;
  /**
   * @returns text_embeds [texts, D] (not normalised); tokenised as `clip.tokenize(truncate=True)`: a prompt longer
   *   than 77 tokens keeps its first 76 and the end token (reported through `log`)
   */
  encodeTexts(texts: readonly string[]): Promise<Tensor2D>;
  /**
   * CLIP token ids as `clip.tokenize(truncate=True)`, padded with <|endoftext|> to 77.
   * @returns ids [texts · 77], dims [texts, 77], and the indices of texts that were truncated
   */
  tokenize(texts: readonly string[]): { ids: number[]; dims: [number, number]; truncated: number[] };
  /**
   * A content fingerprint of the model's files (weights, graphs, tokenizer, configs): cache entries are keyed on it,
   * so a file replaced in place invalidates them. Hashes are remembered in `indexDir` by path + size + mtime + inode +
   * ctime.
   */
  contentFingerprint(indexDir?: string): string;
  /**
   * The content fingerprint of the files the vision tower's features depend on alone: what a trained Exp-CLIP head
   * records (training loads the vision tower only), comparable whichever towers this model loaded. The weights
   * runtime keeps both towers in one file: its `contentFingerprint`. For the 'onnx' runtime, the vision graph and
   * configs (as a vision-only load's `contentFingerprint`).
   */
  visionFingerprint(indexDir?: string): string;
  /**
   * The fingerprints an earlier vlfer recorded for these same files where they differ from `contentFingerprint`'s
   * (`clipContentFingerprints`: before 2026-12-06 a tokenizer given apart from a weights directory was left out), so
   * that a checkpoint recorded then is recognised; empty where there is none.
   */
  earlierContentFingerprints(indexDir?: string): string[];
  /**
   * What decides the features' bits besides the model files, for feature caches to key on (`FeatureNamespace.extra`):
   * undefined for the 'onnx' runtime, whose graphs are model files; for 'graphs', the version and kind of the graphs
   * vlfer builds for both towers and whether float32 weights are stored in them (`forwardGraphsId`), which a vlfer
   * release may change. The compute device (`device`) also decides the bits; `clipFeatureNamespace` of
   * `@vlfer/exp-clip` adds it.
   */
  readonly featureRecipe: string | undefined;
  /** The underlying ONNX Runtime session of a tower (benchmarks, IO binding); 'onnx' runtime only. */
  session(tower: 'vision' | 'text'): unknown;
  /** Release the sessions. Encoding afterwards throws one `VlferError` saying so; a second call does nothing. */
  dispose(): Promise<void>;
}

function layoutHelp(suffix: string): string {
  return `a directory holding ${requiredModelFiles(suffix).join(', ')} (the transformers.js layout, e.g. a download of Xenova/clip-vit-base-patch32), a directory with config.json + model.safetensors, or an OpenAI .pt checkpoint`;
}

const TOKENIZER_HINT = 'give a directory with the CLIP tokenizer.json as tokenizer (CLI --tokenizer <dir>)';

/**
 * The CLIP tokenizer of a local directory (never looked up on the Hub: a missing or unreadable tokenizer.json is an
 * error naming it) or of a Hub id (only when remote models are allowed).
 * @throws DataFormatError naming `<dir>/tokenizer.json`; VlferError for a Hub id while remote models are disabled
 */
async function loadTokenizer(source: string, remoteHint: string): Promise<PreTrainedTokenizer> {
  const file = join(source, 'tokenizer.json');
  const isDir = existsSync(source) && statSync(source).isDirectory();
  if (isDir && !existsSync(file))
    throw new DataFormatError({ file, message: `not found: the CLIP tokenizer is read from here; ${remoteHint}` });
  if (!isDir && !getModelEnvironment().allowRemoteModels)
    throw new VlferError(
      `The CLIP tokenizer '${source}' is not a local directory with tokenizer.json and remote models are disabled; ${remoteHint}`,
    );
  if (!isDir)
    return AutoTokenizer.from_pretrained(source).catch((error: unknown) => {
      // offline, or the Hub refusing: say what was fetched, and what to give instead
      throw new VlferError(
        `cannot fetch the CLIP tokenizer '${source}' from the Hugging Face Hub (${(error as Error).message}); ${remoteHint}`,
        { cause: error },
      );
    });
  const config = join(source, 'tokenizer_config.json');
  if (!existsSync(config))
    throw new DataFormatError({
      file: config,
      message: `not found: the CLIP tokenizer needs it beside tokenizer.json`,
    });
  try {
    // an absolute path: transformers.js takes a bare relative name ('tok') for a Hub id
    return await AutoTokenizer.from_pretrained(resolve(source), { local_files_only: true });
  } catch (error) {
    throw new DataFormatError({
      file,
      message: `not a readable tokenizer (with its tokenizer_config.json): ${(error as Error).message}`,
      cause: error,
    });
  }
}

/**
 * Load CLIP image and text encoders — one entry point for every weight format:
 * - an ONNX directory or Hub id runs on transformers.js (onnxruntime-node);
 * - a Hugging Face `config.json` + `model.safetensors` directory, or an OpenAI `.pt` checkpoint (TorchScript as the
 *   `clip` package downloads it, or a state dict), runs on forward graphs built in TypeScript from the weights —
 *   the same weights `ClipGradientModel` (HESP) uses, so one local directory serves evaluation, head training and HESP.
 * A Hub id is fetched only when `allowRemoteModels` is true (see `configureModels`).
 * @throws VlferError naming the missing files and the expected layout when the model cannot be found
 */
export async function loadClip(options: LoadClipOptions): Promise<ClipModel> {
  const dtype = checkOneOf(options.dtype ?? 'fp32', CLIP_DTYPES, { functionName: 'loadClip', argument: 'dtype' });
  const device = checkOneOf(options.device ?? 'cpu', COMPUTE_DEVICES, { functionName: 'loadClip', argument: 'device' });
  checkOneOf(options.backend ?? 'auto', ['auto', 'onnx', 'graphs'] as const, {
    functionName: 'loadClip',
    argument: 'backend',
  });
  if (
    options.towers &&
    (!Array.isArray(options.towers) ||
      options.towers.length === 0 ||
      !options.towers.every((t) => t === 'vision' || t === 'text'))
  )
    throw new InvalidArgumentError({
      functionName: 'loadClip',
      argument: 'towers',
      message: `expected a non-empty list of 'vision' and/or 'text', got ${JSON.stringify(options.towers)}`,
    });
  if (options.intraOpNumThreads !== undefined) {
    // transformers.js passed any count to ONNX Runtime: 1000 started 2009 threads, 0 was taken silently
    const problem = threadCountProblem(options.intraOpNumThreads);
    if (problem)
      throw new InvalidArgumentError({ functionName: 'loadClip', argument: 'intraOpNumThreads', message: problem });
  }
  if (options.weightsIn !== undefined) checkWeightsIn(options.weightsIn, dtype === 'int8', 'loadClip');
  if (device === 'webgpu') await assertWebGpu(`loadClip(${options.model})`);
  const suffix = DTYPE_SUFFIX[dtype];
  // int8 exists on the 'graphs' runtime only: a directory with ONNX graphs and weights loads its weights
  const backend = options.backend ?? (dtype === 'int8' ? 'graphs' : undefined);
  const source = resolveClipSource(options.model, { ...(backend ? { backend } : {}), suffix });
  const graphsRuntime = source.kind === 'hf-weights' || source.kind === 'openai-checkpoint';
  // before the checksums (which read every file): a cheap refusal first
  if (!graphsRuntime && options.weightsIn !== undefined) throw onnxWeightsInRefusal(options.model, source);
  await checkChecksums(source, options.checksums);
  if (graphsRuntime) return loadGraphsClip(options, source, dtype, device);
  if (dtype === 'int8')
    throw new InvalidArgumentError({
      functionName: 'loadClip',
      argument: 'dtype',
      message: `'int8' runs on the 'graphs' runtime (a directory with config.json + model.safetensors, or an OpenAI .pt); '${options.model}' loads as ONNX graphs: use 'q8' for its onnx/*_quantized.onnx, or backend: 'graphs'`,
    });
  return loadOnnxClip(options, source, dtype, device, suffix);
}

/** `weightsIn` asked of a model that runs on the 'onnx' runtime (its graphs hold their weights). */
function onnxWeightsInRefusal(model: string, source: ClipSource): InvalidArgumentError {
  const why =
    source.kind === 'hub'
      ? `'${model}' is a Hub id, which loads as transformers.js ONNX graphs holding their own weights; the 'graphs' runtime needs a local directory with config.json + model.safetensors, or an OpenAI .pt`
      : `'${model}' loads as ONNX graphs, which hold their own weights: leave weightsIn out, or pass backend: 'graphs' for a directory that also has config.json + model.safetensors`;
  return new InvalidArgumentError({
    functionName: 'loadClip',
    argument: 'weightsIn',
    message: `places the weights of the 'graphs' runtime; ${why}`,
  });
}

/** The checksums of a local model, before loading (a Hub id's are checked once downloaded: `checkHubChecksums`). */
async function checkChecksums(source: ClipSource, checksums: LoadClipOptions['checksums']): Promise<void> {
  if (source.kind === 'hub') return;
  for (const [file, want] of Object.entries(checksums ?? {}))
    checkChecksum(
      source.kind === 'openai-checkpoint'
        ? file === 'checkpoint'
          ? source.file
          : join(source.file, '..', file)
        : join(source.dir, file),
      want,
    );
}

function checkChecksum(path: string, want: string): void {
  const got = hashFile(path);
  if (got !== want.toLowerCase())
    throw new VlferError(`Checksum mismatch for ${path}: sha256 ${got}, expected ${want}`);
}

/**
 * The checksums of a Hub id, on the files it was just loaded from (transformers.js' file cache, `hubModelFiles`),
 * before the model is used. @throws VlferError on a mismatch, or naming a file the model was not loaded from
 */
function checkHubChecksums({ model, hub, towers, suffix }: OnnxLoad, checksums: LoadClipOptions['checksums']): void {
  if (!checksums || Object.keys(checksums).length === 0) return;
  const files = hubModelFiles(hub!, towers, suffix);
  for (const [file, want] of Object.entries(checksums)) {
    const path = files[file];
    if (!path)
      throw new VlferError(
        `checksums name '${file}', which is not a file '${model}' was loaded from (${Object.keys(files).join(', ')})`,
      );
    checkChecksum(path, want);
  }
}

async function loadGraphsClip(
  options: LoadClipOptions,
  source: ClipSource,
  dtype: ClipDtype,
  device: ComputeDevice,
): Promise<ClipModel> {
  const weights = source.kind === 'openai-checkpoint' ? source.file : (source as { dir: string }).dir;
  if (dtype !== 'fp32' && dtype !== 'int8') {
    // a directory with weights but without this dtype's graphs came here: say which graphs it lacks
    const suffix = DTYPE_SUFFIX[dtype];
    const lacks =
      source.kind === 'hf-weights' && options.backend !== 'graphs'
        ? `${weights} has no onnx/vision_model${suffix}.onnx or onnx/text_model${suffix}.onnx (the ONNX graphs of '${dtype}'), so it loads its config.json + model.safetensors, whose 'graphs' runtime computes in fp32 or int8`
        : `the 'graphs' runtime (weights from ${weights}) computes in fp32 or int8`;
    throw new InvalidArgumentError({
      functionName: 'loadClip',
      argument: 'dtype',
      message: `${lacks}; got '${dtype}'`,
    });
  }
  const towers = options.towers ?? ['vision', 'text'];
  const quantize = dtype === 'int8' ? { quantize: 'int8' as const } : {};
  const model = await ClipGradientModel.load(weights, { ...options, ...quantize, device, gradients: false, towers });
  let tokenizer: PreTrainedTokenizer | undefined;
  try {
    tokenizer = towers.includes('text') ? await loadTokenizer(model.bundle.tokenizer, TOKENIZER_HINT) : undefined;
  } catch (error) {
    await model.release(); // the weights (a mapped file) and any session go now, not with a later collection
    throw error;
  }
  const preprocessMode = source.kind === 'openai-checkpoint' ? 'openai' : 'clip';
  return graphsClipModel(model, tokenizer, { modelId: options.model, dtype, device, preprocessMode, log: options.log });
}

/** What a `ClipModel` says about itself beyond its weights: its id, dtype, device, preprocessing, notice sink. */
interface ClipModelMeta {
  modelId: string;
  dtype: ClipDtype;
  device: ComputeDevice;
  preprocessMode: PreprocessMode;
  log: ((line: string) => void) | undefined;
}

/**
 * The `ClipModel` of a loaded `ClipGradientModel` (the 'graphs' runtime, forward only): pixels [batch, 3, S, S] with
 * S the vision tower's image size, texts tokenised with `tokenizer` (absent when the text tower was not loaded:
 * `encodeTexts`/`tokenize` then throw). Encoding after `dispose()` throws.
 */
function graphsClipModel(
  model: ClipGradientModel,
  tokenizer: PreTrainedTokenizer | undefined,
  meta: ClipModelMeta,
): ClipModel {
  const tokenize = (texts: readonly string[]) => {
    if (!tokenizer) throw new VlferError('This ClipModel was loaded without the text tower');
    return tokenizeWith(tokenizer, texts, meta.log);
  };
  const S = model.arch.vision.imageSize!;
  // both towers' weights are one bundle: the vision tower's fingerprint is the model's
  const fingerprint = fingerprintAsLoaded(model.bundle.files);
  let disposed = false;
  const live = (what: string) => {
    if (disposed) throw new VlferError(disposedMessage(what));
  };
  return {
    modelId: meta.modelId,
    dtype: meta.dtype,
    device: meta.device,
    runtime: 'graphs',
    embeddingDim: model.arch.vision.projectionDim,
    preprocessor: model.preprocessor,
    preprocessMode: meta.preprocessMode,
    logitScale: model.bundle.logitScale ?? null,
    featureRecipe: model.forwardGraphs.vision, // loaded without gradients: the text tower's is the same
    async encodePixels(pixels) {
      live('encodePixels');
      assertShape(pixels, [null, 3, S, S], 'pixels', 'ClipModel.encodePixels');
      return model.visionForwardEmbeds(pixels);
    },
    async encodeTexts(texts) {
      live('encodeTexts');
      if (texts.length === 0)
        return { dtype: 'float32', data: new Float32Array(0), dims: [0, model.arch.text.projectionDim] };
      const { ids, dims } = tokenize(texts);
      return model.textForwardEmbeds(model.tokenEmbeddings(ids, dims), eotPositions(ids, dims));
    },
    tokenize(texts) {
      const { ids, dims, truncated } = tokenize(texts);
      return { ids, dims, truncated };
    },
    contentFingerprint: fingerprint,
    visionFingerprint: fingerprint,
    earlierContentFingerprints(indexDir) {
      return earlierClipContentFingerprints(model.bundle, indexDir);
    },
    session() {
      throw new VlferError("session() is available for the 'onnx' runtime only");
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await model.release();
    },
  };
}

/** Whether a file of the transformers.js layout belongs to a tower that is loaded (tokenizer files: the text one). */
function fileNeeded(file: string, towers: ReadonlySet<'vision' | 'text'>, tokenizerNeedsText: boolean): boolean {
  if (file.includes('vision')) return towers.has('vision');
  if (file.includes('text_model')) return towers.has('text');
  return !tokenizerNeedsText || !file.startsWith('tokenizer') || towers.has('text');
}

/**
 * The files of the transformers.js layout (`requiredModelFiles(suffix)`) that the loaded `towers` need and
 * `dir` lacks (tokenizer files only for the text tower). @returns paths relative to `dir`, empty when all are there
 */
export function missingOnnxModelFiles(dir: string, towers: ReadonlySet<'vision' | 'text'>, suffix: string): string[] {
  return requiredModelFiles(suffix).filter((f) => fileNeeded(f, towers, true) && !existsSync(join(dir, f)));
}

/**
 * The files of an ONNX model directory that its content fingerprint covers: the transformers.js layout and external
 * weight files (`*.onnx_data`) of the loaded `towers`, as far as they exist in `dir`.
 * @returns relative path → absolute path
 */
export function onnxFingerprintFiles(
  dir: string,
  towers: ReadonlySet<'vision' | 'text'>,
  suffix: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fingerprintFileNames(suffix))
    if (fileNeeded(f, towers, false) && existsSync(join(dir, f))) out[f] = join(dir, f);
  return out;
}

/** The files a content fingerprint may cover: the transformers.js layout and the towers' external weights. */
function fingerprintFileNames(suffix: string): string[] {
  return [...requiredModelFiles(suffix), `onnx/vision_model${suffix}.onnx_data`, `onnx/text_model${suffix}.onnx_data`];
}

/** A Hub id and the revision asked for (`<id>@<revision>`; none: transformers.js' default, main). */
export interface HubModel {
  id: string;
  revision?: string;
}

/**
 * The files a Hub id's ONNX model was loaded from: transformers.js' file cache, looked up per file as transformers.js
 * looks (`<cacheDir>/<localModelPath>/<id>/<file>`, then `<cacheDir>/<id>/<file>`, or `<cacheDir>/<id>/<revision>/<file>`
 * for a revision other than main), for the files of the loaded
 * `towers`: the configs, each tower's graph (and external weights), the tokenizer files with the text tower only.
 * @returns relative path → absolute path
 * @throws VlferError when there is no file cache or it lacks a file the towers need: the downloaded bytes cannot be
 *   read back, so no content fingerprint (nor checksum) can be made, and results keyed by the id alone could be
 *   reused for other weights published under it
 */
export function hubModelFiles(
  { id, revision }: HubModel,
  towers: ReadonlySet<'vision' | 'text'>,
  suffix: string,
): Record<string, string> {
  const model = revision ? `${id}@${revision}` : id;
  const cacheDir = modelFileCacheDir();
  if (!cacheDir)
    throw new VlferError(
      `'${model}': transformers.js keeps no file cache here (env.useFSCache is off or a custom cache replaces it), so the downloaded files cannot be read back to fingerprint or checksum their content; download the model into a directory and pass the directory, or leave transformers.js' file cache on (env.useFSCache, configureModels({ cacheDir }))`,
    );
  // transformers.js' FileCache keys: the local-model path first, then `<id>/<file>`, or `<id>/<revision>/<file>`
  // for a revision other than main
  const cached = revision && revision !== 'main' ? join(cacheDir, id, revision) : join(cacheDir, id);
  const dirs = [join(cacheDir, getModelEnvironment().localModelPath, id), cached];
  const required = requiredModelFiles(suffix);
  const files: Record<string, string> = {};
  const missing: string[] = [];
  for (const f of fingerprintFileNames(suffix)) {
    // the tokenizer only with the text tower: a vision-only load fetches none, so its fingerprint must not depend on
    // whether an earlier load left the tokenizer in the cache
    if (!fileNeeded(f, towers, true)) continue;
    const at = dirs.map((d) => join(d, f)).find((p) => existsSync(p));
    if (at) files[f] = at;
    else if (required.includes(f)) missing.push(f);
  }
  if (missing.length > 0)
    throw new VlferError(
      `'${model}': transformers.js' file cache lacks ${missing.join(', ')} (looked in ${dirs.join(' and ')}), so the files the model was loaded from cannot be read back to fingerprint or checksum their content; load the model again to fetch them, or download the model into a directory and pass the directory`,
    );
  return files;
}

/** What the ONNX loading stages share: the model asked for, how it is loaded, where its tower graphs are. */
interface OnnxLoad {
  model: string;
  dtype: ClipDtype;
  device: ComputeDevice;
  suffix: string;
  /** The ONNX directory, or undefined for a Hub id. */
  localDir: string | undefined;
  /** The Hub id and its revision (`<id>@<revision>`), or undefined for a directory. */
  hub: HubModel | undefined;
  towers: ReadonlySet<'vision' | 'text'>;
  /** transformers.js' `from_pretrained` options. */
  hfOptions: Record<string, unknown>;
  /** Where the tokenizer comes from when the ONNX directory has none of its own (`options.tokenizer`). */
  tokenizerFrom: string | undefined;
}

/** The ONNX loading stages' shared state for `options` (`OnnxLoad`): the source, towers and transformers.js options. */
function onnxLoad(
  options: LoadClipOptions,
  source: ClipSource,
  dtype: ClipDtype,
  device: ComputeDevice,
  suffix: string,
): OnnxLoad {
  const localDir = source.kind === 'onnx-dir' ? source.dir : undefined;
  const hub = source.kind === 'hub' ? source : undefined;
  return {
    model: options.model,
    dtype,
    device,
    suffix,
    localDir,
    hub,
    towers: new Set<'vision' | 'text'>(options.towers ?? ['vision', 'text']),
    hfOptions: {
      dtype,
      device,
      ...(hub?.revision ? { revision: hub.revision } : {}),
      local_files_only: localDir !== undefined,
      session_options: { intraOpNumThreads: options.intraOpNumThreads ?? defaultThreads(), interOpNumThreads: 1 },
    },
    tokenizerFrom: otherTokenizer(localDir, options),
  };
}

async function loadOnnxClip(
  options: LoadClipOptions,
  source: ClipSource,
  dtype: ClipDtype,
  device: ComputeDevice,
  suffix: string,
): Promise<ClipModel> {
  const load = onnxLoad(options, source, dtype, device, suffix);
  const { localDir, hub } = load;
  checkOnnxSource(load);
  const wrap = onnxLoadStep(load);
  const configJson = localDir ? readModelConfig(localDir) : undefined;
  const loaded = await loadOnnxTowers(load, localDir ?? hub!.id, wrap);
  // from here on a failure (a config, the preprocessor config or the weights' header malformed, a mismatch) releases
  // the sessions made: they were left to a garbage collection that does not see ONNX Runtime's memory
  return checkTowersOrRelease(loaded, () => onnxClipModel(options, load, loaded, configJson, wrap, { dtype, device }));
}

/** The ClipModel of `loadOnnxClip` once its towers are loaded: the checks of the loaded graphs, then the model. */
async function onnxClipModel(
  options: LoadClipOptions,
  load: OnnxLoad,
  loaded: TransformersClipTowers,
  configJson: Record<string, any> | undefined,
  wrap: <T>(what: string, f: () => Promise<T>) => Promise<T>,
  { dtype, device }: { dtype: ClipDtype; device: ComputeDevice },
): Promise<ClipModel> {
  const { localDir, hub, suffix } = load;
  checkLoadedTowers(load, loaded);
  const config = (configJson ?? (loaded.vision ?? loaded.text)!.config) as Record<string, any>;
  const embeddingDim = clipProjectionDim(config, options.model);
  const preprocessor = await loadOnnxPreprocessor(load, wrap);
  // once every file is fetched (the preprocessor config comes last)
  if (!localDir) checkHubChecksums(load, options.checksums);
  checkTowerGraphs(loaded, { embeddingDim, cropSize: preprocessor.cropSize, config, source: options.model });
  const logitScale = localDir ? safetensorsLogitScale(join(localDir, 'model.safetensors')) : null;
  const encoders = transformersEncoders(loaded, embeddingDim, preprocessor.cropSize, options.log);
  const asLoaded = localDir ? filesAsLoaded(onnxFingerprintFiles(localDir, load.towers, suffix)) : () => undefined;
  /** The content fingerprint of `towers`' files (and of a separate tokenizer's, with the text tower). */
  const fingerprintOf = (towers: ReadonlySet<'vision' | 'text'>, indexDir?: string) => {
    const files = localDir ? onnxFingerprintFiles(localDir, towers, suffix) : hubModelFiles(hub!, towers, suffix);
    if (load.tokenizerFrom && towers.has('text')) Object.assign(files, tokenizerFiles(load.tokenizerFrom));
    return fingerprintFiles(files, indexDir ? { indexDir } : {});
  };
  return {
    modelId: options.model,
    dtype,
    device,
    runtime: 'onnx',
    embeddingDim,
    preprocessor,
    preprocessMode: 'clip',
    logitScale,
    featureRecipe: undefined, // the ONNX graphs are model files, in the content fingerprint
    encodePixels: encoders.encodePixels,
    encodeTexts: encoders.encodeTexts,
    tokenize: encoders.tokenize,
    contentFingerprint(indexDir) {
      asLoaded();
      return fingerprintOf(load.towers, indexDir);
    },
    visionFingerprint(indexDir) {
      return fingerprintOf(new Set(['vision']), indexDir);
    },
    earlierContentFingerprints() {
      return []; // a tokenizer given apart from an ONNX directory is new since 2026-12-06
    },
    session: encoders.session,
    dispose: encoders.dispose,
  };
}

/**
 * Where an ONNX directory's tokenizer comes from when not from the directory itself: as for a config.json +
 * model.safetensors directory, its own when it has one (a `tokenizer` option is then said to be unused), else
 * `options.tokenizer`. Undefined for the directory's own (or a Hub id's).
 */
function otherTokenizer(localDir: string | undefined, options: LoadClipOptions): string | undefined {
  if (!localDir || options.tokenizer === undefined) return undefined;
  if (Object.keys(tokenizerFiles(localDir)).length < 2) return options.tokenizer;
  options.log?.(ownTokenizerNotice(localDir, options.tokenizer));
  return undefined;
}

/** The towers of `src` and the tokenizer: the directory's own, or `load.tokenizerFrom`'s where it has none. */
async function loadOnnxTowers(
  load: OnnxLoad,
  src: string,
  wrap: <T>(what: string, f: () => Promise<T>) => Promise<T>,
): Promise<TransformersClipTowers> {
  const other =
    load.tokenizerFrom && load.towers.has('text') ? await loadTokenizer(load.tokenizerFrom, TOKENIZER_HINT) : undefined;
  return loadTransformersTowers(
    src,
    load.hfOptions,
    load.towers,
    wrap,
    ...(other ? [() => Promise.resolve(other)] : []),
  );
}

/**
 * Before loading: a local directory must hold the files of the towers asked for; a Hub id needs remote models
 * allowed. @throws VlferError naming the missing files (or the model) and the expected layout
 */
function checkOnnxSource({ model, localDir, towers, suffix, tokenizerFrom }: OnnxLoad): void {
  const env = getModelEnvironment();
  if (localDir) {
    const missing = missingOnnxModelFiles(localDir, towers, suffix).filter(
      (f) => !(tokenizerFrom && f.startsWith('tokenizer')),
    );
    if (missing.length > 0)
      throw new VlferError(
        `Model directory ${localDir} lacks ${missing.join(', ')}; expected ${layoutHelp(suffix)}` +
          (missing.every((f) => f.startsWith('tokenizer'))
            ? `; or give a directory with the CLIP tokenizer.json as tokenizer (CLI --tokenizer <dir>)`
            : ''),
      );
  } else if (!env.allowRemoteModels) {
    throw new InvalidArgumentError({
      functionName: 'loadClip',
      argument: 'model',
      message: `'${model}' is not a local directory (nor one under the local model path ${env.localModelPath}) and remote models are disabled. Provide ${layoutHelp(suffix)}, or call configureModels({ allowRemoteModels: true }) (CLI --allow-remote) where the Hugging Face Hub is reachable.`,
    });
  }
}

/** The graph file of a tower, as error messages name it (a path, or the file within a Hub id). */
function towerFile({ localDir, suffix, model }: OnnxLoad, tower: 'text' | 'vision'): string {
  return localDir
    ? join(localDir, 'onnx', `${tower}_model${suffix}.onnx`)
    : `onnx/${tower}_model${suffix}.onnx of '${model}'`;
}

/**
 * A runner for one loading step (`what`: 'the text tower', 'the preprocessor config', …) that turns its failure into
 * an error naming the tower file (`modelFileError`) or the model, dtype and device, with a hint for WebGPU and
 * for an unreachable Hub.
 */
function onnxLoadStep(load: OnnxLoad): <T>(what: string, f: () => Promise<T>) => Promise<T> {
  const { model, dtype, device, localDir, suffix } = load;
  return async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (error) {
      const tower = what === 'the text tower' ? 'text' : what === 'the vision tower' ? 'vision' : undefined;
      const named = tower ? modelFileError(towerFile(load, tower), tower, error) : undefined;
      if (named) throw named;
      const msg = (error as Error).message;
      const hint =
        (device === 'webgpu'
          ? ' (device webgpu needs a WebGPU adapter: a GPU with a Vulkan driver and libvulkan.so.1)'
          : '') +
        (localDir
          ? ''
          : `. If the Hugging Face Hub is unreachable, pass the path of a local copy: ${layoutHelp(suffix)}`);
      throw new VlferError(`Loading ${what} of '${model}' (${dtype}, ${device}) failed: ${msg}${hint}`, {
        cause: error,
      });
    }
  };
}

/** `config.json` of a model directory. @throws VlferError naming the file when it is not valid JSON */
function readModelConfig(localDir: string): Record<string, any> {
  return readModelJson(join(localDir, 'config.json'), 'model config') as Record<string, any>;
}

/** A JSON file of a model directory. @throws VlferError naming the file when it is not valid JSON */
function readModelJson(file: string, what: string): unknown {
  const text = readTextFile(file, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new VlferError(`${file}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

/**
 * A graph of the other tower (or another model) loads fine and fails only when run: each loaded tower's input
 * names are checked now (`checkTowerInputs`). @throws VlferError naming the file and both towers
 */
function checkLoadedTowers(load: OnnxLoad, loaded: TransformersClipTowers): void {
  for (const tower of ['text', 'vision'] as const) {
    const inputs = towerSession(loaded[tower])?.inputNames as readonly string[] | undefined;
    if (inputs) checkTowerInputs(towerFile(load, tower), tower, inputs);
  }
}

/** The image preprocessing of an ONNX model: its `preprocessor_config.json`, or the Hub's through transformers.js. */
async function loadOnnxPreprocessor(
  { localDir, hub, hfOptions }: OnnxLoad,
  wrap: <T>(what: string, f: () => Promise<T>) => Promise<T>,
): Promise<ClipPreprocessorConfig> {
  if (localDir) {
    const file = join(localDir, 'preprocessor_config.json');
    return parsePreprocessorConfig(readModelJson(file, 'preprocessor config') as Record<string, any>, file);
  }
  const { AutoProcessor } = await import('@huggingface/transformers');
  const proc = await wrap('the preprocessor config', () => AutoProcessor.from_pretrained(hub!.id, hfOptions));
  return parsePreprocessorConfig((proc as any).image_processor.config);
}

/**
 * `exp(logit_scale)` from a Hugging Face `model.safetensors`, reading only its header and that tensor (a real
 * checkpoint is hundreds of megabytes). @returns null when the file or the tensor is absent
 * @throws DataFormatError naming the file when the header or the tensor is malformed
 */
export function safetensorsLogitScale(file: string): number | null {
  if (!existsSync(file)) return null;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const lenBytes = Buffer.alloc(8);
    if (readSync(fd, lenBytes, 0, 8, 0) !== 8)
      throw new DataFormatError({ file, message: 'too short for safetensors' });
    const n = lenBytes.readBigUInt64LE(0);
    if (n > BigInt(Math.min(100_000_000, size - 8)))
      throw new DataFormatError({ file, message: `header length ${n} exceeds the file size (${size} bytes)` });
    const header = Buffer.alloc(Number(n));
    readSync(fd, header, 0, header.length, 8);
    let info: { dtype?: unknown; shape?: unknown; data_offsets?: [number, number] } | undefined;
    try {
      info = (JSON.parse(header.toString('utf8')) as Record<string, typeof info>)['logit_scale'];
    } catch (error) {
      throw new DataFormatError({
        file,
        message: `header is not valid JSON (${(error as Error).message})`,
        cause: error,
      });
    }
    if (info === undefined) return null;
    const off = info?.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((x) => Number.isSafeInteger(x) && x >= 0) ||
      off[1] < off[0] ||
      off[1] - off[0] > 64
    )
      throw new DataFormatError({
        file,
        field: 'logit_scale',
        message: `data_offsets ${JSON.stringify(off)} do not hold one value`,
      });
    // one small safetensors file of just this tensor, so the format's own checks apply
    const data = Buffer.alloc(off[1] - off[0]);
    readSync(fd, data, 0, data.length, 8 + Number(n) + off[0]);
    const mini = Buffer.from(
      JSON.stringify({ logit_scale: { dtype: info!.dtype, shape: info!.shape, data_offsets: [0, data.length] } }),
    );
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(mini.length));
    const t = decodeSafetensors(Buffer.concat([len, mini, data]), file).tensors['logit_scale']!;
    if (t.data.length !== 1 || !Number.isFinite(t.data[0]!))
      throw new DataFormatError({
        file,
        field: 'logit_scale',
        message: `expected one finite value, got ${t.data.length}`,
      });
    return Math.exp(t.data[0]!);
  } finally {
    closeSync(fd);
  }
}

/** `fingerprintFiles` of `files`, refused once they changed since now ({@link filesAsLoaded}). */
function fingerprintAsLoaded(files: Readonly<Record<string, string>>): (indexDir?: string) => string {
  const asLoaded = filesAsLoaded(files);
  return (indexDir) => {
    asLoaded(); // the files' content now would not be the weights this model holds
    return fingerprintFiles(files, indexDir ? { indexDir } : {});
  };
}

/**
 * A check that `files` are still the ones read at load: the same size, modification time, inode and status-change
 * time. A model's content fingerprint is of the files now; replaced under a loaded model it named content the model
 * does not hold (a cache keyed by it would file the old weights' features under the new weights).
 * @throws DataFormatError naming the file that changed
 */
export function filesAsLoaded(files: Readonly<Record<string, string>>): () => void {
  const stamp = (f: string) => (existsSync(f) ? fileStateKey(f) : 'missing');
  const then = Object.values(files).map((f) => [f, stamp(f)] as const);
  return () => {
    for (const [f, s] of then)
      if (stamp(f) !== s)
        throw new DataFormatError({
          file: f,
          message: `changed since the model was loaded: the model holds the weights read then; load the model again`,
        });
  };
}

/**
 * Just the CLIP tokenizer (Hub id or local directory): ids as `clip.tokenize(truncate=True)`, padded with
 * <|endoftext|> to 77; a prompt longer than 77 tokens keeps its first 76 and the end token, and is reported
 * through `options.log`.
 * @returns tokenize(texts) → { ids [texts · 77], dims [texts, 77], truncated (indices of truncated texts) }
 */
export async function loadClipTokenizer(
  source: string,
  /** `remoteHint`: what to do when `source` is a Hub id and remote models are disabled (said in the error) */
  options: { log?: (line: string) => void; remoteHint?: string } = {},
): Promise<(texts: readonly string[]) => { ids: number[]; dims: [number, number]; truncated: number[] }> {
  const tokenizer = await loadTokenizer(
    source,
    options.remoteHint ?? 'give a directory holding the CLIP tokenizer.json',
  );
  return (texts) => {
    const { ids, dims, truncated } = tokenizeWith(tokenizer, texts, options.log);
    return { ids, dims, truncated };
  };
}

const TOWER_INPUTS = { text: ['input_ids'], vision: ['pixel_values'] } as const;

/**
 * The error for a tower's ONNX file that onnxruntime could not load, naming the file and the tower, or undefined
 * when the failure is not about the file itself (then the caller's generic message applies).
 * @param file the ONNX file of the tower
 */
export function modelFileError(file: string, tower: 'text' | 'vision', error: unknown): VlferError | undefined {
  const msg = String((error as Error)?.message ?? error);
  if (/system error number 13\b|EACCES|permission denied/i.test(msg))
    return new VlferError(
      `permission denied on ${file}: the ${tower} tower's ONNX file exists but cannot be read by this user (check its permissions)`,
      { cause: error },
    );
  const notModel = notAnOnnxModel(error);
  if (notModel)
    return new VlferError(
      `${file} is not a valid ONNX model (${notModel}); expected the ${tower} tower of a CLIP export (onnx/${tower}_model.onnx as Hugging Face Optimum writes it)`,
      { cause: error },
    );
  return undefined;
}

/**
 * Refuse a tower whose graph does not take that tower's inputs (e.g. the vision graph copied over the text one),
 * naming the file, the tower expected and the inputs found.
 */
export function checkTowerInputs(file: string, tower: 'text' | 'vision', inputNames: readonly string[]): void {
  const missing = TOWER_INPUTS[tower].filter((n) => !inputNames.includes(n));
  if (missing.length === 0) return;
  const other = tower === 'text' ? 'vision' : 'text';
  const looksOther = TOWER_INPUTS[other].every((n) => inputNames.includes(n));
  throw new VlferError(
    `${file}: expected the ${tower} tower's graph (inputs ${tower === 'text' ? 'input_ids, attention_mask' : 'pixel_values'}), but this graph takes ${inputNames.join(', ') || 'no inputs'}${looksOther ? ` — it is the ${other} tower's graph; restore onnx/${tower}_model.onnx` : ''}`,
  );
}
