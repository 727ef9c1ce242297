import sharp from 'sharp';
import { writeFileAtomic } from '@vlfer/core/node';
import type { RgbImage } from '../types.js';

/** An 8-bit grey or RGB image as PNG bytes. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: img.channels },
  })
    .png()
    .toBuffer();
}

/** Write an 8-bit grey or RGB image as a PNG file (atomically). */
export async function writePng(path: string, img: RgbImage): Promise<void> {
  writeFileAtomic(path, await encodePng(img));
}
