import * as ort from 'onnxruntime-node';
import { buildModel, VlferError } from '@vlfer/core';

export type WebGpuProbe = { available: true } | { available: false; reason: string };

let cached: Promise<WebGpuProbe> | undefined;

/**
 * Whether ONNX Runtime's WebGPU execution provider (Dawn on Vulkan, bundled in onnxruntime-node for linux-x64)
 * has an adapter here: creates and runs a one-node graph on `webgpu`. Cached per process.
 * Needs a GPU with a Vulkan driver and `libvulkan.so.1` (plus glvnd for NVIDIA; `VK_DRIVER_FILES` pointing at
 * the ICD when it is not found). Software Vulkan (lavapipe) is rejected by Dawn.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  cached ??= (async (): Promise<WebGpuProbe> => {
    if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu'))
      return { available: false, reason: 'this onnxruntime-node build has no WebGPU execution provider' };
    try {
      const bytes = buildModel({
        name: 'probe',
        nodes: [{ op: 'Add', inputs: ['a', 'a'], outputs: ['b'] }],
        inputs: [{ name: 'a', type: 'float32', dims: [2] }],
        outputs: [{ name: 'b', type: 'float32', dims: [2] }],
      });
      const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'], logSeverityLevel: 4 });
      const out = await s.run({ a: new ort.Tensor('float32', Float32Array.of(1, 2), [2]) });
      await s.release();
      const v = out.b!.data as Float32Array;
      return v[0] === 2 && v[1] === 4
        ? { available: true }
        : { available: false, reason: `probe graph returned [${Array.from(v).join(', ')}]` };
    } catch (error) {
      // ORT prefixes the Dawn message with a source location and the failed check
      return { available: false, reason: (error as Error).message.split('\n')[0]!.replace(/^.*? was false\.\s*/, '') };
    }
  })();
  return cached;
}

/** Throws an error that says why WebGPU is unavailable and what it needs, for `device: 'webgpu'` requests. */
export async function assertWebGpu(what: string): Promise<void> {
  const p = await probeWebGpu();
  if (!p.available) {
    throw new VlferError(
      `${what}: device 'webgpu' was requested but no WebGPU adapter is available (${p.reason}). It needs a GPU with a Vulkan driver and libvulkan.so.1 (see docs: NVIDIA also needs the glvnd libraries and VK_DRIVER_FILES); use device 'cpu' otherwise.`,
    );
  }
}
