/**
 * A port of Pillow's `Image.resize` for 8-bit images (libImaging/Resample.c): separable two-pass
 * convolution with antialiasing support scaling, coefficients normalised per output pixel, 22-bit
 * fixed-point accumulation and rounding to uint8 after each pass. Reproduces Pillow's output bit for bit,
 * which is what the Exp-CLIP (torchvision Resize on PIL images) and Hugging Face CLIPImageProcessor
 * pipelines feed the model.
 */

export type PilFilter = 'bilinear' | 'bicubic';

const PRECISION_BITS = 32 - 8 - 2;
const SCALE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

const FILTERS: Record<PilFilter, { support: number; fn: (x: number) => number }> = {
  bilinear: {
    support: 1,
    fn: (x) => {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

interface Coeffs {
  ksize: number;
  /** [xmin, count] per output pixel */
  bounds: Int32Array;
  /** fixed-point weights (Pillow's INT32 kk), ksize per output pixel */
  kk: Int32Array;
}

/** Coefficients are the same for every image of a size: the last few are kept (a dataset has few sizes). */
const COEFFS = new Map<string, Coeffs>();
function coeffs(inSize: number, outSize: number, filter: PilFilter): Coeffs {
  const key = `${inSize} ${outSize} ${filter}`;
  let c = COEFFS.get(key);
  if (!c) {
    c = precomputeCoeffs(inSize, outSize, filter);
    if (COEFFS.size >= 64) COEFFS.delete(COEFFS.keys().next().value!);
    COEFFS.set(key, c);
  }
  return c;
}

function precomputeCoeffs(inSize: number, outSize: number, filter: PilFilter): Coeffs {
  const f = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = f.fn((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const w = x < xmax ? (ww !== 0 ? pre[x]! / ww : pre[x]!) : 0;
      // normalize_coeffs_8bpc: round half away from zero into fixed point (C cast truncates toward zero)
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * SCALE) : Math.trunc(0.5 + w * SCALE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** Pillow's clip8: the INT32 accumulator shifted down (floor) and clamped to 0…255. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resize interleaved 8-bit pixels (HWC) exactly as Pillow's `Image.resize(size, filter)` with the full box.
 * @param src height·width·channels bytes
 * @returns outHeight·outWidth·channels bytes
 */
export function pilResize(src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number, filter: PilFilter): Uint8Array {
  if (src.length !== width * height * channels) throw new RangeError(`pilResize: ${src.length} bytes is not ${width}x${height}x${channels}`);
  if (outWidth === width && outHeight === height) return src.slice();
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  const h = coeffs(width, outWidth, filter);
  const v = coeffs(height, outHeight, filter);
  const yFirst = v.bounds[0]!;
  const yLast = v.bounds[2 * outHeight - 2]! + v.bounds[2 * outHeight - 1]!;
  let img = src;
  let iw = width;
  let rowOffset = 0;
  if (needH) {
    // horizontal pass over the rows the vertical pass will read
    rowOffset = yFirst;
    const rows = yLast - yFirst;
    const tmp = new Uint8Array(rows * outWidth * channels);
    for (let yy = 0; yy < rows; yy++) {
      const inRow = (yy + yFirst) * width * channels;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = h.bounds[2 * xx]!;
        const n = h.bounds[2 * xx + 1]!;
        const k = xx * h.ksize;
        const o = (yy * outWidth + xx) * channels;
        if (channels === 3) {
          let s0 = HALF, s1 = HALF, s2 = HALF;
          for (let x = 0, p = inRow + xmin * 3; x < n; x++, p += 3) {
            const w = h.kk[k + x]!;
            s0 += src[p]! * w; s1 += src[p + 1]! * w; s2 += src[p + 2]! * w;
          }
          tmp[o] = clip8(s0); tmp[o + 1] = clip8(s1); tmp[o + 2] = clip8(s2);
        } else {
          for (let c = 0; c < channels; c++) {
            let ss = HALF;
            for (let x = 0; x < n; x++) ss += src[inRow + (x + xmin) * channels + c]! * h.kk[k + x]!;
            tmp[o + c] = clip8(ss);
          }
        }
      }
    }
    img = tmp;
    iw = outWidth;
  }
  if (!needV) return img;
  const out = new Uint8Array(outHeight * iw * channels);
  const rowLen = iw * channels;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = v.bounds[2 * yy]! - (needH ? rowOffset : 0);
    const n = v.bounds[2 * yy + 1]!;
    const k = yy * v.ksize;
    const o = yy * rowLen;
    // one output row: every value of it, the kernel over the input rows (row-major, so reads stay sequential)
    for (let i = 0; i < rowLen; i++) {
      let ss = HALF;
      for (let y = 0, p = ymin * rowLen + i; y < n; y++, p += rowLen) ss += img[p]! * v.kk[k + y]!;
      out[o + i] = clip8(ss);
    }
  }
  return out;
}
