/**
 * @file OpenCV 4.x's 8-bit `INTER_LINEAR` resize and `warpAffine`, byte for byte: pure functions on pixel buffers
 * (runtime-neutral), so that every runtime feeds a detector and crops faces with the bytes OpenCV would. Checked
 * against OpenCV.js 4.12 and native OpenCV 4.6 in `@vlfer/faces` (`src/node/opencv-parity.test.ts`).
 */
import { InvalidArgumentError } from '@vlfer/core';
import type { DecodedImage } from './pillow.js';

/** A 2×3 affine matrix `[a, b, tx, c, d, ty]`: x' = a·x + b·y + tx, y' = c·x + d·y + ty. */
export type Affine = [number, number, number, number, number, number];

/** `saturate_cast<short>(float)` of OpenCV for the weights below (0 … 2048): round half to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * One axis of OpenCV's INTER_LINEAR resize (resize.cpp, `hal::resize`): source position (d + ½)·scale − ½ in float32,
 * weights `saturate_cast<short>((1 − f)·2048)` and `saturate_cast<short>(f·2048)`. Columns (`clampWeights`) outside
 * the image take the first/last pixel with weights (2048, 0); rows keep their weights and only the row indices are
 * clipped — so the first and last output rows of an upscale mix one source row with itself (OpenCV's way).
 */
function linearAxis(n: number, N: number, clampWeights: boolean) {
  const scale = 1 / (n / N); // OpenCV: scale_x = 1. / inv_scale_x, inv_scale_x = dsize.width / ssize.width
  const i0 = new Int32Array(n),
    i1 = new Int32Array(n),
    w0 = new Int32Array(n),
    w1 = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let f = Math.fround((i + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampWeights && s < 0) ((f = 0), (s = 0));
    if (clampWeights && s >= N - 1) ((f = 0), (s = N - 1));
    i0[i] = Math.max(0, Math.min(s, N - 1));
    i1[i] = Math.max(0, Math.min(s + 1, N - 1));
    w0[i] = roundHalfEven(Math.fround(1 - f) * 2048);
    w1[i] = roundHalfEven(f * 2048);
  }
  return { i0, i1, w0, w1 };
}

/**
 * `cv2.resize(img, (width, height), interpolation=INTER_LINEAR)` for 8-bit images, byte for byte as OpenCV 4.x
 * computes it (what YuNet is fed before OpenCV's `FaceDetectorYN`), so every runtime (Node, browser) gets the same
 * bytes: a horizontal pass into integers with 11-bit weights (`linearAxis`), then the vertical pass
 * ((w0·(S0 >> 4)) >> 16) + ((w1·(S1 >> 4)) >> 16) + 2) >> 2 (not a rounded (w0·S0 + w1·S1) / 2²²: OpenCV truncates
 * twice); an exact 2× downscale in both axes is OpenCV's `INTER_AREA` fast path ((a + b + c + d + 2) >> 2).
 * Checked against OpenCV.js 4.12 on real photos. Channels are kept.
 * @param img [height, width, channels] 8-bit @returns a `width × height` image with `img.channels` channels
 */
export function resizeBilinear(img: DecodedImage, width: number, height: number): DecodedImage {
  const fn = 'resizeBilinear';
  const { width: W, height: H, channels: ch, data } = img;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'width',
      message: `output size must be positive integers, got ${width}x${height}`,
    });
  if (data.length !== W * H * ch)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'img',
      message: `has ${data.length} bytes, expected ${W}·${H}·${ch}`,
    });
  if (width === W && height === H) return img;
  const out =
    W === 2 * width && H === 2 * height ? halfAreaResize(img, width, height) : linearResize(img, width, height);
  return { data: out, width, height, channels: ch };
}

/**
 * OpenCV's exact 2× downscale in both axes (resize.cpp: "in case of scale_x && scale_y is equal to 2, INTER_AREA
 * (fast) also is equal to INTER_LINEAR"): each output byte (a + b + c + d + 2) >> 2 of its 2 × 2 source block.
 * @returns height·width·channels bytes
 */
function halfAreaResize(img: DecodedImage, width: number, height: number): Uint8Array {
  const { width: W, channels: ch, data } = img;
  const out = new Uint8Array(width * height * ch);
  const row = W * ch;
  let o = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < ch; c++) {
        const p = 2 * y * row + 2 * x * ch + c;
        out[o++] = (data[p]! + data[p + ch]! + data[p + row]! + data[p + row + ch]! + 2) >> 2;
      }
  return out;
}

/**
 * OpenCV's general INTER_LINEAR resize: the horizontal pass of each source row the output needs (kept for the next
 * output row, as OpenCV's ring of two rows), then the vertical pass of each output row.
 * @returns height·width·channels bytes
 */
function linearResize(img: DecodedImage, width: number, height: number): Uint8Array {
  const { width: W, height: H, channels: ch, data } = img;
  const out = new Uint8Array(width * height * ch);
  const ax = linearAxis(width, W, true),
    ay = linearAxis(height, H, false);
  const rw = width * ch;
  // horizontal pass of one source row (OpenCV's HResizeLinear: S[x0]·w0 + S[x1]·w1, integers up to 255·2048)
  const hpass = (r: number, buf: Int32Array) => {
    const base = r * W * ch;
    for (let x = 0; x < width; x++) {
      const c0 = base + ax.i0[x]! * ch,
        c1 = base + ax.i1[x]! * ch;
      const a0 = ax.w0[x]!,
        a1 = ax.w1[x]!;
      for (let c = 0; c < ch; c++) buf[x * ch + c] = data[c0 + c]! * a0 + data[c1 + c]! * a1;
    }
  };
  let rowA = new Int32Array(rw),
    rowB = new Int32Array(rw);
  let haveA = -1,
    haveB = -1;
  for (let y = 0; y < height; y++) {
    const r0 = ay.i0[y]!,
      r1 = ay.i1[y]!;
    if (haveA !== r0) {
      if (haveB === r0) {
        [rowA, rowB] = [rowB, rowA];
        [haveA, haveB] = [haveB, haveA];
      } else (hpass(r0, rowA), (haveA = r0));
    }
    if (haveB !== r1) (hpass(r1, rowB), (haveB = r1));
    const b0 = ay.w0[y]!,
      b1 = ay.w1[y]!;
    let o = y * rw;
    // OpenCV's VResizeLinear for 8-bit (the scalar code is written to equal its SIMD code): each row sum shifted
    // right by 4 and multiplied by the weight keeping the high 16 bits, then (sum + 2) >> 2
    for (let x = 0; x < rw; x++) out[o++] = (((b0 * (rowA[x]! >> 4)) >> 16) + ((b1 * (rowB[x]! >> 4)) >> 16) + 2) >> 2;
  }
  return out;
}

/** `saturate_cast<int>(double)` of OpenCV: round half to even (`lrint`), clamped to int32. */
function cvRound(v: number): number {
  const r = Math.round(v);
  const even = r - v === 0.5 && r % 2 !== 0 ? r - 1 : r; // Math.round rounds .5 up; lrint rounds it to even
  return Math.max(-2147483648, Math.min(2147483647, even));
}

const AB_BITS = 10; // OpenCV imgwarp.cpp: MAX(10, INTER_BITS)
const INTER_BITS = 5; // INTER_TAB_SIZE = 32 sub-pixel positions per axis
const ROUND_DELTA = (1 << AB_BITS) / (1 << INTER_BITS) / 2;
const short = (v: number) => Math.max(-32768, Math.min(32767, v));

/**
 * Warp an image by `m` (image → output coordinates) into a `width × height` output, byte for byte as OpenCV's
 * `cv2.warpAffine(img, m, (width, height))` (INTER_LINEAR, BORDER_CONSTANT 0; what insightface's `norm_crop` calls):
 * the inverse map in double, source positions in fixed point (coordinates × 2¹⁰ rounded half to even per row and per
 * column, summed, then cut to 1/32 pixel), bilinear weights from OpenCV's 15-bit table ((32 − fy)(32 − fx)·32 …) and
 * `(Σ w·v + 2¹⁴) >> 15`; neighbours outside the source count as 0. Checked against OpenCV.js 4.12 on real photos.
 * @param img [height, width, channels] 8-bit @param m [2, 3] image → output
 */
export function warpAffine(img: DecodedImage, m: Affine, width: number, height: number): DecodedImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new InvalidArgumentError({
      functionName: 'warpAffine',
      argument: 'width',
      message: `output size must be positive integers, got ${width}x${height}`,
    });
  const inv = invertAffine(m);
  const { data, width: W, height: H, channels: ch } = img;
  if (data.length !== W * H * ch)
    throw new InvalidArgumentError({
      functionName: 'warpAffine',
      argument: 'img',
      message: `has ${data.length} bytes, expected ${W}·${H}·${ch}`,
    });
  return { data: warpBilinear(img, inv, width, height), width, height, channels: ch };
}

/**
 * The inverse of `m` (output → image coordinates) as OpenCV's warpAffine computes it without `WARP_INVERSE_MAP`
 * (imgwarp.cpp), operation for operation, so that the fixed-point positions below match to the last bit.
 * @param m [2, 3] image → output @returns [2, 3] output → image
 * @throws InvalidArgumentError naming `m` when it is not 6 finite numbers or is singular (|det| ≤ 1e-12)
 */
export function invertAffine(m: Affine): Affine {
  if (m.length !== 6 || !m.every(Number.isFinite))
    throw new InvalidArgumentError({
      functionName: 'warpAffine',
      argument: 'm',
      message: `must be 6 finite numbers [a, b, tx, c, d, ty], got [${m.join(', ')}]`,
    });
  let det = m[0] * m[4] - m[1] * m[3];
  if (!(Math.abs(det) > 1e-12))
    throw new InvalidArgumentError({ functionName: 'warpAffine', argument: 'm', message: 'is singular' });
  det = 1 / det;
  const i0 = m[4] * det,
    i4 = m[0] * det,
    i1 = m[1] * -det,
    i3 = m[3] * -det;
  const i2 = -i0 * m[2] - i1 * m[5];
  const i5 = -i3 * m[2] - i4 * m[5];
  return [i0, i1, i2, i3, i4, i5];
}

/**
 * OpenCV's `remap` of warpAffine (INTER_LINEAR, BORDER_CONSTANT 0) for the inverse map `inv`: per output pixel the
 * source position in 1/32 pixels, the four neighbours weighted from the 15-bit bilinear table, out-of-image
 * neighbours 0. @returns height·width·channels bytes
 */
function warpBilinear(img: DecodedImage, inv: Affine, width: number, height: number): Uint8Array {
  const [i0, i1, i2, i3, i4, i5] = inv;
  const scale = 1 << AB_BITS;
  const adelta = new Int32Array(width),
    bdelta = new Int32Array(width);
  for (let u = 0; u < width; u++) {
    adelta[u] = cvRound(i0 * u * scale);
    bdelta[u] = cvRound(i3 * u * scale);
  }
  const { data, width: W, height: H, channels: ch } = img;
  const out = new Uint8Array(width * height * ch);
  const T = 1 << INTER_BITS;
  const rowStride = W * ch;
  for (let v = 0; v < height; v++) {
    const X0 = cvRound((i1 * v + i2) * scale) + ROUND_DELTA;
    const Y0 = cvRound((i4 * v + i5) * scale) + ROUND_DELTA;
    let o = v * width * ch;
    for (let u = 0; u < width; u++, o += ch) {
      const X = (X0 + adelta[u]!) >> (AB_BITS - INTER_BITS);
      const Y = (Y0 + bdelta[u]!) >> (AB_BITS - INTER_BITS);
      const sx = short(X >> INTER_BITS),
        sy = short(Y >> INTER_BITS);
      const fx = X & (T - 1),
        fy = Y & (T - 1);
      if (sx >= W || sx + 1 < 0 || sy >= H || sy + 1 < 0) continue; // all four neighbours outside: 0
      // OpenCV's BilinearTab_i: (1 − fy/32)(1 − fx/32)·2¹⁵ … exact integers, summing to 2¹⁵
      const w00 = (T - fy) * (T - fx) * 32,
        w01 = (T - fy) * fx * 32,
        w10 = fy * (T - fx) * 32,
        w11 = fy * fx * 32;
      const x1ok = sx + 1 < W,
        x0ok = sx >= 0,
        y0ok = sy >= 0,
        y1ok = sy + 1 < H;
      const p = sy * rowStride + sx * ch;
      for (let c = 0; c < ch; c++) {
        const v00 = x0ok && y0ok ? data[p + c]! : 0;
        const v01 = x1ok && y0ok ? data[p + ch + c]! : 0;
        const v10 = x0ok && y1ok ? data[p + rowStride + c]! : 0;
        const v11 = x1ok && y1ok ? data[p + rowStride + ch + c]! : 0;
        out[o + c] = (v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11 + (1 << 14)) >> 15;
      }
    }
  }
  return out;
}
