import { InvalidArgumentError } from '@vlfer/core';
import { pilResize, warpAffine, type Affine } from '@vlfer/image';
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

/**
 * The ArcFace template for a `size × size` crop, as insightface's `estimate_norm` (`insightface/utils/face_align.py`)
 * builds it: sizes that are multiples of 112 (112, 224, 336, 448 …) scale the 112 template by size / 112; multiples
 * of 128 that are not multiples of 112 (128, 256, 384, 512 …) use the 128-pixel layout — scale size / 128 and x
 * shifted by 8 · size / 128. The template and its scaling are float32 there (`arcface_dst` is a float32 array), so the
 * coordinates are rounded to float32 here too. insightface refuses other sizes (an assert); vlfer scales the 112
 * template by size / 112 for them (its behaviour before the 128 layout was added), which no reference checks.
 */
export function alignmentTemplate(size: number): Point[] {
  if (!(Number.isInteger(size) && size > 0))
    throw new InvalidArgumentError({
      functionName: 'alignmentTemplate',
      argument: 'size',
      message: `must be a positive integer, got ${size}`,
    });
  const by128 = size % 112 !== 0 && size % 128 === 0;
  const ratio = Math.fround(by128 ? size / 128 : size / 112);
  const shift = by128 ? 8 * ratio : 0;
  const f = Math.fround;
  return ARCFACE_TEMPLATE_112.map(([x, y]) => [f(f(f(x) * ratio) + shift), f(f(y) * ratio)]);
}

/** A 2×3 affine matrix `[a, b, tx, c, d, ty]` (from `@vlfer/image`, where `warpAffine` is). */
export type { Affine };

/**
 * The similarity transform (rotation, uniform scale, translation; no reflection) that maps `src` onto `dst` in the
 * least-squares sense (Umeyama 1991, as scikit-image's `SimilarityTransform.estimate` used by InsightFace), in its
 * closed form for 2-D: with centred points, a = Σ(s·d)/Σ|s|², b = Σ(s×d)/Σ|s|².
 * `float32Dst`: `dst` is a float32 array as insightface's template is, so its mean and the centred points are rounded
 * to float32 as numpy computes them (`dst.mean(axis=0)`, `dst - dst_mean` in scikit-image's `_umeyama`); the matrix
 * then equals scikit-image's to ~1e-15 instead of ~1e-8, which decides rounding in `warpAffine`'s fixed point.
 * @param src [points, 2] e.g. detected landmarks @param dst [points, 2] e.g. `alignmentTemplate(224)`
 */
export function similarityTransform(
  src: readonly Point[],
  dst: readonly Point[],
  options: { float32Dst?: boolean } = {},
): Affine {
  const n = src.length;
  if (n < 2 || dst.length !== n)
    throw new InvalidArgumentError({
      functionName: 'similarityTransform',
      argument: 'dst',
      message: `needs as many points as src (at least 2), got ${n} and ${dst.length}`,
    });
  const f = options.float32Dst ? Math.fround : (v: number) => v;
  let msx = 0,
    msy = 0,
    mdx = 0,
    mdy = 0;
  for (let i = 0; i < n; i++) {
    msx += src[i]![0];
    msy += src[i]![1];
    mdx = f(mdx + dst[i]![0]);
    mdy = f(mdy + dst[i]![1]);
  }
  msx /= n;
  msy /= n;
  mdx = f(mdx / n);
  mdy = f(mdy / n);
  let sxx = 0,
    sdot = 0,
    scross = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i]![0] - msx,
      sy = src[i]![1] - msy,
      dx = f(dst[i]![0] - mdx),
      dy = f(dst[i]![1] - mdy);
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
 * Names how crops are made (aligned: `warpAffine`'s resampling, OpenCV's, from `@vlfer/image`, and
 * `alignmentTemplate`'s layout; box: Pillow's crop + bilinear resize) in crop cache keys: change it whenever crop
 * pixels change, so crops cached by an older vlfer are not reused.
 */
export const CROP_VERSION = 'opencv-warpaffine-q10-5-15+insightface-estimate-norm+pillow-crop-resize-bilinear';

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
  const transform = similarityTransform(landmarks, alignmentTemplate(size), { float32Dst: true });
  return { image: warpAffine(img, transform, size, size), transform };
}

/** The largest crop Pillow makes: `Image.crop` raises `DecompressionBombError` above 2 × `Image.MAX_IMAGE_PIXELS`. */
const PILLOW_CROP_LIMIT = 2 * 89_478_485;

/** Python's `round` of a float: halves go to the even integer (as Pillow's `Image.crop` rounds its box). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // halves up
  return (r - x === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0; // + 0: Python's ints have no −0
}

/**
 * A box crop as Pillow makes it: the box grown by `margin` (a fraction of its size on each side), made square around
 * its centre when `square`, cut with `Image.crop` (corners rounded half to even; parts outside the image are 0), then
 * `Image.resize((size, size), BILINEAR)` — Pillow's resize, whose filter widens with the reduction, so a large face
 * brought down to 224 pixels is averaged, not aliased (a bilinear warp reads 4 pixels per output pixel whatever the
 * scale). Kept at its own size when `size` is omitted. Byte for byte Pillow 9.4's on real photos
 * (test-data/pillow/box-crops.json). A box whose crop would exceed Pillow's limit (`MAX_IMAGE_PIXELS` × 2 =
 * 178,956,970 pixels, where `Image.crop` raises `DecompressionBombError`) is refused.
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
  const size = options.size;
  if (size !== undefined && !(Number.isInteger(size) && size >= 1))
    throw new InvalidArgumentError({
      functionName: 'cropFace',
      argument: 'size',
      message: `must be a whole number of pixels ≥ 1, got ${size}`,
    });
  const { x, y, width, height } = box;
  if (![x, y, width, height].every(Number.isFinite) || !(width > 0 && height > 0))
    throw new InvalidArgumentError({
      functionName: 'cropFace',
      argument: 'box',
      message: `needs finite x, y and a positive finite width and height, got x ${x}, y ${y}, width ${width}, height ${height}`,
    });
  let w = box.width * (1 + 2 * margin);
  let h = box.height * (1 + 2 * margin);
  if (options.square ?? true) w = h = Math.max(w, h);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const [x0, y0, x1, y1] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2].map(roundHalfEven) as [
    number,
    number,
    number,
    number,
  ];
  if (!(Number.isFinite(w) && Number.isFinite(h) && (x1 - x0) * (y1 - y0) <= PILLOW_CROP_LIMIT))
    throw new InvalidArgumentError({
      functionName: 'cropFace',
      argument: 'box',
      message: `with its margin is ${Number.isFinite(w) ? x1 - x0 : w}x${Number.isFinite(h) ? y1 - y0 : h} pixels, more than Pillow crops (${PILLOW_CROP_LIMIT} pixels: DecompressionBombError)`,
    });
  if (!(x1 - x0 >= 1 && y1 - y0 >= 1))
    throw new InvalidArgumentError({
      functionName: 'cropFace',
      argument: 'box',
      message: `is empty (${box.width}x${box.height}, ${x1 - x0}x${y1 - y0} whole pixels with the margin)`,
    });
  const cut = cropRegion(img, x0, y0, x1, y1);
  if (size === undefined) return cut;
  const data = pilResize(cut.data, cut.width, cut.height, cut.channels, size, size, 'bilinear');
  return { data, width: size, height: size, channels: cut.channels };
}

/** Pixels [x0, x1) × [y0, y1) of `img` (whole-pixel bounds, any of them outside the image: those pixels are 0). */
function cropRegion(img: RgbImage, x0: number, y0: number, x1: number, y1: number): RgbImage {
  const c = img.channels;
  const width = x1 - x0,
    height = y1 - y0;
  const data = new Uint8Array(width * height * c);
  const left = Math.max(x0, 0),
    right = Math.min(x1, img.width);
  if (right > left)
    for (let y = Math.max(y0, 0); y < Math.min(y1, img.height); y++) {
      const from = (y * img.width + left) * c;
      data.set(img.data.subarray(from, from + (right - left) * c), ((y - y0) * width + (left - x0)) * c);
    }
  return { data, width, height, channels: c };
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
