import {
  buildModel,
  constant,
  DataFormatError,
  InvalidArgumentError,
  type AttrValue,
  type ExternalInitializer,
  type Initializer,
  type NodeSpec,
  type ValueSpec,
} from '@vlfer/core';
import { quantizeLinearInt8 } from './quantize.js';

/**
 * Forward + vector-Jacobian-product (VJP) graphs of the CLIP towers (Hugging Face CLIPTextModelWithProjection /
 * CLIPVisionModelWithProjection: pre-LN transformer, QuickGELU, causal mask for text), written as ONNX nodes in
 * TypeScript with the backward pass derived by hand — no autograd framework, no Python. Given an output
 * cotangent u, a graph returns the embeddings and d⟨embeds, u⟩ / d(input): the input being the token embeddings
 * (text, for CoOp contexts) or the pixels (vision, for visual prompts). Weights are graph inputs named like the
 * Hugging Face `model.safetensors` keys, so one graph serves every checkpoint of an architecture.
 */
export interface ClipTowerArch {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  projectionDim: number;
  layerNormEps: number;
  /** text only: rows of the position-embedding table (77 for CLIP) */
  maxPositions?: number;
  /** vision only */
  patchSize?: number;
  imageSize?: number;
}

/**
 * Frozen weights by Hugging Face key; given to a graph builder, they are stored in the graph instead of fed. A weight
 * with `external` is stored as a reference to those float32 bytes of a file (ONNX external data: `location` relative
 * to the folder ONNX Runtime is told, byte `offset` and `length`), so the graph does not carry its values.
 */
export type ClipWeights = Record<
  string,
  { dims: number[]; data: Float32Array; external?: { location: string; offset: number; length: number } }
>;

/**
 * The version of the arithmetic of the graphs built here: raised whenever a change alters the bits of what they
 * output, so that what was computed with earlier graphs is not mixed with new results (`forwardGraphsId`).
 * 2: the fp32 forward graphs with ONNX Runtime's fused attention (`TowerGraphOptions.ortFusedForward`).
 */
export const CLIP_GRAPHS_VERSION = 2;

/**
 * What decides the bits of a forward graph's outputs besides its weights: the graphs' version, whether the standard,
 * the ONNX Runtime fused or the int8 layers are built, and, for float32 layers, whether the weights are stored in the
 * graph (`weights` given: ONNX Runtime prepacks them, and its matrix products then round differently from those on
 * weights fed at every run), e.g. `vlfer-clip-graphs-2/ort-fused` (weights fed) or
 * `vlfer-clip-graphs-2/ort-fused/stored-weights`. Feature caches put it in their namespace (`ClipModel.featureRecipe`).
 */
export function forwardGraphsId(options: Pick<TowerGraphOptions, 'ortFusedForward' | 'quantize' | 'weights'>): string {
  // int8-w7: weights in 7 bits (INT8_WEIGHT_MAX); the int8 graphs' features of earlier versions used 8. -cls: the
  // vision tower's last layer quantizes out_proj's and the MLP's activations over the class tokens only (earlier:
  // over all tokens). int8 weights are always stored, so their id has no suffix
  if (options.quantize === 'int8') return `vlfer-clip-graphs-${CLIP_GRAPHS_VERSION}/int8-w7-cls`;
  const layers = options.ortFusedForward ? 'ort-fused' : 'standard';
  return `vlfer-clip-graphs-${CLIP_GRAPHS_VERSION}/${layers}${options.weights ? '/stored-weights' : ''}`;
}

export interface TowerGraphOptions {
  /** also output the vector-Jacobian product (default true) */
  withGradient?: boolean;
  /**
   * Store these weights as initializers (ONNX Runtime prepacks them, a GPU EP uploads them once) instead of
   * taking them as inputs at every run. Missing keys or wrong shapes throw, naming the key.
   */
  weights?: ClipWeights;
  /** the weights' file, for error messages */
  weightsFile?: string;
  /**
   * `'int8'`: every linear layer (attention q/k/v/out, MLP fc1/fc2, the projection) int8 in ONNX Runtime's
   * `DynamicQuantizeMatMul` on int8 weights (symmetric, per output channel; `quantizeLinearInt8`; q, k and v as
   * one `DynamicQuantizeLinear` and a `MatMulIntegerToFloat` each, `Graph.linearsInt8`), the rest (patch
   * embedding, LayerNorm, attention as ONNX Runtime's `MultiHeadAttention`, QuickGELU) in fp32. Needs `weights` and
   * `withGradient: false`.
   */
  quantize?: 'int8';
  /** Testing: called with each quantized weight's key and its per-channel scales, which it may alter. */
  int8ScalesHook?: (key: string, scales: Float32Array) => void;
  /**
   * Forward graphs (`withGradient: false`) in fp32: each layer's attention as ONNX Runtime's `MultiHeadAttention`
   * and QuickGELU as its `QuickGelu` (com.microsoft: the graph then runs on ONNX Runtime only), as the int8 graphs
   * always are, instead of standard ONNX ops (head reshapes and transposes, MatMul, Softmax, Sigmoid, Mul). Fewer
   * nodes: ViT-B/32's vision and text forward sessions are created with 64–78 % of the CPU time, and run at the
   * same speed (apps/bench/README.md, "fused forward graphs"). The image features differ from the standard graph's
   * in the last float bits (the attention sums in another order). Ignored by graphs with a backward, which keep the
   * attention probabilities. @default false
   */
  ortFusedForward?: boolean;
}

/** A weight a graph reads: its Hugging Face key and the shape the architecture implies. */
export interface ClipWeightSpec {
  name: string;
  dims: number[];
}

class Graph {
  readonly nodes: NodeSpec[] = [];
  readonly inputs: ValueSpec[] = [];
  readonly initializers: (Initializer | ExternalInitializer)[] = [];
  /** every weight the graph reads, by key, with the shape the architecture implies, in the order first read */
  readonly read = new Map<string, number[]>();
  private readonly weights: ClipWeights | undefined;
  private readonly weightsFile: string;
  /** set when the linear layers are quantized (`TowerGraphOptions.quantize`) */
  readonly int8: Pick<TowerGraphOptions, 'int8ScalesHook'> | undefined;
  /**
   * The encoder layers are forward only, with ONNX Runtime's fused ops (`encoderLayerFused`): int8 graphs, and fp32
   * forward graphs with `TowerGraphOptions.ortFusedForward`.
   */
  readonly fused: boolean;
  /**
   * @param gradients the graph has a backward (int8 graphs may not)
   * @param listOnly record the weights read (`read`), checked against `options.weights` when given, without adding
   *   them to the graph, reading their values or quantizing them: the graph is then never serialized
   */
  constructor(
    options: TowerGraphOptions = {},
    gradients = false,
    private readonly listOnly = false,
  ) {
    if (options.quantize === 'int8' && ((!options.weights && !listOnly) || gradients))
      throw new InvalidArgumentError({
        functionName: 'clip-graphs',
        argument: 'quantize',
        message: `'int8' builds forward graphs from stored weights: pass weights and withGradient: false`,
      });
    this.weights = options.weights;
    this.weightsFile = options.weightsFile ?? 'model.safetensors';
    this.int8 = options.quantize === 'int8' ? { int8ScalesHook: options.int8ScalesHook } : undefined;
    this.fused = this.int8 !== undefined || (!gradients && options.ortFusedForward === true);
  }
  /** the weights are stored in the graph (initializers: ONNX Runtime prepacks them), not fed as inputs */
  get storesWeights(): boolean {
    return this.weights !== undefined;
  }
  private n = 0;
  private consts = new Map<string, string>();
  /** A node with one output, named after the op; `domain` for ONNX Runtime's contrib ops (`com.microsoft`). */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, domain?: string): string {
    const out = `${op.toLowerCase()}_${this.n++}`;
    this.nodes.push({ op, inputs, outputs: [out], ...(attrs ? { attrs } : {}), ...(domain ? { domain } : {}) });
    return out;
  }
  /** A node with `count` outputs. */
  multi(op: string, inputs: string[], count: number, attrs?: Record<string, AttrValue>): string[] {
    const outputs = Array.from({ length: count }, (_, i) => `${op.toLowerCase()}_${this.n}_${i}`);
    this.n++;
    this.nodes.push({ op, inputs, outputs, ...(attrs ? { attrs } : {}) });
    return outputs;
  }
  /** A named output (for graph outputs). */
  name(value: string, as: string): string {
    this.nodes.push({ op: 'Identity', inputs: [value], outputs: [as] });
    return as;
  }
  /**
   * Give the node output `value` the name `as` where it is made and wherever it is read: a graph output without the
   * copy an Identity node makes (ONNX Runtime copies a graph output that an Identity produces).
   */
  rename(value: string, as: string): string {
    if (this.listOnly) return as; // names of values, not weights: nothing to list
    for (const n of this.nodes) {
      n.outputs = n.outputs.map((o) => (o === value ? as : o));
      n.inputs = n.inputs.map((i) => (i === value ? as : i));
    }
    return as;
  }
  f(v: number): string {
    const key = `f${v}`;
    if (!this.consts.has(key)) {
      const nm = `cf_${this.consts.size}`;
      this.nodes.push(constant(nm, 'float32', [v]));
      this.consts.set(key, nm);
    }
    return this.consts.get(key)!;
  }
  ints(v: number[]): string {
    const key = `i${v.join(',')}`;
    if (!this.consts.has(key)) {
      const nm = `ci_${this.consts.size}`;
      this.nodes.push(constant(nm, 'int64', v, [v.length]));
      this.consts.set(key, nm);
    }
    return this.consts.get(key)!;
  }
  input(name: string, dims: (number | string)[], type: 'float32' | 'int64' = 'float32'): string {
    this.inputs.push({ name, type, dims });
    return name;
  }
  weight(name: string, dims: number[]): string {
    const w = this.stored(name, dims);
    if (this.listOnly) return name;
    if (!w) return this.input(name, dims);
    this.initializers.push(w.external ? { name, dims, external: w.external } : { name, dims, data: w.data });
    return name;
  }
  /**
   * Records that the graph reads weight `name` with shape `dims`; with stored weights, returns it, checked against
   * that shape (its values are not read here). @throws DataFormatError naming the file and the key
   */
  private stored(name: string, dims: number[]): ClipWeights[string] | undefined {
    this.read.set(name, dims);
    if (!this.weights) return undefined;
    const w = this.weights[name];
    if (!w)
      throw new DataFormatError({
        file: this.weightsFile,
        field: name,
        message: 'weight missing (expected the Hugging Face CLIPModel key names)',
      });
    if (w.dims.length !== dims.length || w.dims.some((d, i) => d !== dims[i]))
      throw new DataFormatError({
        file: this.weightsFile,
        field: name,
        message: `has shape [${w.dims.join(', ')}], the config implies [${dims.join(', ')}]`,
      });
    return w;
  }
  /** y = x·Wᵀ (+ b) with W [out, in] by key: int8 `DynamicQuantizeMatMul` when quantized, else fp32 MatMul. */
  linearByKey(x: string, key: string, dims: [number, number], bias?: string): string {
    if (!this.int8) return linear(this, x, this.weight(key, dims), bias);
    return this.linearsInt8(x, [{ key, dims, bias }])[0]!;
  }
  /**
   * Linear layers y_i = x·W_iᵀ (+ b_i) of one input x [..., in], int8: each W_i [out_i, in] (by key) quantized
   * symmetrically per output channel (`quantizeLinearInt8`), the activation x once for all of them
   * (`DynamicQuantizeLinear`: one scale and zero point over the whole tensor), and each layer a
   * `MatMulIntegerToFloat` (com.microsoft) on it. One layer alone is a `DynamicQuantizeMatMul`, the same two steps in
   * one node. A layer with `firstToken` reads row 0 of the token axis of the quantized x only (x [B, L, in] →
   * y [B, 1, out]): its rows are those of the layer over every token, since each row's integer sum is exact.
   * Each layer's own product instead of one over the stacked weights and a Split: the same bits, without the copy
   * the Split makes (ViT-B/32 int8 encode of 32 images, 2 threads: 991 against 1037 ms and 1102 against 1138 ms per
   * batch in two interleaved runs; apps/bench/README.md, int8, "The class token only, and no Split").
   * @returns y_i [..., out_i] for each layer
   */
  linearsInt8(x: string, layers: { key: string; dims: [number, number]; bias?: string; firstToken?: boolean }[]) {
    if (this.listOnly) {
      for (const l of layers) this.stored(l.key, l.dims);
      return layers.map(() => `dqmatmul_${this.n++}`);
    }
    const weights = layers.map(({ key, dims }) => {
      const { q, scales } = quantizeLinearInt8(this.stored(key, dims)!.data, dims[0], dims[1]);
      this.int8!.int8ScalesHook?.(key, scales);
      this.initializers.push({ name: `${key}.int8`, dims: [dims[1], dims[0]], data: q });
      this.initializers.push({ name: `${key}.scale`, dims: [dims[0]], data: scales });
      return [`${key}.int8`, `${key}.scale`];
    });
    if (layers.length === 1 && !layers[0]!.firstToken) {
      const bias = layers[0]!.bias ? [layers[0]!.bias] : [];
      return [this.op('DynamicQuantizeMatMul', [x, ...weights[0]!, '', ...bias], undefined, 'com.microsoft')];
    }
    const [xq, xScale, xZero] = this.multi('DynamicQuantizeLinear', [x], 3) as [string, string, string];
    return layers.map((l, i) => {
      const [w, wScale] = weights[i]!;
      const a = l.firstToken ? firstToken(this, xq) : xq;
      const inputs = [a, w!, xScale, wScale!, xZero, '', ...(l.bias ? [l.bias] : [])];
      return this.op('MatMulIntegerToFloat', inputs, undefined, 'com.microsoft');
    });
  }
  model(name: string, outputs: ValueSpec[]): Uint8Array {
    return buildModel({
      name,
      nodes: this.nodes,
      inputs: this.inputs,
      outputs,
      initializers: this.initializers,
      opset: 17,
    });
  }
  // helpers
  add(a: string, b: string) {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string) {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string) {
    return this.op('Mul', [a, b]);
  }
  matmul(a: string, b: string) {
    return this.op('MatMul', [a, b]);
  }
  t2(a: string) {
    return this.op('Transpose', [a], { perm: [1, 0] });
  }
  mean(a: string) {
    return this.op('ReduceMean', [a], { axes: [-1], keepdims: 1 });
  }
}

/** y = x·Wᵀ + b over the last axis. */
function linear(g: Graph, x: string, w: string, b?: string) {
  const y = g.matmul(x, g.t2(w));
  return b ? g.add(y, b) : y;
}

/** What a layer norm's backward reads: its input x, per-row mean and 1/σ ([…, 1]), and γ. */
interface LnSaved {
  x: string;
  mean: string;
  rstd: string;
  gamma: string;
}
function layerNorm(g: Graph, x: string, gamma: string, beta: string, eps: number): { y: string; saved: LnSaved } {
  // fused graphs are forward only: nothing kept for a backward
  if (g.fused) {
    const y = g.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: { float: eps } });
    return { y, saved: { x: '', mean: '', rstd: '', gamma } };
  }
  // ONNX Runtime's fused kernel, which also outputs the row mean and 1/σ the backward reads
  const [y, mean, rstd] = g.multi('LayerNormalization', [x, gamma, beta], 3, { axis: -1, epsilon: { float: eps } });
  return { y: y!, saved: { x, mean: mean!, rstd: rstd!, gamma } };
}
/** dx = rstd · (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·γ, x̂ = (x − mean)·rstd recomputed. */
function layerNormBackward(g: Graph, dy: string, s: LnSaved): string {
  const xhat = g.mul(g.sub(s.x, s.mean), s.rstd);
  const dxhat = g.mul(dy, s.gamma);
  const t = g.sub(g.sub(dxhat, g.mean(dxhat)), g.mul(xhat, g.mean(g.mul(dxhat, xhat))));
  return g.mul(t, s.rstd);
}

interface LayerSaved {
  ln1: LnSaved;
  ln2: LnSaved;
  q: string;
  k: string;
  v: string;
  p: string;
  h1: string;
  z: string;
  sig: string;
  wq: string;
  wk: string;
  wv: string;
  wo: string;
  w1: string;
  w2: string;
}

/** [B, L, D] → [B, H, L, hd] */
function splitHeads(g: Graph, x: string, heads: number) {
  return g.op('Transpose', [g.op('Reshape', [x, g.ints([0, 0, heads, -1])])], { perm: [0, 2, 1, 3] });
}
/** [B, H, L, hd] → [B, L, D] */
function mergeHeads(g: Graph, x: string) {
  return g.op('Reshape', [g.op('Transpose', [x], { perm: [0, 2, 1, 3] }), g.ints([0, 0, -1])]);
}

/** Row 0 of the token axis: [B, L, …] → [B, 1, …] (the class token). */
function firstToken(g: Graph, x: string): string {
  return g.op('Slice', [x, g.ints([0]), g.ints([1]), g.ints([1])]);
}
/** [B, 1, D] → [B, L, D]: the class token's row, zeros at the other L − 1 tokens. */
function padFirstToken(g: Graph, x: string, tokens: number): string {
  return g.op('Pad', [x, g.ints([0, 0, 0, 0, tokens - 1, 0])]);
}

/**
 * One pre-LN encoder layer, x [B, L, D] → [B, L, D]; `mask` [L, L] is added to the attention scores (text).
 * `clsOnly` (the vision tower's last layer, of whose output only the class token is read): layer norm 1, keys and
 * values over all L tokens, but the query, the attention output, out_proj and the MLP of token 0 only, so the output
 * is [B, 1, D]. The other rows would be computed and dropped: at ViT-B/32 that is 83 % of the layer's matmul FLOPs
 * (q, out_proj, fc1, fc2) and 6.6 % of the tower's (`towerFlops` of apps/bench), in the forward and the backward
 * alike.
 */
function encoderLayer(
  g: Graph,
  x: string,
  prefix: string,
  a: ClipTowerArch,
  mask: string | undefined,
  clsOnly = false,
): { out: string; saved: LayerSaved } {
  const D = a.hiddenSize;
  const I = a.intermediateSize;
  const w = (n: string, dims: number[]) => g.weight(`${prefix}.${n}`, dims);
  const ln1 = layerNorm(g, x, w('layer_norm1.weight', [D]), w('layer_norm1.bias', [D]), a.layerNormEps);
  const wq = w('self_attn.q_proj.weight', [D, D]),
    wk = w('self_attn.k_proj.weight', [D, D]),
    wv = w('self_attn.v_proj.weight', [D, D]),
    wo = w('self_attn.out_proj.weight', [D, D]);
  const lin = (y: string, n: string, wt: string, dims: [number, number]) => linear(g, y, wt, w(`${n}.bias`, [dims[0]]));
  const scale = (D / a.numHeads) ** -0.5;
  const qIn = clsOnly ? firstToken(g, ln1.y) : ln1.y;
  const q = splitHeads(g, g.mul(lin(qIn, 'self_attn.q_proj', wq, [D, D]), g.f(scale)), a.numHeads);
  const k = splitHeads(g, lin(ln1.y, 'self_attn.k_proj', wk, [D, D]), a.numHeads);
  const v = splitHeads(g, lin(ln1.y, 'self_attn.v_proj', wv, [D, D]), a.numHeads);
  let s = g.matmul(q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] }));
  if (mask) s = g.add(s, mask);
  const p = g.op('Softmax', [s], { axis: -1 });
  const o = mergeHeads(g, g.matmul(p, v));
  const h1 = g.add(clsOnly ? firstToken(g, x) : x, lin(o, 'self_attn.out_proj', wo, [D, D]));
  const ln2 = layerNorm(g, h1, w('layer_norm2.weight', [D]), w('layer_norm2.bias', [D]), a.layerNormEps);
  const w1 = w('mlp.fc1.weight', [I, D]),
    w2 = w('mlp.fc2.weight', [D, I]);
  const z = lin(ln2.y, 'mlp.fc1', w1, [I, D]);
  const sig = g.op('Sigmoid', [g.mul(z, g.f(1.702))]);
  const out = g.add(h1, lin(g.mul(z, sig), 'mlp.fc2', w2, [D, I]));
  return { out, saved: { ln1: ln1.saved, ln2: ln2.saved, q, k, v, p, h1, z, sig, wq, wk, wv, wo, w1, w2 } };
}

/**
 * A forward-only encoder layer with ONNX Runtime's fused ops (int8 graphs, and fp32 with
 * `TowerGraphOptions.ortFusedForward`): softmax(q·kᵀ·hd^−½ + bias)·v as `MultiHeadAttention` (com.microsoft: no head
 * transposes, the scale folded in) and QuickGELU as `QuickGelu`. int8: q, k and v from one quantized activation
 * (`Graph.linearsInt8`), out_proj and the MLP int8. x [B, L, D] → [B, L, D]; `bias` [1, 1, L, L] added to the
 * scores (text: the causal mask) or none (vision). `clsOnly` (see `encoderLayer`): the query, out_proj and the MLP
 * of the class token only, output [B, 1, D]. In int8 the query's rows are those of every token's, and out_proj's and
 * the MLP's activations are quantized with the scales of the class tokens' rows (one scale over the batch's class
 * tokens instead of over all tokens; their features differ from those of earlier versions, `forwardGraphsId`).
 */
function encoderLayerFused(g: Graph, x: string, prefix: string, a: ClipTowerArch, bias?: string, clsOnly = false) {
  const D = a.hiddenSize;
  const I = a.intermediateSize;
  const w = (n: string, dims: number[]) => g.weight(`${prefix}.${n}`, dims);
  const lin = (y: string, n: string, dims: [number, number]) =>
    g.linearByKey(y, `${prefix}.${n}.weight`, dims, w(`${n}.bias`, [dims[0]]));
  const ln1 = layerNorm(g, x, w('layer_norm1.weight', [D]), w('layer_norm1.bias', [D]), a.layerNormEps);
  let q: string, k: string, v: string;
  if (g.int8)
    [q, k, v] = g.linearsInt8(
      ln1.y,
      ['q_proj', 'k_proj', 'v_proj'].map((n, i) => ({
        key: `${prefix}.self_attn.${n}.weight`,
        dims: [D, D] as [number, number],
        bias: w(`self_attn.${n}.bias`, [D]),
        firstToken: clsOnly && i === 0,
      })),
    ) as [string, string, string];
  else {
    q = lin(clsOnly ? firstToken(g, ln1.y) : ln1.y, 'self_attn.q_proj', [D, D]);
    k = lin(ln1.y, 'self_attn.k_proj', [D, D]);
    v = lin(ln1.y, 'self_attn.v_proj', [D, D]);
  }
  const attrs = { num_heads: a.numHeads, scale: { float: (D / a.numHeads) ** -0.5 } };
  const o = g.op('MultiHeadAttention', [q, k, v, '', '', bias ?? ''], attrs, 'com.microsoft');
  const h1 = g.add(clsOnly ? firstToken(g, x) : x, lin(o, 'self_attn.out_proj', [D, D]));
  const ln2 = layerNorm(g, h1, w('layer_norm2.weight', [D]), w('layer_norm2.bias', [D]), a.layerNormEps);
  const z = lin(ln2.y, 'mlp.fc1', [I, D]);
  const act = g.op('QuickGelu', [z], { alpha: { float: 1.702 } }, 'com.microsoft');
  return g.add(h1, lin(act, 'mlp.fc2', [D, I]));
}

/**
 * The forward-only fused encoder layers `${prefix}.${i}`, i < numLayers, over x [B, L, D] (`encoderLayerFused`);
 * `mask` [L, L] additive (text); `clsOnlyLast`: the last layer for the class token only.
 * @returns the last hidden state [B, L, D] ([B, 1, D] with `clsOnlyLast`)
 */
function encoderStackFused(g: Graph, x: string, prefix: string, a: ClipTowerArch, mask?: string, clsOnlyLast = false) {
  const bias = mask ? g.op('Unsqueeze', [mask, g.ints([0, 1])]) : undefined; // MultiHeadAttention's attention_bias
  let h = x;
  for (let i = 0; i < a.numLayers; i++)
    h = encoderLayerFused(g, h, `${prefix}.${i}`, a, bias, clsOnlyLast && i === a.numLayers - 1);
  return h;
}

/**
 * d⟨out, dOut⟩ / dx of an encoder layer from what its forward kept. `clsOnlyTokens`: the layer ran with `clsOnly`
 * (its output and dOut are [B, 1, D]); the input has that many tokens, and dx is [B, tokens, D].
 */
function encoderLayerBackward(g: Graph, dOut: string, s: LayerSaved, a: ClipTowerArch, clsOnlyTokens?: number): string {
  // MLP: out = h1 + fc2(gelu(fc1(ln2(h1))))
  const dAct = g.matmul(dOut, s.w2);
  // quick_gelu'(z) = σ(1.702 z) + 1.702 z σ (1 − σ)
  const dGelu = g.add(s.sig, g.mul(g.mul(g.mul(s.z, g.f(1.702)), s.sig), g.sub(g.f(1), s.sig)));
  const dz = g.mul(dAct, dGelu);
  const dLn2 = g.matmul(dz, s.w1);
  const dH1 = g.add(dOut, layerNormBackward(g, dLn2, s.ln2));
  // attention: h1 = x + out_proj(merge(P·V))
  const dO = splitHeads(g, g.matmul(dH1, s.wo), a.numHeads);
  const dP = g.matmul(dO, g.op('Transpose', [s.v], { perm: [0, 1, 3, 2] }));
  const dV = g.matmul(g.op('Transpose', [s.p], { perm: [0, 1, 3, 2] }), dO);
  const dS = g.mul(s.p, g.sub(dP, g.op('ReduceSum', [g.mul(dP, s.p), g.ints([-1])], { keepdims: 1 })));
  const scale = (a.hiddenSize / a.numHeads) ** -0.5;
  const dQ = g.mul(g.matmul(dS, s.k), g.f(scale)); // q was scaled after the projection
  const dK = g.matmul(g.op('Transpose', [dS], { perm: [0, 1, 3, 2] }), s.q);
  if (clsOnlyTokens === undefined)
    return g.add(dH1, layerNormBackward(g, headGradsTimesWeights(g, [dQ, dK, dV], [s.wq, s.wk, s.wv]), s.ln1));
  // the query and the residual path were the class token's only (dQ, dH1 [B, 1, ·]); keys and values every token's
  const pad = (t: string) => padFirstToken(g, t, clsOnlyTokens);
  const dLn1 = g.add(headGradsTimesWeights(g, [dK, dV], [s.wk, s.wv]), pad(headGradsTimesWeights(g, [dQ], [s.wq])));
  return g.add(pad(dH1), layerNormBackward(g, dLn1, s.ln1));
}

/**
 * Σᵢ merge(dXᵢ)·Wᵢ for head gradients dXᵢ [B, H, L, hd] and weights Wᵢ [D, D] (the input gradient of q, k, v
 * projections). Weights fed: one product, [dX₁ | dX₂ | …] (heads concatenated, one head merge) · [W₁; W₂; …].
 * Weights stored: one product per weight, summed, so each reads its prepacked weight and no run concatenates the
 * weights again (ONNX Runtime's constant folding is off for stored weights, `STORED_WEIGHTS_OPTIMIZATION`): the
 * B/32 backward of 16 images took 918 ms against 962 ms (medians of 6 interleaved runs, 2 threads,
 * apps/bench/README.md). @returns [B, L, D]
 */
function headGradsTimesWeights(g: Graph, grads: string[], weights: string[]): string {
  if (g.storesWeights)
    return grads.map((d, i) => g.matmul(mergeHeads(g, d), weights[i]!)).reduce((a, b) => g.add(a, b));
  const merged = mergeHeads(g, grads.length > 1 ? g.op('Concat', grads, { axis: 1 }) : grads[0]!);
  return g.matmul(merged, weights.length > 1 ? g.op('Concat', weights, { axis: 0 }) : weights[0]!);
}

/**
 * Text tower: inputs `inputs_embeds` [B, L, D] (token embeddings; CoOp writes its context rows here),
 * `eot_onehot` [B, L] (1 at the first <|endoftext|>), `cotangent` [B, E] and the weights.
 * Outputs `text_embeds` [B, E] and `grad_inputs_embeds` [B, L, D].
 */
export function textTowerVjpModel(a: ClipTowerArch, options: TowerGraphOptions = {}): Uint8Array {
  return clipGraphModel((options.withGradient ?? true) ? 'textVjp' : 'textForward', a, options);
}

/** The nodes of `textTowerVjpModel` in `g`, with or without the backward. */
function textTower(g: Graph, a: ClipTowerArch, withGrad: boolean): GraphOutputs {
  const D = a.hiddenSize;
  const x = g.input('inputs_embeds', ['batch', 'seq', D]);
  const eot = g.input('eot_onehot', ['batch', 'seq']);
  const cot = withGrad ? g.input('cotangent', ['batch', a.projectionDim]) : '';
  const pos = g.weight('text_model.embeddings.position_embedding.weight', [a.maxPositions ?? 77, D]);
  // positions 0..L-1 [1, seq] and the causal mask [seq, seq] (−1e9 above the diagonal, −0 elsewhere), made from
  // the eot_onehot input by ops whose output shape ONNX Runtime infers from their input's: the symbolic `seq` then
  // reaches every later node. Made from Shape(x) (a Slice of the position table, a ConstantOfShape mask), every later
  // dimension was unknown to ONNX Runtime, and creating the ViT-B/32 text VJP session took 0.5 s of CPU instead of
  // 0.08 (apps/bench/README.md, "fused forward graphs"). x^0 = 1 for any x, NaN included.
  const ones = g.op('Pow', [g.op('ReduceSum', [eot, g.ints([0])], { keepdims: 1 }), g.f(0)]);
  const positions = g.sub(g.op('CumSum', [ones, g.ints([1])]), g.f(1)); // 0, 1, …, L − 1 (exact in float32)
  const posL = g.op('Gather', [pos, g.op('Cast', [positions], { to: 7 })], { axis: 0 }); // [1, seq, D]; 7: int64
  const later = g.op('Greater', [positions, g.op('Transpose', [positions], { perm: [1, 0] })]); // [i, j]: j > i
  const mask = g.mul(g.op('Cast', [later], { to: 1 }), g.f(-1e9)); // 1: float32
  let h = g.add(x, posL);
  const saved: LayerSaved[] = [];
  if (g.fused) h = encoderStackFused(g, h, 'text_model.encoder.layers', a, mask);
  else
    for (let i = 0; i < a.numLayers; i++) {
      const l = encoderLayer(g, h, `text_model.encoder.layers.${i}`, a, mask);
      saved.push(l.saved);
      h = l.out;
    }
  const fin = layerNorm(
    g,
    h,
    g.weight('text_model.final_layer_norm.weight', [D]),
    g.weight('text_model.final_layer_norm.bias', [D]),
    a.layerNormEps,
  );
  const pooled = g.op('Squeeze', [g.matmul(g.op('Unsqueeze', [eot, g.ints([1])]), fin.y), g.ints([1])]);
  const wp = g.int8 ? '' : g.weight('text_projection.weight', [a.projectionDim, D]);
  g.name(
    g.int8 ? g.linearByKey(pooled, 'text_projection.weight', [a.projectionDim, D]) : linear(g, pooled, wp),
    'text_embeds',
  );
  const textOut: ValueSpec = { name: 'text_embeds', type: 'float32', dims: ['batch', a.projectionDim] };
  if (!withGrad) return { name: 'vlfer_clip_text_forward', outputs: [textOut] };
  // backward
  const dPooled = g.matmul(cot, wp);
  let d = g.matmul(g.op('Unsqueeze', [eot, g.ints([2])]), g.op('Unsqueeze', [dPooled, g.ints([1])]));
  d = layerNormBackward(g, d, fin.saved);
  for (let i = a.numLayers - 1; i >= 0; i--) d = encoderLayerBackward(g, d, saved[i]!, a);
  g.name(d, 'grad_inputs_embeds');
  return {
    name: 'vlfer_clip_text_vjp',
    outputs: [textOut, { name: 'grad_inputs_embeds', type: 'float32', dims: ['batch', 'seq', D] }],
  };
}

/** The vision forward up to `image_embeds`, keeping what the backward reads. */
function visionForward(g: Graph, a: ClipTowerArch, px: string) {
  const D = a.hiddenSize;
  const P = a.patchSize!;
  const S = a.imageSize!;
  const tokens = (S / P) ** 2 + 1;
  const wPatch = g.weight('vision_model.embeddings.patch_embedding.weight', [D, 3, P, P]);
  const cls = g.weight('vision_model.embeddings.class_embedding', [D]);
  const pos = g.weight('vision_model.embeddings.position_embedding.weight', [tokens, D]);
  const conv = g.op('Conv', [px, wPatch], { strides: [P, P], kernel_shape: [P, P] }); // [B, D, g, g]
  const patches = g.op('Transpose', [g.op('Reshape', [conv, g.ints([0, D, -1])])], { perm: [0, 2, 1] }); // [B, g², D]
  const B = g.op('Gather', [g.op('Shape', [px]), g.ints([0])], { axis: 0 });
  const clsB = g.op('Expand', [
    g.op('Reshape', [cls, g.ints([1, 1, D])]),
    g.op('Concat', [B, g.ints([1, D])], { axis: 0 }),
  ]);
  let h = g.add(g.op('Concat', [clsB, patches], { axis: 1 }), pos);
  const pre = layerNorm(
    g,
    h,
    g.weight('vision_model.pre_layrnorm.weight', [D]),
    g.weight('vision_model.pre_layrnorm.bias', [D]),
    a.layerNormEps,
  );
  h = pre.y;
  const layers: LayerSaved[] = [];
  if (g.fused) h = encoderStackFused(g, h, 'vision_model.encoder.layers', a, undefined, true);
  else
    for (let i = 0; i < a.numLayers; i++) {
      // the last layer for the class token only: the rest of its output is never read (`encoderLayer`)
      const l = encoderLayer(g, h, `vision_model.encoder.layers.${i}`, a, undefined, i === a.numLayers - 1);
      layers.push(l.saved);
      h = l.out;
    }
  const clsTok = g.op('Squeeze', [g.op('Slice', [h, g.ints([0]), g.ints([1]), g.ints([1])]), g.ints([1])]); // [B, D]
  const post = layerNorm(
    g,
    clsTok,
    g.weight('vision_model.post_layernorm.weight', [D]),
    g.weight('vision_model.post_layernorm.bias', [D]),
    a.layerNormEps,
  );
  const wp = g.int8 ? '' : g.weight('visual_projection.weight', [a.projectionDim, D]);
  const proj = g.int8 ? g.linearByKey(post.y, 'visual_projection.weight', [a.projectionDim, D]) : linear(g, post.y, wp);
  g.name(proj, 'image_embeds');
  return { pre, layers, post, wp, wPatch };
}

/** d⟨image_embeds, cot⟩ / d(pixel_values) from what the forward kept; output `grad_pixel_values`. */
function visionBackward(
  g: Graph,
  a: ClipTowerArch,
  cot: string,
  f: { pre: LnSaved; layers: LayerSaved[]; post: LnSaved; wp: string; wPatch: string },
): void {
  const D = a.hiddenSize;
  const P = a.patchSize!;
  const grid = a.imageSize! / P;
  const tokens = grid * grid + 1;
  const dCls = layerNormBackward(g, g.matmul(cot, f.wp), f.post); // [B, D]
  const last = a.numLayers - 1;
  let d = g.op('Unsqueeze', [dCls, g.ints([1])]); // [B, 1, D]: the class token's, the last layer's only output
  if (last < 0) d = padFirstToken(g, d, tokens);
  for (let i = last; i >= 0; i--) d = encoderLayerBackward(g, d, f.layers[i]!, a, i === last ? tokens : undefined);
  d = layerNormBackward(g, d, f.pre);
  const dPatches = g.op('Slice', [d, g.ints([1]), g.ints([tokens]), g.ints([1])]); // [B, g², D]
  const dConv = g.op('Reshape', [g.op('Transpose', [dPatches], { perm: [0, 2, 1] }), g.ints([0, D, grid, grid])]);
  g.name(g.op('ConvTranspose', [dConv, f.wPatch], { strides: [P, P], kernel_shape: [P, P] }), 'grad_pixel_values');
}

/**
 * Vision tower: inputs `pixel_values` [B, 3, S, S], `cotangent` [B, E] and the weights.
 * Outputs `image_embeds` [B, E] and `grad_pixel_values` [B, 3, S, S].
 */
export function visionTowerVjpModel(a: ClipTowerArch, options: TowerGraphOptions = {}): Uint8Array {
  return clipGraphModel((options.withGradient ?? true) ? 'visionVjp' : 'visionForward', a, options);
}

/** The nodes of `visionTowerVjpModel` in `g`, with or without the backward. */
function visionTower(g: Graph, a: ClipTowerArch, withGrad: boolean): GraphOutputs {
  const S = a.imageSize!;
  const px = g.input('pixel_values', ['batch', 3, S, S]);
  const cot = withGrad ? g.input('cotangent', ['batch', a.projectionDim]) : '';
  const f = visionForward(g, a, px);
  const imageOut: ValueSpec = { name: 'image_embeds', type: 'float32', dims: ['batch', a.projectionDim] };
  if (!withGrad) return { name: 'vlfer_clip_vision_forward', outputs: [imageOut] };
  visionBackward(g, a, cot, { pre: f.pre.saved, layers: f.layers, post: f.post.saved, wp: f.wp, wPatch: f.wPatch });
  return {
    name: 'vlfer_clip_vision_vjp',
    outputs: [imageOut, { name: 'grad_pixel_values', type: 'float32', dims: ['batch', 3, S, S] }],
  };
}

/** What the vision backward reads, by graph value name, with its shape (`batch` symbolic), in graph output order. */
export function visionResidualSpecs(a: ClipTowerArch): { name: string; dims: (number | string)[] }[] {
  const D = a.hiddenSize,
    H = a.numHeads,
    hd = D / H,
    I = a.intermediateSize;
  const T = (a.imageSize! / a.patchSize!) ** 2 + 1;
  const out = [
    { name: 'res_pre_x', dims: ['batch', T, D] },
    { name: 'res_pre_mean', dims: ['batch', T, 1] },
    { name: 'res_pre_rstd', dims: ['batch', T, 1] },
  ];
  for (let i = 0; i < a.numLayers; i++) {
    const Q = i === a.numLayers - 1 ? 1 : T; // the last layer's query and residual path: the class token only
    out.push(
      { name: `res_${i}_ln1_x`, dims: ['batch', T, D] },
      { name: `res_${i}_ln1_mean`, dims: ['batch', T, 1] },
      { name: `res_${i}_ln1_rstd`, dims: ['batch', T, 1] },
      { name: `res_${i}_ln2_x`, dims: ['batch', Q, D] },
      { name: `res_${i}_ln2_mean`, dims: ['batch', Q, 1] },
      { name: `res_${i}_ln2_rstd`, dims: ['batch', Q, 1] },
      { name: `res_${i}_q`, dims: ['batch', H, Q, hd] },
      { name: `res_${i}_k`, dims: ['batch', H, T, hd] },
      { name: `res_${i}_v`, dims: ['batch', H, T, hd] },
      { name: `res_${i}_p`, dims: ['batch', H, Q, T] },
      { name: `res_${i}_z`, dims: ['batch', Q, I] },
    );
  }
  out.push(
    { name: 'res_post_x', dims: ['batch', D] },
    { name: 'res_post_mean', dims: ['batch', 1] },
    { name: 'res_post_rstd', dims: ['batch', 1] },
  );
  return out;
}

/** The names of the residuals the vision backward reads (`res_*`), in the order `visionTowerSplitModels` lists them. */
export function visionResidualNames(a: ClipTowerArch): string[] {
  return visionResidualSpecs(a).map((r) => r.name);
}

/**
 * The vision VJP split in two graphs, so a training step runs the tower forward once: `forward` maps
 * `pixel_values` [B, 3, S, S] to `image_embeds` [B, E] and the residuals `res_*` the backward reads (layer-norm
 * inputs, row means and 1/σ from the fused `LayerNormalization`, attention q, k, v and probabilities, MLP
 * pre-activations; x̂ and QuickGELU's sigmoid are recomputed);
 * `backward` maps the residuals and `cotangent` [B, E] to `grad_pixel_values` [B, 3, S, S]. Same arithmetic as
 * `visionTowerVjpModel`. `residuals` lists the names in order.
 */
export function visionTowerSplitModels(
  a: ClipTowerArch,
  options: Omit<TowerGraphOptions, 'withGradient'> = {},
): { forward: Uint8Array; backward: Uint8Array; residuals: string[] } {
  const forward = clipGraphModel('visionForwardResiduals', a, options);
  const backward = clipGraphModel('visionBackward', a, options);
  return { forward, backward, residuals: visionResidualNames(a) };
}

/** The forward half of `visionTowerSplitModels` in `fg`: `pixel_values` → `image_embeds` and the residuals by name. */
function visionForwardResidualsGraph(fg: Graph, a: ClipTowerArch): GraphOutputs {
  const S = a.imageSize!;
  const res = visionResidualSpecs(a);
  const f = visionForward(fg, a, fg.input('pixel_values', ['batch', 3, S, S]));
  const ln = (s: LnSaved) => [s.x, s.mean, s.rstd];
  const values: string[] = ln(f.pre.saved);
  for (const l of f.layers) values.push(...ln(l.ln1), ...ln(l.ln2), l.q, l.k, l.v, l.p, l.z);
  values.push(...ln(f.post.saved));
  values.forEach((v, i) => fg.rename(v, res[i]!.name));
  return {
    name: 'vlfer_clip_vision_forward_residuals',
    outputs: [
      { name: 'image_embeds', type: 'float32', dims: ['batch', a.projectionDim] },
      ...res.map((r) => ({ name: r.name, type: 'float32' as const, dims: r.dims })),
    ],
  };
}

/**
 * The backward half of `visionTowerSplitModels` in `bg`: the residuals (graph inputs) and `cotangent` [B, E] →
 * `grad_pixel_values` [B, 3, S, S], QuickGELU's sigmoid recomputed from the MLP pre-activations.
 */
function visionBackwardFromResidualsGraph(bg: Graph, a: ClipTowerArch): GraphOutputs {
  const S = a.imageSize!;
  const D = a.hiddenSize;
  const cot = bg.input('cotangent', ['batch', a.projectionDim]);
  const inp = Object.fromEntries(visionResidualSpecs(a).map((r) => [r.name, bg.input(r.name, r.dims)]));
  const layers = Array.from({ length: a.numLayers }, (_, i) => residualLayer(bg, a, inp, i));
  visionBackward(bg, a, cot, {
    pre: {
      x: inp.res_pre_x!,
      mean: inp.res_pre_mean!,
      rstd: inp.res_pre_rstd!,
      gamma: bg.weight('vision_model.pre_layrnorm.weight', [D]),
    },
    layers,
    post: {
      x: inp.res_post_x!,
      mean: inp.res_post_mean!,
      rstd: inp.res_post_rstd!,
      gamma: bg.weight('vision_model.post_layernorm.weight', [D]),
    },
    wp: bg.weight('visual_projection.weight', [a.projectionDim, D]),
    wPatch: bg.weight('vision_model.embeddings.patch_embedding.weight', [D, 3, a.patchSize!, a.patchSize!]),
  });
  return {
    name: 'vlfer_clip_vision_backward',
    outputs: [{ name: 'grad_pixel_values', type: 'float32', dims: ['batch', 3, S, S] }],
  };
}

/** A graph's name and outputs, once its nodes are in a `Graph`. */
interface GraphOutputs {
  name: string;
  outputs: ValueSpec[];
}

/**
 * The graphs of a CLIP tower: `textVjp` / `textForward` (`textTowerVjpModel` with and without the gradient),
 * `visionVjp` / `visionForward` (`visionTowerVjpModel`), `visionForwardResiduals` / `visionBackward` (the two
 * halves of `visionTowerSplitModels`).
 */
export type ClipGraphKind =
  'textVjp' | 'textForward' | 'visionVjp' | 'visionForward' | 'visionForwardResiduals' | 'visionBackward';

/** Each graph's nodes (`gradients`: it has a backward) — the one source of both its model and its weight list. */
const CLIP_GRAPHS: Record<ClipGraphKind, { gradients: boolean; nodes: (g: Graph, a: ClipTowerArch) => GraphOutputs }> =
  {
    textVjp: { gradients: true, nodes: (g, a) => textTower(g, a, true) },
    textForward: { gradients: false, nodes: (g, a) => textTower(g, a, false) },
    visionVjp: { gradients: true, nodes: (g, a) => visionTower(g, a, true) },
    visionForward: { gradients: false, nodes: (g, a) => visionTower(g, a, false) },
    visionForwardResiduals: { gradients: true, nodes: visionForwardResidualsGraph },
    visionBackward: { gradients: true, nodes: visionBackwardFromResidualsGraph },
  };

/**
 * The ONNX model of graph `kind` for tower architecture `a` (the text architecture for the `text*` kinds), its
 * inputs and outputs as `textTowerVjpModel`, `visionTowerVjpModel` and `visionTowerSplitModels` document;
 * `options.withGradient` is ignored (the kind says it).
 * @throws DataFormatError naming `options.weightsFile` and a stored weight that is missing or misshapen
 */
export function clipGraphModel(kind: ClipGraphKind, a: ClipTowerArch, options: TowerGraphOptions = {}): Uint8Array {
  const { gradients, nodes } = CLIP_GRAPHS[kind];
  const g = new Graph(options, gradients);
  const { name, outputs } = nodes(g, a);
  return g.model(name, outputs);
}

/**
 * The weights graph `kind` reads (Hugging Face keys with the shapes `a` implies, each once, in the order first read),
 * found by running the same node builders as `clipGraphModel` in a mode that lists each weight instead of adding it:
 * no ONNX serialization, no weight values read, no int8 quantization — a fraction of a graph build, and a list that
 * cannot drift from the graph. With `options.weights`, each is checked against them as a graph build checks it (the
 * weights' dtype is float32 by the `ClipWeights` type: files of other float dtypes are converted when read).
 * @throws DataFormatError naming `options.weightsFile` and the first weight missing or of another shape
 * @throws InvalidArgumentError for `quantize: 'int8'` with a kind that has a backward (as `clipGraphModel` does)
 */
export function clipGraphWeights(
  kind: ClipGraphKind,
  a: ClipTowerArch,
  options: Pick<TowerGraphOptions, 'weights' | 'weightsFile' | 'quantize' | 'ortFusedForward'> = {},
): ClipWeightSpec[] {
  const { gradients, nodes } = CLIP_GRAPHS[kind];
  const g = new Graph(options, gradients, true);
  nodes(g, a);
  return [...g.read].map(([name, dims]) => ({ name, dims }));
}

/** What the backward of encoder layer `i` reads: its residual inputs (`inp`, by name) and its weights in `bg`. */
function residualLayer(bg: Graph, a: ClipTowerArch, inp: Record<string, string>, i: number): LayerSaved {
  const D = a.hiddenSize,
    I = a.intermediateSize;
  const w = (n: string, dims: number[]) => bg.weight(`vision_model.encoder.layers.${i}.${n}`, dims);
  const z = inp[`res_${i}_z`]!;
  return {
    ln1: lnInputs(inp, `res_${i}_ln1`, w('layer_norm1.weight', [D])),
    ln2: lnInputs(inp, `res_${i}_ln2`, w('layer_norm2.weight', [D])),
    q: inp[`res_${i}_q`]!,
    k: inp[`res_${i}_k`]!,
    v: inp[`res_${i}_v`]!,
    p: inp[`res_${i}_p`]!,
    h1: '',
    z,
    sig: bg.op('Sigmoid', [bg.mul(z, bg.f(1.702))]),
    wq: w('self_attn.q_proj.weight', [D, D]),
    wk: w('self_attn.k_proj.weight', [D, D]),
    wv: w('self_attn.v_proj.weight', [D, D]),
    wo: w('self_attn.out_proj.weight', [D, D]),
    w1: w('mlp.fc1.weight', [I, D]),
    w2: w('mlp.fc2.weight', [D, I]),
  };
}

/** A layer norm's residual inputs `<prefix>_x`, `_mean`, `_rstd` with its γ. */
function lnInputs(inp: Record<string, string>, prefix: string, gamma: string): LnSaved {
  return { x: inp[`${prefix}_x`]!, mean: inp[`${prefix}_mean`]!, rstd: inp[`${prefix}_rstd`]!, gamma };
}
