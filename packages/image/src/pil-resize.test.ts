import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { PIL_RESAMPLE_WASM } from './pil-resample-wasm.js';
import { PIL_RESAMPLERS, pilResize, pilResizeToPlanes, pilResizeWindow, type PilFilter } from './pil-resize.js';

// SHA-256 of Pillow 9.4 `Image.resize` outputs, made by the Python snippet in this package's README.
const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'test-data', 'pillow-resize.json'), 'utf8'),
) as {
  resize: {
    width: number;
    height: number;
    channels: number;
    outWidth: number;
    outHeight: number;
    filter: PilFilter;
    sha256: string;
  }[];
  fer2013: { file: string; expClipSha256: string; clipSha256: string }[];
};
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function generate(w: number, h: number, c: number): Uint8Array {
  const a = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) a[(y * w + x) * c + k] = (7 * x + 13 * y + 50 * k + ((x * y) % 31)) % 256;
  return a;
}

describe('pilResize is bit-exact with Pillow', () => {
  for (const resampler of PIL_RESAMPLERS) {
    for (const t of fixture.resize) {
      it(`${resampler}: ${t.width}x${t.height}x${t.channels} → ${t.outWidth}x${t.outHeight} ${t.filter}`, () => {
        expect(
          sha(
            pilResize(
              generate(t.width, t.height, t.channels),
              t.width,
              t.height,
              t.channels,
              t.outWidth,
              t.outHeight,
              t.filter,
              resampler,
            ),
          ),
        ).toBe(t.sha256);
      });
    }
  }
  it('real FER2013 JPEGs: sharp decode + pilResize equals PIL open + convert(RGB) + resize', async () => {
    for (const f of fixture.fer2013) {
      const { data, info } = await sharp(sharedPath('data', 'fer2013-privatetest', ...f.file.split('/')))
        .raw()
        .toBuffer({ resolveWithObject: true });
      const rgb =
        info.channels === 3
          ? data
          : Uint8Array.from({ length: info.width * info.height * 3 }, (_, i) => data[Math.floor(i / 3)]!);
      expect(sha(pilResize(rgb, info.width, info.height, 3, 224, 224, 'bilinear'))).toBe(f.expClipSha256);
      expect(sha(pilResize(rgb, info.width, info.height, 3, 224, 224, 'bicubic'))).toBe(f.clipSha256);
    }
  });
});

describe('the WebAssembly passes equal the JavaScript ones (both Pillow-exact above)', () => {
  // a small deterministic generator (LCG), so a failure names a reproducible case
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const noise = (n: number) => Uint8Array.from({ length: n }, () => rand(256));
  it('whole images: 60 random sizes, grey and RGB, up and down, both filters, widths not a multiple of 16', () => {
    for (let k = 0; k < 60; k++) {
      const [w, h, ow, oh, ch] = [1 + rand(300), 1 + rand(300), 1 + rand(260), 1 + rand(260), rand(2) ? 3 : 1];
      const filter: PilFilter = rand(2) ? 'bilinear' : 'bicubic';
      const src = noise(w * h * ch);
      const js = pilResize(src, w, h, ch, ow, oh, filter, 'js');
      expect(sha(pilResize(src, w, h, ch, ow, oh, filter, 'wasm')), `${w}x${h}x${ch} → ${ow}x${oh} ${filter}`).toBe(
        sha(js),
      );
    }
  });
  it('large reductions (many taps, strips of source rows): 40 random cases, 1 to 4 channels, windows', () => {
    for (let k = 0; k < 40; k++) {
      // up to 2,400 px wide and 1 to 13 % of it out: 8 to 200 taps per output pixel, rows of up to 9,600 bytes
      const [w, h, ch] = [200 + rand(2200), 1 + rand(90), 1 + rand(4)];
      const [ow, oh] = [Math.max(1, Math.floor(w / (8 + rand(93)))), 1 + rand(h + 20)];
      const filter: PilFilter = rand(2) ? 'bilinear' : 'bicubic';
      const src = noise(w * h * ch);
      const win = { x: rand(ow), y: rand(oh), width: 0, height: 0 };
      win.width = 1 + rand(ow - win.x);
      win.height = 1 + rand(oh - win.y);
      const what = `${w}x${h}x${ch} → ${ow}x${oh} ${filter} ${JSON.stringify(win)}`;
      const js = pilResizeWindow(src, w, h, ch, ow, oh, filter, win, 'js');
      expect(sha(pilResizeWindow(src, w, h, ch, ow, oh, filter, win, 'wasm')), what).toBe(sha(js));
    }
  });
  it('a window of the output is that crop of the whole output, in both', () => {
    for (let k = 0; k < 30; k++) {
      const [w, h, ow, oh, ch] = [1 + rand(200), 1 + rand(200), 2 + rand(240), 2 + rand(240), rand(2) ? 3 : 1];
      const filter: PilFilter = rand(2) ? 'bilinear' : 'bicubic';
      const src = noise(w * h * ch);
      const whole = pilResize(src, w, h, ch, ow, oh, filter, 'js');
      const win = { x: rand(ow), y: rand(oh), width: 0, height: 0 };
      win.width = 1 + rand(ow - win.x);
      win.height = 1 + rand(oh - win.y);
      const crop = new Uint8Array(win.width * win.height * ch);
      for (let r = 0; r < win.height; r++)
        crop.set(
          whole.subarray(((win.y + r) * ow + win.x) * ch, ((win.y + r) * ow + win.x + win.width) * ch),
          r * win.width * ch,
        );
      for (const resampler of PIL_RESAMPLERS)
        expect(
          sha(pilResizeWindow(src, w, h, ch, ow, oh, filter, win, resampler)),
          `${resampler} ${JSON.stringify(win)}`,
        ).toBe(sha(crop));
    }
  });
  it('pilResizeToPlanes: the same float planes, shared-plane shortcut for grey with equal tables included', () => {
    const tables = new Float32Array(768).map((_, i) => (i % 256) / 255 - 0.1 * Math.floor(i / 256));
    const equal = new Float32Array(768).map((_, i) => (i % 256) / 255);
    for (const [w, h, ch, t] of [
      [48, 48, 1, equal],
      [48, 48, 1, tables],
      [61, 37, 3, tables],
      [300, 200, 3, equal],
    ] as const) {
      const src = noise(w * h * ch);
      const win = { x: 3, y: 5, width: 224, height: 224 };
      const a = new Float32Array(3 * 224 * 224 + 7).fill(-1);
      const b = new Float32Array(3 * 224 * 224 + 7).fill(-1);
      pilResizeToPlanes(src, w, h, ch, 230, 240, 'bicubic', win, t, a, 7, 'wasm');
      pilResizeToPlanes(src, w, h, ch, 230, 240, 'bicubic', win, t, b, 7, 'js');
      expect(
        a.findIndex((v, i) => !Object.is(v, b[i])),
        'first differing value',
      ).toBe(-1);
      expect(a[6]).toBe(-1);
      const bytes = pilResizeWindow(src, w, h, ch, 230, 240, 'bicubic', win, 'js');
      expect(a[7 + 224 * 224 + 5]).toBe(t[256 + bytes[5 * ch + (ch === 3 ? 1 : 0)]!]);
    }
  });
  it('bad arguments are refused with what was expected', () => {
    const src = new Uint8Array(4 * 4);
    expect(() => pilResizeWindow(src, 4, 4, 1, 8, 8, 'bilinear', { x: 4, y: 0, width: 5, height: 2 })).toThrow(
      /window .* does not fit the 8x8 output/,
    );
    expect(() => pilResize(src, 4, 5, 1, 8, 8, 'bilinear')).toThrow(/16 bytes is not 4x5x1/);
    expect(() => pilResize(src, 4, 4, 1, 8, 8, 'bilinear', 'gpu' as never)).toThrow(
      /resampler must be one of wasm, js/,
    );
    expect(() => pilResize(src, 4, 4, 1, 2.5, 8, 'bilinear')).toThrow(/sizes must be positive integers, got 4 → 2.5/);
    expect(() => pilResize(src, 4, 4, 1, 8, 8, 'lanczos' as never)).toThrow(
      /filter must be one of bilinear, bicubic, got lanczos/,
    );
  });
  it('the committed module is src/pil-resample.wat compiled (tooling/build/src/build-wasm.mjs), and the file is what it writes', async () => {
    // @ts-expect-error a plain ES module script without types
    const { compileWat, wasmModuleSource } = await import('../../../tooling/build/src/build-wasm.mjs');
    const wat = join(import.meta.dirname, 'pil-resample.wat');
    expect(await compileWat(wat)).toBe(PIL_RESAMPLE_WASM);
    // `build-wasm.mjs --check` compares the whole file: it must survive Prettier unchanged
    expect(readFileSync(join(import.meta.dirname, 'pil-resample-wasm.ts'), 'utf8')).toBe(
      wasmModuleSource(wat, 'PIL_RESAMPLE_WASM', PIL_RESAMPLE_WASM),
    );
  });
});
