import { extname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildModel, DataFormatError, encodeSafetensors, InvalidArgumentError, type FeatureProjection, type Rng, type Tensor2D } from '@vlfer/core';
import { ortSessionOptions, readSafetensors, readTorchCheckpointFile, writeFileAtomic } from '@vlfer/core/node';

/** Exp-CLIP's head output dimension (FlanT5-XXL d_model). */
export const EXP_CLIP_HEAD_DIM = 4096;
/** State-dict key of the weight in Exp-CLIP checkpoints (`Linear_Matrix.mlp`). */
export const WEIGHT_KEY = 'mlp.weight';

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

  constructor(options: { inputDim: number; outputDim: number; weight: Float32Array; metadata?: Record<string, string> }) {
    const { inputDim, outputDim, weight } = options;
    if (weight.length !== inputDim * outputDim) throw new InvalidArgumentError({ functionName: 'ProjectionHead', argument: 'weight', message: `length ${weight.length} is not ${outputDim}·${inputDim}` });
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
    if (x.dims[1] !== this.inputDim) throw new InvalidArgumentError({ functionName: 'ProjectionHead.project', argument: 'x', message: `has ${x.dims[1]}-d rows, the head expects ${this.inputDim}-d (encoder/head mismatch)` });
    if (x.dims[0] === 0) return { dtype: 'float32', data: new Float32Array(0), dims: [0, this.outputDim] };
    this.session ??= ort.InferenceSession.create(
      buildModel({
        name: 'vlfer_projection_head',
        nodes: [{ op: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attrs: { transB: 1 } }],
        inputs: [{ name: 'x', type: 'float32', dims: ['n', 'in'] }, { name: 'w', type: 'float32', dims: ['out', 'in'] }],
        outputs: [{ name: 'y', type: 'float32', dims: ['n', 'out'] }],
      }),
      ortSessionOptions() as ort.InferenceSession.SessionOptions,
    );
    const s = await this.session;
    const out = await s.run({ x: new ort.Tensor('float32', x.data, [x.dims[0], this.inputDim]), w: new ort.Tensor('float32', this.weight, [this.outputDim, this.inputDim]) });
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
export function createProjectionHead(options: { inputDim: number; outputDim?: number; rng: Rng; metadata?: Record<string, string> }): ProjectionHead {
  const { inputDim, rng } = options;
  const outputDim = options.outputDim ?? EXP_CLIP_HEAD_DIM;
  if (!Number.isInteger(inputDim) || inputDim <= 0) throw new InvalidArgumentError({ functionName: 'createProjectionHead', argument: 'inputDim', message: `must be a positive integer, got ${inputDim}` });
  const bound = 1 / Math.sqrt(inputDim);
  const weight = new Float32Array(outputDim * inputDim);
  for (let i = 0; i < weight.length; i++) weight[i] = (2 * rng.next() - 1) * bound;
  return new ProjectionHead({ inputDim, outputDim, weight, metadata: options.metadata ?? {} });
}

/** The safetensors bytes of a head (`mlp.weight` [outputDim, inputDim], F32) with the head's and the given metadata. */
export function encodeProjectionHead(head: ProjectionHead, metadata: Record<string, string> = {}): Uint8Array {
  return encodeSafetensors({ [WEIGHT_KEY]: { dims: [head.outputDim, head.inputDim], data: head.weight } }, {
    ...head.metadata,
    ...metadata,
    format: 'vlfer-projection-head',
    input_dim: String(head.inputDim),
    output_dim: String(head.outputDim),
  });
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
  let weight: { dims: number[]; data: Float32Array } | undefined;
  let metadata: Record<string, string> = {};
  if (ext === '.safetensors') {
    const f = readSafetensors(path);
    weight = f.tensors[WEIGHT_KEY];
    metadata = f.metadata;
  } else if (ext === '.pth' || ext === '.pt' || ext === '.bin') {
    const state = readTorchCheckpointFile(path).tensors;
    weight = state[WEIGHT_KEY] ?? state[`projection_head.${WEIGHT_KEY}`] ?? state[`module.projection_head.${WEIGHT_KEY}`];
    metadata = { source: 'pytorch-checkpoint' };
  } else {
    throw new DataFormatError({ file: path, message: `unknown head format '${ext}'; expected .safetensors or .pth` });
  }
  if (!weight) throw new DataFormatError({ file: path, field: WEIGHT_KEY, message: `no '${WEIGHT_KEY}' tensor (the Exp-CLIP head's state-dict key)` });
  if (weight.dims.length !== 2) throw new DataFormatError({ file: path, field: WEIGHT_KEY, message: `expected a 2-D [outputDim, inputDim] weight, got [${weight.dims.join(', ')}]` });
  const [outputDim, inputDim] = weight.dims as [number, number];
  if (options.expectInputDim !== undefined && options.expectInputDim !== inputDim) {
    throw new DataFormatError({ file: path, field: WEIGHT_KEY, message: `head input dim ${inputDim} does not match the encoder's embedding dim ${options.expectInputDim} (e.g. an L/14 head, D = 768, on a B/32 encoder, D = 512)` });
  }
  let ss = 0;
  for (let i = 0; i < weight.data.length; i++) {
    const v = weight.data[i]!;
    if (!Number.isFinite(v)) throw new DataFormatError({ file: path, field: WEIGHT_KEY, message: `holds ${v} at index ${i} (row ${Math.floor(i / inputDim)}); a trained head has finite weights` });
    ss += v * v;
  }
  if (ss === 0) throw new DataFormatError({ file: path, field: WEIGHT_KEY, message: 'is all zeros; it would project every feature to the zero vector' });
  return new ProjectionHead({ inputDim, outputDim, weight: weight.data, metadata });
}
