/**
 * @file The PyTorch-autograd parity checks of the CLIP VJP graphs on tiny-clip (`shared/fixtures/references`), shared by
 * the CPU tests (clip-gradients.test.ts) and the WebGPU tests (webgpu.test.ts). Test-only: excluded from the build.
 */
import { tensor2d } from '@vlfer/core';
import { loadReferences, maxRelErr, referenceF32, referencePixels } from '@vlfer/test-utils';
import type { ClipGradientModel } from './clip-gradients.js';

/** Relative errors (max|Δ| ÷ max|ref|) of one model's VJP outputs against PyTorch. */
export interface VjpParity {
  embeds: number;
  grad: number;
}

/** Vision VJP on the two reference images: `image_embeds` [2, 16] and ∂ sum(image_embeds·v)/∂ pixel_values [2, 3, 224, 224]. */
export async function visionVjpParity(m: ClipGradientModel): Promise<VjpParity> {
  const ref = loadReferences();
  const r = await m.visionVjp(referencePixels(), tensor2d(ref.vision.cotangent_v));
  return {
    embeds: maxRelErr(r.imageEmbeds.data, ref.vision.image_embeds.flat()),
    grad: maxRelErr(r.gradPixels.data, referenceF32('grad_pixel_values.f32')),
  };
}

/**
 * CoOp text VJP: three prompts [3, 77] with the reference context vectors at positions 1..4; `text_embeds` and the
 * gradient of sum(text_embeds·u) w.r.t. the shared context [4, 32] (summed over the prompts).
 */
export async function textVjpParity(m: ClipGradientModel): Promise<VjpParity> {
  const ref = loadReferences();
  const c = ref.text.coop;
  const ids: number[] = ref.text.input_ids.flat();
  const emb = m.tokenEmbeddings(ids, [3, 77]);
  const ctx: number[] = c.context.flat();
  for (let b = 0; b < 3; b++)
    for (let p = 0; p < 4; p++) emb.data.set(ctx.slice(p * 32, (p + 1) * 32), (b * 77 + 1 + p) * 32);
  const eot = ref.text.input_ids.map((row: number[]) => row.indexOf(49407));
  const r = await m.textVjp(emb, eot, tensor2d(c.cotangent_u));
  const grad = new Float32Array(4 * 32);
  for (let b = 0; b < 3; b++)
    for (let p = 0; p < 4; p++)
      for (let k = 0; k < 32; k++) grad[p * 32 + k]! += r.gradInputsEmbeds.data[(b * 77 + 1 + p) * 32 + k]!;
  return { embeds: maxRelErr(r.textEmbeds.data, c.text_embeds.flat()), grad: maxRelErr(grad, c.grad_context.flat()) };
}
