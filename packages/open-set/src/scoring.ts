import { argmaxRows, assertFiniteValues, assertShape, averageTensors, maxRows, type Tensor2D } from '@vlfer/core';

/**
 * HESP's ensemble: e = (clip_logits + arpl_logits) / 2, averaged without rescaling as the reference does.
 * @param clipLogits [clips, K] @param arplLogits [clips, K] @returns e [clips, K]
 */
export function ensembleLogits(clipLogits: Tensor2D, arplLogits: Tensor2D): Tensor2D {
  const fn = 'ensembleLogits';
  assertShape(clipLogits, [null, null], 'clipLogits', fn);
  assertShape(arplLogits, [clipLogits.dims[0], clipLogits.dims[1]], 'arplLogits', fn);
  assertFiniteValues(clipLogits, 'clipLogits', fn);
  assertFiniteValues(arplLogits, 'arplLogits', fn);
  return averageTensors(clipLogits, arplLogits, fn);
}

/** Known-ness score per clip = max ensemble logit (no softmax), and the predicted known class. @param ensemble [clips, K] */
export function knownness(ensemble: Tensor2D): { scores: number[]; predictions: number[] } {
  return { scores: maxRows(ensemble, 'ensemble', 'knownness'), predictions: argmaxRows(ensemble) };
}
