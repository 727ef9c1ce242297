/**
 * Weight quantization for the 'graphs' runtime's int8 towers: ONNX Runtime's dynamic int8 path
 * (`DynamicQuantizeMatMul`, com.microsoft: the activations are quantized to uint8 per tensor at run time, the weights
 * are stored int8, symmetric, one scale per output channel, in 7 bits: `INT8_WEIGHT_MAX`).
 */

/**
 * The largest |q| of a quantized weight: 63, not 127 (ONNX Runtime's `reduce_range`). On x86 CPUs without VNNI
 * (AVX2, AVX-512 without VNNI) ONNX Runtime multiplies uint8 activations by int8 weights with `vpmaddubsw`, which adds
 * two products in a saturating int16: 255·127·2 overflows it, 255·63·2 does not. With 127, a ViT-B/32's int8 features
 * fell to cosine 0.90 of fp32 on an AVX2-only AMD EPYC; with 63 they are the same on every CPU up to the kernels' own
 * rounding (cosines: packages/encoders/README.md).
 */
export const INT8_WEIGHT_MAX = 63;

/** A linear layer's weight as `DynamicQuantizeMatMul` takes it. */
export interface Int8Weight {
  /** int8 weights transposed to [in, out] (the MatMul's B) */
  q: Int8Array;
  /** one scale per output channel, [out]: w ≈ q · scale */
  scales: Float32Array;
  dims: [number, number];
}

/**
 * Symmetric per-output-channel int8 quantization of a Hugging Face linear weight.
 * @param w row-major [out, in] (PyTorch `nn.Linear.weight`)
 * @returns q [in, out] with q = round(w / scale) in [−63, 63], scale = max|w_row| / 63 (1 for an all-zero row)
 */
export function quantizeLinearInt8(w: Float32Array, out: number, inp: number): Int8Weight {
  if (w.length !== out * inp) throw new RangeError(`quantizeLinearInt8: ${w.length} values for [${out}, ${inp}]`);
  const q = new Int8Array(out * inp);
  const scales = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let m = 0;
    for (let i = 0; i < inp; i++) m = Math.max(m, Math.abs(w[o * inp + i]!));
    const s = m > 0 ? m / INT8_WEIGHT_MAX : 1;
    scales[o] = s;
    for (let i = 0; i < inp; i++)
      q[i * out + o] = Math.max(-INT8_WEIGHT_MAX, Math.min(INT8_WEIGHT_MAX, Math.round(w[o * inp + i]! / s)));
  }
  return { q, scales, dims: [inp, out] };
}

/**
 * Cosine similarity of each row of `a` and `b` (same dims [rows, D]), e.g. fp32 and int8 features of the same items.
 * @throws RangeError when the dims differ
 */
export function rowCosines(
  a: { data: Float32Array; dims: readonly number[] },
  b: { data: Float32Array; dims: readonly number[] },
): number[] {
  if (a.dims.length !== 2 || a.dims[0] !== b.dims[0] || a.dims[1] !== b.dims[1])
    throw new RangeError(`rowCosines: dims [${a.dims.join(', ')}] and [${b.dims.join(', ')}] differ`);
  const [n, d] = a.dims as [number, number];
  return Array.from({ length: n }, (_, r) => {
    let ab = 0,
      aa = 0,
      bb = 0;
    for (let i = r * d; i < (r + 1) * d; i++) {
      ab += a.data[i]! * b.data[i]!;
      aa += a.data[i]! ** 2;
      bb += b.data[i]! ** 2;
    }
    return ab / Math.sqrt(aa * bb || 1);
  });
}
