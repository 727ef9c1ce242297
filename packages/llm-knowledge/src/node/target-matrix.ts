import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  bfloat16ToNumber,
  DataFormatError,
  FileIoError,
  float16ToNumber,
  indexSafetensorsByRange,
  parseNpyHeader,
} from '@vlfer/core';

/** Bytes of a target file by range: the file read in pieces (any size), or bytes already in memory. */
export interface ByteSource {
  readonly file: string;
  readonly size: number;
  /** `length` bytes from `offset` (fewer only at the end of the source). */
  read(offset: number, length: number): Uint8Array;
}

/** The bytes in memory as a {@link ByteSource}. */
export function bytesSource(bytes: Uint8Array, file: string): ByteSource {
  return { file, size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/**
 * `file` open for reading by range while `use` runs (a targets file can exceed `readFileSync`'s 2 GiB: 4096-d float32
 * targets of 131,072 images do). @throws FileIoError naming the file
 */
export function withFileSource<T>(file: string, use: (source: ByteSource) => T): T {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new FileIoError({ file, operation: 'read the targets file', cause: error });
  }
  try {
    const size = fstatSync(fd).size;
    return use({
      file,
      size,
      read(offset, length) {
        const bytes = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
        let got = 0;
        while (got < bytes.length) {
          let n: number;
          try {
            n = readSync(fd, bytes, got, bytes.length - got, offset + got);
          } catch (error) {
            throw new FileIoError({ file, operation: 'read the targets file', cause: error });
          }
          if (n === 0) break;
          got += n;
        }
        return bytes.subarray(0, got);
      },
    });
  } finally {
    closeSync(fd);
  }
}

/** Element types of a target matrix: NumPy's `<f2`/`<f4`/`<f8` and safetensors' F16/BF16/F32/F64. */
export type MatrixDtype = 'F16' | 'BF16' | 'F32' | 'F64';
const WIDTH: Record<MatrixDtype, number> = { F16: 2, BF16: 2, F32: 4, F64: 8 };

/** Where a `[N, E]` matrix's values lie in its file: its dims, element type and the byte offset of row 0. */
export interface MatrixLayout {
  dims: [number, number];
  dtype: MatrixDtype;
  offset: number;
}

/**
 * The layout of a NumPy `.npy` file holding a 2-D little-endian float array, from its header (bounds-checked: a
 * result or a DataFormatError naming the file).
 */
export function npyLayout(src: ByteSource): MatrixLayout {
  const { file } = src;
  const fail = (message: string): never => {
    throw new DataFormatError({ file, message });
  };
  // the header's length is at bytes 8–11; the header itself follows
  const start = src.read(0, 12);
  const long = start[6] !== undefined && start[6] > 1;
  const len = start.length >= 12 ? new DataView(start.buffer, start.byteOffset, 12).getUint32(8, true) : 0;
  const headerEnd = long ? 12 + len : 10 + (len & 0xffff);
  const h = parseNpyHeader(src.read(0, Math.min(src.size, headerEnd)), file);
  const descr = /^([<>|=]?)([a-z])(\d+)$/.exec(h.descr);
  const width = Number(descr?.[3]);
  if (!descr || descr[1] === '>' || descr[2] !== 'f' || ![2, 4, 8].includes(width))
    fail(`dtype ${h.descr} not supported; expected little-endian float16/32/64`);
  if (h.fortranOrder) fail('fortran_order arrays are not supported; save with np.ascontiguousarray');
  if (h.shape.length !== 2 || !h.shape.every((p) => /^\d{1,12}$/.test(p)))
    fail(`expected a 2-D [N, E] array, got shape (${h.shape.join(', ')})`);
  const dims = h.shape.map(Number) as [number, number];
  const dtype = ({ 2: 'F16', 4: 'F32', 8: 'F64' } as const)[width as 2 | 4 | 8];
  return { dims, dtype, offset: h.dataOffset };
}

/**
 * The header of a safetensors file (every entry checked against the file's size, `indexSafetensors`) and the layout
 * of its 2-D tensor `targets`. @throws DataFormatError naming the file: no such tensor, or another shape or dtype
 */
export function safetensorsLayout(src: ByteSource): { layout: MatrixLayout; metadata: Record<string, string> } {
  const { file } = src;
  const index = indexSafetensorsByRange((offset, length) => src.read(offset, length), src.size, file);
  const t = index.entries.targets;
  if (!t || t.dims.length !== 2 || !(t.dtype in WIDTH))
    throw new DataFormatError({
      file,
      field: 'targets',
      message: `expected a 2-D float tensor named targets [N, E]; the file holds ${
        Object.entries(index.entries)
          .map(([k, v]) => `${k} [${v.dims.join(', ')}]${v.dtype in WIDTH ? '' : ` ${v.dtype}`}`)
          .join(', ') || 'no tensor'
      }`,
    });
  return {
    layout: { dims: t.dims as [number, number], dtype: t.dtype as MatrixDtype, offset: index.base + t.b },
    metadata: index.metadata,
  };
}

/** Why a finite value cannot be kept in float32 (targets are): it would become ±Infinity. */
export const BEYOND_FLOAT32 =
  "beyond float32's range (±3.4028235e+38), in which targets are kept; scale the targets (they are L2-normalised anyway)";

/** Whether a finite value is one float32 cannot hold (it would be read as a value the file does not hold). */
export const beyondFloat32 = (v: number): boolean => Number.isFinite(v) && !Number.isFinite(Math.fround(v));

/** One row of `dtype` values as float32. @throws DataFormatError naming the row and index of a value beyond float32 */
function decodeRow(bytes: Uint8Array, dtype: MatrixDtype, e: number, row: number, file: string): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(e);
  for (let k = 0; k < e; k++) {
    const v =
      dtype === 'F32'
        ? dv.getFloat32(4 * k, true)
        : dtype === 'F64'
          ? dv.getFloat64(8 * k, true)
          : dtype === 'F16'
            ? float16ToNumber(dv.getUint16(2 * k, true))
            : bfloat16ToNumber(dv.getUint16(2 * k, true));
    if (beyondFloat32(v))
      throw new DataFormatError({ file, message: `row ${row + 1}, index ${k} holds ${v}, ${BEYOND_FLOAT32}` });
    out[k] = v;
  }
  return out;
}

/**
 * Hands every row of the matrix at `layout` to `onRow` as its own float32 array (row index 0-based), reading about
 * 8 MiB at a time: a file of any size, and no copy of the whole matrix beside the rows.
 * @throws DataFormatError naming the file when it is shorter than its shape says, or a value is beyond float32
 */
export function forEachMatrixRow(
  src: ByteSource,
  layout: MatrixLayout,
  onRow: (row: Float32Array, index: number) => void,
): void {
  const [n, e] = layout.dims;
  const rowBytes = e * WIDTH[layout.dtype];
  if (!Number.isSafeInteger(n * rowBytes) || src.size < layout.offset + n * rowBytes)
    throw new DataFormatError({ file: src.file, message: `the file is shorter than its shape (${n} × ${e}) says` });
  const perChunk = Math.max(1, Math.floor((8 << 20) / Math.max(1, rowBytes)));
  for (let first = 0; first < n; first += perChunk) {
    const count = Math.min(perChunk, n - first);
    const chunk = src.read(layout.offset + first * rowBytes, count * rowBytes);
    for (let r = 0; r < count; r++)
      onRow(
        decodeRow(chunk.subarray(r * rowBytes, (r + 1) * rowBytes), layout.dtype, e, first + r, src.file),
        first + r,
      );
  }
}
