import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { listFrames, segmentCentreIndices, type ShortClipPolicy } from '@vlfer/datasets';
import { DataFormatError, VlferError } from '@vlfer/core';
import { hashBytes, hashFile } from '@vlfer/core';
import type { EncodeItem } from './extract.js';

/** Path of the ffmpeg binary shipped in `@ffmpeg-installer/ffmpeg` (override with $VLFER_FFMPEG). */
export function defaultFfmpegPath(): string {
  if (process.env.VLFER_FFMPEG) return process.env.VLFER_FFMPEG;
  const require = createRequire(import.meta.url);
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}

function run(cmd: string, args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    p.on('error', reject);
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
 * Decode every frame of a video file to RGB24 with ffmpeg (piped, nothing written to disk).
 * @param options.fps resample to this frame rate first (default: the file's own frames)
 */
export async function decodeVideo(file: string, options: { ffmpegPath?: string; fps?: number } = {}): Promise<DecodedVideo> {
  const ffmpeg = options.ffmpegPath ?? defaultFfmpegPath();
  const probe = await run(ffmpeg, ['-hide_banner', '-i', file]);
  const m = /Stream #\S+.*Video:.*?, (\d{2,5})x(\d{2,5})[\s,\[]/.exec(probe.stderr);
  if (!m) throw new DataFormatError({ file, message: `ffmpeg found no video stream (${probe.stderr.split('\n').filter(Boolean).slice(-1)[0] ?? 'no output'})` });
  const width = Number(m[1]);
  const height = Number(m[2]);
  const args = ['-hide_banner', '-loglevel', 'error', '-i', file];
  if (options.fps) args.push('-vf', `fps=${options.fps}`);
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  const r = await run(ffmpeg, args);
  if (r.code !== 0) throw new DataFormatError({ file, message: `ffmpeg failed with code ${r.code}: ${r.stderr.trim()}` });
  const frameBytes = width * height * 3;
  if (r.stdout.length === 0 || r.stdout.length % frameBytes !== 0) throw new DataFormatError({ file, message: `ffmpeg returned ${r.stdout.length} bytes, not a multiple of one ${width}x${height} RGB frame` });
  const frames: Uint8Array[] = [];
  for (let o = 0; o < r.stdout.length; o += frameBytes) frames.push(new Uint8Array(r.stdout.buffer, r.stdout.byteOffset + o, frameBytes));
  return { width, height, frames };
}

export interface ClipFrames {
  /** One encode item per sampled frame, in time order. */
  items: EncodeItem[];
  /** Frame indices sampled. */
  indices: number[];
}

/** Sampled frames of a frame-directory clip (images sorted by name), segment centres by default. */
export function frameDirClip(frameDir: string, options: { numSegments?: number; shortClip?: ShortClipPolicy } = {}): ClipFrames {
  const frames = listFrames(frameDir);
  if (frames.length === 0) throw new DataFormatError({ file: frameDir, message: 'frame directory holds no images' });
  const indices = segmentCentreIndices(frames.length, options.numSegments ?? 16, { shortClip: options.shortClip ?? 'repeat-first' });
  return { items: indices.map((i) => frames[i]!), indices };
}

/** Sampled frames of a video file decoded with ffmpeg; cache keys combine the file hash and frame index. */
export async function videoFileClip(file: string, options: { numSegments?: number; shortClip?: ShortClipPolicy; ffmpegPath?: string; fps?: number } = {}): Promise<ClipFrames> {
  let video: DecodedVideo;
  try {
    video = await decodeVideo(file, options);
  } catch (error) {
    if (error instanceof DataFormatError) throw error;
    throw new VlferError(`Decoding ${file} with ffmpeg failed: ${(error as Error).message}`, { cause: error });
  }
  const fileKey = hashFile(file);
  const indices = segmentCentreIndices(video.frames.length, options.numSegments ?? 16, { shortClip: options.shortClip ?? 'repeat-first' });
  const items = indices.map((i) => ({ source: { rgb: video.frames[i]!, width: video.width, height: video.height }, key: hashBytes(`${fileKey}:${options.fps ?? 'native'}:${i}`) }));
  return { items, indices };
}
