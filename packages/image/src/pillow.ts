/**
 * @file Pillow's image modes and `convert('RGB')`: decoded pixels (`DecodedImage`), images in the mode Pillow 9.4 opens
 * them in (`PillowImage`), Pillow's CMYK → RGB, and the resize of an image in its own mode (`pillowResizeWindow`).
 */
import { InvalidArgumentError } from '@vlfer/core';
import {
  pilNearestWindow,
  pilResizeInt32,
  pilResizeWindow,
  type PilResampler,
  type ResizeWindow,
} from './pil-resize.js';

/** Decoded 8-bit pixels, interleaved: 1 channel (grey) or 3 (RGB). */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Modes of a Pillow image that OpenAI's transform resizes differently (see `PillowImage`). */
export const PILLOW_MODES = ['L', 'RGB', 'LA', 'RGBA', 'P', '1', 'CMYK', 'I'] as const;
export type PillowMode = (typeof PILLOW_MODES)[number];

/**
 * A decoded image in the mode Pillow 9.4 opens it in, as far as resizing tells modes apart (`'openai'` resizes
 * before converting to RGB). `data` is interleaved, HWC:
 * - `'L'` 1 byte, `'RGB'` 3;
 * - `'LA'` 2 bytes (grey, alpha), `'RGBA'` 4 (Pillow resizes them premultiplied: `'La'`/`'RGBa'`);
 * - `'P'` as the RGB bytes of its palette entries (3; tRNS ignored, as `convert('RGB')` does) and `'1'` as grey
 *   0/255 (1): Pillow resizes both by nearest neighbour, which commutes with the palette look-up;
 * - `'CMYK'` 4 bytes, C, M, Y, K as Pillow holds them (converted to RGB after resizing, `pillowCmykToRgb`);
 * - `'I'` an Int32Array, one value per pixel (a 16-bit grey PNG: 0…65535; resized in doubles, then clipped to
 *   0…255 by `convert('RGB')`).
 */
export interface PillowImage {
  mode: PillowMode;
  width: number;
  height: number;
  data: Uint8Array | Int32Array;
}

const PILLOW_CHANNELS: Record<PillowMode, number> = { L: 1, RGB: 3, LA: 2, RGBA: 4, P: 3, '1': 1, CMYK: 4, I: 1 };

/**
 * Pillow's CMYK → RGB (`libImaging/Convert.c` cmyk2rgb, Pillow ≥ 8): r = clip(nk − c·nk/255) with nk = 255 − k and
 * the division rounded as MULDIV255; no ICC profile is applied. @param cmyk interleaved C, M, Y, K bytes
 */
export function pillowCmykToRgb(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length / 4;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const nk = 255 - cmyk[4 * i + 3]!;
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.max(0, Math.min(255, nk - muldiv255(cmyk[4 * i + c]!, nk)));
  }
  return out;
}

/** libImaging's MULDIV255(a, b): a·b / 255 rounded, in integers. */
function muldiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * Resize `img` to nw × nh as Pillow 9.4's `Image.resize(size, BICUBIC)` does in the image's own mode and return the
 * window `box` of the result converted to grey or RGB (`convert('RGB')`, grey kept as one channel):
 * - `'1'`, `'P'`: nearest neighbour (`Image.resize` overrides the filter for these modes);
 * - `'LA'`, `'RGBA'`: converted to premultiplied `'La'`/`'RGBa'` (c·a/255 rounded, MULDIV255), resized, converted
 *   back (`CLIP8(255·c / a)` in integers, c kept where a is 0 or 255), alpha dropped; not when the size is unchanged
 *   (Pillow returns a copy before that step);
 * - `'CMYK'`: the four bands resized, then Pillow's cmyk2rgb;
 * - `'I'`: resized in doubles (`pilResizeInt32`), then clipped to 0…255 (Pillow's i2rgb);
 * - `'L'`, `'RGB'`: the 8-bit resize of `'clip'`.
 */
export function pillowResizeWindow(
  img: PillowImage,
  nw: number,
  nh: number,
  box: { x: number; y: number; width: number; height: number },
  resampler?: PilResampler,
): DecodedImage {
  const { mode, width: w, height: h } = img;
  const ch = pillowChannels(img);
  const same = nw === w && nh === h;
  const result = (data: Uint8Array, channels: 1 | 3): DecodedImage => ({
    data,
    width: box.width,
    height: box.height,
    channels,
  });
  switch (mode) {
    case 'L':
    case 'RGB': {
      const data = img.data as Uint8Array;
      return result(
        same ? cropWindow(data, w, ch, box) : pilResizeWindow(data, w, h, ch, nw, nh, 'bicubic', box, resampler),
        ch as 1 | 3,
      );
    }
    case 'P':
    case '1': {
      const data = img.data as Uint8Array;
      return result(same ? cropWindow(data, w, ch, box) : pilNearestWindow(data, w, h, ch, nw, nh, box), ch as 1 | 3);
    }
    case 'CMYK': {
      const data = img.data as Uint8Array;
      const win = same
        ? cropWindow(data, w, 4, box)
        : pilResizeWindow(data, w, h, 4, nw, nh, 'bicubic', box, resampler);
      return result(pillowCmykToRgb(win), 3);
    }
    case 'LA':
    case 'RGBA': {
      const data = img.data as Uint8Array;
      const win = same ? cropWindow(data, w, ch, box) : resizePremultiplied(data, w, h, ch, nw, nh, box, resampler);
      return result(dropAlpha(win, ch), (ch - 1) as 1 | 3);
    }
    case 'I':
      return result(resizeModeI(img.data as Int32Array, w, h, nw, nh, box), 1);
  }
}

/**
 * The channel count of `img`'s mode, after checking that `img.data` is of the type and length the mode needs.
 * @throws InvalidArgumentError naming `image.mode` or `image.data`
 */
function pillowChannels(img: PillowImage): number {
  const { mode, width: w, height: h } = img;
  const ch = PILLOW_CHANNELS[mode];
  if (ch === undefined)
    throw new InvalidArgumentError({
      functionName: 'preprocessPillowImage',
      argument: 'image.mode',
      message: `expected one of ${PILLOW_MODES.join(', ')}, got ${String(mode)}`,
    });
  const wantInt = mode === 'I';
  if (wantInt !== img.data instanceof Int32Array || img.data.length !== w * h * ch)
    throw new InvalidArgumentError({
      functionName: 'preprocessPillowImage',
      argument: 'image.data',
      message: `expected ${w}x${h}x${ch} ${wantInt ? 'Int32Array' : 'Uint8Array'} values for mode ${mode}, got ${img.data.length} in a ${img.data.constructor.name}`,
    });
  return ch;
}

/** The pixels of `box` out of a `w`-wide interleaved image, as box.height · box.width · channels bytes. */
function cropWindow(data: Uint8Array, w: number, channels: number, box: ResizeWindow): Uint8Array {
  const out = new Uint8Array(box.width * box.height * channels);
  for (let r = 0; r < box.height; r++)
    out.set(
      data.subarray(((box.y + r) * w + box.x) * channels, ((box.y + r) * w + box.x + box.width) * channels),
      r * box.width * channels,
    );
  return out;
}

/**
 * Pillow's resize of an image with alpha (`'LA'`, `'RGBA'`, `ch` bytes a pixel, alpha last): converted to
 * premultiplied (`rgbA2rgba`, `lA2la`: colour · alpha / 255 rounded), resized (bicubic), converted back
 * (`rgba2rgbA`, `la2lA`: colour · 255 / alpha in integers, clipped; kept where alpha is 0 or 255).
 * @returns box.height · box.width · ch bytes, alpha kept
 */
function resizePremultiplied(
  data: Uint8Array,
  w: number,
  h: number,
  ch: number,
  nw: number,
  nh: number,
  box: ResizeWindow,
  resampler: PilResampler | undefined,
): Uint8Array {
  const colours = ch - 1;
  const pre = new Uint8Array(data.length);
  for (let p = 0; p < data.length; p += ch) {
    const a = data[p + colours]!;
    for (let c = 0; c < colours; c++) pre[p + c] = muldiv255(data[p + c]!, a);
    pre[p + colours] = a;
  }
  const win = pilResizeWindow(pre, w, h, ch, nw, nh, 'bicubic', box, resampler);
  for (let p = 0; p < win.length; p += ch) {
    const a = win[p + colours]!;
    if (a === 0 || a === 255) continue;
    for (let c = 0; c < colours; c++) win[p + c] = Math.min(255, Math.floor((255 * win[p + c]!) / a));
  }
  return win;
}

/** The colour bytes of interleaved pixels of `ch` bytes with alpha last (`convert('RGB')` of `'LA'`/`'RGBA'`). */
function dropAlpha(win: Uint8Array, ch: number): Uint8Array {
  const colours = ch - 1;
  const n = win.length / ch;
  const out = new Uint8Array(n * colours);
  for (let i = 0; i < n; i++) for (let c = 0; c < colours; c++) out[i * colours + c] = win[i * ch + c]!;
  return out;
}

/**
 * Mode `'I'`: resized in doubles (`pilResizeInt32`, bicubic) unless the size is unchanged, then `box` clipped to
 * 0…255 (Pillow's i2rgb). @returns box.height · box.width grey bytes
 */
function resizeModeI(data: Int32Array, w: number, h: number, nw: number, nh: number, box: ResizeWindow): Uint8Array {
  const full = nw === w && nh === h ? data : pilResizeInt32(data, w, h, nw, nh, 'bicubic');
  const out = new Uint8Array(box.width * box.height);
  for (let r = 0; r < box.height; r++)
    for (let i = 0; i < box.width; i++) {
      const v = full[(box.y + r) * nw + box.x + i]!;
      out[r * box.width + i] = v <= 0 ? 0 : v >= 255 ? 255 : v;
    }
  return out;
}

/** Pillow's `convert('RGB')` of a `PillowImage` (grey kept as one channel). */
export function pillowToRgb(img: PillowImage): DecodedImage {
  const { width, height } = img;
  return pillowResizeWindow(img, width, height, { x: 0, y: 0, width, height });
}

/**
 * Pillow 9.4's decompression-bomb limit: 2 · `Image.MAX_IMAGE_PIXELS` = 178,956,970 pixels, above which `Image.open`
 * raises DecompressionBombError. The decoders refuse (or leave to libvips, which refuses) larger images.
 */
export const PILLOW_MAX_PIXELS = 178_956_970;
