/**
 * A `width`×`height` RGB JPEG (quality 90, chroma 4:2:0) of smooth gradients and a ripple, like a photo's low
 * frequencies: red rises along x, green along y, blue is `128 + 100 · sin(x / 23) · cos(y / 31)`. The pixels are
 * built row-major, `[height, width, 3]`. Deterministic (the same bytes for the same size and sharp build). Used by the
 * JPEG decoding tests of @vlfer/image and @vlfer/encoders.
 */
export async function photoLikeJpeg(width: number, height: number): Promise<Buffer> {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new Error(`photoLikeJpeg: ${name} must be a positive integer, got ${v}`);
  const { default: sharp } = await import('sharp');
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = 3 * (y * width + x);
      rgb[p] = (255 * x) / width;
      rgb[p + 1] = (255 * y) / height;
      rgb[p + 2] = 128 + 100 * Math.sin(x / 23) * Math.cos(y / 31);
    }
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90, chromaSubsampling: '4:2:0' })
    .toBuffer();
}
