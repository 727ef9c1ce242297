import { env } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

/** Versions of the model runtime stack, recorded next to results. */
export function runtimeVersions(): {
  transformers: string;
  onnxruntimeNode: string | null;
  sharp: string | null;
  libvips: string | null;
} {
  const s = sharp.versions as Record<string, string | undefined>;
  return {
    transformers: env.version,
    onnxruntimeNode: ort.env.versions?.node ?? null,
    sharp: s.sharp ?? null,
    libvips: s.vips ?? null,
  };
}
