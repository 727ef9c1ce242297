/**
 * @file `@vlfer/faces/node`: the ONNX Runtime face detector (YuNet, UltraFace), image files, PNG output and the
 * resumable crop cache that turns datasets of raw photos and videos into face crops.
 */
export type { FaceDetectorOptions } from './detector.js';
export { FaceDetector } from './detector.js';
// the detector table is runtime-neutral (the browser page uses it too); re-exported here where it always was
export type { FaceDetectorId } from '../detector.js';
export { FACE_DETECTORS, FACE_DETECTOR_IDS } from '../detector.js';
export type { FaceCropSettings, FaceCounts, FaceCacheCounts, FacesReport } from './crops.js';
export { FaceCropper, createFaceCropper, cropFileKey } from './crops.js';
export { encodePng, writePng } from './png.js';
// zod validation of the pipelines' `faces` option (here rather than in the runtime-neutral entry, which stays zod-free)
export { FacesOptionsSchema } from '../options.js';
