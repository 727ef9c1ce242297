import { checkOneOf, InvalidArgumentError, type FeatureProjection } from '@vlfer/core';
import { PREPROCESS_MODES, type PreprocessMode } from '../preprocess.js';
import { buildZeroShotClassifier, labelScores, type ClassPromptSpec, type LabelScore } from '../zero-shot.js';
import type { ClipModel } from './clip.js';
import { encodeImages } from './extract.js';
import type { ImageSource } from '@vlfer/image/node';

/** The template `classify` uses when none is given. */
export const DEFAULT_FER_TEMPLATE = 'a photo of a face with an expression of {}.';

export interface ClassifyOptions {
  /** Class names. */
  labels: readonly string[];
  /**
   * Templates with `{}` for the class name (one string or several, averaged), or prompts per label
   * (`{ happiness: [...], … }`; e.g. from `expClipPrompts` of @vlfer/llm-knowledge). @default DEFAULT_FER_TEMPLATE
   */
  prompts?: string | readonly string[] | Readonly<Record<string, readonly string[]>>;
  /**
   * @default the model's own preprocessing (`clip.preprocessMode`): `'openai'` (`clip.load`'s transform) for an
   * OpenAI `.pt` checkpoint, `'clip'` (CLIPImageProcessor) otherwise; `'exp-clip'` for the Exp-CLIP paper pipeline
   */
  mode?: PreprocessMode;
  /** An Exp-CLIP projection head applied to image and text features. */
  projection?: FeatureProjection;
  /**
   * Multiplier of the cosine similarities before the softmax: a positive number, or `'model'` for the checkpoint's
   * `exp(logit_scale)` (`clip.logitScale`; 100 when the model files hold none). Only the probabilities depend on
   * it, never their order. @default 100
   */
  logitScale?: number | 'model';
  /** @default 32 */
  batchSize?: number;
  signal?: AbortSignal;
}

/**
 * Zero-shot classification in one call, as transformers.js's pipeline returns it: for each image, every label
 * with its probability (softmax over `logitScale` × cosine similarity, averaged over the label's prompts),
 * highest first.
 * @example
 * const clip = await loadClip({ model: 'Xenova/clip-vit-base-patch32' });
 * const [scores] = await classify(clip, ['face.jpg'], { labels: ['happiness', 'sadness', 'neutral'] });
 * // [{ label: 'happiness', score: 0.81 }, …]
 */
export async function classify(
  clip: ClipModel,
  images: readonly ImageSource[],
  options: ClassifyOptions,
): Promise<LabelScore[][]> {
  const fn = 'classify';
  if (
    !options ||
    !Array.isArray(options.labels) ||
    options.labels.length === 0 ||
    !options.labels.every((l) => typeof l === 'string' && l.length > 0)
  ) {
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'labels',
      message: 'expected a non-empty array of class names',
    });
  }
  const mode = checkOneOf(options.mode ?? clip.preprocessMode ?? 'clip', PREPROCESS_MODES, {
    functionName: fn,
    argument: 'mode',
  });
  const p = options.prompts ?? DEFAULT_FER_TEMPLATE;
  let prompts: ClassPromptSpec;
  if (typeof p === 'string') prompts = { templates: [p] };
  else if (Array.isArray(p)) prompts = { templates: p as readonly string[] };
  else {
    const table = p as Readonly<Record<string, readonly string[]>>;
    prompts = options.labels.map((l) => {
      const list = table[l];
      if (!list)
        throw new InvalidArgumentError({
          functionName: fn,
          argument: 'prompts',
          message: `has no prompts for label '${l}'`,
        });
      return list;
    });
  }
  const zs = await buildZeroShotClassifier({
    model: clip,
    classNames: options.labels,
    prompts,
    ...(options.projection ? { projection: options.projection } : {}),
    ...(options.logitScale !== undefined
      ? { logitScale: options.logitScale === 'model' ? (clip.logitScale ?? 100) : options.logitScale }
      : {}),
  });
  const { features } = await encodeImages({
    model: clip,
    items: images,
    mode,
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return labelScores(await zs.classify(features), options.labels);
}
