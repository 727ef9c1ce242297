import { assertShape, InvalidArgumentError, l2NormalizeRows, meanOfRowGroups, type FeatureProjection, type LabelSet, type Tensor2D } from '@vlfer/core';
import { classPrompts, type PromptType } from '@vlfer/llm-knowledge';
import type { ClipModel } from './clip.js';

export interface ZeroShotOptions {
  model: Pick<ClipModel, 'encodeTexts' | 'embeddingDim'>;
  labelSet: LabelSet;
  promptType: PromptType;
  /** Applied to image and text features before normalisation (Exp-CLIP head). @default identity (plain CLIP) */
  projection?: FeatureProjection;
  /**
   * `'logits'` (Exp-CLIP): cosine logits against every prompt, averaged over each class's prompts.
   * `'embeddings'` (CLIP paper): mean of each class's normalised prompt embeddings, renormalised.
   * @default 'logits'
   */
  ensemble?: 'logits' | 'embeddings';
  /** Multiplier of the cosine similarities. @default 100 (CLIP's frozen logit_scale.exp()) */
  logitScale?: number;
}

export interface ZeroShotClassifier {
  readonly labelSet: LabelSet;
  readonly promptType: PromptType;
  readonly promptsPerClass: number;
  readonly ensemble: 'logits' | 'embeddings';
  /** Normalised text features: [classes · prompts, E] for 'logits', [classes, E] for 'embeddings'. */
  readonly textFeatures: Tensor2D;
  /** @param imageFeatures [images, D] raw CLIP image_embeds @returns logits [images, classes] */
  classify(imageFeatures: Tensor2D): Promise<Tensor2D>;
  /**
   * Video: each frame feature projected, averaged over the clip's frames, then normalised.
   * @param frameFeatures [clips · framesPerClip, D], frames of a clip consecutive
   * @returns logits [clips, classes]
   */
  classifyClips(frameFeatures: Tensor2D, framesPerClip: number): Promise<Tensor2D>;
}

async function project(x: Tensor2D, projection: FeatureProjection | undefined, fn: string): Promise<Tensor2D> {
  if (!projection) return x;
  if (x.dims[1] !== projection.inputDim) throw new InvalidArgumentError({ functionName: fn, argument: 'projection', message: `expects ${projection.inputDim}-d features, got ${x.dims[1]}-d` });
  const y = await projection.project(x);
  assertShape(y, [x.dims[0], projection.outputDim], 'projection output', fn);
  return y;
}

/** logits[i, j] = scale · Σ_k a[i, k] b[j, k]. @param a [n, E] @param b [m, E] @returns [n, m] */
function scaledDots(a: Tensor2D, b: Tensor2D, scale: number): Tensor2D {
  const [n, e] = a.dims;
  const m = b.dims[0];
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    const ai = a.data.subarray(i * e, (i + 1) * e);
    for (let j = 0; j < m; j++) {
      const bj = b.data.subarray(j * e, (j + 1) * e);
      let s = 0;
      for (let k = 0; k < e; k++) s += ai[k]! * bj[k]!;
      out[i * m + j] = scale * s;
    }
  }
  return { dtype: 'float32', data: out, dims: [n, m] };
}

/**
 * Build a zero-shot classifier from class prompts (Exp-CLIP `ExpCLIP_Test`): text features are encoded once,
 * projected, normalised; prompts are class-major so logits `view(n, C, P).mean(-1)`.
 */
export async function buildZeroShotClassifier(options: ZeroShotOptions): Promise<ZeroShotClassifier> {
  const { model, labelSet, promptType, projection } = options;
  const ensemble = options.ensemble ?? 'logits';
  const scale = options.logitScale ?? 100;
  if (projection && projection.inputDim !== model.embeddingDim) {
    throw new InvalidArgumentError({ functionName: 'buildZeroShotClassifier', argument: 'projection', message: `input dim ${projection.inputDim} does not match the encoder's ${model.embeddingDim}` });
  }
  const prompts = classPrompts(promptType, labelSet);
  const raw = await model.encodeTexts(prompts.texts);
  let text = l2NormalizeRows(await project(raw, projection, 'buildZeroShotClassifier'));
  if (ensemble === 'embeddings') text = l2NormalizeRows(meanOfRowGroups(text, prompts.promptsPerClass));
  const per = prompts.promptsPerClass;
  const toClasses = (logits: Tensor2D) => (ensemble === 'logits' && per > 1 ? meanOfRowGroupsCols(logits, per) : logits);
  return {
    labelSet,
    promptType,
    promptsPerClass: per,
    ensemble,
    textFeatures: text,
    async classify(imageFeatures) {
      assertShape(imageFeatures, [null, model.embeddingDim], 'imageFeatures', 'ZeroShotClassifier.classify');
      const img = l2NormalizeRows(await project(imageFeatures, projection, 'ZeroShotClassifier.classify'));
      return toClasses(scaledDots(img, text, scale));
    },
    async classifyClips(frameFeatures, framesPerClip) {
      assertShape(frameFeatures, [null, model.embeddingDim], 'frameFeatures', 'ZeroShotClassifier.classifyClips');
      const projected = await project(frameFeatures, projection, 'ZeroShotClassifier.classifyClips');
      const clips = l2NormalizeRows(meanOfRowGroups(projected, framesPerClip));
      return toClasses(scaledDots(clips, text, scale));
    },
  };
}

/** Mean over groups of `size` consecutive columns: [n, C·P] → [n, C]. */
function meanOfRowGroupsCols(x: Tensor2D, size: number): Tensor2D {
  const [n, cp] = x.dims;
  const c = cp / size;
  const out = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let p = 0; p < size; p++) s += x.data[i * cp + k * size + p]!;
      out[i * c + k] = s / size;
    }
  }
  return { dtype: 'float32', data: out, dims: [n, c] };
}
