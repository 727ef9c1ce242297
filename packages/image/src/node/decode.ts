import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import { checkOneOf, DataFormatError, InvalidArgumentError, VlferError } from '@vlfer/core';
import { PILLOW_MAX_PIXELS, pillowCmykToRgb, type DecodedImage, type PillowImage } from '../pillow.js';
import { bmpSize, decodeBmp, isBmp } from './bmp.js';
import { decodeJpegWasm } from './jpeg.js';
import { decodeJpegNative, nativeJpeg } from './jpeg-native.js';
import { decodePngJs } from './png.js';

/** An image to decode: a file path, a dataset item `{ path }`, an encoded image buffer, or raw RGB pixels. */
export type ImageSource = string | { path: string } | Uint8Array | { rgb: Uint8Array; width: number; height: number };

/**
 * Who decodes a plain 8-bit JPEG (1 or 3 components): libjpeg-turbo every way, Pillow's decoder and settings, the
 * same bytes (tested). `'native'`: libturbojpeg called directly (`nativeJpeg`: native SIMD, synchronous, no per-call
 * set-up; the library is self-tested against Pillow's bytes before use); `'wasm'`: compiled to WebAssembly,
 * in-process and synchronous, no per-call set-up but no SIMD; `'libvips'`: sharp's native SIMD build, about 1 ms of
 * pipeline set-up per call; `'auto'` (default): native where `nativeJpeg().available`, else WebAssembly up to
 * `JPEG_WASM_MAX_PIXELS` and libvips above. `'native'` where no library is available is an error naming why.
 */
export const JPEG_DECODERS = ['auto', 'native', 'wasm', 'libvips'] as const;
export type JpegDecoder = (typeof JPEG_DECODERS)[number];

/** How `decodeImage` decodes. */
export interface DecodeOptions {
  /** which JPEG decoder (`JPEG_DECODERS`); default `'auto'` */
  jpegDecoder?: JpegDecoder;
  /**
   * Opt-in reduced-scale JPEG decoding for an image about to be resized to `width`×`height` (or with its shorter
   * side to that size), as Pillow's `Image.draft('RGB', (width, height))`: a JPEG at least twice that size in both
   * directions comes out at Pillow's draft size, ⌈w / s⌉ × ⌈h / s⌉ with s = `pillowDraftScale` (2, 4 or 8).
   * - With the native decoder (`'auto'` where `nativeJpeg().available`, or `'native'`): libjpeg's DCT scaling by
   *   1/s, as Pillow's draft, so the pixels ARE Pillow's drafted pixels (tested against Pillow 9.4), though not
   *   its full decode's.
   * - Otherwise (`'wasm'`, `'libvips'`, or no native library): only where s is 4 or 8, decoded by libvips, which
   *   shrinks on load (DCT scaling by s/2 under sharp's rule) and reduces the rest with lanczos3: the pixels are
   *   then NOT Pillow's, drafted or not; at s = 2 the JPEG decodes exactly as without `draft`.
   * The native path also falls back to that for the JPEGs TurboJPEG refuses (4×2 luma sampling) and for the two
   * tiny sizes where TurboJPEG would reach the drafted size with another factor (3×3 and 5×5 at a 1×1 target: 3×3
   * then stays 3×3 where Pillow gives 2×2). CMYK/YCCK JPEGs, other formats and smaller JPEGs decode exactly as
   * without `draft` (Pillow would draft a CMYK JPEG too). The default (no draft) matches Pillow's full decode with
   * every decoder.
   */
  draft?: { width: number; height: number };
  /**
   * Where the native JPEG decoder writes the pixels (`decodeJpegNative`'s `output`): called with their byte count n,
   * it returns a Uint8Array of at least n bytes, and the image's `data` is a view of its first n. For a caller that
   * is done with each image before it decodes the next (preprocessing reuses one buffer: no fresh allocation and page
   * faults per image). Other decoders ignore it. Default: a new buffer per image.
   */
  output?: (bytes: number) => Uint8Array;
}

/** How an encoded image given as bytes is named in errors. */
const BUFFER_SOURCE = '<encoded image buffer>';

/** A short name of a source for error messages. */
export function describeSource(src: ImageSource): string {
  if (typeof src === 'string') return src;
  if (typeof src !== 'object' || src === null) return `<${src === null ? 'null' : typeof src} source>`;
  if (src instanceof Uint8Array) return BUFFER_SOURCE;
  if ('path' in src) return src.path;
  return `<raw ${src.width}x${src.height} RGB>`;
}

/**
 * What decoding and preprocessing produce, for cache keys: Pillow 9.4's `Image.open(f).convert('RGB')` (embedded
 * ICC profiles and EXIF orientation ignored), and since v2: 16-bit grey PNGs with tRNS clipped as Pillow's mode I,
 * indices past a short PNG palette as Pillow's grey ramp, 'clip' normalisation in float32 as CLIPImageProcessor
 * (values up to 2.4e-7 apart from v1); since v3: a GIF's transparent pixels get the palette colour of the
 * transparent index, as Pillow's `convert('RGB')` gives them (libvips made them black; only GIFs with transparency
 * change); since v4: the canvas outside a first frame smaller than it gets Pillow's fill colour (palette index 0, or
 * the transparent index) where libvips made it black, and an index past the colour table (or any index of a GIF
 * without one) Pillow's grey ramp (i, i, i) where libvips made it black (only such GIFs change), and a first frame of
 * zero size or with image data that ends before its last pixel refused as Pillow refuses it (libvips decoded it), and
 * a grey-ramp local table over a colour global one painted with the global colours, as Pillow does. The `'openai'` mode's decoding in Pillow's modes (`decodePillowImage`) came with that mode, whose name
 * is part of every cache namespace that includes this version, so `'openai'` features are never served from
 * `'clip'` or `'exp-clip'` entries.
 */
export const DECODER_VERSION = 'pillow-9.4-rgb-no-icc-v4';

/**
 * Decode as Pillow does: embedded ICC profiles ignored (Pillow's convert('RGB') does not apply them), no
 * auto-rotation, and images over Pillow's decompression-bomb limit (2 · `Image.MAX_IMAGE_PIXELS` = 178,956,970
 * pixels, where Pillow raises DecompressionBombError) refused.
 */
const DECODE = { failOn: 'error', ignoreIcc: true, limitInputPixels: PILLOW_MAX_PIXELS } as const;

/**
 * A sharp pipeline over `src` that decodes as `decodeImage` does (Pillow's settings above; raw `{ rgb }` pixels
 * checked), for callers that resize with libvips.
 * @throws InvalidArgumentError naming `source` when `src` is not an `ImageSource`
 */
export function toSharp(src: ImageSource): Sharp {
  if (typeof src === 'string') return sharp(src, DECODE);
  if (typeof src !== 'object' || src === null)
    throw new InvalidArgumentError({
      functionName: 'preprocessImages',
      argument: 'source',
      message: `expected a path, { path }, an encoded image buffer, or { rgb: Uint8Array, width, height }, got ${src === null ? 'null' : typeof src}`,
    });
  if (src instanceof Uint8Array) return sharp(src, DECODE);
  if ('path' in src) {
    if (typeof src.path !== 'string')
      throw new InvalidArgumentError({
        functionName: 'preprocessImages',
        argument: 'source.path',
        message: `expected a file path string, got ${typeof src.path}`,
      });
    return sharp(src.path, DECODE);
  }
  if (
    !(src.rgb instanceof Uint8Array) ||
    !Number.isInteger(src.width) ||
    !Number.isInteger(src.height) ||
    src.width <= 0 ||
    src.height <= 0
  ) {
    throw new InvalidArgumentError({
      functionName: 'preprocessImages',
      argument: 'source',
      message: 'expected a path, { path }, an encoded image buffer, or { rgb: Uint8Array, width, height }',
    });
  }
  if (src.rgb.length !== src.width * src.height * 3)
    throw new InvalidArgumentError({
      functionName: 'preprocessImages',
      argument: 'source.rgb',
      message: `length ${src.rgb.length} is not width·height·3 = ${src.width * src.height * 3}`,
    });
  return sharp(src.rgb, { raw: { width: src.width, height: src.height, channels: 3 } });
}

/**
 * Decode an image to 8-bit grey or RGB as Pillow 9–11's `Image.open(...).convert('RGB')` sees it, where libvips'
 * default conversion differs: a CMYK JPEG is converted with Pillow's formula (no ICC transform); a 16-bit PNG keeps
 * Pillow's reduction — grey without alpha (mode I) is clipped to 255, grey+alpha and RGB(A) keep the high byte.
 * Alpha is dropped; grey stays one channel (resizing three equal channels gives the same values). Other formats and
 * bit depths (16-bit TIFF, …) are decoded by libvips (sRGB, 8-bit), which may differ from Pillow.
 * @throws DataFormatError naming the file when it cannot be decoded
 */
export async function decodeImage(src: ImageSource, options: DecodeOptions = {}): Promise<DecodedImage> {
  return decodeImageNow(src, options);
}

/**
 * `decodeImage`, without waiting where no asynchronous decoder is needed: raw `{ rgb }` pixels, plain 8-bit JPEGs
 * through the native decoder (`jpegDecoder` `'auto'` where `nativeJpeg().available`, or `'native'`; drafted as
 * `options.draft` asks) and 8-bit PNGs of at most `PNG_JS_MAX_PIXELS` (fast-png) come back as the pixels themselves;
 * everything else (other formats and bit depths, CMYK, JPEGs TurboJPEG refuses or that `'wasm'`/`'libvips'` decode,
 * corrupt data) as a promise of them, from the bytes already read. The pixels are `decodeImage`'s either way. A caller
 * that resizes each image as soon as it has it (preprocessing) then reads bytes still in cache, and holds one decoded
 * image at a time instead of a batch of them.
 * @throws DataFormatError naming the file when it cannot be read, InvalidArgumentError for a source or an option that
 *   is not one `decodeImage` takes: both at once; the promise rejects with a DataFormatError naming the file when the
 *   data cannot be decoded
 */
export function decodeImageNow(src: ImageSource, options: DecodeOptions = {}): DecodedImage | Promise<DecodedImage> {
  const name = describeSource(src);
  checkDecodeOptions(options);
  let input: Uint8Array;
  let plain: PlainEightBit | undefined;
  try {
    if (typeof src === 'object' && src !== null && !(src instanceof Uint8Array) && 'rgb' in src) {
      toSharp(src); // validates
      return { data: src.rgb, width: src.width, height: src.height, channels: 3 };
    }
    input = readInput(src);
    if (isBmp(input)) {
      const { data, width, height, channels } = decodeBmp(input); // libvips reads no BMP
      return { data, width, height, channels };
    }
    plain = plainEightBit(input);
    const now = plain && decodePlainNow(input, plain, options);
    if (now) return now;
  } catch (error) {
    throw asDecodeError(name, error);
  }
  return decodeWaiting(input, plain, options).catch((error: unknown) => {
    throw asDecodeError(name, error);
  });
}

/** What `decodePlainNow` leaves: the asynchronous decoders (WebAssembly JPEG, libvips), on bytes already read. */
async function decodeWaiting(
  input: Uint8Array,
  plain: PlainEightBit | undefined,
  options: DecodeOptions,
): Promise<DecodedImage> {
  const fast = plain && (await decodePlainEightBit(input, plain, options));
  if (fast) return fast;
  const gif = gifFirstFrame(input);
  // indices past the first frame's colour table (or with none) decode as Pillow's grey ramp, not libvips' black
  const bytes = gif
    ? withGreyRampTable(gif.greyOverColour ? withoutLocalTable(input, gif.descriptor) : input, gif.descriptor)
    : input;
  if (gif?.fill) return decodeFilledGif(bytes, gif.fill, gif.frame);
  const meta = await toSharp(bytes).metadata();
  if (!meta.width || !meta.height) throw new Error('image has no size');
  const { width, height } = meta;
  if (meta.space === 'cmyk') return { data: pillowCmykToRgb(await decodeCmyk(bytes)), width, height, channels: 3 };
  if (meta.format === 'png' && meta.depth === 'ushort') return decodeSixteenBitPng(bytes, width, height);
  return decodeWithLibvips(bytes, meta.channels !== undefined && meta.channels <= 2);
}

/**
 * A GIF's bytes without its first frame's local colour table (`descriptor`: where the frame's image descriptor
 * starts): the frame then uses the global one. Pillow 9.4 drops a local table that is the grey ramp (i, i, i) and
 * paints the frame with the global table, where libvips uses the local one.
 */
function withoutLocalTable(b: Uint8Array, descriptor: number): Uint8Array {
  const flags = b[descriptor + 9]!;
  const end = descriptor + 10 + 3 * (2 << (flags & 7));
  const out = new Uint8Array(b.length - (end - descriptor - 10));
  out.set(b.subarray(0, descriptor + 10));
  out[descriptor + 9] = flags & 0x78; // no table (keeps the interlace and reserved bits)
  out.set(b.subarray(end), descriptor + 10);
  return out;
}

/**
 * A GIF's bytes with the colour table its first frame uses (local, else global; a global one added where there is
 * neither) extended to 256 entries by Pillow's grey ramp, entry i = (i, i, i): Pillow shows an index past the table,
 * or any index of a GIF without a table, as that ramp; libvips as black (or its own default table). Indices inside the
 * table keep their colours. `b` itself where the table is full already.
 * @param descriptor where the first frame's image descriptor (0x2c) starts (`gifFirstFrame`)
 */
function withGreyRampTable(b: Uint8Array, descriptor: number): Uint8Array {
  const ramp = (from: number) => Uint8Array.from({ length: 3 * (256 - from) }, (_, k) => from + Math.floor(k / 3));
  const local = b[descriptor + 9]!;
  const [flagsAt, flags] = local & 0x80 ? [descriptor + 9, local] : [10, b[10]!];
  const size = flags & 0x80 ? 2 << (flags & 7) : 0;
  if (size === 256) return b;
  const tableEnd = (local & 0x80 ? descriptor + 10 : 13) + 3 * size;
  const out = new Uint8Array(b.length + 3 * (256 - size));
  out.set(b.subarray(0, tableEnd));
  out.set(ramp(size), tableEnd);
  out.set(b.subarray(tableEnd), tableEnd + 3 * (256 - size));
  out[flagsAt] = flags | 0x87; // a table, of 2^(7+1) entries
  return out;
}

/** `error` as thrown by the decoders: project errors as they are, anything else as a DataFormatError naming `file`. */
/**
 * An image file's size and EXIF orientation as its header says, without decoding its pixels: libvips' header
 * reader (sharp's `metadata`), or for a BMP, which libvips does not read, its info header.
 * @throws DataFormatError naming the file when neither reads it
 */
export async function readImageHeader(path: string): Promise<{ width: number; height: number; orientation?: number }> {
  try {
    const head = new Uint8Array(26);
    const fd = openSync(path, 'r');
    let got: number;
    try {
      got = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
    if (isBmp(head.subarray(0, got))) return bmpSize(head.subarray(0, got));
    const meta = await sharp(path).metadata();
    if (!meta.width || !meta.height) throw new Error('image has no size');
    return { width: meta.width, height: meta.height, ...(meta.orientation ? { orientation: meta.orientation } : {}) };
  } catch (error) {
    throw asDecodeError(path, error);
  }
}

function asDecodeError(file: string, error: unknown): Error {
  // a decoder given the file's bytes names them as a buffer: the file is named here
  if (error instanceof DataFormatError && error.file === BUFFER_SOURCE && file !== BUFFER_SOURCE)
    return new DataFormatError({ file, message: error.detail, cause: error });
  if (error instanceof InvalidArgumentError || error instanceof VlferError) return error;
  return new DataFormatError({ file, message: `cannot decode image (${(error as Error).message})`, cause: error });
}

/**
 * The synchronous decoders of a plain 8-bit file: libjpeg-turbo called natively for a JPEG (Pillow's bytes, drafted
 * or not), fast-png for a PNG of at most `PNG_JS_MAX_PIXELS`. @returns `undefined` where neither applies or the
 * decoder refused the data (corrupt, CMYK, …), which the general path then reports or decodes
 */
function decodePlainNow(input: Uint8Array, plain: PlainEightBit, options: DecodeOptions): DecodedImage | undefined {
  if (plain.kind === 'jpeg' && useNativeJpeg(options.jpegDecoder ?? 'auto'))
    return decodeJpegNative(
      input,
      options.draft ? pillowDraftScale(plain.width, plain.height, options.draft) : 1,
      options.output,
    );
  if (plain.kind === 'png' && plain.width * plain.height <= PNG_JS_MAX_PIXELS) return decodePngJs(input);
  return undefined;
}

/**
 * A plain 8-bit file that `decodePlainNow` did not decode, without libvips' per-call cost where possible: a small
 * JPEG through libjpeg-turbo in WebAssembly (Pillow's decoder), a drafted JPEG by libvips' shrink-on-load, else one
 * libvips call. Above the WebAssembly size limit libvips' SIMD and threads win, and WebAssembly memory would grow for
 * good. @returns the pixels, or `undefined` when `input` needs the general path (libvips gave other than 1 or 3 bands)
 */
async function decodePlainEightBit(
  input: Uint8Array,
  plain: PlainEightBit,
  options: DecodeOptions,
): Promise<DecodedImage | undefined> {
  const pixels = plain.width * plain.height;
  const scale = plain.kind === 'jpeg' && options.draft ? pillowDraftScale(plain.width, plain.height, options.draft) : 1;
  // libvips' raw output of a grey image is sRGB (three equal bands) unless asked to keep one
  let img = plain.grey ? toSharp(input).removeAlpha().toColourspace('b-w') : toSharp(input).removeAlpha();
  // at scale 2 sharp does not shrink on load (its rule keeps a factor of 2 for the reduce): nothing to gain
  if (scale >= 4) {
    // libvips shrinks on load (libjpeg's DCT scaling) and reduces the rest to Pillow's draft size
    img = img.resize(Math.ceil(plain.width / scale), Math.ceil(plain.height / scale), { fit: 'fill' });
  } else if (plain.kind === 'jpeg' && useWasmJpeg(pixels, options.jpegDecoder ?? 'auto')) {
    const fast = await decodeJpegWasm(input);
    if (fast) return fast;
  }
  const r = await img.raw().toBuffer({ resolveWithObject: true });
  if (r.info.channels !== 1 && r.info.channels !== 3) return undefined;
  return {
    data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
    width: r.info.width,
    height: r.info.height,
    channels: r.info.channels,
  };
}

/**
 * A GIF whose first frame has a transparent index or leaves part of the canvas uncovered: libvips makes those pixels
 * transparent black, Pillow's `convert('RGB')` gives them the colour `fill` (`gifFirstFrame`). @returns RGB pixels
 */
async function decodeFilledGif(
  input: Uint8Array,
  [tr, tg, tb]: [number, number, number],
  [left, top, right, bottom]: readonly [number, number, number, number],
): Promise<DecodedImage> {
  const r = await toSharp(input).toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (r.info.channels !== 4) throw new Error(`GIF decoded to ${r.info.channels} channels`);
  const n = r.info.width * r.info.height;
  const out = new Uint8Array(n * 3);
  const w = r.info.width;
  for (let p = 0; p < n; p++) {
    // libvips paints the canvas outside the frame opaque black (sharp 0.35), the transparent index transparent
    const [x, y] = [p % w, Math.floor(p / w)];
    const transparent = r.data[4 * p + 3] === 0 || x < left || x >= right || y < top || y >= bottom;
    out[3 * p] = transparent ? tr : r.data[4 * p]!;
    out[3 * p + 1] = transparent ? tg : r.data[4 * p + 1]!;
    out[3 * p + 2] = transparent ? tb : r.data[4 * p + 2]!;
  }
  return { data: out, width: r.info.width, height: r.info.height, channels: 3 };
}

/**
 * A 16-bit PNG reduced as Pillow does: grey without an alpha channel (colour type 0, tRNS or not) opens as mode I
 * and is clipped to 255; grey+alpha and RGB(A) keep the high byte. Alpha is dropped. @returns grey or RGB pixels
 */
async function decodeSixteenBitPng(input: Uint8Array, width: number, height: number): Promise<DecodedImage> {
  // the PNG colour type (IHDR): 0 grey, 4 grey+alpha, 2 RGB, 6 RGBA; libvips adds an alpha band for tRNS
  const colourType = input[25];
  const grey = colourType === 0 || colourType === 4;
  const r = await toSharp(input)
    .toColourspace(grey ? 'grey16' : 'rgb16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const v = new Uint16Array(r.data.buffer, r.data.byteOffset, r.data.byteLength / 2);
  const ch = r.info.channels;
  const keep = grey ? 1 : 3;
  const out = new Uint8Array(width * height * keep);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < keep; c++) {
      const x = v[p * ch + c]!;
      out[p * keep + c] = colourType === 0 ? Math.min(x, 255) : x >> 8;
    }
  }
  return { data: out, width, height, channels: keep as 1 | 3 };
}

/** Any other image by libvips: alpha dropped, grey (`grey`: one or two bands) kept as one channel, else sRGB. */
async function decodeWithLibvips(input: Uint8Array, grey: boolean): Promise<DecodedImage> {
  let img = toSharp(input).removeAlpha();
  if (!grey) img = img.toColourspace('srgb');
  const r = await img.raw().toBuffer({ resolveWithObject: true });
  const channels = r.info.channels;
  if (channels !== 1 && channels !== 3) throw new Error(`decoded to ${channels} channels`);
  return {
    data: new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
    width: r.info.width,
    height: r.info.height,
    channels,
  };
}

/**
 * The bytes of a source (not raw pixels), read once, synchronously: decoding a dataset image is CPU-bound, and an
 * asynchronous read costs more than the decode itself (four thread-pool round trips, each waiting for this thread
 * to be free: 48×48 FER2013 preprocessing ran at 2,200–3,900 img/s from paths against 4,500–5,600 from buffers);
 * every decode works on these bytes.
 */
function readInput(src: ImageSource): Uint8Array {
  // a { path } that is not a string, or no source at all: the argument error
  if (typeof src !== 'string' && !(src instanceof Uint8Array)) toSharp(src);
  if (src instanceof Uint8Array) return src;
  const path = typeof src === 'string' ? src : (src as { path: string }).path;
  // a device or FIFO would be read forever
  if (!statSync(path).isFile()) throw new Error('not a regular file');
  return readFileSync(path);
}

/** A CMYK JPEG's C, M, Y, K bytes as Pillow holds them (Adobe-inverted files un-inverted), no ICC transform. */
async function decodeCmyk(input: Uint8Array): Promise<Uint8Array> {
  const r = await toSharp(input)
    .pipelineColourspace('cmyk')
    .toColourspace('cmyk')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (r.info.channels !== 4) throw new Error(`CMYK image decoded to ${r.info.channels} channels`);
  return new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
}

/**
 * Decode an image in the mode Pillow 9.4's `Image.open` gives it (`PillowImage`), for OpenAI's transform, which
 * resizes before `convert('RGB')`. PNG by its header: palette → `'P'`, 1-bit grey → `'1'`, 2/4/8-bit grey → `'L'`,
 * 16-bit grey → `'I'` (tRNS or not), grey+alpha → `'LA'` (16-bit: the high bytes; Pillow opens it as `'RGBA'`,
 * which resizes to the same values), RGB → `'RGB'`, RGBA → `'RGBA'` (16-bit: high bytes); JPEG: 1 component
 * `'L'`, 3 `'RGB'`, 4 `'CMYK'`. GIF: `'P'` (its first frame). Other formats (WebP, TIFF, …) by libvips: `'LA'`/`'RGBA'`
 * when they have alpha, else `'L'`/`'RGB'` (untested against Pillow). Raw `{ rgb }` sources are `'RGB'`. The pixels
 * equal `decodeImage`'s after `convert('RGB')`.
 * @throws DataFormatError naming the file when it cannot be decoded
 */
export async function decodePillowImage(src: ImageSource, options: DecodeOptions = {}): Promise<PillowImage> {
  return decodePillowImageNow(src, options);
}

/**
 * `decodePillowImage`, without waiting where no asynchronous decoder is needed (as `decodeImageNow`): raw `{ rgb }`
 * pixels and plain 8-bit grey or YCbCr/RGB JPEGs through the native decoder come back as the image itself (`'L'` or
 * `'RGB'`), everything else as a promise of it, from the bytes already read. The same image either way.
 * @throws as `decodeImageNow`: an unreadable file, a bad source or option at once; undecodable data rejects
 */
export function decodePillowImageNow(
  src: ImageSource,
  options: DecodeOptions = {},
): PillowImage | Promise<PillowImage> {
  const name = describeSource(src);
  checkDecodeOptions(options);
  if (typeof src === 'object' && src !== null && !(src instanceof Uint8Array) && 'rgb' in src) {
    const img = decodeImageNow(src) as DecodedImage; // raw pixels: checked and returned at once
    return { mode: 'RGB', width: img.width, height: img.height, data: img.data };
  }
  let input: Uint8Array;
  let kind: ImageKind | undefined;
  let plain: PlainEightBit | undefined;
  try {
    input = readInput(src);
    if (isBmp(input)) {
      const bmp = decodeBmp(input);
      return inMode(bmp, bmp.mode);
    }
    kind = imageKind(input);
    // a plain JPEG has 1 or 3 components (CMYK is not plain)
    plain = kind?.format === 'jpeg' ? plainEightBit(input) : undefined;
    const now = plain && decodePlainNow(input, plain, options);
    if (now) return inMode(now, 'RGB');
  } catch (error) {
    throw asDecodeError(name, error);
  }
  return decodePillowWaiting(input, kind, plain, options).catch((error: unknown) => {
    throw asDecodeError(name, error);
  });
}

/**
 * `decodePillowImageNow`'s asynchronous decoders, on the bytes already read; a JPEG that is not CMYK goes on where
 * `decodePlainNow` stopped (`decodeWaiting`: the native decoder is not tried again, nor the caller's `output` used).
 */
async function decodePillowWaiting(
  input: Uint8Array,
  kind: ImageKind | undefined,
  plain: PlainEightBit | undefined,
  options: DecodeOptions,
): Promise<PillowImage> {
  if (kind?.format === 'png') return decodePillowPng(input, kind.depth, kind.colourType);
  if (kind?.format === 'jpeg') {
    if (kind.components !== 4) return inMode(await decodeWaiting(input, plain, options), 'RGB');
    const meta = await toSharp(input).metadata();
    if (!meta.width || !meta.height) throw new Error('image has no size');
    return { mode: 'CMYK', width: meta.width, height: meta.height, data: await decodeCmyk(input) };
  }
  const meta = await toSharp(input).metadata();
  // Pillow opens a GIF's first frame as 'P' (resized by nearest neighbour), transparency or not, or as 'L' when
  // its colour table is the grey ramp
  if (meta.format === 'gif') {
    const gif = gifFirstFrame(input);
    if (gif?.greyOverColour)
      throw new Error(
        "its first frame's local colour table is the grey ramp over a colour global table: Pillow 9.4 opens it as mode 'L' holding palette data, which it cannot resize ('image has wrong mode'); decodeImage gives its RGB",
      );
    return decodeInMode(input, gif?.palette === false ? 'L' : 'P');
  }
  if (meta.hasAlpha) return withAlpha(input, (meta.channels ?? 4) <= 2, meta.depth === 'ushort');
  return decodeInMode(input, 'RGB');
}

/**
 * A PNG in the mode Pillow opens it in, by its IHDR bit depth and colour type: palette → `'P'`, 1-bit grey → `'1'`,
 * 16-bit grey → `'I'`, grey+alpha → `'LA'`, RGBA → `'RGBA'` (16-bit: high bytes), else `'L'`/`'RGB'`.
 */
async function decodePillowPng(input: Uint8Array, depth: number, colourType: number): Promise<PillowImage> {
  if (colourType === 3) return decodeInMode(input, 'P');
  if (colourType === 0 && depth === 1) return decodeInMode(input, '1');
  if (colourType === 0 && depth === 16) {
    const r = await toSharp(input)
      .toColourspace('grey16')
      .raw({ depth: 'ushort' })
      .toBuffer({ resolveWithObject: true });
    const v = new Uint16Array(r.data.buffer, r.data.byteOffset, r.data.byteLength / 2);
    const { width, height, channels } = r.info;
    const data = new Int32Array(width * height);
    for (let p = 0; p < data.length; p++) data[p] = v[p * channels]!;
    return { mode: 'I', width, height, data };
  }
  if (colourType === 4 || colourType === 6) return withAlpha(input, colourType === 4, depth === 16);
  return decodeInMode(input, 'RGB');
}

/** `decodeImage` of `input`, as a `PillowImage` of `mode` (`inMode`). */
async function decodeInMode(
  input: Uint8Array,
  mode: 'RGB' | 'L' | '1' | 'P',
  options: DecodeOptions = {},
): Promise<PillowImage> {
  return inMode(await decodeImage(input, options), mode);
}

/**
 * `decodeImage`'s pixels (convert('RGB'), grey kept as one band) in the band count of `mode`: 'RGB' follows the
 * decoder (grey stays 'L'); 'L' and '1' keep one of three equal bands; 'P' spreads grey to three.
 */
function inMode(img: DecodedImage, mode: 'RGB' | 'L' | '1' | 'P'): PillowImage {
  const { width, height, channels } = img;
  const m = mode === 'RGB' && channels === 1 ? 'L' : mode;
  const want = m === 'L' || m === '1' ? 1 : 3;
  if (channels === want) return { mode: m, width, height, data: img.data };
  const data = new Uint8Array(width * height * want);
  for (let p = 0; p < width * height; p++)
    for (let c = 0; c < want; c++) data[p * want + c] = img.data[p * channels + (channels === 1 ? 0 : c)]!;
  return { mode: m, width, height, data };
}

/** Grey+alpha or RGBA pixels with their alpha, 8-bit (16-bit samples: the high byte, as Pillow's `;16B` modes). */
async function withAlpha(input: Uint8Array, grey: boolean, sixteen: boolean): Promise<PillowImage> {
  const ch = grey ? 2 : 4;
  const img = sixteen ? toSharp(input).toColourspace(grey ? 'grey16' : 'rgb16') : toSharp(input);
  const r = await img.raw(sixteen ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
  const { width, height, channels } = r.info;
  // libvips may hand 8-bit grey+alpha out as sRGB + alpha (equal colour bands): the first band and the alpha
  if (channels !== ch && !(grey && channels === 4))
    throw new Error(`expected ${ch} channels with alpha, decoded ${channels}`);
  const v = sixteen ? new Uint16Array(r.data.buffer, r.data.byteOffset, r.data.byteLength / 2) : r.data;
  const shift = sixteen ? 8 : 0;
  const data = new Uint8Array(width * height * ch);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < ch - 1; c++) data[p * ch + c] = v[p * channels + c]! >> shift;
    data[p * ch + ch - 1] = v[p * channels + channels - 1]! >> shift;
  }
  return { mode: grey ? 'LA' : 'RGBA', width, height, data };
}

/**
 * What Pillow 9.4's GifImagePlugin makes of a GIF's first frame, from the blocks before its image data: `palette`
 * false when the frame's colour table (local, else global) is the grey ramp (i, i, i), which Pillow drops
 * (`_is_palette_needed`) and opens as mode `'L'`; otherwise mode `'P'`. `fill`: the colour Pillow's `convert('RGB')`
 * gives the pixels the frame does not paint: with a transparent index (that of the last graphic control extension
 * that sets one) its transparent pixels and the canvas outside the frame (Pillow fills the canvas with that index),
 * without one the canvas outside a frame smaller than it (index 0: Pillow's new image is zeros); the index's palette
 * entry, or (i, i, i) without a palette. Absent when every pixel is the frame's own. `undefined` when the bytes are
 * not a GIF or the blocks cannot be read.
 */
function gifFirstFrame(b: Uint8Array):
  | {
      palette: boolean;
      fill?: [number, number, number];
      frame: [number, number, number, number];
      descriptor: number;
      greyOverColour: boolean;
    }
  | undefined {
  if (b.length < 13 || b[0] !== 0x47 || b[1] !== 0x49 || b[2] !== 0x46 || b[3] !== 0x38) return undefined;
  const table = (at: number, flags: number) => b.subarray(at, at + 3 * (2 << (flags & 7)));
  const needed = (t: Uint8Array | undefined) => {
    if (!t) return undefined;
    for (let i = 0; i < t.length; i += 3) if (!(t[i] === i / 3 && t[i + 1] === i / 3 && t[i + 2] === i / 3)) return t;
    return undefined;
  };
  let p = 13;
  const global = b[10]! & 0x80 ? needed(table(p, b[10]!)) : undefined;
  if (b[10]! & 0x80) p += 3 * (2 << (b[10]! & 7));
  let index: number | undefined;
  while (p < b.length) {
    if (b[p] === 0x21) {
      const label = b[p + 1];
      p += 2;
      if (label === 0xf9 && b[p]! >= 4 && b[p + 1]! & 1) index = b[p + 4]!;
      while (p < b.length && b[p] !== 0) p += b[p]! + 1;
      p += 1;
    } else if (b[p] === 0x2c) {
      if (p + 10 > b.length) return undefined;
      const flags = b[p + 9]!;
      const local = flags & 0x80 ? needed(table(p + 10, flags)) : undefined;
      const palette = local ?? global;
      // a grey-ramp local table, dropped by Pillow, over a global one in colour: painted with the global one
      const greyOverColour = (flags & 0x80) !== 0 && local === undefined && global !== undefined;
      const u16 = (at: number) => b[at]! | (b[at + 1]! << 8);
      refuseIncompleteGifFrame(b, p + 10 + (flags & 0x80 ? 3 * (2 << (flags & 7)) : 0), u16(p + 5), u16(p + 7));
      // the frame's left, top, width, height against the canvas (logical screen) width and height
      const frame: [number, number, number, number] = [
        u16(p + 1),
        u16(p + 3),
        u16(p + 1) + u16(p + 5),
        u16(p + 3) + u16(p + 7),
      ];
      const covers = frame[0] === 0 && frame[1] === 0 && frame[2] >= u16(6) && frame[3] >= u16(8);
      const fillIndex = index ?? (covers ? undefined : 0);
      if (fillIndex === undefined) return { palette: palette !== undefined, frame, descriptor: p, greyOverColour };
      const fill: [number, number, number] =
        palette && 3 * fillIndex + 2 < palette.length
          ? [palette[3 * fillIndex]!, palette[3 * fillIndex + 1]!, palette[3 * fillIndex + 2]!]
          : [fillIndex, fillIndex, fillIndex];
      return { palette: palette !== undefined, fill, frame, descriptor: p, greyOverColour };
    } else return undefined;
  }
  return undefined;
}

/**
 * Refuse a GIF's first frame whose pixels Pillow 9.4 does not take from the frame's own data, where libvips decodes
 * it (black where data is missing): one of zero width or height (Pillow raises "tile cannot extend outside image";
 * a zero width at the left edge it reads as the whole canvas), and one whose image data ends or breaks before every
 * pixel of the frame (Pillow raises "image file is truncated", or, where the file goes on, reads the bytes after the
 * frame's data as more of it). Neither libvips' pixels nor Pillow's are the image's: the file is refused, saying so.
 * @param lzw where the frame's image data (its LZW minimum code size byte) starts
 * @throws Error saying which
 */
function refuseIncompleteGifFrame(b: Uint8Array, lzw: number, width: number, height: number): void {
  if (width === 0 || height === 0)
    throw new Error(
      `its first frame is ${width}×${height} pixels: no image (Pillow 9.4 refuses it, or at the left edge reads the frame's data as the whole canvas)`,
    );
  const pixels = gifLzwPixels(b, lzw, width * height);
  if (pixels < width * height)
    throw new Error(
      `its first frame's image data ends after ${pixels} of its ${width}×${height} pixels (truncated or broken LZW data: Pillow 9.4 raises "image file is truncated", or takes the missing pixels from the bytes after the frame's data)`,
    );
}

/**
 * How many pixels the LZW data of a GIF frame at `p` (minimum code size byte, then sub-blocks) decodes to, counting
 * string lengths only, up to `limit` (returned once reached) or the end-of-information code, an invalid code, the
 * end of its sub-blocks or of the bytes. A minimum code size outside 1..11 returns `limit` (left to the decoder).
 */
function gifLzwPixels(b: Uint8Array, p: number, limit: number): number {
  const min = b[p];
  if (min === undefined || min < 1 || min > 11) return limit;
  const clear = 1 << min;
  const lengths = new Uint32Array(4096).fill(1, 0, clear);
  let [size, next, prev, count, acc, bits] = [min + 1, clear + 2, -1, 0, 0, 0];
  for (let q = p + 1, n = b[q] ?? 0; n > 0; q += n + 1, n = b[q] ?? 0) {
    for (let i = q + 1; i <= Math.min(q + n, b.length - 1); i++) {
      acc |= b[i]! << bits;
      bits += 8;
      while (bits >= size) {
        const code = acc & ((1 << size) - 1);
        acc >>>= size;
        bits -= size;
        if (code === clear) {
          [size, next, prev] = [min + 1, clear + 2, -1];
          continue;
        }
        if (code === clear + 1 || code > next || (code === next && prev < 0)) return count; // the end, or broken
        count += code === next ? lengths[prev]! + 1 : lengths[code]!;
        if (count >= limit) return limit;
        if (prev >= 0 && next < 4096) {
          lengths[next] = lengths[prev]! + 1;
          next += 1;
          if (next === 1 << size && size < 12) size += 1;
        }
        prev = code;
      }
    }
  }
  return count;
}

/** A PNG's bit depth and colour type (IHDR), or a JPEG's component count (first SOF). */
type ImageKind = { format: 'png'; depth: number; colourType: number } | { format: 'jpeg'; components: number };

/** A PNG's bit depth and colour type (IHDR), or a JPEG's component count (first SOF), from the bytes. */
function imageKind(b: Uint8Array): ImageKind | undefined {
  if (b.length > 26 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47)
    return { format: 'png', depth: b[24]!, colourType: b[25]! };
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  const u16 = (p: number) => (b[p]! << 8) | b[p + 1]!;
  let p = 2;
  while (p + 9 < b.length && b[p] === 0xff) {
    const m = b[p + 1]!;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
      return { format: 'jpeg', components: b[p + 9]! };
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      p += 2;
      continue;
    }
    if (m === 0xda) return undefined;
    p += 2 + u16(p + 2);
  }
  return undefined;
}

/**
 * Largest JPEG (width·height) that `'auto'` decodes in WebAssembly; larger ones go to libvips (native SIMD
 * libjpeg-turbo, the same bytes): 448², the largest size at which WebAssembly was still the faster of the two in
 * `pnpm bench:preprocess --decoder-sweep` on one CPU (libvips faster from 512²; apps/bench/README.md).
 */
export const JPEG_WASM_MAX_PIXELS = 448 * 448;

/**
 * Whether a plain 8-bit JPEG goes to the native decoder under `decoder`.
 * @throws InvalidArgumentError for `'native'` where no library passed its self-test, naming each one tried
 */
function useNativeJpeg(decoder: JpegDecoder): boolean {
  if (decoder !== 'native') return decoder === 'auto' && nativeJpeg().available;
  const s = nativeJpeg();
  if (!s.available)
    throw new InvalidArgumentError({
      functionName: 'decodeImage',
      argument: 'options.jpegDecoder',
      message: `'native' needs libturbojpeg, and none is available here (${s.reason}); set VLFER_TURBOJPEG to the library's path, or use 'auto'`,
    });
  return true;
}

/** Whether a plain 8-bit JPEG of `pixels` pixels goes to the WebAssembly decoder under `decoder`. */
function useWasmJpeg(pixels: number, decoder: JpegDecoder): boolean {
  return decoder === 'wasm' || (decoder === 'auto' && pixels <= JPEG_WASM_MAX_PIXELS);
}

/**
 * The scale Pillow 9.4's `JpegImageFile.draft(mode, (width, height))` picks for a `w`×`h` JPEG: the largest of 8, 4,
 * 2, 1 not above min(⌊w / width⌋, ⌊h / height⌋). The drafted image is ⌈w / scale⌉ × ⌈h / scale⌉.
 */
export function pillowDraftScale(w: number, h: number, target: { width: number; height: number }): 1 | 2 | 4 | 8 {
  const scale = Math.min(Math.floor(w / target.width), Math.floor(h / target.height));
  return scale >= 8 ? 8 : scale >= 4 ? 4 : scale >= 2 ? 2 : 1;
}

/** @throws InvalidArgumentError naming the option of `decodeImage` that is not one it takes */
function checkDecodeOptions(options: DecodeOptions): void {
  if (options.jpegDecoder !== undefined)
    checkOneOf(options.jpegDecoder, JPEG_DECODERS, { functionName: 'decodeImage', argument: 'options.jpegDecoder' });
  if (options.output !== undefined && typeof options.output !== 'function')
    throw new InvalidArgumentError({
      functionName: 'decodeImage',
      argument: 'options.output',
      message: `expected a function (bytes) => Uint8Array, got ${typeof options.output}`,
    });
  const d = options.draft;
  if (d === undefined) return;
  const ok = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
  if (typeof d !== 'object' || d === null || !ok(d.width) || !ok(d.height))
    throw new InvalidArgumentError({
      functionName: 'decodeImage',
      argument: 'options.draft',
      message: `expected { width, height } in positive whole pixels, got ${JSON.stringify(d)}`,
    });
}
/** Largest PNG decoded by fast-png: faster than libvips up to about 360² (inflate in JavaScript), slower above. */
const PNG_JS_MAX_PIXELS = 2 ** 17;

/** A file that `plainEightBit` found plain: its kind and size. */
interface PlainEightBit {
  kind: 'jpeg' | 'png';
  width: number;
  height: number;
  /** Grey (a PNG of colour type 0 or 4, a 1-component JPEG): decoded to one channel, as Pillow's mode L. */
  grey: boolean;
}

/**
 * Whether a file can skip the header-first path, and its size: `'jpeg'` for a JPEG whose frame has 8 bits and 1 or
 * 3 components (not CMYK/YCCK, which needs Pillow's formula), `'png'` for a PNG of at most 8 bits per sample
 * (16-bit needs Pillow's reduction). Anything else (and anything unparsable) gives `undefined` and takes the
 * general path.
 */
function plainEightBit(b: Uint8Array): PlainEightBit | undefined {
  const u16 = (p: number) => (b[p]! << 8) | b[p + 1]!;
  if (b.length > 26 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    // IHDR: width, height (big-endian u32), bit depth
    return b[24]! <= 8
      ? {
          kind: 'png',
          width: u16(16) * 65536 + u16(18),
          height: u16(20) * 65536 + u16(22),
          grey: b[25] === 0 || b[25] === 4,
        }
      : undefined;
  }
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let p = 2;
  while (p + 9 < b.length && b[p] === 0xff) {
    const m = b[p + 1]!;
    // SOFn: precision, height, width, components
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
      return b[p + 4] === 8 && (b[p + 9] === 1 || b[p + 9] === 3)
        ? { kind: 'jpeg', width: u16(p + 7), height: u16(p + 5), grey: b[p + 9] === 1 }
        : undefined;
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      p += 2;
      continue;
    }
    if (m === 0xda) return undefined;
    p += 2 + u16(p + 2);
  }
  return undefined;
}
