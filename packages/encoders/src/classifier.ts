import { InvalidArgumentError, VlferError, type FeatureProjection, type LabelSet, type Tensor2D } from '@vlfer/core';
import { buildZeroShotClassifier, labelScores, type ClassPromptSpec, type ZeroShotOptions } from './zero-shot.js';

/** The template a classifier uses when no prompts are given. */
export const DEFAULT_FER_TEMPLATE = 'a photo of a face with an expression of {}.';

/**
 * Prompts of a classifier:
 * - a template with `{}` for the class name, or several (their logits averaged);
 * - prompts per label, `{ happiness: [...], … }`;
 * - Exp-CLIP's prompts of one type, `expClipPrompts('expression_ensemble_ten', BASIC_7)` of @vlfer/llm-knowledge
 *   (anything with `classNames` and `prompts: string[][]` in the same class order as `labels`).
 */
export type ClassifierPrompts =
  | string
  | readonly string[]
  | Readonly<Record<string, readonly string[]>>
  | { readonly classNames: readonly string[]; readonly prompts: readonly (readonly string[])[] };

/** Options of `zeroShotClassifier` shared by Node and the browser. */
export interface ZeroShotClassifierOptions {
  /** The classes, in label order: a `LabelSet` (e.g. `BASIC_7` of @vlfer/datasets) or class names. */
  labels: LabelSet | readonly string[];
  /** @default DEFAULT_FER_TEMPLATE ('a photo of a face with an expression of {}.') */
  prompts?: ClassifierPrompts;
  /** An Exp-CLIP projection head applied to image and text features. @default none (plain CLIP) */
  projection?: FeatureProjection;
  /** How a class's prompts are combined: mean of their logits (Exp-CLIP) or of their embeddings (CLIP paper). @default 'logits' */
  ensemble?: 'logits' | 'embeddings';
  /**
   * Multiplier of the cosine similarities before the softmax: a positive number, or `'model'` for the checkpoint's
   * `exp(logit_scale)` (`model.logitScale`; 100 when the model files hold none). Scores depend on it, their order
   * does not. @default 100
   */
  logitScale?: number | 'model';
}

/** One class of one image: its name, its label id (index in `labels`) and its probability. */
export interface ClassPrediction {
  label: string;
  /** Label id: the class's index in the classifier's `labels` (what the metrics of @vlfer/metrics take). */
  index: number;
  /** Softmax probability over the classes, in [0, 1]. */
  score: number;
}

/**
 * A zero-shot classifier with its text features encoded once (transformers.js pipeline style): call it with images,
 * get for each image every class with its probability, highest first. The same object in Node
 * (`@vlfer/encoders/node`, images are paths, buffers or raw RGB) and in the browser (`@vlfer/encoders/web`,
 * decoded pixels).
 */
export interface ImageClassifier<Image> {
  /**
   * @param images N images
   * @returns N lists of C `{ label, index, score }`, each sorted by score (highest first): `r[i][0]` is image i's top-1
   * @throws VlferError after `dispose()`
   */
  (images: readonly Image[], options?: { signal?: AbortSignal }): Promise<ClassPrediction[][]>;
  /** Class names in label order. */
  readonly labels: readonly string[];
  /** The label set the indices refer to (built from the names when `labels` was a plain list). */
  readonly labelSet: LabelSet;
  /** Prompts per class (after filling templates). */
  readonly promptsPerClass: number;
  /** Logits [images, C] for image features [images, D] (the CLIP `image_embeds`, not normalised). */
  logits(imageFeatures: Tensor2D): Promise<Tensor2D>;
  /** True once `dispose()` ran. */
  readonly disposed: boolean;
  /**
   * Drop the text features and, when the classifier loaded its model itself (a model id or path was given), the
   * model. A model object passed in stays the caller's to dispose. Calling the classifier afterwards throws.
   */
  dispose(): Promise<void>;
}

/** The text side a classifier needs from a model (`ClipModel` in Node, `WebClipModel` in the browser). */
export interface ClassifierTextModel {
  encodeTexts(texts: readonly string[]): Promise<Tensor2D>;
  readonly embeddingDim: number;
  readonly logitScale?: number | null;
}

function resolveLabels(labels: unknown, fn: string): LabelSet {
  if (labels && typeof labels === 'object' && !Array.isArray(labels)) {
    const set = labels as Partial<LabelSet>;
    if (typeof set.id === 'string' && Array.isArray(set.names)) {
      resolveLabelNames(set.names, fn, set.id);
      return set as LabelSet;
    }
  }
  return resolveLabelNames(labels, fn);
}

function resolveLabelNames(names: unknown, fn: string, id?: string): LabelSet {
  if (!Array.isArray(names) || names.length === 0 || !names.every((l) => typeof l === 'string' && l.length > 0))
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'labels',
      message: 'expected a LabelSet (e.g. BASIC_7 of @vlfer/datasets) or a non-empty array of class names',
    });
  const list = names as string[];
  const dup = list.find((n, i) => list.indexOf(n) !== i);
  if (dup !== undefined)
    throw new InvalidArgumentError({ functionName: fn, argument: 'labels', message: `'${dup}' appears twice` });
  return Object.freeze({ id: id ?? `classes:${list.join(',')}`, names: Object.freeze([...list]) });
}

/** The prompt spec of `buildZeroShotClassifier` for a classifier's `prompts` option. */
export function classifierPromptSpec(
  labels: readonly string[],
  prompts: ClassifierPrompts | undefined,
  functionName: string,
): ClassPromptSpec {
  const p = prompts ?? DEFAULT_FER_TEMPLATE;
  if (typeof p === 'string') return { templates: [p] };
  if (Array.isArray(p)) return { templates: p as readonly string[] };
  if (p && typeof p === 'object' && 'classNames' in p && 'prompts' in p && Array.isArray(p.prompts)) {
    const given = p as { classNames: readonly string[]; prompts: readonly (readonly string[])[] };
    if (given.classNames.length !== labels.length || given.classNames.some((c, i) => c !== labels[i]))
      throw new InvalidArgumentError({
        functionName,
        argument: 'prompts',
        message: `were made for the classes [${given.classNames.join(', ')}], not the labels [${labels.join(', ')}] (same names in the same order expected)`,
      });
    return given.prompts;
  }
  if (!p || typeof p !== 'object')
    throw new InvalidArgumentError({
      functionName,
      argument: 'prompts',
      message:
        'expected a template, a list of templates, prompts per label, or expClipPrompts(…) of @vlfer/llm-knowledge',
    });
  const table = p as Readonly<Record<string, readonly string[]>>;
  return labels.map((l) => {
    const list = table[l];
    if (!list)
      throw new InvalidArgumentError({ functionName, argument: 'prompts', message: `has no prompts for label '${l}'` });
    return list;
  });
}

/**
 * The runtime-neutral core of `zeroShotClassifier` (Node and browser): checks the options, encodes and projects the
 * prompts once, and returns the callable classifier; `encodeImages` is the runtime's image side.
 * @param parts.encodeImages images → CLIP image features [images, D]
 * @param parts.release what `dispose()` frees besides the text features (a model the classifier loaded itself)
 */
export async function createImageClassifier<Image>(
  parts: {
    model: ClassifierTextModel;
    encodeImages(images: readonly Image[], signal: AbortSignal | undefined): Promise<Tensor2D>;
    release?: () => Promise<void>;
    functionName: string;
  },
  options: ZeroShotClassifierOptions,
): Promise<ImageClassifier<Image>> {
  const fn = parts.functionName;
  if (!options || typeof options !== 'object')
    throw new InvalidArgumentError({ functionName: fn, argument: 'options', message: 'expected { model, labels }' });
  const labelSet = resolveLabels(options.labels, fn);
  const names = labelSet.names;
  const prompts = classifierPromptSpec(names, options.prompts, fn);
  const scale = options.logitScale;
  const zsOptions: ZeroShotOptions = {
    model: parts.model,
    classNames: names,
    prompts,
    ...(options.projection ? { projection: options.projection } : {}),
    ...(options.ensemble !== undefined ? { ensemble: options.ensemble } : {}),
    ...(scale !== undefined ? { logitScale: scale === 'model' ? (parts.model.logitScale ?? 100) : scale } : {}),
  };
  let zs: Awaited<ReturnType<typeof buildZeroShotClassifier>> | undefined = await buildZeroShotClassifier(zsOptions);
  const live = (what: string) => {
    if (!zs)
      throw new VlferError(
        `${fn}: ${what} was called after dispose(); build a new classifier with ${fn}(…) to classify again`,
      );
    return zs;
  };
  const classifier = async (images: readonly Image[], callOptions?: { signal?: AbortSignal }) => {
    const z = live('the classifier');
    if (!Array.isArray(images))
      throw new InvalidArgumentError({ functionName: fn, argument: 'images', message: 'expected an array of images' });
    if (images.length === 0) return [];
    const features = await parts.encodeImages(images, callOptions?.signal);
    const logits = await z.classify(features);
    return labelScores(logits, names).map((row) =>
      row.map(({ label, score }) => ({ label, index: names.indexOf(label), score })),
    );
  };
  return Object.defineProperties(classifier, {
    labels: { value: names, enumerable: true },
    labelSet: { value: labelSet, enumerable: true },
    promptsPerClass: { value: zs.promptsPerClass, enumerable: true },
    disposed: { get: () => zs === undefined, enumerable: true },
    logits: { value: (features: Tensor2D) => live('logits()').classify(features) },
    dispose: {
      value: async () => {
        if (!zs) return;
        zs = undefined;
        await parts.release?.();
      },
    },
  }) as unknown as ImageClassifier<Image>;
}
