import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  camPatchLocation,
  camRedMask,
  camToUint8,
  largestComponent,
  largestContour,
  polygonMoments,
  traceOuterBorder,
} from './cam-location.js';

/** OpenCV 4.6's outputs of HESP's rule (`tools/fixtures/hesp_cam_location.py`). */
const opencv = JSON.parse(readFileSync(new URL('../test-data/cam-opencv.json', import.meta.url), 'utf8')) as {
  opencv: string;
  cams: { cam: number[]; location: [number, number] }[];
  masks: {
    mask: string;
    contours: { area: number; row: number | null; col: number | null }[];
    largest: { area: number; row: number; col: number } | null;
  }[];
};

describe('the stages of the CAM rule (camToUint8 → camRedMask → largestContour)', () => {
  it('camToUint8 min-maxes to [0, 255] truncating, and maps a constant map to zeros', () => {
    expect(Array.from(camToUint8(Float32Array.of(-1, 0, 1, 0.999)))).toEqual([0, 127, 255, 254]);
    expect(Array.from(camToUint8(Float32Array.of(3, 3, 3)))).toEqual([0, 0, 0]);
    // so a constant map has no region: refused with what to give instead (it gave a patch centred at NaN, NaN)
    expect(() => camPatchLocation(new Float32Array(49).fill(0.5), 7)).toThrow(
      /the class activation map is constant .* give its centre instead \(location: \{ row, col \}, CLI --location row,col\)/,
    );
    // a NaN or an infinity is named as such, not as a constant map; so is a grid that is no size
    const nan = new Float32Array(49).map((_, i) => i);
    nan[5] = NaN;
    expect(() => camPatchLocation(nan, 7)).toThrow(/'cam'.*cell 5 holds NaN/);
    expect(() => camPatchLocation(new Float32Array(4), -2)).toThrow(/'grid'.*expected an integer ≥ 1, got -2/);
    // numpy on a float32 CAM rounds each step to float32: 255 · 0.78823531 is 201.0000032 there, 200.9999948 in float64
    expect(Array.from(camToUint8(Float32Array.of(-2.2098031, 1.9609208, 1.0777086)))).toEqual([0, 255, 201]);
  });

  it("camRedMask keeps the pixels ≥ 201 of OpenCV's resize, where OpenCV's JET table is red", () => {
    // 2×2 → 4×4: each output pixel sits at 1/4 or 3/4 between the grid cells
    const mask = camRedMask(Uint8Array.of(255, 0, 0, 0), 2, 4);
    // (0, 0) and its neighbours clamp to 255; (0, 1): 0.75·255 = 191.25 → 191 < 201
    expect(Array.from(mask)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // JET 201 is BGR (0, 88, 255), HSV hue 10: red for `inRange([0, 50, 50], [10, 255, 255])`; 200 has hue 11
    expect(camRedMask(Uint8Array.of(201, 201, 201, 201), 2, 3).every((v) => v === 1)).toBe(true);
    expect(camRedMask(Uint8Array.of(200, 200, 200, 200), 2, 3).some((v) => v === 1)).toBe(false);
  });

  it('traceOuterBorder and polygonMoments give the contours OpenCV gives: squares, a ring, a spur, a lone pixel', () => {
    const mask = (S: number, on: [number, number][]) => {
      const m = new Uint8Array(S * S);
      for (const [r, c] of on) m[r * S + c] = 1;
      return m;
    };
    const square = mask(
      10,
      [2, 3, 4].flatMap((r) => [2, 3, 4].map((c) => [r, c] as [number, number])),
    );
    // cv2.findContours: [[2, 2], [2, 4], [4, 4], [4, 2]] (x, y) with the edge pixels between; area 4, centre (3, 3)
    const border = traceOuterBorder(square, 10, 2 * 10 + 2);
    expect(border).toEqual([
      [2, 2],
      [3, 2],
      [4, 2],
      [4, 3],
      [4, 4],
      [3, 4],
      [2, 4],
      [2, 3],
    ]);
    expect(polygonMoments(border)).toEqual({ area: 4, row: 3, col: 3 });
    // a 4×4 ring: the hole does not count (RETR_EXTERNAL), area 9 as cv2.contourArea
    const ring = mask(
      10,
      [2, 3, 4, 5]
        .flatMap((r) => [2, 3, 4, 5].map((c) => [r, c] as [number, number]))
        .filter(([r, c]) => !(r > 2 && r < 5 && c > 2 && c < 5)),
    );
    expect(polygonMoments(traceOuterBorder(ring, 10, 22)).area).toBe(9);
    // a V of three pixels: the border passes (3, 3) twice, [[2, 2], [3, 3], [2, 4], [3, 3]] in cv2, area 0
    const v = mask(10, [
      [2, 2],
      [3, 3],
      [4, 2],
    ]);
    expect(traceOuterBorder(v, 10, 22)).toEqual([
      [2, 2],
      [3, 3],
      [4, 2],
      [3, 3],
    ]);
    expect(polygonMoments(traceOuterBorder(v, 10, 22)).area).toBe(0);
    expect(traceOuterBorder(mask(10, [[5, 5]]), 10, 55)).toEqual([[5, 5]]);
  });

  it(`largestContour equals OpenCV's largest external contour, area and centroid, on 40 masks`, () => {
    expect(opencv.opencv).toBe('4.6.0');
    for (const [i, m] of opencv.masks.entries()) {
      const got = largestContour(
        Uint8Array.from(m.mask, (ch) => Number(ch)),
        24,
      );
      const want = m.largest!;
      expect(got.area, `mask ${i}`).toBe(want.area);
      expect(got.row, `mask ${i}`).toBeCloseTo(want.row, 9);
      expect(got.col, `mask ${i}`).toBeCloseTo(want.col, 9);
    }
  });

  it('largestComponent joins 8-connected pixels and keeps the largest (the first on a tie)', () => {
    // 5×5: a diagonal of 3 (8-connected, one component) and a pair
    const m = new Uint8Array(25);
    for (const [y, x] of [
      [0, 0],
      [1, 1],
      [2, 2],
      [4, 3],
      [4, 4],
    ])
      m[y! * 5 + x!] = 1;
    expect(largestComponent(m, 5)).toEqual({ n: 3, sy: 3, sx: 3 });
    // no contour there encloses area: a diagonal and a pair are lines
    expect(largestContour(m, 5).area).toBe(0);
    const tie = new Uint8Array(25);
    tie[0] = 1;
    tie[24] = 1;
    expect(largestComponent(tie, 5)).toEqual({ n: 1, sy: 0, sx: 0 });
    expect(largestComponent(new Uint8Array(25), 5).n).toBe(0);
  });

  it("camPatchLocation is HESP's location: OpenCV's on 60 random CAMs", () => {
    const cam = new Float32Array(49);
    cam[3 * 7 + 3] = 1; // the centre cell
    const c = largestContour(camRedMask(camToUint8(cam), 7, 224), 224);
    expect(camPatchLocation(cam, 7)).toEqual({ row: Math.trunc(c.row), col: Math.trunc(c.col) });
    for (const [i, { cam: values, location }] of opencv.cams.entries())
      expect(camPatchLocation(Float32Array.from(values), 7), `CAM ${i}`).toEqual({
        row: location[0],
        col: location[1],
      });
  });
});
