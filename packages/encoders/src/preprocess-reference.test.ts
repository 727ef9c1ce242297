import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { sharedPath } from '@vlfer/test-utils';
import { PIL_RESAMPLERS, pilResize } from '@vlfer/image';
import { describe, expect, it } from 'vitest';
import { OPENAI_CLIP_PREPROCESSOR, preprocessRgb } from './preprocess.js';
import { preprocessImages } from './node/preprocess.js';

// Moved here from @vlfer/image's pil-resize.test.ts: these check CLIP's preprocessing (the resize is @vlfer/image's).
// SHA-256 of Pillow 9.4 `Image.resize` outputs of FER2013 images (the fixture of @vlfer/image's resize tests).
const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'image', 'test-data', 'pillow-resize.json'), 'utf8'),
) as { fer2013: { file: string; expClipSha256: string; clipSha256: string }[] };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('preprocessing resizes as Pillow', () => {
  it('preprocessImages(exp-clip) equals the Pillow pixels / 255', async () => {
    const f = fixture.fer2013[0]!;
    const path = sharedPath('data', 'fer2013-privatetest', ...f.file.split('/'));
    const pv = await preprocessImages([path], 'exp-clip', OPENAI_CLIP_PREPROCESSOR);
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    const rgb =
      info.channels === 3
        ? data
        : Uint8Array.from({ length: info.width * info.height * 3 }, (_, i) => data[Math.floor(i / 3)]!);
    const px = pilResize(rgb, info.width, info.height, 3, 224, 224, 'bilinear');
    const back = new Uint8Array(224 * 224 * 3);
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < 224 * 224; p++) back[p * 3 + c] = Math.round(pv.data[c * 224 * 224 + p]! * 255);
    expect(sha(back)).toBe(sha(px));
    expect(sha(px)).toBe(f.expClipSha256);
  });
});

// SHA-256 of the float32 tensors of torchvision (exp-clip) and of CLIPImageProcessor's steps in NumPy (clip), made by
// tools/fixtures/pytorch_tensors.py.
const tensors = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'test-data', 'pytorch-tensors.json'), 'utf8'),
) as {
  fer2013: { file: string; expClip: string; clip: string }[];
  synthetic: { width: number; height: number; rgb: number[]; expClip: string; clip: string };
};
const floatSha = (a: Float32Array) => sha(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

describe("preprocessing gives the reference pipelines' float32 tensors bit for bit", () => {
  for (const f of tensors.fer2013) {
    it(`FER2013 ${f.file}: exp-clip = torchvision ToTensor(Resize), clip = CLIPImageProcessor`, async () => {
      const path = sharedPath('data', 'fer2013-privatetest', ...f.file.split('/'));
      expect(floatSha((await preprocessImages([path], 'exp-clip')).data)).toBe(f.expClip);
      expect(floatSha((await preprocessImages([path], 'clip')).data)).toBe(f.clip);
    });
  }
  it('a 61×37 RGB image, both modes, both resamplers', () => {
    const t = tensors.synthetic;
    const img = { data: Uint8Array.from(t.rgb), width: t.width, height: t.height, channels: 3 as const };
    for (const resampler of PIL_RESAMPLERS) {
      for (const [mode, want] of [
        ['exp-clip', t.expClip],
        ['clip', t.clip],
      ] as const) {
        const out = new Float32Array(3 * 224 * 224);
        preprocessRgb(img, mode, OPENAI_CLIP_PREPROCESSOR, out, 0, { resampler });
        expect(floatSha(out), `${mode} ${resampler}`).toBe(want);
      }
    }
  });
});
