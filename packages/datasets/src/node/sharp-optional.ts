/**
 * @file sharp, loaded only where it is used: an optional peer dependency of @vlfer/datasets. Kept in a module that
 * no exported type reaches, so the package's published types check without sharp installed.
 */
import { VlferError } from '@vlfer/core';
import type sharpFunction from 'sharp';

/**
 * sharp, which only `verify: 'decode'` needs: an optional peer dependency of @vlfer/datasets (about 20 MB), so that
 * label sets, parsers and loaders install without it. Throws a `VlferError` naming the package to add when it is
 * absent; any other failure to load it is rethrown.
 * @param importSharp how sharp is loaded (a test passes one that fails)
 */
export async function loadSharp(
  importSharp: () => Promise<{ default: typeof sharpFunction }> = () => import('sharp'),
): Promise<typeof sharpFunction> {
  try {
    return (await importSharp()).default;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      /['"]sharp['"]/.test(String((error as Error).message));
    if (!missing) throw error;
    throw new VlferError(
      "verify: 'decode' decodes every image with sharp, which is not installed: add the package sharp " +
        "(npm install sharp), or check images with verify: 'header'",
      { cause: error },
    );
  }
}
