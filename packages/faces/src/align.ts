import { InvalidArgumentError } from '@vlfer/core';
import type { Face, FaceBox, Point, RgbImage } from './types.js';

/**
 * The five-point template of 112×112 aligned faces used by ArcFace/InsightFace (right eye, left eye, nose, right and
 * left mouth corners, in image order — the order of YuNet's landmarks). `alignmentTemplate(size)` scales it.
 */
export const ARCFACE_TEMPLATE_112: readonly Point[] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

/** The ArcFace template for a `size × size` crop (224 for CLIP): the 112 template scaled by size / 112. */
export function alignmentTemplate(size: number): Point[] {
  return ARCFACE_TEMPLATE_112.map(([x, y]) => [(x * size) / 112, (y * size) / 112]);
}

/** A 2×3 affine matrix `[a, b, tx, c, d, ty]`: x' = a·x + b·y + tx, y' = c·x + d·y + ty. */
export type Affine = [number, number, number, number, number, number];

/**
 * The similarity transform (rotation, uniform scale, translation; no reflection) that maps `src` onto `dst` in the
 * least-squares sense (Umeyama 1991, as scikit-image's `SimilarityTransform.estimate` used by InsightFace).
 * @param src [points, 2] e.g. detected landmarks @param dst [points, 2] e.g. `alignmentTemplate(224)`
 */
export function similarityTransform(src: readonly Point[], dst: readonly Point[]): Affine {
  const n = src.length;
  if (n < 2 || dst.length !== n)
    throw new InvalidArgumentError({
      functionName: 'similarityTransform',
      argument: 'dst',
      message: `needs as many points as src (at least 2), got ${n} and ${dst.length}`,
    });
  let msx = 0,
    msy = 0,
    mdx = 0,
    mdy = 0;
  for (let i = 0; i < n; i++) {
    msx += src[i]![0];
    msy += src[i]![1];
    mdx += dst[i]![0];
    mdy += dst[i]![1];
  }
  msx /= n;
  msy /= n;
  mdx /= n;
  mdy /= n;
  // for 2-D similarity the optimum has the closed form a = Σ(s·d)/Σ|s|², b = Σ(s×d)/Σ|s|² with centred points
  let sxx = 0,
    sdot = 0,
    scross = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i]![0] - msx,
      sy = src[i]![1] - msy,
      dx = dst[i]![0] - mdx,
      dy = dst[i]![1] - mdy;
    sxx += sx * sx + sy * sy;
    sdot += sx * dx + sy * dy;
    scross += sx * dy - sy * dx;
  }
  if (!(sxx > 0))
    throw new InvalidArgumentError({
      functionName: 'similarityTransform',
      argument: 'src',
      message: 'all points coincide; no transform is defined',
    });
  const a = sdot / sxx;
  const b = scross / sxx;
  return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)];
}

/** Apply an affine matrix to a point. */
export function applyAffine(m: Affine, [x, y]: Point): Point {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

/**
 * Warp an image by `m` (image → output coordinates) into a `width × height` output with bilinear sampling of the
 * source at the inverse-mapped pixel centres; outside the source is 0 (as `cv2.warpAffine`'s default border).
 */
export function warpAffine(img: RgbImage, m: Affine, width: number, height: number): RgbImage {
  const det = m[0] * m[4] - m[1] * m[3];
  if (!(Math.abs(det) > 1e-12))
    throw new InvalidArgumentError({ functionName: 'warpAffine', argument: 'm', message: 'is singular' });
  // inverse of the linear part, then of the translation
  const ia = m[4] / det,
    ib = -m[1] / det,
    ic = -m[3] / det,
    id = m[0] / det;
  const itx = -(ia * m[2] + ib * m[5]);
  const ity = -(ic * m[2] + id * m[5]);
  const ch = img.channels;
  const out = new Uint8Array(width * height * ch);
  const { data, width: W, height: H } = img;
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      const x = ia * u + ib * v + itx;
      const y = ic * u + id * v + ity;
      const x0 = Math.floor(x),
        y0 = Math.floor(y);
      const fx = x - x0,
        fy = y - y0;
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (const [dx, dy, w] of [
          [0, 0, (1 - fx) * (1 - fy)],
          [1, 0, fx * (1 - fy)],
          [0, 1, (1 - fx) * fy],
          [1, 1, fx * fy],
        ] as const) {
          const xx = x0 + dx,
            yy = y0 + dy;
          if (w === 0 || xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
          acc += w * data[(yy * W + xx) * ch + c]!;
        }
        out[(v * width + u) * ch + c] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return { data: out, width, height, channels: ch };
}

/** The face aligned onto the ArcFace template: a `size × size` crop whose five landmarks sit on `alignmentTemplate(size)`. */
export function alignFace(
  img: RgbImage,
  landmarks: readonly Point[],
  size = 224,
): { image: RgbImage; transform: Affine } {
  if (landmarks.length !== 5)
    throw new InvalidArgumentError({
      functionName: 'alignFace',
      argument: 'landmarks',
      message: `needs the 5 landmarks, got ${landmarks.length}; detectors without landmarks (UltraFace) can only crop boxes`,
    });
  const transform = similarityTransform(landmarks, alignmentTemplate(size));
  return { image: warpAffine(img, transform, size, size), transform };
}

/**
 * A box crop: the box grown by `margin` (a fraction of its size on each side), made square around its centre when
 * `square`, then resampled to `size × size` (or kept at its own size when `size` is omitted). Parts outside the image
 * are 0.
 */
export function cropFace(
  img: RgbImage,
  box: FaceBox,
  options: { margin?: number; square?: boolean; size?: number } = {},
): RgbImage {
  const margin = options.margin ?? 0.2;
  if (!(margin >= 0 && margin <= 5))
    throw new InvalidArgumentError({
      functionName: 'cropFace',
      argument: 'margin',
      message: `must be in [0, 5], got ${margin}`,
    });
  let w = box.width * (1 + 2 * margin);
  let h = box.height * (1 + 2 * margin);
  if (options.square ?? true) w = h = Math.max(w, h);
  if (!(w >= 1 && h >= 1))
    throw new InvalidArgumentError({
      functionName: 'cropFace',
      argument: 'box',
      message: `is empty (${box.width}x${box.height})`,
    });
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const outW = options.size ?? Math.round(w);
  const outH = options.size ?? Math.round(h);
  const sx = outW / w,
    sy = outH / h;
  // output pixel centre (u + ½) ↔ source (x0 + (u + ½) / sx); warpAffine samples at integer coordinates, so shift by ½
  const x0 = cx - w / 2,
    y0 = cy - h / 2;
  const m: Affine = [sx, 0, -x0 * sx + (sx - 1) / 2, 0, sy, -y0 * sy + (sy - 1) / 2];
  return warpAffine(img, m, outW, outH);
}

/**
 * The crop the pipelines encode for one face: aligned onto the ArcFace template (`align`, needs landmarks) or the box
 * grown by `margin`, made square and resampled, both `size × size`. The one definition for Node (`FaceCropper`)
 * and the browser app.
 */
export function faceCrop(
  img: RgbImage,
  face: Face,
  options: { align: boolean; size: number; margin: number },
): RgbImage {
  if (options.align && !face.landmarks)
    throw new InvalidArgumentError({
      functionName: 'faceCrop',
      argument: 'align',
      message: 'needs landmarks; this face has none (UltraFace finds boxes only)',
    });
  return options.align
    ? alignFace(img, face.landmarks!, options.size).image
    : cropFace(img, face.box, { margin: options.margin, square: true, size: options.size });
}
