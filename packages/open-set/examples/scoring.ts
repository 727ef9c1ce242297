import { tensor2d } from '@vlfer/core';
import { arplLogits, ensembleLogits, knownness, knownClassTexts, coopPromptText, negativePromptText } from '@vlfer/open-set';
import { hespOpenSetSplits, MAFW_11 } from '@vlfer/datasets';
import { openSetReport } from '@vlfer/metrics';

const split = hespOpenSetSplits('mafw')[0]!; // HESP [10,5,6]: disappointment, sad, surprise
const texts = knownClassTexts(split.known, MAFW_11);
console.log('known', texts, 'openness', split.openness.toFixed(3));
console.log(coopPromptText(texts[0]!, 4), '|', negativePromptText(texts[0]!));
// 4 clips (2 known, 2 unknown), D = 3, K = 3: CLIP cosine logits and ARPL logits → ensemble → known-ness
const v = tensor2d([[1, 0, 0], [0, 1, 0], [0.3, 0.3, 0.3], [0.2, 0.1, 0.25]]);
const centers = tensor2d([[-1, 0, 0], [0, -1, 0], [0, 0, -1]]);
const clip = tensor2d([[30, 10, 12], [11, 29, 10], [20, 21, 20], [19, 18, 20]]);
const e = ensembleLogits(clip, arplLogits(v, centers));
const { scores, predictions } = knownness(e);
console.log('scores', scores.map((s) => s.toFixed(2)), 'predictions', predictions);
const rows = (i: number) => Array.from(e.data.subarray(i * 3, i * 3 + 3));
console.log(openSetReport([rows(0), rows(1)], [0, 1], [rows(2), rows(3)]));
