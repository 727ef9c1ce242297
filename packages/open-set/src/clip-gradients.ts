import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { assertShape, DataFormatError, InvalidArgumentError, readSafetensors, type Tensor, type Tensor2D, type Tensor4D } from '@vlfer/core';
import { textTowerVjpModel, visionTowerVjpModel, type ClipTowerArch } from './clip-vjp-graphs.js';

export type Tensor3D = Tensor<'R3'>;

/** Architecture of both towers from a Hugging Face CLIP `config.json`. */
export function clipArchFromConfig(config: Record<string, any>, file = 'config.json'): { text: ClipTowerArch; vision: ClipTowerArch } {
  const tc = config.text_config;
  const vc = config.vision_config;
  if (!tc || !vc) throw new DataFormatError({ file, message: 'expected text_config and vision_config (a CLIPModel config)' });
  if ((tc.hidden_act ?? 'quick_gelu') !== 'quick_gelu' || (vc.hidden_act ?? 'quick_gelu') !== 'quick_gelu') throw new DataFormatError({ file, field: 'hidden_act', message: 'only quick_gelu CLIP towers are supported (OpenAI CLIP)' });
  const proj = config.projection_dim ?? tc.projection_dim;
  const arch = (c: Record<string, any>) => ({ hiddenSize: c.hidden_size, numLayers: c.num_hidden_layers, numHeads: c.num_attention_heads, intermediateSize: c.intermediate_size, projectionDim: proj, layerNormEps: c.layer_norm_eps ?? 1e-5 });
  return { text: { ...arch(tc), maxPositions: tc.max_position_embeddings ?? 77 }, vision: { ...arch(vc), patchSize: vc.patch_size, imageSize: vc.image_size } };
}

/**
 * CLIP towers with gradients, for prompt learning (HESP, CoOp): forward + VJP graphs on ONNX Runtime with the
 * weights of a local Hugging Face CLIP directory (`config.json`, `model.safetensors`).
 */
export class ClipGradientModel {
  private constructor(
    readonly arch: { text: ClipTowerArch; vision: ClipTowerArch },
    private readonly weights: Record<string, { dims: number[]; data: Float32Array }>,
    private readonly text: ort.InferenceSession,
    private readonly vision: ort.InferenceSession,
    private readonly textForward: ort.InferenceSession,
    private readonly visionForward: ort.InferenceSession,
  ) {}

  /**
   * @param options.weightsIn `'inputs'`: the weights are graph inputs fed at every run (one graph per architecture,
   *   least memory); `'graph'`: stored in the graphs as initializers, so ONNX Runtime prepacks them and a GPU EP
   *   uploads them once instead of at every run. Default `'graph'`: on CPU a B/32 HESP step (8 clips × 8 frames) took
   *   13.0–13.1 s against 13.8–14.9 s with `'inputs'`, for 0.9 GiB more peak memory and 3–4 s more loading
   *   (`pnpm bench:hesp-step --clips 8 --frames 8 --steps 3 --weights-in graph|inputs`).
   */
  static async load(modelDir: string, options: { device?: 'cpu' | 'webgpu'; weightsIn?: 'inputs' | 'graph' } = {}): Promise<ClipGradientModel> {
    const cfgFile = join(modelDir, 'config.json');
    let config: Record<string, any>;
    try { config = JSON.parse(readFileSync(cfgFile, 'utf8')); } catch (error) { throw new DataFormatError({ file: cfgFile, message: `cannot read (${(error as Error).message})`, cause: error }); }
    const arch = clipArchFromConfig(config, cfgFile);
    const weightsFile = join(modelDir, 'model.safetensors');
    const weights = readSafetensors(weightsFile).tensors;
    const device = options.device ?? 'cpu';
    const opts: ort.InferenceSession.SessionOptions = { executionProviders: [device], logSeverityLevel: 3 };
    const stored = (options.weightsIn ?? 'graph') === 'graph' ? { weights, weightsFile } : {};
    // one session at a time: with stored weights each graph is a few hundred MB
    const text = await ort.InferenceSession.create(textTowerVjpModel(arch.text, stored), opts);
    const vision = await ort.InferenceSession.create(visionTowerVjpModel(arch.vision, stored), opts);
    const textForward = await ort.InferenceSession.create(textTowerVjpModel(arch.text, { ...stored, withGradient: false }), opts);
    const visionForward = await ort.InferenceSession.create(visionTowerVjpModel(arch.vision, { ...stored, withGradient: false }), opts);
    const m = new ClipGradientModel(arch, weights, text, vision, textForward, visionForward);
    for (const s of [text, vision]) for (const name of s.inputNames) if (!['inputs_embeds', 'eot_onehot', 'cotangent', 'pixel_values'].includes(name) && !weights[name]) {
      throw new DataFormatError({ file: join(modelDir, 'model.safetensors'), field: name, message: 'weight missing (expected the Hugging Face CLIPModel key names)' });
    }
    return m;
  }

  private feeds(session: ort.InferenceSession, inputs: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    const f: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      if (inputs[name]) f[name] = inputs[name];
      else { const w = this.weights[name]!; f[name] = new ort.Tensor('float32', w.data, w.dims); }
    }
    return f;
  }

  /**
   * The patch-embedding convolution's output (CLIP `conv1`) for one image, as HESP's CAM uses it.
   * @param pixels [3, S, S] @returns [D, g, g] with g = S / patch
   */
  patchEmbeddings(pixels: Float32Array): { data: Float32Array; dims: [number, number, number] } {
    const { hiddenSize: D, patchSize: P, imageSize: S } = this.arch.vision as Required<ClipTowerArch>;
    if (pixels.length !== 3 * S * S) throw new InvalidArgumentError({ functionName: 'patchEmbeddings', argument: 'pixels', message: `expected 3×${S}×${S} values, got ${pixels.length}` });
    const w = this.weights['vision_model.embeddings.patch_embedding.weight']!.data;
    const g = S / P;
    const out = new Float32Array(D * g * g);
    for (let d = 0; d < D; d++) for (let gy = 0; gy < g; gy++) for (let gx = 0; gx < g; gx++) {
      let s = 0;
      for (let c = 0; c < 3; c++) for (let ky = 0; ky < P; ky++) {
        const wo = ((d * 3 + c) * P + ky) * P;
        const po = (c * S + gy * P + ky) * S + gx * P;
        for (let kx = 0; kx < P; kx++) s += w[wo + kx]! * pixels[po + kx]!;
      }
      out[(d * g + gy) * g + gx] = s;
    }
    return { data: out, dims: [D, g, g] };
  }

  /** Token embeddings of CLIP token ids. @param ids [B, L] flat @returns [B, L, D] */
  tokenEmbeddings(ids: readonly number[], dims: [number, number]): Tensor3D {
    const table = this.weights['text_model.embeddings.token_embedding.weight']!;
    const [vocab, d] = table.dims as [number, number];
    const out = new Float32Array(dims[0] * dims[1] * d);
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new InvalidArgumentError({ functionName: 'tokenEmbeddings', argument: 'ids', message: `index ${i} holds ${id}, outside the vocabulary of ${vocab}` });
      out.set(table.data.subarray(id * d, (id + 1) * d), i * d);
    });
    return { dtype: 'float32', data: out, dims: [dims[0], dims[1], d] };
  }

  /**
   * text_embeds and d⟨text_embeds, cotangent⟩ / d(inputs_embeds).
   * @param inputsEmbeds [B, L, D] @param eotIndex [B] position of the first <|endoftext|> @param cotangent [B, E]
   */
  async textVjp(inputsEmbeds: Tensor3D, eotIndex: readonly number[], cotangent: Tensor2D): Promise<{ textEmbeds: Tensor2D; gradInputsEmbeds: Tensor3D }> {
    const [b, l, d] = inputsEmbeds.dims;
    assertShape(inputsEmbeds, [null, null, this.arch.text.hiddenSize], 'inputsEmbeds', 'textVjp');
    assertShape(cotangent, [b, this.arch.text.projectionDim], 'cotangent', 'textVjp');
    if (eotIndex.length !== b) throw new InvalidArgumentError({ functionName: 'textVjp', argument: 'eotIndex', message: `has ${eotIndex.length} entries for ${b} sequences` });
    const onehot = new Float32Array(b * l);
    eotIndex.forEach((p, i) => { if (!(p >= 0 && p < l)) throw new InvalidArgumentError({ functionName: 'textVjp', argument: 'eotIndex', message: `index ${i} is ${p}, outside [0, ${l})` }); onehot[i * l + p] = 1; });
    const out = await this.text.run(this.feeds(this.text, {
      inputs_embeds: new ort.Tensor('float32', inputsEmbeds.data, [b, l, d]),
      eot_onehot: new ort.Tensor('float32', onehot, [b, l]),
      cotangent: new ort.Tensor('float32', cotangent.data, [...cotangent.dims]),
    }));
    return {
      textEmbeds: { dtype: 'float32', data: out.text_embeds!.data as Float32Array, dims: [b, this.arch.text.projectionDim] },
      gradInputsEmbeds: { dtype: 'float32', data: out.grad_inputs_embeds!.data as Float32Array, dims: [b, l, d] },
    };
  }

  /** image_embeds and d⟨image_embeds, cotangent⟩ / d(pixel_values). @param pixels [B, 3, S, S] @param cotangent [B, E] */
  async visionVjp(pixels: Tensor4D, cotangent: Tensor2D): Promise<{ imageEmbeds: Tensor2D; gradPixels: Tensor4D }> {
    const S = this.arch.vision.imageSize!;
    assertShape(pixels, [null, 3, S, S], 'pixels', 'visionVjp');
    const b = pixels.dims[0];
    assertShape(cotangent, [b, this.arch.vision.projectionDim], 'cotangent', 'visionVjp');
    const out = await this.vision.run(this.feeds(this.vision, {
      pixel_values: new ort.Tensor('float32', pixels.data, [...pixels.dims]),
      cotangent: new ort.Tensor('float32', cotangent.data, [...cotangent.dims]),
    }));
    return {
      imageEmbeds: { dtype: 'float32', data: out.image_embeds!.data as Float32Array, dims: [b, this.arch.vision.projectionDim] },
      gradPixels: { dtype: 'float32', data: out.grad_pixel_values!.data as Float32Array, dims: [b, 3, S, S] },
    };
  }

  /** text_embeds only (no gradient). @param inputsEmbeds [B, L, D] @returns [B, E] */
  async textForwardEmbeds(inputsEmbeds: Tensor3D, eotIndex: readonly number[]): Promise<Tensor2D> {
    const [b, l, d] = inputsEmbeds.dims;
    const onehot = new Float32Array(b * l);
    eotIndex.forEach((p, i) => { onehot[i * l + p] = 1; });
    const out = await this.textForward.run(this.feeds(this.textForward, { inputs_embeds: new ort.Tensor('float32', inputsEmbeds.data, [b, l, d]), eot_onehot: new ort.Tensor('float32', onehot, [b, l]) }));
    return { dtype: 'float32', data: out.text_embeds!.data as Float32Array, dims: [b, this.arch.text.projectionDim] };
  }

  /** image_embeds only (no gradient), in chunks of `chunk` images. @param pixels [B, 3, S, S] @returns [B, E] */
  async visionForwardEmbeds(pixels: Tensor4D, chunk = 64): Promise<Tensor2D> {
    const S = this.arch.vision.imageSize!;
    assertShape(pixels, [null, 3, S, S], 'pixels', 'visionForwardEmbeds');
    const b = pixels.dims[0];
    const e = this.arch.vision.projectionDim;
    const per = 3 * S * S;
    const out = new Float32Array(b * e);
    for (let i = 0; i < b; i += chunk) {
      const n = Math.min(chunk, b - i);
      const r = await this.visionForward.run(this.feeds(this.visionForward, { pixel_values: new ort.Tensor('float32', pixels.data.subarray(i * per, (i + n) * per), [n, 3, S, S]) }));
      out.set(r.image_embeds!.data as Float32Array, i * e);
    }
    return { dtype: 'float32', data: out, dims: [b, e] };
  }

  async release(): Promise<void> {
    await Promise.all([this.text.release(), this.vision.release(), this.textForward.release(), this.visionForward.release()]);
  }
}
