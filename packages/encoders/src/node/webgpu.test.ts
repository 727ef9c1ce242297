import { tensor2d } from '@vlfer/core';
import { loadReferences, maxAbsDiff, maxRelErr, referencePixels, sharedPath } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { ClipGradientModel } from './clip-gradients.js';
import { textVjpParity, visionVjpParity } from './clip-gradients.reference.js';
import { loadClip, probeWebGpu } from './index.js';

// GPU tests run only where a WebGPU adapter exists; elsewhere (CI, this 2-core machine) they are reported as
// skipped and the probe's reason is printed, while the error path is tested instead.
const probe = await probeWebGpu();
if (!probe.available) console.warn(`WebGPU tests did not run: ${probe.reason}`);

describe('WebGPU backend', () => {
  it.runIf(!probe.available)('without an adapter, device webgpu fails with a clear reason', async () => {
    expect(probe.available).toBe(false);
    await expect(loadClip({ model: sharedPath('fixtures', 'tiny-clip'), device: 'webgpu' })).rejects.toThrow(
      /device 'webgpu' was requested but no WebGPU adapter is available \(.+\)\. It needs a GPU with a Vulkan driver/,
    );
    // the gradient model too (hesp train --device webgpu): it loaded, and its first run failed inside ONNX Runtime
    await expect(ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), { device: 'webgpu' })).rejects.toThrow(
      /^ClipGradientModel\.load\(.*tiny-clip\): device 'webgpu' was requested but no WebGPU adapter is available/,
    );
  });
  it.runIf(probe.available)('tiny-clip image_embeds on WebGPU match PyTorch within 1e-4', async () => {
    const ref = loadReferences();
    const clip = await loadClip({ model: sharedPath('fixtures', 'tiny-clip'), device: 'webgpu' });
    const e = await clip.encodePixels(referencePixels());
    expect(maxAbsDiff(e.data, ref.vision.image_embeds.flat())).toBeLessThan(1e-4);
    const t = await clip.encodeTexts(ref.text.prompts);
    expect(maxAbsDiff(t.data, ref.text.text_embeds.flat())).toBeLessThan(1e-4);
    await clip.dispose();
  });
  it.runIf(probe.available)(
    "the 'graphs' runtime on WebGPU: VJP graphs match PyTorch autograd within 1e-4 relative, forward graphs the VJP embeddings",
    async () => {
      const m = await ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), { device: 'webgpu' });
      const v = await visionVjpParity(m);
      const t = await textVjpParity(m);
      console.log(`[webgpu] vision rel err embeds ${v.embeds.toExponential(2)} grad ${v.grad.toExponential(2)}`);
      console.log(`[webgpu] text rel err embeds ${t.embeds.toExponential(2)} grad ${t.grad.toExponential(2)}`);
      for (const e of [v.embeds, v.grad, t.embeds, t.grad]) expect(e).toBeLessThan(1e-4);
      // the residuals stay on the GPU: used once by a backward, or let go without one (also by release)
      const px = referencePixels();
      const fwd = await m.visionForwardResiduals(px);
      expect(new Set(Object.values(fwd.residuals.tensors).map((r) => r.location))).toEqual(new Set(['gpu-buffer']));
      const cot = tensor2d(loadReferences().vision.cotangent_v);
      const grad = await m.visionBackward(fwd.residuals, cot);
      expect(grad.data.every(Number.isFinite)).toBe(true);
      await expect(m.visionBackward(fwd.residuals, cot)).rejects.toThrow(/already used/);
      m.disposeResiduals((await m.visionForwardResiduals(px)).residuals);
      await m.visionForwardResiduals(px); // held until release
      expect(m.residualsHeld).toBe(1);
      // a GPU device keeps the standard forward ops (the fused com.microsoft ones are CPU-only here)
      const f = await ClipGradientModel.load(sharedPath('fixtures', 'tiny-clip'), {
        device: 'webgpu',
        gradients: false,
      });
      expect(f.forwardGraphs).toEqual({ vision: 'vlfer-clip-graphs-2/standard', text: 'vlfer-clip-graphs-2/standard' });
      const ref = loadReferences();
      expect(maxRelErr((await f.visionForwardEmbeds(px)).data, ref.vision.image_embeds.flat())).toBeLessThan(1e-4);
      await Promise.all([m.release(), f.release()]);
      expect(m.residualsHeld).toBe(0);
    },
  );
});
