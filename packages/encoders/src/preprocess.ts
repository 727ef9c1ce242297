import sharp, { type Sharp } from 'sharp';
import { DataFormatError, InvalidArgumentError, type Tensor4D } from '@vlfer/core';
import { pilResize } from './pil-resize.js';

/**
 * `'clip'`: the model's preprocessor config (CLIPImageProcessor): resize the shortest side to `size`
 *   with bicubic, centre-crop `crop`, rescale to [0, 1], normalise by mean/std.
 * `'exp-clip'`: the Exp-CLIP paper code: resize to crop×crop (aspect ratio not kept) with bilinear,
 *   rescale to [0, 1], no normalisation (torchvision `Resize((224,224))` + `ToTensor()`).
 */
export type PreprocessMode = 'clip' | 'exp-clip';

/**
 * Who resizes: `'pil'` (default) — a bit-exact port of Pillow's resampling, so pixel values equal what the
 * PyTorch reference pipelines (torchvision Resize on PIL images, HF CLIPImageProcessor) produce;
 * `'sharp'` — libvips resizing (faster on large images, off by a few grey levels on average).
 * Decoding is always sharp.
 */
export type Resizer = 'pil' | 'sharp';

/** The parts of a Hugging Face `preprocessor_config.json` that CLIP preprocessing uses. */
export interface ClipPreprocessorConfig {
  shortestEdge: number;
  cropSize: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export const OPENAI_CLIP_PREPROCESSOR: ClipPreprocessorConfig = {
  shortestEdge: 224,
  cropSize: 224,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

/** Read the fields CLIP preprocessing needs from a parsed `preprocessor_config.json`. */
export function parsePreprocessorConfig(json: Record<string, any>, file = 'preprocessor_config.json'): ClipPreprocessorConfig {
  const size = json.size?.shortest_edge ?? (typeof json.size === 'number' ? json.size : undefined);
  const crop = json.crop_size?.height ?? (typeof json.crop_size === 'number' ? json.crop_size : size);
  const mean = json.image_mean;
  const std = json.image_std;
  const check = (ok: boolean, field: string, want: string) => {
    if (!ok) throw new DataFormatError({ file, field, message: `expected ${want}, got ${JSON.stringify(json[field])}` });
  };
  check(Number.isInteger(size) && size > 0, 'size', '{ "shortest_edge": <int> }');
  check(Number.isInteger(crop) && crop > 0, 'crop_size', '{ "height": <int>, "width": <int> }');
  check(Array.isArray(mean) && mean.length === 3, 'image_mean', 'three numbers');
  check(Array.isArray(std) && std.length === 3, 'image_std', 'three numbers');
  if (json.crop_size?.width !== undefined && json.crop_size.width !== crop) check(false, 'crop_size', 'a square crop');
  return { shortestEdge: size, cropSize: crop, mean: mean as [number, number, number], std: std as [number, number, number] };
}

/** Input to preprocessing: a file path, an encoded image buffer, or raw RGB pixels. */
export type ImageSource = string | Uint8Array | { rgb: Uint8Array; width: number; height: number };

function toSharp(src: ImageSource): Sharp {
  if (typeof src === 'string' || src instanceof Uint8Array) return sharp(src, { failOn: 'error' });
  if (src.rgb.length !== src.width * src.height * 3) {
    throw new InvalidArgumentError({ functionName: 'preprocessImage', argument: 'source.rgb', message: `length ${src.rgb.length} is not width·height·3 = ${src.width * src.height * 3}` });
  }
  return sharp(src.rgb, { raw: { width: src.width, height: src.height, channels: 3 } });
}

function describe(src: ImageSource): string {
  return typeof src === 'string' ? src : src instanceof Uint8Array ? '<encoded image buffer>' : `<raw ${src.width}x${src.height} RGB>`;
}

/**
 * Decode, resize and normalise one image into `out` (CHW float32, length 3·crop·crop) at `offset`.
 * Decoding runs in sharp (libvips); resizing in the Pillow port (or sharp); normalisation in TS.
 */
export async function preprocessImageInto(src: ImageSource, mode: PreprocessMode, config: ClipPreprocessorConfig, out: Float32Array, offset: number, resizer: Resizer = 'pil'): Promise<void> {
  const crop = config.cropSize;
  let data: Uint8Array;
  let channels: number;
  try {
    let img = toSharp(src);
    const meta = await img.metadata();
    const w = meta.width;
    const h = meta.height;
    if (!w || !h) throw new Error('image has no size');
    // encoded grey (and grey+alpha) images stay 1-channel: resizing three equal channels gives the same values;
    // raw input is always RGB
    const isRaw = typeof src === 'object' && !(src instanceof Uint8Array);
    const grey = !isRaw && meta.channels !== undefined && meta.channels <= 2;
    img = img.removeAlpha();
    if (!grey) img = img.toColourspace('srgb');
    // HF get_resize_output_image_size: shortest edge → size, longest → int(size · long / short)
    const s = config.shortestEdge;
    const [nw, nh] = mode === 'clip' ? (w <= h ? [s, Math.floor((s * h) / w)] : [Math.floor((s * w) / h), s]) : [crop, crop];
    if (nw < crop || nh < crop) throw new Error(`resized to ${nw}x${nh}, smaller than the ${crop} crop`);
    const left = Math.floor((nw - crop) / 2);
    const top = Math.floor((nh - crop) / 2);
    if (resizer === 'sharp') {
      img = img.resize(nw, nh, { fit: 'fill', kernel: mode === 'clip' ? 'cubic' : 'linear' });
      if (nw !== crop || nh !== crop) img = img.extract({ left, top, width: crop, height: crop });
      const r = await img.raw().toBuffer({ resolveWithObject: true });
      data = r.data;
      channels = r.info.channels;
    } else {
      const r = await img.raw().toBuffer({ resolveWithObject: true });
      channels = r.info.channels;
      const resized = pilResize(r.data, r.info.width, r.info.height, channels, nw, nh, mode === 'clip' ? 'bicubic' : 'bilinear');
      if (nw === crop && nh === crop) data = resized;
      else {
        data = new Uint8Array(crop * crop * channels);
        for (let y = 0; y < crop; y++) data.set(resized.subarray(((y + top) * nw + left) * channels, ((y + top) * nw + left + crop) * channels), y * crop * channels);
      }
    }
    if (data.length !== crop * crop * channels) throw new Error(`got ${data.length} bytes after resizing, expected ${crop}x${crop}x${channels}`);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new DataFormatError({ file: describe(src), message: `cannot decode or resize image (${(error as Error).message})`, cause: error });
  }
  const plane = crop * crop;
  const [m0, m1, m2] = mode === 'clip' ? config.mean : [0, 0, 0];
  const [s0, s1, s2] = mode === 'clip' ? config.std : [1, 1, 1];
  const scale = 1 / 255;
  const o = out;
  if (channels === 1) {
    for (let p = 0; p < plane; p++) {
      const v = data[p]! * scale;
      o[offset + p] = (v - m0) / s0;
      o[offset + plane + p] = (v - m1) / s1;
      o[offset + 2 * plane + p] = (v - m2) / s2;
    }
  } else if (channels === 3) {
    for (let p = 0; p < plane; p++) {
      o[offset + p] = (data[3 * p]! * scale - m0) / s0;
      o[offset + plane + p] = (data[3 * p + 1]! * scale - m1) / s1;
      o[offset + 2 * plane + p] = (data[3 * p + 2]! * scale - m2) / s2;
    }
  } else {
    throw new DataFormatError({ file: describe(src), message: `unsupported channel count ${channels} (expected grey or RGB)` });
  }
}

/**
 * Preprocess a batch of images into pixel values.
 * @returns [batch, 3, crop, crop]
 */
export async function preprocessImages(sources: readonly ImageSource[], mode: PreprocessMode, config: ClipPreprocessorConfig = OPENAI_CLIP_PREPROCESSOR, resizer: Resizer = 'pil'): Promise<Tensor4D> {
  const c = config.cropSize;
  const per = 3 * c * c;
  const out = new Float32Array(sources.length * per);
  await Promise.all(sources.map((s, i) => preprocessImageInto(s, mode, config, out, i * per, resizer)));
  return { dtype: 'float32', data: out, dims: [sources.length, 3, c, c] };
}
