import { InvalidArgumentError } from '@vlfer/core';
import { clampPatchCentre, type PatchLocation } from './visual-prompt.js';

/**
 * Min-max a CAM to uint8 (`np.uint8(255 · (cam − min) / (max − min))`, truncating); a constant map gives zeros.
 * @param cam row-major activation map, any length @returns the same layout in [0, 255]
 */
export function camToUint8(cam: Float32Array): Uint8Array {
  let lo = Infinity,
    hi = -Infinity;
  for (const v of cam) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return Uint8Array.from(cam, (v) => (hi > lo ? Math.floor((255 * (v - lo)) / (hi - lo)) : 0));
}

/**
 * The COLORMAP_JET "red" mask of the uint8 CAM resized to S×S (cv2 INTER_LINEAR: half-pixel centres, edges
 * clamped, rounded): 1 where the resized value is ≥ 202, else 0.
 * @param u8 row-major grid×grid map @returns row-major S×S mask
 */
export function camRedMask(u8: Uint8Array, grid: number, S: number): Uint8Array {
  const scale = grid / S;
  const coord = (x: number) => {
    const f = (x + 0.5) * scale - 0.5;
    const i0 = Math.floor(f);
    const t = f - i0;
    return [Math.min(Math.max(i0, 0), grid - 1), Math.min(Math.max(i0 + 1, 0), grid - 1), t] as const;
  };
  const mask = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    const [y0, y1, ty] = coord(y);
    for (let x = 0; x < S; x++) {
      const [x0, x1, tx] = coord(x);
      const v =
        (1 - ty) * ((1 - tx) * u8[y0 * grid + x0]! + tx * u8[y0 * grid + x1]!) +
        ty * ((1 - tx) * u8[y1 * grid + x0]! + tx * u8[y1 * grid + x1]!);
      if (Math.round(v) >= 202) mask[y * S + x] = 1;
    }
  }
  return mask;
}

/**
 * The largest 8-connected component of a mask (the first found in row-major order on a tie) and its size and pixel
 * sums. @param mask row-major S×S, non-zero = set @returns n = 0 for an empty mask
 */
export function largestComponent(mask: Uint8Array, S: number): { n: number; sy: number; sx: number } {
  const seen = new Uint8Array(S * S);
  let best = { n: 0, sy: 0, sx: 0 };
  const stack: number[] = [];
  for (let start = 0; start < S * S; start++) {
    if (!mask[start] || seen[start]) continue;
    let n = 0,
      sy = 0,
      sx = 0;
    stack.push(start);
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const py = Math.floor(p / S),
        px = p % S;
      n++;
      sy += py;
      sx += px;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const qy = py + dy,
            qx = px + dx;
          if (qy < 0 || qx < 0 || qy >= S || qx >= S) continue;
          const q = qy * S + qx;
          if (mask[q] && !seen[q]) {
            seen[q] = 1;
            stack.push(q);
          }
        }
    }
    if (n > best.n) best = { n, sy, sx };
  }
  return best;
}

/**
 * HESP's "expression-sensitive location" from a class activation map, as `core/train.py` computes it after the CAM:
 * min-max the grid×grid CAM to uint8, resize to image×image (cv2 INTER_LINEAR: half-pixel centres, edges clamped),
 * colour it with COLORMAP_JET, keep "red" pixels (HSV H ≤ 10, S, V ≥ 50), take the largest external contour and its
 * centroid, clamp so the patch fits. For JET, H ≤ 10 holds exactly where the 8-bit value v ≥ 202 (r = 1, b = 0,
 * g = 3.5 − 4·v/255 ⇒ hue 30·g/r ≤ 10 ⇔ v/255 ≥ 0.7917) and S = 1, V ≥ 0.5 there, so the red mask is a threshold.
 * The largest contour is taken as the largest 8-connected component and its centroid as the component's pixel mean
 * (equal to the contour moments up to boundary pixels).
 * Stages: `camToUint8` → `camRedMask` → `largestComponentCentroid` → `clampPatchCentre`.
 * @param cam row-major grid×grid activation map
 * @throws InvalidArgumentError when `cam` is not grid×grid
 */
export function camPatchLocation(
  cam: Float32Array,
  grid: number,
  options: { imageSize?: number; patchSize?: number } = {},
): PatchLocation {
  const S = options.imageSize ?? 224;
  if (cam.length !== grid * grid)
    throw new InvalidArgumentError({
      functionName: 'camPatchLocation',
      argument: 'cam',
      message: `length ${cam.length} is not ${grid}×${grid}`,
    });
  const best = largestComponent(camRedMask(camToUint8(cam), grid, S), S);
  // the maximum always maps to 255, so the mask is never empty (the reference crashes when it is)
  return clampPatchCentre({ row: best.sy / best.n, col: best.sx / best.n }, options.patchSize ?? 56, S);
}
