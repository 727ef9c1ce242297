import { describe, expect, it } from 'vitest';
import { invertAffine, resizeBilinear, warpAffine, type Affine } from './index.js';

// Byte-for-byte parity with OpenCV.js 4.12 and native OpenCV 4.6 on real photos is checked in @vlfer/faces
// (src/node/opencv-parity.test.ts, through its re-exports of these functions); these are hand-computed cases.
describe("OpenCV's 8-bit resize and warp", () => {
  // moved from @vlfer/faces' faces.test.ts with resizeBilinear
  it("resizeBilinear: OpenCV's INTER_LINEAR for 8 bits (half-pixel centres, 11-bit weights, its two truncations)", () => {
    const row = { data: new Uint8Array([0, 255]), width: 2, height: 1, channels: 1 as const };
    // x = (i + 0.5)/2 − 0.5 → −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    expect([...resizeBilinear(row, 4, 1).data]).toEqual([0, 64, 191, 255]);
    // 3 → 1 samples the centre pixel exactly
    expect([
      ...resizeBilinear(
        { data: new Uint8Array([10, 20, 30, 1, 2, 3, 7, 8, 9]), width: 3, height: 1, channels: 3 },
        1,
        1,
      ).data,
    ]).toEqual([1, 2, 3]);
    // rows are not clamped like columns: the first and last output rows of an upscale mix a source row with itself
    // under weights (410, 1638) or (1229, 819), and ((w0·(S >> 4)) >> 16) + ((w1·(S >> 4)) >> 16) truncates twice:
    // the middle column, exactly 127.5 everywhere, comes out 127 except on the row that hits source row 1 exactly
    // (what cv.resize gives; rounding (w0·S0 + w1·S1) / 2²² would give 128 throughout)
    const stripes = { data: new Uint8Array([0, 255, 0, 255, 0, 255]), width: 2, height: 3, channels: 1 as const };
    expect([...resizeBilinear(stripes, 3, 5).data]).toEqual([
      0, 127, 255, 0, 127, 255, 0, 128, 255, 0, 127, 255, 0, 127, 255,
    ]);
    // an exact 2× downscale is OpenCV's area average, (a + b + c + d + 2) >> 2
    const small = { data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 9]), width: 4, height: 2, channels: 1 as const };
    expect([...resizeBilinear(small, 2, 1).data]).toEqual([4, 6]);
    const flat = { data: new Uint8Array(5 * 7 * 3).fill(93), width: 5, height: 7, channels: 3 as const };
    expect(resizeBilinear(flat, 11, 2).data.every((v) => v === 93)).toBe(true);
    expect(resizeBilinear(flat, 5, 7)).toBe(flat);
    expect(() => resizeBilinear({ ...flat, width: 6 }, 2, 2)).toThrow(/has 105 bytes, expected 6·7·3/);
  });

  it('warpAffine: identity and whole-pixel shifts copy pixels; outside the source is 0; bad matrices are refused', () => {
    const img = {
      data: Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i * 7),
      width: 4,
      height: 3,
      channels: 3 as const,
    };
    const identity: Affine = [1, 0, 0, 0, 1, 0];
    expect([...warpAffine(img, identity, 4, 3).data]).toEqual([...img.data]);
    // image → output: x' = x + 1, so output column 0 has no source pixel (0) and column u is source column u − 1
    const out = warpAffine(img, [1, 0, 1, 0, 1, 0], 4, 3);
    for (let y = 0; y < 3; y++) {
      expect([...out.data.subarray(y * 12, y * 12 + 3)]).toEqual([0, 0, 0]);
      expect([...out.data.subarray(y * 12 + 3, y * 12 + 12)]).toEqual([...img.data.subarray(y * 12, y * 12 + 9)]);
    }
    // half a pixel: OpenCV's bilinear table at fx = 16/32, (a + b + 1) >> 1 in 15-bit weights
    const row = { data: new Uint8Array([0, 255, 255]), width: 3, height: 1, channels: 1 as const };
    expect([...warpAffine(row, [1, 0, -0.5, 0, 1, 0], 2, 1).data]).toEqual([128, 255]);
    expect(() => warpAffine(img, [1, 2, 0, 2, 4, 0], 4, 3)).toThrow(/'m'.*singular|singular/);
    expect(() => warpAffine(img, [1, 0, Number.NaN, 0, 1, 0], 4, 3)).toThrow(/6 finite numbers/);
    expect(() => warpAffine({ ...img, width: 5 }, identity, 4, 3)).toThrow(/has 36 bytes, expected 5·3·3/);
  });

  it('invertAffine: the output → image map of warpAffine, in closed form; refuses non-finite and singular matrices', () => {
    // x' = 2x + 10, y' = 4y + 20 ⇒ x = x'/2 − 5, y = y'/4 − 5
    expect(invertAffine([2, 0, 10, 0, 4, 20])).toEqual([0.5, -0, -5, -0, 0.25, -5]);
    // a rotation by 90° and a shift: composing m with its inverse gives the identity on any point
    const m: Affine = [0, -1, 3, 1, 0, -2];
    const inv = invertAffine(m);
    for (const [x, y] of [
      [0, 0],
      [5, -7],
      [1.5, 2.25],
    ] as const) {
      const u = m[0] * x + m[1] * y + m[2],
        v = m[3] * x + m[4] * y + m[5];
      expect(inv[0] * u + inv[1] * v + inv[2]).toBeCloseTo(x, 12);
      expect(inv[3] * u + inv[4] * v + inv[5]).toBeCloseTo(y, 12);
    }
    expect(() => invertAffine([1, 2, 0, 2, 4, 0])).toThrow(/argument m.*is singular|m.*singular/);
    expect(() => invertAffine([1, 0, Number.NaN, 0, 1, 0])).toThrow(/6 finite numbers/);
  });
});
