import * as ort from 'onnxruntime-node';
import { assertFiniteValues, assertFloat32Data, assertShape, InvalidArgumentError, type Tensor2D } from '@vlfer/core';
import { ortSessionOptions, type ThreadOptions } from '@vlfer/core/node';
import { checkLogitScale, infoNceSgdModelBytes } from '../info-nce.js';

/** What {@link InfoNceSgdStep.create} takes. */
export interface InfoNceSgdStepOptions extends ThreadOptions {
  /** [N, inDim] frozen encoder features, resident: handed to ONNX Runtime without a copy at every step. */
  features: Tensor2D;
  /** [N, outDim] teacher targets (normalised inside), resident like `features`. */
  targets: Tensor2D;
  /**
   * [outDim, inDim] the weights W (PyTorch `nn.Linear.weight` layout). The step alternates between this buffer and a
   * second one; after {@link InfoNceSgdStep.sync} or `release` it holds the current weights.
   */
  weight: Tensor2D;
  lr: number;
  /** SGD momentum (no dampening, no Nesterov). */
  momentum: number;
  /** L2 penalty added to the gradient (PyTorch `weight_decay`). */
  weightDecay: number;
  /** @default 100 (CLIP's frozen logit scale) */
  scale?: number;
  /** Resume point: the optimiser state as `createSgd(…).state()` writes it (step count, `buffers.weight`). */
  state?: { step: number; buffers: Record<string, Float32Array> };
}

const fn = 'InfoNceSgdStep';
const bad = (argument: string, message: string) => new InvalidArgumentError({ functionName: fn, argument, message });

/** A learning rate: finite and > 0 (Infinity turns the weights into NaN while the step's loss looks finite). */
function checkLearningRate(lr: number): void {
  if (!(Number.isFinite(lr) && lr > 0)) throw bad('lr', `must be a finite number > 0, got ${lr}`);
}

function checkStepShapes(o: InfoNceSgdStepOptions): { rows: number; d: number; e: number } {
  for (const name of ['features', 'targets', 'weight'] as const) {
    assertShape(o[name], [null, null], name, fn);
    assertFloat32Data(o[name], name, fn);
  }
  checkLogitScale(o.scale, fn);
  const [rows, d] = o.features.dims;
  const [e, d2] = o.weight.dims;
  if (rows < 1) throw bad('features', 'needs at least one row');
  if (d2 !== d) throw bad('weight', `has shape [${e}, ${d2}] but features are ${d}-d (expected [outDim, ${d}])`);
  if (o.targets.dims[0] !== rows || o.targets.dims[1] !== e)
    throw bad('targets', `has shape [${o.targets.dims.join(', ')}], expected [${rows}, ${e}] (rows × head output dim)`);
  for (const [name, t] of [
    ['features', o.features],
    ['targets', o.targets],
    ['weight', o.weight],
  ] as const)
    if (t.data.length !== t.dims[0] * t.dims[1])
      throw bad(name, `data length ${t.data.length} does not match dims [${t.dims.join(', ')}]`);
  checkLearningRate(o.lr);
  const buffer = o.state?.buffers.weight;
  if (buffer && buffer.length !== e * d)
    throw bad('state.buffers.weight', `length ${buffer.length}, expected ${e * d}`);
  // checked once here: the rows stay resident for every step
  for (const name of ['features', 'targets', 'weight'] as const) assertFiniteValues(o[name], name, fn);
  if (buffer) assertFiniteValues({ data: buffer }, 'state.buffers.weight', fn);
  return { rows, d, e };
}

/**
 * Exp-CLIP head training steps fused into one ONNX Runtime run each (`infoNceSgdModelBytes`): the batch is gathered
 * from the resident features and targets inside the graph, and the SGD update (`torch.optim.SGD` with momentum and
 * weight decay, equal to `createSgd` up to float32 rounding) happens there too, writing the new weights and momentum
 * into preallocated buffers that the next step reads (two of each, alternating). The gradient never leaves the graph.
 */
export class InfoNceSgdStep {
  private current: 0 | 1 = 0;
  private steps: number;
  private hasBuffer: boolean;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly options: InfoNceSgdStepOptions,
    private readonly tensors: {
      fixed: Record<string, ort.Tensor>;
      weights: [ort.Tensor, ort.Tensor];
      buffers: [ort.Tensor, ort.Tensor] | null;
      index: BigInt64Array;
    },
  ) {
    this.steps = options.state?.step ?? 0;
    this.hasBuffer = options.momentum > 0 && options.state?.buffers.weight !== undefined;
  }

  /** @throws InvalidArgumentError naming the option whose shape or value is wrong */
  static async create(options: InfoNceSgdStepOptions): Promise<InfoNceSgdStep> {
    const { rows, d, e } = checkStepShapes(options);
    const matrix = (data: Float32Array) => new ort.Tensor('float32', data, [e, d]);
    const stored = options.state?.buffers.weight;
    const buffers: [ort.Tensor, ort.Tensor] | null =
      options.momentum > 0
        ? [matrix(stored ? Float32Array.from(stored) : new Float32Array(e * d)), matrix(new Float32Array(e * d))]
        : null;
    const session = await ort.InferenceSession.create(
      infoNceSgdModelBytes({ momentum: options.momentum, weightDecay: options.weightDecay, outDim: e }),
      ortSessionOptions(options) as ort.InferenceSession.SessionOptions,
    );
    const fixed = {
      features: new ort.Tensor('float32', options.features.data, [rows, d]),
      targets: new ort.Tensor('float32', options.targets.data, [rows, e]),
      lr: new ort.Tensor('float32', Float32Array.of(options.lr), []),
      scale: new ort.Tensor('float32', Float32Array.of(options.scale ?? 100), []),
    };
    const weights: [ort.Tensor, ort.Tensor] = [matrix(options.weight.data), matrix(new Float32Array(e * d))];
    return new InfoNceSgdStep(session, options, { fixed, weights, buffers, index: new BigInt64Array(0) });
  }

  /**
   * One training step on the batch of rows `rows` (indices into features and targets). A step whose loss is not
   * finite is not applied: the weights and momentum stay as they were.
   * @returns the batch's loss and in-batch retrieval hits
   * @throws InvalidArgumentError for an empty batch or a row index outside [0, N)
   */
  async step(rows: ArrayLike<number>): Promise<{ loss: number; correct: number }> {
    const n = this.options.features.dims[0];
    if (rows.length < 1) throw bad('rows', 'needs at least one row index');
    let index = this.tensors.index;
    if (index.length !== rows.length) index = this.tensors.index = new BigInt64Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (!Number.isInteger(r) || r < 0 || r >= n) throw bad('rows', `index ${r} at ${i} is outside [0, ${n})`);
      index[i] = BigInt(r);
    }
    const { fixed, weights, buffers } = this.tensors;
    const cur = this.current;
    const next = cur === 0 ? 1 : 0;
    const out = await this.session.run(
      {
        ...fixed,
        index: new ort.Tensor('int64', index, [rows.length]),
        W: weights[cur],
        ...(buffers ? { momentum_buffer: buffers[cur] } : {}),
      },
      {
        loss: null,
        correct: null,
        weight_next: weights[next],
        ...(buffers ? { momentum_buffer_next: buffers[next] } : {}),
      },
    );
    const loss = (out.loss!.data as Float32Array)[0]!;
    if (Number.isFinite(loss)) {
      this.current = next;
      this.steps++;
      this.hasBuffer = buffers !== null;
    }
    return { loss, correct: (out.correct!.data as Float32Array)[0]! };
  }

  /**
   * The learning rate of the next steps (schedules: `multiStepLr`); the momentum buffer is kept, as PyTorch's SGD
   * keeps it when a scheduler changes the rate. @throws InvalidArgumentError unless lr > 0
   */
  setLearningRate(lr: number): void {
    checkLearningRate(lr);
    (this.tensors.fixed['lr']!.data as Float32Array)[0] = lr;
  }

  /** Copy the current weights into the caller's `weight` buffer when they are in the other one. */
  sync(): void {
    if (this.current === 0) return;
    this.options.weight.data.set(this.tensors.weights[1].data as Float32Array);
    this.current = 0;
    const buffers = this.tensors.buffers;
    if (buffers) (buffers[0].data as Float32Array).set(buffers[1].data as Float32Array);
  }

  /** The optimiser state in `createSgd(…).state()`'s form: steps taken and the momentum buffer (a copy) once it exists. */
  state(): { step: number; buffers: Record<string, Float32Array> } {
    const buffers = this.tensors.buffers;
    if (!buffers) return { step: this.steps, buffers: { ...(this.options.state?.buffers ?? {}) } };
    const b = buffers[this.current].data as Float32Array;
    return { step: this.steps, buffers: this.hasBuffer ? { weight: Float32Array.from(b) } : {} };
  }

  /** {@link sync}, then release the session. */
  async release(): Promise<void> {
    this.sync();
    await this.session.release();
  }
}
