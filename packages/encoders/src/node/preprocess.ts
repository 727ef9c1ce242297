import { checkOneOf, DataFormatError, InvalidArgumentError, type Tensor4D } from '@vlfer/core';
import type { DecodedImage } from '@vlfer/image';
import {
  decodeImageNow,
  decodePillowImageNow,
  describeSource,
  JPEG_DECODERS,
  toSharp,
  type DecodeOptions,
  type ImageSource,
  type JpegDecoder,
} from '@vlfer/image/node';
import {
  OPENAI_CLIP_PREPROCESSOR,
  PREPROCESS_MODES,
  preprocessPillowImage,
  preprocessRgb,
  resizedSize,
  type ClipAugmentation,
  type ClipPreprocessorConfig,
  type PreprocessMode,
} from '../preprocess.js';

/**
 * Who resizes: `'pil'` (default) — a bit-exact port of Pillow's resampling, so pixel values equal what the
 * PyTorch reference pipelines (torchvision Resize on PIL images, HF CLIPImageProcessor) produce;
 * `'sharp'` — libvips resizing (faster on large images, off by a few grey levels on average).
 */
export const RESIZERS = ['pil', 'sharp'] as const;
export type Resizer = (typeof RESIZERS)[number];

/**
 * How the `'pil'` resizer's images are decoded (`@vlfer/image/node` `decodeImage`).
 * - `draft`: opt-in reduced-scale decoding of large JPEGs for the mode's resize target (crop² for `'exp-clip'`,
 *   shortest edge² otherwise), as Pillow's `Image.draft('RGB', size)` before the transform. Faster on photos
 *   (1920×1080: decoded at 480×270, 640×480 at 320×240). With the native decoder (`nativeJpeg().available`) the
 *   pixels are Pillow's drafted ones; without it they differ from Pillow's, with or without its draft (see
 *   `DecodeOptions.draft`). The default, false, gives Pillow's full-size pixels exactly.
 * - `jpegDecoder`: which libjpeg-turbo build decodes plain JPEGs (`JPEG_DECODERS`, same bytes); default `'auto'`.
 */
export interface PreprocessDecoding {
  draft?: boolean;
  jpegDecoder?: JpegDecoder;
}

/** `decodeImage`'s options for `decoding` in `mode`: the draft target is the size the mode resizes to. */
export function decodeOptionsFor(
  decoding: PreprocessDecoding,
  mode: PreprocessMode,
  config: ClipPreprocessorConfig,
): DecodeOptions {
  if (decoding.draft !== undefined && typeof decoding.draft !== 'boolean')
    throw new InvalidArgumentError({
      functionName: 'preprocessImages',
      argument: 'draft',
      message: `expected true or false, got ${String(decoding.draft)}`,
    });
  const side = mode === 'exp-clip' ? config.cropSize : config.shortestEdge;
  return {
    ...(decoding.jpegDecoder !== undefined
      ? {
          jpegDecoder: checkOneOf(decoding.jpegDecoder, JPEG_DECODERS, {
            functionName: 'preprocessImages',
            argument: 'jpegDecoder',
          }),
        }
      : {}),
    ...(decoding.draft ? { draft: { width: side, height: side } } : {}),
  };
}

/** Largest decoded image kept for reuse: 8K RGB. Larger ones get a buffer of their own, freed with them. */
const SCRATCH_MAX_BYTES = 7680 * 4320 * 3;
let scratch = new Uint8Array(0);

/**
 * The buffer natively decoded JPEGs are written into before they are resized (`DecodeOptions.output`): one per thread,
 * grown to the largest image seen, reused from image to image. Safe because a native decode is synchronous and
 * `preprocessImageInto` resizes the image before anything else can decode (the asynchronous decoders never use it).
 * So it awaits only a promise: `await` on the pixels themselves would let the next image of a batch (`Promise.all` in
 * `preprocessImages`) be decoded over them before their resize (the mixed-batch test fails that way).
 */
function decodeScratch(bytes: number): Uint8Array {
  if (bytes > SCRATCH_MAX_BYTES) return new Uint8Array(bytes);
  if (scratch.length < bytes) scratch = new Uint8Array(bytes);
  return scratch;
}

/**
 * Decode, resize and normalise one image into `out` (CHW float32, length 3·crop·crop) at `offset`:
 * `decodeImageNow` decodes (`decoding`; `decodeImage`'s pixels, without waiting where it can); `preprocessRgb`
 * (Pillow-exact resize, optional augmentation, normalisation) does the rest. The `'sharp'` resizer ignores
 * `decoding` (libvips shrinks JPEGs on load anyway).
 */
export async function preprocessImageInto(
  src: ImageSource,
  mode: PreprocessMode,
  config: ClipPreprocessorConfig,
  out: Float32Array,
  offset: number,
  resizer: Resizer = 'pil',
  augmentation?: ClipAugmentation | null,
  decoding: PreprocessDecoding = {},
): Promise<void> {
  checkOneOf(mode, PREPROCESS_MODES, { functionName: 'preprocessImages', argument: 'mode' });
  checkOneOf(resizer, RESIZERS, { functionName: 'preprocessImages', argument: 'resizer' });
  const name = describeSource(src);
  const decode = decodeOptionsFor(decoding, mode, config);
  if (resizer === 'pil' && mode === 'openai') {
    // OpenAI's transform resizes the image in the mode Pillow opened it in, before convert('RGB')
    const now = decodePillowImageNow(src, { ...decode, output: decodeScratch });
    const img = now instanceof Promise ? await now : now;
    preprocessPillowImage(img, mode, config, out, offset, { augmentation: augmentation ?? null, name });
    return;
  }
  if (resizer === 'pil') {
    // decoded and resized back to back where no asynchronous decoder is needed (`decodeImageNow`): the resize reads
    // bytes still in cache. Why only a promise is awaited: see decodeScratch
    const now = decodeImageNow(src, { ...decode, output: decodeScratch });
    const img = now instanceof Promise ? await now : now;
    preprocessRgb(img, mode, config, out, offset, { augmentation: augmentation ?? null, name });
    return;
  }
  let resized: DecodedImage;
  try {
    const meta = await toSharp(src).metadata();
    if (!meta.width || !meta.height) throw new Error('image has no size');
    const [nw, nh] = resizedSize(meta.width, meta.height, mode, config);
    const grey =
      typeof src === 'object' && src !== null && !(src instanceof Uint8Array) && 'rgb' in src
        ? false
        : meta.channels !== undefined && meta.channels <= 2;
    let img = toSharp(src).removeAlpha();
    if (!grey) img = img.toColourspace('srgb');
    const r = await img
      .resize(nw, nh, { fit: 'fill', kernel: mode === 'exp-clip' ? 'linear' : 'cubic' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    resized = {
      data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
      width: r.info.width,
      height: r.info.height,
      channels: r.info.channels as 1 | 3,
    };
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new DataFormatError({
      file: name,
      message: `cannot decode or resize image (${(error as Error).message})`,
      cause: error,
    });
  }
  preprocessRgb(resized, mode, config, out, offset, { resized: true, augmentation: augmentation ?? null, name });
}

/**
 * Preprocess a batch of images into pixel values.
 * @param options.augmentations one augmentation per source (HESP training frames), or none
 * @param options.draft, options.jpegDecoder how JPEGs are decoded (`PreprocessDecoding`; default: Pillow's pixels)
 * @param options.out where to write the pixels, at least batch·3·crop·crop values (a buffer reused from batch to
 *   batch saves allocating and page-faulting fresh memory, about 0.4–0.5 ms per image here); the returned tensor
 *   is a view of it
 * @returns [batch, 3, crop, crop]
 */
export async function preprocessImages(
  sources: readonly ImageSource[],
  mode: PreprocessMode,
  config: ClipPreprocessorConfig = OPENAI_CLIP_PREPROCESSOR,
  resizer: Resizer = 'pil',
  options: { augmentations?: readonly (ClipAugmentation | null)[]; out?: Float32Array } & PreprocessDecoding = {},
): Promise<Tensor4D> {
  if (!Array.isArray(sources))
    throw new InvalidArgumentError({
      functionName: 'preprocessImages',
      argument: 'sources',
      message: 'expected an array of image sources',
    });
  if (options.augmentations && options.augmentations.length !== sources.length)
    throw new InvalidArgumentError({
      functionName: 'preprocessImages',
      argument: 'augmentations',
      message: `${options.augmentations.length} augmentations for ${sources.length} images`,
    });
  const c = config.cropSize;
  const per = 3 * c * c;
  const out = pixelsOut(options.out, sources.length, c, 'preprocessImages');
  const decoding: PreprocessDecoding = {
    ...(options.draft !== undefined ? { draft: options.draft } : {}),
    ...(options.jpegDecoder !== undefined ? { jpegDecoder: options.jpegDecoder } : {}),
  };
  decodeOptionsFor(decoding, mode, config); // the argument errors before any image is read
  await Promise.all(
    sources.map((s, i) =>
      preprocessImageInto(s, mode, config, out, i * per, resizer, options.augmentations?.[i] ?? null, decoding),
    ),
  );
  return { dtype: 'float32', data: out, dims: [sources.length, 3, c, c] };
}

/**
 * Where a batch's pixels go: the first count·3·crop·crop values of the caller's `out` (checked), or a new array.
 * @throws InvalidArgumentError naming `out` when it is not a Float32Array or too short
 */
export function pixelsOut(
  out: Float32Array | undefined,
  count: number,
  crop: number,
  functionName: string,
): Float32Array {
  const n = count * 3 * crop * crop;
  if (out === undefined) return new Float32Array(n);
  if (!(out instanceof Float32Array) || out.length < n) {
    const got =
      out instanceof Float32Array
        ? `${out.length} values`
        : out === null
          ? 'null'
          : ((out as object).constructor?.name ?? typeof out);
    throw new InvalidArgumentError({
      functionName,
      argument: 'out',
      message: `expected a Float32Array of at least ${count}·3·${crop}·${crop} = ${n} values, got ${got}`,
    });
  }
  return out.subarray(0, n);
}
