import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DataFormatError, FileIoError, throwIfAborted } from '../errors.js';
import {
  decodeSafetensors,
  decodeSafetensorsEntry,
  encodeSafetensors,
  indexSafetensorsByRange,
  type SafetensorsFile,
  type SafetensorsIndex,
  type SafetensorsTensor,
} from '../safetensors.js';
import {
  readTorchCheckpoint,
  readTorchCheckpointAsync,
  type TorchCheckpoint,
  type TorchReadOptions,
} from '../torch-checkpoint.js';
import { readBytesFile, writeFileAtomic } from './fs.js';

/** Read and parse a safetensors file. @throws FileIoError / DataFormatError naming the file */
export function readSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readBytesFile(path, 'safetensors file'), path);
}

/** A safetensors file opened by its header: its checked entries, and a reader of one tensor at a time. */
export interface SafetensorsFileIndex extends SafetensorsIndex {
  file: string;
  /** The file's size in bytes when its header was read. */
  size: number;
  /** The float32 values of one tensor, read from the file (F16, BF16, F64 converted). @throws DataFormatError */
  read(key: string): Float32Array;
  /**
   * Throws a DataFormatError naming the file when it is no longer the file whose header was read (another size,
   * modification time or inode): what was checked at open (a checksum, a fingerprint) no longer covers it. With `fd`,
   * the file open on that descriptor is checked instead of the one at the path (e.g. before memory-mapping it).
   */
  checkUnchanged(fd?: number): void;
}

/**
 * Open a safetensors file reading only its header (a CLIP checkpoint is hundreds of megabytes; callers that hand
 * the data to ONNX Runtime as external data never need it in the JS heap). Every entry is checked against the
 * file's size (`indexSafetensors`): a truncated file is refused here, naming the file and the first tensor cut.
 * @throws FileIoError when the file cannot be read, DataFormatError naming the file and field when it is malformed
 */
export function openSafetensorsFile(path: string): SafetensorsFileIndex {
  const { bytes: prefix, stat } = readRange(path, 0, 8, true);
  const size = stat.size;
  const checkUnchanged = (fd?: number) => {
    const now = fd === undefined ? statSync(path, { throwIfNoEntry: false }) : fstatSync(fd);
    if (!now || now.size !== size || now.mtimeMs !== stat.mtimeMs || now.ino !== stat.ino)
      throw new DataFormatError({
        file: path,
        message: `changed since its header was read (${now ? `size ${size} → ${now.size}, modified ${new Date(now.mtimeMs).toISOString()}` : 'removed'}); load the model again`,
      });
  };
  // (the first 8 bytes, or all of a shorter file, were read with the stat above)
  const read = (offset: number, length: number) =>
    offset === 0 && length <= 8 ? prefix.subarray(0, length) : readRange(path, offset, length).bytes;
  const index = indexSafetensorsByRange(read, size, path);
  return {
    ...index,
    file: path,
    size,
    checkUnchanged,
    read(key) {
      checkUnchanged();
      const t = index.entries[key];
      if (!t) throw new DataFormatError({ file: path, field: key, message: 'no such tensor in the file' });
      const { bytes } = readRange(path, index.base + t.b, t.e - t.b);
      return decodeSafetensorsEntry(bytes, 0, { ...t, b: 0, e: t.e - t.b }, path);
    },
  };
}

/**
 * `length` bytes at `position` of `path`, in a fresh (aligned) buffer, and the file's stat. @throws FileIoError;
 * DataFormatError when the file ends first (it changed since its header was read), unless `short` allows it
 */
function readRange(path: string, position: number, length: number, short = false): { bytes: Uint8Array; stat: Stats } {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const stat = fstatSync(fd);
    const size = stat.size;
    const bytes = new Uint8Array(Math.max(0, Math.min(length, size - position)));
    let got = 0;
    while (got < bytes.length) {
      const r = readSync(fd, bytes, got, bytes.length - got, position + got);
      if (r === 0) break;
      got += r;
    }
    if (!short && got !== length)
      throw new DataFormatError({
        file: path,
        message: `ended after ${position + got} bytes while reading ${length} at ${position} (the file changed or was truncated since it was opened)`,
      });
    return { bytes: bytes.subarray(0, got), stat };
  } catch (error) {
    if (error instanceof DataFormatError) throw error;
    throw new FileIoError({ file: path, operation: 'read the safetensors file', cause: error });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Write a safetensors file atomically (fsynced temp file + rename). */
export function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Read a PyTorch checkpoint file (state dict, pickled module or TorchScript archive) without running its code. */
export function readTorchCheckpointFile(path: string, options: TorchReadOptions = {}): TorchCheckpoint {
  return readTorchCheckpoint(readBytesFile(path, 'PyTorch checkpoint'), path, options);
}

/**
 * `readTorchCheckpointFile` that yields to the event loop while it parses and stops with an AbortedError when
 * `options.signal` fires (CLIs pass theirs, so Ctrl-C during a long parse is honoured at once).
 */
export async function readTorchCheckpointFileAsync(
  path: string,
  options: TorchReadOptions = {},
): Promise<TorchCheckpoint> {
  return readTorchCheckpointAsync(await readBytesFileAsync(path, 'PyTorch checkpoint', options.signal), path, options);
}

/**
 * The bytes of a file, read without blocking the event loop; `signal` stops the read (AbortedError).
 * @throws FileIoError naming the file
 */
export async function readBytesFileAsync(path: string, what = 'file', signal?: AbortSignal): Promise<Uint8Array> {
  throwIfAborted(signal, `reading ${path}`);
  try {
    return await readFile(path, signal ? { signal } : {});
  } catch (error) {
    throwIfAborted(signal, `reading ${path}`);
    throw new FileIoError({ file: path, operation: `read the ${what}`, cause: error });
  }
}
