import {
  AutoTokenizer,
  CLIPTextModelWithProjection,
  CLIPVisionModelWithProjection,
  Tensor as HfTensor,
  type PreTrainedModel,
  type PreTrainedTokenizer,
} from '@huggingface/transformers';
import { assertShape, VlferError, type Tensor2D, type Tensor4D } from '@vlfer/core';

/**
 * CLIP towers on transformers.js, shared by Node (`loadClip` of an ONNX directory or Hub id, on onnxruntime-node)
 * and the browser (`loadWebClip`, on onnxruntime-web): `@huggingface/transformers` resolves to its Node or web build.
 */
export interface TransformersClipTowers {
  tokenizer: PreTrainedTokenizer | undefined;
  text: PreTrainedModel | undefined;
  vision: PreTrainedModel | undefined;
}

/** Load the tokenizer and towers named in `towers`; `wrap` turns a failure into an error naming the part and model. */
export async function loadTransformersTowers(
  source: string,
  hfOptions: Record<string, unknown>,
  towers: ReadonlySet<'vision' | 'text'>,
  wrap: <T>(what: string, f: () => Promise<T>) => Promise<T>,
): Promise<TransformersClipTowers> {
  const tokenizer = towers.has('text')
    ? await wrap('the tokenizer', () => AutoTokenizer.from_pretrained(source, hfOptions))
    : undefined;
  const text = towers.has('text')
    ? await wrap('the text tower', () => CLIPTextModelWithProjection.from_pretrained(source, hfOptions))
    : undefined;
  const vision = towers.has('vision')
    ? await wrap('the vision tower', () => CLIPVisionModelWithProjection.from_pretrained(source, hfOptions))
    : undefined;
  return { tokenizer, text, vision };
}

/** CLIP tokenisation: ids padded with <|endoftext|> to 77 and truncated. @returns the encoding, ids [texts · 77], dims */
export function tokenizeWith(tokenizer: PreTrainedTokenizer, texts: readonly string[]) {
  const enc = tokenizer([...texts], { padding: 'max_length', max_length: 77, truncation: true }) as {
    input_ids: HfTensor;
    attention_mask: HfTensor;
  };
  return {
    enc,
    ids: Array.from(enc.input_ids.data as BigInt64Array, Number),
    dims: enc.input_ids.dims as [number, number],
  };
}

/** The encoders of loaded towers: what `ClipModel` and `WebClipModel` share. */
export function transformersEncoders(towers: TransformersClipTowers, embeddingDim: number, cropSize: number) {
  const { tokenizer, text, vision } = towers;
  const tokenize = (texts: readonly string[]) => {
    if (!tokenizer) throw new VlferError('This CLIP model was loaded without the text tower');
    return tokenizeWith(tokenizer, texts);
  };
  return {
    /** @param pixels [batch, 3, crop, crop] @returns image_embeds [batch, D] (not normalised) */
    async encodePixels(pixels: Tensor4D): Promise<Tensor2D> {
      if (!vision) throw new VlferError('This CLIP model was loaded without the vision tower');
      assertShape(pixels, [null, 3, cropSize, cropSize], 'pixels', 'ClipModel.encodePixels');
      const out = await vision({ pixel_values: new HfTensor('float32', pixels.data, [...pixels.dims]) });
      const e = out.image_embeds as HfTensor;
      return { dtype: 'float32', data: e.data as Float32Array, dims: [pixels.dims[0], embeddingDim] };
    },
    /** @returns text_embeds [texts, D] (not normalised) */
    async encodeTexts(texts: readonly string[]): Promise<Tensor2D> {
      if (!text) throw new VlferError('This CLIP model was loaded without the text tower');
      if (texts.length === 0) return { dtype: 'float32', data: new Float32Array(0), dims: [0, embeddingDim] };
      const { enc } = tokenize(texts);
      const out = await text({ input_ids: enc.input_ids, attention_mask: enc.attention_mask });
      const e = out.text_embeds as HfTensor;
      return { dtype: 'float32', data: Float32Array.from(e.data as Float32Array), dims: [texts.length, embeddingDim] };
    },
    /** CLIP token ids, padded with <|endoftext|> to 77. @returns ids [texts · 77] and dims */
    tokenize(texts: readonly string[]): { ids: number[]; dims: [number, number] } {
      const { ids, dims } = tokenize(texts);
      return { ids, dims };
    },
    /** The onnxruntime session of a tower. */
    session(tower: 'vision' | 'text'): unknown {
      const m = tower === 'vision' ? vision : text;
      if (!m) throw new VlferError(`This CLIP model was loaded without the ${tower} tower`);
      return (m as unknown as { sessions: { model: unknown } }).sessions.model;
    },
    async dispose(): Promise<void> {
      await Promise.all([vision?.dispose(), text?.dispose()]);
    },
  };
}
