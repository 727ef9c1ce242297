import * as ort from 'onnxruntime-node';
import {
  assertShape,
  checkOneOf,
  checkPositiveInteger,
  InvalidArgumentError,
  type ComputeDevice,
  type Tensor,
  type Tensor2D,
  type Tensor4D,
} from '@vlfer/core';
import type { ClipArch } from '../clip-arch.js';
import {
  clipGraphModel,
  clipGraphWeights,
  forwardGraphsId,
  visionResidualNames,
  visionResidualSpecs,
  type ClipGraphKind,
  type ClipWeights,
  type TowerGraphOptions,
} from '../clip-graphs.js';
import type { ClipPreprocessorConfig } from '../preprocess.js';
import { keepFreedMemory } from './freed-memory.js';
import { DirectSession, directRunsStatus, directSessionRefusal } from './ort-direct.js';
import { assertWebGpu } from './webgpu.js';
import {
  ownTokenizerNotice,
  loadClipWeightsAsync,
  resolveClipSource,
  type ClipWeightsBundle,
  type LoadWeightsOptions,
} from './clip-source.js';
import { ortSessionOptions as sessionOptions, type ThreadOptions } from '@vlfer/core/node';

export type Tensor3D = Tensor<'R3'>;

/**
 * Where CLIP weights go by default: stored in the graphs on a GPU (uploaded once) and, on a CPU, for models with the
 * gradient graphs (`gradients`, HESP): ONNX Runtime prepacks stored weights once instead of at every matrix product,
 * and a B/32 HESP step of 8 clips × 8 frames took 8.92 s against 9.50 s with weights fed (medians of 5 interleaved
 * steps, 2 threads, AVX2 AMD EPYC), for 0.6 GiB more peak memory (3.0–3.1 against 2.4–2.5 GiB; PyTorch's step
 * peaks at 3.9–4.0). Forward-only models on a CPU (`loadClip`) feed them at every run: fast to load, least memory.
 * @param gradients whether the model has the gradient graphs (`ClipGradientModelOptions.gradients`) @default true
 */
export function defaultWeightsIn(device: ComputeDevice, gradients = true): 'inputs' | 'graph' {
  return device !== 'cpu' || gradients ? 'graph' : 'inputs';
}

/**
 * An asked `weightsIn`: one of 'inputs' and 'graph', and not 'inputs' for int8 layers (which store their quantized
 * weights). @throws InvalidArgumentError naming `functionName`'s `weightsIn`
 */
export function checkWeightsIn(weightsIn: unknown, quantized: boolean, functionName: string): void {
  checkOneOf(weightsIn, ['inputs', 'graph'] as const, { functionName, argument: 'weightsIn' });
  if (quantized && weightsIn === 'inputs')
    throw new InvalidArgumentError({
      functionName,
      argument: 'weightsIn',
      message: `'inputs' is not possible with int8 layers, which store their quantized weights in the graphs (leave weightsIn out)`,
    });
}

/** Where a model's float32 weights go: `options.weightsIn`, or `defaultWeightsIn` for its device and graphs. */
function weightsInOf(options: ClipGradientModelOptions): 'inputs' | 'graph' {
  return options.weightsIn ?? defaultWeightsIn(options.device ?? 'cpu', options.gradients ?? true);
}

/**
 * Where a loaded model's float32 weights go: `options.weightsIn` when given; else `defaultWeightsIn`, except that the
 * gradient graphs on a CPU store them only where ONNX Runtime reads them from `model.safetensors` itself
 * (`bundle.externalDir`; not with `externalData: false`). Weights that would be copied into the graphs (an OpenAI
 * `.pt`, an F16/BF16 file) are fed, as before: copies in the graphs' bytes, in ONNX Runtime and prepacked would hold
 * them three times while loading. Without `bundle`: the choice before the file is read (which decides whether the
 * weights are read by reference).
 */
function resolvedWeightsIn(options: ClipGradientModelOptions, bundle?: ClipWeightsBundle): 'inputs' | 'graph' {
  if (options.weightsIn) return options.weightsIn;
  const cpu = (options.device ?? 'cpu') === 'cpu';
  if (cpu && (options.externalData === false || (bundle && !bundle.externalDir))) return 'inputs';
  return weightsInOf(options);
}

/** The graph builders' weight options: stored in the graph ('graph', and always when quantized) or fed as inputs. */
function storedWeights(
  options: ClipGradientModelOptions,
  weights: ClipWeights,
  weightsFile: string,
): TowerGraphOptions {
  if (options.quantize)
    return { weights, weightsFile, quantize: options.quantize, int8ScalesHook: options.int8ScalesHook };
  const device = options.device ?? 'cpu';
  // forward graphs with ONNX Runtime's fused attention and QuickGELU on the CPU, where they were measured (sessions
  // created with 64–78 % of the CPU time); a GPU EP keeps the standard ops until verified there
  const fused = { ortFusedForward: device === 'cpu' };
  return weightsInOf(options) === 'graph' ? { weights, weightsFile, ...fused } : fused;
}

/**
 * What a vision forward kept for its backward (`ClipGradientModel.visionForwardResiduals` → `visionBackward`):
 * layer-norm, attention and MLP activations of `batch` images, held as ONNX Runtime tensors. Opaque.
 */
export interface VisionResiduals {
  readonly batch: number;
  readonly tensors: Readonly<Record<string, ort.Tensor>>;
}

export interface ClipGradientModelOptions extends LoadWeightsOptions, ThreadOptions {
  /** @default 'cpu' */
  device?: ComputeDevice;
  /**
   * `'graph'`: weights stored in the graphs as initializers, so ONNX Runtime prepacks them and a GPU EP uploads them
   * once; `'inputs'`: weights fed at every run (one graph per architecture, fast to load, least memory).
   * @default `defaultWeightsIn(device, gradients)`: 'graph' on a GPU and for the gradient graphs on a CPU (HESP:
   * a faster step for more memory, figures there); 'inputs' for forward-only models on a CPU (`gradients: false`).
   * On a CPU, weights that ONNX Runtime cannot read from `model.safetensors` itself (an OpenAI `.pt`, an F16/BF16
   * file, `externalData: false`) are fed. The features of the two differ in the last bits, so `forwardGraphs`
   * tells them apart.
   */
  weightsIn?: 'inputs' | 'graph';
  /**
   * With `weightsIn: 'graph'` and a Hugging Face `model.safetensors` whose weights are all float32: `true` stores
   * them in the graphs as ONNX external data pointing into the file itself, so ONNX Runtime reads them and the file is
   * never read into the JS heap (only its header, and the token-embedding / patch-embedding tables when first used);
   * `false` copies the weights into the graphs (the way before; for comparison). Other files (F16/BF16/F64, an OpenAI
   * `.pt`) are always copied, with the reason given to `log`. @default true
   */
  externalData?: boolean;
  /**
   * With weights stored in the graphs: let ONNX Runtime fold constants, which turns each linear layer's `Transpose(W)`
   * into a transposed copy of W before prepacking (the way before; for comparison, `pnpm bench:load`). Off, the
   * transposes fuse into the MatMuls and W is prepacked straight from the file: bit-identical outputs, about half
   * the CPU time to create a session. @default false
   */
  foldConstants?: boolean;
  /** Build the VJP (gradient) graphs too. @default true */
  gradients?: boolean;
  /** Which towers to build. @default both */
  towers?: readonly ('vision' | 'text')[];
  /** Notices worth showing (today: why weights stored in the graphs could not be read from the file directly). */
  log?: (line: string) => void;
  /**
   * `'int8'`: forward towers with int8 linear layers (`TowerGraphOptions.quantize`); needs `gradients: false`,
   * stores the (quantized) weights in the graphs.
   */
  quantize?: 'int8';
  /** Testing: alter the int8 per-channel scales of a weight (`TowerGraphOptions.int8ScalesHook`). */
  int8ScalesHook?: (key: string, scales: Float32Array) => void;
  /**
   * ONNX Runtime session profiling: each session writes a Chrome-trace JSON `<profile>-<session>_<time>.json`
   * (per-node `dur` in µs, `args.op_name`) when `endProfiling` or `release` is called. For benchmarks.
   */
  profile?: string;
  /**
   * On a CPU, call `keepFreedMemory` (glibc's malloc keeps freed blocks for reuse, for the whole process): a HESP step
   * then stops faulting in its buffers' pages afresh at every step. `false` leaves the process's malloc as it is.
   * @default true on a CPU for models with gradients; false for forward-only models (`gradients: false`, as
   * `loadClip` loads them), where no gain was measured
   */
  keepFreedMemory?: boolean;
  /**
   * On a CPU, run the vision forward-with-residuals and backward through ONNX Runtime's own C API (`DirectSession`,
   * through the optional `koffi`): ONNX Runtime writes the residuals and the gradient straight into the model's
   * buffers, where onnxruntime-node copies every output into a fresh buffer (1.1 GB per HESP step of 64 ViT-B/32
   * frames). Same library, same options, same bits. `true` throws where it cannot (no koffi, another platform, an
   * option it does not translate); `false` uses onnxruntime-node. @default true on a CPU where it loads
   * (`directRunsStatus`), with the reason given to `log` where it does not
   */
  directRuns?: boolean;
}

/**
 * CLIP towers on forward (and forward + VJP) graphs built in TypeScript (`clip-graphs`), with the weights of a
 * Hugging Face directory (`config.json` + `model.safetensors`) or an OpenAI `.pt` checkpoint: the runtime behind
 * `loadClip` for weight files, and the gradients for prompt learning (HESP, CoOp).
 */
export class ClipGradientModel {
  private readonly pending: Partial<Record<SessionName, Promise<GraphSession>>> = {};
  /**
   * Residual buffers by batch size, back from `visionBackward` for the next forward: ONNX Runtime writes the
   * residuals straight into them (no copy of its own outputs, no fresh pages every step). Emptied by `release`.
   */
  private readonly residualPool = new Map<number, Record<string, ort.Tensor>[]>();
  /** residuals a `visionBackward` has used (their buffers are back in the pool) */
  private readonly consumed = new WeakSet<VisionResiduals>();
  /** set by `release`: no session is created or run after it */
  private released = false;
  /** residuals of forwards whose backward has not run: on a GPU they hold GPU memory until `disposeResiduals` */
  private readonly live = new Set<VisionResiduals>();
  private constructor(
    readonly arch: ClipArch,
    readonly preprocessor: ClipPreprocessorConfig,
    readonly bundle: Omit<ClipWeightsBundle, 'weights'>,
    private readonly weights: ClipWeights,
    /** how to get each session this model has; called once, on first use */
    private readonly sources: Partial<Record<SessionName, () => Promise<GraphSession>>>,
    /**
     * What decides the bits of `visionForwardEmbeds` and `textForwardEmbeds` besides the weights, per tower
     * (`forwardGraphsId`: the graphs' version; standard, ONNX Runtime fused or int8 layers; float32 weights stored or
     * fed). With gradients, the vision embeddings come from the forward-with-residuals graph, which has standard layers.
     */
    readonly forwardGraphs: { readonly vision: string; readonly text: string },
    /**
     * Whether the vision residuals stay on the device (a GPU EP): the forward leaves them in GPU buffers and the
     * backward reads them there (ONNX Runtime IO binding), instead of a round trip through host memory.
     */
    private readonly residualsOnDevice = false,
    /** int8 towers (`ClipGradientModelOptions.quantize`): activations quantized per run, see `visionChunk` */
    private readonly quantized = false,
    /**
     * Whether the vision forward-with-residuals and backward run through ONNX Runtime's C API, writing their outputs
     * in place (`ClipGradientModelOptions.directRuns`).
     */
    readonly directRuns = false,
  ) {}

  /**
   * Both towers' sessions are created when first used (a tower never used costs no session and, with weights fed
   * or read by ONNX Runtime from model.safetensors, none of its weights are read), and so are their graphs: each is
   * built in TypeScript when its session is created. Here, only the weights each graph reads (`clipGraphWeights`,
   * listed by the graph builders themselves without building) are checked against the file, names and shapes, so a
   * missing or misshapen key still fails the load. Weights copied into the graphs (an F16/BF16 file, an OpenAI
   * `.pt`, `externalData: false`) make large graphs: those sessions are created here, one at a time.
   * @param model a Hugging Face CLIP directory (config.json, model.safetensors) or an OpenAI `.pt` checkpoint
   * @throws DataFormatError naming the weights file and the missing or misshapen key
   */
  static async load(model: string, asked: ClipGradientModelOptions = {}): Promise<ClipGradientModel> {
    if (asked.quantize !== undefined)
      checkOneOf(asked.quantize, ['int8'] as const, { functionName: 'ClipGradientModel.load', argument: 'quantize' });
    if (asked.weightsIn !== undefined)
      checkWeightsIn(asked.weightsIn, asked.quantize === 'int8', 'ClipGradientModel.load');
    const source = resolveClipSource(model, { backend: 'graphs', functionName: 'ClipGradientModel.load' });
    // as loadClip: without an adapter the first run failed with ONNX Runtime's webgpu_context.cc assertion
    if (asked.device === 'webgpu') {
      directRuns(asked, {}); // a CPU-only option asked of a GPU is refused as such first
      await assertWebGpu(`ClipGradientModel.load(${model})`);
    }
    // weights are read from model.safetensors when first needed; stored in the graphs, ONNX Runtime reads them
    // an OpenAI .pt is read and parsed without blocking the event loop (options.signal, options.onProgress)
    const byReference = resolvedWeightsIn(asked) !== 'graph' || asked.externalData !== false;
    const bundle = await loadClipWeightsAsync(source, asked, { byReference });
    const options = { ...asked, weightsIn: resolvedWeightsIn(asked, bundle) };
    const inGraph = options.weightsIn === 'graph';
    const { arch, weights, weightsFile } = bundle;
    if (asked.tokenizer !== undefined && bundle.tokenizer !== asked.tokenizer)
      options.log?.(ownTokenizerNotice(bundle.tokenizer, asked.tokenizer));
    // a GPU keeps the vision residuals in its own buffers between the forward and the backward
    const residualsOnDevice = (options.device ?? 'cpu') !== 'cpu';
    // int8 layers store their quantized weights whatever weightsIn says: nothing float32 is copied then
    if (inGraph && !bundle.externalDir && !options.quantize)
      options.log?.(
        `${weightsFile}: weights copied into the graphs, not read from the file by ONNX Runtime (${bundle.notByReference ?? 'externalData: false'})`,
      );
    const stored = storedWeights(options, weights, weightsFile);
    const { sources, direct } = await sessionSources(bundle, options, stored, residualsOnDevice);
    const { weights: _w, ...rest } = bundle;
    void _w;
    const forwardGraphs = {
      // visionForwardEmbeds runs the visionForward graph, or without one (gradients) the forward with residuals
      vision: sources.visionForward ? forwardGraphsId(stored) : forwardGraphsId({ weights: stored.weights }),
      text: forwardGraphsId(stored), // textForwardEmbeds always runs the textForward graph
    };
    return new ClipGradientModel(
      arch,
      bundle.preprocessor,
      rest,
      weights,
      sources,
      forwardGraphs,
      residualsOnDevice,
      options.quantize === 'int8',
      direct,
    );
  }

  /**
   * `s.run(feeds, fetches)`, where a `release()` that came while the run waited for its turn (ONNX Runtime runs
   * after a `setImmediate`, as `DirectSession` does) fails it as every later call fails: "the model was released".
   */
  private async runOn(
    s: GraphSession,
    fn: string,
    feeds: Record<string, ort.Tensor>,
    fetches?: Record<string, ort.Tensor | null>,
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    try {
      return await (fetches ? s.run(feeds, fetches) : s.run(feeds));
    } catch (error) {
      if (this.released)
        throw new InvalidArgumentError({
          functionName: fn,
          argument: 'this',
          message: 'the model was released',
          cause: error,
        });
      throw error;
    }
  }

  private session(name: SessionName, fn: string): Promise<GraphSession> {
    // a session created after release() would never be released, and the model would go on running
    if (this.released)
      throw new InvalidArgumentError({ functionName: fn, argument: 'this', message: 'the model was released' });
    const open = this.sources[name];
    if (!open)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'this',
        message: `this model was loaded without the ${name.startsWith('text') ? 'text' : 'vision'} tower${name === 'text' || name === 'visionResiduals' || name === 'visionBackward' ? ' gradients (gradients: false)' : ''}`,
      });
    return (this.pending[name] ??= open());
  }

  private feeds(session: GraphSession, inputs: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    // mapped weights are the file's pages, read as the run touches them: the file must still be the one loaded
    this.bundle.checkWeights?.();
    const f: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      if (inputs[name]) f[name] = inputs[name];
      else {
        const w = this.weights[name]!;
        f[name] = new ort.Tensor('float32', w.data, w.dims);
      }
    }
    return f;
  }

  /**
   * The patch-embedding convolution's output (CLIP `conv1`) for one image, as HESP's CAM uses it.
   * @param pixels [3, S, S] @returns [D, g, g] with g = S / patch
   */
  patchEmbeddings(pixels: Float32Array): { data: Float32Array; dims: [number, number, number] } {
    const { hiddenSize: D, patchSize: P, imageSize: S } = this.arch.vision as Required<ClipArch['vision']>;
    if (pixels.length !== 3 * S * S)
      throw new InvalidArgumentError({
        functionName: 'patchEmbeddings',
        argument: 'pixels',
        message: `expected 3×${S}×${S} values, got ${pixels.length}`,
      });
    this.bundle.checkWeights?.();
    const w = this.weights['vision_model.embeddings.patch_embedding.weight']!.data;
    const g = S / P;
    const out = new Float32Array(D * g * g);
    for (let d = 0; d < D; d++)
      for (let gy = 0; gy < g; gy++)
        for (let gx = 0; gx < g; gx++) {
          let s = 0;
          for (let c = 0; c < 3; c++)
            for (let ky = 0; ky < P; ky++) {
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
    const table = this.weights['text_model.embeddings.token_embedding.weight'];
    if (!table)
      throw new InvalidArgumentError({
        functionName: 'tokenEmbeddings',
        argument: 'this',
        message: 'no token embedding table',
      });
    const [vocab, d] = table.dims as [number, number];
    if (ids.length !== dims[0] * dims[1])
      throw new InvalidArgumentError({
        functionName: 'tokenEmbeddings',
        argument: 'ids',
        message: `${ids.length} ids for dims [${dims.join(', ')}]`,
      });
    this.bundle.checkWeights?.();
    const out = new Float32Array(dims[0] * dims[1] * d);
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new InvalidArgumentError({
          functionName: 'tokenEmbeddings',
          argument: 'ids',
          message: `index ${i} holds ${id}, outside the vocabulary of ${vocab}`,
        });
      out.set(table.data.subarray(id * d, (id + 1) * d), i * d);
    });
    return { dtype: 'float32', data: out, dims: [dims[0], dims[1], d] };
  }

  /**
   * The text tower's inputs [B, L, D]: D its hidden size, and L at most `maxPositions` (77 for CLIP), the position
   * embeddings it has; anything else is refused.
   */
  private checkTextInputs(inputsEmbeds: Tensor3D, fn: string): void {
    assertShape(inputsEmbeds, [null, null, this.arch.text.hiddenSize], 'inputsEmbeds', fn);
    const max = this.arch.text.maxPositions ?? 77;
    if (inputsEmbeds.dims[1] > max)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'inputsEmbeds',
        message: `has ${inputsEmbeds.dims[1]} tokens; the text tower has position embeddings for ${max}`,
      });
  }

  private onehot(eotIndex: readonly number[], b: number, l: number, fn: string): Float32Array {
    if (eotIndex.length !== b)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'eotIndex',
        message: `has ${eotIndex.length} entries for ${b} sequences`,
      });
    const onehot = new Float32Array(b * l);
    eotIndex.forEach((p, i) => {
      if (!(Number.isInteger(p) && p >= 0 && p < l))
        throw new InvalidArgumentError({
          functionName: fn,
          argument: 'eotIndex',
          message: `index ${i} is ${p}, outside [0, ${l})`,
        });
      onehot[i * l + p] = 1;
    });
    return onehot;
  }

  /**
   * The text tower's inputs cut to the positions that reach `text_embeds`. The tower is causal (a token attends to
   * itself and the tokens before it), so the positions after the last <|endoftext|> reach no output: a float32 run
   * keeps the first max(eotIndex) + 1 of them (at least 2), [B, L', D] (a CoOp prompt of 16 contexts: 20 of 77;
   * the text forward and VJP then took 0.07 and 0.18 s instead of 0.23 and 0.54 s for 5 B/32 prompts,
   * apps/bench/README.md). The text_embeds are the same bits. int8 towers keep every position: their activations
   * are quantized with one scale per run, which the padding positions take part in. The inputs are checked by the
   * caller (`checkTextInputs`). @returns the inputs and the one-hot of the EOT [B, L']
   */
  private textRun(
    inputsEmbeds: Tensor3D,
    eotIndex: readonly number[],
    fn: string,
  ): { inputs: ort.Tensor; eot: ort.Tensor; kept: number } {
    const [b, l, d] = inputsEmbeds.dims;
    const onehot = this.onehot(eotIndex, b, l, fn); // checks eotIndex
    // at least 2 positions: a run of one token row (one prompt ending at position 0) takes ONNX Runtime's
    // single-row product, which rounds differently (see visionRuns)
    const kept = this.quantized ? l : Math.min(l, Math.max(2, eotIndex.reduce((m, p) => Math.max(m, p), 0) + 1));
    return {
      inputs: new ort.Tensor('float32', samePositions(inputsEmbeds.data, b, l, kept, d), [b, kept, d]),
      eot: new ort.Tensor('float32', samePositions(onehot, b, l, kept, 1), [b, kept]),
      kept,
    };
  }

  /**
   * text_embeds and d⟨text_embeds, cotangent⟩ / d(inputs_embeds), run on the positions up to the last EOT
   * (`textRun`; the gradient of the positions after it is zero).
   * @param inputsEmbeds [B, L, D] @param eotIndex [B] position of the first <|endoftext|> @param cotangent [B, E]
   * @returns text_embeds [B, E] and the gradient [B, L, D]
   */
  async textVjp(
    inputsEmbeds: Tensor3D,
    eotIndex: readonly number[],
    cotangent: Tensor2D,
  ): Promise<{ textEmbeds: Tensor2D; gradInputsEmbeds: Tensor3D }> {
    const s = await this.session('text', 'textVjp');
    const [b, l, d] = inputsEmbeds.dims;
    // the inputs, then the cotangent, then eotIndex (in textRun)
    this.checkTextInputs(inputsEmbeds, 'textVjp');
    assertShape(cotangent, [b, this.arch.text.projectionDim], 'cotangent', 'textVjp');
    const run = this.textRun(inputsEmbeds, eotIndex, 'textVjp');
    const out = await this.runOn(
      s,
      'textVjp',
      this.feeds(s, {
        inputs_embeds: run.inputs,
        eot_onehot: run.eot,
        cotangent: new ort.Tensor('float32', cotangent.data, [...cotangent.dims]),
      }),
    );
    const grad = samePositions(out.grad_inputs_embeds!.data as Float32Array, b, run.kept, l, d);
    return {
      textEmbeds: {
        dtype: 'float32',
        data: out.text_embeds!.data as Float32Array,
        dims: [b, this.arch.text.projectionDim],
      },
      gradInputsEmbeds: { dtype: 'float32', data: grad, dims: [b, l, d] },
    };
  }

  /** image_embeds and d⟨image_embeds, cotangent⟩ / d(pixel_values). @param pixels [B, 3, S, S] @param cotangent [B, E] */
  async visionVjp(pixels: Tensor4D, cotangent: Tensor2D): Promise<{ imageEmbeds: Tensor2D; gradPixels: Tensor4D }> {
    const { imageEmbeds, residuals } = await this.visionForwardResiduals(pixels, 'visionVjp');
    return { imageEmbeds, gradPixels: await this.visionBackward(residuals, cotangent) };
  }

  /**
   * image_embeds and the residuals the backward needs: the first half of `visionVjp`, for callers whose cotangent
   * depends on the embeddings (a training step's loss), so the tower forward runs once. The model holds the residuals
   * (GPU buffers on a GPU) until the `visionBackward` that uses them, `disposeResiduals`, or `release`, not the
   * garbage collector: a caller that runs no backward (a step that failed on the way) disposes them.
   * @param pixels [B, 3, S, S] @returns image_embeds [B, E] and the residuals of these B images
   */
  async visionForwardResiduals(
    pixels: Tensor4D,
    fn = 'visionForwardResiduals',
  ): Promise<{ imageEmbeds: Tensor2D; residuals: VisionResiduals }> {
    const s = await this.session('visionResiduals', fn);
    const S = this.arch.vision.imageSize!;
    assertShape(pixels, [null, 3, S, S], 'pixels', fn);
    const b = pixels.dims[0];
    const feeds = this.feeds(s, { pixel_values: new ort.Tensor('float32', pixels.data, [...pixels.dims]) });
    let tensors: Record<string, ort.Tensor>;
    let out: ort.InferenceSession.OnnxValueMapType;
    if (this.residualsOnDevice) {
      // ONNX Runtime allocates them on the GPU (preferredOutputLocation 'gpu-buffer'); the backward disposes them
      out = await this.runOn(s, fn, feeds);
      tensors = Object.fromEntries(s.outputNames.filter((n) => n.startsWith('res_')).map((n) => [n, out[n]!]));
    } else {
      tensors = this.residualPool.get(b)?.pop() ?? residualBuffers(this.arch.vision, b);
      // every output pre-allocated: a session run through ONNX Runtime's C API writes them all in place (directRuns)
      const embeds = new ort.Tensor('float32', new Float32Array(b * this.arch.vision.projectionDim), [
        b,
        this.arch.vision.projectionDim,
      ]);
      out = await this.runOn(s, fn, feeds, { image_embeds: embeds, ...tensors });
    }
    const e = out.image_embeds!;
    const residuals = { batch: b, tensors };
    this.live.add(residuals);
    return {
      imageEmbeds: { dtype: 'float32', data: e.data as Float32Array, dims: [b, this.arch.vision.projectionDim] },
      residuals,
    };
  }

  /**
   * d⟨image_embeds, cotangent⟩ / d(pixel_values) from a forward's residuals, which it uses up: their buffers go back
   * to the model for the next forward, so each residuals object serves one backward.
   * @param cotangent [B, E] @returns [B, 3, S, S] @throws InvalidArgumentError for residuals already used
   */
  async visionBackward(residuals: VisionResiduals, cotangent: Tensor2D): Promise<Tensor4D> {
    const s = await this.session('visionBackward', 'visionBackward');
    const S = this.arch.vision.imageSize!;
    const b = residuals.batch;
    assertShape(cotangent, [b, this.arch.vision.projectionDim], 'cotangent', 'visionBackward');
    if (this.consumed.has(residuals))
      throw new InvalidArgumentError({
        functionName: 'visionBackward',
        argument: 'residuals',
        message: 'already used by an earlier visionBackward (run visionForwardResiduals again)',
      });
    const grad = new ort.Tensor('float32', new Float32Array(b * 3 * S * S), [b, 3, S, S]);
    const out = await this.runOn(
      s,
      'visionBackward',
      this.feeds(s, {
        ...residuals.tensors,
        cotangent: new ort.Tensor('float32', cotangent.data, [...cotangent.dims]),
      }),
      { grad_pixel_values: grad },
    );
    this.disposeResiduals(residuals);
    return { dtype: 'float32', data: out.grad_pixel_values!.data as Float32Array, dims: [b, 3, S, S] };
  }

  /**
   * Let go of a forward's residuals without a backward (a training step that failed between the two): on a GPU their
   * buffers are released (onnxruntime-node 1.30 frees them only when asked), on the CPU they go back to the model
   * for the next forward. A later `visionBackward` on them is refused. Does nothing for residuals already used.
   */
  disposeResiduals(residuals: VisionResiduals): void {
    if (this.consumed.has(residuals)) return;
    this.consumed.add(residuals);
    this.live.delete(residuals);
    if (this.residualsOnDevice) for (const t of Object.values(residuals.tensors)) t.dispose();
    else {
      const pool = this.residualPool.get(residuals.batch) ?? [];
      pool.push(residuals.tensors as Record<string, ort.Tensor>);
      this.residualPool.set(residuals.batch, pool);
    }
  }

  /**
   * Images per ONNX Runtime run of `visionForwardEmbeds` when the caller gives no `chunk`, and of HESP's vision
   * runs (`HespOptions.chunk`): 16 on the CPU, 64 on a GPU and for int8 towers. The CPU sessions run without a memory
   * arena, so every intermediate is a fresh allocation; at 16 images the largest (an MLP activation, [16, 50, 3072]
   * for B/32) is 9.8 MB instead of 39 MB at 64. A B/32 HESP step of 64 frames, interleaved in one process on a 2-core
   * AMD EPYC, took a median 11.88 s (CPU 22.97 s) in runs of 16 against 13.45 s (CPU 25.18 s) in runs of 64, with
   * the same bits, and the bench's peak RSS fell from 3.5 to 2.4 GiB (apps/bench/README.md, "Runs of 16 images on
   * the CPU"). fp32 results do not depend on it (`visionRuns`). int8 towers quantize each run's activations with one
   * scale (`DynamicQuantizeMatMul`), so an image's int8 embedding depends on the images that share its run: they keep
   * the runs of 64 they always had, so features cached under their recipe stay what they compute.
   */
  get visionChunk(): number {
    return this.residualsOnDevice || this.quantized ? 64 : 16;
  }

  /** How many forwards' residuals are held, waiting for their `visionBackward` or `disposeResiduals`. */
  get residualsHeld(): number {
    return this.live.size;
  }

  /**
   * text_embeds only (no gradient), run on the positions up to the last EOT (`textRun`).
   * @param inputsEmbeds [B, L, D] @param eotIndex [B] position of the first <|endoftext|> @returns [B, E]
   */
  async textForwardEmbeds(inputsEmbeds: Tensor3D, eotIndex: readonly number[]): Promise<Tensor2D> {
    const s = await this.session('textForward', 'textForwardEmbeds');
    const b = inputsEmbeds.dims[0];
    this.checkTextInputs(inputsEmbeds, 'textForwardEmbeds');
    const run = this.textRun(inputsEmbeds, eotIndex, 'textForwardEmbeds');
    const out = await this.runOn(
      s,
      'textForwardEmbeds',
      this.feeds(s, { inputs_embeds: run.inputs, eot_onehot: run.eot }),
    );
    return { dtype: 'float32', data: out.text_embeds!.data as Float32Array, dims: [b, this.arch.text.projectionDim] };
  }

  /**
   * image_embeds only (no gradient), in runs of `chunk` images as `visionRuns` splits them (default `visionChunk`:
   * 16 on the CPU, 64 on a GPU and for int8 towers). fp32 embeddings of B ≥ 2 images do not depend on `chunk` from 2
   * on; int8 ones do (their runs are split without joining, as before). @param pixels [B, 3, S, S]
   * @returns [B, E] @throws InvalidArgumentError when `chunk` is not a positive integer
   */
  async visionForwardEmbeds(pixels: Tensor4D, chunk = this.visionChunk): Promise<Tensor2D> {
    const s = await this.session(
      this.sources.visionForward ? 'visionForward' : 'visionResiduals',
      'visionForwardEmbeds',
    );
    const S = this.arch.vision.imageSize!;
    assertShape(pixels, [null, 3, S, S], 'pixels', 'visionForwardEmbeds');
    const b = pixels.dims[0];
    const e = this.arch.vision.projectionDim;
    const per = 3 * S * S;
    const out = new Float32Array(b * e);
    for (const { start: i, n } of visionRuns(b, chunk, 'visionForwardEmbeds', !this.quantized)) {
      const r = await this.runOn(
        s,
        'visionForwardEmbeds',
        this.feeds(s, {
          pixel_values: new ort.Tensor('float32', pixels.data.subarray(i * per, (i + n) * per), [n, 3, S, S]),
        }),
        // pre-allocated: the residuals' session may be a DirectSession, which writes every fetch in place
        { image_embeds: new ort.Tensor('float32', out.subarray(i * e, (i + n) * e), [n, e]) },
      );
      out.set(r.image_embeds!.data as Float32Array, i * e);
    }
    return { dtype: 'float32', data: out, dims: [b, e] };
  }

  /**
   * Create every session this model has now instead of at first use (the work lazy towers defer: ONNX Runtime reads
   * or maps the weights, optimizes the graphs and prepacks the weights), the sessions at once. After it, the first
   * batch pays only its own run. @throws what session creation throws (e.g. model.safetensors changed since the load)
   */
  async ready(): Promise<void> {
    const names = Object.keys(this.sources) as SessionName[];
    await Promise.all(names.map((name) => this.session(name, 'ready')));
  }

  /** Write the profiles of the sessions created so far (with `profile`; `ClipGradientModelOptions.profile`). */
  async endProfiling(): Promise<void> {
    for (const p of Object.values(this.pending)) (await p)?.endProfiling();
  }

  /**
   * Release the sessions created so far (one still being created is released once it is), and first the residuals
   * still held (`residualsHeld`): on a GPU their buffers belong to the sessions' device context.
   */
  async release(): Promise<void> {
    this.released = true;
    for (const r of [...this.live]) this.disposeResiduals(r);
    this.residualPool.clear();
    const pending = Object.values(this.pending).filter((p) => p !== undefined);
    const created = await Promise.allSettled(pending);
    await Promise.all(created.flatMap((r) => (r.status === 'fulfilled' ? [r.value.release()] : [])));
  }
}

type SessionName = 'text' | 'textForward' | 'visionForward' | 'visionResiduals' | 'visionBackward';

/** The graph each session runs, and the tower whose architecture it is built for. */
const SESSION_GRAPHS: Record<SessionName, { tower: 'text' | 'vision'; graph: ClipGraphKind }> = {
  text: { tower: 'text', graph: 'textVjp' },
  textForward: { tower: 'text', graph: 'textForward' },
  visionForward: { tower: 'vision', graph: 'visionForward' },
  visionResiduals: { tower: 'vision', graph: 'visionForwardResiduals' },
  visionBackward: { tower: 'vision', graph: 'visionBackward' },
};

/**
 * The sessions `options` ask for: per tower in `options.towers`, the forward graph, and with `gradients` the text
 * VJP graph and the vision forward-with-residuals and backward graphs (one forward per training step; its
 * image_embeds alone serve plain encoding).
 */
function sessionNames(options: ClipGradientModelOptions): SessionName[] {
  const towers = new Set(options.towers ?? ['vision', 'text']);
  const grads = options.gradients ?? true;
  const out: SessionName[] = [];
  if (towers.has('text')) out.push(...(grads ? (['text', 'textForward'] as const) : (['textForward'] as const)));
  if (towers.has('vision'))
    out.push(...(grads ? (['visionResiduals', 'visionBackward'] as const) : (['visionForward'] as const)));
  return out;
}

/**
 * How to open each session of `sessionNames(options)`: built and created when first used (weights fed, or read by
 * ONNX Runtime from model.safetensors), or created now, one at a time (weights copied into the graphs). Every weight a
 * graph reads is checked against the file first, names and shapes, from the graph's own builders without building it
 * (`clipGraphWeights`).
 */
async function sessionSources(
  bundle: ClipWeightsBundle,
  options: ClipGradientModelOptions,
  stored: ReturnType<typeof storedWeights>,
  residualsOnDevice: boolean,
): Promise<{ sources: Partial<Record<SessionName, () => Promise<GraphSession>>>; direct: boolean }> {
  const { arch, weights, weightsFile } = bundle;
  const inGraph = options.weightsIn === 'graph';
  const sessionOpts = graphSessionOptions(bundle, options);
  const names = sessionNames(options);
  const direct = names.some((n) => DIRECT_SESSIONS.has(n)) && directRuns(options, sessionOpts);
  const lazy = !inGraph || bundle.externalDir !== undefined;
  const sources: Partial<Record<SessionName, () => Promise<GraphSession>>> = {};
  for (const name of names) {
    const { tower, graph } = SESSION_GRAPHS[name];
    clipGraphWeights(graph, arch[tower], { ...stored, weights, weightsFile });
    const build = () => clipGraphModel(graph, arch[tower], stored);
    const opts = profiled(
      name === 'visionResiduals' && residualsOnDevice
        ? residualsOnDeviceOptions(sessionOpts, arch.vision)
        : sessionOpts,
      options.profile,
      name,
    );
    const create = (): Promise<GraphSession> =>
      direct && DIRECT_SESSIONS.has(name)
        ? DirectSession.create(build(), { ...opts, ...DIRECT_SESSION_OPTIONS })
        : ort.InferenceSession.create(build(), opts);
    if (lazy)
      sources[name] = async () => {
        // stored in the graphs, ONNX Runtime reads the file at the path: it must be the file the load checked.
        // Fed, the graph reads nothing from the file; weights are checked as they are read or handed out
        if (inGraph) bundle.checkUnchanged?.();
        bundle.checkWeights?.();
        return create();
      };
    else {
      const s = await create();
      sources[name] = () => Promise.resolve(s);
    }
  }
  return { sources, direct };
}

/** The sessions whose outputs are large enough to be written in place through ONNX Runtime's C API (`directRuns`). */
const DIRECT_SESSIONS = new Set<SessionName>(['visionResiduals', 'visionBackward']);
/**
 * What the direct sessions set beside `graphSessionOptions`: no memory pattern (ONNX Runtime's plan of each run's
 * intermediates, allocated as one block per run). With it, a HESP step of 64 B/32 frames through the direct sessions
 * took about 233,000 minor page faults and 0.7 s of system time, every step; without it 5,000–20,000 and 0.01–0.09 s
 * after two steps (a throwaway script, apps/bench/README.md, "Residuals written in place"). It changes where the
 * intermediates live, not the arithmetic: the outputs are the same bits (ort-direct.test.ts).
 */
const DIRECT_SESSION_OPTIONS = { enableMemPattern: false } as const;

/**
 * Whether the vision gradient sessions run through ONNX Runtime's C API (`ClipGradientModelOptions.directRuns`): on a
 * CPU where it loads, unless asked not to. @throws InvalidArgumentError when `directRuns: true` cannot be honoured
 */
function directRuns(options: ClipGradientModelOptions, opts: ort.InferenceSession.SessionOptions): boolean {
  if (options.directRuns === false) return false;
  const device = options.device ?? 'cpu';
  // a GPU keeps the residuals in its own buffers (residualsOnDeviceOptions)
  if (device !== 'cpu' && options.directRuns === undefined) return false;
  const status = device === 'cpu' ? directRunsStatus() : undefined;
  const why = !status
    ? `runs on a CPU only, not ${device}`
    : status.available
      ? directSessionRefusal(opts)
      : status.reason;
  if (why && options.directRuns === true)
    throw new InvalidArgumentError({ functionName: 'ClipGradientModel.load', argument: 'directRuns', message: why });
  if (why) options.log?.(`vision residuals copied by onnxruntime-node, not written in place: ${why}`);
  return !why;
}

/**
 * The runs of at most `chunk` images (one more for the last) that n images are encoded in: runs of `chunk` in order,
 * and, with `joinSingle`, a last run of a single image joins the one before it (unless `chunk` is 1: runs of one, as
 * asked). With weights fed as inputs (the CPU default for forward-only models), ONNX Runtime's matrix product takes
 * another path for a single row, and the last layer reads one row per image (the class token), so a run of one image
 * rounds differently in the last bits; with every run of two images or more, fp32 embeddings and gradients are the
 * same bits for any `chunk` (tested). int8 towers do not join (their activations are quantized per run: see `visionChunk`).
 * @param n images, a non-negative integer @param chunk images per run, a positive integer
 * @throws InvalidArgumentError when `n` or `chunk` is not an integer of that kind
 */
export function visionRuns(
  n: number,
  chunk: number,
  functionName = 'visionRuns',
  joinSingle = true,
): { start: number; n: number }[] {
  checkPositiveInteger(chunk, { functionName, argument: 'chunk' });
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError({
      functionName,
      argument: 'n',
      message: `expected a non-negative integer, got ${n}`,
    });
  const runs: { start: number; n: number }[] = [];
  for (let i = 0; i < n; i += chunk) runs.push({ start: i, n: Math.min(chunk, n - i) });
  if (joinSingle && chunk > 1 && runs.length > 1 && runs.at(-1)!.n === 1) runs.at(-2)!.n += runs.pop()!.n;
  return runs;
}

/**
 * `b` sequences of `from` positions of `width` values each, [b, from, width], as sequences of `to` positions
 * [b, to, width]: the first min(from, to) positions of each, zeros after them. `data` itself when `to` = `from`.
 */
function samePositions(data: Float32Array, b: number, from: number, to: number, width: number): Float32Array {
  if (to === from) return data;
  const out = new Float32Array(b * to * width);
  const n = Math.min(from, to) * width;
  for (let i = 0; i < b; i++) out.set(data.subarray(i * from * width, i * from * width + n), i * to * width);
  return out;
}

/** Float32 buffers for the `res_*` outputs of the forward-with-residuals graph of `vision` at batch `b`, by name. */
function residualBuffers(vision: ClipArch['vision'], b: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const r of visionResidualSpecs(vision)) {
    const dims = r.dims.map((d) => (typeof d === 'number' ? d : b));
    out[r.name] = new ort.Tensor('float32', new Float32Array(dims.reduce((x, y) => x * y, 1)), dims);
  }
  return out;
}

/**
 * What `ClipGradientModel` asks of a session: onnxruntime-node's `InferenceSession`, or a `DirectSession` (ONNX
 * Runtime's C API) for the vision gradient runs on a CPU (`ClipGradientModelOptions.directRuns`).
 */
type GraphSession = Pick<ort.InferenceSession, 'inputNames' | 'outputNames' | 'release'> & {
  run(
    feeds: Record<string, ort.Tensor>,
    fetches?: Record<string, ort.Tensor | null>,
  ): Promise<ort.InferenceSession.OnnxValueMapType>;
  endProfiling(): void;
};

/**
 * ONNX Runtime session options for the tower graphs; with weights referenced in `model.safetensors`
 * (`bundle.externalDir`), the folder their external data is resolved against (the graphs are given as bytes).
 * int8 towers: the intra-op threads sleep instead of spinning between kernels (`intra_op.allow_spinning` 0, as
 * PyTorch's peer runs with OMP_WAIT_POLICY=PASSIVE): their kernels are short, and a thread spinning on a shared
 * or busy CPU takes the core from the one that has work (apps/bench/README.md, int8).
 * On CPU without the memory arena: each session's arena keeps the largest set of intermediates it ever held, and
 * the forward-with-residuals, backward and text sessions each hold their own, so a B/32 HESP step of 64 frames
 * peaked at 6.34 GiB RSS with arenas and 3.55 GiB without, for the same process CPU time per step (26–30 s on a
 * loaded machine; apps/bench/README.md). On CPU it also calls `keepFreedMemory` (see the option of that name).
 */
function graphSessionOptions(
  bundle: ClipWeightsBundle,
  options: ClipGradientModelOptions,
): ort.InferenceSession.SessionOptions {
  const device = options.device ?? 'cpu';
  // without arenas, ONNX Runtime's intermediates come from malloc: kept for reuse (keepFreedMemory), not re-faulted
  if (device === 'cpu' && (options.keepFreedMemory ?? options.gradients !== false)) keepFreedMemory();
  const opts = { ...sessionOptions({ device, ...options }), ...(device === 'cpu' ? { enableCpuMemArena: false } : {}) };
  const stored = !options.quantize && weightsInOf(options) === 'graph';
  const fuse = stored && !options.foldConstants;
  const session: Record<string, string> = {
    ...(bundle.externalDir ? { model_external_initializers_file_folder_path: bundle.externalDir } : {}),
    ...(options.quantize === 'int8' ? { 'intra_op.allow_spinning': '0' } : {}),
  };
  const extra = {
    ...(Object.keys(session).length ? { session } : {}),
    ...(fuse ? STORED_WEIGHTS_OPTIMIZATION : {}),
  };
  return Object.keys(extra).length ? { ...opts, extra } : opts;
}

/**
 * ONNX Runtime session configuration for graphs that store float32 CLIP weights: constant folding off. With it on,
 * ORT folds each `Transpose(W)` of a linear layer into a transposed copy of the weight before prepacking it (a
 * second pass over all weights, and a copy of each); with it off, the transpose fuses into the MatMul
 * (`FusedMatMul`, transB) and the prepacking reads W straight from the file ONNX Runtime memory-mapped. The packed
 * weights, and so the outputs, are bit-identical (external-weights.test.ts); creating a ViT-B/32 vision forward
 * session took 0.58–0.68 s of CPU time instead of 0.99–1.25 s (apps/bench/README.md, `pnpm bench:load`).
 */
export const STORED_WEIGHTS_OPTIMIZATION = {
  optimization: { disable_specified_optimizers: 'ConstantFolding' },
} as const;

/**
 * The forward-with-residuals session's options on a GPU: the residual outputs stay in GPU buffers
 * (`preferredOutputLocation` 'gpu-buffer') for the backward to read there; `image_embeds` comes to the host. A
 * ViT-B/32 frame's residuals are 17.2 MB (4.29 M floats): on the H200 a HESP step of 8 clips × 8 frames took 2.6 s
 * with the round trip through host memory (apps/bench/README.md, GPU).
 */
function residualsOnDeviceOptions(
  opts: ort.InferenceSession.SessionOptions,
  vision: ClipArch['vision'],
): ort.InferenceSession.SessionOptions {
  return {
    ...opts,
    preferredOutputLocation: Object.fromEntries(visionResidualNames(vision).map((n) => [n, 'gpu-buffer' as const])),
  };
}

/** `opts` with ONNX Runtime profiling to `<prefix>-<session>_<time>.json` when a prefix is given. */
function profiled(
  opts: ort.InferenceSession.SessionOptions,
  prefix: string | undefined,
  session: SessionName,
): ort.InferenceSession.SessionOptions {
  return prefix ? { ...opts, enableProfiling: true, profileFilePrefix: `${prefix}-${session}` } : opts;
}

/** Position of the first <|endoftext|> (the largest id) in each row of [rows · L] CLIP token ids. */
export function eotPositions(ids: readonly number[], dims: [number, number]): number[] {
  return Array.from({ length: dims[0] }, (_, r) => {
    const row = ids.slice(r * dims[1], (r + 1) * dims[1]);
    return row.indexOf(Math.max(...row));
  });
}
