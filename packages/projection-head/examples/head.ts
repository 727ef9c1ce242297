import { createRng, tensor } from '@vlfer/core';
import { createProjectionHead, saveProjectionHead, loadProjectionHead } from '@vlfer/projection-head';

const head = createProjectionHead({
  inputDim: 512,
  rng: createRng(1),
  metadata: { encoder: 'Xenova/clip-vit-base-patch32' },
}); // W: [4096, 512]
const x = tensor<'R2'>(
  Float32Array.from({ length: 2 * 512 }, (_, i) => Math.sin(i)),
  [2, 512],
); // [batch, 512] CLIP features
const y = await head.project(x); // [batch, 4096]
console.log(
  'projected',
  y.dims,
  Array.from(y.data.slice(0, 3)).map((v) => v.toFixed(4)),
);
saveProjectionHead('/tmp/vlfer-head.safetensors', head, { note: 'example' });
const back = loadProjectionHead('/tmp/vlfer-head.safetensors', { expectInputDim: 512 });
console.log('reloaded', back.outputDim, 'x', back.inputDim, back.metadata);
// released checkpoints load the same way: loadProjectionHead('ExpCLIP_B32_model.pth', { expectInputDim: 512 })
await head.dispose();
