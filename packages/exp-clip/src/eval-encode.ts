import { createHash, type Hash } from 'node:crypto';
import { isAbsolute, relative, resolve } from 'node:path';
import { concatRows, inShard, InvalidArgumentError, throwIfAborted, type Shard, type Tensor2D } from '@vlfer/core';
import { FeatureCache, type FeatureNamespace } from '@vlfer/core/node';
import {
  createPreprocessPool,
  DECODER_VERSION,
  encodeImages,
  sampleClipFrames,
  type ClipModel,
  type EncodeItem,
  type EncodeResult,
  type PreprocessPool,
} from '@vlfer/encoders/node';
import type { ImageItem, VideoItem } from '@vlfer/datasets';
import { createFaceCropper, type FaceCropper, type FacesReport } from '@vlfer/faces/node';
import type { EvalData } from './data.js';
import type { EvalOptions } from './options.js';
import type { PipelineHooks } from './evaluate.js';

/**
 * The feature-cache namespace of CLIP image features: the model files' content fingerprint, the dtype, the
 * preprocessing with the image decoder's version, and what else decides the features' bits: `ClipModel.featureRecipe`
 * (the version and kind of the graphs of the 'graphs' runtime) and the compute device, since a GPU's kernels round
 * differently from the CPU's (`device=webgpu`; a CPU adds nothing, so caches written on a CPU before the device was
 * part of the namespace stay valid). Evaluation, training and the closed-set baselines share entries through it.
 */
export function clipFeatureNamespace(
  clip: Pick<ClipModel, 'featureRecipe' | 'device'>,
  modelFingerprint: string,
  o: { dtype: string; preprocess: string; resizer: string },
): FeatureNamespace {
  const extra = [clip.featureRecipe, clip.device === 'cpu' ? undefined : `device=${clip.device}`].filter(Boolean);
  return {
    model: modelFingerprint,
    dtype: o.dtype,
    preprocess: `${o.preprocess}/${o.resizer}/${DECODER_VERSION}`,
    ...(extra.length ? { extra: extra.join(' ') } : {}),
  };
}

/** An item's id in outputs: its path relative to `root` when it lies inside it, else the path as given. */
export const idOf = (root: string, p: string): string => {
  const r = relative(resolve(root), resolve(p));
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : p;
};

/**
 * An image item's id in outputs: its path relative to the root; a face crop is named by its photo (and face with
 * 'all'); a photo used whole (no face found) by the photo alone.
 */
export function itemId(options: EvalOptions, it: ImageItem & { source?: string; face?: number | null }): string {
  const face = it.source !== undefined && options.faces?.selection === 'all' && typeof it.face === 'number';
  return idOf(options.root, it.source ?? it.path) + (face ? `#face${it.face}` : '');
}

/** Images (frames for clips) served from the feature cache vs run through the encoder, and damaged cache entries. */
export interface EncodeCounts {
  images: number;
  cached: number;
  encoded: number;
  damagedCacheEntries: number;
}

/**
 * What one call of {@link EvalEncoder.encode} is part of, for progress events, counted in the fold's images (or
 * frames of its clips) as the dataset lists them: face selection may encode more items (one per face) or fewer.
 */
export interface EncodeProgressScope {
  /** e.g. 'encode' or 'encode fold 2' */
  phase: string;
  /** Images (or frames) of the fold: those of a shard's own units, in a shard. */
  total: number;
  /** Of them, done before this call. @default the items encoded before it */
  done?: number;
  /** Of them, what this call's items stand for. @default its item count */
  units?: number;
}

/**
 * The image encoder of an evaluation: CLIP through the checked feature cache (namespaced by the model's content
 * fingerprint, dtype and preprocessing) and the optional preprocessing worker pool, counting what it did.
 */
export interface EvalEncoder {
  /** @returns features [items.length, D] in item order and each item's content key; throws AbortedError on abort. */
  encode(items: EncodeItem[], scope: EncodeProgressScope): Promise<EncodeResult>;
  /** Running totals over every `encode` call. */
  readonly counts: EncodeCounts;
  /** The embedding width D. */
  readonly dim: number;
  /** Stops the worker pool (if any). */
  close(): Promise<void>;
}

/**
 * Stage "encode" (setup): the encoder of {@link encodeEvalData}, with the feature cache at `options.cacheDir` (damaged
 * entries are logged and recomputed) and `options.preprocessWorkers` preprocessing threads.
 */
export function createEvalEncoder(
  options: EvalOptions,
  clip: ClipModel,
  modelFingerprint: string,
  hooks: PipelineHooks = {},
): EvalEncoder {
  const log = hooks.log ?? (() => undefined);
  const counts: EncodeCounts = { images: 0, cached: 0, encoded: 0, damagedCacheEntries: 0 };
  const cache = options.cacheDir
    ? new FeatureCache({
        dir: options.cacheDir,
        namespace: clipFeatureNamespace(clip, modelFingerprint, options),
        onCorrupt: (file, why) => {
          counts.damagedCacheEntries++;
          log(`feature cache entry ${file} ${why}; recomputing it`);
        },
      })
    : undefined;
  const pool: PreprocessPool | undefined =
    options.preprocessWorkers > 0 ? createPreprocessPool({ workers: options.preprocessWorkers }) : undefined;
  return {
    counts,
    dim: clip.embeddingDim,
    close: async () => pool?.close(),
    encode: async (items, scope) => {
      const r = await encodeImages({
        model: clip,
        items,
        mode: options.preprocess,
        resizer: options.resizer,
        batchSize: options.batchSize,
        ...(cache ? { cache } : {}),
        ...(pool ? { preprocessPool: pool } : {}),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        onProgress: (e) =>
          hooks.onProgress?.({
            ...e,
            phase: scope.phase,
            done: Math.min(
              scope.total,
              (scope.done ?? counts.images) + Math.round((e.done * (scope.units ?? items.length)) / items.length),
            ),
            total: scope.total,
            // a running total, as `counts` ends with
            ...(e.cached !== undefined ? { cached: counts.cached + e.cached } : {}),
          }),
      });
      counts.cached += r.cached;
      counts.encoded += r.encoded;
      counts.images += items.length;
      return r;
    },
  };
}

/**
 * Stage "select faces" (setup): the face cropper of `options.faces`, or undefined without it. Face selection works
 * on images and frame directories; video files are refused (extract their frames first).
 * @throws InvalidArgumentError `faces` with a video-file dataset; what `createFaceCropper` throws (detector files)
 */
export async function createEvalFaceCropper(
  options: EvalOptions,
  data: readonly EvalData[],
  hooks: Pick<PipelineHooks, 'log'> = {},
): Promise<FaceCropper | undefined> {
  if (!options.faces) return undefined;
  refuseFacesOnVideoFiles(options, data);
  return createFaceCropper(options.faces, {
    clips: data.some((d) => d.kind !== 'images'),
    ...(options.threads ? { threads: options.threads } : {}),
    ...(hooks.log ? { log: hooks.log } : {}),
  });
}

/**
 * Refuses `faces` for a dataset of video files (face selection works on images and frame directories): checked as
 * each fold is loaded, before the model loads.
 * @throws InvalidArgumentError naming `faces`
 */
export function refuseFacesOnVideoFiles(options: Pick<EvalOptions, 'faces'>, data: readonly EvalData[]): void {
  if (options.faces && data.some((d) => d.kind === 'video-files'))
    throw new InvalidArgumentError({
      functionName: 'evaluateZeroShot',
      argument: 'faces',
      message:
        'works on images and frame directories; extract the frames of video files first (e.g. ffmpeg -i clip.mp4 frames/%05d.png)',
    });
}

/**
 * Stage "select faces": the images to encode for a group of dataset images — the group itself, or with a cropper
 * the crops of the faces it selects (`source` names the photo, `face` the crop's place, `null` for a photo used
 * whole); images without a face are left out or kept whole as `faces.missing` says.
 */
export async function selectFaces(
  group: ImageItem[],
  cropper: FaceCropper | undefined,
  hooks: Pick<PipelineHooks, 'signal' | 'onProgress'> = {},
): Promise<(ImageItem & { source?: string; face?: number | null })[]> {
  return cropper ? cropper.cropImages(group, hooks) : group;
}

/** Clips kept by {@link sampleClips} and their frames: `frames[i]` holds the `framesPerClip` frames of `clips[i]`. */
export interface SampledClips<T> {
  clips: T[];
  frames: EncodeItem[][];
}

/**
 * Stage "sample clips": Exp-CLIP's frame sampling of each clip (`numSegments` segment centres, short clips padded
 * as `shortClip` says; video files are decoded), then with a cropper the followed face's crops of those frames.
 * A clip whose frames hold no face is left out (when the cropper's policy skips it).
 * @returns the kept clips, in order, with `framesPerClip` frames each
 */
export async function sampleClips<T extends VideoItem | ImageItem>(
  group: readonly T[],
  options: {
    framesPerClip: number;
    shortClip: EvalOptions['shortClip'];
    cropper?: FaceCropper;
    signal?: AbortSignal;
    /** what decoding a damaged video file or one with several video streams says */
    log?: (line: string) => void;
  },
): Promise<SampledClips<T>> {
  const out: SampledClips<T> = { clips: [], frames: [] };
  for (const it of group) {
    let f = (
      await sampleClipFrames('frameDir' in it ? { frameDir: it.frameDir } : { videoFile: it.path }, {
        numSegments: options.framesPerClip,
        shortClip: options.shortClip,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.log ? { log: options.log } : {}),
      })
    ).items;
    if (options.cropper && 'frameDir' in it) {
      f = await options.cropper.clipCrops(f as string[], it.frameDir);
      if (f.length === 0) continue;
    }
    out.clips.push(it);
    out.frames.push(f);
  }
  return out;
}

/** The folds after encoding: the items kept (faces found), their features, and what the dataset fingerprint covers. */
export interface EncodedEvalData {
  /** The folds with only the items that were encoded (a shard: only its units' items). */
  data: EvalData[];
  /** Per fold: image features [items, D], or frame features [clips · frames, D] (a clip's frames consecutive). */
  features: Tensor2D[];
  /** SHA-256 hex over every encoded item's id, label and content key(s), in order. */
  datasetFingerprint: string;
  /** Units of work numbered across folds, and how many of them this call did (all but a shard's others). */
  units: number;
  unitsDone: number;
}

/** What each unit of {@link encodeEvalData} needs. */
interface UnitContext {
  options: EvalOptions;
  encoder: EvalEncoder;
  cropper: FaceCropper | undefined;
  fingerprint: Hash;
  scope: EncodeProgressScope;
  hooks: EncodeHooks;
}

/**
 * The hooks of encoding: the pipeline's, and `warn` for what makes the numbers suspect (a damaged video whose frames
 * were partly lost), which the evaluation records in metrics.json's warnings; without it they go to `log`.
 */
export type EncodeHooks = PipelineHooks & { warn?: (warning: string) => void };

/** A unit's kept items and their features (null when no item was kept). */
type UnitOutput = { items: EvalData['items']; features: Tensor2D } | null;

/** A unit that kept nothing (no face anywhere in it) still moves the fold's progress on. */
function unitWithoutItems(u: UnitContext, done: number): null {
  u.hooks.onProgress?.({ phase: u.scope.phase, done, total: u.scope.total, unit: 'images' });
  return null;
}

/** A unit's face selection reports in the fold's images: `at` of them were done before it. */
function facesHooks(u: UnitContext, at: number): Pick<PipelineHooks, 'signal' | 'onProgress'> {
  const { signal, onProgress } = u.hooks;
  return {
    ...(signal ? { signal } : {}),
    ...(onProgress ? { onProgress: (e) => onProgress({ ...e, done: at + e.done, total: u.scope.total }) } : {}),
  };
}

async function encodeImageUnit(group: ImageItem[], u: UnitContext, at: number): Promise<UnitOutput> {
  const items = await selectFaces(group, u.cropper, facesHooks(u, at));
  if (items.length === 0) return unitWithoutItems(u, at + group.length);
  const r = await u.encoder.encode(items, { ...u.scope, done: at, units: group.length });
  items.forEach((it, i) => u.fingerprint.update(`${itemId(u.options, it)}\t${it.label}\t${r.keys[i]}\n`));
  return { items, features: r.features };
}

async function encodeClipUnit(group: (VideoItem | ImageItem)[], u: UnitContext, at: number): Promise<UnitOutput> {
  const per = u.options.frames;
  const { clips, frames } = await sampleClips(group, {
    framesPerClip: per,
    shortClip: u.options.shortClip,
    ...(u.cropper ? { cropper: u.cropper } : {}),
    ...(u.hooks.signal ? { signal: u.hooks.signal } : {}),
    ...(u.hooks.warn || u.hooks.log ? { log: u.hooks.warn ?? u.hooks.log } : {}),
  });
  if (clips.length === 0) return unitWithoutItems(u, (at + group.length) * per);
  const r = await u.encoder.encode(frames.flat(), { ...u.scope, done: at * per, units: group.length * per });
  clips.forEach((it, i) =>
    u.fingerprint.update(
      `${idOf(u.options.root, 'frameDir' in it ? it.frameDir : it.path)}\t${it.label}\t${r.keys.slice(i * per, (i + 1) * per).join(',')}\n`,
    ),
  );
  return { items: clips as EvalData['items'], features: r.features };
}

/** Items of a fold's units that a shard does (all of them without one): units numbered from `first`. */
export function shardItemCount(items: number, unitSize: number, first: number, shard: Shard | null): number {
  let n = 0;
  for (let a = 0, unit = first; a < items; a += unitSize, unit++)
    if (inShard(unit, shard)) n += Math.min(unitSize, items - a);
  return n;
}

/**
 * Stage "encode": every fold's items through face selection (images) or clip sampling (clips) and the encoder.
 * Work is done in units (images: `batchSize` source images; clips: ⌊256 / frames⌋ clips), numbered across folds; a
 * shard encodes units u ≡ index (mod count) into the shared caches, and the merge (or an unsharded run) does every
 * unit, finding the shards' features cached. Each unit is one batch window, so features are bit-identical.
 * Throws AbortedError between units when `hooks.signal` fires.
 */
export async function encodeEvalData(
  options: EvalOptions,
  data: readonly EvalData[],
  stages: { encoder: EvalEncoder; cropper?: FaceCropper | undefined; shard: Shard | null },
  hooks: EncodeHooks = {},
): Promise<EncodedEvalData> {
  const fingerprint = createHash('sha256');
  const out: EncodedEvalData = { data: [], features: [], datasetFingerprint: '', units: 0, unitsDone: 0 };
  for (const d of data) {
    const unitSize = d.kind === 'images' ? options.batchSize : Math.max(1, Math.floor(256 / options.frames));
    // progress counts the items of this call's units (a shard's own), so that it ends at its total
    const mine = shardItemCount(d.items.length, unitSize, out.units, stages.shard);
    const u: UnitContext = {
      options,
      encoder: stages.encoder,
      cropper: stages.cropper,
      fingerprint,
      hooks,
      scope: {
        phase: `encode${d.fold !== null ? ` fold ${d.fold}` : ''}`,
        total: d.kind === 'images' ? mine : mine * options.frames,
      },
    };
    const kept: EvalData['items'][number][] = [];
    const parts: Tensor2D[] = [];
    let at = 0;
    for (let a = 0; a < d.items.length; a += unitSize, out.units++) {
      if (!inShard(out.units, stages.shard)) continue;
      throwIfAborted(hooks.signal, 'evaluation');
      out.unitsDone++;
      const group = d.items.slice(a, a + unitSize);
      const r =
        d.kind === 'images' ? await encodeImageUnit(group as ImageItem[], u, at) : await encodeClipUnit(group, u, at);
      at += group.length;
      if (!r) continue;
      parts.push(r.features);
      kept.push(...r.items);
    }
    out.data.push({ ...d, items: kept } as EvalData);
    out.features.push(concatRows(parts, stages.encoder.dim));
  }
  out.datasetFingerprint = fingerprint.digest('hex');
  return out;
}

/** What the cropper did, for results files; images skipped for having no face are named as in predictions. */
export function facesReport(cropper: FaceCropper, root: string): FacesReport {
  return { ...cropper.report(), skipped: cropper.skippedItems.map((p) => idOf(root, p)) };
}
