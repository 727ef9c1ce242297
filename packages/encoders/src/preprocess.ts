import {
  assertShape,
  checkOneOf,
  DataFormatError,
  describeValue,
  InvalidArgumentError,
  type Rng,
  type Tensor4D,
} from '@vlfer/core';
import {
  pilResize,
  pilResizeToPlanes,
  pilResizeWindow,
  pillowResizeWindow,
  pillowToRgb,
  planeWriter,
  type ByteTables,
  type DecodedImage,
  type PilResampler,
  type PillowImage,
} from '@vlfer/image';

/**
 * How an image becomes pixel values (runtime-neutral; decoding is done by the caller: sharp in Node, a canvas in
 * the browser):
 * - `'clip'`: the model's preprocessor config (CLIPImageProcessor): resize the shortest side to `size` with
 *   bicubic, centre-crop `crop`, rescale to [0, 1], normalise by mean/std;
 * - `'exp-clip'`: resize to crop×crop (aspect ratio not kept) with bilinear, rescale to [0, 1], no normalisation
 *   — the Exp-CLIP paper code (torchvision `Resize((224,224))` + `ToTensor()`) and HESP's frames (`GroupResize`,
 *   normalised later with `normalizePixels`, after the visual prompt is added);
 * - `'openai'`: OpenAI CLIP's own transform (`clip.load(...)[1]`, the default for `.pt` checkpoints): torchvision
 *   `Resize(size, BICUBIC)` on the image in the mode Pillow opened it in (palette and bilevel images by nearest
 *   neighbour, grey+alpha and RGBA premultiplied, CMYK in CMYK, 16-bit grey unclipped: `preprocessPillowImage`),
 *   `CenterCrop` (offset `round((side − crop) / 2)`, half to even: one pixel right of/below `'clip'`'s floor when
 *   side − crop ≡ 3 mod 4), then `convert('RGB')`, rescale and mean/std as `'clip'`. On grey or RGB pixels
 *   (`preprocessRgb`) it differs from `'clip'` only by that crop offset.
 */
export const PREPROCESS_MODES = ['clip', 'exp-clip', 'openai'] as const;
export type PreprocessMode = (typeof PREPROCESS_MODES)[number];

/** The parts of a Hugging Face `preprocessor_config.json` that CLIP preprocessing uses. */
export interface ClipPreprocessorConfig {
  shortestEdge: number;
  cropSize: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/** OpenAI CLIP's preprocessing (224 px; 336 px for ViT-L/14@336 via `withImageSize`). */
export const OPENAI_CLIP_PREPROCESSOR: ClipPreprocessorConfig = {
  shortestEdge: 224,
  cropSize: 224,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

/** Read the fields CLIP preprocessing needs from a parsed `preprocessor_config.json`, naming `file` on error. */
export function parsePreprocessorConfig(
  json: Record<string, any>,
  file = 'preprocessor_config.json',
): ClipPreprocessorConfig {
  if (json === null || typeof json !== 'object') throw new DataFormatError({ file, message: 'expected a JSON object' });
  const size = json.size?.shortest_edge ?? (typeof json.size === 'number' ? json.size : undefined);
  const crop = json.crop_size?.height ?? (typeof json.crop_size === 'number' ? json.crop_size : size);
  const mean = json.image_mean;
  const std = json.image_std;
  const check = (ok: boolean, field: string, want: string) => {
    if (!ok) throw new DataFormatError({ file, field, message: `expected ${want}, got ${describeValue(json[field])}` });
  };
  check(Number.isInteger(size) && size > 0, 'size', '{ "shortest_edge": <int> }');
  check(Number.isInteger(crop) && crop > 0, 'crop_size', '{ "height": <int>, "width": <int> }');
  check(Array.isArray(mean) && mean.length === 3 && mean.every(Number.isFinite), 'image_mean', 'three numbers');
  check(
    Array.isArray(std) && std.length === 3 && std.every((v: number) => Number.isFinite(v) && v > 0),
    'image_std',
    'three positive numbers',
  );
  if (json.crop_size?.width !== undefined && json.crop_size.width !== crop) check(false, 'crop_size', 'a square crop');
  return {
    shortestEdge: size,
    cropSize: crop,
    mean: mean as [number, number, number],
    std: std as [number, number, number],
  };
}

/**
 * Crop box and flip drawn once per clip and applied to all its frames (HESP's Group* transforms), on the
 * crop×crop image that the mode's resize produced.
 */
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

/** Flip and crop+resize (bilinear, Pillow-exact) a size×size interleaved image. */
function augment(img: Uint8Array, size: number, channels: number, aug: ClipAugmentation): Uint8Array {
  let out = img;
  if (aug.flip) {
    const flipped = new Uint8Array(out.length);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < channels; c++)
          flipped[(y * size + x) * channels + c] = out[(y * size + size - 1 - x) * channels + c]!;
    out = flipped;
  }
  const { x, y, w, h } = aug.crop;
  if (!(
    Number.isInteger(x) &&
    Number.isInteger(y) &&
    w > 0 &&
    h > 0 &&
    x >= 0 &&
    y >= 0 &&
    x + w <= size &&
    y + h <= size
  )) {
    throw new InvalidArgumentError({
      functionName: 'preprocessRgb',
      argument: 'augmentation.crop',
      message: `box ${JSON.stringify(aug.crop)} does not fit a ${size}×${size} image`,
    });
  }
  if (w !== size || h !== size) {
    const crop = new Uint8Array(w * h * channels);
    for (let r = 0; r < h; r++)
      crop.set(out.subarray(((y + r) * size + x) * channels, ((y + r) * size + x + w) * channels), r * w * channels);
    out = pilResize(crop, w, h, channels, size, size, 'bilinear');
  }
  return out;
}

/**
 * Output size of the mode's resize step: for `'clip'` HF `get_resize_output_image_size`, for `'openai'` torchvision
 * 0.14 `_compute_resized_output_size`; both give the shorter side `s` and the longer `int(s · long / short)` (a
 * float division truncated, which `Math.floor` of the same double equals).
 */
export function resizedSize(
  width: number,
  height: number,
  mode: PreprocessMode,
  config: ClipPreprocessorConfig,
): [number, number] {
  const s = config.shortestEdge;
  const crop = config.cropSize;
  return mode !== 'exp-clip'
    ? width <= height
      ? [s, Math.floor((s * height) / width)]
      : [Math.floor((s * width) / height), s]
    : [crop, crop];
}

/**
 * Resize, crop, (augment,) rescale and normalise one decoded image into `out` (CHW float32, 3·crop·crop values)
 * at `offset`. Grey images give three equal channels. `resized` lets a caller pass pixels it already resized to
 * `resizedSize` (libvips), skipping the Pillow-exact resize. Without augmentation the resize computes only the
 * centre crop and writes it straight into the planes (`pilResizeToPlanes`).
 * @param options.resampler who runs Pillow's passes (default: WebAssembly SIMD where available)
 */
export function preprocessRgb(
  img: DecodedImage,
  mode: PreprocessMode,
  config: ClipPreprocessorConfig,
  out: Float32Array,
  offset: number,
  options: { augmentation?: ClipAugmentation | null; resized?: boolean; name?: string; resampler?: PilResampler } = {},
): void {
  checkOneOf(mode, PREPROCESS_MODES, { functionName: 'preprocessRgb', argument: 'mode' });
  const name = options.name ?? `<${img.width}x${img.height} image>`;
  const { width: w, height: h, channels } = img;
  if (channels !== 1 && channels !== 3)
    throw new DataFormatError({ file: name, message: `unsupported channel count ${channels} (expected grey or RGB)` });
  const crop = config.cropSize;
  const [nw, nh] = options.resized ? [w, h] : resizedSize(w, h, mode, config);
  if (nw < crop || nh < crop)
    throw new DataFormatError({ file: name, message: `resized to ${nw}x${nh}, smaller than the ${crop} crop` });
  if (img.data.length !== w * h * channels)
    throw new DataFormatError({ file: name, message: `${img.data.length} bytes for ${w}x${h}x${channels}` });
  if (out.length < offset + 3 * crop * crop)
    throw new InvalidArgumentError({
      functionName: 'preprocessRgb',
      argument: 'out',
      message: `${out.length} values, too few for 3·${crop}·${crop} at offset ${offset}`,
    });
  const box = cropBox(nw, nh, crop, mode);
  const filter = mode === 'exp-clip' ? 'bilinear' : 'bicubic';
  const tables = byteTables(mode, config);
  if (!options.augmentation) {
    pilResizeToPlanes(img.data, w, h, channels, nw, nh, filter, box, tables, out, offset, options.resampler);
    return;
  }
  const cropped = pilResizeWindow(img.data, w, h, channels, nw, nh, filter, box, options.resampler);
  const data = augment(cropped, crop, channels, options.augmentation);
  const write = planeWriter(out, offset, crop, crop * crop, channels, tables);
  for (let r = 0; r < crop; r++) write(data.subarray(r * crop * channels, (r + 1) * crop * channels), r);
}

/**
 * The centre crop of a nw × nh resized image: HF `center_crop` floors `(side − crop) / 2` (`'clip'`; `'exp-clip'`
 * has nothing to crop); torchvision's `CenterCrop` (`'openai'`) computes `int(round((side − crop) / 2.0))`, Python's
 * round, half to even.
 */
export function cropBox(
  nw: number,
  nh: number,
  crop: number,
  mode: PreprocessMode,
): { x: number; y: number; width: number; height: number } {
  const offset = (side: number) => {
    const half = (side - crop) / 2;
    if (mode !== 'openai') return Math.floor(half);
    const f = Math.floor(half);
    return half - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(half);
  };
  return { x: offset(nw), y: offset(nh), width: crop, height: crop };
}

/**
 * `preprocessRgb` for an image in its Pillow mode (`PillowImage`): in `'openai'` mode the resize runs in that mode
 * before the conversion to RGB, as OpenAI's transform does (see `pillowResizeWindow`); the other modes convert to
 * grey/RGB first (as CLIPImageProcessor and Exp-CLIP's `convert('RGB')` do) and call `preprocessRgb`.
 * Writes CHW float32, 3·crop·crop values, into `out` at `offset`.
 */
export function preprocessPillowImage(
  img: PillowImage,
  mode: PreprocessMode,
  config: ClipPreprocessorConfig,
  out: Float32Array,
  offset: number,
  options: { augmentation?: ClipAugmentation | null; name?: string; resampler?: PilResampler } = {},
): void {
  checkOneOf(mode, PREPROCESS_MODES, { functionName: 'preprocessPillowImage', argument: 'mode' });
  const name = options.name ?? `<${img.width}x${img.height} ${img.mode} image>`;
  if (mode !== 'openai') {
    preprocessRgb(pillowToRgb(img), mode, config, out, offset, { ...options, name });
    return;
  }
  if (img.mode === 'L' || img.mode === 'RGB') {
    // grey and RGB resize the same before or after convert('RGB'): the fused resize + crop + normalise
    const data = img.data;
    const channels = img.mode === 'L' ? 1 : 3;
    if (!(data instanceof Uint8Array))
      throw new InvalidArgumentError({
        functionName: 'preprocessPillowImage',
        argument: 'image.data',
        message: `expected a Uint8Array for mode ${img.mode}, got a ${(data as object).constructor.name}`,
      });
    preprocessRgb({ data, width: img.width, height: img.height, channels }, mode, config, out, offset, {
      ...options,
      name,
    });
    return;
  }
  const crop = config.cropSize;
  const [nw, nh] = resizedSize(img.width, img.height, mode, config);
  if (nw < crop || nh < crop)
    throw new DataFormatError({ file: name, message: `resized to ${nw}x${nh}, smaller than the ${crop} crop` });
  const window = pillowResizeWindow(img, nw, nh, cropBox(nw, nh, crop, mode), options.resampler);
  preprocessRgb(window, mode, config, out, offset, { ...options, name, resized: true });
}

/** Per channel, the 256 values a byte becomes: `(v / 255 − mean_c) / std_c` ('clip', 'openai') or `v / 255` ('exp-clip'). */
const TABLES = new Map<string, ByteTables>();
function byteTables(mode: PreprocessMode, config: ClipPreprocessorConfig): ByteTables {
  const normalise = mode !== 'exp-clip';
  const mean = normalise ? config.mean : [0, 0, 0];
  const std = normalise ? config.std : [1, 1, 1];
  const key = `${mean.join(' ')} ${std.join(' ')}`;
  let tables = TABLES.get(key);
  if (!tables) {
    const scale = 1 / 255;
    tables = new Float32Array(768);
    // v / 255 rounded to float32 (torchvision's ToTensor; HF's rescale gives the same 256 values), then CLIP's
    // normalisation in float32 as HF's normalize and torchvision's Normalize compute it
    for (let c = 0; c < 3; c++)
      for (let v = 0; v < 256; v++)
        tables[256 * c + v] = normalise ? clipNormalize(Math.fround(v * scale), mean[c]!, std[c]!) : v * scale;
    if (TABLES.size >= 16) TABLES.delete(TABLES.keys().next().value!);
    TABLES.set(key, tables);
  }
  return tables;
}

/**
 * CLIP's normalisation of one value, `(x − mean) / std`, in float32 arithmetic as PyTorch and NumPy compute it on
 * float32 tensors (the subtraction rounded to float32, then the division): bit-identical to HF CLIPImageProcessor
 * and torchvision `Normalize`. The one normalisation formula of vlfer: `'clip'` preprocessing's tables and
 * `normalizePixels` call it.
 */
export function clipNormalize(x: number, mean: number, std: number): number {
  return Math.fround(Math.fround(x - Math.fround(mean)) / Math.fround(std));
}

/**
 * CLIP's normalisation (`clipNormalize`) of pixels in [0, 1], per channel: HESP applies it after adding its visual
 * prompt. Returns a new tensor.
 * @param pixels [n, 3, H, W]
 */
export function normalizePixels(pixels: Tensor4D, config: Pick<ClipPreprocessorConfig, 'mean' | 'std'>): Tensor4D {
  assertShape(pixels, [null, 3, null, null], 'pixels', 'normalizePixels');
  const [n, , h, w] = pixels.dims;
  const plane = h * w;
  const out = new Float32Array(pixels.data.length);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const m = config.mean[c]!;
      const s = config.std[c]!;
      const base = (i * 3 + c) * plane;
      for (let p = 0; p < plane; p++) out[base + p] = clipNormalize(pixels.data[base + p]!, m, s);
    }
  }
  return { dtype: 'float32', data: out, dims: [n, 3, h, w] };
}
