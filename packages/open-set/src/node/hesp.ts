import {
  checkClassIds,
  checkPositiveInteger,
  concatRows,
  cosineLogits,
  createRng,
  firstNonFinite,
  streamSeed,
  InvalidArgumentError,
  VlferError,
  meanOfRowGroups,
  type ComputeDevice,
  type Tensor2D,
  type Tensor4D,
} from '@vlfer/core';
import type { ThreadOptions } from '@vlfer/core/node';
import { normalizePixels } from '@vlfer/encoders';
import {
  ClipGradientModel,
  eotPositions,
  loadClipTokenizer,
  visionRuns,
  type ClipGradientModelOptions,
  type Tensor3D,
  type VisionResiduals,
} from '@vlfer/encoders/node';
import {
  arplLogits,
  arplLogitsBackward,
  arplLoss,
  createSgd,
  crossEntropy,
  normalizedGradientStep,
  supConLoss,
  type Optimizer,
} from '@vlfer/losses';
import { camPatchLocation } from '../cam-location.js';
import { coopPromptText, negativePromptText, type HespReferenceBehaviour } from '../prompts.js';
import { ensembleLogits } from '../scoring.js';
import { applyVisualPrompt, clampPatchCentre, type PatchLocation } from '../visual-prompt.js';

export interface HespOptions {
  /** Texts of the K known classes, index j = known label j (`knownClassTexts`). */
  classTexts: string[];
  /** @default 16 */
  nCtx?: number;
  /** @default 56 */
  patchSize?: number;
  /** Patch centre (one per run). @default the frame centre */
  location?: PatchLocation;
  /** Scale of the CLIP cosine logits (OpenAI CLIP's exp(logit_scale)). @default 100 */
  logitScale?: number;
  /** Seeds ctx ~ N(0, 0.02²) and negative prompt images ~ N(0, 1) (its `hesp/init` stream: `streamSeed`). */
  seed: number;
  /** SGD over ctx, negative prompt images and R (HESP: lr 0.01, momentum 0.9, weight decay 1e-4). */
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  /** Step of the manual normalised-gradient updates of the patch and the negative images. @default 50 */
  promptStep?: number;
  referenceBehaviour?: HespReferenceBehaviour;
  /**
   * Images per ONNX Runtime run of the vision tower, split by `visionRuns`: the frames' forward and backward, and the
   * negative images in `loss` and `logits` (`gradients` and `step` run the K negative images in the frames' last run,
   * after its frames). From 2 on,
   * losses and gradients are the same bits for any value (tested); time and peak memory differ. @default the model's
   * `visionChunk`: 16 on the CPU, 64 on a GPU
   */
  chunk?: number;
}

/** Gradients of the summed HESP losses w.r.t. each learnable tensor (same layouts as the tensors). */
export interface HespGradients {
  losses: HespLosses;
  ctx: Float32Array;
  /** HESP's `noise.grad.mean(0)`: ∂L/∂patch divided by the number of clips (each clip adds its own copy). */
  patch: Float32Array;
  negImages: Float32Array;
  radius: number;
}

export interface HespLosses {
  clipKnown: number;
  supCon: number;
  arpl: number;
  negativeClip: number;
  ensemble: number;
  total: number;
}

/** Learnable state for checkpoints: the four tensors and the optimiser state. */
export interface HespState {
  tensors: Record<'ctx' | 'patch' | 'negImages' | 'radius', Float32Array>;
  optimizer: ReturnType<Optimizer['state']>;
}

/** The vision forward of a step: frame embeddings, reciprocal points and (with gradients) the kept residuals. */
interface HespVisionForward {
  /** [frames, E] */
  vFrames: Tensor2D;
  /** [K, E] embeddings of the negative images */
  c: Tensor2D;
  /**
   * per ORT run of frames: first frame, frame count, how many of the K negative images follow the frames in the run
   * (K in the last run, 0 in the others) and the run's residuals (no runs without gradients)
   */
  chunks: { start: number; n: number; neg: number; residuals: VisionResiduals }[];
}

/** The losses of a step and the cotangents of their sum w.r.t. v̄ [B·E], c [K·E], t [K·E] and R. */
interface HespLossHeads {
  losses: HespLosses;
  dv: Float32Array;
  dc: Float32Array;
  dt: Float32Array;
  gradRadius: number;
}

const addInto = (a: Float32Array, ...bs: ArrayLike<number>[]) => {
  for (const b of bs) for (let i = 0; i < a.length; i++) a[i]! += b[i]!;
  return a;
};
const halve = (g: Tensor2D): Tensor2D => ({ ...g, data: g.data.map((x) => x / 2) });

/** What to do when the CLIP files hold no tokenizer and it would be fetched from the Hub while that is not allowed. */
function tokenizerHint(clip: ClipGradientModel): string {
  return `the CLIP files hold no tokenizer.json (so the tokenizer is looked up as ${clip.bundle.tokenizer}): give tokenizer, a directory holding one (CLI --tokenizer), or allow remote models (CLI --allow-remote)`;
}

/**
 * HESP (Liu et al., ACM MM 2024) on a frozen CLIP with gradients from ONNX Runtime VJP graphs.
 * Learnable: class-specific CoOp contexts (K × nCtx × D), a 56×56 pixel-space visual prompt, K negative prompt
 * images (ARPL reciprocal points c_k = E_img(P_k)) and the radius R. Losses (all weight 1): CE on CLIP logits,
 * supervised contrastive on v̄, ARPL, CE of negative images vs "This video is not {name}." texts, CE on the ensemble.
 * The shared operations are the packages' own: `cosineLogits` (core), `normalizePixels` (encoders), `arplLoss`,
 * `supConLoss`, `normalizedGradientStep`, SGD (losses), `ensembleLogits`, `applyVisualPrompt`, `camPatchLocation`.
 */
export class HespModel {
  readonly K: number;
  readonly ctx: Float32Array;
  readonly patch: Float32Array;
  readonly negImages: Float32Array;
  readonly radius: Float32Array;
  location: PatchLocation;
  private readonly opt: Optimizer;
  private readonly S: number;
  /** The call running now (`step`, `gradients`, `loss`, `logits`, `camLocation`), or null. */
  private running: string | null = null;

  private constructor(
    readonly clip: ClipGradientModel,
    private readonly o: Required<Omit<HespOptions, 'location' | 'referenceBehaviour'>> & {
      referenceBehaviour: HespReferenceBehaviour;
    },
    private readonly promptIds: { ids: number[]; dims: [number, number]; eot: number[] },
    private readonly negText: Tensor2D,
    location: PatchLocation,
    private readonly tokenize: (texts: readonly string[]) => { ids: number[]; dims: [number, number] },
  ) {
    this.K = o.classTexts.length;
    this.S = clip.arch.vision.imageSize!;
    const dt = clip.arch.text.hiddenSize;
    const rng = createRng(streamSeed(o.seed, 'hesp/init'));
    this.ctx = Float32Array.from({ length: this.K * o.nCtx * dt }, () => 0.02 * rng.normal());
    this.patch = new Float32Array(3 * o.patchSize * o.patchSize);
    this.negImages = Float32Array.from({ length: this.K * 3 * this.S * this.S }, () => rng.normal());
    this.radius = new Float32Array(1);
    this.location = clampPatchCentre(location, o.patchSize, this.S);
    // the reference's context never moves (see `apply`): it is not among the optimised parameters then
    const ctx: Record<string, Float32Array> = o.referenceBehaviour.zeroContextGradient ? {} : { ctx: this.ctx };
    this.opt = createSgd(
      { ...ctx, negImages: this.negImages, radius: this.radius },
      { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay },
    );
  }

  /**
   * @param model a loaded `ClipGradientModel`, or what `ClipGradientModel.load` takes: a Hugging Face CLIP directory
   *   (config.json, model.safetensors, tokenizer) or an OpenAI `.pt` checkpoint (with `tokenizer`)
   */
  static async create(
    model: string | ClipGradientModel,
    options: HespOptions & { device?: ComputeDevice; weightsIn?: 'inputs' | 'graph' } & ThreadOptions &
      Pick<ClipGradientModelOptions, 'tokenizer' | 'config' | 'profile' | 'keepFreedMemory' | 'directRuns' | 'log'>,
  ): Promise<HespModel> {
    if (!Array.isArray(options.classTexts) || options.classTexts.length < 2)
      throw new InvalidArgumentError({
        functionName: 'HespModel.create',
        argument: 'classTexts',
        message: 'needs at least 2 known classes',
      });
    if (!Number.isInteger(options.seed))
      throw new InvalidArgumentError({
        functionName: 'HespModel.create',
        argument: 'seed',
        message: `must be an integer, got ${options.seed}`,
      });
    if (options.chunk !== undefined)
      checkPositiveInteger(options.chunk, { functionName: 'HespModel.create', argument: 'chunk' });
    if (typeof model !== 'string') return HespModel.build(model, options);
    // a model loaded here is released when the build fails (a tokenizer missing, a text tower that fails to run)
    const owned = await ClipGradientModel.load(model, {
      device: options.device ?? 'cpu',
      ...(options.weightsIn !== undefined ? { weightsIn: options.weightsIn } : {}),
      ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      ...(options.tokenizer ? { tokenizer: options.tokenizer } : {}),
      ...(options.config ? { config: options.config } : {}),
      ...(options.profile ? { profile: options.profile } : {}),
      ...(options.keepFreedMemory !== undefined ? { keepFreedMemory: options.keepFreedMemory } : {}),
      ...(options.directRuns !== undefined ? { directRuns: options.directRuns } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    try {
      return await HespModel.build(owned, options);
    } catch (error) {
      await owned.release();
      throw error;
    }
  }

  /** `create` once the CLIP is loaded: the tokenizer, the prompts' token ids and the negative texts' embeddings. */
  private static async build(
    clip: ClipGradientModel,
    options: Parameters<typeof HespModel.create>[1],
  ): Promise<HespModel> {
    const tokenize = await loadClipTokenizer(clip.bundle.tokenizer, { remoteHint: tokenizerHint(clip) });
    const o = {
      classTexts: options.classTexts,
      nCtx: options.nCtx ?? 16,
      patchSize: options.patchSize ?? 56,
      logitScale: options.logitScale ?? 100,
      seed: options.seed,
      lr: options.lr ?? 0.01,
      momentum: options.momentum ?? 0.9,
      weightDecay: options.weightDecay ?? 1e-4,
      promptStep: options.promptStep ?? 50,
      referenceBehaviour: options.referenceBehaviour ?? {},
      chunk: options.chunk ?? clip.visionChunk,
    };
    const p = tokenize(o.classTexts.map((t) => coopPromptText(t, o.nCtx)));
    const n = tokenize(o.classTexts.map(negativePromptText));
    const negText = await clip.textForwardEmbeds(clip.tokenEmbeddings(n.ids, n.dims), eotPositions(n.ids, n.dims));
    const S = clip.arch.vision.imageSize!;
    return new HespModel(
      clip,
      o,
      { ...p, eot: eotPositions(p.ids, p.dims) },
      negText,
      options.location ?? { row: S / 2, col: S / 2 },
      tokenize,
    );
  }

  /**
   * HESP's run-level patch location (`core/train.py`): zero-shot CLIP with the plain class texts on one frame
   * (pixels in [0, 1], not normalised, as the reference feeds it) picks class c; CAM = fc0.weight[c] · conv1 features
   * with fc0 a never-trained Linear(D, K) drawn from `seed`'s `hesp/cam-head` stream (PyTorch default init); then `camPatchLocation`.
   * Sets and returns the location. @param frame [3, S, S]
   */
  async camLocation(frame: Float32Array, seed = 0): Promise<PatchLocation> {
    return this.exclusive('HespModel.camLocation', () => this.camLocationNow(frame, seed));
  }

  private async camLocationNow(frame: Float32Array, seed: number): Promise<PatchLocation> {
    const S = this.S;
    const img = await this.clip.visionForwardEmbeds({ dtype: 'float32', data: frame, dims: [1, 3, S, S] });
    const tok = this.tokenize(this.o.classTexts);
    const txt = await this.clip.textForwardEmbeds(
      this.clip.tokenEmbeddings(tok.ids, tok.dims),
      eotPositions(tok.ids, tok.dims),
    );
    const top = cosineLogits(img, txt, 1).logits.data;
    const c = top.indexOf(Math.max(...top));
    const F = this.clip.patchEmbeddings(frame);
    const [D, g] = F.dims;
    // its own stream, apart from the initialisation's (`streamSeed`)
    const rng = createRng(streamSeed(seed, 'hesp/cam-head'));
    const bound = 1 / Math.sqrt(D);
    const fc0 = Float32Array.from({ length: this.K * D }, () => (2 * rng.next() - 1) * bound);
    const cam = new Float32Array(g * g);
    for (let d = 0; d < D; d++) {
      const w = fc0[c * D + d]!;
      for (let p = 0; p < g * g; p++) cam[p]! += w * F.data[d * g * g + p]!;
    }
    this.location = camPatchLocation(cam, g, { imageSize: S, patchSize: this.o.patchSize });
    return this.location;
  }

  setLearningRate(lr: number): void {
    this.opt.setLearningRate(lr);
  }

  /** Token embeddings of the K prompts with the CoOp context written at positions 1..nCtx. [K, 77, D] */
  private promptEmbeds(): Tensor3D {
    const e = this.clip.tokenEmbeddings(this.promptIds.ids, this.promptIds.dims);
    const d = e.dims[2],
      L = e.dims[1],
      n = this.o.nCtx;
    for (let k = 0; k < this.K; k++) e.data.set(this.ctx.subarray(k * n * d, (k + 1) * n * d), (k * L + 1) * d);
    return e;
  }

  /** Frames [clips·T, 3, S, S] in [0, 1] → patch added → CLIP-normalised. */
  private prompted(frames: Tensor4D): Tensor4D {
    const s = this.o.patchSize;
    return normalizePixels(
      applyVisualPrompt(frames, { dtype: 'float32', data: this.patch, dims: [3, s, s] }, this.location),
      this.clip.preprocessor,
    );
  }

  private negImagesTensor(): Tensor4D {
    return { dtype: 'float32', data: this.negImages, dims: [this.K, 3, this.S, this.S] };
  }

  /**
   * One call at a time: a second call while one runs would read the learnable tensors while the first changes them
   * (two concurrent steps compute both gradients on the old state and apply both), so it is refused.
   */
  private async exclusive<T>(fn: string, work: () => Promise<T>): Promise<T> {
    if (this.running)
      throw new VlferError(
        `${fn}: this HespModel is running ${this.running}; await it first (a model runs one call at a time: concurrent calls would read its tensors while a step changes them)`,
      );
    this.running = fn;
    try {
      return await work();
    } finally {
      this.running = null;
    }
  }

  /**
   * Frames [clips·T, 3, S, S] of pixels in [0, 1] (bytes / 255, before CLIP's normalisation, which the model applies).
   * @returns the number of clips
   * @throws InvalidArgumentError naming `framesPerClip` or `frames` (its shape, its length, a value out of [0, 1])
   */
  private checkFrames(frames: Tensor4D, framesPerClip: number, fn: string): number {
    if (!Number.isInteger(framesPerClip) || framesPerClip <= 0)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'framesPerClip',
        message: `must be a positive integer, got ${framesPerClip}`,
      });
    const S = this.S;
    const bad = (message: string) => new InvalidArgumentError({ functionName: fn, argument: 'frames', message });
    const { dims, data } = frames;
    if (dims?.length !== 4 || dims[1] !== 3 || dims[2] !== S || dims[3] !== S)
      throw bad(
        `has dims [${dims?.join(', ')}]; expected [clips·frames, 3, ${S}, ${S}] (this model's ${S}-pixel frames)`,
      );
    if (data.length !== dims[0] * 3 * S * S)
      throw bad(`holds ${data.length} values for dims [${dims.join(', ')}] (${dims[0] * 3 * S * S})`);
    for (let i = 0; i < data.length; i++)
      if (!(data[i]! >= 0 && data[i]! <= 1))
        throw bad(
          `value ${data[i]} at index ${i} is outside [0, 1]: pixels are bytes / 255, before CLIP's normalisation (which the model applies)`,
        );
    const B = frames.dims[0] / framesPerClip;
    if (!Number.isInteger(B) || B === 0)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'frames',
        message: `${frames.dims[0]} frames are not a whole number of ${framesPerClip}-frame clips`,
      });
    return B;
  }

  /** Ensemble, CLIP and ARPL logits [clips, K] for evaluation. @param frames [clips·T, 3, S, S] in [0, 1] */
  async logits(
    frames: Tensor4D,
    framesPerClip: number,
  ): Promise<{ clip: Tensor2D; arpl: Tensor2D; ensemble: Tensor2D }> {
    this.checkFrames(frames, framesPerClip, 'HespModel.logits');
    return this.exclusive('HespModel.logits', () => this.logitsNow(frames, framesPerClip));
  }

  private async logitsNow(
    frames: Tensor4D,
    framesPerClip: number,
  ): Promise<{ clip: Tensor2D; arpl: Tensor2D; ensemble: Tensor2D }> {
    const v = meanOfRowGroups(await this.clip.visionForwardEmbeds(this.prompted(frames), this.o.chunk), framesPerClip);
    const t = await this.clip.textForwardEmbeds(this.promptEmbeds(), this.promptIds.eot);
    const c = await this.clip.visionForwardEmbeds(this.negImagesTensor(), this.o.chunk);
    const clip = cosineLogits(v, t, this.o.logitScale).logits;
    const arpl = arplLogits(v, c);
    return { clip, arpl, ensemble: ensembleLogits(clip, arpl) };
  }

  /**
   * One training step on a batch of clips. @param frames [clips·T, 3, S, S] pixels in [0, 1]
   * @param labels [clips] known labels in [0, K)
   */
  async step(frames: Tensor4D, framesPerClip: number, labels: readonly number[]): Promise<HespLosses> {
    return this.exclusive('HespModel.step', async () => {
      const g = await this.gradientsNow(frames, framesPerClip, labels, {}, 'HespModel.step');
      // a step whose loss is not finite (training diverged) is not applied: its gradients hold nothing to follow
      if (Number.isFinite(g.losses.total)) this.apply(g);
      return g.losses;
    });
  }

  /** The five losses on a batch, without gradients or updates. */
  async loss(frames: Tensor4D, framesPerClip: number, labels: readonly number[]): Promise<HespLosses> {
    const g = await this.exclusive('HespModel.loss', () =>
      this.gradientsNow(frames, framesPerClip, labels, { lossOnly: true }, 'HespModel.loss'),
    );
    return g.losses;
  }

  /**
   * Losses and the gradient of their sum w.r.t. every learnable tensor (ctx, patch, negative images, R), no update.
   * Stages: vision forward (`forwardVision`, keeping the residuals the backward reads) → text forward → the five loss
   * heads and their cotangents w.r.t. v̄, t, c, R (`lossHeads`) → vision VJPs, the frames' summed over the patch
   * region and the negative images' (`visionGradients`) → text VJP cut to the context positions (`contextGradient`).
   */
  async gradients(
    frames: Tensor4D,
    framesPerClip: number,
    labels: readonly number[],
    options: { lossOnly?: boolean } = {},
  ): Promise<HespGradients> {
    return this.exclusive('HespModel.gradients', () =>
      this.gradientsNow(frames, framesPerClip, labels, options, 'HespModel.gradients'),
    );
  }

  private async gradientsNow(
    frames: Tensor4D,
    framesPerClip: number,
    labels: readonly number[],
    options: { lossOnly?: boolean },
    fn: string,
  ): Promise<HespGradients> {
    const T = framesPerClip;
    const B = this.checkFrames(frames, T, fn);
    if (labels.length !== B)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'labels',
        message: `${labels.length} labels for ${B} clips of ${T} frames`,
      });
    // checked before the forward, whose residuals (GPU memory on a GPU) a failing step must give back
    checkClassIds(labels, { functionName: fn, argument: 'labels' }, this.K);
    const pix = this.prompted(frames);
    const emb = this.promptEmbeds();
    const fwd = await this.forwardVision(pix, B * T, options.lossOnly ?? false);
    try {
      return await this.fromForward(fwd, emb, B, T, labels, options.lossOnly ?? false);
    } finally {
      // residuals a backward did not use (the step failed on the way): released, not left on the device
      for (const c of fwd.chunks) this.clip.disposeResiduals(c.residuals);
    }
  }

  /** `gradients` after the vision forward: text forward, loss heads, then the three VJPs (lossOnly: the losses). */
  private async fromForward(
    fwd: HespVisionForward,
    emb: Tensor3D,
    B: number,
    T: number,
    labels: readonly number[],
    lossOnly: boolean,
  ): Promise<HespGradients> {
    const v = meanOfRowGroups(fwd.vFrames, T);
    const t = await this.clip.textForwardEmbeds(emb, this.promptIds.eot);
    // embeddings that overflowed (weights grown by too large a learning rate): the step diverged; the losses say so
    // (NaN, as PyTorch's would be) for the caller to stop on, rather than the loss functions refusing their inputs
    if (![v, t, fwd.c].every((x) => x.data.every(Number.isFinite))) return this.divergedGradients();
    const heads = this.lossHeads(v, t, fwd.c, labels);
    if (lossOnly)
      return {
        losses: heads.losses,
        ctx: new Float32Array(0),
        patch: new Float32Array(0),
        negImages: new Float32Array(0),
        radius: 0,
      };
    const g = await this.visionGradients(fwd.chunks, heads.dv, heads.dc, B, T);
    const gCtx = await this.contextGradient(emb, heads.dt, v.dims[1]);
    return {
      losses: heads.losses,
      ctx: gCtx,
      patch: Float32Array.from(g.patch),
      negImages: g.negImages,
      radius: heads.gradRadius,
    };
  }

  /** What `gradients` gives for a step whose embeddings are not finite: every loss and gradient NaN. */
  private divergedGradients(): HespGradients {
    const losses = { clipKnown: NaN, supCon: NaN, arpl: NaN, negativeClip: NaN, ensemble: NaN, total: NaN };
    const nan = (n: number) => new Float32Array(n).fill(NaN);
    return {
      losses,
      ctx: nan(this.ctx.length),
      patch: nan(this.patch.length),
      negImages: nan(this.negImages.length),
      radius: NaN,
    };
  }

  /**
   * The vision tower forward on the prompted frames [frames, 3, S, S] and the K negative images: frame embeddings
   * [frames, E] and c [K, E]. It runs in `chunk`-frame pieces (keeping the residuals the VJP reads, unless `lossOnly`),
   * the K negative images after the frames of the last piece: one forward and one backward run fewer per step than a
   * run of their own, for the same bits (an image's embedding and gradient do not depend on the other images of a run
   * of two or more, `visionRuns`; the tests compare steps at several `chunk`s).
   */
  private async forwardVision(pix: Tensor4D, nFrames: number, lossOnly: boolean): Promise<HespVisionForward> {
    const S = this.S,
      per = 3 * S * S;
    const parts: Tensor2D[] = [];
    const chunks: HespVisionForward['chunks'] = [];
    const runs = visionRuns(nFrames, this.o.chunk);
    let c: Tensor2D | undefined;
    try {
      for (const [j, { start: i, n }] of runs.entries()) {
        const frames = pix.data.subarray(i * per, (i + n) * per);
        const neg = j === runs.length - 1 ? this.K : 0;
        const data = neg ? new Float32Array((n + neg) * per) : frames;
        if (neg) {
          data.set(frames);
          data.set(this.negImages, n * per);
        }
        const run: Tensor4D = { dtype: 'float32', data, dims: [n + neg, 3, S, S] };
        // lossOnly: the same runs without residuals, so that `loss` is the total `gradients` reports, to the bit
        const r = lossOnly
          ? { imageEmbeds: await this.clip.visionForwardEmbeds(run, n + neg), residuals: undefined }
          : await this.clip.visionForwardResiduals(run);
        if (r.residuals) chunks.push({ start: i, n, neg, residuals: r.residuals });
        parts.push(neg ? tensorRows(r.imageEmbeds, 0, n) : r.imageEmbeds);
        if (neg) c = tensorRows(r.imageEmbeds, n, n + neg);
      }
      return { vFrames: concatRows(parts, parts[0]!.dims[1]), c: c!, chunks };
    } catch (e) {
      for (const c of chunks) this.clip.disposeResiduals(c.residuals);
      throw e;
    }
  }

  /**
   * The five HESP losses on clip features v̄ [B, E], prompt text features t [K, E] and reciprocal points c [K, E],
   * and the cotangents of their sum: dv [B·E], dc [K·E], dt [K·E] and ∂L/∂R.
   */
  private lossHeads(v: Tensor2D, t: Tensor2D, c: Tensor2D, labels: readonly number[]): HespLossHeads {
    const [B, E] = v.dims;
    const clipL = cosineLogits(v, t, this.o.logitScale);
    const ceClip = crossEntropy(clipL.logits, labels);
    const arpl = arplLoss({ features: v, centers: c, labels, radius: this.radius[0]! });
    const ens = crossEntropy(ensembleLogits(clipL.logits, arpl.logits), labels);
    const clipBack = clipL.backward({
      ...ceClip.gradLogits,
      data: addInto(Float32Array.from(ceClip.gradLogits.data), halve(ens.gradLogits).data),
    });
    const arplBack = arplLogitsBackward(v, c, halve(ens.gradLogits));
    const hasPositive = labels.some((y, i) => labels.indexOf(y) !== i);
    const sup = hasPositive
      ? supConLoss({ features: v, labels, temperature: 0.5 })
      : { loss: 0, gradFeatures: { data: new Float32Array(B * E) } };
    const uncl = cosineLogits(c, this.negText, this.o.logitScale);
    const ceU = crossEntropy(
      uncl.logits,
      Array.from({ length: this.K }, (_, i) => i),
    );
    const unclBack = uncl.backward(ceU.gradLogits);
    const losses = {
      clipKnown: ceClip.loss,
      supCon: sup.loss,
      arpl: arpl.loss,
      negativeClip: ceU.loss,
      ensemble: ens.loss,
    };
    const dv = addInto(
      Float32Array.from(clipBack.gradA.data),
      arpl.gradFeatures.data,
      arplBack.gradFeatures.data,
      sup.gradFeatures.data,
    );
    const dc = addInto(Float32Array.from(arpl.gradCenters.data), arplBack.gradCenters.data, unclBack.gradA.data);
    return {
      losses: { ...losses, total: Object.values(losses).reduce((a, b) => a + b, 0) },
      dv,
      dc,
      dt: clipBack.gradB.data,
      gradRadius: arpl.gradRadius,
    };
  }

  /**
   * Vision VJPs of the forward's runs. Frames: each gets dv̄ / T; chain through the normalisation; sum the patch region
   * and divide by B (HESP's `noise.grad.mean(0)`). The negative images of the last run get dc (they are fed to CLIP
   * without normalisation). @param dv [B·E] @param dc [K·E] @returns the patch's [3·s·s] in float64 and the negative
   * images' [K, 3, S, S]
   */
  private async visionGradients(
    chunks: HespVisionForward['chunks'],
    dv: Float32Array,
    dc: Float32Array,
    B: number,
    T: number,
  ): Promise<{ patch: Float64Array; negImages: Float32Array }> {
    const S = this.S;
    const E = dv.length / B;
    const s = this.o.patchSize;
    const std = this.clip.preprocessor.std;
    const gPatch = new Float64Array(3 * s * s);
    let gNeg = new Float32Array(0);
    const top = this.location.row - s / 2,
      left = this.location.col - s / 2;
    for (const { start: i, n, neg, residuals } of chunks) {
      const cot = new Float32Array((n + neg) * E);
      for (let r = 0; r < n; r++) for (let k = 0; k < E; k++) cot[r * E + k] = dv[Math.floor((i + r) / T) * E + k]! / T;
      if (neg) cot.set(dc, n * E);
      const cotangent = { dtype: 'float32' as const, data: cot, dims: [n + neg, E] as [number, number] };
      const grad = (await this.clip.visionBackward(residuals, cotangent)).data;
      if (neg) gNeg = grad.slice(n * 3 * S * S);
      for (let f = 0; f < n; f++)
        for (let ch = 0; ch < 3; ch++)
          for (let y = 0; y < s; y++)
            for (let x = 0; x < s; x++) {
              gPatch[(ch * s + y) * s + x]! += grad[((f * 3 + ch) * S + top + y) * S + left + x]! / std[ch]! / B;
            }
    }
    return { patch: gPatch, negImages: gNeg };
  }

  /** Text VJP of the prompts' token embeddings, cut to the nCtx context positions of each class. @param dt [K·E] */
  private async contextGradient(emb: Tensor3D, dt: Float32Array, E: number): Promise<Float32Array> {
    const gEmb = (await this.clip.textVjp(emb, this.promptIds.eot, { dtype: 'float32', data: dt, dims: [this.K, E] }))
      .gradInputsEmbeds;
    const d = gEmb.dims[2],
      L = gEmb.dims[1],
      nc = this.o.nCtx;
    const gCtx = new Float32Array(this.ctx.length);
    for (let k = 0; k < this.K; k++) gCtx.set(gEmb.data.subarray((k * L + 1) * d, (k * L + 1 + nc) * d), k * nc * d);
    return gCtx;
  }

  /**
   * HESP's updates from gradients: step-50 normalised-gradient moves (`normalizedGradientStep`) of the patch and,
   * with the mean over the K images, of the negative images; then SGD over ctx, negative images and R. With
   * `referenceBehaviour.zeroContextGradient` the context does not move at all, as in the released code: its gradient
   * is zeroed before `optimizer.step()`, so PyTorch ≥ 2.0 skips it (`zero_grad` sets `None`), and under PyTorch 1.10
   * (zeros) the weight decay's step on the float16 context is below half a unit in the last place.
   */
  apply(g: HespGradients): void {
    // every gradient checked before anything moves: a step that overflowed changes nothing
    for (const [name, v] of [
      ['ctx', g.ctx],
      ['patch', g.patch],
      ['negImages', g.negImages],
      ['radius', [g.radius]],
    ] as const) {
      const i = firstNonFinite(v);
      if (i >= 0)
        throw new InvalidArgumentError({
          functionName: 'HespModel.step',
          argument: 'lr',
          message: `the gradient ${name}[${i}] is ${v[i]}: training diverged (lower the learning rate); the step is not applied`,
        });
    }
    normalizedGradientStep(this.patch, g.patch, this.o.promptStep);
    const per = 3 * this.S * this.S;
    const gMean = new Float64Array(per);
    for (let k = 0; k < this.K; k++) for (let i = 0; i < per; i++) gMean[i]! += g.negImages[k * per + i]! / this.K;
    normalizedGradientStep(this.negImages, gMean, this.o.promptStep, this.K);
    const ctx: Record<string, Float32Array> = this.o.referenceBehaviour.zeroContextGradient ? {} : { ctx: g.ctx };
    this.opt.step({ ...ctx, negImages: g.negImages, radius: Float32Array.of(g.radius) });
  }

  /** Learnable state for checkpoints. */
  state(): HespState {
    return {
      tensors: { ctx: this.ctx, patch: this.patch, negImages: this.negImages, radius: this.radius },
      optimizer: this.opt.state(),
    };
  }

  loadState(s: { tensors: Record<string, Float32Array>; optimizer: ReturnType<Optimizer['state']> }): void {
    for (const k of ['ctx', 'patch', 'negImages', 'radius'] as const) {
      const src = s.tensors[k];
      if (!src || src.length !== this[k].length)
        throw new InvalidArgumentError({
          functionName: 'HespModel.loadState',
          argument: k,
          message: `expected ${this[k].length} values, got ${src?.length}`,
        });
      for (let i = 0; i < src.length; i++)
        if (!Number.isFinite(src[i]!))
          throw new InvalidArgumentError({
            functionName: 'HespModel.loadState',
            argument: k,
            message: `holds ${src[i]} at index ${i}`,
          });
      this[k].set(src);
    }
    this.opt.loadState(s.optimizer);
  }

  async release(): Promise<void> {
    await this.clip.release();
  }
}

/** Rows [from, to) of a [rows, E] tensor, copied. */
function tensorRows(t: Tensor2D, from: number, to: number): Tensor2D {
  const E = t.dims[1];
  return { dtype: 'float32', data: t.data.slice(from * E, to * E), dims: [to - from, E] };
}
