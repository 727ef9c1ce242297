import {
  AutoTokenizer,
  CLIPTextModelWithProjection,
  CLIPVisionModelWithProjection,
  Tensor as HfTensor,
  type PreTrainedModel,
  type PreTrainedTokenizer,
} from '@huggingface/transformers';
import { assertShape, VlferError, type Tensor2D, type Tensor4D } from '@vlfer/core';
import { clipBasicClean, fitClipContext, truncationNotices } from './clip-tokens.js';

/**
 * CLIP towers on transformers.js, shared by Node (`loadClip` of an ONNX directory or Hub id, on onnxruntime-node)
 * and the browser (`loadWebClip`, on onnxruntime-web): `@huggingface/transformers` resolves to its Node or web build.
 */
export interface TransformersClipTowers {
  tokenizer: PreTrainedTokenizer | undefined;
  text: PreTrainedModel | undefined;
  vision: PreTrainedModel | undefined;
}

/**
 * Load the tokenizer and towers named in `towers`; `wrap` turns a failure into an error naming the part and model.
 * `loadTokenizer`, when given, loads the tokenizer from elsewhere (a model directory without tokenizer.json).
 */
export async function loadTransformersTowers(
  source: string,
  hfOptions: Record<string, unknown>,
  towers: ReadonlySet<'vision' | 'text'>,
  wrap: <T>(what: string, f: () => Promise<T>) => Promise<T>,
  loadTokenizer: () => Promise<PreTrainedTokenizer> = () => AutoTokenizer.from_pretrained(source, hfOptions),
): Promise<TransformersClipTowers> {
  const tokenizer = towers.has('text') ? await wrap('the tokenizer', loadTokenizer) : undefined;
  const text = towers.has('text')
    ? await wrap('the text tower', () => CLIPTextModelWithProjection.from_pretrained(source, hfOptions))
    : undefined;
  const vision = towers.has('vision')
    ? await wrap('the vision tower', () => CLIPVisionModelWithProjection.from_pretrained(source, hfOptions))
    : undefined;
  return { tokenizer, text, vision };
}

/**
 * CLIP tokenisation as `clip.tokenize(texts, truncate=True)`: the text cleaned as it cleans it (`clipBasicClean`), then
 * start + BPE tokens + end, a prompt longer than 77
 * tokens cut to 77 with the end token kept last (`fitClipContext`), padded with the tokenizer's pad token (the
 * end token for CLIP). Each truncated prompt is reported through `log`.
 * @returns the model inputs (`input_ids`, `attention_mask` [texts, 77], int64), ids [texts · 77], dims and the
 *   indices of truncated texts
 * @throws VlferError when the tokenizer has no end/pad token or does not end its encodings with the end token
 */
export function tokenizeWith(
  tokenizer: PreTrainedTokenizer,
  texts: readonly string[],
  log?: (line: string) => void,
): {
  enc: { input_ids: HfTensor; attention_mask: HfTensor };
  ids: number[];
  dims: [number, number];
  truncated: number[];
} {
  const eot = tokenizer.eos_token_id;
  const pad = tokenizer.pad_token_id ?? eot;
  if (!Number.isInteger(eot) || !Number.isInteger(pad))
    throw new VlferError(
      `The tokenizer has no end-of-text token id (eos_token_id ${String(eot)}, pad_token_id ${String(pad)}); a CLIP tokenizer.json + tokenizer_config.json is expected`,
    );
  let rows;
  try {
    rows = fitClipContext(
      texts.map((t) => tokenizer.encode(clipBasicClean(t))),
      { eot, pad },
    );
  } catch (error) {
    throw new VlferError(`The tokenizer is not a CLIP tokenizer: ${(error as Error).message}`, { cause: error });
  }
  for (const line of truncationNotices(texts, rows)) log?.(line);
  const [n, C] = rows.dims;
  const mask = new BigInt64Array(n * C);
  rows.lengths.forEach((len, r) => mask.fill(1n, r * C, r * C + len));
  return {
    enc: {
      input_ids: new HfTensor('int64', BigInt64Array.from(rows.ids, BigInt), [n, C]),
      attention_mask: new HfTensor('int64', mask, [n, C]),
    },
    ids: rows.ids,
    dims: rows.dims,
    truncated: rows.truncated,
  };
}

/** What a tower graph declares of one input or output (ONNX Runtime's `ValueMetadata`; dims may be symbolic). */
interface GraphValue {
  name: string;
  shape?: readonly (number | string)[];
}

/** The ONNX Runtime session of a tower transformers.js loaded (its `sessions.model`), undefined without one. */
export function towerSession(m: PreTrainedModel | undefined): Record<string, unknown> | undefined {
  return (m as unknown as { sessions?: { model?: Record<string, unknown> } } | undefined)?.sessions?.model;
}

/**
 * Run `check` (the load checks of loaded towers, or the rest of the load) and return what it returns; when it throws,
 * release the towers' sessions before the error goes on (a refused model keeps no session).
 */
export async function checkTowersOrRelease<T>(towers: TransformersClipTowers, check: () => T | Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    await Promise.all([towers.vision?.dispose(), towers.text?.dispose()]);
    throw error;
  }
}

/** The declared inputs and outputs of a loaded tower's ONNX Runtime session (empty where the runtime gives none). */
function towerGraph(m: PreTrainedModel | undefined): { inputs: GraphValue[]; outputs: GraphValue[] } {
  const s = towerSession(m);
  const list = (v: unknown) => (Array.isArray(v) ? (v as GraphValue[]) : []);
  return { inputs: list(s?.inputMetadata), outputs: list(s?.outputMetadata) };
}

/**
 * Check the loaded tower graphs against what the model's config says and what vlfer feeds them, before any encode:
 * `image_embeds` / `text_embeds` [batch, D] with D = `projection_dim`, `pixel_values` [batch, 3, crop, crop] with the
 * preprocessor's crop, and a text tower that takes CLIP's 77 tokens. A graph whose output width differed from
 * config.json's `projection_dim` gave rows that mixed images (the data read with the config's width), and cached them.
 * Dims the graph leaves symbolic are not checked here (`transformersEncoders` checks each output).
 * @param source the model directory or id, named in the error
 * @throws VlferError naming config.json or preprocessor_config.json, the graph and both values
 */
export function checkTowerGraphs(
  towers: TransformersClipTowers,
  expected: { embeddingDim: number; cropSize: number; config: Record<string, any>; source: string },
): void {
  const { embeddingDim, cropSize, config, source } = expected;
  const fixed = (v: GraphValue | undefined, axis: number) => {
    const d = v?.shape?.[axis];
    return typeof d === 'number' && d > 0 ? d : undefined;
  };
  for (const [tower, output] of [
    ['vision', 'image_embeds'],
    ['text', 'text_embeds'],
  ] as const) {
    const graph = towerGraph(towers[tower]);
    const width = fixed(
      graph.outputs.find((o) => o.name === output),
      1,
    );
    if (width !== undefined && width !== embeddingDim)
      throw new VlferError(
        `The ${tower} tower of '${source}' gives ${output} of width ${width}, but its config.json says projection_dim ${embeddingDim}: the graph and config.json come from different models`,
      );
    if (tower === 'vision') {
      const pixels = graph.inputs.find((i) => i.name === 'pixel_values');
      for (const axis of [2, 3]) {
        const size = fixed(pixels, axis);
        if (size !== undefined && size !== cropSize)
          throw new VlferError(
            `The vision tower of '${source}' takes ${size}-pixel images, but its preprocessor_config.json crops to ${cropSize}: the graph and preprocessor_config.json come from different models`,
          );
      }
    }
  }
  const positions = config?.text_config?.max_position_embeddings;
  if (towers.text && typeof positions === 'number' && positions < CLIP_CONTEXT)
    throw new VlferError(
      `The text tower of '${source}' has ${positions} positions (config.json text_config.max_position_embeddings), but vlfer tokenizes prompts to CLIP's ${CLIP_CONTEXT} tokens`,
    );
}

/** CLIP's text context: the tokens every prompt is padded or cut to. */
const CLIP_CONTEXT = 77;

/**
 * A tower's output, checked to be [rows, D]: rows of another width, read as [rows, D], would mix items (a graph whose
 * dims are symbolic is not checked at load by `checkTowerGraphs`). @throws VlferError naming both shapes
 */
function checkedEmbeds(e: HfTensor, [rows, d]: [number, number], name: string): HfTensor {
  if (e.dims.length !== 2 || e.dims[0] !== rows || e.dims[1] !== d)
    throw new VlferError(
      `The CLIP graph gave ${name} of shape [${e.dims.join(', ')}], expected [${rows}, ${d}] (config.json's projection_dim ${d}): the graph and config.json come from different models`,
    );
  return e;
}

/** The error message of a CLIP model used after `dispose()`. */
export function disposedMessage(method: string): string {
  return `ClipModel.${method}: this CLIP model was disposed (dispose() was called); load it again to use it`;
}

/** The encoders of loaded towers: what `ClipModel` and `WebClipModel` share. */
export function transformersEncoders(
  towers: TransformersClipTowers,
  embeddingDim: number,
  cropSize: number,
  log?: (line: string) => void,
) {
  const { tokenizer, text, vision } = towers;
  let disposed = false;
  // ONNX Runtime's "Session already disposed" comes after transformers.js has logged every input tensor: refuse first
  const live = (what: string) => {
    if (disposed) throw new VlferError(disposedMessage(what));
  };
  const tokenize = (texts: readonly string[]) => {
    if (!tokenizer) throw new VlferError('This CLIP model was loaded without the text tower');
    return tokenizeWith(tokenizer, texts, log);
  };
  return {
    /** @param pixels [batch, 3, crop, crop] @returns image_embeds [batch, D] (not normalised) */
    async encodePixels(pixels: Tensor4D): Promise<Tensor2D> {
      live('encodePixels');
      if (!vision) throw new VlferError('This CLIP model was loaded without the vision tower');
      assertShape(pixels, [null, 3, cropSize, cropSize], 'pixels', 'ClipModel.encodePixels');
      const out = await vision({ pixel_values: new HfTensor('float32', pixels.data, [...pixels.dims]) });
      const e = checkedEmbeds(out.image_embeds as HfTensor, [pixels.dims[0], embeddingDim], 'image_embeds');
      return { dtype: 'float32', data: e.data as Float32Array, dims: [pixels.dims[0], embeddingDim] };
    },
    /** @returns text_embeds [texts, D] (not normalised) */
    async encodeTexts(texts: readonly string[]): Promise<Tensor2D> {
      live('encodeTexts');
      if (!text) throw new VlferError('This CLIP model was loaded without the text tower');
      if (texts.length === 0) return { dtype: 'float32', data: new Float32Array(0), dims: [0, embeddingDim] };
      const { enc } = tokenize(texts);
      const out = await text({ input_ids: enc.input_ids, attention_mask: enc.attention_mask });
      const e = checkedEmbeds(out.text_embeds as HfTensor, [texts.length, embeddingDim], 'text_embeds');
      return { dtype: 'float32', data: Float32Array.from(e.data as Float32Array), dims: [texts.length, embeddingDim] };
    },
    /**
     * CLIP token ids as `clip.tokenize(truncate=True)`, padded with <|endoftext|> to 77.
     * @returns ids [texts · 77], dims, and the indices of texts truncated to 77 tokens
     */
    tokenize(texts: readonly string[]): { ids: number[]; dims: [number, number]; truncated: number[] } {
      const { ids, dims, truncated } = tokenize(texts);
      return { ids, dims, truncated };
    },
    /** The onnxruntime session of a tower. */
    session(tower: 'vision' | 'text'): unknown {
      live('session');
      const m = tower === 'vision' ? vision : text;
      if (!m) throw new VlferError(`This CLIP model was loaded without the ${tower} tower`);
      return towerSession(m);
    },
    /** Release both sessions; later calls of the encoders throw one `VlferError`. Calling it twice is a no-op. */
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      await Promise.all([vision?.dispose(), text?.dispose()]);
    },
  };
}

/**
 * CLIP's projection dimension D from a `config.json` (`projection_dim`, else `vision_config.projection_dim`).
 * @throws VlferError naming `model` when neither is a positive integer
 */
export function clipProjectionDim(config: Record<string, any>, model: string): number {
  const embeddingDim = Number(config.projection_dim ?? config.vision_config?.projection_dim);
  if (!Number.isInteger(embeddingDim) || embeddingDim <= 0)
    throw new VlferError(`config.json of '${model}' has no projection_dim`);
  return embeddingDim;
}
