import { spawn } from 'node:child_process';
import { AbortedError, DataFormatError, InvalidArgumentError, VlferError, type Rng, type Tensor4D } from '@vlfer/core';
import { hashBytes, hashFile } from '@vlfer/core/node';
import { segmentCentreIndices, tsnTrainIndices, type ShortClipPolicy } from '@vlfer/datasets';
import { listFrames } from '@vlfer/datasets/node';
import type { ClipAugmentation, ClipPreprocessorConfig, PreprocessMode } from '../preprocess.js';
import type { EncodeItem } from './extract.js';
import type { ImageSource } from '@vlfer/image/node';
import { preprocessImages } from './preprocess.js';
import { packageRequire } from './require.js';

/** The package that ships an ffmpeg binary; an optional peer dependency (66 MB, needed for video files only). */
export const FFMPEG_PACKAGE = '@ffmpeg-installer/ffmpeg';

/**
 * Path of the ffmpeg binary: $VLFER_FFMPEG, else the one shipped in `@ffmpeg-installer/ffmpeg`, an optional peer
 * dependency that only video files need. Throws a `VlferError` naming the package to add when it is not installed.
 * @param requireFn how the package is loaded (a test passes one that fails)
 */
export function defaultFfmpegPath(requireFn: (id: string) => unknown = packageRequire): string {
  if (process.env.VLFER_FFMPEG) return process.env.VLFER_FFMPEG;
  try {
    return (requireFn(FFMPEG_PACKAGE) as { path: string }).path;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'MODULE_NOT_FOUND' || !String((error as Error).message).includes(FFMPEG_PACKAGE)) throw error;
    throw new VlferError(
      `Video files are decoded with ffmpeg, and no ffmpeg was found: add the package ${FFMPEG_PACKAGE} ` +
        `(npm install ${FFMPEG_PACKAGE}), or set $VLFER_FFMPEG to an ffmpeg binary`,
      { cause: error },
    );
  }
}

function run(
  cmd: string,
  args: string[],
  file: string,
  signal?: AbortSignal,
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    p.on('error', (e) => reject(signal?.aborted ? new AbortedError(`ffmpeg on ${file}`, { cause: e }) : e));
    p.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: err, code }));
  });
}

export interface DecodedVideo {
  width: number;
  height: number;
  /** RGB24 frames, each width·height·3 bytes. */
  frames: Uint8Array[];
}

/**
 * What the frames of a decoded video are, for cache keys: version 2 takes each frame the file holds once, upright
 * (rotation metadata applied), from its first video stream that is not a cover picture. Version 1 (before
 * 2026-12-07) read rotated frames with the unrotated size and repeated frames of variable-frame-rate files, so its
 * keys must not be reused.
 */
export const VIDEO_DECODE_VERSION = 2;

/**
 * ffmpeg's log lines at one of `levels` (`-loglevel level+info` tags each `[info]`, `[warning]`, `[error]`, …, after
 * the `[mjpeg @ 0x…]` of a line from a component), without their tags.
 */
const logLines = (stderr: string, levels: readonly string[]) =>
  stderr.split(/\r?\n/).flatMap((l) => {
    const m = /^(?:\[[^\]]* @ 0x[0-9a-f]+\] )?\[(\w+)\] (.*)$/.exec(l);
    return m && levels.includes(m[1]!) ? [m[2]!.trim()] : [];
  });

/** ffmpeg binaries that know `-vsync` but not `-fps_mode` (before 5.1). */
const oldFfmpeg = new Set<string>();

/**
 * Decode every frame of a video file to RGB24 with ffmpeg (piped, nothing written to disk), as a viewer shows them:
 * each frame the file holds once (`-fps_mode passthrough`: a variable-frame-rate file was padded to a constant rate
 * with repeated frames), upright (rotation metadata applied, and the size read from ffmpeg's output, not its input),
 * from the first video stream that is not a cover picture (`-map 0:V:0`; a file with several says so through
 * `log`). Decoding errors that ffmpeg survives (a corrupt or cut file: frames lost) are said through `log` with the
 * frame count.
 * @param options.fps resample to this frame rate first (default: the file's own frames)
 * @param options.signal kills ffmpeg when fired
 * @throws DataFormatError naming the file when ffmpeg cannot decode it or finds no video stream
 */
export async function decodeVideo(
  file: string,
  options: { ffmpegPath?: string; fps?: number; signal?: AbortSignal; log?: (line: string) => void } = {},
): Promise<DecodedVideo> {
  const ffmpeg = options.ffmpegPath ?? defaultFfmpegPath();
  const input = ['-hide_banner', '-nostats', '-loglevel', 'level+info', '-i', file];
  // the first video stream that is not a cover picture: ffmpeg's own pick (the largest, or the default) differs
  // between its versions, and the frame cache keys do not hold the version
  const output = ['-map', '0:V:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const vsync = ['-vsync', 'passthrough'];
  const passthrough = oldFfmpeg.has(ffmpeg) ? vsync : ['-fps_mode', 'passthrough'];
  const timing = options.fps ? ['-vf', `fps=${options.fps}`] : passthrough;
  let r = await run(ffmpeg, [...input, ...timing, ...output], file, options.signal);
  // ffmpeg before 5.1 (the bundled 4.1) names the option -vsync; remembered, so each file is decoded once
  if (!options.fps && r.code !== 0 && /Unrecognized option 'fps_mode'/.test(r.stderr)) {
    oldFfmpeg.add(ffmpeg);
    r = await run(ffmpeg, [...input, ...vsync, ...output], file, options.signal);
  }
  if (r.code !== 0) {
    const why = logLines(r.stderr, ['fatal', 'error']).slice(-3).join('; ') || r.stderr.trim().slice(-300);
    const noVideo = /does not contain any stream|matches no streams|no video stream/i.test(r.stderr);
    throw new DataFormatError({
      file,
      message: noVideo ? `has no video stream (ffmpeg: ${why})` : `ffmpeg could not decode it (code ${r.code}): ${why}`,
    });
  }
  const size = videoOutputSize(r.stderr, file);
  const { width, height } = size;
  const frameBytes = width * height * 3;
  if (r.stdout.length === 0 || r.stdout.length % frameBytes !== 0)
    throw new DataFormatError({
      file,
      message: `ffmpeg returned ${r.stdout.length} bytes, not a multiple of one ${width}x${height} RGB frame`,
    });
  const frames: Uint8Array[] = [];
  for (let o = 0; o < r.stdout.length; o += frameBytes)
    frames.push(new Uint8Array(r.stdout.buffer, r.stdout.byteOffset + o, frameBytes));
  if (size.videoStreams > 1)
    options.log?.(`${file} has ${size.videoStreams} video streams; decoded the first, ${size.mapped}`);
  const problems = logLines(r.stderr, ['fatal', 'error']);
  if (problems.length > 0)
    options.log?.(
      `${file}: ffmpeg reported ${problems.length} decoding error(s) (${[...new Set(problems)].slice(0, 2).join('; ')}); ${frames.length} frames were decoded — the file may be damaged and frames lost`,
    );
  return { width, height, frames };
}

/**
 * The size of the frames ffmpeg writes (its "Output #0" stream: after rotation, of the stream it picked), the input's
 * video streams and which one was decoded, from its `-loglevel level+info` log.
 * @throws DataFormatError naming the file when the log has no output video stream
 */
export function videoOutputSize(
  stderr: string,
  file: string,
): { width: number; height: number; videoStreams: number; mapped: string } {
  const info = logLines(stderr, ['info']).join('\n');
  const at = info.search(/^Output #0/m);
  const m = at < 0 ? null : /Stream #\S+.*Video: rawvideo.*?, (\d{1,5})x(\d{1,5})[\s,[]/.exec(info.slice(at));
  if (!m) throw new DataFormatError({ file, message: 'ffmpeg decoded no video stream' });
  // cover pictures (an mp4's or mkv's attached PNG) are not video
  const videoStreams = (info.slice(0, at).match(/^\s*Stream #\S+.*: Video: (?!.*\(attached pic\)).*$/gm) ?? []).length;
  const mapped = /^\s*Stream (#\d+:\d+) -> #0:0/m.exec(info)?.[1] ?? 'one';
  return { width: Number(m[1]), height: Number(m[2]), videoStreams, mapped: `stream ${mapped}` };
}

/** A clip: a directory of frame images (DFEW, MAFW, …) or a video file decoded with ffmpeg. */
export type ClipSource = { frameDir: string } | { videoFile: string };

export interface SampleClipOptions {
  /** Frames to sample. @default 16 */
  numSegments?: number;
  /** `'centre'` (test: segment centres) or TSN training sampling (one random frame per segment) from `rng`. @default 'centre' */
  sampling?: 'centre' | { tsn: Rng };
  /** @default 'repeat-first' (the reference code) */
  shortClip?: ShortClipPolicy;
  /** Video files: the ffmpeg binary. */
  ffmpegPath?: string;
  /** Video files: resample to this frame rate before sampling. */
  fps?: number;
  signal?: AbortSignal;
  /** Video files: what `decodeVideo` says of a damaged file or one with several video streams. */
  log?: (line: string) => void;
}

export interface ClipFrames {
  /** One encode item per sampled frame, in time order (paths for frame directories, RGB + key for video files). */
  items: EncodeItem[];
  /** Frame indices sampled. */
  indices: number[];
  /** Frames the clip has. */
  numFrames: number;
}

/**
 * The one clip reader of vlfer: sample a clip's frames (segment centres or TSN) from a frame directory (images
 * sorted by name) or a video file (every frame decoded by ffmpeg; cache keys combine the file's hash, the frame
 * rate and the frame index).
 */
export async function sampleClipFrames(clip: ClipSource, options: SampleClipOptions = {}): Promise<ClipFrames> {
  const T = options.numSegments ?? 16;
  const sample = (n: number) => {
    const s = options.sampling ?? 'centre';
    if (s === 'centre') return segmentCentreIndices(n, T, { shortClip: options.shortClip ?? 'repeat-first' });
    if (typeof s !== 'object' || !s.tsn)
      throw new InvalidArgumentError({
        functionName: 'sampleClipFrames',
        argument: 'sampling',
        message: "expected 'centre' or { tsn: rng }",
      });
    return tsnTrainIndices(n, T, s.tsn, { shortClip: options.shortClip ?? 'repeat-first' });
  };
  if ('frameDir' in clip) {
    const frames = listFrames(clip.frameDir);
    if (frames.length === 0)
      throw new DataFormatError({ file: clip.frameDir, message: 'frame directory holds no images' });
    const indices = sample(frames.length);
    return { items: indices.map((i) => frames[i]!), indices, numFrames: frames.length };
  }
  if (!('videoFile' in clip) || typeof clip.videoFile !== 'string')
    throw new InvalidArgumentError({
      functionName: 'sampleClipFrames',
      argument: 'clip',
      message: 'expected { frameDir } or { videoFile }',
    });
  let video: DecodedVideo;
  try {
    video = await decodeVideo(clip.videoFile, options);
  } catch (error) {
    if (error instanceof VlferError) throw error;
    throw new VlferError(`Decoding ${clip.videoFile} with ffmpeg failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const fileKey = hashFile(clip.videoFile);
  const indices = sample(video.frames.length);
  const items = indices.map((i) => ({
    source: { rgb: video.frames[i]!, width: video.width, height: video.height },
    key: hashBytes(`${fileKey}:${options.fps ?? 'native'}:${i}:decode${VIDEO_DECODE_VERSION}`),
  }));
  return { items, indices, numFrames: video.frames.length };
}

/**
 * Pixels of sampled clip frames, `[frames, 3, S, S]`, e.g. HESP's training input: `'exp-clip'` mode (square
 * bilinear resize, [0, 1], not normalised) with one augmentation (flip + random sized crop) for all frames of a clip.
 * @param clips frames of each clip (`sampleClipFrames(...).items`); `augmentations` one per clip or none
 */
export async function clipPixels(
  clips: readonly (readonly EncodeItem[])[],
  options: {
    mode?: PreprocessMode;
    config: ClipPreprocessorConfig;
    augmentations?: readonly (ClipAugmentation | null)[];
  },
): Promise<Tensor4D> {
  if (options.augmentations && options.augmentations.length !== clips.length)
    throw new InvalidArgumentError({
      functionName: 'clipPixels',
      argument: 'augmentations',
      message: `${options.augmentations.length} augmentations for ${clips.length} clips`,
    });
  const sources: ImageSource[] = [];
  const augs: (ClipAugmentation | null)[] = [];
  clips.forEach((frames, c) => {
    for (const f of frames) {
      sources.push(
        typeof f === 'object' && !(f instanceof Uint8Array) && 'source' in f && 'key' in f
          ? f.source
          : (f as ImageSource),
      );
      augs.push(options.augmentations?.[c] ?? null);
    }
  });
  return preprocessImages(sources, options.mode ?? 'exp-clip', options.config, 'pil', { augmentations: augs });
}
