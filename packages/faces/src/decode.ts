import { InvalidArgumentError } from '@vlfer/core';
import type { Face, Point } from './types.js';

/** YuNet's feature strides (libfacedetection / OpenCV `FaceDetectorYN`, 2023 models). */
export const YUNET_STRIDES = [8, 16, 32] as const;

/**
 * Decode YuNet's raw outputs (libfacedetection's YuNet as used by OpenCV `FaceDetectorYN`, 2023 models): for each
 * stride s and grid cell (row r, column c) of the `width / s × height / s` grid, index i = r · cols + c,
 * - score = √(clamp(cls_s[i], 0, 1) · clamp(obj_s[i], 0, 1)) (the model already applies the sigmoids);
 * - centre = ((c + bbox[i,0]) · s, (r + bbox[i,1]) · s), size = (e^{bbox[i,2]} · s, e^{bbox[i,3]} · s);
 * - landmark k = ((kps[i,2k] + c) · s, (kps[i,2k+1] + r) · s).
 * Faces below `scoreThreshold` are dropped; NMS is separate (`nonMaxSuppression`). Coordinates are in the network
 * input's pixels.
 * @param outputs `cls_8`, `obj_8`, `bbox_8`, `kps_8`, … for one image: [cells], [cells], [cells·4], [cells·10]
 * @param input the network input size (multiples of 32)
 */
export function decodeYunet(
  outputs: Readonly<Record<string, ArrayLike<number>>>,
  input: { width: number; height: number },
  scoreThreshold: number,
): Face[] {
  const fn = 'decodeYunet';
  const { width, height } = input;
  if (width % 32 !== 0 || height % 32 !== 0 || width <= 0 || height <= 0)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'input',
      message: `must be positive multiples of 32, got ${width}x${height}`,
    });
  const faces: Face[] = [];
  for (const s of YUNET_STRIDES) {
    const cols = width / s;
    const rows = height / s;
    const n = cols * rows;
    const get = (name: string, per: number) => {
      const a = outputs[`${name}_${s}`];
      if (!a || a.length !== n * per)
        throw new InvalidArgumentError({
          functionName: fn,
          argument: 'outputs',
          message: `${name}_${s} has ${a?.length ?? 'no'} values, expected ${n * per} for a ${width}x${height} input`,
        });
      return a;
    };
    const cls = get('cls', 1);
    const obj = get('obj', 1);
    const bbox = get('bbox', 4);
    const kps = get('kps', 10);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const score = Math.sqrt(Math.min(1, Math.max(0, cls[i]!)) * Math.min(1, Math.max(0, obj[i]!)));
        if (!(score >= scoreThreshold)) continue;
        const cx = (c + bbox[4 * i]!) * s;
        const cy = (r + bbox[4 * i + 1]!) * s;
        const w = Math.exp(bbox[4 * i + 2]!) * s;
        const h = Math.exp(bbox[4 * i + 3]!) * s;
        const landmarks: Point[] = [];
        for (let k = 0; k < 5; k++)
          landmarks.push([(kps[10 * i + 2 * k]! + c) * s, (kps[10 * i + 2 * k + 1]! + r) * s]);
        faces.push({ box: { x: cx - w / 2, y: cy - h / 2, width: w, height: h }, score, landmarks });
      }
    }
  }
  return faces;
}

/**
 * Decode UltraFace (Linzaer's Ultra-Light-Fast-Generic-Face-Detector, `version-RFB-320.onnx`, exported with its
 * post-processing): `scores` [priors, 2] are softmaxed (background, face) and `boxes` [priors, 4] are corner-form
 * (x1, y1, x2, y2) as fractions of the input. Faces with face score ≥ `scoreThreshold`, in input pixels.
 */
export function decodeUltraFace(
  scores: ArrayLike<number>,
  boxes: ArrayLike<number>,
  input: { width: number; height: number },
  scoreThreshold: number,
): Face[] {
  const n = scores.length / 2;
  if (!Number.isInteger(n) || boxes.length !== 4 * n)
    throw new InvalidArgumentError({
      functionName: 'decodeUltraFace',
      argument: 'boxes',
      message: `${boxes.length} values for ${scores.length / 2} priors (expected [priors, 4] and [priors, 2])`,
    });
  const faces: Face[] = [];
  for (let i = 0; i < n; i++) {
    const score = scores[2 * i + 1]!;
    if (!(score >= scoreThreshold)) continue;
    const x1 = boxes[4 * i]! * input.width;
    const y1 = boxes[4 * i + 1]! * input.height;
    const x2 = boxes[4 * i + 2]! * input.width;
    const y2 = boxes[4 * i + 3]! * input.height;
    faces.push({ box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, score, landmarks: null });
  }
  return faces;
}
