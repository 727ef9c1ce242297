import { InvalidArgumentError } from '@vlfer/core';
import type { Face, FaceBox } from './types.js';

/** Intersection over union of two boxes (0 when either is empty). */
export function iou(a: FaceBox, b: FaceBox): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width);
  const y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression (as OpenCV's `NMSBoxes`): faces by descending score; a face is kept when its IoU
 * with every kept face is at most `iouThreshold`; at most `topK` are kept. Ties in score keep the earlier face.
 */
export function nonMaxSuppression(faces: readonly Face[], iouThreshold: number, topK = Infinity): Face[] {
  if (!(iouThreshold >= 0 && iouThreshold <= 1))
    throw new InvalidArgumentError({
      functionName: 'nonMaxSuppression',
      argument: 'iouThreshold',
      message: `must be in [0, 1], got ${iouThreshold}`,
    });
  const order = faces.map((_, i) => i).sort((i, j) => faces[j]!.score - faces[i]!.score || i - j);
  const kept: Face[] = [];
  for (const i of order) {
    if (kept.length >= topK) break;
    const f = faces[i]!;
    if (kept.every((k) => iou(k.box, f.box) <= iouThreshold)) kept.push(f);
  }
  return kept;
}
