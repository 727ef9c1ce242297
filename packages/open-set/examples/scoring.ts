import { tensor2d } from '@vlfer/core';
import { hespOpenSetSplits, MAFW_11 } from '@vlfer/datasets';
import { arplLogits } from '@vlfer/losses';
import { openSetReport } from '@vlfer/metrics';
import { coopPromptText, ensembleLogits, knownClassTexts, knownness, negativePromptText } from '@vlfer/open-set';

const split = hespOpenSetSplits('mafw')[0]!;
const texts = knownClassTexts(split.known, MAFW_11); // HESP's label texts, in sorted(known) order
console.log('known', texts, 'openness', split.openness.toFixed(3));
console.log(coopPromptText(texts[0]!, 4), '|', negativePromptText(texts[0]!));
// 4 clips (2 known, 2 unknown), D = 3, K = 3: CLIP cosine logits and ARPL logits → ensemble → known-ness
const v = tensor2d([
  [1, 0, 0],
  [0, 1, 0],
  [0.3, 0.3, 0.3],
  [0.2, 0.1, 0.25],
]); // [clips, D] mean frame features
const centers = tensor2d([
  [-1, 0, 0],
  [0, -1, 0],
  [0, 0, -1],
]); // [K, D] negative visual prompt embeddings
const clip = tensor2d([
  [30, 10, 12],
  [11, 29, 10],
  [20, 21, 20],
  [19, 18, 20],
]); // [clips, K]
const e = ensembleLogits(clip, arplLogits(v, centers)); // (clip + arpl) / 2
const { scores, predictions } = knownness(e); // max and argmax of each row
console.log(
  'scores',
  scores.map((s) => s.toFixed(2)),
  'predictions',
  predictions,
);
const rows = (i: number) => Array.from(e.data.subarray(i * 3, i * 3 + 3));
console.log(openSetReport([rows(0), rows(1)], [0, 1], [rows(2), rows(3)]));
