import type { Tensor2D } from './tensor.js';

/**
 * A map from encoder features to another space, applied before L2-normalisation in zero-shot
 * classification (identity = plain CLIP; an Exp-CLIP head = `W·x`, D → 4096).
 */
export interface FeatureProjection {
  readonly inputDim: number;
  readonly outputDim: number;
  /** @param x [rows, inputDim] @returns [rows, outputDim] */
  project(x: Tensor2D): Tensor2D | Promise<Tensor2D>;
}
