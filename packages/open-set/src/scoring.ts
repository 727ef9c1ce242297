import { assertShape, type Tensor2D } from '@vlfer/core';
import { maxScores } from '@vlfer/metrics';

/**
 * HESP's ensemble: e = (clip_logits + arpl_logits) / 2, averaged without rescaling as the reference does.
 * @returns e [clips, K]
 */
export function ensembleLogits(clipLogits: Tensor2D, arpl: Tensor2D): Tensor2D {
  assertShape(clipLogits, [null, null], 'clipLogits', 'ensembleLogits');
  assertShape(arpl, [clipLogits.dims[0], clipLogits.dims[1]], 'arplLogits', 'ensembleLogits');
  return { dtype: 'float32', data: clipLogits.data.map((v, i) => (v + arpl.data[i]!) / 2), dims: clipLogits.dims };
}

/** Known-ness score per clip = max ensemble logit (no softmax), and the predicted known class. */
export function knownness(ensemble: Tensor2D): { scores: number[]; predictions: number[] } {
  const [n, k] = ensemble.dims;
  const rows = Array.from({ length: n }, (_, i) => ensemble.data.subarray(i * k, (i + 1) * k));
  const scores = maxScores(rows, 'ensemble');
  return { scores, predictions: rows.map((r, i) => r.indexOf(scores[i]!)) };
}
