import sharp from 'sharp';
import { DataFormatError, type Rng, type Tensor4D } from '@vlfer/core';
import { pilResize } from '@vlfer/encoders';

/** Crop box and flip chosen once per clip and applied to all its frames (HESP's Group* transforms). */
export interface ClipAugmentation {
  flip: boolean;
  crop: { x: number; y: number; w: number; h: number };
}

/**
 * HESP's training augmentation parameters for a size×size frame (after GroupResize): GroupRandomHorizontalFlip
 * (p 0.5), then GroupRandomSizedCrop: up to 10 tries of area U[0.08, 1]·A and aspect U[3/4, 4/3]
 * (w = round(√(area·aspect)), h = round(√(area/aspect)), swapped with p 0.5) that fit; otherwise the whole frame.
 */
export function sampleClipAugmentation(rng: Rng, size = 224): ClipAugmentation {
  const flip = rng.next() < 0.5;
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = size * size * (0.08 + 0.92 * rng.next());
    const aspect = 3 / 4 + (4 / 3 - 3 / 4) * rng.next();
    let w = Math.round(Math.sqrt(area * aspect));
    let h = Math.round(Math.sqrt(area / aspect));
    if (rng.next() < 0.5) [w, h] = [h, w];
    if (w <= size && h <= size) return { flip, crop: { x: rng.int(size - w + 1), y: rng.int(size - h + 1), w, h } };
  }
  return { flip, crop: { x: 0, y: 0, w: size, h: size } };
}

/**
 * Load frames as HESP's training pipeline does: decode, resize to size×size (bilinear, aspect not kept), flip,
 * crop the box and resize it back to size×size (bilinear), scale to [0, 1]. Resizing is Pillow-exact.
 * @returns [frames, 3, size, size]
 */
export async function loadAugmentedFrames(paths: readonly string[], aug: ClipAugmentation | null, size = 224): Promise<Tensor4D> {
  const per = 3 * size * size;
  const out = new Float32Array(paths.length * per);
  await Promise.all(paths.map(async (p, f) => {
    let raw: { data: Uint8Array; info: { width: number; height: number; channels: number } };
    try {
      raw = await sharp(p, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    } catch (error) {
      throw new DataFormatError({ file: p, message: `cannot decode frame (${(error as Error).message})`, cause: error });
    }
    let img = pilResize(raw.data, raw.info.width, raw.info.height, 3, size, size, 'bilinear');
    if (aug) {
      if (aug.flip) {
        const flipped = new Uint8Array(img.length);
        for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) flipped[(y * size + x) * 3 + c] = img[(y * size + size - 1 - x) * 3 + c]!;
        img = flipped;
      }
      const { x, y, w, h } = aug.crop;
      if (w !== size || h !== size) {
        const crop = new Uint8Array(w * h * 3);
        for (let r = 0; r < h; r++) crop.set(img.subarray(((y + r) * size + x) * 3, ((y + r) * size + x + w) * 3), r * w * 3);
        img = pilResize(crop, w, h, 3, size, size, 'bilinear');
      }
    }
    const plane = size * size;
    for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[f * per + c * plane + i] = img[i * 3 + c]! / 255;
  }));
  return { dtype: 'float32', data: out, dims: [paths.length, 3, size, size] };
}
