import { VlferError } from '@vlfer/core';
import { describe, expect, it } from 'vitest';
import { loadSharp } from './sharp-optional.js';

// sharp is an optional peer dependency of @vlfer/datasets (only verify: 'decode' needs it): without it, the error
// names the package to add and the option that avoids it
const notFound = () =>
  Object.assign(new Error("Cannot find package 'sharp' imported from /x/dist/node/index.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });

describe('sharp is optional for @vlfer/datasets', () => {
  it("without sharp, verify: 'decode' fails with the package to add", async () => {
    const error = await loadSharp(() => Promise.reject(notFound())).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VlferError);
    expect((error as Error).message).toBe(
      "verify: 'decode' decodes every image with sharp, which is not installed: add the package sharp " +
        "(npm install sharp), or check images with verify: 'header'",
    );
  });
  it('another failure to load sharp (its native binary missing) is rethrown as it is', async () => {
    const broken = Object.assign(new Error("Could not load the 'sharp' module using the linux-x64 runtime"), {
      code: 'ERR_DLOPEN_FAILED',
    });
    await expect(loadSharp(() => Promise.reject(broken))).rejects.toBe(broken);
  });
  it('with sharp installed, it loads', async () => {
    expect(typeof (await loadSharp())).toBe('function');
  });
});

describe("verify: 'decode' of a BMP", () => {
  it('checks its header only (libvips reads no BMP; @vlfer/image decodes it), and still refuses a file that is none', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { verifyImage } = await import('./image-check.js');
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-bmp-verify-'));
    const bmp = join(dir, 'a.bmp');
    writeFileSync(bmp, Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]));
    await expect(verifyImage(bmp, 'decode')).resolves.toBeUndefined();
    writeFileSync(join(dir, 'b.bmp'), 'not an image');
    await expect(verifyImage(join(dir, 'b.bmp'), 'decode')).rejects.toThrow(/unreadable image: no JPEG\/PNG\/BMP/);
  });
});
