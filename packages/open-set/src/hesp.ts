import { createRng, InvalidArgumentError, type Tensor2D, type Tensor4D } from '@vlfer/core';
import { loadClipTokenizer } from '@vlfer/encoders';
import { arplLogits, arplLogitsBackward, arplLoss, createSgd, crossEntropy, supConLoss, type Optimizer } from '@vlfer/losses';
import { ClipGradientModel, type Tensor3D } from './clip-gradients.js';
import { coopPromptText, negativePromptText, type HespReferenceBehaviour } from './prompts.js';
import { applyVisualPrompt, clampPatchCentre, type PatchLocation } from './visual-prompt.js';
import { camPatchLocation } from './cam-location.js';

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

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
  /** Seeds ctx ~ N(0, 0.02²) and negative prompt images ~ N(0, 1). */
  seed: number;
  /** SGD over ctx, negative prompt images and R (HESP: lr 0.01, momentum 0.9, weight decay 1e-4). */
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  /** Step of the manual normalised-gradient updates of the patch and the negative images. @default 50 */
  promptStep?: number;
  referenceBehaviour?: HespReferenceBehaviour;
  /** Images per ORT call. @default 64 */
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

/** logits = s·norm(a)·norm(b)ᵀ with a backward that maps dLogits to (da, db). */
function cosineLogits(a: Tensor2D, b: Tensor2D, scale: number) {
  const [n, e] = a.dims;
  const m = b.dims[0];
  const norm = (t: Tensor2D, r: number) => { let s = 0; for (let k = 0; k < e; k++) s += t.data[r * e + k]! ** 2; return Math.max(Math.sqrt(s), 1e-12); };
  const na = Float64Array.from({ length: n }, (_, i) => norm(a, i));
  const nb = Float64Array.from({ length: m }, (_, j) => norm(b, j));
  const ah = Float64Array.from(a.data, (v, i) => v / na[Math.floor(i / e)]!);
  const bh = Float64Array.from(b.data, (v, i) => v / nb[Math.floor(i / e)]!);
  const logits = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) { let s = 0; for (let k = 0; k < e; k++) s += ah[i * e + k]! * bh[j * e + k]!; logits[i * m + j] = scale * s; }
  const backward = (dL: Tensor2D): { da: Float32Array; db: Float32Array } => {
    const dah = new Float64Array(n * e), dbh = new Float64Array(m * e);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
      const g = scale * dL.data[i * m + j]!;
      if (g !== 0) for (let k = 0; k < e; k++) { dah[i * e + k]! += g * bh[j * e + k]!; dbh[j * e + k]! += g * ah[i * e + k]!; }
    }
    const back = (dh: Float64Array, h: Float64Array, nr: Float64Array, rows: number) => {
      const out = new Float32Array(rows * e);
      for (let r = 0; r < rows; r++) {
        let c = 0;
        for (let k = 0; k < e; k++) c += h[r * e + k]! * dh[r * e + k]!;
        for (let k = 0; k < e; k++) out[r * e + k] = (dh[r * e + k]! - h[r * e + k]! * c) / nr[r]!;
      }
      return out;
    };
    return { da: back(dah, ah, na, n), db: back(dbh, bh, nb, m) };
  };
  return { logits: { dtype: 'float32', data: logits, dims: [n, m] } as Tensor2D, backward };
}

/** Position of the first <|endoftext|> (the largest id) in each row of [rows · L] CLIP token ids. */
function eotPositions(ids: readonly number[], dims: [number, number]): number[] {
  return Array.from({ length: dims[0] }, (_, r) => {
    const row = ids.slice(r * dims[1], (r + 1) * dims[1]);
    return row.indexOf(Math.max(...row));
  });
}

const addInto = (a: Float32Array, ...bs: Float32Array[]) => { for (const b of bs) for (let i = 0; i < a.length; i++) a[i]! += b[i]!; return a; };

/**
 * HESP (Liu et al., ACM MM 2024) on a frozen CLIP with gradients from ONNX Runtime VJP graphs.
 * Learnable: class-specific CoOp contexts (K × nCtx × D), a 56×56 pixel-space visual prompt, K negative prompt
 * images (ARPL reciprocal points c_k = E_img(P_k)) and the radius R. Losses (all weight 1): CE on CLIP logits,
 * supervised contrastive on v̄, ARPL, CE of negative images vs "This video is not {name}." texts, CE on the ensemble.
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

  private constructor(
    readonly clip: ClipGradientModel,
    private readonly o: Required<Omit<HespOptions, 'location' | 'referenceBehaviour'>> & { referenceBehaviour: HespReferenceBehaviour },
    private readonly promptIds: { ids: number[]; dims: [number, number]; eot: number[] },
    private readonly negText: Tensor2D,
    location: PatchLocation,
    private readonly tokenize: (texts: readonly string[]) => { ids: number[]; dims: [number, number] },
  ) {
    this.K = o.classTexts.length;
    this.S = clip.arch.vision.imageSize!;
    const dt = clip.arch.text.hiddenSize;
    const rng = createRng(o.seed);
    this.ctx = Float32Array.from({ length: this.K * o.nCtx * dt }, () => 0.02 * rng.normal());
    this.patch = new Float32Array(3 * o.patchSize * o.patchSize);
    this.negImages = Float32Array.from({ length: this.K * 3 * this.S * this.S }, () => rng.normal());
    this.radius = new Float32Array(1);
    this.location = clampPatchCentre(location, o.patchSize, this.S);
    this.opt = createSgd({ ctx: this.ctx, negImages: this.negImages, radius: this.radius }, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
  }

  /** @param modelDir a local Hugging Face CLIP directory (config.json, model.safetensors, tokenizer) */
  static async create(modelDir: string, options: HespOptions & { device?: 'cpu' | 'webgpu'; weightsIn?: 'inputs' | 'graph' }): Promise<HespModel> {
    if (options.classTexts.length < 2) throw new InvalidArgumentError({ functionName: 'HespModel.create', argument: 'classTexts', message: 'needs at least 2 known classes' });
    const clip = await ClipGradientModel.load(modelDir, { device: options.device ?? 'cpu', ...(options.weightsIn ? { weightsIn: options.weightsIn } : {}) });
    const tokenize = await loadClipTokenizer(modelDir);
    const o = {
      classTexts: options.classTexts, nCtx: options.nCtx ?? 16, patchSize: options.patchSize ?? 56, logitScale: options.logitScale ?? 100, seed: options.seed,
      lr: options.lr ?? 0.01, momentum: options.momentum ?? 0.9, weightDecay: options.weightDecay ?? 1e-4, promptStep: options.promptStep ?? 50,
      referenceBehaviour: options.referenceBehaviour ?? {}, chunk: options.chunk ?? 64,
    };
    const p = tokenize(o.classTexts.map((t) => coopPromptText(t, o.nCtx)));
    const n = tokenize(o.classTexts.map(negativePromptText));
    const negText = await clip.textForwardEmbeds(clip.tokenEmbeddings(n.ids, n.dims), eotPositions(n.ids, n.dims));
    const S = clip.arch.vision.imageSize!;
    return new HespModel(clip, o, { ...p, eot: eotPositions(p.ids, p.dims) }, negText, options.location ?? { row: S / 2, col: S / 2 }, tokenize);
  }

  /**
   * HESP's run-level patch location (`core/train.py`): zero-shot CLIP with the plain class texts on one frame
   * (pixels in [0, 1], not normalised, as the reference feeds it) picks class c; CAM = fc0.weight[c] · conv1 features
   * with fc0 a never-trained Linear(D, K) drawn from `seed` (PyTorch default init); then `camPatchLocation`.
   * Sets and returns the location. @param frame [3, S, S]
   */
  async camLocation(frame: Float32Array, seed = 0): Promise<PatchLocation> {
    const S = this.S;
    const img = await this.clip.visionForwardEmbeds({ dtype: 'float32', data: frame, dims: [1, 3, S, S] });
    const tok = this.tokenize(this.o.classTexts);
    const txt = await this.clip.textForwardEmbeds(this.clip.tokenEmbeddings(tok.ids, tok.dims), eotPositions(tok.ids, tok.dims));
    const top = cosineLogits(img, txt, 1).logits.data;
    const c = top.indexOf(Math.max(...top));
    const F = this.clip.patchEmbeddings(frame);
    const [D, g] = F.dims;
    const rng = createRng(seed);
    const bound = 1 / Math.sqrt(D);
    const fc0 = Float32Array.from({ length: this.K * D }, () => (2 * rng.next() - 1) * bound);
    const cam = new Float32Array(g * g);
    for (let d = 0; d < D; d++) { const w = fc0[c * D + d]!; for (let p = 0; p < g * g; p++) cam[p]! += w * F.data[d * g * g + p]!; }
    this.location = camPatchLocation(cam, g, { imageSize: S, patchSize: this.o.patchSize });
    return this.location;
  }

  setLearningRate(lr: number): void {
    this.opt.setLearningRate(lr);
  }

  /** Token embeddings of the K prompts with the CoOp context written at positions 1..nCtx. [K, 77, D] */
  private promptEmbeds(): Tensor3D {
    const e = this.clip.tokenEmbeddings(this.promptIds.ids, this.promptIds.dims);
    const d = e.dims[2], L = e.dims[1], n = this.o.nCtx;
    for (let k = 0; k < this.K; k++) e.data.set(this.ctx.subarray(k * n * d, (k + 1) * n * d), (k * L + 1) * d);
    return e;
  }

  /** Frames [clips·T, 3, S, S] in [0, 1] → patch added → CLIP-normalised. */
  private prompted(frames: Tensor4D): Tensor4D {
    const s = this.o.patchSize;
    const x = applyVisualPrompt(frames, { dtype: 'float32', data: this.patch, dims: [3, s, s] }, this.location);
    const plane = this.S * this.S;
    for (let i = 0; i < x.data.length; i++) { const c = Math.floor(i / plane) % 3; x.data[i] = (x.data[i]! - CLIP_MEAN[c]!) / CLIP_STD[c]!; }
    return x;
  }

  private negImagesTensor(): Tensor4D {
    return { dtype: 'float32', data: this.negImages, dims: [this.K, 3, this.S, this.S] };
  }

  private meanOverFrames(e: Tensor2D, t: number): Tensor2D {
    const [n, d] = e.dims;
    const b = n / t;
    const out = new Float32Array(b * d);
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) out[Math.floor(i / t) * d + k]! += e.data[i * d + k]! / t;
    return { dtype: 'float32', data: out, dims: [b, d] };
  }

  /** Ensemble, CLIP and ARPL logits [clips, K] for evaluation. @param frames [clips·T, 3, S, S] in [0, 1] */
  async logits(frames: Tensor4D, framesPerClip: number): Promise<{ clip: Tensor2D; arpl: Tensor2D; ensemble: Tensor2D }> {
    const v = this.meanOverFrames(await this.clip.visionForwardEmbeds(this.prompted(frames), this.o.chunk), framesPerClip);
    const t = await this.clip.textForwardEmbeds(this.promptEmbeds(), this.promptIds.eot);
    const c = await this.clip.visionForwardEmbeds(this.negImagesTensor(), this.o.chunk);
    const clip = cosineLogits(v, t, this.o.logitScale).logits;
    const arpl = arplLogits(v, c);
    return { clip, arpl, ensemble: { dtype: 'float32', data: clip.data.map((x, i) => (x + arpl.data[i]!) / 2), dims: clip.dims } };
  }

  /**
   * One training step on a batch of clips. @param frames [clips·T, 3, S, S] pixels in [0, 1]
   * @param labels [clips] known labels in [0, K)
   */
  async step(frames: Tensor4D, framesPerClip: number, labels: readonly number[]): Promise<HespLosses> {
    const g = await this.gradients(frames, framesPerClip, labels);
    this.apply(g);
    return g.losses;
  }

  /** The five losses on a batch, without gradients or updates. */
  async loss(frames: Tensor4D, framesPerClip: number, labels: readonly number[]): Promise<HespLosses> {
    return (await this.gradients(frames, framesPerClip, labels, { lossOnly: true })).losses;
  }

  /**
   * Losses and the gradient of their sum w.r.t. every learnable tensor (ctx, patch, negative images, R), no update.
   */
  async gradients(frames: Tensor4D, framesPerClip: number, labels: readonly number[], options: { lossOnly?: boolean } = {}): Promise<HespGradients> {
    const T = framesPerClip;
    const B = frames.dims[0] / T;
    if (!Number.isInteger(B) || labels.length !== B) throw new InvalidArgumentError({ functionName: 'HespModel.step', argument: 'labels', message: `${labels.length} labels for ${frames.dims[0]} frames at ${T} per clip` });
    const pix = this.prompted(frames);
    const v = this.meanOverFrames(await this.clip.visionForwardEmbeds(pix, this.o.chunk), T);
    const emb = this.promptEmbeds();
    const t = await this.clip.textForwardEmbeds(emb, this.promptIds.eot);
    const c = await this.clip.visionForwardEmbeds(this.negImagesTensor(), this.o.chunk);
    const E = v.dims[1];
    // losses and gradients w.r.t. v̄, t, c, R
    const clipL = cosineLogits(v, t, this.o.logitScale);
    const ceClip = crossEntropy(clipL.logits, labels);
    const arpl = arplLoss({ features: v, centers: c, labels, radius: this.radius[0]! });
    const ens = crossEntropy({ dtype: 'float32', data: clipL.logits.data.map((x, i) => (x + arpl.logits.data[i]!) / 2), dims: clipL.logits.dims }, labels);
    const half = (g: Tensor2D): Tensor2D => ({ ...g, data: g.data.map((x) => x / 2) });
    const clipBack = clipL.backward({ ...ceClip.gradLogits, data: addInto(Float32Array.from(ceClip.gradLogits.data), half(ens.gradLogits).data) });
    const arplBack = arplLogitsBackward(v, c, half(ens.gradLogits));
    const hasPositive = labels.some((y, i) => labels.indexOf(y) !== i);
    const sup = hasPositive ? supConLoss({ features: v, labels, temperature: 0.5 }) : { loss: 0, gradFeatures: { data: new Float32Array(B * E) } };
    const uncl = cosineLogits(c, this.negText, this.o.logitScale);
    const ceU = crossEntropy(uncl.logits, Array.from({ length: this.K }, (_, i) => i));
    const unclBack = uncl.backward(ceU.gradLogits);
    const losses = { clipKnown: ceClip.loss, supCon: sup.loss, arpl: arpl.loss, negativeClip: ceU.loss, ensemble: ens.loss };
    const summary: HespLosses = { ...losses, total: Object.values(losses).reduce((a, b) => a + b, 0) };
    if (options.lossOnly) return { losses: summary, ctx: new Float32Array(0), patch: new Float32Array(0), negImages: new Float32Array(0), radius: 0 };
    const dv = addInto(Float32Array.from(clipBack.da), arpl.gradFeatures.data, arplBack.gradFeatures.data, sup.gradFeatures.data);
    const dc = addInto(Float32Array.from(arpl.gradCenters.data), arplBack.gradCenters.data, unclBack.da);
    const dt = clipBack.db;
    // vision VJP for the frames: each frame gets dv̄ / T; chain through normalisation; sum the patch region
    const S = this.S, s = this.o.patchSize, plane = S * S;
    const gPatch = new Float64Array(3 * s * s);
    const top = this.location.row - s / 2, left = this.location.col - s / 2;
    for (let i = 0; i < B * T; i += this.o.chunk) {
      const n = Math.min(this.o.chunk, B * T - i);
      const cot = new Float32Array(n * E);
      for (let r = 0; r < n; r++) for (let k = 0; k < E; k++) cot[r * E + k] = dv[Math.floor((i + r) / T) * E + k]! / T;
      const r = await this.clip.visionVjp({ dtype: 'float32', data: pix.data.subarray(i * 3 * plane, (i + n) * 3 * plane), dims: [n, 3, S, S] }, { dtype: 'float32', data: cot, dims: [n, E] });
      for (let f = 0; f < n; f++) for (let ch = 0; ch < 3; ch++) for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) {
        gPatch[(ch * s + y) * s + x]! += r.gradPixels.data[((f * 3 + ch) * S + top + y) * S + left + x]! / CLIP_STD[ch]! / B;
      }
    }
    // negative prompt images (fed to CLIP without normalisation) and CoOp contexts
    const gNeg = (await this.clip.visionVjp(this.negImagesTensor(), { dtype: 'float32', data: dc, dims: [this.K, E] })).gradPixels.data;
    const gEmb = (await this.clip.textVjp(emb, this.promptIds.eot, { dtype: 'float32', data: dt, dims: [this.K, E] })).gradInputsEmbeds;
    const d = gEmb.dims[2], L = gEmb.dims[1], nc = this.o.nCtx;
    const gCtx = new Float32Array(this.ctx.length);
    for (let k = 0; k < this.K; k++) gCtx.set(gEmb.data.subarray((k * L + 1) * d, (k * L + 1 + nc) * d), k * nc * d);
    return { losses: summary, ctx: gCtx, patch: Float32Array.from(gPatch), negImages: gNeg, radius: arpl.gradRadius };
  }

  /**
   * HESP's updates from gradients: step-50 normalised-gradient moves of the patch and (with the mean over the K
   * images) of the negative images, then SGD over ctx, negative images and R. With
   * `referenceBehaviour.zeroContextGradient` the context gets a zero gradient (decay and momentum only).
   */
  apply(g: HespGradients): void {
    const normStep = (target: Float32Array, grad: ArrayLike<number>, repeat: number) => {
      let n2 = 0;
      for (let i = 0; i < grad.length; i++) n2 += grad[i]! ** 2;
      const f = this.o.promptStep / (Math.sqrt(n2) + 1e-10);
      for (let r = 0; r < repeat; r++) for (let i = 0; i < grad.length; i++) target[r * grad.length + i]! -= f * grad[i]!;
    };
    normStep(this.patch, g.patch, 1);
    const per = 3 * this.S * this.S;
    const gMean = new Float64Array(per);
    for (let k = 0; k < this.K; k++) for (let i = 0; i < per; i++) gMean[i]! += g.negImages[k * per + i]! / this.K;
    normStep(this.negImages, gMean, this.K);
    const ctxGrad = this.o.referenceBehaviour.zeroContextGradient ? new Float32Array(this.ctx.length) : g.ctx;
    this.opt.step({ ctx: ctxGrad, negImages: g.negImages, radius: Float32Array.of(g.radius) });
  }

  /** Learnable state for checkpoints. */
  state(): { tensors: Record<string, Float32Array>; optimizer: ReturnType<Optimizer['state']> } {
    return { tensors: { ctx: this.ctx, patch: this.patch, negImages: this.negImages, radius: this.radius }, optimizer: this.opt.state() };
  }

  loadState(s: { tensors: Record<string, Float32Array>; optimizer: ReturnType<Optimizer['state']> }): void {
    for (const k of ['ctx', 'patch', 'negImages', 'radius'] as const) {
      const src = s.tensors[k];
      if (!src || src.length !== this[k].length) throw new InvalidArgumentError({ functionName: 'HespModel.loadState', argument: k, message: `expected ${this[k].length} values, got ${src?.length}` });
      this[k].set(src);
    }
    this.opt.loadState(s.optimizer);
  }

  async release(): Promise<void> {
    await this.clip.release();
  }
}
