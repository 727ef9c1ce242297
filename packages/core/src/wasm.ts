/**
 * The global WebAssembly API, typed here because the runtime-neutral build has neither DOM nor Node types;
 * `undefined` where the runtime has none.
 */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { exports: unknown };
}

export function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

/**
 * Compiles a WebAssembly module shipped as base64 (the packages' `*-wasm.ts` files, generated from their `.wat`).
 * @returns the module and the API to instantiate it with, or undefined where the runtime has no WebAssembly, no
 * `atob`, or does not validate the module (WebAssembly SIMD missing in older browsers): the caller's JavaScript path
 * then runs.
 */
export function compileWasmBase64(base64: string): { api: WasmApi; module: object } | undefined {
  const api = wasmApi();
  if (!api || typeof atob !== 'function') return undefined;
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return api.validate(bytes) ? { api, module: new api.Module(bytes) } : undefined;
}
