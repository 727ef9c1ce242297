import { existsSync, lstatSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import {
  DataFormatError,
  decodeSafetensors,
  InvalidArgumentError,
  isRawFloat32,
  VlferError,
  type ProgressCallback,
  type TorchCheckpoint,
} from '@vlfer/core';
import {
  fingerprintFiles,
  openSafetensorsFile,
  readBytesFile,
  readTextFile,
  readTorchCheckpointFile,
  readTorchCheckpointFileAsync,
  type SafetensorsFileIndex,
} from '@vlfer/core/node';
import { checkLayerCounts, clipArchFromConfig, openaiClipToHf, type ClipArch } from '../clip-arch.js';
import type { ClipWeights } from '../clip-graphs.js';
import { OPENAI_CLIP_PREPROCESSOR, parsePreprocessorConfig, type ClipPreprocessorConfig } from '../preprocess.js';
import { requiredModelFiles } from '../registry.js';
import { getModelEnvironment } from './env.js';
import { mapFilePrivate, type MappedFile } from './mapped-file.js';

/**
 * Where a CLIP model comes from, as `loadClip` and `ClipGradientModel.load` see it:
 * - `onnx-dir`: a transformers.js / Hugging Face directory with `onnx/{vision,text}_model*.onnx` (run by
 *   transformers.js on ONNX Runtime);
 * - `hf-weights`: a Hugging Face directory with `config.json` + `model.safetensors` (forward graphs built in
 *   TypeScript from the weights);
 * - `openai-checkpoint`: an OpenAI `clip` checkpoint file (`ViT-B-32.pt` TorchScript archive or a plain state-dict
 *   `.pt`), read by the restricted unpickler and mapped to the same architecture;
 * - `hub`: a Hugging Face Hub id, downloaded by transformers.js when remote models are allowed; `<id>@<revision>` pins
 *   a branch, tag or commit (`hubSource`).
 */
export type ClipSource =
  | { kind: 'onnx-dir'; dir: string }
  | { kind: 'hf-weights'; dir: string }
  | { kind: 'openai-checkpoint'; file: string }
  | { kind: 'hub'; id: string; revision?: string };

/** Which runtime runs a local directory that has both ONNX graphs and safetensors weights. */
export type ClipBackend = 'auto' | 'onnx' | 'graphs';

function localPath(model: string): string | undefined {
  const candidates = [
    isAbsolute(model) || model.startsWith('.') || existsSync(model) ? resolve(model) : undefined,
    join(getModelEnvironment().localModelPath, model),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return undefined;
}

/**
 * Refuses a `model` written as a path (absolute, `./…`, `../…`, or with a backslash) that does not exist, and one that
 * is no path and no Hugging Face model id (`my model`, `@org/name`, `org/name@`): the check `loadClip` starts with, for
 * pipelines to make before they read their data (a well-formed Hub id or an existing path passes).
 * @throws InvalidArgumentError naming `loadClip`'s argument `model`, the path as given and as resolved
 */
export function checkClipModelPath(model: string, functionName = 'loadClip'): void {
  if (typeof model !== 'string' || localPath(model) !== undefined) return;
  // a Hub id is 'name' or 'org/name' (then '@revision', which may hold slashes): more parts, or a file's extension,
  // is a path (it was tried on the Hub, and failed reading a tokenizer config)
  const id = model.split('@')[0]!;
  const fileLike = /\.(pt|pth|bin|safetensors|onnx|ckpt|tar)$/i;
  if (/^[.~/]|\\/.test(model) || id.split('/').length > 2 || fileLike.test(id) || fileLike.test(model))
    throw new InvalidArgumentError({
      functionName,
      argument: 'model',
      message: `the path '${model}'${isAbsolute(model) ? '' : ` (${resolve(model)})`} does not exist; expected a model directory (transformers.js ONNX graphs, or config.json + model.safetensors) or an OpenAI .pt checkpoint`,
    });
  const { id: hubId } = hubSource(model, functionName); // a malformed '@<revision>' before the data is read
  if (!HUB_ID.test(hubId) || /--|\.\./.test(hubId) || hubId.endsWith('.git'))
    throw new InvalidArgumentError({
      functionName,
      argument: 'model',
      message: `'${model}' is neither an existing path (${resolve(model)}) nor a Hugging Face model id ('name' or 'org/name' of letters, digits, '-', '_' and '.', then '@<revision>' where one is wanted), e.g. Xenova/clip-vit-base-patch32`,
    });
}

/**
 * A Hugging Face repository id as the Hub accepts it (huggingface_hub's `validate_repo_id`): an optional namespace and
 * a name of at most 96 characters, each of ASCII letters, digits, '_', '-' and '.', beginning and ending with a
 * letter, digit or '_' (and, checked apart, no '--', '..' or trailing '.git').
 */
const HUB_ID = /^(?:[A-Za-z0-9_](?:[\w.-]*[A-Za-z0-9_])?\/)?[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;

/**
 * Classify a model argument (Hub id, directory or checkpoint file). `options.suffix`: the ONNX dtype suffix ('' for
 * fp32); `options.functionName`: the caller named in errors, which (unless it is `loadClip`) has no backend option.
 */
export function resolveClipSource(
  model: string,
  options: { backend?: ClipBackend; suffix?: string; functionName?: string } = {},
): ClipSource {
  if (typeof model !== 'string' || !model)
    throw new VlferError(
      `CLIP model must be a Hugging Face id, a directory or a checkpoint file, got ${JSON.stringify(model)}`,
    );
  const backend = options.backend ?? 'auto';
  const functionName = options.functionName ?? 'loadClip';
  const p = localPath(model);
  if (p && statSync(p).isFile()) {
    if (['.pt', '.pth', '.bin'].includes(extname(p).toLowerCase())) {
      if (backend === 'onnx')
        throw new VlferError(
          `${p} is an OpenAI checkpoint, which runs on the 'graphs' runtime (graphs built from its weights); backend 'onnx' needs a directory of ONNX graphs: leave backend out, or pass 'graphs'`,
        );
      return { kind: 'openai-checkpoint', file: p };
    }
    throw new VlferError(
      `${p}: a CLIP model file must be an OpenAI checkpoint (.pt); for other formats give the model directory`,
    );
  }
  if (p) {
    const hasOnnx =
      existsSync(join(p, 'onnx', `vision_model${options.suffix ?? ''}.onnx`)) ||
      existsSync(join(p, 'onnx', `text_model${options.suffix ?? ''}.onnx`));
    const hasWeights = existsSync(join(p, 'model.safetensors')) && existsSync(join(p, 'config.json'));
    if (backend === 'graphs' || (backend === 'auto' && !hasOnnx && hasWeights)) {
      if (!hasWeights)
        throw new VlferError(
          `${p} has no config.json + model.safetensors, which ${functionName === 'loadClip' ? "backend 'graphs'" : functionName} needs (the Hugging Face CLIPModel layout)`,
        );
      return { kind: 'hf-weights', dir: p };
    }
    if (backend === 'onnx' || hasOnnx) return { kind: 'onnx-dir', dir: p };
    throw new VlferError(
      `Model directory ${p} holds neither ONNX graphs (${requiredModelFiles(options.suffix ?? '').join(', ')}) nor Hugging Face weights (config.json + model.safetensors); an OpenAI checkpoint is given as the .pt file itself`,
    );
  }
  checkClipModelPath(model, functionName);
  const download = "download the model's config.json and model.safetensors into a directory and pass its path";
  if (backend === 'graphs' && functionName !== 'loadClip')
    throw new VlferError(
      `${functionName} builds its graphs from the weights: it needs a local directory with config.json + model.safetensors, or an OpenAI .pt; '${model}' is not a local path (${download})`,
    );
  if (backend === 'graphs')
    throw new VlferError(
      `backend 'graphs' needs a local directory with config.json + model.safetensors, or an OpenAI .pt; '${model}' is not a local path (a Hub id loads transformers.js ONNX graphs: leave backend out, or ${download})`,
    );
  return hubSource(model);
}

/**
 * A Hub id as a source: `<id>`, or `<id>@<revision>` for a branch, tag or commit of the Hub repository
 * (`Xenova/clip-vit-base-patch32@<commit sha>`), which transformers.js downloads and caches apart from `main`.
 * @throws InvalidArgumentError naming `model` for an empty id or a revision that is no branch, tag or commit name
 *   (it becomes a folder of transformers.js' file cache: `..` and absolute paths are refused)
 */
export function hubSource(model: string, functionName = 'loadClip'): { kind: 'hub'; id: string; revision?: string } {
  const at = model.indexOf('@');
  if (at < 0) return { kind: 'hub', id: model };
  const [id, revision] = [model.slice(0, at), model.slice(at + 1)];
  const name = /^[A-Za-z0-9][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
  if (!id || !name.test(revision) || revision.split('/').includes('..'))
    throw new InvalidArgumentError({
      functionName,
      argument: 'model',
      message: `'${model}': a Hub id with a revision is <id>@<revision>, the revision a branch, tag or commit (letters, digits, '.', '_', '-', '/'; no '..'), e.g. Xenova/clip-vit-base-patch32@main`,
    });
  return { kind: 'hub', id, revision };
}

/** The tokenizer files of a local tokenizer directory that exist, for content fingerprints (none for a Hub id). */
export function tokenizerFiles(source: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    if (existsSync(join(source, f))) out[f] = join(source, f);
  return out;
}

/** The notice for a `tokenizer` option that a model directory's own tokenizer takes precedence over. */
export function ownTokenizerNotice(dir: string, given: string): string {
  return `${dir} holds its own tokenizer (tokenizer.json), which is used; the tokenizer '${given}' is not`;
}

/** Frozen weights of a local CLIP source in Hugging Face key names, its architecture and preprocessing. */
export interface ClipWeightsBundle {
  arch: ClipArch;
  weights: ClipWeights;
  preprocessor: ClipPreprocessorConfig;
  /** Files whose content defines the model (for content fingerprints), by role. */
  files: Record<string, string>;
  /** Where the tokenizer comes from: a directory or a Hub id. */
  tokenizer: string;
  /** The file the weights came from, for error messages. */
  weightsFile: string;
  /** `exp(logit_scale)` stored with the weights (HF `logit_scale`, OpenAI `logit_scale`); undefined when absent. */
  logitScale: number | undefined;
  /**
   * With `byReference`: the folder ONNX Runtime resolves the weights' external data against (every weight is raw
   * float32 in `model.safetensors` and carries `external`); undefined when some weight needs a conversion, with the
   * reason in `notByReference`.
   */
  externalDir?: string;
  notByReference?: string;
  /**
   * Keys of `files` that name the tokenizer given by `options.tokenizer` for a weights directory without its own
   * (part of the content since 2026-12-06; fingerprints recorded before left them out).
   */
  tokenizerFileKeys?: readonly string[];
  /** With `byReference`: throws a DataFormatError when model.safetensors changed since its header was read. */
  checkUnchanged?: () => void;
  /**
   * With `byReference`: whether the float32 weights are views of a memory map of model.safetensors (`mapWeights`),
   * whose pages are read from the file as runs touch them.
   */
  weightsMapped?: () => boolean;
  /**
   * With `byReference`: throws a DataFormatError when the mapped file changed since its header was read (checked on
   * the mapped file itself, so a new file renamed over the path does not count); nothing to check for weights read
   * into memory. Call it before handing out mapped values (each run, each JavaScript read of a weight).
   */
  checkWeights?: () => void;
}

export interface LoadWeightsOptions {
  /**
   * A directory (or Hub id) with the CLIP tokenizer, for a model that has none of its own: an OpenAI checkpoint, or a
   * model directory without tokenizer.json + tokenizer_config.json (a model directory's own tokenizer comes first).
   * @default 'openai/clip-vit-base-patch32' (all OpenAI CLIPs share it) for checkpoints and weights directories
   */
  tokenizer?: string;
  /** OpenAI checkpoints: a Hugging Face `config.json` describing the architecture instead of OpenAI's inference rules. */
  config?: string;
  /** OpenAI checkpoints: head counts when the widths are not multiples of 64. */
  numHeads?: { text?: number; vision?: number };
  /** OpenAI checkpoints (`loadClipWeightsAsync`): stops reading and parsing the `.pt` (AbortedError). */
  signal?: AbortSignal;
  /** OpenAI checkpoints (`loadClipWeightsAsync`): progress of the parse (phase `read checkpoint`, in tensors). */
  onProgress?: ProgressCallback;
  /**
   * Hugging Face weights read by reference (weights fed to the graphs): float32 tensors as views of a private memory
   * map of `model.safetensors` (`mapFilePrivate`; Linux and macOS with the optional dependency `koffi`) instead of
   * copies read into memory. The values are the same bytes either way. While mapped, the file must be replaced by
   * renaming (as Hugging Face and vlfer write files), not rewritten in place. @default true
   */
  mapWeights?: boolean;
}

/**
 * Read the weights of a `hf-weights` or `openai-checkpoint` source. `how.byReference`: read only the header of
 * `model.safetensors` (every entry checked against the file's size) and each tensor's values when first asked for;
 * raw float32 tensors carry `external` (their place in the file) for graphs that store weights as ONNX external data.
 */
export function loadClipWeights(
  source: ClipSource,
  options: LoadWeightsOptions = {},
  how: { byReference?: boolean } = {},
): ClipWeightsBundle {
  if (source.kind === 'hf-weights') return loadHfWeights(source.dir, options, how.byReference ?? false);
  if (source.kind === 'openai-checkpoint') {
    const bundle = openaiBundle(source.file, readTorchCheckpointFile(source.file).tensors, options);
    return how.byReference ? { ...bundle, notByReference: NOT_BY_REFERENCE } : bundle;
  }
  throw new VlferError(
    `loadClipWeights: a ${source.kind} source has no weights to read here (it runs on transformers.js); gradients and the TypeScript graphs need config.json + model.safetensors or an OpenAI .pt checkpoint`,
  );
}

/**
 * `loadClipWeights` without blocking the event loop for an OpenAI `.pt` checkpoint: the file is read asynchronously
 * and parsed in slices (`readTorchCheckpointFileAsync`), honouring `options.signal` and reporting `options.onProgress`;
 * the weights are the same as `loadClipWeights` reads. Other sources are read as `loadClipWeights` reads them.
 * @throws AbortedError when `options.signal` fires during the read or parse
 */
export async function loadClipWeightsAsync(
  source: ClipSource,
  options: LoadWeightsOptions = {},
  how: { byReference?: boolean } = {},
): Promise<ClipWeightsBundle> {
  if (source.kind !== 'openai-checkpoint') return loadClipWeights(source, options, how);
  const ckpt = await readTorchCheckpointFileAsync(source.file, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const bundle = openaiBundle(source.file, ckpt.tensors, options);
  return how.byReference ? { ...bundle, notByReference: NOT_BY_REFERENCE } : bundle;
}

/**
 * A Hugging Face CLIPModel directory: `config.json` (architecture), `model.safetensors`, `preprocessor_config.json`
 * when present (else OpenAI's preprocessing at the vision tower's size), its own tokenizer when it has
 * `tokenizer.json` (else `options.tokenizer`). @throws DataFormatError naming config.json when it is not JSON
 */
function loadHfWeights(dir: string, options: LoadWeightsOptions, byReference: boolean): ClipWeightsBundle {
  const cfgFile = join(dir, 'config.json');
  let config: Record<string, any>;
  try {
    config = JSON.parse(readTextFile(cfgFile, 'CLIP config'));
  } catch (error) {
    if (error instanceof SyntaxError)
      throw new DataFormatError({ file: cfgFile, message: `not valid JSON (${error.message})`, cause: error });
    throw error;
  }
  const arch = clipArchFromConfig(config, cfgFile);
  const weightsFile = join(dir, 'model.safetensors');
  const index = byReference ? openSafetensorsFile(weightsFile) : undefined;
  // ONNX Runtime refuses external data outside the folder it is given: a Hugging Face cache snapshot's
  // model.safetensors is a link into ../../blobs/, so the graphs name the file the link points to, in its own folder
  const realWeights = index && lstatSync(weightsFile).isSymbolicLink() ? realpathSync(weightsFile) : weightsFile;
  const byRef = index && weightsByReference(index, basename(realWeights), options.mapWeights ?? true);
  const weights = byRef
    ? byRef.weights
    : decodeSafetensors(readBytesFile(weightsFile, 'CLIP weights'), weightsFile).tensors;
  checkLayerCounts(Object.keys(weights), arch, cfgFile, weightsFile);
  const converted = index && Object.values(index.entries).find((t) => !isRawFloat32(t));
  const ppFile = join(dir, 'preprocessor_config.json');
  const preprocessor = existsSync(ppFile)
    ? parsePreprocessorConfig(JSON.parse(readTextFile(ppFile, 'preprocessor config')), ppFile)
    : withImageSize(arch.vision.imageSize!);
  // the graphs take image_size pixels: another crop was refused only at the first encode
  if (preprocessor.cropSize !== arch.vision.imageSize)
    throw new DataFormatError({
      file: ppFile,
      field: 'crop_size',
      message: `crops to ${preprocessor.cropSize} pixels, but config.json's vision_config.image_size is ${arch.vision.imageSize}: the preprocessor config and the model come from different models`,
    });
  const files: Record<string, string> = { 'config.json': cfgFile, 'model.safetensors': weightsFile };
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'])
    if (existsSync(join(dir, f))) files[f] = join(dir, f);
  // a tokenizer from elsewhere is part of what the model computes (text features): its files are content too
  const tokenizer = existsSync(join(dir, 'tokenizer.json'))
    ? dir
    : (options.tokenizer ?? 'openai/clip-vit-base-patch32');
  const given = tokenizer === dir ? {} : tokenizerFiles(tokenizer);
  Object.assign(files, given);
  const tokenizerFileKeys = Object.keys(given);
  return {
    arch,
    weights,
    preprocessor,
    files,
    tokenizer,
    ...(tokenizerFileKeys.length ? { tokenizerFileKeys } : {}),
    weightsFile,
    logitScale: scalarExp(weights['logit_scale']),
    ...(index ? { checkUnchanged: index.checkUnchanged } : {}),
    ...(byRef ? { weightsMapped: byRef.mapped, checkWeights: byRef.checkMapped } : {}),
    ...(index && !converted ? { externalDir: dirname(realWeights) } : {}),
    ...(converted ? { notByReference: `'${converted.key}' is ${converted.dtype}, converted to float32` } : {}),
  };
}

/**
 * Weights of an opened safetensors file without their values: each entry's `data` is produced when first asked for
 * (then kept), and raw float32 entries carry `external`, their bytes' place in the file named `location`.
 * With `map` (where `fileMappingStatus()` allows), raw float32 entries are views of one private memory map of the
 * whole file, made at the first ask after checking that the open file is still the one whose header was read: no
 * copy, and pages read only when a run touches them. Otherwise, and for converted or misaligned entries, each
 * entry is read from the file into memory of its own.
 */
function weightsByReference(
  index: SafetensorsFileIndex,
  location: string,
  map: boolean,
): { weights: ClipWeights; mapped: () => boolean; checkMapped: () => void } {
  let mapped: MappedFile | null | undefined = map ? undefined : null;
  const viewOf = (t: SafetensorsFileIndex['entries'][string]): Float32Array | undefined => {
    const offset = index.base + t.b;
    if (mapped === null || !isRawFloat32(t) || offset % 4 !== 0) return undefined;
    mapped ??= mapFilePrivate(index.file, (fd) => index.checkUnchanged(fd)) ?? null;
    return mapped ? new Float32Array(mapped.bytes.buffer, mapped.bytes.byteOffset + offset, t.count) : undefined;
  };
  const out: ClipWeights = {};
  for (const [key, t] of Object.entries(index.entries)) {
    let data: Float32Array | undefined;
    const external = isRawFloat32(t) ? { location, offset: index.base + t.b, length: t.e - t.b } : undefined;
    out[key] = {
      dims: t.dims,
      get data() {
        return (data ??= viewOf(t) ?? index.read(key));
      },
      ...(external ? { external } : {}),
    };
  }
  return {
    weights: out,
    mapped: () => mapped != null,
    // the mapped file itself (its descriptor), not the path: a file renamed over the path leaves the map as it was
    checkMapped: () => {
      if (mapped) index.checkUnchanged(mapped.fd);
    },
  };
}

/**
 * An OpenAI `clip` checkpoint (TorchScript or state dict) mapped to Hugging Face names (`openaiClipToHf`); the
 * architecture inferred as OpenAI's code does, or head counts and layer-norm epsilons from `options.config`;
 * OpenAI's preprocessing at the vision tower's size.
 */
function openaiBundle(
  file: string,
  tensors: TorchCheckpoint['tensors'],
  options: LoadWeightsOptions,
): ClipWeightsBundle {
  let numHeads = options.numHeads;
  let archFromConfig: ClipArch | undefined;
  if (options.config) {
    archFromConfig = clipArchFromConfig(JSON.parse(readTextFile(options.config, 'CLIP config')), options.config);
    numHeads = { text: archFromConfig.text.numHeads, vision: archFromConfig.vision.numHeads };
  }
  const { weights, arch, logitScale } = openaiClipToHf(tensors, { file, ...(numHeads ? { numHeads } : {}) });
  const tokenizer = options.tokenizer ?? 'openai/clip-vit-base-patch32';
  const files: Record<string, string> = { checkpoint: file };
  if (options.config) files['config.json'] = options.config;
  if (existsSync(join(tokenizer, 'tokenizer.json'))) files['tokenizer.json'] = join(tokenizer, 'tokenizer.json');
  return {
    arch: archFromConfig
      ? {
          ...arch,
          text: { ...arch.text, layerNormEps: archFromConfig.text.layerNormEps },
          vision: { ...arch.vision, layerNormEps: archFromConfig.vision.layerNormEps },
        }
      : arch,
    weights,
    preprocessor: withImageSize(arch.vision.imageSize!),
    files,
    tokenizer,
    weightsFile: file,
    logitScale,
  };
}

/** Why an OpenAI checkpoint's weights cannot be read by reference (ONNX external data). */
const NOT_BY_REFERENCE = 'an OpenAI .pt checkpoint is pickled, not raw';

/** exp of a one-value tensor (CLIP's `logit_scale` is stored as its log); undefined for none or another shape. */
function scalarExp(t: { data: ArrayLike<number> } | undefined): number | undefined {
  return t && t.data.length === 1 && Number.isFinite(t.data[0]!) ? Math.exp(t.data[0]!) : undefined;
}

/** OpenAI CLIP preprocessing at another resolution (ViT-L/14@336). */
export function withImageSize(size: number): ClipPreprocessorConfig {
  return { ...OPENAI_CLIP_PREPROCESSOR, shortestEdge: size, cropSize: size };
}

/**
 * The content fingerprints of a CLIP's files (`ClipWeightsBundle.files`, hashes remembered in `indexDir`): this
 * vlfer's (`fingerprintFiles`), then `earlierClipContentFingerprints`. A checkpoint or a published run that recorded
 * any of them was trained with these files.
 */
export function clipContentFingerprints(
  bundle: Pick<ClipWeightsBundle, 'files' | 'tokenizerFileKeys'>,
  indexDir?: string,
): string[] {
  return [
    fingerprintFiles(bundle.files, indexDir ? { indexDir } : {}),
    ...earlierClipContentFingerprints(bundle, indexDir),
  ];
}

/**
 * The fingerprint vlfer before 2026-12-06 recorded for a CLIP's files where it differs from this vlfer's: a tokenizer
 * given apart from a weights directory without its own (`tokenizerFileKeys`) was left out, the directory's own
 * tokenizer files only. Empty where both forms agree.
 */
export function earlierClipContentFingerprints(
  bundle: Pick<ClipWeightsBundle, 'files' | 'tokenizerFileKeys'>,
  indexDir?: string,
): string[] {
  const keys = bundle.tokenizerFileKeys ?? [];
  if (keys.length === 0) return [];
  const dir = dirname(bundle.files['config.json']!);
  const earlier = { ...bundle.files };
  for (const k of keys) {
    if (existsSync(join(dir, k))) earlier[k] = join(dir, k);
    else delete earlier[k];
  }
  return [fingerprintFiles(earlier, indexDir ? { indexDir } : {})];
}
