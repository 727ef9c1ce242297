/** An axis-aligned box in pixels of the image it was found in: top-left corner and size. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A point in pixels, `[x, y]`. */
export type Point = [number, number];

/**
 * One detected face. `landmarks` are YuNet's five points in image order — the face's right eye (left in the image),
 * left eye, nose tip, right and left mouth corners — or null for detectors without landmarks (UltraFace).
 */
export interface Face {
  box: FaceBox;
  score: number;
  landmarks: Point[] | null;
}

/** An 8-bit image in memory, row-major, interleaved channels (1 = grey, 3 = RGB). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}
