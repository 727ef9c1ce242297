import { faceCrop, type Face, type FaceDetectorModel, type RgbImage } from '@vlfer/faces';
import { labelScores, preprocessRgb, type LabelScore, type PreprocessMode, type ZeroShotClassifier } from '@vlfer/encoders';
import type { WebClipModel } from '@vlfer/encoders/web';

/** One classified region: a detected face, or the whole image (`face: null`). */
export interface RegionResult {
  face: Face | null;
  /** Every class with its probability, highest first. */
  scores: LabelScore[];
}

export interface FacesSetting {
  align: boolean;
  size: number;
  margin: number;
}

/**
 * Zero-shot FER of one image as the Node pipeline computes it: faces from the detector (every face, highest score
 * first) cut by `faceCrop`, or the whole image; `preprocessRgb`; CLIP image features; the zero-shot classifier.
 */
export async function classifyImage(image: RgbImage, options: { clip: WebClipModel; classifier: ZeroShotClassifier; mode: PreprocessMode; detector?: FaceDetectorModel; faces?: FacesSetting }): Promise<RegionResult[]> {
  const { clip, classifier, detector, faces } = options;
  const found = detector && faces ? await detector.detect(image) : null;
  const regions = found ? found.map((face) => ({ face: face as Face | null, image: faceCrop(image, face, faces!) })) : [{ face: null, image }];
  if (regions.length === 0) return [];
  const S = clip.preprocessor.cropSize;
  const pixels = new Float32Array(regions.length * 3 * S * S);
  regions.forEach((r, i) => preprocessRgb(r.image, options.mode, clip.preprocessor, pixels, i * 3 * S * S));
  const features = await clip.encodePixels({ dtype: 'float32', data: pixels, dims: [regions.length, 3, S, S] });
  const scores = labelScores(await classifier.classify(features), classifier.classNames);
  return regions.map((r, i) => ({ face: r.face, scores: scores[i]! }));
}

/** Decode an image file (or camera frame) to 8-bit RGB without colour management or alpha premultiplication. */
export async function decodeBlob(blob: Blob | ImageBitmap): Promise<RgbImage> {
  const bitmap = blob instanceof Blob ? await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }) : blob;
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { colorSpace: 'srgb', willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) { rgb[q] = rgba[p]!; rgb[q + 1] = rgba[p + 1]!; rgb[q + 2] = rgba[p + 2]!; }
  return { data: rgb, width: bitmap.width, height: bitmap.height, channels: 3 };
}
