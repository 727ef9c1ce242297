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
  const arch = (c: Record<string, any>, t: string) => ({
    hiddenSize: int(c.hidden_size, `${t}.hidden_size`),
    numLayers: int(c.num_hidden_layers, `${t}.num_hidden_layers`),
    numHeads: int(c.num_attention_heads, `${t}.num_attention_heads`),
    intermediateSize: int(c.intermediate_size, `${t}.intermediate_size`),
    projectionDim: int(proj, 'projection_dim'),
    layerNormEps: c.layer_norm_eps ?? 1e-5,
  });
  const text = { ...arch(tc, 'text_config'), maxPositions: tc.max_position_embeddings ?? 77 };
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
  const { file } = options;
  // state dicts saved from a wrapping module may carry a prefix (e.g. 'module.'): strip what precedes 'visual.'
  const prefix = Object.keys(tensors)
    .find((k) => k.endsWith('visual.conv1.weight'))
    ?.slice(0, -'visual.conv1.weight'.length);
  if (prefix === undefined) {
    if (Object.keys(tensors).some((k) => k.includes('visual.layer1.')))
      throw new DataFormatError({
        file,
        message:
          'a ResNet CLIP (RN50/RN101/RN50x*) checkpoint; only ViT backbones (ViT-B/32, ViT-B/16, ViT-L/14) are supported',
      });
    throw new DataFormatError({
      file,
      field: 'visual.conv1.weight',
      message: 'not an OpenAI CLIP ViT checkpoint (no visual.conv1.weight)',
    });
  }
  const get = (k: string): TorchTensor => {
    const t = tensors[prefix + k];
    if (!t) throw new DataFormatError({ file, field: k, message: 'missing from the OpenAI CLIP checkpoint' });
    return t;
  };
  const shape = (k: string, rank: number) => {
    const t = get(k);
    if (t.dims.length !== rank)
      throw new DataFormatError({ file, field: k, message: `expected ${rank} dimensions, got [${t.dims.join(', ')}]` });
    return t.dims;
  };
  const count = (p: string) => {
    let n = 0;
    while (tensors[`${prefix}${p}.${n}.attn.in_proj_weight`]) n++;
    return n;
  };
  const [vWidth, , patch] = shape('visual.conv1.weight', 4) as [number, number, number, number];
  const gridSq = shape('visual.positional_embedding', 2)[0]! - 1;
  const grid = Math.round(Math.sqrt(gridSq));
  if (grid * grid !== gridSq)
    throw new DataFormatError({
      file,
      field: 'visual.positional_embedding',
      message: `${gridSq + 1} positions is not a square grid + 1`,
    });
  const embed = shape('text_projection', 2)[1]!;
  const tWidth = shape('ln_final.weight', 1)[0]!;
  const vLayers = count('visual.transformer.resblocks');
  const tLayers = count('transformer.resblocks');
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
  const arch: ClipArch = {
    vision: {
      hiddenSize: vWidth,
      numLayers: vLayers,
      numHeads: heads(vWidth, options.numHeads?.vision, 'vision'),
      intermediateSize: shape('visual.transformer.resblocks.0.mlp.c_fc.weight', 2)[0]!,
      projectionDim: embed,
      layerNormEps: 1e-5,
      patchSize: patch,
      imageSize: patch * grid,
    },
    text: {
      hiddenSize: tWidth,
      numLayers: tLayers,
      numHeads: heads(tWidth, options.numHeads?.text, 'text'),
      intermediateSize: shape('transformer.resblocks.0.mlp.c_fc.weight', 2)[0]!,
      projectionDim: embed,
      layerNormEps: 1e-5,
      maxPositions: shape('positional_embedding', 2)[0]!,
    },
  };
  const w: ClipWeights = {};
  const put = (hf: string, t: TorchTensor) => {
    w[hf] = { dims: [...t.dims], data: t.data };
  };
  const transpose = (t: TorchTensor): TorchTensor => {
    const [r, c] = t.dims as [number, number];
    const out = new Float32Array(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]!;
    return { dims: [c, r], data: out };
  };
  const blocks = (src: string, dst: string, n: number, width: number) => {
    for (let i = 0; i < n; i++) {
      const s = `${src}.${i}`,
        d = `${dst}.${i}`;
      const inW = get(`${s}.attn.in_proj_weight`),
        inB = get(`${s}.attn.in_proj_bias`);
      if (inW.dims[0] !== 3 * width || inW.dims[1] !== width)
        throw new DataFormatError({
          file,
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
      for (const [a, b] of [
        ['attn.out_proj', 'self_attn.out_proj'],
        ['ln_1', 'layer_norm1'],
        ['ln_2', 'layer_norm2'],
        ['mlp.c_fc', 'mlp.fc1'],
        ['mlp.c_proj', 'mlp.fc2'],
      ]) {
        put(`${d}.${b}.weight`, get(`${s}.${a}.weight`));
        put(`${d}.${b}.bias`, get(`${s}.${a}.bias`));
      }
    }
  };
  put('vision_model.embeddings.patch_embedding.weight', get('visual.conv1.weight'));
  put('vision_model.embeddings.class_embedding', get('visual.class_embedding'));
  put('vision_model.embeddings.position_embedding.weight', get('visual.positional_embedding'));
  for (const [a, b] of [
    ['visual.ln_pre', 'vision_model.pre_layrnorm'],
    ['visual.ln_post', 'vision_model.post_layernorm'],
    ['ln_final', 'text_model.final_layer_norm'],
  ]) {
    put(`${b}.weight`, get(`${a}.weight`));
    put(`${b}.bias`, get(`${a}.bias`));
  }
  blocks('visual.transformer.resblocks', 'vision_model.encoder.layers', vLayers, vWidth);
  blocks('transformer.resblocks', 'text_model.encoder.layers', tLayers, tWidth);
  put('visual_projection.weight', transpose(get('visual.proj')));
  put('text_projection.weight', transpose(get('text_projection')));
  put('text_model.embeddings.token_embedding.weight', get('token_embedding.weight'));
  put('text_model.embeddings.position_embedding.weight', get('positional_embedding'));
  const ls = tensors[`${prefix}logit_scale`];
  return { weights: w, arch, logitScale: ls && ls.data.length === 1 ? Math.exp(ls.data[0]!) : undefined };
}
