import { assertShape, checkFiniteNumber, InvalidArgumentError, type Tensor, type Tensor4D } from '@vlfer/core';

/** Row/column of the patch centre in the 224×224 frame (HESP: one location per run). */
export interface PatchLocation {
  row: number;
  col: number;
}

/**
 * Clamp a centre so a `size`-pixel patch stays inside an `image`-pixel frame: rounded, then in [⌊size/2⌋,
 * image − 1 − ⌊size/2⌋] (HESP: [28, 195] for 56 in 224). The patch's first row is centre − ⌊size/2⌋
 * (`applyVisualPrompt`), so odd sizes fit too.
 * @throws InvalidArgumentError for a centre that is no number, or a patch larger than the frame
 */
export function clampPatchCentre(location: PatchLocation, size = 56, image = 224): PatchLocation {
  const fn = 'clampPatchCentre';
  checkFiniteNumber(image, { functionName: fn, argument: 'image' }, { min: 1, integer: true });
  checkFiniteNumber(size, { functionName: fn, argument: 'size' }, { min: 1, integer: true });
  // a centre c with c − ⌊size/2⌋ ≥ 0 and c + ⌈size/2⌉ ≤ image − 1 (HESP's bound) exists when 2⌊size/2⌋ + 1 ≤ image
  if (2 * Math.floor(size / 2) + 1 > image)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'size',
      message: `a ${size}-pixel patch has no centre inside a ${image}-pixel frame (at most ${image % 2 ? image : image - 1} pixels, ${image - (image % 2 ? 1 : 2)} for an even patch)`,
    });
  checkFiniteNumber(location?.row, { functionName: fn, argument: 'location.row' });
  checkFiniteNumber(location?.col, { functionName: fn, argument: 'location.col' });
  const half = Math.floor(size / 2);
  const clamp = (v: number) => Math.min(Math.max(Math.round(v), half), image - 1 - half);
  return { row: clamp(location.row), col: clamp(location.col) };
}

/**
 * Add the learnable pixel-space prompt to every frame: frames[:, :, r−s/2 : r+s/2, c−s/2 : c+s/2] += patch, on
 * [0, 1] pixels before CLIP normalisation, no clamping (as HESP). Returns a new tensor.
 * @param frames [frames, 3, H, W] pixels in [0, 1]
 * @param patch [3, s, s]
 */
export function applyVisualPrompt(frames: Tensor4D, patch: Tensor<'R3'>, location: PatchLocation): Tensor4D {
  assertShape(frames, [null, 3, null, null], 'frames', 'applyVisualPrompt');
  assertShape(patch, [3, null, null], 'patch', 'applyVisualPrompt');
  const s = patch.dims[1];
  assertShape(patch, [3, s, s], 'patch', 'applyVisualPrompt');
  if (typeof location?.row !== 'number' || typeof location?.col !== 'number')
    throw new InvalidArgumentError({
      functionName: 'applyVisualPrompt',
      argument: 'location',
      message: `expected { row, col } (pixels), got ${location === undefined || location === null ? String(location) : JSON.stringify(location)}`,
    });
  const [n, , h, w] = frames.dims;
  const top = location.row - Math.floor(s / 2);
  const left = location.col - Math.floor(s / 2);
  if (top < 0 || left < 0 || top + s > h || left + s > w || !Number.isInteger(top) || !Number.isInteger(left)) {
    throw new InvalidArgumentError({
      functionName: 'applyVisualPrompt',
      argument: 'location',
      message: `a ${s}-pixel patch centred at (${location.row}, ${location.col}) does not fit a ${h}×${w} frame (use clampPatchCentre)`,
    });
  }
  const out = Float32Array.from(frames.data);
  for (let f = 0; f < n; f++)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++) {
          out[((f * 3 + c) * h + top + y) * w + left + x]! += patch.data[(c * s + y) * s + x]!;
        }
  return { dtype: 'float32', data: out, dims: [n, 3, h, w] };
}
