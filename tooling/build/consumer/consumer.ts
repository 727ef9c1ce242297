import { auroc, type OpenSetReport, openSetReport } from '@vlfer/metrics';
import { tensor2d, type Tensor2D, InvalidArgumentError } from '@vlfer/core';
import { provenance, type Provenance } from '@vlfer/core/node';
import { buildZeroShotClassifier } from '@vlfer/encoders';
import { loadClip, type ClipModel } from '@vlfer/encoders/node';
import { trainHesp, type HespOptionsInput } from '@vlfer/hesp';
import { evaluateZeroShot, type EvalOptionsInput } from '@vlfer/exp-clip';
import { confusionMatrixSpec, renderSvg, writeReport, type RunAblationOptions, type VegaLiteSpec } from '@vlfer/bench';
const t: Tensor2D = tensor2d([[1, 2]]);
const r: OpenSetReport = openSetReport(t, [1], [[0, 1]]);
const a: number = auroc([1], [0]) + r.arpl.oscr;
const p: Provenance = provenance();
const o: HespOptionsInput = {
  dataset: 'mafw',
  trainAnnotations: 'a',
  testAnnotations: 'b',
  model: 'm',
  out: 'o',
  splitIndex: 0,
};
const e: EvalOptionsInput = { dataset: 'fer2013', root: 'r', model: 'm' };
const load: (o: { model: string }) => Promise<ClipModel> = loadClip;
void [a, p, o, e, load, trainHesp, evaluateZeroShot, buildZeroShotClassifier, InvalidArgumentError];
// @vlfer/bench's declarations resolve without its optional peers vega and vega-lite (not installed here)
const chart: VegaLiteSpec = confusionMatrixSpec(
  ['a', 'b'],
  [
    [1, 0],
    [0, 1],
  ],
  'confusion',
);
const bench: RunAblationOptions = { shared: 's', resultsDir: 'r', charts: false };
const draw: (s: VegaLiteSpec) => Promise<string> = renderSvg;
void [chart, bench, draw, writeReport];
