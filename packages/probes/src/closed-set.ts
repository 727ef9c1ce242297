import {
  argmaxRows,
  assertFiniteValues,
  assertShape,
  checkClassIds,
  checkOneOf,
  checkPositiveInteger,
  InvalidArgumentError,
  runStepsSync,
  type Tensor2D,
} from '@vlfer/core';
import { selectFewShot, takeRows } from './few-shot.js';
import {
  probeLogits,
  sweepLinearProbeSteps,
  type LinearProbe,
  type LinearProbeOptions,
  type ProbeProgress,
  type ProbeSweepResult,
} from './linear-probe.js';
import { tipAdapterLogits, type TipAdapterOptions } from './tip-adapter.js';

/**
 * The closed-set methods on frozen features, as the bench names them:
 * - `zero-shot`: CLIP zero-shot, the logits of the class prompts (given, not computed here);
 * - `linear-probe`: the CLIP paper's linear probe, fitted on the whole train part, L2 strength swept on validation;
 * - `few-shot-probe`: the same probe fitted on `shots` seeded items per class of the train part, swept on validation;
 * - `tip-adapter`: Tip-Adapter's training-free cache of `shots` seeded items per class (α, β fixed, no search).
 */
export const CLOSED_SET_METHODS = ['zero-shot', 'linear-probe', 'few-shot-probe', 'tip-adapter'] as const;
export type ClosedSetMethod = (typeof CLOSED_SET_METHODS)[number];

/** Whether a closed-set method takes a shot count (few-shot probe, Tip-Adapter). */
export const usesShots = (method: ClosedSetMethod): boolean => method === 'few-shot-probe' || method === 'tip-adapter';

/** Which parts of a train/validation/test split a method reads (the test part always). */
export function partsOf(method: ClosedSetMethod): ('train' | 'validation' | 'test')[] {
  if (method === 'zero-shot') return ['test'];
  if (method === 'tip-adapter') return ['train', 'test'];
  return ['train', 'validation', 'test'];
}

/** Features `[n, D]` with their class ids `[n]`. */
export interface LabelledFeatures {
  features: Tensor2D;
  labels: readonly number[];
}

export interface ClosedSetInputs {
  numClasses: number;
  /** [n, D] the test features */
  test: Tensor2D;
  train?: LabelledFeatures;
  validation?: LabelledFeatures;
  /** zero-shot: [n, C] CLIP logits of the test items */
  zeroShotLogits?: Tensor2D;
  /** tip-adapter: [C, D] class text embeddings (one per class, e.g. the mean of its prompt embeddings) */
  classWeights?: Tensor2D;
}

export interface ClosedSetFitOptions {
  /** few-shot-probe, tip-adapter: items per class drawn from the train part (`selectFewShot`) */
  shots?: number;
  /** the seed of the shot selection */
  seed?: number;
  tipAdapter?: TipAdapterOptions;
  /** options of every L-BFGS fit of the sweep (tolerances) */
  probe?: Omit<LinearProbeOptions, 'c' | 'numClasses'>;
}

/** What a method predicted on the test features, and how it was fitted. */
export interface ClosedSetFit {
  /** [n] predicted class ids */
  predicted: number[];
  /** [n, C] the method's logits */
  logits: Tensor2D;
  /**
   * probes: the chosen inverse L2 strength C, its validation accuracy, the C values tried, and how the fit at the
   * chosen C stopped (`optimizer.reason`: 'gradient' met the stop test; 'line-search' found no further decrease, at
   * the optimum within rounding for a large C; 'max-iterations' did not meet it in `maxIterations`, which at C ≥ 1e4
   * on nearly separable features can leave the objective within 1e-10 of the optimum: see `gradientNorm`)
   */
  sweep?: {
    c: number;
    score: number;
    evaluated: ProbeSweepResult['evaluated'];
    optimizer: LinearProbe['optimizer'];
  };
  /** few-shot methods: indices into the train part of the selected items */
  shotIndices?: number[];
}

/**
 * Every part the method reads, checked before any fit: features of the test part's dimension, one label per row in
 * [0, numClasses), class weights [numClasses, D] (a mismatch found after a sweep of minutes, or a shorter label list
 * whose rows were silently left out, is what this prevents).
 */
function checkParts(method: ClosedSetMethod, inputs: ClosedSetInputs): void {
  const fn = 'fitClosedSetMethod';
  // the width is the train part's where the method reads one (the features it fits on), else the test part's
  const train = partsOf(method).includes('train') ? inputs.train : undefined;
  if (train) assertShape(train.features, [null, null], 'train.features', fn);
  const d = train ? train.features.dims[1] : inputs.test.dims[1];
  // zero-shot reads only its logits (one row per test item), not the test features
  if (method !== 'zero-shot') {
    assertShape(inputs.test, [null, d], 'test', fn);
    assertFiniteValues(inputs.test, 'test', fn);
  }
  for (const part of ['train', 'validation'] as const) {
    const p = inputs[part];
    if (!p || !partsOf(method).includes(part)) continue;
    assertShape(p.features, [null, d], `${part}.features`, fn);
    if (p.labels.length !== p.features.dims[0])
      throw new InvalidArgumentError({
        functionName: fn,
        argument: `${part}.labels`,
        message: `has ${p.labels.length} labels for ${p.features.dims[0]} feature rows`,
      });
    checkClassIds(p.labels, { functionName: fn, argument: `${part}.labels` }, inputs.numClasses);
  }
  if (method === 'tip-adapter' && inputs.classWeights)
    assertShape(inputs.classWeights, [inputs.numClasses, d], 'classWeights', fn);
  if (method === 'zero-shot' && inputs.zeroShotLogits) {
    assertShape(inputs.zeroShotLogits, [inputs.test.dims[0], inputs.numClasses], 'zeroShotLogits', fn);
    assertFiniteValues(inputs.zeroShotLogits, 'zeroShotLogits', fn);
  }
}

function need<T>(v: T | undefined, what: string, method: ClosedSetMethod): T {
  if (v === undefined)
    throw new InvalidArgumentError({
      functionName: 'fitClosedSetMethod',
      argument: what,
      message: `${method} needs it`,
    });
  return v;
}

/**
 * Fit one closed-set method on frozen features and predict the test items (see {@link CLOSED_SET_METHODS}). The
 * probes use `sweepLinearProbe` (the CLIP paper's search over C, validation accuracy, ties → smaller C) and predict
 * with the probe fitted at the best C (on the train part, or on the shots). The few-shot selection is
 * `selectFewShot(train.labels, shots, { seed })`, so the same seed gives the same shots for the probe and the cache.
 * @throws InvalidArgumentError naming the missing input (e.g. `validation` for a probe) or a shape mismatch
 */
export function fitClosedSetMethod(
  method: ClosedSetMethod,
  inputs: ClosedSetInputs,
  options: ClosedSetFitOptions = {},
): ClosedSetFit {
  return runStepsSync(fitClosedSetMethodSteps(method, inputs, options));
}

/**
 * `fitClosedSetMethod` as a generator that yields the probe sweep's progress (`sweepLinearProbeSteps`; the other
 * methods yield nothing): run it with `runSteps` of @vlfer/core so that a CLI's Ctrl-C stops a probe fitted on a
 * large train part (minutes) and its progress is shown. @returns what `fitClosedSetMethod` returns
 */
export function* fitClosedSetMethodSteps(
  method: ClosedSetMethod,
  inputs: ClosedSetInputs,
  options: ClosedSetFitOptions = {},
): Generator<ProbeProgress, ClosedSetFit, void> {
  checkOneOf(method, CLOSED_SET_METHODS, { functionName: 'fitClosedSetMethod', argument: 'method' });
  if (typeof inputs !== 'object' || inputs === null)
    throw new InvalidArgumentError({
      functionName: 'fitClosedSetMethod',
      argument: 'inputs',
      message: `expected { numClasses, test, … } (ClosedSetInputs), got ${String(inputs)}`,
    });
  const k = checkPositiveInteger(inputs.numClasses, { functionName: 'fitClosedSetMethod', argument: 'numClasses' });
  assertShape(inputs.test, [null, null], 'test', 'fitClosedSetMethod');
  checkParts(method, inputs);
  const finish = (logits: Tensor2D, extra: Omit<ClosedSetFit, 'predicted' | 'logits'> = {}): ClosedSetFit => {
    assertShape(logits, [inputs.test.dims[0], k], 'logits', 'fitClosedSetMethod');
    return { predicted: argmaxRows(logits), logits, ...extra };
  };
  if (method === 'zero-shot') return finish(need(inputs.zeroShotLogits, 'zeroShotLogits', method));
  const train = need(inputs.train, 'train', method);
  let shotIndices: number[] | undefined;
  let fitOn = train;
  if (usesShots(method)) {
    shotIndices = selectFewShot(train.labels, need(options.shots, 'shots', method), {
      seed: options.seed ?? 0,
      numClasses: k,
    });
    fitOn = { features: takeRows(train.features, shotIndices), labels: shotIndices.map((i) => train.labels[i]!) };
  }
  if (method === 'tip-adapter') {
    const cache = { keys: fitOn.features, labels: fitOn.labels };
    const logits = tipAdapterLogits(inputs.test, cache, need(inputs.classWeights, 'classWeights', method), {
      ...options.tipAdapter,
    });
    return finish(logits, { shotIndices: shotIndices! });
  }
  const validation = need(inputs.validation, 'validation', method);
  const s = yield* sweepLinearProbeSteps(fitOn, validation, { ...options.probe, numClasses: k });
  return finish(probeLogits(s.probe, inputs.test), {
    sweep: { c: s.c, score: s.score, evaluated: s.evaluated, optimizer: s.probe.optimizer },
    ...(shotIndices ? { shotIndices } : {}),
  });
}
