import { checkFiniteNumber, InvalidArgumentError } from '@vlfer/core';
import { resizeBilinear } from '@vlfer/image';
import { clampPatchCentre, type PatchLocation } from './visual-prompt.js';

/**
 * Min-max a CAM to uint8 as `returnCAM` does on a float32 map, `np.uint8(255 · ((cam − min) / (max − min)))`: each
 * step rounded to float32 as numpy computes it, then truncated; a constant map gives zeros.
 * @param cam row-major activation map, any length @returns the same layout in [0, 255]
 */
export function camToUint8(cam: Float32Array): Uint8Array {
  let lo = Infinity,
    hi = -Infinity;
  for (const v of cam) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const f = Math.fround;
  const range = f(hi - lo);
  return Uint8Array.from(cam, (v) => (hi > lo ? Math.floor(f(255 * f(f(v - lo) / range))) : 0));
}

/**
 * The COLORMAP_JET "red" mask of the uint8 CAM resized to S×S by OpenCV's 8-bit INTER_LINEAR, byte for byte
 * (`resizeBilinear` of `@vlfer/image`): 1 where the resized value is ≥ 201, where OpenCV's JET table is red (see
 * `camPatchLocation`), else 0.
 * @param u8 row-major grid×grid map @returns row-major S×S mask
 */
export function camRedMask(u8: Uint8Array, grid: number, S: number): Uint8Array {
  const resized = resizeBilinear({ data: u8, width: grid, height: grid, channels: 1 }, S, S).data;
  return Uint8Array.from(resized, (v) => (v >= 201 ? 1 : 0));
}

/** The 8 neighbours of a pixel, clockwise on screen (rows down) from east: [row step, column step]. */
const RING: readonly (readonly [number, number])[] = [
  [0, 1],
  [1, 1],
  [1, 0],
  [1, -1],
  [0, -1],
  [-1, -1],
  [-1, 0],
  [-1, 1],
];

/**
 * The outer border of the 8-connected component whose first pixel in row-major order is `start`, as OpenCV's
 * `findContours` (Suzuki–Abe border following, `CHAIN_APPROX_NONE`) lists it: border pixels in order, a pixel again
 * where the border passes it twice (a one-pixel-wide spur). @returns [row, col] points; one for a lone pixel
 */
export function traceOuterBorder(mask: Uint8Array, S: number, start: number): [number, number][] {
  const on = (r: number, c: number) => r >= 0 && c >= 0 && r < S && c < S && mask[r * S + c] !== 0;
  const r0 = Math.floor(start / S),
    c0 = start % S;
  // 3.1: clockwise from the west neighbour (background: `start` is its component's first pixel) for a set pixel
  let d1 = -1;
  for (let k = 0; k < 8 && d1 < 0; k++)
    if (on(r0 + RING[(4 + k) % 8]![0], c0 + RING[(4 + k) % 8]![1])) d1 = (4 + k) % 8;
  if (d1 < 0) return [[r0, c0]];
  const r1 = r0 + RING[d1]![0],
    c1 = c0 + RING[d1]![1];
  const points: [number, number][] = [];
  // 3.3–3.5: around the current pixel, counter-clockwise from the one after the previous pixel
  let [r3, c3, from] = [r0, c0, d1];
  for (;;) {
    let d4 = -1;
    for (let k = 1; k <= 8 && d4 < 0; k++) {
      const d = (from - k + 8) % 8;
      if (on(r3 + RING[d]![0], c3 + RING[d]![1])) d4 = d;
    }
    points.push([r3, c3]);
    const r4 = r3 + RING[d4]![0],
      c4 = c3 + RING[d4]![1];
    if (r4 === r0 && c4 === c0 && r3 === r1 && c3 === c1) return points;
    // the direction from the new pixel back to the one just left
    from = (d4 + 4) % 8;
    [r3, c3] = [r4, c4];
  }
}

/**
 * Area and centroid of a closed polygon through `points` ([row, col]) as OpenCV's `contourArea` and `moments` give
 * them for a contour (Green's theorem over the edges): area |a00| / 2, centroid (m01 / m00, m10 / m00).
 * @returns area 0 (and a NaN centroid) for a point, a line or a spur
 */
export function polygonMoments(points: readonly (readonly [number, number])[]): {
  area: number;
  row: number;
  col: number;
} {
  let a00 = 0,
    a10 = 0,
    a01 = 0;
  for (let i = 0; i < points.length; i++) {
    const [y0, x0] = points[i === 0 ? points.length - 1 : i - 1]!;
    const [y1, x1] = points[i]!;
    const dxy = x0 * y1 - x1 * y0;
    a00 += dxy;
    a10 += dxy * (x0 + x1);
    a01 += dxy * (y0 + y1);
  }
  return { area: Math.abs(a00) / 2, row: a01 / (3 * a00), col: a10 / (3 * a00) };
}

/**
 * The 8-connected component of a mask that holds `start`, marked in `seen` as it is visited.
 * @returns its pixels (row-major indices), `start` first
 */
function fillComponent(mask: Uint8Array, S: number, start: number, seen: Uint8Array): number[] {
  const pixels: number[] = [];
  const stack = [start];
  seen[start] = 1;
  while (stack.length) {
    const p = stack.pop()!;
    pixels.push(p);
    const py = Math.floor(p / S),
      px = p % S;
    for (const [dy, dx] of RING) {
      const qy = py + dy,
        qx = px + dx;
      const q = qy * S + qx;
      if (qy >= 0 && qx >= 0 && qy < S && qx < S && mask[q] && !seen[q]) {
        seen[q] = 1;
        stack.push(q);
      }
    }
  }
  return pixels;
}

/**
 * The largest external contour of a mask by area, as HESP picks it (`findContours(RETR_EXTERNAL)`, the first of the
 * largest `contourArea` in OpenCV's list, which holds the contours last-found first), with its centroid. A component
 * inside another's hole cannot be the largest (its encloser's polygon covers it), so every component is traced.
 * @param mask row-major S×S, non-zero = set @returns area 0 when no contour encloses any area (the reference crashes)
 */
export function largestContour(mask: Uint8Array, S: number): { area: number; row: number; col: number } {
  const seen = new Uint8Array(S * S);
  let best = { area: 0, row: NaN, col: NaN };
  for (let start = 0; start < S * S; start++) {
    if (!mask[start] || seen[start]) continue;
    // mark the component, so that only its first pixel starts a trace
    fillComponent(mask, S, start, seen);
    const m = polygonMoments(traceOuterBorder(mask, S, start));
    // ≥: on a tie the later-found contour, which OpenCV lists first
    if (m.area > 0 && m.area >= best.area) best = m;
  }
  return best;
}

/**
 * The largest 8-connected component of a mask (the first found in row-major order on a tie) and its size and pixel
 * sums: the fallback location where no contour encloses any area. @param mask row-major S×S, non-zero = set
 * @returns n = 0 for an empty mask
 */
export function largestComponent(mask: Uint8Array, S: number): { n: number; sy: number; sx: number } {
  const seen = new Uint8Array(S * S);
  let best = { n: 0, sy: 0, sx: 0 };
  for (let start = 0; start < S * S; start++) {
    if (!mask[start] || seen[start]) continue;
    const pixels = fillComponent(mask, S, start, seen);
    let sy = 0,
      sx = 0;
    for (const p of pixels) {
      sy += Math.floor(p / S);
      sx += p % S;
    }
    if (pixels.length > best.n) best = { n: pixels.length, sy, sx };
  }
  return best;
}

/**
 * HESP's "expression-sensitive location" from a class activation map, as `core/train.py` computes it after the CAM:
 * min-max the grid×grid CAM to uint8, resize to image×image (cv2 INTER_LINEAR: half-pixel centres, edges clamped),
 * colour it with COLORMAP_JET, keep "red" pixels (HSV H ≤ 10, S, V ≥ 50), take the largest external contour by area
 * and its centroid truncated to integers (`int(M['m10'] / M['m00'])`), clamp so the patch fits. OpenCV's JET table
 * (256 entries, interpolated) is red in that sense exactly for 8-bit values ≥ 201 (checked with OpenCV 4.6: 201..255),
 * so the red mask is a threshold. The contour is traced and its area and moments taken as OpenCV does
 * (`traceOuterBorder`, `polygonMoments`, `largestContour`), after OpenCV's own fixed-point resize (`camRedMask`).
 * Where no contour encloses any area (only lines or lone pixels are red; the reference crashes there) the centroid
 * of the largest component is taken; a constant map (no red pixel) is refused.
 * Stages: `camToUint8` → `camRedMask` → `largestContour` (`largestComponent`) → `clampPatchCentre`.
 * @param cam row-major grid×grid activation map
 * @throws InvalidArgumentError when `cam` is not grid×grid or is constant
 */
export function camPatchLocation(
  cam: Float32Array,
  grid: number,
  options: { imageSize?: number; patchSize?: number } = {},
): PatchLocation {
  const S = options.imageSize ?? 224;
  checkFiniteNumber(grid, { functionName: 'camPatchLocation', argument: 'grid' }, { min: 1, integer: true });
  if (cam.length !== grid * grid)
    throw new InvalidArgumentError({
      functionName: 'camPatchLocation',
      argument: 'cam',
      message: `length ${cam.length} is not ${grid}×${grid}`,
    });
  const bad = cam.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw new InvalidArgumentError({
      functionName: 'camPatchLocation',
      argument: 'cam',
      message: `cell ${bad} holds ${cam[bad]}; a class activation map holds finite numbers`,
    });
  const mask = camRedMask(camToUint8(cam), grid, S);
  // a constant map (a uniform frame) has no maximum to map to 255: no red pixel, no region (the reference crashes)
  if (!mask.some((v) => v !== 0))
    throw new InvalidArgumentError({
      functionName: 'camPatchLocation',
      argument: 'cam',
      message:
        'the class activation map is constant (a uniform first training frame?), so the CAM rule finds no region to put the visual prompt on; give its centre instead (location: { row, col }, CLI --location row,col)',
    });
  const contour = largestContour(mask, S);
  const fallback = contour.area > 0 ? undefined : largestComponent(mask, S);
  const [row, col] = fallback ? [fallback.sy / fallback.n, fallback.sx / fallback.n] : [contour.row, contour.col];
  // `int(m01 / m00)` in the reference: truncated toward zero, not rounded
  return clampPatchCentre({ row: Math.trunc(row), col: Math.trunc(col) }, options.patchSize ?? 56, S);
}
