import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ChecksumError, InvalidArgumentError, VlferError, type ComputeDevice } from '@vlfer/core';
import { hashFile, ortSessionOptions } from '@vlfer/core/node';
import sharp from 'sharp';
import { decodeUltraFace, decodeYunet } from '../decode.js';
import { faceToImage, inputGeometry, type InputGeometry } from '../geometry.js';
import { nonMaxSuppression } from '../nms.js';
import type { Face, RgbImage } from '../types.js';

/**
 * The image resized to the detector input (bilinear, libvips: detection needs no Pillow-exact pixels, and libvips
 * resizes a 1920×1080 frame several times faster than a JavaScript loop).
 */
async function resizeForDetector(img: RgbImage, g: InputGeometry): Promise<Uint8Array> {
  if (g.resizedWidth === img.width && g.resizedHeight === img.height) return img.data;
  const out = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: img.channels } })
    .resize(g.resizedWidth, g.resizedHeight, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The detectors vlfer knows: file name, input, where they come from, and the SHA-256 of the files tested here. */
export const FACE_DETECTORS = {
  /** YuNet-s (libfacedetection.train, MIT licence): dynamic input, five landmarks. The default. */
  'yunet-s': { file: 'yunet_s_dynamic.onnx', kind: 'yunet', input: { longSide: 640, multiple: 32 }, sha256: 'daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3', source: 'github.com/ShiqiYu/libfacedetection.train, onnx/' },
  /** YuNet-n: fixed 320×320 input (letterboxed), five landmarks; fastest. */
  'yunet-n': { file: 'yunet_n_320_320.onnx', kind: 'yunet', input: { width: 320, height: 320 }, sha256: '81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2', source: 'github.com/ShiqiYu/libfacedetection.train, onnx/' },
  /** UltraFace RFB-320 (Linzaer's Ultra-Light-Fast-Generic-Face-Detector, MIT): 320×240, boxes only. */
  ultraface: { file: 'version-RFB-320.onnx', kind: 'ultraface', input: { width: 320, height: 240 }, sha256: '34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017', source: 'github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB, models/onnx/' },
} as const;
export type FaceDetectorId = keyof typeof FACE_DETECTORS;
export const FACE_DETECTOR_IDS = Object.keys(FACE_DETECTORS) as FaceDetectorId[];

const YUNET_OUTPUTS = ['cls_8', 'obj_8', 'bbox_8', 'kps_8', 'cls_16', 'obj_16', 'bbox_16', 'kps_16', 'cls_32', 'obj_32', 'bbox_32', 'kps_32'];

export interface FaceDetectorOptions {
  /** Directory holding the detector files when `model` is an id. @default `$VLFER_FACE_MODELS` */
  modelDir?: string;
  /** The architecture, checked against the model's outputs. @default read from the outputs */
  kind?: 'yunet' | 'ultraface';
  /** SHA-256 the file must have; for known ids the tested file's hash is checked unless `checksum: false`. */
  checksum?: string | false;
  /** Faces scoring below are dropped. @default 0.7 (OpenCV's FaceDetectorYN uses 0.9) */
  scoreThreshold?: number;
  /** @default 0.3 */
  nmsThreshold?: number;
  /** Faces kept per image after NMS. @default 50 */
  topK?: number;
  /** Long side of a dynamic-input model's input (YuNet-s), a multiple of 32. @default 640 */
  longSide?: number;
  device?: ComputeDevice;
  threads?: number;
}

/**
 * A face detector on ONNX Runtime: YuNet (boxes + five landmarks) or UltraFace (boxes), with the post-processing
 * written from the models' definitions (`decodeYunet`, `decodeUltraFace`, `nonMaxSuppression`). Images are
 * letterboxed into the input (bilinear, aspect ratio kept); faces come back in image
 * pixels, highest score first.
 */
export class FaceDetector {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly id: string,
    readonly kind: 'yunet' | 'ultraface',
    private readonly target: { width: number; height: number } | { longSide: number; multiple: number },
    readonly options: Required<Pick<FaceDetectorOptions, 'scoreThreshold' | 'nmsThreshold' | 'topK'>>,
    /** SHA-256 of the model file: part of every cache key. */
    readonly fingerprint: string,
  ) {}

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
    // the architecture is read from the model's outputs, not from its file name
    const outputs = session.outputNames;
    const found = YUNET_OUTPUTS.every((o) => outputs.includes(o)) ? 'yunet' : ['scores', 'boxes'].every((o) => outputs.includes(o)) ? 'ultraface' : undefined;
    if (!found) {
      await session.release();
      throw new InvalidArgumentError({ functionName: fn, argument: 'model', message: `${file} is not a YuNet (outputs cls_8 … kps_32) or UltraFace (outputs scores, boxes) model; its outputs are ${outputs.join(', ')}` });
    }
    if (options.kind && options.kind !== found) {
      await session.release();
      throw new InvalidArgumentError({ functionName: fn, argument: 'kind', message: `'${options.kind}' was given but ${file} has ${found}'s outputs` });
    }
    const kind = found;
    const shape = session.inputMetadata[0] && 'shape' in session.inputMetadata[0] ? (session.inputMetadata[0].shape as (number | string)[]) : [];
    const fixed = typeof shape[2] === 'number' && typeof shape[3] === 'number';
    const longSide = options.longSide ?? 640;
    if (!fixed && (!Number.isInteger(longSide) || longSide % 32 !== 0 || longSide <= 0)) throw new InvalidArgumentError({ functionName: fn, argument: 'longSide', message: `must be a positive multiple of 32, got ${longSide}` });
    const target = fixed ? { width: shape[3] as number, height: shape[2] as number } : { longSide, multiple: 32 };
    return new FaceDetector(session, known ? model : file, kind, target, {
      scoreThreshold: options.scoreThreshold ?? 0.7,
      nmsThreshold: options.nmsThreshold ?? 0.3,
      topK: options.topK ?? 50,
    }, fingerprint);
  }

  /** What identifies this detector's results: file hash, thresholds and input size (for cache keys). */
  get cacheKey(): string {
    return JSON.stringify({ model: this.fingerprint, ...this.options, input: this.target });
  }

  /** The input placement of an image of this size. */
  geometry(width: number, height: number): InputGeometry {
    return inputGeometry(width, height, this.target);
  }

  /** Faces in one image (grey or RGB, 8-bit), in image pixels, highest score first. */
  async detect(img: RgbImage): Promise<Face[]> {
    if (!(img.width >= 1 && img.height >= 1)) throw new InvalidArgumentError({ functionName: 'FaceDetector.detect', argument: 'img', message: `has no pixels (${img.width}x${img.height})` });
    const g = this.geometry(img.width, img.height);
    const input = this.inputTensor(img, await resizeForDetector(img, g), g);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run({ [this.session.inputNames[0]!]: input });
    } catch (error) {
      throw new VlferError(`${this.id}: ONNX Runtime failed on a ${img.width}x${img.height} image (input ${g.inputWidth}x${g.inputHeight}): ${(error as Error).message}`, { cause: error });
    }
    const dims = { width: g.inputWidth, height: g.inputHeight };
    const raw = this.kind === 'yunet'
      ? decodeYunet(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array])), dims, this.options.scoreThreshold)
      : decodeUltraFace(out.scores!.data as Float32Array, out.boxes!.data as Float32Array, dims, this.options.scoreThreshold);
    return nonMaxSuppression(raw, this.options.nmsThreshold, this.options.topK).map((f) => faceToImage(f, g, img)).filter((f) => f.box.width > 0 && f.box.height > 0);
  }

  private inputTensor(img: RgbImage, resized: Uint8Array, g: InputGeometry): ort.Tensor {
    const { inputWidth: W, inputHeight: H, resizedWidth: rw, resizedHeight: rh } = g;
    const x = new Float32Array(3 * W * H);
    const plane = W * H;
    const ch = img.channels;
    for (let y = 0; y < rh; y++) {
      for (let xx = 0; xx < rw; xx++) {
        const s = (y * rw + xx) * ch; // sharp keeps the channel count of raw input
        const r = resized[s]!, gg = resized[ch === 3 ? s + 1 : s]!, b = resized[ch === 3 ? s + 2 : s]!;
        const o = y * W + xx;
        if (this.kind === 'yunet') { x[o] = b; x[plane + o] = gg; x[2 * plane + o] = r; } // BGR, 0..255 (OpenCV's blobFromImage)
        else { x[o] = (r - 127) / 128; x[plane + o] = (gg - 127) / 128; x[2 * plane + o] = (b - 127) / 128; } // RGB, (v − 127) / 128
      }
    }
    if (this.kind === 'ultraface') {
      // the letterbox padding is what a zero pixel would normalise to
      for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) if (y >= rh || xx >= rw) x[c * plane + y * W + xx] = -127 / 128;
    }
    return new ort.Tensor('float32', x, [1, 3, H, W]);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
