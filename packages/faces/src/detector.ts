import { checkFiniteNumber, InvalidArgumentError, VlferError } from '@vlfer/core';
import { decodeUltraFace, decodeYunet, YUNET_STRIDES } from './decode.js';
import { faceToImage, inputGeometry, type InputGeometry } from './geometry.js';
import { nonMaxSuppression } from './nms.js';
import { resizeBilinear } from '@vlfer/image';
import type { Face, RgbImage } from './types.js';

/**
 * What a detector needs from an ONNX Runtime session, whichever runtime runs it (onnxruntime-node in
 * `@vlfer/faces/node`, onnxruntime-web in the browser app): its input/output names and input shape, and one run.
 */
export interface DetectorRuntime {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Shape of the first input: numbers for fixed axes, strings (or null) for dynamic ones. */
  readonly inputShape: readonly (number | string | null)[];
  /** @param input [1, 3, H, W] float32 @returns every output's data by name */
  run(input: Float32Array, dims: readonly [1, 3, number, number]): Promise<Record<string, Float32Array>>;
  release(): Promise<void>;
}

export interface DetectorSettings {
  /** Faces scoring below are dropped. @default 0.7 (OpenCV's FaceDetectorYN uses 0.9) */
  scoreThreshold?: number;
  /** @default 0.3 */
  nmsThreshold?: number;
  /** Faces kept per image after NMS (the highest scores): a crowd photo with more loses the rest. @default 50 */
  topK?: number;
  /** Long side of a dynamic-input model's input (YuNet-s), a multiple of 32. @default 640 */
  longSide?: number;
  /** The architecture, checked against the model's outputs. @default read from the outputs */
  kind?: 'yunet' | 'ultraface';
}

/**
 * The detectors vlfer knows: file name, where they come from, and the SHA-256 of the files tested here. Their
 * architecture and input size are read from the model itself.
 */
export const FACE_DETECTORS = {
  /** YuNet-s (libfacedetection.train, MIT licence): dynamic input, five landmarks. The default. */
  'yunet-s': {
    file: 'yunet_s_dynamic.onnx',
    sha256: 'daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3',
    source: 'github.com/ShiqiYu/libfacedetection.train, onnx/',
  },
  /** YuNet-n: fixed 320×320 input (letterboxed), five landmarks; fastest. */
  'yunet-n': {
    file: 'yunet_n_320_320.onnx',
    sha256: '81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2',
    source: 'github.com/ShiqiYu/libfacedetection.train, onnx/',
  },
  /** UltraFace RFB-320 (Linzaer's Ultra-Light-Fast-Generic-Face-Detector, MIT): 320×240, boxes only. */
  ultraface: {
    file: 'version-RFB-320.onnx',
    sha256: '34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017',
    source: 'github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB, models/onnx/',
  },
} as const;
export type FaceDetectorId = keyof typeof FACE_DETECTORS;
export const FACE_DETECTOR_IDS = Object.keys(FACE_DETECTORS) as FaceDetectorId[];

/** YuNet's outputs: `cls_8`, `obj_8`, `bbox_8`, `kps_8`, … for each of its strides. */
const YUNET_OUTPUTS = YUNET_STRIDES.flatMap((s) => ['cls', 'obj', 'bbox', 'kps'].map((n) => `${n}_${s}`));

/** The architecture a model's output names belong to: YuNet (`cls_8` … `kps_32`), UltraFace (`scores`, `boxes`), or none. */
export function detectorKind(outputNames: readonly string[]): 'yunet' | 'ultraface' | undefined {
  if (YUNET_OUTPUTS.every((o) => outputNames.includes(o))) return 'yunet';
  if (['scores', 'boxes'].every((o) => outputNames.includes(o))) return 'ultraface';
  return undefined;
}

/**
 * Names the resampling of the detector input (`resizeBilinear` of `@vlfer/image`: OpenCV's 8-bit INTER_LINEAR) in
 * cache keys: change it when the detector input's pixels change.
 */
export const DETECTOR_RESIZE = 'opencv-inter-linear-8u';

/**
 * The detector's input tensor for an image: resized by `resizeBilinear` into the top-left of the input (letterbox).
 * YuNet: BGR, 0…255 (OpenCV's blobFromImage), padding 0; UltraFace: RGB, (v − 127) / 128, padding −127/128.
 * @returns [1, 3, inputHeight, inputWidth] float32
 */
export function detectorInput(img: RgbImage, g: InputGeometry, kind: 'yunet' | 'ultraface'): Float32Array {
  const { inputWidth: W, inputHeight: H, resizedWidth: rw, resizedHeight: rh } = g;
  const resized = resizeBilinear(img, rw, rh).data;
  const x = new Float32Array(3 * W * H);
  const plane = W * H;
  const ch = img.channels;
  if (kind === 'ultraface') x.fill(-127 / 128);
  for (let y = 0; y < rh; y++) {
    for (let xx = 0; xx < rw; xx++) {
      const s = (y * rw + xx) * ch;
      const r = resized[s]!,
        gg = resized[ch === 3 ? s + 1 : s]!,
        b = resized[ch === 3 ? s + 2 : s]!;
      const o = y * W + xx;
      if (kind === 'yunet') {
        x[o] = b;
        x[plane + o] = gg;
        x[2 * plane + o] = r;
      } else {
        x[o] = (r - 127) / 128;
        x[plane + o] = (gg - 127) / 128;
        x[2 * plane + o] = (b - 127) / 128;
      }
    }
  }
  return x;
}

/**
 * A face detector on any ONNX Runtime: YuNet (boxes + five landmarks) or UltraFace (boxes), with the
 * post-processing written from the models' definitions (`decodeYunet`, `decodeUltraFace`, `nonMaxSuppression`).
 * Images are letterboxed into the input (`detectorInput`); faces come back in image pixels, highest score first.
 * `@vlfer/faces/node`'s `FaceDetector` loads files on onnxruntime-node; the browser app wraps onnxruntime-web.
 */
export class FaceDetectorModel {
  readonly kind: 'yunet' | 'ultraface';
  readonly options: { scoreThreshold: number; nmsThreshold: number; topK: number };
  protected readonly target: { width: number; height: number } | { longSide: number; multiple: number };

  /**
   * @param id the detector's name in messages (an id or a file)
   * @param fingerprint SHA-256 of the model file: part of every cache key
   * @throws InvalidArgumentError when the outputs are neither YuNet's nor UltraFace's, or contradict `settings.kind`
   */
  constructor(
    protected readonly runtime: DetectorRuntime,
    readonly id: string,
    readonly fingerprint: string,
    settings: DetectorSettings = {},
  ) {
    const fn = 'FaceDetectorModel';
    const kind = detectorKind(runtime.outputNames);
    if (!kind)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'model',
        message: `${id} is not a YuNet (outputs cls_8 … kps_32) or UltraFace (outputs scores, boxes) model; its outputs are ${runtime.outputNames.join(', ')}`,
      });
    if (settings.kind && settings.kind !== kind)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'kind',
        message: `'${settings.kind}' was given but ${id} has ${kind}'s outputs`,
      });
    const shape = runtime.inputShape;
    const fixed = typeof shape[2] === 'number' && typeof shape[3] === 'number';
    const longSide = settings.longSide ?? 640;
    if (!fixed && (!Number.isInteger(longSide) || longSide % 32 !== 0 || longSide <= 0))
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'longSide',
        message: `must be a positive multiple of 32, got ${longSide}`,
      });
    const topK = settings.topK ?? 50;
    if (!Number.isInteger(topK) || topK < 1 || topK > 10_000)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'topK',
        message: `must be an integer in 1..10000 (faces kept per image), got ${topK}`,
      });
    this.kind = kind;
    this.target = fixed ? { width: shape[3] as number, height: shape[2] as number } : { longSide, multiple: 32 };
    // a NaN or 1.5 kept no face, −1 every candidate up to topK, silently; an NMS threshold out of range failed at
    // the first detect(), named as nonMaxSuppression's
    const thresholds = { scoreThreshold: settings.scoreThreshold ?? 0.7, nmsThreshold: settings.nmsThreshold ?? 0.3 };
    for (const [argument, v] of Object.entries(thresholds))
      checkFiniteNumber(v, { functionName: fn, argument }, { min: 0, max: 1 });
    this.options = { ...thresholds, topK };
  }

  /** What identifies this detector's results: file hash, thresholds, input size and resampling (for cache keys). */
  get cacheKey(): string {
    return JSON.stringify({ model: this.fingerprint, ...this.options, input: this.target, resize: DETECTOR_RESIZE });
  }

  /** The input placement of an image of this size. */
  geometry(width: number, height: number): InputGeometry {
    return inputGeometry(width, height, this.target);
  }

  /** Faces in one image (grey or RGB, 8-bit), in image pixels, highest score first. */
  async detect(img: RgbImage): Promise<Face[]> {
    if (!(img.width >= 1 && img.height >= 1))
      throw new InvalidArgumentError({
        functionName: 'FaceDetector.detect',
        argument: 'img',
        message: `has no pixels (${img.width}x${img.height})`,
      });
    const g = this.geometry(img.width, img.height);
    const input = detectorInput(img, g, this.kind);
    let out: Record<string, Float32Array>;
    try {
      out = await this.runtime.run(input, [1, 3, g.inputHeight, g.inputWidth]);
    } catch (error) {
      throw new VlferError(
        `${this.id}: ONNX Runtime failed on a ${img.width}x${img.height} image (input ${g.inputWidth}x${g.inputHeight}): ${(error as Error).message}`,
        { cause: error },
      );
    }
    const dims = { width: g.inputWidth, height: g.inputHeight };
    const raw =
      this.kind === 'yunet'
        ? decodeYunet(out, dims, this.options.scoreThreshold)
        : decodeUltraFace(out.scores!, out.boxes!, dims, this.options.scoreThreshold);
    return nonMaxSuppression(raw, this.options.nmsThreshold, this.options.topK)
      .map((f) => faceToImage(f, g, img))
      .filter((f) => f.box.width > 0 && f.box.height > 0);
  }

  async dispose(): Promise<void> {
    await this.runtime.release();
  }
}
