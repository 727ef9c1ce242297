import { describe, expect, it } from 'vitest';
import { camPatchLocation, camRedMask, camToUint8, largestComponent } from './cam-location.js';

describe('the stages of the CAM rule (camToUint8 → camRedMask → largestComponent)', () => {
  it('camToUint8 min-maxes to [0, 255] truncating, and maps a constant map to zeros', () => {
    expect(Array.from(camToUint8(Float32Array.of(-1, 0, 1, 0.999)))).toEqual([0, 127, 255, 254]);
    expect(Array.from(camToUint8(Float32Array.of(3, 3, 3)))).toEqual([0, 0, 0]);
  });

  it('camRedMask keeps the resized pixels ≥ 202 (bilinear, half-pixel centres, edges clamped)', () => {
    // 2×2 → 4×4: each output pixel sits at 1/4 or 3/4 between the grid cells
    const mask = camRedMask(Uint8Array.of(255, 0, 0, 0), 2, 4);
    // (0, 0) and its neighbours clamp to 255; (0, 1): 0.75·255 = 191.25 → 191 < 202
    expect(Array.from(mask)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(camRedMask(Uint8Array.of(202, 202, 202, 202), 2, 3).every((v) => v === 1)).toBe(true);
    expect(camRedMask(Uint8Array.of(201, 201, 201, 201), 2, 3).some((v) => v === 1)).toBe(false);
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
    const tie = new Uint8Array(25);
    tie[0] = 1;
    tie[24] = 1;
    expect(largestComponent(tie, 5)).toEqual({ n: 1, sy: 0, sx: 0 });
    expect(largestComponent(new Uint8Array(25), 5).n).toBe(0);
  });

  it('camPatchLocation is the clamped centroid of those stages', () => {
    const cam = new Float32Array(49);
    cam[3 * 7 + 3] = 1; // the centre cell
    const best = largestComponent(camRedMask(camToUint8(cam), 7, 224), 224);
    expect(camPatchLocation(cam, 7)).toEqual({ row: Math.round(best.sy / best.n), col: Math.round(best.sx / best.n) });
    expect(camPatchLocation(cam, 7)).toEqual({ row: 112, col: 112 });
  });
});
