import { InvalidArgumentError, VlferError } from '@vlfer/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkServedModel, checkWebModelName, resolveWebDevice, webModelPath } from './index.js';

// The stages of loadWebClip that run without a browser (Node has no WebGPU adapter); the whole loader runs in
// headless Chromium in apps/web/test (integration tier).
describe('the stages of loadWebClip', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('resolveWebDevice: wasm without an adapter; webgpu asked for without one, or an unknown device, is refused', async () => {
    expect(await resolveWebDevice(undefined)).toBe('wasm');
    expect(await resolveWebDevice('wasm')).toBe('wasm');
    await expect(resolveWebDevice('webgpu')).rejects.toThrow(/'webgpu' was asked for but this browser offers no/);
    await expect(resolveWebDevice('cuda' as 'wasm')).rejects.toThrow(InvalidArgumentError);
  });

  it('checkWebModelName: served names and Hub ids pass; names that leave the model root are refused', () => {
    for (const ok of ['tiny-clip', 'Xenova/clip-vit-base-patch32', 'a/b.c_d-e']) expect(checkWebModelName(ok)).toBe(ok);
    // '//host/..' was fetched from another origin without allowRemoteModels (a protocol-relative URL)
    for (const bad of [
      '//127.0.0.2:5200/../../tiny-clip',
      '../../tmp/x',
      '/tiny-clip',
      'a/../b',
      'a\\b',
      'http://x/y',
      '',
      'a//b',
      '.hidden',
      'a b',
    ])
      expect(() => checkWebModelName(bad), bad).toThrow(
        /'model' passed to 'loadWebClip': expected a served model directory name/,
      );
    expect(() => checkWebModelName(undefined)).toThrow(/got undefined/);
  });
  it("webModelPath: a path gets its trailing slash; a URL of the page's origin becomes its path; another origin is refused", () => {
    expect(webModelPath('/models', 'http://localhost:5173')).toBe('/models/');
    expect(webModelPath('/models/', undefined)).toBe('/models/');
    expect(webModelPath('http://localhost:5173/m/x', 'http://localhost:5173')).toBe('/m/x/');
    expect(() => webModelPath('https://cdn.example/models/', 'http://localhost:5173')).toThrow(
      "must be on the page's origin (http://localhost:5173), got https://cdn.example",
    );
  });

  it('checkServedModel: a 404 names the URL and the missing directory; a failed request names the URL', async () => {
    const fetchStub = vi.fn(async (_url: string) => new Response('Not Found', { status: 404 }));
    vi.stubGlobal('fetch', fetchStub);
    await expect(checkServedModel('tiny-clip', '/models/')).rejects.toThrow(
      "Loading 'tiny-clip' failed: GET /models/tiny-clip/config.json answered 404 — no model directory 'tiny-clip' is served under /models/: Not Found",
    );
    expect(fetchStub).toHaveBeenCalledWith('/models/tiny-clip/config.json');
    vi.stubGlobal('fetch', async () => new Response('{}', { status: 200 }));
    await expect(checkServedModel('tiny-clip', '/models/')).resolves.toBeUndefined();
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(checkServedModel('m', '/models/')).rejects.toThrow(VlferError);
    await expect(checkServedModel('m', '/models/')).rejects.toThrow('GET /models/m/config.json: Failed to fetch');
  });
});
