import { InvalidArgumentError, type Rng } from '@vlfer/core';

/**
 * What to do when a clip has no more frames than segments:
 * `'repeat-first'` — every index is 0 (the Exp-CLIP / HESP / old DFER-CLIP code; note it applies when
 * numFrames ≤ numSegments, so a 16-frame clip sampled at 16 segments is frame 0 sixteen times);
 * `'edge-pad'` — 0, 1, …, numFrames−1, then the last frame repeated (current DFER-CLIP).
 */
export const SHORT_CLIP_POLICIES = ['repeat-first', 'edge-pad'] as const;
export type ShortClipPolicy = (typeof SHORT_CLIP_POLICIES)[number];

function check(numFrames: number, numSegments: number, fn: string): void {
  if (!Number.isInteger(numFrames) || numFrames <= 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'numFrames',
      message: `must be a positive integer, got ${numFrames}`,
    });
  if (!Number.isInteger(numSegments) || numSegments <= 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'numSegments',
      message: `must be a positive integer, got ${numSegments}`,
    });
}

function shortClip(numFrames: number, numSegments: number, policy: ShortClipPolicy): number[] {
  if (policy === 'repeat-first') return new Array<number>(numSegments).fill(0);
  return Array.from({ length: numSegments }, (_, k) => Math.min(k, numFrames - 1));
}

/**
 * Segment-centre frame indices (TSN test sampling): `tick = numFrames / numSegments`,
 * `index_k = floor(tick/2 + tick·k)`, when numFrames > numSegments.
 * Exp-CLIP test uses 16 segments; HESP test uses 8.
 */
export function segmentCentreIndices(
  numFrames: number,
  numSegments = 16,
  options: { shortClip?: ShortClipPolicy } = {},
): number[] {
  check(numFrames, numSegments, 'segmentCentreIndices');
  if (numFrames <= numSegments) return shortClip(numFrames, numSegments, options.shortClip ?? 'repeat-first');
  const tick = numFrames / numSegments;
  return Array.from({ length: numSegments }, (_, k) => Math.floor(tick / 2 + tick * k));
}

/**
 * TSN training sampling: one random frame inside each of `numSegments` equal segments
 * (`avg = floor(numFrames / numSegments)`, `index_s = s·avg + randint(avg)`); clips shorter than
 * `numSegments` follow the short-clip policy. (TSN's "sorted random indices" branch only fires for
 * snippet durations > 1, which FER pipelines do not use.)
 */
export function tsnTrainIndices(
  numFrames: number,
  numSegments: number,
  rng: Rng,
  options: { shortClip?: ShortClipPolicy } = {},
): number[] {
  check(numFrames, numSegments, 'tsnTrainIndices');
  const avg = Math.floor(numFrames / numSegments);
  if (avg > 0) return Array.from({ length: numSegments }, (_, s) => s * avg + rng.int(avg));
  return shortClip(numFrames, numSegments, options.shortClip ?? 'repeat-first');
}
