/**
 * @file `@vlfer/faces` (runtime-neutral): the detectors on any ONNX Runtime (`FaceDetectorModel`: input resize, YuNet and UltraFace decoding, NMS), input
 * geometry, five-point alignment and box crops, face selection and tracking through a clip, and drawing. The ONNX
 * Runtime detector, image files and the crop cache are in `@vlfer/faces/node`.
 */
export type { Face, FaceBox, Point, RgbImage } from './types.js';
export { iou, nonMaxSuppression } from './nms.js';
export { YUNET_STRIDES, decodeYunet, decodeUltraFace } from './decode.js';
export type { InputGeometry } from './geometry.js';
export { inputGeometry, faceToImage } from './geometry.js';
export type { Affine } from './align.js';
export {
  ARCFACE_TEMPLATE_112,
  alignmentTemplate,
  CROP_VERSION,
  similarityTransform,
  applyAffine,
  alignFace,
  cropFace,
  roundHalfEven,
  faceCrop,
} from './align.js';
export type { FaceSelection, NoFacePolicy, MissingFacePolicy, TrackOptions, Track } from './select.js';
export { FACE_SELECTIONS, NO_FACE_POLICIES, MISSING_FACE_POLICIES, selectFaces, trackFace } from './select.js';
export { drawFaces } from './draw.js';
export type { DetectorRuntime, DetectorSettings, FaceDetectorId } from './detector.js';
export {
  FACE_DETECTORS,
  FACE_DETECTOR_IDS,
  FaceDetectorModel,
  DETECTOR_RESIZE,
  detectorKind,
  detectorInput,
} from './detector.js';
/** Re-exported from `@vlfer/image` (where OpenCV's resize and warp moved), so that existing imports keep working. */
export { resizeBilinear, warpAffine } from '@vlfer/image';
// the pipelines' `faces` option; its zod schema (`FacesOptionsSchema`) is in `@vlfer/faces/node`, where the pipelines
// validate it, so that this runtime-neutral entry bundles without zod
export type { FacesOptions, FacesOptionsInput } from './options.js';
