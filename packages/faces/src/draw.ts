import type { Face, RgbImage } from './types.js';

/**
 * A copy of the image (as RGB) with each face's box outlined and its landmarks marked (boxes green, landmarks red;
 * `thickness` in pixels). For figures and for checking a detector by eye.
 */
export function drawFaces(
  img: RgbImage,
  faces: readonly Face[],
  options: { thickness?: number; box?: [number, number, number]; landmark?: [number, number, number] } = {},
): RgbImage {
  const { width: W, height: H } = img;
  const out = new Uint8Array(W * H * 3);
  for (let p = 0; p < W * H; p++)
    for (let c = 0; c < 3; c++) out[3 * p + c] = img.data[img.channels === 3 ? 3 * p + c : p]!;
  const t = options.thickness ?? Math.max(2, Math.round(Math.max(W, H) / 400));
  const put = (x: number, y: number, [r, g, b]: [number, number, number]) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const i = 3 * (y * W + x);
    out[i] = r;
    out[i + 1] = g;
    out[i + 2] = b;
  };
  const rect = (x1: number, y1: number, x2: number, y2: number, color: [number, number, number]) => {
    for (let y = Math.round(y1); y <= Math.round(y2); y++)
      for (let x = Math.round(x1); x <= Math.round(x2); x++) put(x, y, color);
  };
  for (const f of faces) {
    const { x, y, width, height } = f.box;
    const color = options.box ?? [0, 255, 0];
    rect(x, y, x + width, y + t - 1, color);
    rect(x, y + height - t + 1, x + width, y + height, color);
    rect(x, y, x + t - 1, y + height, color);
    rect(x + width - t + 1, y, x + width, y + height, color);
    for (const [lx, ly] of f.landmarks ?? []) rect(lx - t, ly - t, lx + t, ly + t, options.landmark ?? [255, 0, 0]);
  }
  return { data: out, width: W, height: H, channels: 3 };
}
