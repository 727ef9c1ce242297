import { reportFromScores, type OpenSetReport } from './open-set.js';
import type { OpenSetScores } from './statistics.js';
import { checkOpenSetScores } from './validate.js';

/**
 * All open-set metrics, in both families of definitions (`OPEN_SET_METRIC_FAMILIES`), for ANY known-ness score and
 * closed-set prediction: what `openSetReport` computes from logits with max logit as the score and argmax as the
 * prediction (the same `auroc`, `oscrFromScores`, `tnrAtTpr` and `tiedScores`; equal to it on those inputs), so
 * post-hoc baselines (MSP, energy, kNN distance …) are scored exactly as HESP is.
 * @param scores knownScores [nKnown], unknownScores [nUnknown] (higher = more likely known; both non-empty and
 *   finite), knownPredictions and knownLabels [nKnown] class ids
 * @throws InvalidArgumentError naming the argument (empty, non-finite, lengths differ, not a class id)
 */
export function openSetReportFromScores(scores: OpenSetScores): OpenSetReport {
  const fn = 'openSetReportFromScores';
  const { knownScores, unknownScores, knownPredictions, knownLabels } = scores;
  checkOpenSetScores(scores, fn);
  const sk = Array.from(knownScores);
  return reportFromScores(
    sk,
    Array.from(unknownScores),
    sk.map((_, i) => (knownPredictions[i] === knownLabels[i] ? 1 : 0)),
  );
}
