import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ChecksumError, InvalidArgumentError, type ComputeDevice } from '@vlfer/core';
import { hashFile, ortSessionOptions } from '@vlfer/core/node';
import { FaceDetectorModel, type DetectorRuntime, type DetectorSettings } from '../detector.js';

/**
 * The detectors vlfer knows: file name, where they come from, and the SHA-256 of the files tested here. Their
 * architecture and input size are read from the model itself.
 */
export const FACE_DETECTORS = {
  /** YuNet-s (libfacedetection.train, MIT licence): dynamic input, five landmarks. The default. */
  'yunet-s': { file: 'yunet_s_dynamic.onnx', sha256: 'daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3', source: 'github.com/ShiqiYu/libfacedetection.train, onnx/' },
  /** YuNet-n: fixed 320×320 input (letterboxed), five landmarks; fastest. */
  'yunet-n': { file: 'yunet_n_320_320.onnx', sha256: '81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2', source: 'github.com/ShiqiYu/libfacedetection.train, onnx/' },
  /** UltraFace RFB-320 (Linzaer's Ultra-Light-Fast-Generic-Face-Detector, MIT): 320×240, boxes only. */
  ultraface: { file: 'version-RFB-320.onnx', sha256: '34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017', source: 'github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB, models/onnx/' },
} as const;
export type FaceDetectorId = keyof typeof FACE_DETECTORS;
export const FACE_DETECTOR_IDS = Object.keys(FACE_DETECTORS) as FaceDetectorId[];

export interface FaceDetectorOptions extends DetectorSettings {
  /** Directory holding the detector files when `model` is an id. @default `$VLFER_FACE_MODELS` */
  modelDir?: string;
  /** SHA-256 the file must have; for known ids the tested file's hash is checked unless `checksum: false`. */
  checksum?: string | false;
  device?: ComputeDevice;
  threads?: number;
}

/** An onnxruntime-node session as a `DetectorRuntime`. */
function nodeRuntime(session: ort.InferenceSession): DetectorRuntime {
  const meta = session.inputMetadata[0];
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    inputShape: meta && 'shape' in meta ? (meta.shape as (number | string)[]) : [],
    async run(input, dims) {
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [...dims]) });
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
    },
    release: () => session.release(),
  };
}

/**
 * A face detector on onnxruntime-node (`FaceDetectorModel` with files, checksums and devices): YuNet (boxes + five
 * landmarks) or UltraFace (boxes). Images are letterboxed into the input (bilinear, aspect ratio kept); faces come
 * back in image pixels, highest score first.
 */
export class FaceDetector extends FaceDetectorModel {
  /** Load a detector by id (`yunet-s`, `yunet-n`, `ultraface`; files from `modelDir`) or by path to an .onnx file. */
  static async load(model: string, options: FaceDetectorOptions = {}): Promise<FaceDetector> {
    const fn = 'FaceDetector.load';
    const known = (FACE_DETECTORS as Record<string, (typeof FACE_DETECTORS)[FaceDetectorId]>)[model];
    let file = model;
    if (known) {
      const dir = options.modelDir ?? process.env.VLFER_FACE_MODELS;
      if (!dir) throw new InvalidArgumentError({ functionName: fn, argument: 'modelDir', message: `is needed to find '${model}' (${known.file}); give modelDir or set VLFER_FACE_MODELS to a directory holding it (from ${known.source})` });
      file = join(dir, known.file);
    }
    if (!existsSync(file)) throw new InvalidArgumentError({ functionName: fn, argument: 'model', message: known ? `${file} does not exist; download ${known.file} from ${known.source} (SHA-256 ${known.sha256})` : `'${model}' is neither a known detector (${FACE_DETECTOR_IDS.join(', ')}) nor an existing .onnx file` });
    const fingerprint = hashFile(file);
    const want = options.checksum === false ? undefined : (options.checksum ?? known?.sha256);
    if (want && fingerprint !== want) throw new ChecksumError({ file, message: `SHA-256 ${fingerprint}, expected ${want}${known ? ` (the ${model} file vlfer was tested with)` : ''}; pass its path instead of the id (or checksum: false) to use it anyway` });
    const session = await ort.InferenceSession.create(file, { ...ortSessionOptions({ device: options.device ?? 'cpu', ...(options.threads ? { intraOpNumThreads: options.threads } : {}) }) });
    try {
      return new FaceDetector(nodeRuntime(session), known ? model : file, fingerprint, options);
    } catch (error) {
      await session.release();
      throw error;
    }
  }
}
