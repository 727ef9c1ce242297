import type { DecodedImage } from '../preprocess.js';
import { packageRequire } from './require.js';

/**
 * libjpeg-turbo compiled to WebAssembly (`@cornerstonejs/codec-libjpeg-turbo-8bit`, its decode-only build): the
 * decoder Pillow links, called in-process and synchronously. A 48×48 FER2013 JPEG decodes in about 0.13 ms here,
 * against about 1 ms through sharp, whose per-call pipeline set-up costs far more than the decode itself. TurboJPEG
 * defaults are Pillow's: the accurate integer IDCT, fancy (smooth) chroma upsampling, no colour profile, no EXIF
 * rotation; grey frames are decoded as grey (TJPF_GRAY), 3-component frames as RGB.
 */
interface WasmJpegDecoder {
  getEncodedBuffer(size: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; componentCount: number; bitsPerSample: number };
}

let decoder: Promise<WasmJpegDecoder> | undefined;

/** The decoder, instantiated once per thread (about 20 ms). */
export function loadJpegDecoder(): Promise<WasmJpegDecoder> {
  decoder ??= (async () => {
    const factory = packageRequire('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs') as () => Promise<{ JPEGDecoder: new () => WasmJpegDecoder }>;
    const module = await factory();
    return new module.JPEGDecoder();
  })();
  return decoder;
}

/**
 * Decode an 8-bit JPEG with 1 or 3 components (the caller has checked the frame header) to grey or RGB pixels.
 * Returns `undefined` when libjpeg-turbo reports an error or a warning (corrupt or truncated data, a sampling
 * factor TurboJPEG does not take): the caller then decodes with libvips, whose error names the problem.
 */
export async function decodeJpegWasm(bytes: Uint8Array): Promise<DecodedImage | undefined> {
  const d = await loadJpegDecoder();
  try {
    d.getEncodedBuffer(bytes.length).set(bytes);
    d.decode();
    const info = d.getFrameInfo();
    const channels = info.componentCount;
    const pixels = d.getDecodedBuffer();
    if ((channels !== 1 && channels !== 3) || pixels.length !== info.width * info.height * channels) return undefined;
    // the view is into WebAssembly memory, overwritten by the next decode: copy it out, into this realm's
    // Uint8Array (the Emscripten glue is loaded through require and may live in another realm, where `slice()`
    // would make an array that fails `instanceof Uint8Array` here, as under vitest)
    const data = new Uint8Array(pixels.length);
    data.set(pixels);
    return { data, width: info.width, height: info.height, channels };
  } catch {
    // the decoder throws a bare C++ exception pointer, with no message; libvips gives the message instead
    return undefined;
  }
}
