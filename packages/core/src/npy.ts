import { DataFormatError } from './errors.js';

/** The header of a NumPy `.npy` file: its dtype string, order, shape (each dimension as written) and data offset. */
export interface NpyHeader {
  /** e.g. `<f4`, `<U1`, `|u1` */
  descr: string;
  fortranOrder: boolean;
  /** The dimensions as the header writes them (`['3', '512']`; `[]` for a 0-d array). */
  shape: string[];
  /** Where the array's bytes start. */
  dataOffset: number;
}

/**
 * Read the header of a NumPy `.npy` file (format versions 1 to 3), bounds-checked: the magic, the version, a header
 * that lies inside the file and names `descr` and `shape`. What the dtype and shape must be is the caller's.
 * @throws DataFormatError naming `file`
 */
export function parseNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  const fail = (message: string): never => {
    throw new DataFormatError({ file, message });
  };
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) fail('is not a NumPy .npy file (bad magic)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) fail(`.npy format version ${major} is not supported (1, 2, 3)`);
  if (major > 1 && bytes.length < 12) fail('truncated .npy header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = major === 1 ? 10 : 12;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + headerLen > bytes.length) fail(`the .npy header (${headerLen} bytes) runs past the end of the file`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || shape === undefined)
    fail(`cannot parse the .npy header ${JSON.stringify(header.trim().slice(0, 200))}`);
  return {
    descr: descr!,
    fortranOrder: /'fortran_order':\s*True/.test(header),
    shape: shape!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    dataOffset: start + headerLen,
  };
}
