import { existsSync } from 'node:fs';
import { InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { readTextFile } from '@vlfer/core/node';
import { getLabelSet, labelSetFromNames, LABEL_SETS, parseLabelSetJson } from '../label-sets.js';

/** What a user may give to choose a label set: ad-hoc class names, or a built-in id / JSON file. */
export interface LabelSetChoice {
  /** Class names in label order (an ad-hoc label set); not together with `labelSet`. */
  classes?: readonly string[] | undefined;
  /** A built-in label set id (`contempt-7`, `affectnet-8-native`, …) or a JSON file (`["a", …]` or `{ id, names }`). */
  labelSet?: string | undefined;
}

/**
 * The label set a run uses: `classes` (ad-hoc, in order) or `labelSet` (built-in id or JSON file), else `fallback` (a
 * built-in id, e.g. the dataset's default). Returns `undefined` when nothing is given and there is no fallback (class
 * folder sets then infer it from the folders), with a sentence saying where the label set came from.
 * @throws InvalidArgumentError naming `classes` when both are given (one would silently be ignored), naming
 *   `labelSet` when it is neither a built-in id nor a file; DataFormatError naming the file
 */
export function resolveLabelSet(
  choice: LabelSetChoice,
  fallback?: string,
): { labelSet: LabelSet | undefined; reason: string } {
  if (choice.classes && choice.labelSet)
    throw new InvalidArgumentError({
      functionName: 'resolveLabelSet',
      argument: 'classes',
      message: `was given with labelSet '${choice.labelSet}' too: give one of them`,
    });
  if (choice.classes) {
    try {
      return { labelSet: labelSetFromNames(choice.classes), reason: 'given with classes' };
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      // the names are the `classes` option: named as it, not as an inner function's argument
      throw new InvalidArgumentError({ functionName: 'resolveLabelSet', argument: 'classes', message: error.detail });
    }
  }
  if (choice.labelSet) {
    if (Object.hasOwn(LABEL_SETS, choice.labelSet))
      return { labelSet: getLabelSet(choice.labelSet), reason: `built-in label set '${choice.labelSet}'` };
    if (existsSync(choice.labelSet))
      return {
        labelSet: parseLabelSetJson(readTextFile(choice.labelSet, 'label set JSON'), choice.labelSet),
        reason: `from ${choice.labelSet}`,
      };
    throw new InvalidArgumentError({
      functionName: 'resolveLabelSet',
      argument: 'labelSet',
      message: `'${choice.labelSet}' is neither a built-in label set (${Object.keys(LABEL_SETS).join(', ')}) nor a JSON file`,
    });
  }
  return fallback
    ? { labelSet: getLabelSet(fallback), reason: `the dataset's default '${fallback}'` }
    : { labelSet: undefined, reason: '' };
}
