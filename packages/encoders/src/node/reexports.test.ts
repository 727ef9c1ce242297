import * as image from '@vlfer/image';
import * as imageNode from '@vlfer/image/node';
import { describe, expect, it } from 'vitest';
import * as encoders from '../index.js';
import * as encodersNode from './index.js';

// Decoding and Pillow's resampling moved to @vlfer/image; imports from @vlfer/encoders(/node) must keep working.
describe('names that moved to @vlfer/image are re-exported by encoders', () => {
  it('@vlfer/encoders re-exports the resampling and Pillow-mode names, the same objects', () => {
    const moved = [
      'PILLOW_MODES',
      'PIL_RESAMPLERS',
      'pilNearestWindow',
      'pilResize',
      'pilResizeInt32',
      'pilResizeRows',
      'pilResizeToPlanes',
      'pilResizeWindow',
      'pillowCmykToRgb',
      'pillowResizeWindow',
      'pillowToRgb',
    ] as const;
    for (const name of moved) expect(encoders[name], name).toBe(image[name]);
  });
  it('@vlfer/encoders/node re-exports decoding, the same objects', () => {
    const moved = ['DECODER_VERSION', 'decodeImage', 'decodePillowImage', 'describeSource'] as const;
    for (const name of moved) expect(encodersNode[name], name).toBe(imageNode[name]);
    expect(encodersNode.pillowCmykToRgb).toBe(image.pillowCmykToRgb);
    expect(encodersNode.DECODER_VERSION).toBe('pillow-9.4-rgb-no-icc-v4'); // cache keys unchanged by the move
  });
});
