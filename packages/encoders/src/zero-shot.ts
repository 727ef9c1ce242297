import {
  assertFiniteValues,
  assertShape,
  checkPositiveInteger,
  cosineLogits,
  InvalidArgumentError,
  LOGIT_SCALE_EXPECTED,
  logitScaleInRange,
  l2NormalizeRows,
  meanOfColumnGroups,
  meanOfRowGroups,
  softmaxRows,
  type FeatureProjection,
  type Tensor2D,
} from '@vlfer/core';

/** Prompts: one list per class (class order), or templates with `{}` filled with each class name. */
export type ClassPromptSpec = readonly (readonly string[])[] | { templates: readonly string[] };

export interface ZeroShotOptions {
  /** Anything with a text tower: a `ClipModel`, or a browser wrapper around transformers.js. */
  model: { encodeTexts(texts: readonly string[]): Promise<Tensor2D>; readonly embeddingDim: number };
  /** Class names in label order. */
  classNames: readonly string[];
  /** Prompts of each class (e.g. `expClipPrompts(type, labelSet).prompts` from @vlfer/llm-knowledge), or templates. */
  prompts: ClassPromptSpec;
  /** Applied to image and text features before normalisation (an Exp-CLIP head). @default identity (plain CLIP) */
  projection?: FeatureProjection;
  /**
   * `'logits'` (Exp-CLIP): cosine logits against every prompt, averaged over each class's prompts.
   * `'embeddings'` (CLIP paper): mean of each class's normalised prompt embeddings, renormalised.
   * @default 'logits'
   */
  ensemble?: 'logits' | 'embeddings';
  /**
   * Multiplier of the cosine similarities, within `LOGIT_SCALE_RANGE` (so it changes probabilities, never their
   * order); a loaded model's own value is `ClipModel.logitScale`. @default 100 (OpenAI CLIP's trained
   * logit_scale.exp())
   */
  logitScale?: number;
}

export interface ZeroShotClassifier {
  readonly classNames: readonly string[];
  readonly promptsPerClass: number;
  readonly ensemble: 'logits' | 'embeddings';
  /** Projected text features (not normalised): [classes · prompts, E] for 'logits', [classes, E] for 'embeddings'. */
  readonly textFeatures: Tensor2D;
  /** @param imageFeatures [images, D] raw CLIP image_embeds @returns logits [images, classes] */
  classify(imageFeatures: Tensor2D): Promise<Tensor2D>;
  /**
   * Video (Exp-CLIP `ExpCLIP_Test`): each frame feature projected, averaged over the clip's frames, then compared.
   * @param frameFeatures [clips · framesPerClip, D], frames of a clip consecutive
   * @returns logits [clips, classes]
   */
  classifyClips(frameFeatures: Tensor2D, framesPerClip: number): Promise<Tensor2D>;
}

async function project(x: Tensor2D, projection: FeatureProjection | undefined, fn: string): Promise<Tensor2D> {
  if (!projection) return x;
  if (x.dims[1] !== projection.inputDim)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'projection',
      message: `expects ${projection.inputDim}-d features, got ${x.dims[1]}-d`,
    });
  const y = await projection.project(x);
  assertShape(y, [x.dims[0], projection.outputDim], 'projection output', fn);
  return y;
}

/** The prompt lists of each class from a spec, checked: same number of prompts for every class. */
export function resolveClassPrompts(
  classNames: readonly string[],
  spec: ClassPromptSpec,
  functionName = 'resolveClassPrompts',
): string[][] {
  if (classNames.length === 0)
    throw new InvalidArgumentError({ functionName, argument: 'classNames', message: 'is empty' });
  const lists = Array.isArray(spec)
    ? (spec as readonly (readonly string[])[]).map((l) => [...l])
    : (spec as { templates: readonly string[] }).templates.map((t) => t);
  if (!Array.isArray(spec)) {
    const templates = lists as unknown as string[];
    if (templates.length === 0 || !templates.every((t) => typeof t === 'string' && t.includes('{}')))
      throw new InvalidArgumentError({
        functionName,
        argument: 'prompts.templates',
        message: "expected one or more templates containing '{}', e.g. 'an expression of {}.'",
      });
    return classNames.map((c) => templates.map((t) => t.replaceAll('{}', c)));
  }
  const perClass = lists as string[][];
  if (perClass.length !== classNames.length)
    throw new InvalidArgumentError({
      functionName,
      argument: 'prompts',
      message: `has ${perClass.length} prompt lists for ${classNames.length} classes`,
    });
  perClass.forEach((l, i) => {
    if (!Array.isArray(l) || l.length === 0 || !l.every((p) => typeof p === 'string' && p.length > 0))
      throw new InvalidArgumentError({
        functionName,
        argument: 'prompts',
        message: `class '${classNames[i]}' has no prompts`,
      });
    if (l.length !== perClass[0]!.length)
      throw new InvalidArgumentError({
        functionName,
        argument: 'prompts',
        message: `class '${classNames[i]}' has ${l.length} prompts, '${classNames[0]}' has ${perClass[0]!.length}; the logit ensemble needs equal counts`,
      });
  });
  return perClass;
}

/**
 * Build a zero-shot classifier (Exp-CLIP `ExpCLIP_Test`, open_clip `build_zero_shot_classifier`): the prompts are
 * encoded once and projected; logits are CLIP's `cosineLogits` (scale 100), averaged over each class's prompts
 * (`logits.view(n, C, P).mean(-1)`) or computed against the mean prompt embedding.
 */
export async function buildZeroShotClassifier(options: ZeroShotOptions): Promise<ZeroShotClassifier> {
  const { model, projection } = options;
  const fn = 'buildZeroShotClassifier';
  const ensemble = options.ensemble ?? 'logits';
  if (ensemble !== 'logits' && ensemble !== 'embeddings')
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'ensemble',
      message: `expected 'logits' or 'embeddings', got '${String(ensemble)}'`,
    });
  const scale = options.logitScale ?? 100;
  if (!logitScaleInRange(scale))
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'logitScale',
      message: `must be ${LOGIT_SCALE_EXPECTED}, got ${String(scale)}`,
    });
  if (projection && projection.inputDim !== model.embeddingDim) {
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'projection',
      message: `input dim ${projection.inputDim} does not match the encoder's ${model.embeddingDim}`,
    });
  }
  const lists = resolveClassPrompts(options.classNames, options.prompts, fn);
  const per = lists[0]!.length;
  let text = await project(await model.encodeTexts(lists.flat()), projection, fn);
  if (ensemble === 'embeddings') text = meanOfRowGroups(l2NormalizeRows(text, { epsilon: 1e-12 }), per);
  const toClasses = (logits: Tensor2D) => (ensemble === 'logits' && per > 1 ? meanOfColumnGroups(logits, per) : logits);
  return {
    classNames: [...options.classNames],
    promptsPerClass: per,
    ensemble,
    textFeatures: text,
    async classify(imageFeatures) {
      assertShape(imageFeatures, [null, model.embeddingDim], 'imageFeatures', 'ZeroShotClassifier.classify');
      // a NaN feature would come out as NaN logits, and the argmax of a NaN row as class 0
      assertFiniteValues(imageFeatures, 'imageFeatures', 'ZeroShotClassifier.classify');
      return toClasses(
        cosineLogits(await project(imageFeatures, projection, 'ZeroShotClassifier.classify'), text, scale).logits,
      );
    },
    async classifyClips(frameFeatures, framesPerClip) {
      checkFrameFeatures(frameFeatures, framesPerClip, model.embeddingDim);
      const pooled = meanOfRowGroups(
        await project(frameFeatures, projection, 'ZeroShotClassifier.classifyClips'),
        framesPerClip,
      );
      return toClasses(cosineLogits(pooled, text, scale).logits);
    },
  };
}

/**
 * `classifyClips`' input: frame features [clips·framesPerClip, D], finite.
 * @throws InvalidArgumentError naming `frameFeatures` or `framesPerClip`
 */
function checkFrameFeatures(frameFeatures: Tensor2D, framesPerClip: number, D: number): void {
  const where = 'ZeroShotClassifier.classifyClips';
  assertShape(frameFeatures, [null, D], 'frameFeatures', where);
  checkPositiveInteger(framesPerClip, { functionName: where, argument: 'framesPerClip' });
  if (frameFeatures.dims[0] % framesPerClip !== 0)
    throw new InvalidArgumentError({
      functionName: where,
      argument: 'frameFeatures',
      message: `has ${frameFeatures.dims[0]} rows, not a whole number of ${framesPerClip}-frame clips`,
    });
  assertFiniteValues(frameFeatures, 'frameFeatures', where);
}

/** One class and its probability. */
export interface LabelScore {
  label: string;
  score: number;
}

/**
 * Softmax over each row of scaled logits, as `{ label, score }` sorted by score (highest first), the shape
 * transformers.js's zero-shot pipeline returns. @param logits [n, C] @returns n lists of C entries
 */
export function labelScores(logits: Tensor2D, classNames: readonly string[]): LabelScore[][] {
  assertShape(logits, [null, classNames.length], 'logits', 'labelScores');
  const p = softmaxRows(logits);
  const c = classNames.length;
  return Array.from({ length: logits.dims[0] }, (_, i) =>
    classNames.map((label, j) => ({ label, score: p.data[i * c + j]! })).sort((a, b) => b.score - a.score),
  );
}
