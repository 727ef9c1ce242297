import { checkOneOf, InvalidArgumentError, type FeatureProjection, type LabelSet } from '@vlfer/core';
import {
  createImageClassifier,
  DEFAULT_FER_TEMPLATE,
  type ClassifierPrompts,
  type ImageClassifier,
  type ZeroShotClassifierOptions,
} from '../classifier.js';
import { PREPROCESS_MODES, type PreprocessMode } from '../preprocess.js';
import type { LabelScore } from '../zero-shot.js';
import { loadClip, type ClipModel } from './clip.js';
import { encodeImages } from './extract.js';
import type { ImageSource } from '@vlfer/image/node';

export { DEFAULT_FER_TEMPLATE };

/** Options of `zeroShotClassifier` in Node. */
export interface NodeZeroShotClassifierOptions extends ZeroShotClassifierOptions {
  /**
   * A loaded CLIP (`loadClip`; stays the caller's to dispose), or a model id/path that the classifier loads with
   * `loadClip({ model })` and disposes in its `dispose()`.
   */
  model: ClipModel | string;
  /**
   * Image preprocessing. @default the model's own (`clip.preprocessMode`): `'openai'` for an OpenAI `.pt`
   * checkpoint, `'clip'` (CLIPImageProcessor) otherwise; `'exp-clip'` for the Exp-CLIP paper pipeline
   */
  mode?: PreprocessMode;
  /** Images per encoder call. @default 32 */
  batchSize?: number;
}

/**
 * A zero-shot image classifier whose prompts are encoded once: call it with images (paths, encoded buffers,
 * `{ rgb, width, height }`) as often as needed; `dispose()` when done. `@vlfer/encoders/web` has the same function
 * for the browser.
 * @example
 * const fer = await zeroShotClassifier({ model: clip, labels: BASIC_7, prompts: expClipPrompts('expression_ensemble_ten', BASIC_7) });
 * const [top] = (await fer(['face.jpg']))[0]!; // { label: 'happiness', index: 3, score: 0.81 }
 * await fer.dispose();
 */
export async function zeroShotClassifier(
  options: NodeZeroShotClassifierOptions,
): Promise<ImageClassifier<ImageSource>> {
  const fn = 'zeroShotClassifier';
  const given = options?.model;
  if (typeof given !== 'string' && (typeof given !== 'object' || given === null || !('encodeTexts' in given)))
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'model',
      message: 'expected a loaded ClipModel (loadClip) or a model id/path',
    });
  const checkMode = (m: string) => checkOneOf(m, PREPROCESS_MODES, { functionName: fn, argument: 'mode' });
  // a mode given is checked before a model is loaded for it; the model's own afterwards, with the model released
  if (options.mode !== undefined) checkMode(options.mode);
  const clip = typeof given === 'string' ? await loadClip({ model: given }) : given;
  try {
    const mode = checkMode(options.mode ?? clip.preprocessMode ?? 'clip');
    return await createImageClassifier<ImageSource>(
      {
        model: clip,
        functionName: fn,
        async encodeImages(images, signal) {
          const { features } = await encodeImages({
            model: clip,
            items: images,
            mode,
            ...(options.batchSize ? { batchSize: options.batchSize } : {}),
            ...(signal ? { signal } : {}),
          });
          return features;
        },
        ...(typeof given === 'string' ? { release: () => clip.dispose() } : {}),
      },
      options,
    );
  } catch (error) {
    if (typeof given === 'string') await clip.dispose();
    throw error;
  }
}

export interface ClassifyOptions {
  /** Class names, or a `LabelSet` (e.g. `BASIC_7` of @vlfer/datasets). */
  labels: readonly string[] | LabelSet;
  /**
   * Templates with `{}` for the class name (one string or several, averaged), prompts per label
   * (`{ happiness: [...], … }`), or `expClipPrompts(type, labels)` of @vlfer/llm-knowledge. @default DEFAULT_FER_TEMPLATE
   */
  prompts?: ClassifierPrompts;
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
 * highest first. It encodes the prompts on every call: to classify more than once, build a `zeroShotClassifier`.
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
  if (!options || typeof options !== 'object')
    throw new InvalidArgumentError({ functionName: fn, argument: 'options', message: 'expected { labels }' });
  const { signal, ...rest } = options;
  const mode = checkOneOf(options.mode ?? clip.preprocessMode ?? 'clip', PREPROCESS_MODES, {
    functionName: fn,
    argument: 'mode',
  });
  const fer = await createImageClassifier<ImageSource>(
    {
      model: clip,
      functionName: fn,
      async encodeImages(items, s) {
        const { features } = await encodeImages({
          model: clip,
          items,
          mode,
          ...(options.batchSize ? { batchSize: options.batchSize } : {}),
          ...(s ? { signal: s } : {}),
        });
        return features;
      },
    },
    rest,
  );
  const results = await fer(images, signal ? { signal } : {});
  await fer.dispose();
  return results.map((row) => row.map(({ label, score }) => ({ label, score })));
}
