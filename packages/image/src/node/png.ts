import { decode } from 'fast-png';
import type { DecodedImage } from '../pillow.js';

/**
 * Decode an 8-bit PNG in JavaScript (`fast-png`: inflate, unfilter, Adam7; chunk CRCs checked, as Pillow and
 * libpng do) into Pillow's `convert('RGB')` view: grey stays one channel, grey+alpha keeps the grey, RGBA drops
 * alpha without compositing, a palette image is looked up in its palette (tRNS ignored; an index past a short palette is grey (i, i, i),
 * Pillow's initial palette). PNG is lossless, so the
 * only choices are these conversions; tests compare every colour type with Pillow. A 48×48 PNG decodes here in a
 * small fraction of sharp's per-call cost.
 * Returns `undefined` for anything else (1, 2, 4 or 16 bits; any decoding error):
 * the caller then decodes with libvips, whose error names the problem.
 */
export function decodePngJs(bytes: Uint8Array): DecodedImage | undefined {
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch {
    // no message is lost: libvips decodes the same bytes next and reports what is wrong with them
    return undefined;
  }
  const { width, height, channels, depth, palette } = png;
  const n = width * height;
  const src = png.data;
  if (depth !== 8 || !(src instanceof Uint8Array || src instanceof Uint8ClampedArray) || src.length !== n * channels)
    return undefined;
  if (palette) {
    if (channels !== 1) return undefined;
    const out = new Uint8Array(n * 3);
    for (let p = 0; p < n; p++) {
      const i = src[p]!;
      const c = palette[i];
      if (c) {
        out[3 * p] = c[0]!;
        out[3 * p + 1] = c[1]!;
        out[3 * p + 2] = c[2]!;
      }
      // past a short PLTE, Pillow's palette keeps its initial grey ramp: (i, i, i)
      else out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = i;
    }
    return { data: out, width, height, channels: 3 };
  }
  const keep = channels <= 2 ? 1 : 3;
  if (channels < 1 || channels > 4) return undefined;
  const out = new Uint8Array(n * keep);
  if (channels === keep) out.set(src);
  else for (let p = 0; p < n; p++) for (let c = 0; c < keep; c++) out[p * keep + c] = src[p * channels + c]!;
  return { data: out, width, height, channels: keep };
}
