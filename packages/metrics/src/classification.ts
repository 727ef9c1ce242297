import { describeKind, InvalidArgumentError } from '@vlfer/core';
import { checkLabels, checkSameLength } from './validate.js';

/** The most classes a confusion matrix is built for (4,096² cells; an id of 1e9 would exhaust the heap). */
export const MAX_CONFUSION_CLASSES = 4096;

/**
 * Confusion matrix, rows = true class, columns = predicted class.
 * @param yTrue [n] integer class ids
 * @param yPred [n] integer class ids
 * @param numClasses number of classes C; defaults to 1 + the largest id seen
 * @returns C×C counts
 */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses?: number): number[][] {
  return countConfusion(yTrue, yPred, numClasses, 'confusionMatrix');
}

/** {@link confusionMatrix}, its errors naming `fn` (the function the caller called). */
function countConfusion(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  numClasses: number | undefined,
  fn: string,
): number[][] {
  checkSameLength(yTrue, yPred, ['yTrue', 'yPred'], fn);
  checkLabels(yTrue, 'yTrue', fn, numClasses);
  checkLabels(yPred, 'yPred', fn, numClasses);
  let c = numClasses ?? 0;
  if (numClasses === undefined) for (let i = 0; i < yTrue.length; i++) c = Math.max(c, yTrue[i]! + 1, yPred[i]! + 1);
  if (c > MAX_CONFUSION_CLASSES)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: numClasses === undefined ? 'yTrue' : 'numClasses',
      message: `${numClasses === undefined ? 'its largest class id (or yPred’s) asks for' : 'asks for'} ${c} classes; a confusion matrix is built for at most ${MAX_CONFUSION_CLASSES} (are these class ids?)`,
    });
  const m = Array.from({ length: c }, () => new Array<number>(c).fill(0));
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i]!]![yPred[i]!]! += 1;
  return m;
}

/**
 * Recall of each class: correct / support. Classes with no sample in y_true get `null`
 * (they have no recall, and are left out of UAR).
 * @param matrix C×C confusion matrix (rows = true class)
 */
export function perClassRecall(matrix: readonly (readonly number[])[]): (number | null)[] {
  if (!Array.isArray(matrix))
    throw new InvalidArgumentError({
      functionName: 'perClassRecall',
      argument: 'matrix',
      message: `expected a [C, C] array of rows (confusionMatrix's), got ${describeKind(matrix)}`,
    });
  return matrix.map((r, i) => {
    if (!Array.isArray(r))
      throw new InvalidArgumentError({
        functionName: 'perClassRecall',
        argument: 'matrix',
        message: `row ${i} is ${describeKind(r)}, expected an array of counts`,
      });
    if (r.length !== matrix.length)
      throw new InvalidArgumentError({
        functionName: 'perClassRecall',
        argument: 'matrix',
        message: `row ${i} has ${r.length} columns, expected ${matrix.length}`,
      });
    for (let j = 0; j < r.length; j++)
      if (!(Number.isFinite(r[j]) && r[j]! >= 0))
        throw new InvalidArgumentError({
          functionName: 'perClassRecall',
          argument: 'matrix',
          message: `cell [${i}][${j}] holds ${r[j]}; expected a count (a finite number ≥ 0)`,
        });
    const support = r.reduce((s, v) => s + v, 0);
    return support === 0 ? null : r[i]! / support;
  });
}

/**
 * Unweighted average recall (UAR): mean per-class recall over the classes present in y_true.
 * Equal to the Exp-CLIP/DFER-CLIP `mean(diag(row-normalised confusion matrix))`.
 * @returns a fraction in [0, 1]
 */
export function unweightedAverageRecall(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  numClasses?: number,
): number {
  const matrix = countConfusion(yTrue, yPred, numClasses, 'unweightedAverageRecall');
  const recalls = perClassRecall(matrix).filter((r): r is number => r !== null);
  return recalls.reduce((s, v) => s + v, 0) / recalls.length;
}

/**
 * Weighted average recall (WAR) = plain accuracy.
 * @returns a fraction in [0, 1]
 */
export function weightedAverageRecall(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkSameLength(yTrue, yPred, ['yTrue', 'yPred'], 'weightedAverageRecall');
  checkLabels(yTrue, 'yTrue', 'weightedAverageRecall');
  checkLabels(yPred, 'yPred', 'weightedAverageRecall');
  let correct = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) correct++;
  return correct / yTrue.length;
}

export interface ClassificationReport {
  /** Number of samples. */
  n: number;
  /** UAR as a fraction in [0, 1]. */
  uar: number;
  /** WAR (accuracy) as a fraction in [0, 1]. */
  war: number;
  /** Recall per class id (null where the class has no sample). */
  perClassRecall: (number | null)[];
  /** C×C counts, rows = true class. */
  confusionMatrix: number[][];
}

/** UAR, WAR, per-class recall and the confusion matrix in one call. */
export function classificationReport(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  numClasses?: number,
): ClassificationReport {
  const cm = confusionMatrix(yTrue, yPred, numClasses);
  const recall = perClassRecall(cm);
  const present = recall.filter((r): r is number => r !== null);
  return {
    n: yTrue.length,
    uar: present.reduce((s, v) => s + v, 0) / present.length,
    war: weightedAverageRecall(yTrue, yPred),
    perClassRecall: recall,
    confusionMatrix: cm,
  };
}
