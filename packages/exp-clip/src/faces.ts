import { InvalidArgumentError, throwIfAborted } from '@vlfer/core';
import { sampleClipFrames } from '@vlfer/encoders/node';
import { createFaceCropper, type FaceCounts } from '@vlfer/faces/node';
import type { EvalData } from './data.js';
import type { EvalOptions } from './options.js';
import type { PipelineHooks } from './evaluate.js';

/** What the faces step did: the settings in words and the counts (images/clips with 0, 1, > 1 faces). */
export interface FacesReport { description: string; counts: FaceCounts }

/**
 * Replace each fold's images (or each clip's sampled frames) by face crops (`@vlfer/faces`): images keep their label
 * and name their source; clips keep their frame count (the followed face's crop per sampled frame). Items without a
 * face follow `faces.noFace`. Detections and crops are cached, so a rerun detects nothing again.
 */
export async function cropFaces(data: EvalData[], options: EvalOptions, hooks: PipelineHooks, log: (line: string) => void): Promise<FacesReport> {
  const cropper = await createFaceCropper(options.faces!, { clips: data.some((d) => d.kind !== 'images'), ...(options.threads ? { threads: options.threads } : {}), log });
  try {
    for (const d of data) {
      if (d.kind === 'images') {
        d.items = await cropper.cropImages(d.items, hooks);
      } else if (d.kind === 'frames') {
        const kept = [];
        for (const [i, clip] of d.items.entries()) {
          throwIfAborted(hooks.signal, 'face detection');
          const frames = await sampleClipFrames({ frameDir: clip.frameDir }, { numSegments: options.frames, shortClip: options.shortClip });
          const crops = await cropper.clipCrops(frames.items as string[], clip.frameDir);
          if (crops.length > 0) kept.push({ ...clip, crops });
          hooks.onProgress?.({ phase: 'faces', done: i + 1, total: d.items.length, unit: 'clips' });
        }
        d.items = kept;
      } else {
        throw new InvalidArgumentError({ functionName: 'evaluateZeroShot', argument: 'faces', message: 'works on images and frame directories; extract the frames of video files first (e.g. ffmpeg -i clip.mp4 frames/%05d.png)' });
      }
    }
    log(cropper.summary());
    return { description: cropper.describe(), counts: { ...cropper.counts } };
  } finally {
    await cropper.dispose();
  }
}
