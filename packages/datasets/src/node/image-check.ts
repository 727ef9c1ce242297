import { closeSync, openSync, readSync } from 'node:fs';
import { explainFsError } from './scan-errors.js';
import { DataFormatError, eventLoopPacer } from '@vlfer/core';
import { loadSharp } from './sharp-optional.js';

/**
 * How loaders check images: `'none'` trusts the listing, `'header'` (default) reads the first bytes and checks
 * the JPEG/PNG/BMP/GIF/WebP/TIFF signature (fast, catches empty and truncated-to-nothing files),
 * `'decode'` decodes each image with sharp (slow, catches corrupt pixel data).
 */
export type ImageVerification = 'none' | 'header' | 'decode';

function hasImageSignature(b: Uint8Array): boolean {
  const at = (i: number, ...bytes: number[]) => bytes.every((v, k) => b[i + k] === v);
  return (
    at(0, 0xff, 0xd8, 0xff) || // JPEG
    at(0, 0x89, 0x50, 0x4e, 0x47) || // PNG
    at(0, 0x42, 0x4d) || // BMP
    at(0, 0x47, 0x49, 0x46, 0x38) || // GIF
    (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) || // RIFF....WEBP
    at(0, 0x49, 0x49, 0x2a, 0x00) ||
    at(0, 0x4d, 0x4d, 0x00, 0x2a) // TIFF
  );
}

/** Throws a DataFormatError naming the file when it is not a readable image under `mode`. */
export async function verifyImage(path: string, mode: ImageVerification): Promise<void> {
  if (mode === 'none') return;
  let header: Uint8Array;
  try {
    const fd = openSync(path, 'r');
    try {
      header = new Uint8Array(16);
      const n = readSync(fd, header, 0, 16, 0);
      header = header.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new DataFormatError({
      file: path,
      message: `image file ${explainFsError(error)}`,
      cause: error,
    });
  }
  if (!hasImageSignature(header)) {
    throw new DataFormatError({
      file: path,
      message: `unreadable image: ${header.length === 0 ? 'the file is empty' : 'no JPEG/PNG/BMP/GIF/WebP/TIFF signature'}`,
    });
  }
  // libvips reads no BMP (@vlfer/image decodes uncompressed ones itself, and names the others): its header is the check
  if (mode === 'decode' && !(header[0] === 0x42 && header[1] === 0x4d)) {
    const sharp = await loadSharp();
    try {
      await sharp(path).raw().toBuffer();
    } catch (error) {
      throw new DataFormatError({
        file: path,
        message: `unreadable image: sharp could not decode it (${(error as Error).message})`,
        cause: error,
      });
    }
  }
}

/**
 * `verifyImage` on each item's file, in order, serving the event loop every 50 ms (`eventLoopPacer`).
 * @throws DataFormatError naming the first that fails; AbortedError once `signal` fires
 */
export async function verifyImages(
  items: readonly { path: string }[],
  mode: ImageVerification,
  signal?: AbortSignal,
): Promise<void> {
  if (mode === 'none') return;
  const pace = eventLoopPacer({ what: 'reading the dataset', signal });
  for (const it of items) {
    await pace();
    await verifyImage(it.path, mode);
  }
}
