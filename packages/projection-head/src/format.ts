import {
  buildModel,
  checkFiniteNumber,
  DataFormatError,
  decodeSafetensors,
  describeKind,
  encodeSafetensors,
  type SafetensorsTensor,
} from '@vlfer/core';

/** Exp-CLIP's head output dimension (FlanT5-XXL d_model). */
export const EXP_CLIP_HEAD_DIM = 4096;
/** State-dict key of the weight in Exp-CLIP checkpoints (`Linear_Matrix.mlp`). */
export const WEIGHT_KEY = 'mlp.weight';

/** A head's weight W, row-major [outputDim, inputDim], and its metadata. */
export interface HeadWeights {
  inputDim: number;
  outputDim: number;
  weight: Float32Array;
  metadata: Record<string, string>;
}

/**
 * Check a head's weight tensor: 2-D [outputDim, inputDim], finite, not all zero, and of the encoder's input dim.
 * @param weight `mlp.weight` as read from a file (undefined when the file has none)
 * @throws DataFormatError naming `file`, the field and what was expected
 */
export function checkHeadWeight(
  weight: SafetensorsTensor | undefined,
  file: string,
  metadata: Record<string, string>,
  options: { expectInputDim?: number } = {},
): HeadWeights {
  if (!weight)
    throw new DataFormatError({
      file,
      field: WEIGHT_KEY,
      message: `no '${WEIGHT_KEY}' tensor (the Exp-CLIP head's state-dict key)`,
    });
  if (weight.dims.length !== 2 || !weight.dims.every((d) => Number.isInteger(d) && d > 0))
    throw new DataFormatError({
      file,
      field: WEIGHT_KEY,
      message: `expected a 2-D [outputDim, inputDim] weight of positive sizes, got [${weight.dims.join(', ')}]`,
    });
  const [outputDim, inputDim] = weight.dims as [number, number];
  if (!(weight.data instanceof Float32Array) || weight.data.length !== outputDim * inputDim)
    throw new DataFormatError({
      file,
      field: WEIGHT_KEY,
      message: `holds ${weight.data instanceof Float32Array ? `${weight.data.length} values` : `no float32 data (${describeKind(weight.data)})`}; expected ${outputDim} × ${inputDim} float32 values`,
    });
  if (options.expectInputDim !== undefined && options.expectInputDim !== inputDim) {
    throw new DataFormatError({
      file,
      field: WEIGHT_KEY,
      message: `head input dim ${inputDim} does not match the encoder's embedding dim ${options.expectInputDim} (e.g. an L/14 head, D = 768, on a B/32 encoder, D = 512)`,
    });
  }
  let ss = 0;
  for (let i = 0; i < weight.data.length; i++) {
    const v = weight.data[i]!;
    if (!Number.isFinite(v))
      throw new DataFormatError({
        file,
        field: WEIGHT_KEY,
        message: `holds ${v} at index ${i} (row ${Math.floor(i / inputDim)}); a trained head has finite weights`,
      });
    ss += v * v;
  }
  if (ss === 0)
    throw new DataFormatError({
      file,
      field: WEIGHT_KEY,
      message: 'is all zeros; it would project every feature to the zero vector',
    });
  return { inputDim, outputDim, weight: weight.data, metadata };
}

/**
 * A head from safetensors bytes (vlfer's format, or any file with a 2-D `mlp.weight`), checked by `checkHeadWeight`.
 * Runtime-neutral: the browser app reads the file the user picks with it.
 */
export function decodeProjectionHead(
  bytes: Uint8Array,
  name: string,
  options: { expectInputDim?: number } = {},
): HeadWeights {
  const f = decodeSafetensors(bytes, name);
  return checkHeadWeight(f.tensors[WEIGHT_KEY], name, f.metadata, options);
}

/** The safetensors bytes of a head (`mlp.weight` [outputDim, inputDim], F32) with its metadata. */
export function encodeHeadWeights(head: HeadWeights, metadata: Record<string, string> = {}): Uint8Array {
  for (const argument of ['inputDim', 'outputDim'] as const)
    checkFiniteNumber(
      head[argument],
      { functionName: 'encodeHeadWeights', argument: `head.${argument}` },
      {
        min: 1,
        integer: true,
      },
    );
  return encodeSafetensors(
    { [WEIGHT_KEY]: { dims: [head.outputDim, head.inputDim], data: head.weight } },
    {
      ...head.metadata,
      ...metadata,
      format: 'vlfer-projection-head',
      input_dim: String(head.inputDim),
      output_dim: String(head.outputDim),
    },
  );
}

/**
 * The head's projection y = x·Wᵀ as one ONNX graph (Gemm, transB = 1; inputs `x` [n, in], `w` [out, in], output
 * `y` [n, out]) that onnxruntime-node and onnxruntime-web both run: the equation lives here once.
 */
export function projectionHeadModel(): Uint8Array {
  return buildModel({
    name: 'vlfer_projection_head',
    nodes: [{ op: 'Gemm', inputs: ['x', 'w'], outputs: ['y'], attrs: { transB: 1 } }],
    inputs: [
      { name: 'x', type: 'float32', dims: ['n', 'in'] },
      { name: 'w', type: 'float32', dims: ['out', 'in'] },
    ],
    outputs: [{ name: 'y', type: 'float32', dims: ['n', 'out'] }],
  });
}
