import { InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { canonicalExpression } from '@vlfer/datasets';

/** HESP's class texts (the annotation's label_text column) by canonical expression name. */
export const HESP_CLASS_TEXT: Readonly<Record<string, string>> = {
  anger: 'Angry',
  disgust: 'Disgust',
  fear: 'Fear',
  happiness: 'Happy',
  neutral: 'Neutral',
  sadness: 'Sad',
  surprise: 'Surprise',
  contempt: 'Contempt',
  anxiety: 'Anxiety',
  helplessness: 'Helplessness',
  disappointment: 'Disappointment',
};

/**
 * Switches that reproduce defects of the released HESP code. All default to the fixed behaviour.
 * - `alphabeticalClassNames`: the reference sorts the known class names alphabetically (`classes_names.sort()`)
 *   while labels index `sorted(known)` numerically, so prompt j describes another class than label j in most splits
 *   (17 of MAFW's 20). vlfer aligns prompt j with label j unless this is true; then `@vlfer/hesp` also numbers the
 *   known labels by the released code's class ids (`hespReferenceKnownOrder` of `@vlfer/datasets`), so each label
 *   meets the prompt the reference gives it.
 * - `zeroContextGradient`: the reference calls `prompt.zero_grad()` before `optimizer.step()`, so the CoOp context
 *   never receives the task gradient, and does not move at all (PyTorch ≥ 2.0 skips a `None` gradient; under 1.10
 *   the weight decay's step is below the float16 context's resolution). (Consumed by the HESP training loop.) Not
 *   reproduced: under PyTorch 1.10 the same zeroed step lets weight decay shrink the float32 `logit_scale` (exp
 *   from 100 to about 91–98 over 100 epochs) and the text positional embedding by about 1 %; vlfer keeps both, as
 *   PyTorch ≥ 2.0 does.
 */
export interface HespReferenceBehaviour {
  alphabeticalClassNames?: boolean;
  zeroContextGradient?: boolean;
}

/**
 * Class texts for the K known classes, index j = known label j (HESP remaps labels to `sorted(known).index`):
 * HESP's text of each expression (`HESP_CLASS_TEXT`), and the name itself for a class that is no expression.
 * @param knownClassIds class ids in `labelSet`, any order
 */
export function knownClassTexts(
  knownClassIds: readonly number[],
  labelSet: LabelSet,
  options: { referenceBehaviour?: HespReferenceBehaviour } = {},
): string[] {
  const sorted = [...knownClassIds].sort((a, b) => a - b);
  const twice = sorted.find((id, i) => i > 0 && sorted[i - 1] === id);
  if (twice !== undefined)
    throw new InvalidArgumentError({
      functionName: 'knownClassTexts',
      argument: 'knownClassIds',
      message: `names class id ${twice} twice; each known class once`,
    });
  const texts = sorted.map((id) => {
    const name = labelSet.names[id];
    if (name === undefined)
      throw new InvalidArgumentError({
        functionName: 'knownClassTexts',
        argument: 'knownClassIds',
        message: `class id ${id} is not a class of ${labelSet.id} (0..${labelSet.names.length - 1})`,
      });
    // an expression by HESP's text, however the label set spells it ('Angry', 'happy'); a class of one's own by its name
    return HESP_CLASS_TEXT[canonicalExpression(name) ?? ''] ?? name;
  });
  return options.referenceBehaviour?.alphabeticalClassNames ? [...texts].sort() : texts;
}

/** CoOp prompt with `nCtx` placeholder tokens before the class name, class token at the end: "X X … X Angry." */
export function coopPromptText(classText: string, nCtx = 16): string {
  if (!Number.isInteger(nCtx) || nCtx < 1)
    throw new InvalidArgumentError({
      functionName: 'coopPromptText',
      argument: 'nCtx',
      message: `must be a positive integer, got ${nCtx}`,
    });
  return `${'X '.repeat(nCtx)}${classText}.`;
}

/** HESP's hard negative text prompt for a known class. */
export function negativePromptText(classText: string): string {
  return `This video is not ${classText}.`;
}
