import { PILLOW_MAX_PIXELS, type PillowMode } from '../pillow.js';

/** A BMP's pixels as Pillow 9.4 opens them: `mode` and, for `convert('RGB')`, RGB bytes (grey modes: one channel). */
export interface DecodedBmp {
  mode: Extract<PillowMode, 'RGB' | 'P' | 'L' | '1'>;
  width: number;
  height: number;
  /** [height, width, channels] row-major, top row first; channels 1 for 'L' and '1', else 3 */
  data: Uint8Array;
  channels: 1 | 3;
}

/** Whether `b` starts as a Windows bitmap: 'BM' and the size of its info header. */
export const isBmp = (b: Uint8Array): boolean => b.length >= 18 && b[0] === 0x42 && b[1] === 0x4d;

/**
 * A BMP's size as its info header says (`b`: at least its first 26 bytes), the height as Pillow reads it: a height
 * field whose top byte is 0xFF is negative (rows top-down), any other is unsigned.
 */
export function bmpSize(b: Uint8Array): { width: number; height: number; topDown: boolean } {
  if (b.length < 26) throw new Error(`a BMP of ${b.length} bytes ends inside its header`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const heightField = v.getUint32(22, true);
  const topDown = heightField >>> 24 === 0xff;
  return { width: v.getUint32(18, true), height: topDown ? 2 ** 32 - heightField : heightField, topDown };
}

/** The info-header sizes Pillow 9.4 reads as Windows bitmaps (v3, OS/2 v2, v4, v5). */
const WINDOWS_HEADERS = [40, 64, 108, 124];

/**
 * Decode an uncompressed Windows BMP as Pillow 9.4's `BmpImagePlugin` reads it: an info header of 40, 64, 108 or 124
 * bytes; 24-bit (BGR) or 32-bit (BGRX: the fourth byte ignored, mode RGB) pixels, or 1-, 4- or 8-bit indices into a
 * palette of up to 256 four-byte BGR0 entries (mode 'P'; a palette of (i, i, i) is mode 'L', of black and white
 * mode '1', as Pillow opens them; an index past the palette is Pillow's grey (i, i, i)); rows padded to 4 bytes
 * (the last row's padding may be missing), bottom-up unless the height's top byte is 0xFF; a pixel offset of 0, or one
 * that points at the palette, read as Pillow reads it (after the header and palette). Other BMPs (RLE or bit-field
 * compression, 16-bit pixels, OS/2 headers, other header sizes) are refused, naming what they are.
 * @throws Error saying what the file holds that is not read (the caller names the file)
 */
export function decodeBmp(b: Uint8Array): DecodedBmp {
  if (!isBmp(b)) throw new Error(`not a BMP (${b.length} bytes)`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const headerSize = v.getUint32(14, true);
  if (headerSize === 12) throw new Error('an OS/2 BMP (12-byte header) is not read; convert it to PNG');
  if (!WINDOWS_HEADERS.includes(headerSize))
    throw new Error(`a BMP with a ${headerSize}-byte info header is not read (Pillow reads 12, 40, 64, 108, 124)`);
  if (b.length < 14 + headerSize) throw new Error(`the BMP ends inside its ${headerSize}-byte info header`);
  const { width, height, topDown } = bmpSize(b);
  const bits = v.getUint16(28, true);
  const compression = v.getUint32(30, true);
  if (width === 0 || height === 0) throw new Error(`a BMP of size ${width}×${height} holds no image`);
  if (width * height > PILLOW_MAX_PIXELS)
    throw new Error(
      `a BMP of ${width}×${height} pixels is over Pillow's decompression-bomb limit (${PILLOW_MAX_PIXELS})`,
    );
  if (compression !== 0 || ![1, 4, 8, 24, 32].includes(bits))
    throw new Error(
      `${/^(8|11|18)/.test(String(bits)) ? 'an' : 'a'} ${bits}-bit BMP with compression ${compression} (${['none', 'RLE8', 'RLE4', 'bit fields'][compression] ?? 'other'}) is not read; only uncompressed 1-, 4-, 8-, 24- and 32-bit BMPs are: convert it to PNG`,
    );
  const colours = bits <= 8 ? v.getUint32(46, true) || 1 << bits : 0;
  if (colours > 256) throw new Error(`a BMP palette of ${colours} colours is not read (Pillow reads up to 256)`);
  // Pillow reads pixels from the offset given, or after the header and palette when it is 0 or points at the palette
  const rawOffset = v.getUint32(10, true);
  const afterPalette = 14 + headerSize + 4 * colours;
  const offset = rawOffset === 0 || (rawOffset === 14 + headerSize && bits <= 8) ? afterPalette : rawOffset;
  const stride = Math.ceil((width * bits) / 32) * 4;
  // the last row's padding need not be there (Pillow's raw decoder reads the pixels only)
  const needed = stride * (height - 1) + Math.ceil((width * bits) / 8);
  if (offset + needed > b.length)
    throw new Error(`the BMP's pixel data ends after ${Math.max(0, b.length - offset)} of ${needed} bytes`);
  const rowAt = (y: number) => offset + (topDown ? y : height - 1 - y) * stride;
  if (bits >= 24) {
    const step = bits / 8;
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0, p = rowAt(y), o = y * width * 3; x < width; x++, p += step, o += 3) {
        data[o] = b[p + 2]!;
        data[o + 1] = b[p + 1]!;
        data[o + 2] = b[p]!;
      }
    return { mode: 'RGB', width, height, data, channels: 3 };
  }
  return decodePalettedBmp(b, { width, height, bits, colours, headerSize, rowAt });
}

/** The 1-, 4- and 8-bit BMPs of {@link decodeBmp}: palette entries of 4 bytes after the header. */
function decodePalettedBmp(
  b: Uint8Array,
  f: {
    width: number;
    height: number;
    bits: number;
    colours: number;
    headerSize: number;
    rowAt: (y: number) => number;
  },
): DecodedBmp {
  const { width, height, bits, colours } = f;
  const at = 14 + f.headerSize;
  if (at + 4 * colours > b.length) throw new Error(`the BMP's palette of ${colours} colours ends past the file`);
  const palette = Array.from({ length: colours }, (_, i) => [b[at + 4 * i + 2]!, b[at + 4 * i + 1]!, b[at + 4 * i]!]);
  // Pillow: a palette of (0,0,0), (255,255,255) opens as '1', of (i, i, i) for i < colours as 'L'
  const greys = colours === 2 ? [0, 255] : Array.from({ length: colours }, (_, i) => i);
  const grey = palette.every(([r, g, bl], i) => r === greys[i] && g === greys[i] && bl === greys[i]);
  // Pillow reads such pixels as 8-bit grey ('L') or 1-bit ('1') whatever their width: another image, not followed
  if (grey && bits !== (colours === 2 ? 1 : 8))
    throw new Error(
      `${bits === 8 ? 'an' : 'a'} ${bits}-bit BMP with a grey palette of ${colours} is not read; convert it to PNG`,
    );
  const channels = grey ? 1 : 3;
  const data = new Uint8Array(width * height * channels);
  const mask = (1 << bits) - 1;
  for (let y = 0; y < height; y++) {
    const row = f.rowAt(y);
    for (let x = 0; x < width; x++) {
      const bit = x * bits;
      const index = (b[row + (bit >> 3)]! >> (8 - bits - (bit & 7))) & mask;
      const o = (y * width + x) * channels;
      // mode 'L' holds the index itself (the palette is the identity where it is defined), mode '1' 0 or 255
      if (grey) data[o] = colours === 2 ? index * 255 : index;
      else if (index < colours) data.set(palette[index]!, o);
      else data.fill(index, o, o + 3); // past the palette: Pillow's grey (i, i, i)
    }
  }
  return { mode: grey ? (colours === 2 ? '1' : 'L') : 'P', width, height, data, channels };
}
