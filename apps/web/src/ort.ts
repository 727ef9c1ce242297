import * as ort from 'onnxruntime-web/webgpu';
import type { FeatureProjection, Tensor2D } from '@vlfer/core';
import { FaceDetectorModel, type DetectorRuntime, type DetectorSettings } from '@vlfer/faces';
import { decodeProjectionHead, projectionHeadModel } from '@vlfer/projection-head/format';

// onnxruntime-web is the instance transformers.js's web build uses (same package version): its `env.wasm.wasmPaths`,
// set by loadWebClip, applies here too. Warnings (e.g. UltraFace's "initializer appears in graph inputs") stay quiet.
ort.env.logLevel = 'error';
const SESSION = { executionProviders: ['wasm'], logSeverityLevel: 3 } as const;

/** An onnxruntime-web session as the detector runtime of `@vlfer/faces`. */
async function webRuntime(model: Uint8Array): Promise<DetectorRuntime> {
  const session = await ort.InferenceSession.create(model, SESSION);
  const meta = session.inputMetadata[0];
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    inputShape: meta && meta.isTensor ? meta.shape : [],
    async run(input, dims) {
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [...dims]) });
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
    },
    release: () => session.release(),
  };
}

async function fetchBytes(url: string, what: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${what}: GET ${url} answered ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** YuNet or UltraFace from a URL, on onnxruntime-web; `fingerprint` is the file's SHA-256. */
export async function loadWebFaceDetector(url: string, settings: DetectorSettings = {}): Promise<FaceDetectorModel> {
  const bytes = await fetchBytes(url, 'face detector');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  const fingerprint = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  return new FaceDetectorModel(await webRuntime(bytes), url.split('/').pop() ?? url, fingerprint, settings);
}

/** An Exp-CLIP head from safetensors bytes, projecting with the same Gemm graph as Node's `ProjectionHead`. */
export async function loadWebProjectionHead(
  bytes: Uint8Array,
  name: string,
  expectInputDim: number,
): Promise<FeatureProjection & { metadata: Record<string, string> }> {
  const head = decodeProjectionHead(bytes, name, { expectInputDim });
  const session = await ort.InferenceSession.create(projectionHeadModel(), SESSION);
  const w = new ort.Tensor('float32', head.weight, [head.outputDim, head.inputDim]);
  return {
    inputDim: head.inputDim,
    outputDim: head.outputDim,
    metadata: head.metadata,
    async project(x: Tensor2D): Promise<Tensor2D> {
      const out = await session.run({ x: new ort.Tensor('float32', x.data, [x.dims[0], head.inputDim]), w });
      return { dtype: 'float32', data: out.y!.data as Float32Array, dims: [x.dims[0], head.outputDim] };
    },
  };
}
