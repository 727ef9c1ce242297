import { DataFormatError, describeValue, type TorchTensor } from '@vlfer/core';
import type { ClipTowerArch, ClipWeights } from './clip-graphs.js';

/** Both towers of a CLIP model. */
export interface ClipArch {
  text: ClipTowerArch;
  vision: ClipTowerArch;
}

/** Architecture of both towers from a Hugging Face CLIP `config.json` (quick_gelu towers, i.e. OpenAI CLIP). */
export function clipArchFromConfig(config: Record<string, any>, file = 'config.json'): ClipArch {
  const tc = config?.text_config;
  const vc = config?.vision_config;
  if (!tc || !vc)
    throw new DataFormatError({ file, message: 'expected text_config and vision_config (a CLIPModel config)' });
  if ((tc.hidden_act ?? 'quick_gelu') !== 'quick_gelu' || (vc.hidden_act ?? 'quick_gelu') !== 'quick_gelu')
    throw new DataFormatError({
      file,
      field: 'hidden_act',
      message: 'only quick_gelu CLIP towers are supported (OpenAI CLIP)',
    });
  const proj = config.projection_dim ?? tc.projection_dim;
  const int = (v: unknown, field: string) => {
    if (!Number.isInteger(v) || (v as number) <= 0)
      throw new DataFormatError({ file, field, message: `expected a positive integer, got ${describeValue(v)}` });
    return v as number;
  };
  // LayerNorm divides by sqrt(var + eps): 0 or less gave NaN or Inf features for a constant row, a string NaN everywhere
  const eps = (v: unknown, field: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new DataFormatError({ file, field, message: `expected a positive number, got ${describeValue(v)}` });
    return v;
  };
  const arch = (c: Record<string, any>, t: string) => ({
    hiddenSize: int(c.hidden_size, `${t}.hidden_size`),
    numLayers: int(c.num_hidden_layers, `${t}.num_hidden_layers`),
    numHeads: int(c.num_attention_heads, `${t}.num_attention_heads`),
    intermediateSize: int(c.intermediate_size, `${t}.intermediate_size`),
    projectionDim: int(proj, 'projection_dim'),
    layerNormEps: eps(c.layer_norm_eps ?? 1e-5, `${t}.layer_norm_eps`),
  });
  const text = {
    ...arch(tc, 'text_config'),
    maxPositions: int(tc.max_position_embeddings ?? 77, 'text_config.max_position_embeddings'),
  };
  const vision = {
    ...arch(vc, 'vision_config'),
    patchSize: int(vc.patch_size, 'vision_config.patch_size'),
    imageSize: int(vc.image_size, 'vision_config.image_size'),
  };
  for (const [t, a] of [
    ['text_config', text],
    ['vision_config', vision],
  ] as const)
    if (a.hiddenSize % a.numHeads !== 0)
      throw new DataFormatError({
        file,
        field: `${t}.num_attention_heads`,
        message: `${a.numHeads} heads do not divide hidden_size ${a.hiddenSize}`,
      });
  if (vision.imageSize % vision.patchSize !== 0)
    throw new DataFormatError({
      file,
      field: 'vision_config.patch_size',
      message: `patch ${vision.patchSize} does not divide image_size ${vision.imageSize}`,
    });
  return { text, vision };
}

/**
 * Refuse Hugging Face CLIP weights that hold encoder layers beyond `config.json`'s `num_hidden_layers`: the graphs
 * read only the layers the config names, so the extra ones were left unused and the features were a shallower model's
 * (a config with more layers than the weights is refused as a missing weight). @param keys the weights' tensor names
 * @throws DataFormatError naming config.json's field, its count and the weights file's
 */
export function checkLayerCounts(
  keys: Iterable<string>,
  arch: ClipArch,
  configFile: string,
  weightsFile: string,
): void {
  const names = [...keys];
  for (const [prefix, tower, field] of [
    ['text_model.encoder.layers.', arch.text, 'text_config'],
    ['vision_model.encoder.layers.', arch.vision, 'vision_config'],
  ] as const) {
    let held = 0;
    for (const k of names)
      if (k.startsWith(prefix)) held = Math.max(held, Number.parseInt(k.slice(prefix.length), 10) + 1);
    if (held > tower.numLayers)
      throw new DataFormatError({
        file: configFile,
        field: `${field}.num_hidden_layers`,
        message: `is ${tower.numLayers}, but ${weightsFile} holds ${held} layers (${prefix}0 … ${prefix}${held - 1}): the config and the weights come from different models`,
      });
  }
}

/**
 * Map an OpenAI `clip` checkpoint (state dict or TorchScript archive, e.g. `ViT-B-32.pt`) to the Hugging Face
 * `CLIPModel` key names and layout the graph builders use, and infer the architecture as OpenAI's `build_model`
 * does: widths, patch size and layer counts from the shapes; heads = width / 64 unless `numHeads` says otherwise
 * (OpenAI's rule; a non-standard checkpoint passes its head counts); MLP width from `c_fc`.
 * Attention `in_proj` is split into q/k/v; `visual.proj` and `text_projection` are transposed.
 * @throws DataFormatError naming the file and the missing key (ResNet backbones are refused by name)
 */
export function openaiClipToHf(
  tensors: Readonly<Record<string, TorchTensor>>,
  options: { file: string; numHeads?: { text?: number; vision?: number } },
): { weights: ClipWeights; arch: ClipArch; logitScale: number | undefined } {
  const ckpt = new OpenaiCheckpoint(tensors, options.file);
  const arch = inferOpenaiArch(ckpt, options.numHeads);
  const weights = mapOpenaiWeights(ckpt, arch);
  const ls = tensors[`${ckpt.prefix}logit_scale`];
  return { weights, arch, logitScale: ls && ls.data.length === 1 ? Math.exp(ls.data[0]!) : undefined };
}

/** The tensors of an OpenAI checkpoint under their names without a wrapper's prefix, read with errors naming them. */
class OpenaiCheckpoint {
  /** What precedes `visual.` in the keys (e.g. `'module.'` for a state dict saved from a wrapping module). */
  readonly prefix: string;

  constructor(
    private readonly tensors: Readonly<Record<string, TorchTensor>>,
    readonly file: string,
  ) {
    // a ResNet CLIP has a visual.conv1 too (its stem), beside visual.layer1… and visual.attnpool
    if (Object.keys(tensors).some((k) => k.includes('visual.layer1.') || k.includes('visual.attnpool.')))
      throw new DataFormatError({
        file,
        message:
          'a ResNet CLIP (RN50/RN101/RN50x*) checkpoint; only ViT backbones (ViT-B/32, ViT-B/16, ViT-L/14) are supported',
      });
    const prefix = Object.keys(tensors)
      .find((k) => k.endsWith('visual.conv1.weight'))
      ?.slice(0, -'visual.conv1.weight'.length);
    if (prefix === undefined) {
      throw new DataFormatError({
        file,
        field: 'visual.conv1.weight',
        message: 'not an OpenAI CLIP ViT checkpoint (no visual.conv1.weight)',
      });
    }
    this.prefix = prefix;
  }

  /** @throws DataFormatError naming the key when it is missing */
  get(k: string): TorchTensor {
    const t = this.tensors[this.prefix + k];
    if (!t)
      throw new DataFormatError({ file: this.file, field: k, message: 'missing from the OpenAI CLIP checkpoint' });
    return t;
  }

  /** The dims of `k`. @throws DataFormatError naming the key when it has not `rank` dimensions */
  shape(k: string, rank: number): readonly number[] {
    const t = this.get(k);
    if (t.dims.length !== rank)
      throw new DataFormatError({
        file: this.file,
        field: k,
        message: `expected ${rank} dimensions, got [${t.dims.join(', ')}]`,
      });
    return t.dims;
  }

  /** How many residual blocks `p.0`, `p.1`, … have attention weights. */
  count(p: string): number {
    let n = 0;
    while (this.tensors[`${this.prefix}${p}.${n}.attn.in_proj_weight`]) n++;
    return n;
  }
}

/**
 * The architecture of an OpenAI checkpoint as OpenAI's `build_model` infers it: widths, patch size, grid and layer
 * counts from the shapes, heads = width / 64 unless `numHeads` says otherwise, MLP width from `c_fc`, eps 1e-5.
 * @throws DataFormatError naming the file (and the field) when a shape does not fit or no head count can be inferred
 */
function inferOpenaiArch(ckpt: OpenaiCheckpoint, numHeads: { text?: number; vision?: number } | undefined): ClipArch {
  const { file } = ckpt;
  const [vWidth, , patch] = ckpt.shape('visual.conv1.weight', 4) as [number, number, number, number];
  const gridSq = ckpt.shape('visual.positional_embedding', 2)[0]! - 1;
  const grid = Math.round(Math.sqrt(gridSq));
  if (grid * grid !== gridSq)
    throw new DataFormatError({
      file,
      field: 'visual.positional_embedding',
      message: `${gridSq + 1} positions is not a square grid + 1`,
    });
  const embed = ckpt.shape('text_projection', 2)[1]!;
  const tWidth = ckpt.shape('ln_final.weight', 1)[0]!;
  const vLayers = ckpt.count('visual.transformer.resblocks');
  const tLayers = ckpt.count('transformer.resblocks');
  if (vLayers === 0 || tLayers === 0)
    throw new DataFormatError({
      file,
      field: 'transformer.resblocks.0.attn.in_proj_weight',
      message: 'no transformer blocks found',
    });
  const heads = (width: number, given: number | undefined, tower: string) => {
    const h = given ?? width / 64;
    if (!Number.isInteger(h) || h <= 0 || width % h !== 0)
      throw new DataFormatError({
        file,
        message: `cannot infer the ${tower} head count: width ${width} is not a multiple of 64 (OpenAI's rule); pass numHeads.${tower}`,
      });
    return h;
  };
  return {
    vision: {
      hiddenSize: vWidth,
      numLayers: vLayers,
      numHeads: heads(vWidth, numHeads?.vision, 'vision'),
      intermediateSize: ckpt.shape('visual.transformer.resblocks.0.mlp.c_fc.weight', 2)[0]!,
      projectionDim: embed,
      layerNormEps: 1e-5,
      patchSize: patch,
      imageSize: patch * grid,
    },
    text: {
      hiddenSize: tWidth,
      numLayers: tLayers,
      numHeads: heads(tWidth, numHeads?.text, 'text'),
      intermediateSize: ckpt.shape('transformer.resblocks.0.mlp.c_fc.weight', 2)[0]!,
      projectionDim: embed,
      layerNormEps: 1e-5,
      maxPositions: ckpt.shape('positional_embedding', 2)[0]!,
    },
  };
}

/** OpenAI's key → Hugging Face's, for the tensors copied as they are (outside the residual blocks). */
const OPENAI_TO_HF: readonly (readonly [string, string])[] = [
  ['visual.conv1.weight', 'vision_model.embeddings.patch_embedding.weight'],
  ['visual.class_embedding', 'vision_model.embeddings.class_embedding'],
  ['visual.positional_embedding', 'vision_model.embeddings.position_embedding.weight'],
  ['visual.ln_pre.weight', 'vision_model.pre_layrnorm.weight'],
  ['visual.ln_pre.bias', 'vision_model.pre_layrnorm.bias'],
  ['visual.ln_post.weight', 'vision_model.post_layernorm.weight'],
  ['visual.ln_post.bias', 'vision_model.post_layernorm.bias'],
  ['ln_final.weight', 'text_model.final_layer_norm.weight'],
  ['ln_final.bias', 'text_model.final_layer_norm.bias'],
];

/** Within a residual block: OpenAI's module → Hugging Face's (weight and bias each). */
const OPENAI_BLOCK_TO_HF: readonly (readonly [string, string])[] = [
  ['attn.out_proj', 'self_attn.out_proj'],
  ['ln_1', 'layer_norm1'],
  ['ln_2', 'layer_norm2'],
  ['mlp.c_fc', 'mlp.fc1'],
  ['mlp.c_proj', 'mlp.fc2'],
];

/**
 * The checkpoint's tensors under Hugging Face `CLIPModel` names: the tables above, each block's `in_proj` split
 * into q/k/v, `visual.proj` and `text_projection` transposed ([in, out] → [out, in]).
 */
function mapOpenaiWeights(ckpt: OpenaiCheckpoint, arch: ClipArch): ClipWeights {
  const w: ClipWeights = {};
  const put = (hf: string, t: TorchTensor) => {
    w[hf] = { dims: [...t.dims], data: t.data };
  };
  // the original order of keys: embeddings, layer norms, vision blocks, text blocks, projections, text embeddings
  for (const [a, b] of OPENAI_TO_HF) put(b, ckpt.get(a));
  const towers = [
    ['visual.transformer.resblocks', 'vision_model.encoder.layers', arch.vision],
    ['transformer.resblocks', 'text_model.encoder.layers', arch.text],
  ] as const;
  for (const [src, dst, tower] of towers)
    for (let i = 0; i < tower.numLayers; i++) mapOpenaiBlock(ckpt, `${src}.${i}`, `${dst}.${i}`, tower.hiddenSize, put);
  put('visual_projection.weight', transpose2d(ckpt.get('visual.proj')));
  put('text_projection.weight', transpose2d(ckpt.get('text_projection')));
  put('text_model.embeddings.token_embedding.weight', ckpt.get('token_embedding.weight'));
  put('text_model.embeddings.position_embedding.weight', ckpt.get('positional_embedding'));
  return w;
}

/**
 * One residual block `s` → `d`: `attn.in_proj_{weight,bias}` [3·width, width] split into q, k, v, the other modules
 * by `OPENAI_BLOCK_TO_HF`. @throws DataFormatError naming in_proj_weight when its shape is not [3·width, width]
 */
function mapOpenaiBlock(
  ckpt: OpenaiCheckpoint,
  s: string,
  d: string,
  width: number,
  put: (hf: string, t: TorchTensor) => void,
): void {
  const inW = ckpt.get(`${s}.attn.in_proj_weight`),
    inB = ckpt.get(`${s}.attn.in_proj_bias`);
  if (inW.dims[0] !== 3 * width || inW.dims[1] !== width)
    throw new DataFormatError({
      file: ckpt.file,
      field: `${s}.attn.in_proj_weight`,
      message: `expected [${3 * width}, ${width}], got [${inW.dims.join(', ')}]`,
    });
  ['q', 'k', 'v'].forEach((n2, k) => {
    put(`${d}.self_attn.${n2}_proj.weight`, {
      dims: [width, width],
      data: inW.data.slice(k * width * width, (k + 1) * width * width),
    });
    put(`${d}.self_attn.${n2}_proj.bias`, { dims: [width], data: inB.data.slice(k * width, (k + 1) * width) });
  });
  for (const [a, b] of OPENAI_BLOCK_TO_HF) {
    put(`${d}.${b}.weight`, ckpt.get(`${s}.${a}.weight`));
    put(`${d}.${b}.bias`, ckpt.get(`${s}.${a}.bias`));
  }
}

/** A [rows, cols] matrix transposed to [cols, rows]. */
function transpose2d(t: TorchTensor): TorchTensor {
  const [r, c] = t.dims as [number, number];
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]!;
  return { dims: [c, r], data: out };
}
