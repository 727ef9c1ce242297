import { assertArrayLike, checkClassIds, InvalidArgumentError } from '@vlfer/core';
import type { OpenSetScores } from './statistics.js';

/** Check a label array: non-empty, integers in [0, numClasses). */
export function checkLabels(
  values: ArrayLike<number>,
  argument: string,
  functionName: string,
  numClasses?: number,
): void {
  if (values.length === 0)
    throw new InvalidArgumentError({ functionName, argument, message: 'is empty; at least one sample is required' });
  checkClassIds(values, { functionName, argument }, numClasses);
}

/** Check scores: non-empty and finite (NaN and ±Infinity are rejected with the offending index). */
export function checkScores(values: ArrayLike<number>, argument: string, functionName: string): void {
  if (values.length === 0)
    throw new InvalidArgumentError({ functionName, argument, message: 'is empty; at least one score is required' });
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!))
      throw new InvalidArgumentError({
        functionName,
        argument,
        message: `index ${i} is ${values[i]}; scores must be finite numbers`,
      });
  }
}

export function checkSameLength(
  a: ArrayLike<unknown>,
  b: ArrayLike<unknown>,
  names: [string, string],
  functionName: string,
): void {
  assertArrayLike(a, names[0], functionName);
  assertArrayLike(b, names[1], functionName);
  if (a.length !== b.length) {
    throw new InvalidArgumentError({
      functionName,
      argument: names[1],
      message: `has length ${b.length} but '${names[0]}' has length ${a.length}`,
    });
  }
}

/**
 * An `OpenSetScores` whose parts agree: finite scores, a prediction and a label (class ids) for every known item.
 * @param prefix how the arguments are named (`a.` for `a.knownScores`)
 */
export function checkOpenSetScores(s: OpenSetScores, functionName: string, prefix = ''): void {
  checkScores(s.knownScores, `${prefix}knownScores`, functionName);
  checkScores(s.unknownScores, `${prefix}unknownScores`, functionName);
  checkSameLength(
    s.knownScores,
    s.knownPredictions,
    [`${prefix}knownScores`, `${prefix}knownPredictions`],
    functionName,
  );
  checkSameLength(s.knownScores, s.knownLabels, [`${prefix}knownScores`, `${prefix}knownLabels`], functionName);
  checkLabels(s.knownPredictions, `${prefix}knownPredictions`, functionName);
  checkLabels(s.knownLabels, `${prefix}knownLabels`, functionName);
}

/** Explicit stratified resamples keep every position on its side: known items below `nKnown`, unknown ones from it. */
export function checkKnownUnknownIndices(
  indices: readonly ArrayLike<number>[] | undefined,
  nKnown: number,
  functionName: string,
): void {
  indices?.forEach((r, b) => {
    for (let i = 0; i < r.length; i++)
      if (r[i]! < nKnown !== i < nKnown)
        throw new InvalidArgumentError({
          functionName,
          argument: 'indices',
          message: `resample ${b}, position ${i} holds ${r[i]}, which crosses the known/unknown boundary at ${nKnown}`,
        });
  });
}

/** Known and unknown logits over the same classes (rows of equal length). */
export function checkSameClassCount(
  known: readonly ArrayLike<number>[],
  unknown: readonly ArrayLike<number>[],
  functionName: string,
): void {
  const [k, u] = [known[0]?.length, unknown[0]?.length];
  for (const [argument, c] of [
    ['knownLogits', k],
    ['unknownLogits', u],
  ] as const)
    if (c === 0)
      throw new InvalidArgumentError({
        functionName,
        argument,
        message: 'has rows of no columns; expected [n, K] logits over the K ≥ 1 known classes',
      });
  if (k !== undefined && u !== undefined && k !== u)
    throw new InvalidArgumentError({
      functionName,
      argument: 'unknownLogits',
      message: `has ${u} columns but 'knownLogits' has ${k}: both must hold logits over the same known classes`,
    });
}
