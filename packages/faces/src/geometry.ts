import { InvalidArgumentError } from '@vlfer/core';
import type { Face } from './types.js';

/**
 * How an image is placed in a detector's input: resized by (`scaleX`, `scaleY`) to `resizedWidth × resizedHeight`
 * at the top-left corner of an `inputWidth × inputHeight` input, the rest zero (letterbox; aspect ratio kept).
 */
export interface InputGeometry {
  inputWidth: number;
  inputHeight: number;
  resizedWidth: number;
  resizedHeight: number;
  scaleX: number;
  scaleY: number;
}

/**
 * The placement of a `width × height` image in a fixed input (`{ width, height }`: YuNet-n 320×320, UltraFace
 * 320×240), or in a dynamic one (`{ longSide, multiple }`: the long side scaled to `longSide`, each side padded up to
 * a multiple of `multiple`, e.g. 640 and 32 for YuNet-s).
 */
export function inputGeometry(
  width: number,
  height: number,
  target: { width: number; height: number } | { longSide: number; multiple: number },
): InputGeometry {
  const fn = 'inputGeometry';
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'width',
      message: `image size must be positive integers, got ${width}x${height}`,
    });
  if ('longSide' in target) {
    const { longSide, multiple } = target;
    if (!(Number.isInteger(longSide) && longSide > 0 && Number.isInteger(multiple) && multiple > 0))
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'target',
        message: `longSide and multiple must be positive integers, got ${longSide}, ${multiple}`,
      });
    const s = longSide / Math.max(width, height);
    const rw = Math.max(1, Math.round(width * s));
    const rh = Math.max(1, Math.round(height * s));
    return {
      inputWidth: Math.ceil(rw / multiple) * multiple,
      inputHeight: Math.ceil(rh / multiple) * multiple,
      resizedWidth: rw,
      resizedHeight: rh,
      scaleX: rw / width,
      scaleY: rh / height,
    };
  }
  const s = Math.min(target.width / width, target.height / height);
  const rw = Math.min(target.width, Math.max(1, Math.round(width * s)));
  const rh = Math.min(target.height, Math.max(1, Math.round(height * s)));
  return {
    inputWidth: target.width,
    inputHeight: target.height,
    resizedWidth: rw,
    resizedHeight: rh,
    scaleX: rw / width,
    scaleY: rh / height,
  };
}

/** A face found in the detector input, in the original image's pixels (boxes clipped to the image). */
export function faceToImage(face: Face, g: InputGeometry, image: { width: number; height: number }): Face {
  const x1 = Math.max(0, face.box.x / g.scaleX);
  const y1 = Math.max(0, face.box.y / g.scaleY);
  const x2 = Math.min(image.width, (face.box.x + face.box.width) / g.scaleX);
  const y2 = Math.min(image.height, (face.box.y + face.box.height) / g.scaleY);
  return {
    box: { x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1) },
    score: face.score,
    landmarks: face.landmarks ? face.landmarks.map(([x, y]) => [x / g.scaleX, y / g.scaleY]) : null,
  };
}
