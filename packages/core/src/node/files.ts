import { decodeSafetensors, encodeSafetensors, type SafetensorsFile, type SafetensorsTensor } from '../safetensors.js';
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
export function readTorchCheckpointFileAsync(path: string, options: TorchReadOptions = {}): Promise<TorchCheckpoint> {
  return readTorchCheckpointAsync(readBytesFile(path, 'PyTorch checkpoint'), path, options);
}
