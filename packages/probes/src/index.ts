/**
 * @file `@vlfer/probes`: closed-set baselines on frozen (CLIP) features, runtime-neutral: the multinomial
 * logistic-regression linear probe fitted by L-BFGS (sklearn's `LogisticRegression` objective) with the CLIP paper's
 * validation sweep of the L2 strength, seeded few-shot selection (1/2/4/8/16 shots per class) and the training-free
 * Tip-Adapter cache classifier, the seeded stratified train/validation/test split and `fitClosedSetMethod`, which
 * runs any of them (or CLIP zero-shot) on given features. `runClosedSetBaseline` of `@vlfer/exp-clip` runs them from image paths.
 */
export type { LbfgsOptions, LbfgsResult, ObjectiveWithGradient } from './lbfgs.js';
export { lbfgsSteps, minimizeLbfgs } from './lbfgs.js';
export type {
  LinearProbe,
  LinearProbeOptions,
  ProbeProgress,
  ProbeSweepOptions,
  ProbeSweepResult,
} from './linear-probe.js';
export {
  fitLinearProbe,
  fitLinearProbeSteps,
  fitProgress,
  probeLogits,
  probeProbabilities,
  probeProgress,
  sweepLinearProbe,
  sweepLinearProbeSteps,
  CLIP_PROBE_C_GRID,
} from './linear-probe.js';
export type { ProbeKernelName } from './probe-kernel.js';
export { PROBE_KERNELS } from './probe-kernel.js';
export { selectFewShot, takeRows, FEW_SHOT_COUNTS } from './few-shot.js';
export type { TipAdapterOptions } from './tip-adapter.js';
export type { SplitFractions, StratifiedSplit } from './split.js';
export { splitStratified, DEFAULT_SPLIT_FRACTIONS } from './split.js';
export type {
  ClosedSetFit,
  ClosedSetFitOptions,
  ClosedSetInputs,
  ClosedSetMethod,
  LabelledFeatures,
} from './closed-set.js';
export { CLOSED_SET_METHODS, fitClosedSetMethod, fitClosedSetMethodSteps, partsOf, usesShots } from './closed-set.js';
export { tipAdapterLogits } from './tip-adapter.js';
