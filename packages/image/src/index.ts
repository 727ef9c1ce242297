/**
 * @file `@vlfer/image`: images in general, runtime-neutral — Pillow 9.4's resampling bit for bit (`pilResize`, in
 * WebAssembly SIMD or JavaScript), Pillow's modes and `convert('RGB')` (`PillowImage`, `pillowResizeWindow`,
 * `pillowCmykToRgb`); OpenCV 4.x's 8-bit `INTER_LINEAR` resize and `warpAffine` byte for byte (`resizeBilinear`,
 * `warpAffine`). File decoding as Pillow does it is in `@vlfer/image/node`; what CLIP makes of the pixels
 * (crop boxes, normalisation, the `clip`/`exp-clip`/`openai` modes) is in `@vlfer/encoders`.
 */
export type { ByteTables, PilFilter, PilResampler, ResizeWindow } from './pil-resize.js';
export {
  PIL_RESAMPLERS,
  pilNearestWindow,
  pilResize,
  pilResizeInt32,
  pilResizeRows,
  pilResizeToPlanes,
  pilResizeWindow,
  planeWriter,
} from './pil-resize.js';
export type { DecodedImage, PillowImage, PillowMode } from './pillow.js';
export { PILLOW_MODES, pillowCmykToRgb, pillowResizeWindow, pillowToRgb } from './pillow.js';
export type { Affine } from './opencv.js';
export { invertAffine, resizeBilinear, warpAffine } from './opencv.js';
