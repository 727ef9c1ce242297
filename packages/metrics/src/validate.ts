import { checkClassIds, InvalidArgumentError } from '@vlfer/core';

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
  if (a.length !== b.length) {
    throw new InvalidArgumentError({
      functionName,
      argument: names[1],
      message: `has length ${b.length} but '${names[0]}' has length ${a.length}`,
    });
  }
}
