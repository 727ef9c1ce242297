import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from '@vlfer/core';
import { PILLOW_MAX_PIXELS, type DecodedImage } from '../pillow.js';
import { packageRequire, packageResolve } from './require.js';

/**
 * libjpeg-turbo called natively (its TurboJPEG API, through the `koffi` FFI): the library Pillow links, with its
 * SIMD code, called synchronously in this thread with no per-call pipeline. It is called with Pillow's settings —
 * the accurate integer IDCT (the `TJFLAG_ACCURATEDCT` flag passed here), fancy (smooth) chroma upsampling
 * (TurboJPEG's default), no colour profile, no EXIF rotation — and its scaling factors 1/2, 1/4, 1/8 are libjpeg's
 * DCT scaling, which is what Pillow's `Image.draft` sets (`scale_denom`), so a drafted decode gives Pillow's
 * drafted pixels.
 *
 * Where the shared library comes from: when `VLFER_TURBOJPEG` is set, that file and nothing else (a wrong path
 * turns the native decoder off, with the reason); otherwise, first found wins, the `libturbojpeg.so.0` that the
 * optional dependency `@julusian/jpeg-turbo` ships for Linux (glibc x64, arm64, arm; musl x64), then the system's
 * `libturbojpeg.so.0` / `libturbojpeg.0.dylib` / `turbojpeg.dll`. Before first use the library decodes a small
 * 4:2:0 JPEG (`SELF_TEST_JPEG`, 36×20, odd MCUs) at full size and drafted by 2, and must give Pillow 9.4's bytes
 * for both (their SHA-256 are `SELF_TEST_SHA256`); a library that does not (another IDCT, another upsampling or
 * scaling) is not used. When no library passes, `nativeJpeg()` says why and the callers fall back to WebAssembly or
 * libvips.
 */
export interface NativeJpegStatus {
  /** whether `decodeJpegNative` can run in this thread */
  available: boolean;
  /** the shared library in use, or the last one tried */
  library?: string;
  /** why it is not available (each candidate tried, with its error) */
  reason?: string;
}

// TurboJPEG 2 API constants (turbojpeg.h; the same values in libjpeg-turbo 2.x and 3.x)
const TJPF_RGB = 0;
const TJPF_GRAY = 6;
const TJCS_YCBCR = 1;
const TJCS_GRAY = 2;
const TJCS_RGB = 0;
const TJFLAG_ACCURATEDCT = 4096;
/** stop at a warning (corrupt or truncated data): such a JPEG is left to libvips, whose error names the problem */
const TJFLAG_STOPONWARNING = 8192;

/**
 * A 36×20 4:2:0 JPEG (Pillow 9.4, quality 85, random colours) and the SHA-256 of Pillow's `convert('RGB')` bytes, at
 * full size and after `draft('RGB', (18, 10))` (scale 2: 18×10).
 */
export const SELF_TEST_JPEG =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAUDBAQEAwUEBAQFBQUGBwwIBwcHBw8LCwkMEQ8SEhEPERETFhwXExQaFRERGCEYGh0dHx8fExciJCIeJBweHx7/2wBDAQUFBQcGBw4ICA4eFBEUHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh7/wAARCAAUACQDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDxlPD7TFPJjJXOQ5jGzjrkn6nv3ORXT6d4YYrHE9tI4QHOQMqo7ZAznt69e1dppfh5THG0iGJljAGRyQdx4b6YAzwD2x16LSdAZ2iaa2PzNuBTgMOPlB9MnPXoM+1d+HxDS5UzxMn4l5UkmcPpGhQg+bKwccYZVxjKnBx3HTGO6jrW9D4f3xyI1kH83PL5CPk4ww5wpBAx09j0rvLDQY9+dpZQh2pgk8rgqOfmGfp2781LdaVZiINegTr5eZIjgBDsL5bcw54wMEYbnA/h9CrnVDCOLqz5b6a6fPdPpey83smz9Ny7iSfsG1ult028k9O+j9GfOupeGV0l4bYfZElMKPLE+oQRmJiPu/ORngBsgY+bGSQSSvW18F6lfySXFrdX6gMEZLR4wkZVQFUnMe4hQuTtHp2orwsR4tV8NVlSU4uz7JfenFtPvfU+BlhIVm506FXle1nFq3/gX39noXtfvJtL1q3gtmBiuFKsj8hSLu1iJHuVuXznIyi4x82674L8TXOp6iEnsbFQviO505SivkRxQtIrZLH5i3U9D0x0ooruy+nD6s3b7N/nbc/M8pjH6spW15f0R11hf3E3iGDT8okKauLN9qgmWI6c82GzkffPbHAA6ZyvifW7zTVktLNYUUS6QGdlLM4udQaGUEknPyQqB3GW9eCivis0X/CnSp/ZlFXXR+/bVddNNemh+uZVCKVKy3ivzOc8N69cw299bw21pGlvqt9bLtjOWWK6liQsSeW2Ioz7UUUV+XYipJ1ptvq/zPn4YuvRXs6U3GK0STaSS6JLZH//2Q==';
export const SELF_TEST_SHA256 = {
  1: 'eae0bddc1f994ecb35db5dac6f851bd4b4346bf5391025f34ed55898cae53894',
  2: 'f7b9e8234285599191b103fcb2288f158c9543df67ea9a5e8aec17574ae56e57',
} as const;

interface Api {
  handle: unknown;
  init: () => unknown;
  destroy: (h: unknown) => number;
  header: (h: unknown, buf: Uint8Array, size: number, w: number[], hh: number[], sub: number[], cs: number[]) => number;
  decompress: (
    h: unknown,
    buf: Uint8Array,
    size: number,
    dst: Uint8Array,
    w: number,
    pitch: number,
    hh: number,
    pf: number,
    flags: number,
  ) => number;
}

let api: Api | undefined;
let status: NativeJpegStatus | undefined;

/** The libraries to try, in order (see `NativeJpegStatus`). */
function candidates(): string[] {
  const out: string[] = [];
  const env = process.env.VLFER_TURBOJPEG;
  if (env) return [env]; // named explicitly: that one or none
  if (process.platform === 'linux') {
    try {
      const root = dirname(packageResolve('@julusian/jpeg-turbo/package.json'));
      const arch = process.arch;
      for (const d of [`jpeg-turbo-linux-${arch}`, `jpeg-turbo-linux-${arch}-musl`]) {
        const f = join(root, 'prebuilds', d, 'libturbojpeg.so.0');
        if (existsSync(f)) out.push(f);
      }
    } catch {
      // the optional dependency is not installed: the system's library, if any
    }
    out.push('libturbojpeg.so.0');
  } else if (process.platform === 'darwin') out.push('libturbojpeg.0.dylib', '/opt/homebrew/lib/libturbojpeg.0.dylib');
  else if (process.platform === 'win32') out.push('turbojpeg.dll');
  return out;
}

/** Load one library and bind the TurboJPEG functions used here; throws what koffi throws. */
function bind(file: string): Api {
  const koffi = packageRequire('koffi') as {
    load(path: string): { func(signature: string): (...args: any[]) => any };
  };
  const lib = koffi.load(file);
  const init = lib.func('void *tjInitDecompress()');
  const header = lib.func(
    'int tjDecompressHeader3(void *h, const uint8_t *buf, unsigned long size, _Out_ int *w, _Out_ int *hh, _Out_ int *sub, _Out_ int *cs)',
  );
  const decompress = lib.func(
    'int tjDecompress2(void *h, const uint8_t *buf, unsigned long size, _Out_ uint8_t *dst, int w, int pitch, int hh, int pf, int flags)',
  );
  const destroy = lib.func('int tjDestroy(void *h)');
  const handle = init();
  if (!handle) throw new Error('tjInitDecompress returned NULL');
  return { handle, init, destroy, header, decompress };
}

/**
 * Whether libjpeg-turbo can be called natively in this thread, which library, or why not. The first call loads
 * and self-tests the library (about 10 ms); later calls return the same answer.
 */
export function nativeJpeg(): NativeJpegStatus {
  if (status) return status;
  const tried: string[] = [];
  let last: string | undefined;
  for (const file of candidates()) {
    last = file;
    try {
      const a = bind(file);
      const jpeg = Buffer.from(SELF_TEST_JPEG, 'base64');
      const wrong = ([1, 2] as const).find((scale) => {
        const img = decodeWith(a, jpeg, scale);
        return !img || createHash('sha256').update(img.data).digest('hex') !== SELF_TEST_SHA256[scale];
      });
      if (wrong !== undefined) {
        tried.push(
          `${file}: decodes the self-test JPEG${wrong > 1 ? ' drafted by 2' : ''} to other bytes than Pillow's`,
        );
        continue;
      }
      api = a;
      status = { available: true, library: file };
      return status;
    } catch (error) {
      tried.push(`${file}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  status = {
    available: false,
    ...(last ? { library: last } : {}),
    reason: tried.length ? tried.join('; ') : `no libturbojpeg is known for ${process.platform}`,
  };
  return status;
}

/**
 * `decode` with `a`'s handle; a handle whose header read or decompression failed is destroyed and replaced by a
 * fresh one, since libjpeg is left mid-decode (every later call on it failed: tested).
 */
function decodeWith(
  a: Api,
  bytes: Uint8Array,
  scale: 1 | 2 | 4 | 8,
  output?: (bytes: number) => Uint8Array,
): DecodedImage | undefined {
  const r = decode(a, bytes, scale, output);
  if (r === 'failed') {
    a.destroy(a.handle);
    a.handle = a.init();
    if (!a.handle) throw new Error('tjInitDecompress returned NULL');
    return undefined;
  }
  return r;
}

function decode(
  a: Api,
  bytes: Uint8Array,
  scale: 1 | 2 | 4 | 8,
  output?: (bytes: number) => Uint8Array,
): DecodedImage | undefined | 'failed' {
  const w = [0];
  const h = [0];
  const sub = [0];
  const cs = [0];
  if (a.header(a.handle, bytes, bytes.length, w, h, sub, cs) !== 0) return 'failed';
  const colourspace = cs[0]!;
  if (colourspace !== TJCS_YCBCR && colourspace !== TJCS_GRAY && colourspace !== TJCS_RGB) return undefined;
  if (w[0]! <= 0 || h[0]! <= 0 || w[0]! * h[0]! > PILLOW_MAX_PIXELS) return undefined;
  // libjpeg's scaled size, as Pillow's draft: ⌈w / scale⌉ × ⌈h / scale⌉
  const width = Math.ceil(w[0]! / scale);
  const height = Math.ceil(h[0]! / scale);
  if (scale > 1 && !uniqueScale(w[0]!, h[0]!, scale)) return undefined;
  const channels = colourspace === TJCS_GRAY ? 1 : 3;
  const n = width * height * channels;
  const data = output ? outputBuffer(output, n) : fresh(n);
  const flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING;
  const pf = channels === 1 ? TJPF_GRAY : TJPF_RGB;
  if (a.decompress(a.handle, bytes, bytes.length, data, width, 0, height, pf, flags) !== 0) return 'failed';
  return { data, width, height, channels };
}

/**
 * n bytes, uninitialised (malloc'd, reused by the allocator from decode to decode when freed in time) rather than
 * zeroed: a zeroed buffer of this size is fresh pages, and their page faults cost the decode up to about half again.
 */
function fresh(n: number): Uint8Array {
  const buf = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The first n bytes of the caller's `output(n)`. @throws InvalidArgumentError when it gives no Uint8Array of n bytes */
function outputBuffer(output: (bytes: number) => Uint8Array, n: number): Uint8Array {
  const b = output(n);
  if (!(b instanceof Uint8Array) || b.length < n)
    throw new InvalidArgumentError({
      functionName: 'decodeJpegNative',
      argument: 'output',
      message: `output(${n}) must return a Uint8Array of at least ${n} bytes, got ${b instanceof Uint8Array ? `${b.length} bytes` : typeof b}`,
    });
  return b.subarray(0, n);
}

/**
 * Whether TurboJPEG, asked for ⌈w / scale⌉ × ⌈h / scale⌉, scales by exactly 1/scale: it takes the largest of its
 * factors M/8 (M = 16 … 1) whose output fits, so for a tiny image a larger factor can give the same size (5 pixels
 * at 3/8 and at 1/4 both give 2), and its pixels would not be Pillow's draft.
 */
function uniqueScale(w: number, h: number, scale: number): boolean {
  const W = Math.ceil(w / scale);
  const H = Math.ceil(h / scale);
  for (let m = 16; m > 8 / scale; m--) if (Math.ceil((m * w) / 8) <= W && Math.ceil((m * h) / 8) <= H) return false;
  return true;
}

/**
 * Decode an 8-bit JPEG with 1 or 3 components natively (see `nativeJpeg`) to grey or RGB pixels, at full size or
 * at libjpeg's DCT scale 1/`scale` (Pillow's `draft`: ⌈w / scale⌉ × ⌈h / scale⌉).
 * @returns `undefined` when the library is not available or reports an error or a warning (corrupt or truncated
 *   data, a CMYK/YCCK frame, a size over Pillow's decompression-bomb limit), or when TurboJPEG would reach the
 *   drafted size with another factor than 1/`scale` (`uniqueScale`: 3×3 and 5×5 at a 1×1 target): the caller
 *   decodes with libvips, whose error names the problem
 * @param output where to write the pixels: called with their byte count n, it returns a Uint8Array of at least n
 *   bytes, whose first n the image's `data` then views (a buffer reused from image to image saves a fresh allocation
 *   and its page faults per decode; the caller must be done with one image before the next decode). Default: a new
 *   buffer per image
 * @throws InvalidArgumentError when `scale` is not 1, 2, 4 or 8, or `output` gives no Uint8Array of n bytes
 */
export function decodeJpegNative(
  bytes: Uint8Array,
  scale: 1 | 2 | 4 | 8 = 1,
  output?: (bytes: number) => Uint8Array,
): DecodedImage | undefined {
  if (scale !== 1 && scale !== 2 && scale !== 4 && scale !== 8)
    throw new InvalidArgumentError({
      functionName: 'decodeJpegNative',
      argument: 'scale',
      message: `expected 1, 2, 4 or 8 (libjpeg's DCT scalings that Pillow's draft uses), got ${String(scale)}`,
    });
  if (!nativeJpeg().available) return undefined;
  return decodeWith(api!, bytes, scale, output);
}
