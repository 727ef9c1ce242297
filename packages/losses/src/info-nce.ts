import {
  assertFiniteValues,
  assertFloat32Data,
  assertShape,
  buildModel,
  constant,
  InvalidArgumentError,
  type NodeSpec,
  type Tensor2D,
} from '@vlfer/core';

/**
 * Exp-CLIP's training loss (`train.py`): with I = normalise(X·Wᵀ) (projected CLIP image features) and
 * T̂ = normalise(T) (LLM teacher targets), logits L = s·I·T̂ᵀ (s = 100, CLIP's frozen logit scale),
 * loss = 0.5·CE(L, arange(n)) + 0.5·CE(Lᵀ, arange(n)).
 * Gradient w.r.t. W (analytic): G = (softmax_rows(L) + softmax_cols(L) − 2·Id) / (2n); dI = s·G·T̂;
 * dZ = (dI − I·⟨I, dI⟩) / ‖Z‖; dW = dZᵀ·X (the graph computes the same with the normalisations folded into [n, n]
 * factors; `infoNceLossNodes`).
 * Zero rows: norms are clamped to `epsilon` (1e-12, as torch.nn.functional.normalize), so a zero feature or
 * target gives a zero row and a finite loss instead of NaN.
 */
export interface InfoNceResult {
  loss: number;
  /** dLoss/dW, [outDim, inDim] like W. */
  gradWeight: Float32Array;
  /** In-batch image→target retrieval hits (argmax over the row of L equals the row index). */
  correct: number;
}

export interface InfoNceInputs {
  /** [n, inDim] frozen encoder features (not normalised). */
  features: Tensor2D;
  /** [outDim, inDim] projection weight W (PyTorch `nn.Linear.weight` layout). */
  weight: Tensor2D;
  /** [n, outDim] teacher targets (normalised inside). */
  targets: Tensor2D;
  /** @default 100 */
  scale?: number;
}

export const NORM_EPSILON = 1e-12;

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The logit scale of the InfoNCE loss: a number in (0, float32's largest] (CLIP's exp(logit_scale), 100); 0 gives a zero gradient,
 * a negative one reverses it. @throws InvalidArgumentError naming `scale` and `fn`
 */
export function checkLogitScale(scale: number | undefined, fn: string): number {
  const s = scale ?? 100;
  // the graphs compute in float32: a larger scale is Infinity there (loss and gradient NaN)
  if (!(Number.isFinite(s) && s > 0 && s <= FLOAT32_MAX))
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'scale',
      message: `must be a number > 0 and ≤ ${FLOAT32_MAX} (float32's largest; CLIP's logit scale is 100), got ${s}`,
    });
  return s;
}

/**
 * The InfoNCE inputs checked: features [n, inDim] (n ≥ 1), weight [outDim, inDim], targets [n, outDim], float32 and
 * finite, and the scale (see {@link checkLogitScale}).
 * @returns n, inDim (d) and outDim (e) @throws InvalidArgumentError naming the argument and `fn`
 */
export function checkInfoNceInputs(inputs: InfoNceInputs, fn: string): { n: number; d: number; e: number } {
  // each a float32 matrix first, so that a rank-1 tensor or a Float64Array is named as what it is
  for (const name of ['features', 'weight', 'targets'] as const) {
    assertShape(inputs[name], [null, null], name, fn);
    assertFloat32Data(inputs[name], name, fn);
  }
  checkLogitScale(inputs.scale, fn);
  const [n, d] = inputs.features.dims;
  const [e, d2] = inputs.weight.dims;
  if (n < 1)
    throw new InvalidArgumentError({ functionName: fn, argument: 'features', message: 'needs at least one row' });
  if (d2 !== d)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'weight',
      message: `has shape [${e}, ${d2}] but features are ${d}-d (expected [outDim, ${d}])`,
    });
  if (inputs.targets.dims[0] !== n || inputs.targets.dims[1] !== e) {
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'targets',
      message: `has shape [${inputs.targets.dims.join(', ')}], expected [${n}, ${e}] (batch × head output dim)`,
    });
  }
  for (const [name, t] of [
    ['features', inputs.features],
    ['weight', inputs.weight],
    ['targets', inputs.targets],
  ] as const) {
    if (t.data.length !== t.dims[0] * t.dims[1])
      throw new InvalidArgumentError({
        functionName: fn,
        argument: name,
        message: `data length ${t.data.length} does not match dims [${t.dims.join(', ')}]`,
      });
  }
  // NaN in one row makes the loss NaN and the retrieval hits garbage; a NaN weight stays NaN for good
  for (const name of ['features', 'weight', 'targets'] as const) assertFiniteValues(inputs[name], name, fn);
  return { n, d, e };
}

/**
 * The loss graph's nodes. Without `weightDecay` the last product is `grad_weight` = dZᵀ·X (dLoss/dW); with it, that
 * product also adds the L2 term in its epilogue: `descent` = dZᵀ·X + weightDecay·W (SGD's d, one pass fewer).
 */
function infoNceNodes(weightDecay?: number, logitsPad = 0): NodeSpec[] {
  const gradient: NodeSpec =
    weightDecay === undefined
      ? { op: 'Gemm', inputs: ['dZ', 'X'], outputs: ['grad_weight'], attrs: { transA: 1 } }
      : {
          op: 'Gemm',
          inputs: ['dZ', 'X', 'W'],
          outputs: ['descent'],
          attrs: { transA: 1, beta: { float: weightDecay } },
        };
  return [...infoNceLossNodes(logitsPad), gradient, ...retrievalHitNodes()];
}

/**
 * Z = X·Wᵀ through the loss to dZ (the gradient w.r.t. the projected features before normalisation), with the
 * normalisations folded into [n, n] factors so that no [n, outDim] matrix is normalised or scaled on its own:
 * with r = 1/‖Z‖ and t = 1/‖T‖ per row, L = s·r·(Z·Tᵀ)·t (= s·I·T̂ᵀ); ⟨I, dI⟩ = Σ_j G ⊙ L (since dI = s·G·T̂);
 * dZ = (dI − I·⟨I, dI⟩)·r = (s·r·G·t)·T − (⟨I, dI⟩·r²)·Z, the last two as one Gemm with the second in its epilogue.
 */
function infoNceLossNodes(logitsPad: number): NodeSpec[] {
  return [
    constant('eps', 'float32', [NORM_EPSILON]),
    constant('half', 'float32', [0.5]),
    constant('neg_half', 'float32', [-0.5]),
    constant('axis1', 'int64', [1], [1]),
    { op: 'Gemm', inputs: ['X', 'W'], outputs: ['Z'], attrs: { transB: 1 } },
    { op: 'ReduceSumSquare', inputs: ['Z'], outputs: ['zss'], attrs: { axes: [1], keepdims: 1 } },
    { op: 'Sqrt', inputs: ['zss'], outputs: ['zn'] },
    { op: 'Max', inputs: ['zn', 'eps'], outputs: ['znc'] },
    { op: 'Reciprocal', inputs: ['znc'], outputs: ['inv'] }, // [n, 1]: scales rows
    { op: 'ReduceSumSquare', inputs: ['T'], outputs: ['tss'], attrs: { axes: [1], keepdims: 0 } },
    { op: 'Sqrt', inputs: ['tss'], outputs: ['tn'] },
    { op: 'Max', inputs: ['tn', 'eps'], outputs: ['tnc'] },
    { op: 'Reciprocal', inputs: ['tnc'], outputs: ['tinv'] }, // [n]: scales columns
    { op: 'Mul', inputs: ['inv', 'scale'], outputs: ['inv_s'] },
    ...logitsProductNodes(logitsPad),
    { op: 'Mul', inputs: ['ZT', 'inv_s'], outputs: ['ZTr'] },
    { op: 'Mul', inputs: ['ZTr', 'tinv'], outputs: ['L'] },
    ...infoNceBackwardNodes(),
  ];
}

/**
 * Zero columns added to Z and T for the logits product Z·Tᵀ when a row of `outDim` floats is a multiple of 4 KiB
 * (Exp-CLIP: 4096). ONNX Runtime's SGEMM (MLAS) reads its left operand unpacked, 12 rows at a time, and rows 4 KiB
 * apart share one L1 cache set: that product took 60.5 ms of CPU time at n = 512, outDim = 4096, and 48.1 ms with
 * both operands padded to 4112 columns inside the graph, the two Pad copies included (apps/bench/README.md, train-head).
 */
export function logitsPadding(outDim: number): number {
  return outDim % 1024 === 0 ? 16 : 0;
}

/** ZT = Z·Tᵀ [n, n], with Z and T padded by `pad` zero columns first (see {@link logitsPadding}); same values. */
function logitsProductNodes(pad: number): NodeSpec[] {
  if (!pad) return [{ op: 'Gemm', inputs: ['Z', 'T'], outputs: ['ZT'], attrs: { transB: 1 } }];
  return [
    constant('logits_pad', 'int64', [0, 0, 0, pad], [4]),
    { op: 'Pad', inputs: ['Z', 'logits_pad'], outputs: ['Z_padded'] },
    { op: 'Pad', inputs: ['T', 'logits_pad'], outputs: ['T_padded'] },
    { op: 'Gemm', inputs: ['Z_padded', 'T_padded'], outputs: ['ZT'], attrs: { transB: 1 } },
  ];
}

/** From the logits L to the loss and dZ (see {@link infoNceLossNodes}). */
function infoNceBackwardNodes(): NodeSpec[] {
  return [
    { op: 'EyeLike', inputs: ['L'], outputs: ['eye'] },
    { op: 'LogSoftmax', inputs: ['L'], outputs: ['LS1'], attrs: { axis: 1 } },
    { op: 'LogSoftmax', inputs: ['L'], outputs: ['LS0'], attrs: { axis: 0 } },
    { op: 'Mul', inputs: ['LS1', 'eye'], outputs: ['LS1d'] },
    { op: 'Mul', inputs: ['LS0', 'eye'], outputs: ['LS0d'] },
    { op: 'ReduceSum', inputs: ['LS1d'], outputs: ['diag_sum1'], attrs: { keepdims: 0 } },
    { op: 'ReduceSum', inputs: ['LS0d'], outputs: ['diag_sum0'], attrs: { keepdims: 0 } },
    { op: 'ReduceSum', inputs: ['eye'], outputs: ['nf'], attrs: { keepdims: 0 } },
    { op: 'Add', inputs: ['diag_sum1', 'diag_sum0'], outputs: ['diag_sum'] },
    { op: 'Div', inputs: ['diag_sum', 'nf'], outputs: ['mean_diag'] },
    { op: 'Mul', inputs: ['mean_diag', 'neg_half'], outputs: ['loss'] },
    { op: 'Exp', inputs: ['LS1'], outputs: ['P'] },
    { op: 'Exp', inputs: ['LS0'], outputs: ['Q'] },
    { op: 'Add', inputs: ['P', 'Q'], outputs: ['PQ'] },
    { op: 'Add', inputs: ['eye', 'eye'], outputs: ['eye2'] },
    { op: 'Sub', inputs: ['PQ', 'eye2'], outputs: ['G0'] },
    { op: 'Div', inputs: ['half', 'nf'], outputs: ['half_inv_n'] },
    { op: 'Mul', inputs: ['G0', 'half_inv_n'], outputs: ['G'] },
    { op: 'Mul', inputs: ['G', 'L'], outputs: ['GL'] },
    { op: 'ReduceSum', inputs: ['GL', 'axis1'], outputs: ['c'], attrs: { keepdims: 1 } }, // ⟨I, dI⟩ per row
    { op: 'Mul', inputs: ['G', 'inv_s'], outputs: ['Gr'] },
    { op: 'Mul', inputs: ['Gr', 'tinv'], outputs: ['H'] },
    { op: 'Mul', inputs: ['c', 'inv'], outputs: ['cr'] },
    { op: 'Mul', inputs: ['cr', 'inv'], outputs: ['crr'] },
    { op: 'Neg', inputs: ['crr'], outputs: ['neg_crr'] },
    { op: 'Mul', inputs: ['Z', 'neg_crr'], outputs: ['radial'] },
    { op: 'Gemm', inputs: ['H', 'T', 'radial'], outputs: ['dZ'] },
  ];
}

/** `correct`: rows whose largest logit is on the diagonal (in-batch image→target retrieval hits). */
function retrievalHitNodes(): NodeSpec[] {
  return [
    { op: 'ArgMax', inputs: ['L'], outputs: ['am'], attrs: { axis: 1, keepdims: 0 } },
    { op: 'ArgMax', inputs: ['eye'], outputs: ['ar'], attrs: { axis: 1, keepdims: 0 } },
    { op: 'Equal', inputs: ['am', 'ar'], outputs: ['eq'] },
    { op: 'Cast', inputs: ['eq'], outputs: ['eqf'], attrs: { to: 1 } },
    { op: 'ReduceSum', inputs: ['eqf'], outputs: ['correct'], attrs: { keepdims: 0 } },
  ];
}

/** The InfoNCE loss+gradient graph as ONNX bytes (dynamic n, inDim, outDim). */
export function infoNceModelBytes(): Uint8Array {
  return buildModel({
    name: 'vlfer_symmetric_info_nce_loss_grad',
    nodes: infoNceNodes(),
    inputs: [
      { name: 'X', type: 'float32', dims: ['n', 'in_dim'] },
      { name: 'W', type: 'float32', dims: ['out_dim', 'in_dim'] },
      { name: 'T', type: 'float32', dims: ['n', 'out_dim'] },
      { name: 'scale', type: 'float32', dims: [] },
    ],
    outputs: [
      { name: 'loss', type: 'float32', dims: [] },
      { name: 'grad_weight', type: 'float32', dims: ['out_dim', 'in_dim'] },
      { name: 'correct', type: 'float32', dims: [] },
    ],
  });
}

/** The constant hyperparameters of {@link infoNceSgdModelBytes}; the learning rate is fed per step. */
export interface InfoNceSgdGraphOptions {
  /** SGD momentum (`torch.optim.SGD`, no dampening, no Nesterov); 0 builds a graph without a momentum buffer. */
  momentum: number;
  /** L2 penalty added to the gradient (PyTorch `weight_decay`). */
  weightDecay: number;
  /**
   * The head's output dim, when the graph will only see that one: at a multiple of 1024 the logits product runs on
   * padded operands ({@link logitsPadding}; same values). Omitted, the graph takes any output dim unpadded.
   */
  outDim?: number;
}

/**
 * One whole Exp-CLIP training step as one graph: gather the batch rows `index` of the resident `features` [N, inDim]
 * and `targets` [N, outDim], the symmetric InfoNCE loss and gradient of {@link infoNceModelBytes}, and
 * `torch.optim.SGD`'s update d = ∇W + weightDecay·W; buf' = momentum·buf + d (buf = 0 before the first step, so
 * buf' = d as in PyTorch); W' = W − lr·buf'. Outputs `loss`, `correct`, `weight_next` and (momentum > 0)
 * `momentum_buffer_next`; the gradient itself never leaves the graph.
 * @throws InvalidArgumentError when momentum or weightDecay is negative or not finite
 */
export function infoNceSgdModelBytes(options: InfoNceSgdGraphOptions): Uint8Array {
  const { momentum, weightDecay } = options;
  for (const [name, v] of [
    ['momentum', momentum],
    ['weightDecay', weightDecay],
  ] as const)
    if (!(Number.isFinite(v) && v >= 0))
      throw new InvalidArgumentError({
        functionName: 'infoNceSgdModelBytes',
        argument: name,
        message: `must be a finite number ≥ 0, got ${v}`,
      });
  if (options.outDim !== undefined && !(Number.isInteger(options.outDim) && options.outDim > 0))
    throw new InvalidArgumentError({
      functionName: 'infoNceSgdModelBytes',
      argument: 'outDim',
      message: `must be a positive integer, got ${options.outDim}`,
    });
  const withBuffer = momentum > 0;
  const update: NodeSpec[] = withBuffer
    ? [
        constant('momentum', 'float32', [momentum]),
        { op: 'Mul', inputs: ['momentum_buffer', 'momentum'], outputs: ['decayed_buffer'] },
        { op: 'Add', inputs: ['decayed_buffer', 'descent'], outputs: ['momentum_buffer_next'] },
        { op: 'Mul', inputs: ['momentum_buffer_next', 'lr'], outputs: ['lr_step'] },
      ]
    : [{ op: 'Mul', inputs: ['descent', 'lr'], outputs: ['lr_step'] }];
  const matrix = (name: string) => ({ name, type: 'float32' as const, dims: ['out_dim', 'in_dim'] });
  return buildModel({
    name: 'vlfer_symmetric_info_nce_sgd_step',
    nodes: [
      { op: 'Gather', inputs: ['features', 'index'], outputs: ['X'], attrs: { axis: 0 } },
      { op: 'Gather', inputs: ['targets', 'index'], outputs: ['T'], attrs: { axis: 0 } },
      ...infoNceNodes(weightDecay, options.outDim === undefined ? 0 : logitsPadding(options.outDim)),
      ...update,
      { op: 'Sub', inputs: ['W', 'lr_step'], outputs: ['weight_next'] },
    ],
    inputs: [
      { name: 'features', type: 'float32', dims: ['rows', 'in_dim'] },
      { name: 'targets', type: 'float32', dims: ['rows', 'out_dim'] },
      { name: 'index', type: 'int64', dims: ['n'] },
      matrix('W'),
      ...(withBuffer ? [matrix('momentum_buffer')] : []),
      { name: 'lr', type: 'float32', dims: [] },
      { name: 'scale', type: 'float32', dims: [] },
    ],
    outputs: [
      { name: 'loss', type: 'float32', dims: [] },
      { name: 'correct', type: 'float32', dims: [] },
      matrix('weight_next'),
      ...(withBuffer ? [matrix('momentum_buffer_next')] : []),
    ],
  });
}
