import { faceCrop, type Face, type FaceDetectorModel, type RgbImage } from '@vlfer/faces';
import {
  labelScores,
  preprocessRgb,
  type LabelScore,
  type PreprocessMode,
  type ZeroShotClassifier,
} from '@vlfer/encoders';
import type { WebClipModel } from '@vlfer/encoders/web';

/** One classified region: a detected face, or the whole image (`face: null`). */
export interface RegionResult {
  face: Face | null;
  /** Every class with its probability, highest first. */
  scores: LabelScore[];
  /** Set when faces were asked for, the detector found none, and the whole image was classified instead. */
  noFace?: true;
}

export interface FacesSetting {
  align: boolean;
  size: number;
  margin: number;
}

/**
 * Zero-shot FER of one image as the Node pipeline computes it: faces from the detector (every face, highest score
 * first) cut by `faceCrop`, or the whole image; `preprocessRgb`; CLIP image features; the zero-shot classifier.
 * `noFace` is what happens when the detector finds no face (as Node's `NoFacePolicy`): `'skip'` returns no region,
 * `'full'` classifies the whole image and marks it `noFace` (pre-cropped faces such as FER2013's 48×48 images fill
 * the frame, and detectors trained on photos rarely find them).
 */
export async function classifyImage(
  image: RgbImage,
  options: {
    clip: WebClipModel;
    classifier: ZeroShotClassifier;
    mode: PreprocessMode;
    detector?: FaceDetectorModel;
    faces?: FacesSetting;
    /** @default 'skip' */
    noFace?: 'skip' | 'full';
  },
): Promise<RegionResult[]> {
  const { clip, classifier, detector, faces } = options;
  const found = detector && faces ? await detector.detect(image) : null;
  const noFace = found !== null && found.length === 0 && options.noFace === 'full';
  const regions =
    found && !noFace
      ? found.map((face) => ({ face: face as Face | null, image: faceCrop(image, face, faces!) }))
      : [{ face: null, image }];
  if (regions.length === 0) return [];
  const S = clip.preprocessor.cropSize;
  const pixels = new Float32Array(regions.length * 3 * S * S);
  regions.forEach((r, i) => preprocessRgb(r.image, options.mode, clip.preprocessor, pixels, i * 3 * S * S));
  const features = await clip.encodePixels({ dtype: 'float32', data: pixels, dims: [regions.length, 3, S, S] });
  const scores = labelScores(await classifier.classify(features), classifier.classNames);
  return regions.map((r, i) => ({ face: r.face, scores: scores[i]!, ...(noFace ? { noFace: true as const } : {}) }));
}

/**
 * Decode an image file (or camera frame) to 8-bit RGB as Pillow's `Image.open(f).convert('RGB')` does, which is what
 * `decodeImage` of `@vlfer/image/node` gives: no EXIF rotation, no colour management, alpha dropped without
 * premultiplying (the pixels are read back through WebGL, tile by tile for images beyond its texture size, because a
 * 2D canvas stores premultiplied alpha). CMYK JPEGs are converted by
 * the browser, not with Pillow's formula, so they can differ slightly from Node.
 */
export async function decodeBlob(blob: Blob | ImageBitmap): Promise<RgbImage> {
  const source =
    blob instanceof Blob
      ? new Blob([withoutExifOrientation(new Uint8Array(await blob.arrayBuffer())) as Uint8Array<ArrayBuffer>], {
          type: blob.type,
        })
      : undefined;
  const bitmap = source
    ? await createImageBitmap(source, {
        colorSpaceConversion: 'none',
        premultiplyAlpha: 'none',
        imageOrientation: 'none',
      } as ImageBitmapOptions)
    : (blob as ImageBitmap);
  const { width, height } = bitmap;
  const rgba = await readRgba(bitmap);
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    rgb[q] = rgba[p]!;
    rgb[q + 1] = rgba[p + 1]!;
    rgb[q + 2] = rgba[p + 2]!;
  }
  return { data: rgb, width, height, channels: 3 };
}

/**
 * The bitmap's RGBA bytes as stored (not premultiplied): WebGL readback, tile by tile where the image is larger than
 * the GPU's `MAX_TEXTURE_SIZE` (8192 in Chromium: an RGBA PNG of 8200 × 120 went through a 2D canvas, which
 * premultiplies alpha, and its probabilities moved by 0.24), or a 2D canvas where WebGL is missing.
 */
async function readRgba(bitmap: ImageBitmap): Promise<Uint8Array> {
  const { width, height } = bitmap;
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2', { premultipliedAlpha: false, antialias: false });
  if (gl) {
    const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    const out = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y += max)
      for (let x = 0; x < width; x += max) {
        const [w, h] = [Math.min(max, width - x), Math.min(max, height - y)];
        const whole = w === width && h === height;
        const options = { premultiplyAlpha: 'none', colorSpaceConversion: 'none' } as ImageBitmapOptions;
        const tile = whole ? bitmap : await createImageBitmap(bitmap, x, y, w, h, options);
        readTile(gl, tile, out, { x, y, width });
        if (!whole) tile.close();
      }
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return out;
  }
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { colorSpace: 'srgb', willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  return new Uint8Array(ctx.getImageData(0, 0, width, height).data.buffer);
}

/** Upload `tile` as an unpremultiplied texture and read its RGBA bytes into `out` (rows of `at.width` pixels) at (x, y). */
function readTile(
  gl: WebGL2RenderingContext,
  tile: ImageBitmap,
  out: Uint8Array,
  at: { x: number; y: number; width: number },
): void {
  const { width: w, height: h } = tile;
  const texture = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, tile);
  const fb = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
  const rows = new Uint8Array(w * h * 4);
  gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, rows);
  for (let r = 0; r < h; r++) out.set(rows.subarray(r * w * 4, (r + 1) * w * 4), ((at.y + r) * at.width + at.x) * 4);
  gl.deleteFramebuffer(fb);
  gl.deleteTexture(texture);
}

/**
 * A JPEG's bytes with its EXIF orientation set to 1 (upright), so the browser does not rotate it: Pillow does not
 * either. Other files, and JPEGs without the tag, come back unchanged.
 */
export function withoutExifOrientation(bytes: Uint8Array): Uint8Array {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return bytes;
  let p = 2;
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1]!;
    const len = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    if (marker === 0xda || len < 2) break; // start of scan: no more metadata
    const exif = p + 4;
    if (marker === 0xe1 && len >= 16 && String.fromCharCode(...bytes.subarray(exif, exif + 6)) === 'Exif\0\0') {
      const t = exif + 6;
      const le = bytes[t] === 0x49; // 'II' little-endian, 'MM' big-endian
      const u16 = (o: number) => (le ? bytes[o]! | (bytes[o + 1]! << 8) : (bytes[o]! << 8) | bytes[o + 1]!);
      const u32 = (o: number) =>
        le
          ? (bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16)) + bytes[o + 3]! * 2 ** 24
          : bytes[o]! * 2 ** 24 + ((bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!);
      const ifd = t + u32(t + 4);
      const end = p + 2 + len;
      if (ifd + 2 > end) return bytes;
      const n = u16(ifd);
      for (let i = 0; i < n; i++) {
        const e = ifd + 2 + 12 * i;
        if (e + 12 > end) break;
        if (u16(e) === 0x0112) {
          const out = bytes.slice();
          out[e + 8] = le ? 1 : 0;
          out[e + 9] = le ? 0 : 1;
          return out;
        }
      }
      return bytes;
    }
    p += 2 + len;
  }
  return bytes;
}
