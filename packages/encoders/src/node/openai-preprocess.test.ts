import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { PIL_RESAMPLERS, pillowToRgb } from '@vlfer/image';
import { decodeImage, decodePillowImage } from '@vlfer/image/node';
import { cropBox, OPENAI_CLIP_PREPROCESSOR, preprocessPillowImage, preprocessRgb, resizedSize } from '../preprocess.js';
import { classify } from './classify.js';
import { loadClip } from './clip.js';
import { preprocessImages } from './preprocess.js';

// SHA-256 of the float32 tensors of OpenAI's `clip.load(...)[1]` (torchvision 0.14 on Pillow 9.4, the image in the
// mode Pillow opens it in) and of CLIPImageProcessor's steps, made by tools/fixtures/openai_tensors.py.
const data = join(import.meta.dirname, '..', '..', 'test-data');
/** A fixture of openai-tensors.json: `decoding/…` files are @vlfer/image's decoding fixtures, the rest are here. */
const fixture = (file: string) =>
  file.startsWith('decoding/')
    ? join(import.meta.dirname, '..', '..', '..', 'image', 'test-data', ...file.split('/'))
    : join(data, ...file.split('/'));
interface Ref {
  openai: string;
  clip: string;
}
const refs = JSON.parse(readFileSync(join(data, 'openai-tensors.json'), 'utf8')) as {
  files: (Ref & { file: string; mode: string; width: number; height: number })[];
  raw: (Ref & { width: number; height: number })[];
  resizedSizes: [number, number, number, number][];
};
const floatSha = (a: Float32Array) =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');

const asRgb = (d: { data: Uint8Array; channels: number }) =>
  d.channels === 3 ? d.data : Uint8Array.from(Array.from(d.data).flatMap((v) => [v, v, v]));

/** The script's formula image: r = (29x + 7y) mod 256, g = 3xy mod 256, b = (x² + 5y) mod 256. */
function formulaRgb(w: number, h: number): Uint8Array {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      rgb[p] = (29 * x + 7 * y) % 256;
      rgb[p + 1] = (3 * x * y) % 256;
      rgb[p + 2] = (x * x + 5 * y) % 256;
    }
  return rgb;
}

describe("'openai' preprocessing equals OpenAI's clip.load transform; 'clip' stays CLIPImageProcessor", () => {
  it('centre crop: torchvision rounds (side − 224) / 2 half to even, HF floors it', () => {
    // the three real photos of issue 23: 500×334 → 335×224, 1986×1545 → 287×224, 900×916 → 224×227
    expect(resizedSize(500, 334, 'openai', OPENAI_CLIP_PREPROCESSOR)).toEqual([335, 224]);
    expect(cropBox(335, 224, 224, 'openai').x).toBe(56); // round(55.5) = 56
    expect(cropBox(335, 224, 224, 'clip').x).toBe(55);
    expect(cropBox(224, 227, 224, 'openai').y).toBe(2); // round(1.5) = 2
    expect(cropBox(224, 227, 224, 'clip').y).toBe(1);
    expect(cropBox(369, 224, 224, 'openai').x).toBe(72); // round(72.5) = 72, half to even: same as the floor
    expect(cropBox(226, 224, 224, 'openai').x).toBe(1);
  });

  it("resize size: torchvision 0.14's rule (OpenAI) and HF's are one formula, and resizedSize computes it", () => {
    // the script asserted torchvision's _compute_resized_output_size = HF's get_resize_output_image_size on each
    expect(refs.resizedSizes.length).toBe(48 * 48 + 1000);
    for (const [w, h, nw, nh] of refs.resizedSizes) {
      expect(resizedSize(w, h, 'openai', OPENAI_CLIP_PREPROCESSOR), `${w}x${h}`).toEqual([nw, nh]);
      expect(resizedSize(w, h, 'clip', OPENAI_CLIP_PREPROCESSOR), `${w}x${h}`).toEqual([nw, nh]);
    }
  });

  it('the references tell the two pipelines apart on every crop-shifted image', () => {
    const shifted = refs.files.filter((f) => f.file.startsWith('openai-preprocess/'));
    expect(shifted.length).toBe(42);
    for (const f of shifted) expect(f.openai, f.file).not.toBe(f.clip);
  });

  for (const f of refs.files) {
    it(`${f.file} (Pillow mode ${f.mode}, ${f.width}×${f.height}): openai and clip tensors bit for bit`, async () => {
      const path = fixture(f.file);
      const img = await decodePillowImage(path);
      // Pillow opens a 16-bit grey+alpha PNG as RGBA with equal colours; vlfer keeps it as LA (same resize)
      expect(img.mode).toBe(f.mode === 'RGBA' && f.file.includes('grey16-alpha') ? 'LA' : f.mode);
      expect([img.width, img.height]).toEqual([f.width, f.height]);
      expect(floatSha((await preprocessImages([path], 'openai')).data)).toBe(f.openai);
      expect(floatSha((await preprocessImages([path], 'clip')).data)).toBe(f.clip);
      for (const resampler of PIL_RESAMPLERS) {
        const out = new Float32Array(3 * 224 * 224);
        preprocessPillowImage(img, 'openai', OPENAI_CLIP_PREPROCESSOR, out, 0, { resampler });
        expect(floatSha(out), resampler).toBe(f.openai);
      }
    });
  }

  it("each mode's own resize matters: converting to RGB first misses OpenAI's tensor for every non-grey/RGB mode", async () => {
    const differs: Record<string, number> = {};
    const total: Record<string, number> = {};
    for (const f of refs.files.filter((x) => x.file.startsWith('openai-preprocess/'))) {
      const img = await decodeImage(fixture(f.file));
      const out = new Float32Array(3 * 224 * 224);
      preprocessRgb(img, 'openai', OPENAI_CLIP_PREPROCESSOR, out, 0);
      total[f.mode] = (total[f.mode] ?? 0) + 1;
      if (floatSha(out) !== f.openai) differs[f.mode] = (differs[f.mode] ?? 0) + 1;
    }
    // grey and RGB: resizing before or after convert('RGB') is the same; every other mode differs at every size
    expect(differs).toEqual({ LA: 3, RGBA: 6, P: 12, '1': 3, I: 3, CMYK: 3 });
    expect(total).toEqual({ L: 6, LA: 3, RGBA: 6, P: 12, '1': 3, I: 3, CMYK: 3, RGB: 6 });
  });

  it("with HESP's clip augmentation: a whole-frame, unflipped crop leaves OpenAI's tensor unchanged", async () => {
    const f = refs.files.find((x) => x.file === 'openai-preprocess/grey-alpha-250x230.png')!;
    const aug = { flip: false, crop: { x: 0, y: 0, w: 224, h: 224 } };
    const t = await preprocessImages([fixture(f.file)], 'openai', undefined, 'pil', {
      augmentations: [aug],
    });
    expect(floatSha(t.data)).toBe(f.openai);
  });

  for (const r of refs.raw) {
    it(`${r.width}×${r.height} RGB pixels: openai and clip, both resamplers`, async () => {
      const rgb = formulaRgb(r.width, r.height);
      const source = { rgb, width: r.width, height: r.height };
      expect(floatSha((await preprocessImages([source], 'openai')).data)).toBe(r.openai);
      expect(floatSha((await preprocessImages([source], 'clip')).data)).toBe(r.clip);
      const img = { data: rgb, width: r.width, height: r.height, channels: 3 as const };
      for (const resampler of PIL_RESAMPLERS) {
        const out = new Float32Array(3 * 224 * 224);
        preprocessRgb(img, 'openai', OPENAI_CLIP_PREPROCESSOR, out, 0, { resampler });
        expect(floatSha(out), resampler).toBe(r.openai);
      }
    });
  }

  it("'clip' and 'exp-clip' decoding is unchanged: decodePillowImage converted to RGB equals decodeImage", async () => {
    for (const f of refs.files) {
      const path = fixture(f.file);
      const a = pillowToRgb(await decodePillowImage(path));
      const b = await decodeImage(path);
      expect([a.width, a.height], f.file).toEqual([b.width, b.height]);
      expect(Buffer.from(asRgb(a)).equals(Buffer.from(asRgb(b))), f.file).toBe(true);
    }
  });
});

describe("'openai' is the default preprocessing of OpenAI .pt checkpoints", () => {
  const tiny = sharedPath('fixtures', 'tiny-clip');
  const pt = join(data, 'openai-clip', 'openai-tiny-state-dict.pt');
  const image = join(data, 'openai-preprocess', 'rgb-41x23.jpg');
  const labels = ['happiness', 'sadness', 'anger'];

  it("a .pt checkpoint says 'openai', and classify without a mode uses it", async () => {
    const clip = await loadClip({ model: pt, tokenizer: tiny, config: join(tiny, 'config.json') });
    try {
      expect(clip.preprocessMode).toBe('openai');
      const byDefault = await classify(clip, [image], { labels });
      expect(byDefault).toEqual(await classify(clip, [image], { labels, mode: 'openai' }));
      // the crop differs by a pixel at this size, so 'clip' gives other scores
      expect(byDefault).not.toEqual(await classify(clip, [image], { labels, mode: 'clip' }));
    } finally {
      await clip.dispose();
    }
  });

  it("a transformers.js directory says 'clip' (CLIPImageProcessor)", async () => {
    const clip = await loadClip({ model: tiny });
    try {
      expect(clip.preprocessMode).toBe('clip');
    } finally {
      await clip.dispose();
    }
  });
});
