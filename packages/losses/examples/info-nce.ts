import { createRng, type Tensor2D } from '@vlfer/core';
import { createSgd } from '@vlfer/losses';
import { InfoNceGraph } from '@vlfer/losses/node';

const rng = createRng(0);
const t = (rows: number, cols: number): Tensor2D => ({
  dtype: 'float32',
  data: Float32Array.from({ length: rows * cols }, () => rng.normal()),
  dims: [rows, cols],
});
const features = t(64, 512); // [batch, D] CLIP image features
const targets = t(64, 4096); // [batch, 4096] teacher targets
const weight = t(4096, 512); // [4096, D] head W
weight.data.forEach((v, i) => (weight.data[i] = v * 0.04));
const graph = await InfoNceGraph.create(); // symmetric InfoNCE + ∂L/∂W as one ONNX graph
const sgd = createSgd({ weight: weight.data }, { lr: 1e-3, momentum: 0.9, weightDecay: 1e-4 }); // PyTorch SGD semantics
for (let step = 0; step < 3; step++) {
  const r = await graph.run({ features, weight, targets, scale: 100 });
  console.log(
    `step ${step}: loss ${r.loss.toFixed(4)}, in-batch accuracy ${r.correct}/64, |grad| ${Math.hypot(...r.gradWeight.slice(0, 1000)).toFixed(4)} (first 1000)`,
  );
  sgd.step({ weight: r.gradWeight });
}
await graph.release();
