import { auroc, oscr, unweightedAverageRecall } from '@vlfer/metrics';
import { tensor2d, cosineLogits } from '@vlfer/core';
import { getLabelSet, parseVideoListText, segmentCentreIndices } from '@vlfer/datasets';
import { expClipPrompts } from '@vlfer/llm-knowledge';
import { arplLogits } from '@vlfer/losses';
import { pilResize } from '@vlfer/image';
import { OPENAI_CLIP_PREPROCESSOR, preprocessRgb } from '@vlfer/encoders';
import { ensembleLogits, knownness } from '@vlfer/open-set';
import { alignmentTemplate, nonMaxSuppression, resizeBilinear } from '@vlfer/faces';
import { decodeProjectionHead, encodeHeadWeights, projectionHeadModel } from '@vlfer/projection-head/format';
const pixels = new Float32Array(3 * 224 * 224);
preprocessRgb(
  { data: new Uint8Array(4 * 4 * 3).fill(51), width: 4, height: 4, channels: 3 },
  'exp-clip',
  OPENAI_CLIP_PREPROCESSOR,
  pixels,
  0,
);
const e = ensembleLogits(
  tensor2d([
    [3, 1],
    [0, 2],
  ]),
  arplLogits(
    tensor2d([
      [1, 0],
      [0, 1],
    ]),
    tensor2d([
      [-1, 0],
      [0, -1],
    ]),
  ),
);
const head = decodeProjectionHead(
  encodeHeadWeights({ inputDim: 2, outputDim: 3, weight: new Float32Array([1, 2, 3, 4, 5, 6]), metadata: {} }),
  'head.safetensors',
  { expectInputDim: 2 },
);
globalThis.result = {
  head: head.outputDim * 10 + head.weight[5] + (projectionHeadModel().length > 0 ? 100 : 0),
  // Pillow 9.4: Image.frombytes('L', (2, 1), bytes([0, 255])).resize((4, 1), BICUBIC) → [0, 53, 202, 255]
  pil: pilResize(new Uint8Array([0, 255]), 2, 1, 1, 4, 1, 'bicubic')[1],
  resized: resizeBilinear({ data: new Uint8Array([0, 255]), width: 2, height: 1, channels: 1 }, 4, 1).data[1],
  auroc: auroc([0.9, 0.8], [0.1, 0.85]),
  oscr: oscr(
    [
      [2, 1],
      [0, 3],
    ],
    [0, 1],
    [[0.5, 0.4]],
  ),
  uar: unweightedAverageRecall([0, 1, 1], [0, 1, 0]),
  cosine: cosineLogits(tensor2d([[1, 0]]), tensor2d([[1, 0]]), 100).logits.data[0],
  classes: getLabelSet('affectnet-8-native').names.length,
  clips: parseVideoListText('a 10 1\n', { file: 'list.txt', labelScheme: 'dfer-clip' }).entries.length,
  frames: segmentCentreIndices(40, 16).length,
  prompts: expClipPrompts('expression_ensemble_ten', ['happiness']).prompts[0].length,
  pixel: pixels[0],
  known: knownness(e).predictions,
  faces:
    nonMaxSuppression(
      [
        { box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.9, landmarks: null },
        { box: { x: 1, y: 1, width: 10, height: 10 }, score: 0.8, landmarks: null },
      ],
      0.3,
    ).length + alignmentTemplate(224).length,
};
