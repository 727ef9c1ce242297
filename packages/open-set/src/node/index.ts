/** @file `@vlfer/open-set/node`: `HespModel`, HESP's learnable prompts on a frozen CLIP with gradients from ONNX Runtime. */
export type { HespOptions, HespLosses, HespGradients, HespState } from './hesp.js';
export { HespModel } from './hesp.js';
