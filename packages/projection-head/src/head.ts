import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  assertFloat32Data,
  assertFiniteValues,
  assertShape,
  checkFiniteNumber,
  DataFormatError,
  InvalidArgumentError,
  type FeatureProjection,
  type Rng,
  type Tensor2D,
} from '@vlfer/core';
import {
  ortSessionOptions,
  readBytesFile,
  readTorchCheckpointFile,
  readTorchCheckpointFileAsync,
  writeFileAtomic,
} from '@vlfer/core/node';
import {
  checkHeadWeight,
  decodeProjectionHead,
  encodeHeadWeights,
  EXP_CLIP_HEAD_DIM,
  projectionHeadModel,
  WEIGHT_KEY,
} from './format.js';

export { EXP_CLIP_HEAD_DIM, WEIGHT_KEY };

/**
 * Exp-CLIP's projection head: one bias-free linear map y = W·x, W of shape [outputDim, inputDim]
 * (PyTorch `nn.Linear(inputDim, 4096, bias=False).weight`). The same W projects CLIP image and text features.
 */
export class ProjectionHead implements FeatureProjection {
  readonly inputDim: number;
  readonly outputDim: number;
  /** Row-major [outputDim, inputDim]. Updated in place by optimisers during training. */
  readonly weight: Float32Array;
  /** Free-form string metadata saved with the head (encoder id, training config, …). */
  metadata: Record<string, string>;
  private session: Promise<ort.InferenceSession> | undefined;

  constructor(options: {
    inputDim: number;
    outputDim: number;
    weight: Float32Array;
    metadata?: Record<string, string>;
  }) {
    const { inputDim, outputDim, weight } = options;
    for (const argument of ['inputDim', 'outputDim'] as const)
      checkFiniteNumber(options[argument], { functionName: 'ProjectionHead', argument }, { min: 1, integer: true });
    if (!(weight instanceof Float32Array))
      throw new InvalidArgumentError({
        functionName: 'ProjectionHead',
        argument: 'weight',
        message: 'expected a Float32Array (row-major [outputDim, inputDim])',
      });
    if (weight.length !== inputDim * outputDim)
      throw new InvalidArgumentError({
        functionName: 'ProjectionHead',
        argument: 'weight',
        message: `length ${weight.length} is not ${outputDim}·${inputDim}`,
      });
    // the file loader refuses a NaN weight (checkHeadWeight); a head built here must not project to NaN either
    assertFiniteValues({ data: weight, dims: [outputDim, inputDim] }, 'weight', 'ProjectionHead');
    this.inputDim = inputDim;
    this.outputDim = outputDim;
    this.weight = weight;
    this.metadata = options.metadata ?? {};
  }

  /** W as a `[outputDim, inputDim]` tensor view (no copy). */
  get weightTensor(): Tensor2D {
    return { dtype: 'float32', data: this.weight, dims: [this.outputDim, this.inputDim] };
  }

  /**
   * y = x·Wᵀ through ONNX Runtime (Gemm).
   * @param x [rows, inputDim] @returns [rows, outputDim]
   */
  async project(x: Tensor2D): Promise<Tensor2D> {
    assertShape(x, [null, null], 'x', 'ProjectionHead.project');
    if (x.dims[1] !== this.inputDim)
      throw new InvalidArgumentError({
        functionName: 'ProjectionHead.project',
        argument: 'x',
        message: `has ${x.dims[1]}-d rows, the head expects ${this.inputDim}-d (encoder/head mismatch)`,
      });
    assertFloat32Data(x, 'x', 'ProjectionHead.project');
    assertFiniteValues(x, 'x', 'ProjectionHead.project'); // a NaN row would project to a NaN row, silently
    if (x.dims[0] === 0) return { dtype: 'float32', data: new Float32Array(0), dims: [0, this.outputDim] };
    this.session ??= ort.InferenceSession.create(
      projectionHeadModel(),
      ortSessionOptions() as ort.InferenceSession.SessionOptions,
    );
    const s = await this.session;
    const out = await s.run({
      x: new ort.Tensor('float32', x.data, [x.dims[0], this.inputDim]),
      w: new ort.Tensor('float32', this.weight, [this.outputDim, this.inputDim]),
    });
    return { dtype: 'float32', data: out.y!.data as Float32Array, dims: [x.dims[0], this.outputDim] };
  }

  async dispose(): Promise<void> {
    if (this.session) await (await this.session).release();
    this.session = undefined;
  }
}

/**
 * A new head with PyTorch's default `nn.Linear` init (kaiming_uniform(a=√5) = U(−1/√D, 1/√D)) drawn from
 * the injected RNG. D comes from the encoder (`clip.embeddingDim`), never from a model name.
 */
export function createProjectionHead(options: {
  inputDim: number;
  outputDim?: number;
  rng: Rng;
  metadata?: Record<string, string>;
}): ProjectionHead {
  const { inputDim, rng } = options;
  const outputDim = options.outputDim ?? EXP_CLIP_HEAD_DIM;
  for (const [argument, v] of [
    ['inputDim', inputDim],
    ['outputDim', outputDim],
  ] as const)
    checkFiniteNumber(v, { functionName: 'createProjectionHead', argument }, { min: 1, integer: true });
  const bound = 1 / Math.sqrt(inputDim);
  const weight = new Float32Array(outputDim * inputDim);
  for (let i = 0; i < weight.length; i++) weight[i] = (2 * rng.next() - 1) * bound;
  return new ProjectionHead({ inputDim, outputDim, weight, metadata: options.metadata ?? {} });
}

/** The safetensors bytes of a head (`mlp.weight` [outputDim, inputDim], F32) with the head's and the given metadata. */
export function encodeProjectionHead(head: ProjectionHead, metadata: Record<string, string> = {}): Uint8Array {
  return encodeHeadWeights(head, metadata);
}

/** Save as safetensors (`encodeProjectionHead`), atomically. */
export function saveProjectionHead(path: string, head: ProjectionHead, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeProjectionHead(head, metadata));
}

/**
 * Load a head from `.safetensors` (vlfer's format, or any file with a 2-D `mlp.weight`) or from a released
 * Exp-CLIP checkpoint `ExpCLIP_{B32,B16,L14}_model.pth` (PyTorch zip with one tensor `mlp.weight` [4096, D]).
 * @param options.expectInputDim the encoder's embedding dimension; a mismatch is an error naming both
 */
export function loadProjectionHead(path: string, options: { expectInputDim?: number } = {}): ProjectionHead {
  const ext = extname(path).toLowerCase();
  if (ext === '.safetensors')
    return new ProjectionHead(decodeProjectionHead(readBytesFile(path, 'projection head'), path, options));
  if (ext === '.pth' || ext === '.pt' || ext === '.bin') {
    return headFromState(readTorchCheckpointFile(path).tensors, path, options);
  }
  const what = existsSync(path) && statSync(path).isDirectory() ? 'a directory' : `a file of unknown format '${ext}'`;
  throw new DataFormatError({ file: path, message: `${what}; expected a head file (.safetensors or .pth)` });
}

/**
 * `loadProjectionHead` for CLIs: a PyTorch checkpoint is parsed without blocking the event loop and the parse stops
 * (AbortedError) when `options.signal` fires, so a second Ctrl-C during a long parse exits at once.
 */
export async function loadProjectionHeadAsync(
  path: string,
  options: { expectInputDim?: number; signal?: AbortSignal } = {},
): Promise<ProjectionHead> {
  const ext = extname(path).toLowerCase();
  if (ext === '.pth' || ext === '.pt' || ext === '.bin') {
    const state = await readTorchCheckpointFileAsync(path, options.signal ? { signal: options.signal } : {});
    return headFromState(state.tensors, path, options);
  }
  return loadProjectionHead(path, options);
}

function headFromState(
  state: Record<string, { dims: number[]; data: Float32Array }>,
  path: string,
  options: { expectInputDim?: number },
): ProjectionHead {
  const weight =
    state[WEIGHT_KEY] ?? state[`projection_head.${WEIGHT_KEY}`] ?? state[`module.projection_head.${WEIGHT_KEY}`];
  return new ProjectionHead(checkHeadWeight(weight, path, { source: 'pytorch-checkpoint' }, options));
}
