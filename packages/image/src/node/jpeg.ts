import { readFileSync } from 'node:fs';
import type { DecodedImage } from '../pillow.js';
import { wasmApi, type WasmApi } from '@vlfer/core';
import { packageRequire, packageResolve } from './require.js';

/**
 * libjpeg-turbo compiled to WebAssembly (`@cornerstonejs/codec-libjpeg-turbo-8bit`, its decode-only build): the
 * decoder Pillow links, called in-process and synchronously. A 48×48 FER2013 JPEG decodes in about 0.05 ms here,
 * against about 1 ms through sharp, whose per-call pipeline set-up costs far more than the decode itself. TurboJPEG
 * defaults are Pillow's: the accurate integer IDCT, fancy (smooth) chroma upsampling, no colour profile, no EXIF
 * rotation; grey frames are decoded as grey (TJPF_GRAY), 3-component frames as RGB.
 */
interface WasmJpegDecoder {
  getEncodedBuffer(size: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; componentCount: number; bitsPerSample: number };
}

type Factory = (options: {
  instantiateWasm: (
    imports: Record<string, Record<string, unknown>>,
    receive: (instance: unknown, module: unknown) => unknown,
  ) => unknown;
}) => Promise<{ JPEGDecoder: new () => WasmJpegDecoder }>;

/** The compiled module (compiled once per thread, about 20 ms); instances are cheap. */
let compiled: { factory: Factory; module: object; api: WasmApi } | undefined;
let current: WasmJpegDecoder | undefined;
let loading: Promise<WasmJpegDecoder> | undefined;
let instances = 0;

/** How many decoder instances this thread has made (one, plus one after each failed decode); for tests. */
export function jpegDecoderInstances(): number {
  return instances;
}

/**
 * The decoder instance of this thread. A failed decode discards it (see `decodeJpegWasm`), so the next call gets a
 * fresh instance of the compiled module.
 */
function jpegDecoder(): Promise<WasmJpegDecoder> {
  if (current) return Promise.resolve(current);
  loading ??= (async () => {
    try {
      if (!compiled) {
        const wasm = readFileSync(packageResolve('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm'));
        const api = wasmApi();
        if (!api) throw new Error('this runtime has no WebAssembly');
        compiled = {
          factory: packageRequire('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs') as Factory,
          module: new api.Module(wasm),
          api,
        };
      }
      const { factory, module, api } = compiled;
      const m = await factory({
        instantiateWasm: (imports, receive) => receive(new api.Instance(module, imports), module),
      });
      current = new m.JPEGDecoder();
      instances++;
      return current;
    } finally {
      loading = undefined;
    }
  })();
  return loading;
}

/**
 * Decode an 8-bit JPEG with 1 or 3 components (the caller has checked the frame header) to grey or RGB pixels.
 * Returns `undefined` when libjpeg-turbo reports an error or a warning (corrupt or truncated data, a sampling
 * factor TurboJPEG does not take) or the runtime has no WebAssembly: the caller then decodes with libvips, whose
 * error names the problem.
 * The instance that failed is dropped: the decoder reports failure by throwing a C++ exception through the
 * WebAssembly frames, which leaves its stack pointer and exception object behind, and thousands of such failures
 * would run the stack into the heap.
 */
export async function decodeJpegWasm(bytes: Uint8Array): Promise<DecodedImage | undefined> {
  // no WebAssembly (node --jitless): libvips decodes
  if (!wasmApi()) return undefined;
  let d = await jpegDecoder();
  // a failure in a call that resumed first may have dropped this instance
  while (d !== current) d = await jpegDecoder();
  try {
    d.getEncodedBuffer(bytes.length).set(bytes);
    d.decode();
    const info = d.getFrameInfo();
    const channels = info.componentCount;
    const pixels = d.getDecodedBuffer();
    if ((channels !== 1 && channels !== 3) || pixels.length !== info.width * info.height * channels) return undefined;
    // the view is into WebAssembly memory, overwritten by the next decode: copy it out, into this realm's
    // Uint8Array (the Emscripten glue is loaded through require and may live in another realm, where `slice()`
    // would make an array that fails `instanceof Uint8Array` here, as under vitest)
    const data = new Uint8Array(pixels.length);
    data.set(pixels);
    return { data, width: info.width, height: info.height, channels };
  } catch {
    // the decoder throws a bare C++ exception pointer, with no message; libvips gives the message instead
    current = undefined;
    return undefined;
  }
}
