import { checkOneOf, DataFormatError } from '@vlfer/core';
import { iou } from './nms.js';
import type { Face, Point } from './types.js';

/** Which faces of an image (or the first frame of a clip) are kept: the largest box, the one nearest the centre, or all. */
export const FACE_SELECTIONS = ['largest', 'central', 'all'] as const;
export type FaceSelection = (typeof FACE_SELECTIONS)[number];

/** What an image without a face becomes: dropped and counted, the whole image used, or an error naming the file. */
export const NO_FACE_POLICIES = ['skip', 'full', 'fail'] as const;
export type NoFacePolicy = (typeof NO_FACE_POLICIES)[number];

/** The faces `selection` keeps, in order (one for largest/central; all by descending score). */
export function selectFaces(
  faces: readonly Face[],
  selection: FaceSelection,
  image: { width: number; height: number },
): Face[] {
  checkOneOf(selection, FACE_SELECTIONS, { functionName: 'selectFaces', argument: 'selection' });
  if (faces.length <= 1 || selection === 'all') return [...faces];
  const area = (f: Face) => f.box.width * f.box.height;
  const dist = (f: Face) =>
    Math.hypot(f.box.x + f.box.width / 2 - image.width / 2, f.box.y + f.box.height / 2 - image.height / 2);
  const best = faces.reduce((b, f) =>
    selection === 'largest' ? (area(f) > area(b) ? f : b) : dist(f) < dist(b) ? f : b,
  );
  return [best];
}

/** What a frame in which the followed face is not found gets: the last box carried over, the frame dropped, or an error. */
export const MISSING_FACE_POLICIES = ['carry', 'skip', 'fail'] as const;
export type MissingFacePolicy = (typeof MISSING_FACE_POLICIES)[number];

export interface TrackOptions {
  /** Which face of the first frame with faces is followed. @default 'largest' ('all' is not allowed: one identity per clip) */
  selection?: Exclude<FaceSelection, 'all'>;
  /** A detection continues the track when its IoU with the track's last box is at least this. @default 0.3 */
  iouThreshold?: number;
  /** Frames where the face is not found. @default 'carry' */
  missing?: MissingFacePolicy;
  /** Exponential smoothing of box and landmarks, 0 = none … 0.9 = heavy. @default 0 */
  smoothing?: number;
  /** Names the clip in errors. */
  name?: string;
}

/** The followed face in each frame (null where it was skipped), and how it was found. */
export interface Track {
  faces: (Face | null)[];
  /** Per frame: 'detected', 'carried' (box of an earlier or, before the first detection, a later frame) or 'skipped'. */
  status: ('detected' | 'carried' | 'skipped')[];
}

/**
 * Follow one face through a clip's frames (one identity per clip): start with `selection` on the first frame that has
 * faces, then in each frame take the detection with the highest IoU with the track's last box (at least
 * `iouThreshold`). Frames where it is missing follow `missing`; frames before the first detection carry the first
 * box back. A clip with no face at all is an error naming the clip (the caller decides whether to use whole frames).
 */
export function trackFace(
  frames: readonly (readonly Face[])[],
  image: { width: number; height: number },
  options: TrackOptions = {},
): Track {
  const selection = options.selection ?? 'largest';
  const iouThreshold = options.iouThreshold ?? 0.3;
  const missing = options.missing ?? 'carry';
  const alpha = options.smoothing ?? 0;
  checkOneOf(missing, MISSING_FACE_POLICIES, { functionName: 'trackFace', argument: 'missing' });
  const first = frames.findIndex((f) => f.length > 0);
  if (first < 0)
    throw new DataFormatError({
      file: options.name ?? '<clip>',
      message: `no face in any of its ${frames.length} frames`,
    });
  const faces: (Face | null)[] = new Array(frames.length).fill(null);
  const status: Track['status'] = new Array(frames.length).fill('skipped');
  let last = selectFaces(frames[first]!, selection, image)[0]!;
  for (let t = first; t < frames.length; t++) {
    let match: Face | undefined;
    let bestIou = iouThreshold;
    for (const f of frames[t]!) {
      const o = iou(f.box, last.box);
      if (o >= bestIou) {
        bestIou = o;
        match = f;
      }
    }
    if (match) {
      last = alpha > 0 && t > first ? smooth(last, match, alpha) : match;
      faces[t] = last;
      status[t] = 'detected';
    } else if (missing === 'fail') {
      throw new DataFormatError({
        file: options.name ?? '<clip>',
        message: `the followed face is not found in frame ${t} (IoU < ${iouThreshold} with every detection); use missing 'carry' or 'skip'`,
      });
    } else if (missing === 'carry') {
      faces[t] = last;
      status[t] = 'carried';
    }
  }
  for (let t = 0; t < first; t++) {
    if (missing === 'carry') {
      faces[t] = faces[first]!;
      status[t] = 'carried';
    }
  }
  return { faces, status };
}

function smooth(prev: Face, next: Face, alpha: number): Face {
  const m = (a: number, b: number) => alpha * a + (1 - alpha) * b;
  return {
    box: {
      x: m(prev.box.x, next.box.x),
      y: m(prev.box.y, next.box.y),
      width: m(prev.box.width, next.box.width),
      height: m(prev.box.height, next.box.height),
    },
    score: next.score,
    landmarks:
      next.landmarks && prev.landmarks
        ? next.landmarks.map(([x, y], k) => [m(prev.landmarks![k]![0], x), m(prev.landmarks![k]![1], y)] as Point)
        : next.landmarks,
  };
}
