import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { photoLikeJpeg } from '@vlfer/test-utils';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { DataFormatError } from '@vlfer/core';
import { decodeJpegWasm, jpegDecoderInstances } from './jpeg.js';
import { decodePngJs } from './png.js';
import { pillowCmykToRgb } from '../pillow.js';
import { decodeImage, decodeImageNow, decodePillowImage, decodePillowImageNow } from './decode.js';
import { nativeJpeg } from './jpeg-native.js';

// Pillow 9.4 (Debian python3-pil) `Image.open(f).convert('RGB')` of each file, in test-data/decoding/pillow-rgb.json.
const dir = join(import.meta.dirname, '..', '..', 'test-data', 'decoding');
// Files Pillow raises on hold `{ error }` instead.
const pillow = JSON.parse(readFileSync(join(dir, 'pillow-rgb.json'), 'utf8')) as Record<
  string,
  { rgb: number[]; width: number; height: number; pillowMode: string; error?: string }
>;
/** BMPs Pillow opens and vlfer refuses, naming them (RLE and 16-bit: tested below). */
const refusedByVlfer = new Set(['bmp-rle8.bmp', 'bmp-16.bmp']);
/** The fixtures Pillow opens and vlfer reads. */
const opened = Object.keys(pillow).filter((f) => pillow[f]!.error === undefined && !refusedByVlfer.has(f));
const asRgb = (d: { data: Uint8Array; channels: number }) =>
  d.channels === 3 ? Array.from(d.data) : Array.from(d.data).flatMap((v) => [v, v, v]);
/** `decodeImage(file)` gives Pillow's size and RGB bytes for the committed fixture `f`. */
async function expectPillow(f: string): Promise<void> {
  const d = await decodeImage(join(dir, f));
  expect([d.width, d.height]).toEqual([pillow[f]!.width, pillow[f]!.height]);
  expect(asRgb(d)).toEqual(pillow[f]!.rgb);
}
/** `decodeImage(path)` rejects with a DataFormatError whose message names the path; @returns the message */
async function expectDecodeError(path: string): Promise<string> {
  const error = await decodeImage(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, path).toBeInstanceOf(DataFormatError);
  const message = String((error as Error).message);
  expect(message).toContain(path);
  return message;
}

describe('decoding matches Pillow where libvips would not (16-bit, CMYK, ICC profiles ignored, no EXIF rotation)', () => {
  for (const f of ['grey16.png', 'grey16-alpha.png', 'rgb16.png', 'rgba16.png', 'cmyk.jpg', 'p3.jpg', 'exif6.jpg']) {
    it(`${f} (Pillow mode ${pillow[f]!.pillowMode}) gives Pillow's RGB bytes exactly`, () => expectPillow(f));
  }
  it("16-bit grey saturates like Pillow (1000 → 255, not libvips' 1000 / 257 ≈ 4); CMYK uses Pillow's formula", () => {
    expect(Array.from(pillowCmykToRgb(Uint8Array.of(30, 225, 70, 10)))).toEqual([216, 29, 178]);
    expect(Array.from(pillowCmykToRgb(Uint8Array.of(0, 0, 0, 255)))).toEqual([0, 0, 0]);
  });
});

describe("GIFs as Pillow 9.4 opens them: the canvas outside a smaller first frame in Pillow's fill colour, indices past the table as its grey ramp", () => {
  const gifs = opened.filter((f) => f.endsWith('.gif'));
  const refused = Object.keys(pillow).filter((f) => f.endsWith('.gif') && pillow[f]!.error !== undefined);
  it('has the ten GIFs of make_codec_variants.py, two of which Pillow refuses', () => {
    expect(gifs).toHaveLength(8);
    expect(refused.map((f) => [f, pillow[f]!.error])).toEqual([
      ['gif-lzw-short.gif', 'OSError: image file is truncated (2 bytes not processed)'],
      ['gif-zero-height.gif', 'ValueError: tile cannot extend outside image'],
    ]);
  });
  it("gif-grey-local.gif: a grey-ramp local table over a colour global one gives Pillow's global colours", async () => {
    // libvips painted the frame with the local grey ramp; Pillow opens it as mode 'L' over palette data, which it
    // converts to RGB but cannot resize: decodePillowImage refuses it, saying so
    await expectPillow('gif-grey-local.gif');
    expect(pillow['gif-grey-local.gif']!.pillowMode).toBe('L');
    await expect(decodePillowImage(join(dir, 'gif-grey-local.gif'))).rejects.toThrow(
      /gif-grey-local\.gif.*grey ramp over a colour global table: Pillow 9.4 opens it as mode 'L' holding palette data/,
    );
  });
  for (const f of gifs.filter((g) => g !== 'gif-grey-local.gif'))
    it(`${f} (Pillow mode ${pillow[f]!.pillowMode}) gives Pillow's RGB bytes and mode`, async () => {
      await expectPillow(f); // before v4: black outside the frame (Pillow: palette index 0) and past the table (grey ramp)
      expect((await decodePillowImage(join(dir, f))).mode).toBe(pillow[f]!.pillowMode);
    });
  it('refuses, naming the file and why, a first frame that ends before its last pixel or has no pixels', async () => {
    // libvips decoded both (the missing pixels black); Pillow raises
    expect(await expectDecodeError(join(dir, 'gif-lzw-short.gif'))).toMatch(
      /first frame's image data ends after 13 of its 5×4 pixels \(truncated or broken LZW data/,
    );
    expect(await expectDecodeError(join(dir, 'gif-zero-height.gif'))).toMatch(/first frame is 4×0 pixels: no image/);
    for (const f of refused) await expect(decodePillowImage(join(dir, f)), f).rejects.toThrow(DataFormatError);
  });
});

describe("JPEG through libjpeg-turbo in WebAssembly gives Pillow's bytes", () => {
  const variants = Object.keys(pillow).filter((f) => f.startsWith('jpeg-'));
  it('covers every JPEG coding variant of make_codec_variants.py', () => expect(variants.length).toBe(12));
  for (const f of variants) {
    it(`${f}: ${f === 'jpeg-4x2.jpg' ? 'refused by TurboJPEG, decoded by libvips' : 'decoded in WebAssembly'}, equal to Pillow`, async () => {
      const fast = await decodeJpegWasm(readFileSync(join(dir, f)));
      if (f === 'jpeg-4x2.jpg') expect(fast).toBeUndefined();
      else {
        expect(fast, 'the WebAssembly decoder refused it').toBeDefined();
        expect(fast!.data, 'a Uint8Array of this realm (checked by preprocessImages for raw sources)').toBeInstanceOf(
          Uint8Array,
        );
        expect([fast!.width, fast!.height, fast!.channels]).toEqual([
          pillow[f]!.width,
          pillow[f]!.height,
          pillow[f]!.pillowMode === 'L' ? 1 : 3,
        ]);
        expect(asRgb(fast!)).toEqual(pillow[f]!.rgb);
      }
      await expectPillow(f);
    });
  }
  it('a truncated or corrupt JPEG is an error naming the file, and the decoder keeps working after it', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'vlfer-jpeg-'));
    const whole = readFileSync(join(dir, 'jpeg-420.jpg'));
    const truncated = join(tmp, 'truncated.jpg');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const corrupt = join(tmp, 'corrupt.jpg');
    writeFileSync(corrupt, Buffer.concat([whole.subarray(0, 20), Buffer.alloc(200, 0xff), whole.subarray(220)]));
    expect(await decodeJpegWasm(readFileSync(truncated))).toBeUndefined();
    for (const bad of [truncated, corrupt]) await expectDecodeError(bad);
    expect(asRgb((await decodeJpegWasm(whole))!)).toEqual(pillow['jpeg-420.jpg']!.rgb);
  });
  it('a failed decode replaces the WebAssembly instance (each failure strands stack; about 4,000 made it refuse or corrupt good files)', async () => {
    const whole = readFileSync(join(dir, 'jpeg-420.jpg'));
    const cut = whole.subarray(0, 400);
    await decodeJpegWasm(whole);
    const before = jpegDecoderInstances();
    for (let i = 0; i < 200; i++) {
      expect(await decodeJpegWasm(cut)).toBeUndefined();
      const good = await decodeJpegWasm(whole);
      expect(good, `refused after ${i + 1} failures`).toBeDefined();
      expect(asRgb(good!), `after ${i + 1} failures`).toEqual(pillow['jpeg-420.jpg']!.rgb);
    }
    expect(jpegDecoderInstances() - before).toBe(200);
    // calls in flight together when one fails: the others still decode, on a live instance
    const mixed = await Promise.all(Array.from({ length: 40 }, (_, i) => decodeJpegWasm(i % 3 === 0 ? cut : whole)));
    mixed.forEach((r, i) =>
      i % 3 === 0 ? expect(r).toBeUndefined() : expect(asRgb(r!)).toEqual(pillow['jpeg-420.jpg']!.rgb),
    );
  });
});

describe("8-bit PNG decoded in JavaScript gives Pillow's bytes", () => {
  const variants = Object.keys(pillow).filter((f) => f.startsWith('png-'));
  const viaLibvips = new Set(['png-1bit.png', 'png-palette-4bit.png', 'png-grey16-trns.png']);
  it('covers every colour type, tRNS, Adam7, a short palette and the low and high bit depths', () =>
    expect(variants.length).toBe(13));
  for (const f of variants) {
    it(`${f} (Pillow mode ${pillow[f]!.pillowMode}): ${viaLibvips.has(f) ? 'not 8 bits, decoded by libvips' : 'decoded in JavaScript'}, equal to Pillow`, async () => {
      const fast = decodePngJs(readFileSync(join(dir, f)));
      if (viaLibvips.has(f)) expect(fast).toBeUndefined();
      else {
        expect(fast, 'the JavaScript decoder refused it').toBeDefined();
        expect(fast!.data).toBeInstanceOf(Uint8Array);
        expect(fast!.channels).toBe(['L', 'LA'].includes(pillow[f]!.pillowMode) ? 1 : 3);
        expect(asRgb(fast!)).toEqual(pillow[f]!.rgb);
      }
      await expectPillow(f);
    });
  }
  it('a grey PNG too large for JavaScript (libvips) stays one channel, mode L, as the small ones do', async () => {
    // libvips' raw output of a grey PNG was sRGB: three equal bands, and decodePillowImage said mode 'RGB'
    const grey = Uint8Array.from({ length: 400 * 400 }, (_, i) => (i * 7 + (i >> 9)) % 256); // 160,000 > 2^17 pixels
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-png-')), 'grey-400.png');
    const png = await sharp(grey, { raw: { width: 400, height: 400, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect(png[25], 'PNG colour type: grey').toBe(0);
    writeFileSync(file, png);
    const d = await decodeImage(file);
    expect([d.width, d.height, d.channels]).toEqual([400, 400, 1]);
    expect(Buffer.from(d.data).equals(Buffer.from(grey))).toBe(true);
    expect((await decodePillowImage(file)).mode).toBe('L');
  });
  it('a PNG with a damaged chunk (CRC mismatch) or cut short is an error naming the file', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'vlfer-png-'));
    const whole = readFileSync(join(dir, 'png-rgb.png'));
    const idat = whole.indexOf('IDAT');
    const damaged = Buffer.from(whole);
    damaged[idat + 10] = damaged[idat + 10]! ^ 0x55;
    const files = { 'crc.png': damaged, 'cut.png': whole.subarray(0, idat + 20) };
    for (const [name, bytes] of Object.entries(files)) {
      const file = join(tmp, name);
      writeFileSync(file, bytes);
      expect(decodePngJs(bytes), name).toBeUndefined();
      await expectDecodeError(file);
      // decodePillowImage hands the bytes on: it named them '<encoded image buffer>'
      const viaPillow = await decodePillowImage(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(viaPillow, name).toBeInstanceOf(DataFormatError);
      expect(String((viaPillow as Error).message)).toContain(file);
    }
  });
});

describe('what Pillow refuses, and what is not a file', () => {
  it("an image over Pillow's decompression-bomb limit (2 · MAX_IMAGE_PIXELS) is an error naming the file, found from the header", async () => {
    const whole = Buffer.from(readFileSync(join(dir, 'jpeg-420.jpg')));
    const sof = whole.indexOf(Buffer.from([0xff, 0xc0]));
    whole.writeUInt16BE(16000, sof + 5);
    whole.writeUInt16BE(16000, sof + 7);
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-bomb-')), 'bomb.jpg');
    writeFileSync(file, whole);
    expect(await expectDecodeError(file)).toMatch(/bomb\.jpg.*pixel limit/);
  });
  it('a directory or a device is refused before reading (/dev/zero would be read forever)', async () => {
    for (const path of [dir, ...(process.platform === 'win32' ? [] : ['/dev/zero'])]) {
      expect(await expectDecodeError(path)).toContain(`${path}: cannot decode image (not a regular file)`);
    }
  });
});

describe('decodeImageNow: decodeImage without waiting where no asynchronous decoder is needed', () => {
  it("gives decodeImage's (Pillow's) bytes at once, or a promise of them for what needs an asynchronous decoder", async () => {
    expect(nativeJpeg().available, `nativeJpeg(): ${nativeJpeg().reason}`).toBe(true);
    const now: string[] = [];
    for (const f of opened) {
      const r = decodeImageNow(join(dir, f));
      if (!(r instanceof Promise)) now.push(f);
      const d = await r;
      expect([d.width, d.height], f).toEqual([pillow[f]!.width, pillow[f]!.height]);
      expect(asRgb(d), f).toEqual(pillow[f]!.rgb);
    }
    // plain 8-bit JPEGs (native libjpeg-turbo) and small 8-bit PNGs (JavaScript) come back at once
    for (const f of [
      'jpeg-420.jpg',
      'jpeg-grey.jpg',
      'jpeg-420-progressive.jpg',
      'p3.jpg',
      'png-rgb.png',
      'png-palette-trns.png',
    ])
      expect(now, f).toContain(f);
    // CMYK (Pillow's formula), 16-bit PNGs (Pillow's reductions) and what TurboJPEG refuses wait for libvips
    for (const f of ['cmyk.jpg', 'grey16.png', 'rgb16.png', 'rgba16.png', 'png-grey16-trns.png', 'jpeg-4x2.jpg'])
      expect(now, f).not.toContain(f);
    // the asynchronous JPEG decoders are never replaced by the native one
    for (const jpegDecoder of ['wasm', 'libvips'] as const) {
      const r = decodeImageNow(join(dir, 'jpeg-420.jpg'), { jpegDecoder });
      expect(r, jpegDecoder).toBeInstanceOf(Promise);
      expect(asRgb(await r), jpegDecoder).toEqual(pillow['jpeg-420.jpg']!.rgb);
    }
    const rgb = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
    expect(decodeImageNow({ rgb, width: 2, height: 2 })).toEqual({ data: rgb, width: 2, height: 2, channels: 3 });
  });
  it("decodePillowImageNow: decodePillowImage's image, at once for raw pixels and plain JPEGs, a promise otherwise", async () => {
    const now: string[] = [];
    // (gif-grey-local.gif is refused in Pillow's modes: tested above)
    for (const f of opened.filter((g) => g !== 'gif-grey-local.gif')) {
      const r = decodePillowImageNow(join(dir, f));
      if (!(r instanceof Promise)) now.push(f);
      expect(await r, f).toEqual(await decodePillowImage(join(dir, f)));
    }
    for (const f of ['jpeg-420.jpg', 'jpeg-grey.jpg', 'p3.jpg']) expect(now, f).toContain(f);
    for (const f of ['cmyk.jpg', 'jpeg-4x2.jpg', 'png-rgb.png', 'png-palette.png']) expect(now, f).not.toContain(f);
    expect((decodePillowImageNow(join(dir, 'jpeg-grey.jpg')) as { mode: string }).mode).toBe('L');
    const rgb = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
    expect(decodePillowImageNow({ rgb, width: 2, height: 2 })).toEqual({ mode: 'RGB', width: 2, height: 2, data: rgb });
    expect(() => decodePillowImageNow(join(dir, 'no-such-file.jpg'))).toThrow(DataFormatError);
  });
  it("drafts as decodeImage does (Pillow's drafted bytes through the native decoder)", async () => {
    const draft = { width: 224, height: 224 };
    const jpeg = await photoLikeJpeg(1920, 1080);
    const a = decodeImageNow(jpeg, { draft });
    expect(a).not.toBeInstanceOf(Promise);
    const b = await decodeImage(jpeg, { draft });
    expect([b.width, b.height, b.channels]).toEqual([480, 270, 3]);
    expect(Buffer.from((a as { data: Uint8Array }).data).equals(Buffer.from(b.data))).toBe(true);
  });
  it('an unreadable file, a bad source or a bad option is thrown at once naming it; undecodable data rejects naming the file', async () => {
    const missing = join(dir, 'no-such-file.jpg');
    expect(() => decodeImageNow(missing)).toThrow(DataFormatError);
    expect(() => decodeImageNow(missing)).toThrow(missing);
    expect(() => decodeImageNow(dir)).toThrow(`${dir}: cannot decode image (not a regular file)`);
    expect(() => decodeImageNow({ rgb: new Uint8Array(5), width: 2, height: 2 })).toThrow(/source\.rgb.*length 5/);
    expect(() => decodeImageNow(42 as never)).toThrow(/source.*expected a path.*got number/);
    await expect(decodeImage(null as never)).rejects.toThrow(/source.*expected a path.*got null/);
    expect(() => decodeImageNow(join(dir, 'jpeg-420.jpg'), { draft: { width: 0, height: 1 } })).toThrow(
      /options\.draft/,
    );
    const cut = join(mkdtempSync(join(tmpdir(), 'vlfer-cut-')), 'cut.jpg');
    writeFileSync(cut, readFileSync(join(dir, 'jpeg-420.jpg')).subarray(0, 300));
    const r = decodeImageNow(cut);
    expect(r).toBeInstanceOf(Promise);
    await expect(r).rejects.toThrow(DataFormatError);
    await expect(decodeImageNow(cut)).rejects.toThrow(cut);
  });
});

describe('uncompressed BMPs as Pillow 9.4 opens them (libvips reads none)', () => {
  const bmps = opened.filter((f) => f.endsWith('.bmp'));
  it('has the BMPs of make_bmp_variants.py, in the modes Pillow gives them', () => {
    expect(Object.fromEntries(bmps.map((f) => [f, pillow[f]!.pillowMode]))).toEqual({
      'bmp-1.bmp': '1',
      'bmp-24-no-last-padding.bmp': 'RGB',
      'bmp-24-offset-zero.bmp': 'RGB',
      'bmp-24-top-down.bmp': 'RGB',
      'bmp-24.bmp': 'RGB',
      'bmp-32.bmp': 'RGB',
      'bmp-4-palette.bmp': 'P',
      'bmp-8-grey.bmp': 'L',
      'bmp-8-index-past-palette.bmp': 'P',
      'bmp-8-offset-at-palette.bmp': 'P',
      'bmp-8-palette.bmp': 'P',
      'bmp-8-short-palette.bmp': 'P',
    });
  });
  for (const f of bmps) {
    it(`${f} gives Pillow's RGB bytes, and opens in Pillow's mode`, async () => {
      await expectPillow(f);
      const now = decodeImageNow(join(dir, f));
      expect(now).not.toBeInstanceOf(Promise); // decoded at once, without libvips
      expect((await decodePillowImage(join(dir, f))).mode).toBe(pillow[f]!.pillowMode);
    });
  }
  it('an RLE or 16-bit BMP is refused, naming what it is (Pillow reads them; convert to PNG)', async () => {
    expect(await expectDecodeError(join(dir, 'bmp-rle8.bmp'))).toMatch(
      /an 8-bit BMP with compression 1 \(RLE8\) is not read; only uncompressed 1-, 4-, 8-, 24- and 32-bit BMPs are: convert it to PNG/,
    );
    expect(await expectDecodeError(join(dir, 'bmp-16.bmp'))).toMatch(
      /a 16-bit BMP with compression 0 \(none\) is not read/,
    );
    // header sizes Pillow does not read, a palette over 256 colours, a height past Pillow's bomb limit: refused as
    // Pillow refuses them (they were decoded)
    const bytes = readFileSync(join(dir, 'bmp-8-palette.bmp'));
    const edited = (at: number, value: number) => {
      const b = Buffer.from(bytes);
      b.writeUInt32LE(value, at);
      return b;
    };
    await expect(decodeImage(edited(14, 52))).rejects.toThrow(/a BMP with a 52-byte info header is not read/);
    await expect(decodeImage(edited(46, 257))).rejects.toThrow(/a BMP palette of 257 colours is not read/);
    // a height whose top byte is not 0xFF is unsigned, as Pillow reads it: −16,777,217 is 4,278,190,079 rows
    await expect(decodeImage(edited(22, 2 ** 32 - 16_777_217))).rejects.toThrow(
      /over Pillow's decompression-bomb limit/,
    );
  });
});
