import { auroc, type OpenSetReport, openSetReport } from '@vlfer/metrics';
import { tensor2d, type Tensor2D, InvalidArgumentError } from '@vlfer/core';
import { provenance, type Provenance } from '@vlfer/core/node';
import { buildZeroShotClassifier } from '@vlfer/encoders';
import { loadClip, type ClipModel } from '@vlfer/encoders/node';
import { trainHesp, type HespOptionsInput } from '@vlfer/hesp';
import { evaluateZeroShot, type EvalOptionsInput } from '@vlfer/exp-clip';
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
