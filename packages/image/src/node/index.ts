/**
 * @file `@vlfer/image/node`: image files decoded as Pillow 9.4's `Image.open(f).convert('RGB')` sees them
 * (`decodeImage`) or in the mode Pillow opens them in (`decodePillowImage`), with libjpeg-turbo (native through
 * koffi, or in WebAssembly) for 8-bit JPEGs, fast-png for small 8-bit PNGs and sharp (libvips) for the rest; `DECODER_VERSION` names that
 * behaviour for cache keys.
 */
export type { DecodeOptions, ImageSource, JpegDecoder } from './decode.js';
export {
  DECODER_VERSION,
  JPEG_DECODERS,
  JPEG_WASM_MAX_PIXELS,
  decodeImage,
  decodeImageNow,
  decodePillowImage,
  decodePillowImageNow,
  describeSource,
  pillowDraftScale,
  readImageHeader,
  toSharp,
} from './decode.js';
export type { NativeJpegStatus } from './jpeg-native.js';
export { decodeJpegNative, nativeJpeg } from './jpeg-native.js';
