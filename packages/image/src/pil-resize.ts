/**
 * A port of Pillow's `Image.resize` for 8-bit images (libImaging/Resample.c): separable two-pass
 * convolution with antialiasing support scaling, coefficients normalised per output pixel, 22-bit
 * fixed-point accumulation and rounding to uint8 after each pass. Reproduces Pillow's output bit for bit,
 * which is what the Exp-CLIP (torchvision Resize on PIL images) and Hugging Face CLIPImageProcessor
 * pipelines feed the model.
 */

import { compileWasmBase64 } from '@vlfer/core';
import { PIL_RESAMPLE_WASM } from './pil-resample-wasm.js';

export type PilFilter = 'bilinear' | 'bicubic';

/**
 * Who runs the passes: `'wasm'` (default where WebAssembly SIMD exists: pil-resample.wat, 16 bytes per
 * instruction) or `'js'` (the reference implementation below). Both give Pillow's bytes; tests check each.
 */
export const PIL_RESAMPLERS = ['wasm', 'js'] as const;
export type PilResampler = (typeof PIL_RESAMPLERS)[number];

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
  /**
   * weights per output pixel in `kk`: Pillow's ksize rounded up to a multiple of 4 (the WebAssembly horizontal pass
   * takes the taps four at a time)
   */
  ksize: number;
  /** [xmin, count] per output pixel */
  bounds: Int32Array;
  /** fixed-point weights (Pillow's INT32 kk), ksize per output pixel, zero past its count */
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
  const { ksize, bounds, weights } = precomputeWeights(inSize, outSize, filter);
  const stride = (ksize + 3) & ~3;
  const kk = new Int32Array(outSize * stride);
  for (let xx = 0; xx < outSize; xx++) {
    for (let x = 0; x < ksize; x++) {
      const w = weights[xx * ksize + x]!;
      // normalize_coeffs_8bpc: round half away from zero into fixed point (C cast truncates toward zero)
      kk[xx * stride + x] = w < 0 ? Math.trunc(-0.5 + w * SCALE) : Math.trunc(0.5 + w * SCALE);
    }
  }
  return { ksize: stride, bounds, kk };
}

/**
 * Pillow's `precompute_coeffs` (libImaging/Resample.c): per output pixel the first input pixel, the tap count and
 * the filter weights normalised to sum 1 (doubles, `ksize` per output pixel, zero past the taps).
 */
function precomputeWeights(
  inSize: number,
  outSize: number,
  filter: PilFilter,
): { ksize: number; bounds: Int32Array; weights: Float64Array } {
  const f = FILTERS[filter];
  if (!f)
    throw new RangeError(`pilResize: filter must be one of ${Object.keys(FILTERS).join(', ')}, got ${String(filter)}`);
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1)
    throw new RangeError(`pilResize: sizes must be positive integers, got ${inSize} → ${outSize}`);
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
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
    for (let x = 0; x < xmax; x++) weights[xx * ksize + x] = ww !== 0 ? pre[x]! / ww : pre[x]!;
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

/**
 * What both implementations of a windowed resize need: the arguments checked, which passes run, the coefficients,
 * and the input rows [yFirst, yLast) that the window's output rows read (bounds are non-decreasing in the output
 * index).
 */
function resizePlan(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: PilFilter,
  win: ResizeWindow,
) {
  if (src.length !== width * height * channels)
    throw new RangeError(`pilResize: ${src.length} bytes is not ${width}x${height}x${channels}`);
  const { x: wx, y: wy, width: ww, height: wh } = win;
  if (!(
    Number.isInteger(wx) &&
    Number.isInteger(wy) &&
    ww > 0 &&
    wh > 0 &&
    wx >= 0 &&
    wy >= 0 &&
    wx + ww <= outWidth &&
    wy + wh <= outHeight
  )) {
    throw new RangeError(`pilResize: window ${JSON.stringify(win)} does not fit the ${outWidth}x${outHeight} output`);
  }
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  const h = coeffs(width, outWidth, filter);
  const v = coeffs(height, outHeight, filter);
  const yFirst = needV ? v.bounds[2 * wy]! : wy;
  const yLast = needV ? v.bounds[2 * (wy + wh - 1)]! + v.bounds[2 * (wy + wh - 1) + 1]! : wy + wh;
  return { wx, wy, ww, wh, needH, needV, h, v, yFirst, yLast, len: ww * channels };
}

/** A window of a resize's output: the pixels [x, x + width) × [y, y + height) of the full outWidth × outHeight result. */
export interface ResizeWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Pillow's `Image.resize(size, filter)` over interleaved 8-bit pixels (HWC), computing only `window` of the output
 * (a centre crop costs only the cropped pixels; every output pixel is the one Pillow computes for the full size) and
 * handing each output row to `row`: `window.width · channels` bytes, valid until `row` returns. The one
 * implementation behind `pilResize` and preprocessing's fused resize + crop + normalise.
 * Horizontal pass first over the input rows the vertical pass reads, then the vertical pass one output row at a
 * time, kernel taps outermost so the inner loops run along whole rows; values are rounded to uint8 after each pass
 * (Pillow's clip8 of the 22-bit fixed-point sum, done by the stores into Uint8ClampedArray).
 * @param src height·width·channels bytes
 */
export function pilResizeRows(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: PilFilter,
  window: ResizeWindow,
  row: (line: Uint8Array, y: number) => void,
): void {
  const { wx, wy, ww, wh, needH, needV, h, v, yFirst, yLast, len } = resizePlan(
    src,
    width,
    height,
    channels,
    outWidth,
    outHeight,
    filter,
    window,
  );
  // the source rows, or after a horizontal pass the window's columns of input rows [yFirst, yLast)
  const layout: RowLayout = needH
    ? {
        img: horizontalPass(src, width, channels, h, wx, ww, yFirst, yLast),
        rowLen: len,
        colOffset: 0,
        rowBase: yFirst,
      }
    : { img: src, rowLen: width * channels, colOffset: wx * channels, rowBase: 0 };
  if (needV) verticalPass(layout, v, wy, wh, len, row);
  else copyRows(layout, wy, wh, len, row);
}

/** Where the rows the vertical pass reads are: row y of the image starts at (y − rowBase)·rowLen + colOffset. */
interface RowLayout {
  img: Uint8Array | Uint8ClampedArray;
  rowLen: number;
  colOffset: number;
  rowBase: number;
}

/**
 * Pillow's `ImagingResampleHorizontal_8bpc` over input rows [yFirst, yLast), output columns [wx, wx + ww): per output
 * pixel the fixed-point sum of its taps, rounded to uint8 by the store (clip8).
 * @returns (yLast − yFirst) rows of ww·channels bytes
 */
function horizontalPass(
  src: Uint8Array,
  width: number,
  channels: number,
  h: Coeffs,
  wx: number,
  ww: number,
  yFirst: number,
  yLast: number,
): Uint8ClampedArray {
  const rows = yLast - yFirst;
  const len = ww * channels;
  const tmp = new Uint8ClampedArray(rows * len);
  const { bounds, kk, ksize } = h;
  for (let yy = 0; yy < rows; yy++) {
    const inRow = (yy + yFirst) * width * channels;
    let o = yy * len;
    for (let xx = wx; xx < wx + ww; xx++) {
      const xmin = bounds[2 * xx]!;
      const n = bounds[2 * xx + 1]!;
      const k = xx * ksize;
      if (channels === 1) {
        let s0 = HALF;
        for (let x = 0, p = inRow + xmin; x < n; x++, p++) s0 += src[p]! * kk[k + x]!;
        tmp[o++] = s0 >> PRECISION_BITS;
      } else if (channels === 3) {
        let s0 = HALF,
          s1 = HALF,
          s2 = HALF;
        for (let x = 0, p = inRow + xmin * 3; x < n; x++, p += 3) {
          const w = kk[k + x]!;
          s0 += src[p]! * w;
          s1 += src[p + 1]! * w;
          s2 += src[p + 2]! * w;
        }
        tmp[o++] = s0 >> PRECISION_BITS;
        tmp[o++] = s1 >> PRECISION_BITS;
        tmp[o++] = s2 >> PRECISION_BITS;
      } else {
        for (let c = 0; c < channels; c++) {
          let ss = HALF;
          for (let x = 0; x < n; x++) ss += src[inRow + (x + xmin) * channels + c]! * kk[k + x]!;
          tmp[o++] = ss >> PRECISION_BITS;
        }
      }
    }
  }
  return tmp;
}

/** No vertical pass: hands out rows [wy, wy + wh) of `layout`, `len` bytes each, as they are. */
function copyRows(
  layout: RowLayout,
  wy: number,
  wh: number,
  len: number,
  row: (line: Uint8Array, y: number) => void,
): void {
  const { img, rowLen, colOffset, rowBase } = layout;
  const bytes = img instanceof Uint8Array ? img : new Uint8Array(img.buffer);
  for (let r = 0; r < wh; r++) {
    const start = (wy + r - rowBase) * rowLen + colOffset;
    row(bytes.subarray(start, start + len), r);
  }
}

/**
 * Pillow's `ImagingResampleVertical_8bpc` for output rows [wy, wy + wh), one row at a time, kernel taps outermost so
 * the inner loops run along whole rows; each row (`len` bytes, rounded to uint8) goes to `row`, valid until it
 * returns.
 */
function verticalPass(
  layout: RowLayout,
  v: Coeffs,
  wy: number,
  wh: number,
  len: number,
  row: (line: Uint8Array, y: number) => void,
): void {
  const { img, rowLen, colOffset, rowBase } = layout;
  const acc = new Int32Array(len);
  const line = new Uint8ClampedArray(len);
  // handed out as plain bytes, so that copying a row out is a memcpy (a set() across element types is not)
  const lineBytes = new Uint8Array(line.buffer);
  const { bounds, kk, ksize } = v;
  for (let r = 0; r < wh; r++) {
    const yy = wy + r;
    const ymin = bounds[2 * yy]!;
    const n = bounds[2 * yy + 1]!;
    const k = yy * ksize;
    const b0 = (ymin - rowBase) * rowLen + colOffset;
    // one, two and three taps (upscaling, small downscales) in one loop each; more taps accumulate in `acc`
    if (n === 1) {
      const w0 = kk[k]!;
      for (let i = 0; i < len; i++) line[i] = (HALF + img[b0 + i]! * w0) >> PRECISION_BITS;
    } else if (n === 2) {
      const w0 = kk[k]!,
        w1 = kk[k + 1]!;
      const b1 = b0 + rowLen;
      for (let i = 0; i < len; i++) line[i] = (HALF + img[b0 + i]! * w0 + img[b1 + i]! * w1) >> PRECISION_BITS;
    } else if (n === 3) {
      const w0 = kk[k]!,
        w1 = kk[k + 1]!,
        w2 = kk[k + 2]!;
      const b1 = b0 + rowLen,
        b2 = b1 + rowLen;
      for (let i = 0; i < len; i++)
        line[i] = (HALF + img[b0 + i]! * w0 + img[b1 + i]! * w1 + img[b2 + i]! * w2) >> PRECISION_BITS;
    } else {
      acc.fill(HALF);
      for (let t = 0; t < n; t++) {
        const w = kk[k + t]!;
        const base = b0 + t * rowLen;
        for (let i = 0; i < len; i++) acc[i] = acc[i]! + img[base + i]! * w;
      }
      for (let i = 0; i < len; i++) line[i] = acc[i]! >> PRECISION_BITS;
    }
    row(lineBytes, r);
  }
}

/**
 * Resize interleaved 8-bit pixels (HWC) exactly as Pillow's `Image.resize(size, filter)` with the full box.
 * @param src height·width·channels bytes
 * @returns outHeight·outWidth·channels bytes
 */
export function pilResize(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: PilFilter,
  resampler?: PilResampler,
): Uint8Array {
  if (src.length !== width * height * channels)
    throw new RangeError(`pilResize: ${src.length} bytes is not ${width}x${height}x${channels}`);
  if (outWidth === width && outHeight === height) return src.slice();
  return pilResizeWindow(
    src,
    width,
    height,
    channels,
    outWidth,
    outHeight,
    filter,
    { x: 0, y: 0, width: outWidth, height: outHeight },
    resampler,
  );
}

/**
 * Pillow's resize of `window` only (see `pilResizeRows`), as window.height · window.width · channels bytes.
 * @param resampler default: `'wasm'` where WebAssembly SIMD is available, else `'js'`
 */
export function pilResizeWindow(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: PilFilter,
  window: ResizeWindow,
  resampler?: PilResampler,
): Uint8Array {
  const wasm = pickResampler(resampler);
  const len = window.width * channels;
  if (wasm) {
    const r = wasmResize(wasm, src, width, height, channels, outWidth, outHeight, filter, window, 0);
    return new Uint8Array(wasm.memory.buffer, r.dst, window.height * len).slice();
  }
  const out = new Uint8Array(window.height * len);
  pilResizeRows(src, width, height, channels, outWidth, outHeight, filter, window, (line, r) => out.set(line, r * len));
  return out;
}

/**
 * Per-channel tables of the float value of each byte (3 × 256 values: channel c at 256·c), as CLIP's rescale and
 * normalisation give it.
 */
export type ByteTables = Float32Array;

/**
 * Resize `window` (grey or RGB bytes) as Pillow does and write it as three CHW float planes of window.width ×
 * window.height into `out` at `offset`, each byte through its channel's table (`tables`). Grey input gives three
 * planes from the three tables. The fused path of preprocessing: in WebAssembly no resized byte image is handed
 * back to JavaScript.
 */
export function pilResizeToPlanes(
  src: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  outWidth: number,
  outHeight: number,
  filter: PilFilter,
  window: ResizeWindow,
  tables: ByteTables,
  out: Float32Array,
  offset: number,
  resampler?: PilResampler,
): void {
  const plane = window.width * window.height;
  if (tables.length !== 768) throw new RangeError(`pilResizeToPlanes: ${tables.length} table values, expected 3·256`);
  if (out.length < offset + 3 * plane)
    throw new RangeError(`pilResizeToPlanes: ${out.length} values, too few for 3·${plane} at offset ${offset}`);
  const wasm = pickResampler(resampler);
  if (!wasm) {
    const write = planeWriter(out, offset, window.width, plane, channels, tables);
    pilResizeRows(src, width, height, channels, outWidth, outHeight, filter, window, write);
    return;
  }
  // equal tables (exp-clip) and grey input: one plane computed, copied twice
  const shared = channels === 1 && tablesEqual(tables);
  const r = wasmResize(
    wasm,
    src,
    width,
    height,
    channels,
    outWidth,
    outHeight,
    filter,
    window,
    768 * 4 + 3 * plane * 4,
  );
  const lut = align16(r.end);
  const floats = align16(lut + 768 * 4);
  new Float32Array(wasm.memory.buffer, lut, 768).set(tables);
  wasm.planes(r.dst, plane, channels, lut, floats, plane * 4, channels === 1 && !shared ? 1 : 0);
  const f = new Float32Array(wasm.memory.buffer, floats, 3 * plane);
  if (shared) {
    const one = f.subarray(0, plane);
    out.set(one, offset);
    out.set(one, offset + plane);
    out.set(one, offset + 2 * plane);
  } else {
    out.set(f, offset);
  }
}

/**
 * A row sink writing rows of `crop` pixels (grey or RGB bytes) into three CHW planes of `out` at `offset` through
 * the channel tables (the JavaScript path of `pilResizeToPlanes`, and preprocessing's after augmentation).
 */
export function planeWriter(
  out: Float32Array,
  offset: number,
  crop: number,
  plane: number,
  channels: 1 | 3,
  tables: ByteTables,
): (line: Uint8Array, row: number) => void {
  const l0 = tables.subarray(0, 256);
  const l1 = tables.subarray(256, 512);
  const l2 = tables.subarray(512, 768);
  return (line, r) => {
    const o0 = offset + r * crop;
    const o1 = o0 + plane;
    const o2 = o1 + plane;
    if (channels === 1) {
      for (let i = 0; i < crop; i++) {
        const v = line[i]!;
        out[o0 + i] = l0[v]!;
        out[o1 + i] = l1[v]!;
        out[o2 + i] = l2[v]!;
      }
    } else {
      for (let i = 0, p = 0; i < crop; i++, p += 3) {
        out[o0 + i] = l0[line[p]!]!;
        out[o1 + i] = l1[line[p + 1]!]!;
        out[o2 + i] = l2[line[p + 2]!]!;
      }
    }
  };
}

function tablesEqual(t: ByteTables): boolean {
  for (let v = 0; v < 256; v++) if (t[v] !== t[256 + v] || t[v] !== t[512 + v]) return false;
  return true;
}

interface ResampleWasm {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  hpass(
    src: number,
    width: number,
    ch: number,
    rows: number,
    x0: number,
    count: number,
    bounds: number,
    kk: number,
    ksize: number,
    dst: number,
  ): void;
  vpass(
    img: number,
    rowLen: number,
    colOff: number,
    rowBase: number,
    y0: number,
    rows: number,
    bounds: number,
    kk: number,
    ksize: number,
    len: number,
    dst: number,
  ): void;
  planes(src: number, count: number, ch: number, lut: number, dst: number, plane: number, grey3: number): void;
}

let wasmInstance: ResampleWasm | null | undefined;
/** The WebAssembly passes, or null where WebAssembly SIMD is not available (older browsers). */
function resampleWasm(): ResampleWasm | null {
  if (wasmInstance === undefined) {
    const compiled = compileWasmBase64(PIL_RESAMPLE_WASM);
    wasmInstance = compiled ? (new compiled.api.Instance(compiled.module).exports as ResampleWasm) : null;
  }
  return wasmInstance;
}

function pickResampler(resampler: PilResampler | undefined): ResampleWasm | null {
  if (resampler !== undefined && resampler !== 'wasm' && resampler !== 'js')
    throw new RangeError(`pilResize: resampler must be one of ${PIL_RESAMPLERS.join(', ')}, got ${String(resampler)}`);
  if (resampler === 'js') return null;
  const wasm = resampleWasm();
  if (!wasm && resampler === 'wasm')
    throw new Error('pilResize: WebAssembly SIMD is not available in this runtime; use the js resampler');
  return wasm;
}

const align16 = (n: number) => (n + 15) & ~15;

/** Bytes of source rows the WebAssembly horizontal pass takes per call (at least one row): well inside L2. */
const STRIP_BYTES = 64 * 1024;

/**
 * Lays out coefficients, source and work buffers in the module's memory (growing it when needed), runs the passes
 * and returns where the window's bytes are (rows of window.width·channels, contiguous) and where free memory
 * starts, `extra` bytes of which are guaranteed.
 */
function wasmResize(
  wasm: ResampleWasm,
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: PilFilter,
  win: ResizeWindow,
  extra: number,
): { dst: number; end: number } {
  const { wx, wy, ww, wh, needH, needV, h, v, yFirst, yLast, len } = resizePlan(
    src,
    width,
    height,
    channels,
    outWidth,
    outHeight,
    filter,
    win,
  );
  const rowBytes = width * channels;
  // the horizontal pass reads the source in strips of rows, copied in turn into one small buffer that stays in cache
  // between the copy and the pass; without a horizontal pass the vertical one reads the whole source, copied once
  const stripRows = needH ? Math.min(yLast - yFirst, Math.max(1, Math.floor(STRIP_BYTES / rowBytes))) : height;
  const at = wasmLayout(wasm, h, v, stripRows * rowBytes, needH ? (yLast - yFirst) * len : 0, wh * len, extra);
  const bytes = new Uint8Array(wasm.memory.buffer);
  let img = at.so;
  let rowLen = rowBytes;
  let colOff = wx * channels;
  let rowBase = 0;
  if (needH) {
    for (let y = yFirst; y < yLast; y += stripRows) {
      const rows = Math.min(stripRows, yLast - y);
      bytes.set(src.subarray(y * rowBytes, (y + rows) * rowBytes), at.so);
      wasm.hpass(at.so, width, channels, rows, wx, ww, at.hb, at.hk, h.ksize, at.tmp + (y - yFirst) * len);
    }
    img = at.tmp;
    rowLen = len;
    colOff = 0;
    rowBase = yFirst;
  } else {
    bytes.set(src, at.so);
  }
  if (needV) {
    wasm.vpass(img, rowLen, colOff, rowBase, wy, wh, at.vb, at.vk, v.ksize, len, at.dst);
  } else {
    for (let r = 0; r < wh; r++) {
      const start = img + (wy + r - rowBase) * rowLen + colOff;
      bytes.copyWithin(at.dst + r * len, start, start + len);
    }
  }
  return { dst: at.dst, end: at.end };
}

/**
 * Where `wasmResize` puts things in the module's memory (grown when needed, the coefficients written): the
 * horizontal (hb, hk) and vertical (vb, vk) bounds and weights, the source buffer `so` (`source` bytes), the
 * horizontal pass's output `tmp` (`between` bytes) and the window's bytes `dst` (`out` bytes), each padded by 16
 * bytes for the SIMD loads and stores, then `extra` free bytes from `end`.
 */
function wasmLayout(
  wasm: ResampleWasm,
  h: Coeffs,
  v: Coeffs,
  source: number,
  between: number,
  out: number,
  extra: number,
) {
  const hb = 0;
  const hk = align16(hb + h.bounds.byteLength);
  const vb = align16(hk + h.kk.byteLength);
  const vk = align16(vb + v.bounds.byteLength);
  const so = align16(vk + v.kk.byteLength);
  const tmp = align16(so + source + 16);
  const dst = align16(tmp + (between ? between + 16 : 0));
  const end = align16(dst + out + 16);
  const need = end + extra;
  if (need > wasm.memory.buffer.byteLength) wasm.memory.grow(Math.ceil((need - wasm.memory.buffer.byteLength) / 65536));
  const mem = wasm.memory.buffer;
  new Int32Array(mem, hb, h.bounds.length).set(h.bounds);
  new Int32Array(mem, hk, h.kk.length).set(h.kk);
  new Int32Array(mem, vb, v.bounds.length).set(v.bounds);
  new Int32Array(mem, vk, v.kk.length).set(v.kk);
  return { hb, hk, vb, vk, so, tmp, dst, end };
}

/**
 * Pillow's `Image.resize(size, filter)` of a 32-bit integer image (mode `'I'`, e.g. a 16-bit grey PNG as Pillow
 * opens it): libImaging/Resample.c `ImagingResampleHorizontal_32bpc` / `…Vertical_32bpc`, the sums in doubles and
 * each pass rounded half away from zero to int32 (`ROUND_UP`), not clipped (values may leave 0…65535).
 * Horizontal pass first, each pass only when that side changes.
 * @param src height·width values, one channel @returns outHeight·outWidth values
 */
export function pilResizeInt32(
  src: Int32Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  filter: PilFilter,
): Int32Array {
  if (src.length !== width * height)
    throw new RangeError(`pilResizeInt32: ${src.length} values is not ${width}x${height}`);
  const round = (v: number) => (v >= 0 ? Math.trunc(v + 0.5) : Math.trunc(v - 0.5));
  let img = src;
  let w = width;
  if (outWidth !== width) {
    const { ksize, bounds, weights } = precomputeWeights(width, outWidth, filter);
    const tmp = new Int32Array(outWidth * height);
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[2 * xx]!;
        const n = bounds[2 * xx + 1]!;
        let ss = 0;
        for (let x = 0; x < n; x++) ss += img[row + xmin + x]! * weights[xx * ksize + x]!;
        tmp[y * outWidth + xx] = round(ss);
      }
    }
    img = tmp;
    w = outWidth;
  }
  if (outHeight !== height) {
    const { ksize, bounds, weights } = precomputeWeights(height, outHeight, filter);
    const tmp = new Int32Array(w * outHeight);
    for (let yy = 0; yy < outHeight; yy++) {
      const ymin = bounds[2 * yy]!;
      const n = bounds[2 * yy + 1]!;
      for (let xx = 0; xx < w; xx++) {
        let ss = 0;
        for (let y = 0; y < n; y++) ss += img[(ymin + y) * w + xx]! * weights[yy * ksize + y]!;
        tmp[yy * w + xx] = round(ss);
      }
    }
    img = tmp;
  }
  return img === src ? src.slice() : img;
}

/**
 * Pillow's `Image.resize(size, NEAREST)` (what it does for modes `'1'` and `'P'` whatever filter is asked):
 * libImaging/Geometry.c `ImagingScaleAffine`, the source position of output column x being `COORD(xo)` with
 * `xo` starting at `0.5·width/outWidth` and advanced by `width/outWidth` once per column (a running sum, as Pillow
 * computes it; rows likewise). Only `window` of the output is returned, as window.height · window.width · channels
 * bytes; an output pixel whose source falls outside the image is 0, as Pillow fills it.
 * @param src height·width·channels bytes (interleaved)
 */
export function pilNearestWindow(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  window: ResizeWindow,
): Uint8Array {
  if (src.length !== width * height * channels)
    throw new RangeError(`pilNearestWindow: ${src.length} bytes is not ${width}x${height}x${channels}`);
  const { x: wx, y: wy, width: ww, height: wh } = window;
  if (!(Number.isInteger(wx) && Number.isInteger(wy) && ww > 0 && wh > 0 && wx >= 0 && wy >= 0))
    throw new RangeError(`pilNearestWindow: bad window ${JSON.stringify(window)}`);
  if (wx + ww > outWidth || wy + wh > outHeight)
    throw new RangeError(`pilNearestWindow: window ${JSON.stringify(window)} does not fit ${outWidth}x${outHeight}`);
  const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));
  // a[0] = (double)(box[2] − box[0]) / xsize, box in floats holding whole numbers: exact before the division
  const table = (inSize: number, outSize: number, first: number, count: number) => {
    const a = inSize / outSize;
    const t = new Int32Array(count);
    let o = a * 0.5; // a[2] = box[0] = 0
    for (let i = 0; i < first + count; i++) {
      if (i >= first) {
        const c = coord(o);
        t[i - first] = c >= 0 && c < inSize ? c : -1;
      }
      o += a;
    }
    return t;
  };
  const xs = table(width, outWidth, wx, ww);
  const ys = table(height, outHeight, wy, wh);
  const out = new Uint8Array(ww * wh * channels);
  for (let r = 0; r < wh; r++) {
    const yi = ys[r]!;
    if (yi < 0) continue;
    for (let i = 0; i < ww; i++) {
      const xi = xs[i]!;
      if (xi < 0) continue;
      const s = (yi * width + xi) * channels;
      const d = (r * ww + i) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = src[s + c]!;
    }
  }
  return out;
}
