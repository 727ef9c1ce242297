import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ChecksumError, displayPath, InvalidArgumentError, type ComputeDevice } from '@vlfer/core';
import { hashFile, notAnOnnxModel, ortSessionOptions } from '@vlfer/core/node';
import {
  FACE_DETECTOR_IDS,
  FACE_DETECTORS,
  FaceDetectorModel,
  type DetectorRuntime,
  type DetectorSettings,
  type FaceDetectorId,
} from '../detector.js';

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
      if (!dir)
        throw new InvalidArgumentError({
          functionName: fn,
          argument: 'modelDir',
          message: `is needed to find '${model}' (${known.file}); give modelDir or set VLFER_FACE_MODELS to a directory holding it (from ${known.source})`,
        });
      file = join(dir, known.file);
    }
    if (!existsSync(file))
      throw new InvalidArgumentError({
        functionName: fn,
        // a known detector's file is looked up in a directory: that directory is what to change
        argument: known ? (options.modelDir ? 'modelDir' : 'VLFER_FACE_MODELS') : 'model',
        message: known
          ? `${file} does not exist; download ${known.file} from ${known.source} (SHA-256 ${known.sha256})`
          : `'${model}' is neither a known detector (${FACE_DETECTOR_IDS.join(', ')}) nor an existing .onnx file`,
      });
    const fingerprint = hashFile(file);
    const want = options.checksum === false ? undefined : (options.checksum ?? known?.sha256);
    if (want && fingerprint !== want)
      throw new ChecksumError({
        file,
        message: `SHA-256 ${fingerprint}, expected ${want}${known ? ` (the ${model} file vlfer was tested with)` : ''}; to use this file anyway, name it by its path instead of the id '${model}' (command line: --face-detector ${displayPath(file)})`,
      });
    const session = await ort.InferenceSession.create(file, {
      ...ortSessionOptions({
        device: options.device ?? 'cpu',
        ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      }),
    }).catch((error: unknown) => {
      throw detectorFileError(file, known ? (options.modelDir ? 'modelDir' : 'VLFER_FACE_MODELS') : 'model', error);
    });
    try {
      return new FaceDetector(nodeRuntime(session), known ? model : file, fingerprint, options);
    } catch (error) {
      await session.release();
      throw error;
    }
  }
}

/**
 * The error for a detector file ONNX Runtime could not load: one that is no ONNX model (not protobuf, no graph) is
 * named with what was expected; other failures (a device, memory) are returned as they came.
 */
function detectorFileError(file: string, argument: string, error: unknown): unknown {
  const notModel = notAnOnnxModel(error);
  if (!notModel) return error;
  return new InvalidArgumentError({
    functionName: 'FaceDetector.load',
    argument,
    message: `${file} is not a valid ONNX model (${notModel}); expected a face detector: ${FACE_DETECTOR_IDS.join(', ')}, or a YuNet or UltraFace .onnx file (${FACE_DETECTORS['yunet-s'].file} from ${FACE_DETECTORS['yunet-s'].source})`,
    cause: error,
  });
}
