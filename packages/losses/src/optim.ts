import {
  assertArrayLike,
  assertFiniteValues,
  checkFiniteNumber,
  firstNonFinite,
  InvalidArgumentError,
} from '@vlfer/core';

/** Named parameter buffers, updated in place by `step`. */
export type Params = Record<string, Float32Array>;

export interface Optimizer {
  /** Apply one update to every parameter from its gradient (same names, same lengths). */
  step(grads: Readonly<Record<string, Float32Array>>): void;
  /** Optimiser state (momentum/moment buffers, step count) for checkpoints. */
  state(): { step: number; buffers: Record<string, Float32Array> };
  loadState(state: { step: number; buffers: Record<string, Float32Array> }): void;
  /** Change the learning rate (schedules), keeping the state. */
  setLearningRate(lr: number): void;
}

/**
 * Every parameter's gradient present, as long as the parameter and finite, checked before any parameter changes: a
 * NaN gradient would be written into the parameter for good (a diverged training).
 */
function checkGrads(params: Params, grads: Readonly<Record<string, Float32Array>>, fn: string): void {
  for (const [k, p] of Object.entries(params)) {
    const g = grads[k];
    if (!g)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'grads',
        message: `missing gradient for parameter '${k}'`,
      });
    if (g.length !== p.length)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: `grads.${k}`,
        message: `length ${g.length}, parameter has ${p.length}`,
      });
    const i = firstNonFinite(g);
    if (i >= 0)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: `grads.${k}`,
        message: `index ${i} is ${g[i]}: the step is not applied (training diverged; lower the learning rate)`,
      });
  }
}

/** Mutable optimiser state shared by the update rule and the state/schedule methods. */
interface OptimizerState {
  t: number;
  lr: number;
  buffers: Record<string, Float32Array>;
}

function stateMethods(
  st: OptimizerState,
  params: Params,
  /** the state buffer names of parameter `k` (SGD: `k`, Adam: its two moments) */
  buffersOf: (k: string) => string[],
  fn: string,
  /** whether every step leaves buffers (Adam; SGD with momentum): a state past step 0 must then hold them all */
  buffered: boolean,
): Pick<Optimizer, 'state' | 'loadState' | 'setLearningRate'> {
  return {
    state: () => ({ step: st.t, buffers: st.buffers }),
    loadState(s) {
      // a buffer of another length or name would update other values than its parameter's (NaN past the end)
      checkFiniteNumber(s.step, { functionName: `${fn}.loadState`, argument: 'step' }, { min: 0, integer: true });
      const expected = new Map(Object.entries(params).flatMap(([k, p]) => buffersOf(k).map((b) => [b, p.length])));
      for (const [k, v] of Object.entries(s.buffers)) {
        const want = expected.get(k);
        // a NaN momentum, or a negative second moment (Adam takes its root), reaches the parameter at the next step
        const bad = want === undefined ? -1 : firstNonFinite(v);
        const negative = k.endsWith('.exp_avg_sq') ? Array.prototype.findIndex.call(v, (x: number) => x < 0) : -1;
        if (bad >= 0 || negative >= 0)
          throw new InvalidArgumentError({
            functionName: `${fn}.loadState`,
            argument: `buffers.${k}`,
            message: `index ${bad >= 0 ? bad : negative} is ${v[bad >= 0 ? bad : negative]}; expected ${bad >= 0 ? 'finite values' : 'values ≥ 0 (a second moment)'}`,
          });
        if (want === undefined || v.length !== want)
          throw new InvalidArgumentError({
            functionName: `${fn}.loadState`,
            argument: `buffers.${k}`,
            message:
              want === undefined
                ? `is no buffer of these parameters (expected ${[...expected.keys()].join(', ') || 'none'})`
                : `has length ${v.length}, its parameter has ${want}`,
          });
      }
      const missing = buffered && s.step > 0 ? [...expected.keys()].filter((k) => !(k in s.buffers)) : [];
      if (missing.length > 0)
        throw new InvalidArgumentError({
          functionName: `${fn}.loadState`,
          argument: 'buffers',
          message: `lacks ${missing.join(', ')} at step ${s.step}: the next step would restart them from zero`,
        });
      st.t = s.step;
      st.buffers = Object.fromEntries(Object.entries(s.buffers).map(([k, v]) => [k, Float32Array.from(v)]));
    },
    setLearningRate(next) {
      st.lr = checkFiniteNumber(
        next,
        { functionName: 'setLearningRate', argument: 'lr' },
        { min: 0, minExclusive: true },
      );
    },
  };
}

export interface SgdOptions {
  lr: number;
  /** @default 0 */
  momentum?: number;
  /** L2 penalty added to the gradient (PyTorch `weight_decay`). @default 0 */
  weightDecay?: number;
  /** @default 0 */
  dampening?: number;
  /** @default false */
  nesterov?: boolean;
}

/**
 * SGD exactly as `torch.optim.SGD`: d = g + wd·p; buf = d on the first step, else momentum·buf + (1 − dampening)·d;
 * d = nesterov ? d + momentum·buf : buf; p −= lr·d.
 */
export function createSgd(params: Params, options: SgdOptions): Optimizer {
  const { lr, momentum = 0, weightDecay = 0, dampening = 0, nesterov = false } = options;
  const where = (argument: string) => ({ functionName: 'createSgd', argument });
  checkFiniteNumber(lr, where('lr'), { min: 0, minExclusive: true });
  // torch refuses momentum < 0 and weight_decay < 0 too; a NaN would reach every parameter from the second step
  checkFiniteNumber(momentum, where('momentum'), { min: 0 });
  checkFiniteNumber(weightDecay, where('weightDecay'), { min: 0 });
  checkFiniteNumber(dampening, where('dampening'), { min: 0, max: 1 });
  if (nesterov && (momentum <= 0 || dampening !== 0))
    throw new InvalidArgumentError({
      functionName: 'createSgd',
      argument: 'nesterov',
      message: 'requires momentum > 0 and dampening 0',
    });
  const st: OptimizerState = { t: 0, lr, buffers: {} };
  return {
    step(grads) {
      checkGrads(params, grads, 'Sgd.step');
      for (const [k, p] of Object.entries(params)) {
        const g = grads[k]!;
        let buf = st.buffers[k];
        const first = buf === undefined;
        if (momentum !== 0 && first) buf = st.buffers[k] = new Float32Array(p.length);
        for (let i = 0; i < p.length; i++) {
          let d = Math.fround(g[i]! + weightDecay * p[i]!);
          if (momentum !== 0) {
            const b = first ? d : Math.fround(momentum * buf![i]! + (1 - dampening) * d);
            buf![i] = b;
            d = nesterov ? Math.fround(d + momentum * b) : b;
          }
          p[i] = p[i]! - st.lr * d;
        }
      }
      st.t++;
    },
    ...stateMethods(st, params, (k) => [k], 'Sgd', momentum !== 0),
  };
}

export interface AdamOptions {
  /** @default 1e-3 */
  lr?: number;
  /** @default [0.9, 0.999] */
  betas?: [number, number];
  /** @default 1e-8 */
  eps?: number;
  /** @default 0 */
  weightDecay?: number;
  /** AdamW's decoupled decay (p −= lr·wd·p) instead of Adam's L2 term. @default false */
  decoupledWeightDecay?: boolean;
}

/**
 * Adam as `torch.optim.Adam` (or AdamW with `decoupledWeightDecay`): m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
 * p −= (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps).
 */
export function createAdam(params: Params, options: AdamOptions = {}): Optimizer {
  const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0, decoupledWeightDecay = false } = options;
  const [b1, b2] = betas;
  const where = (argument: string) => ({ functionName: 'createAdam', argument });
  checkFiniteNumber(lr, where('lr'), { min: 0, minExclusive: true });
  // as torch: 0 ≤ β < 1 (β = 1 divides by 1 − βᵗ = 0), eps ≥ 0, weight decay ≥ 0
  checkFiniteNumber(b1, where('betas[0]'), { min: 0, max: 1, maxExclusive: true });
  checkFiniteNumber(b2, where('betas[1]'), { min: 0, max: 1, maxExclusive: true });
  checkFiniteNumber(eps, where('eps'), { min: 0 });
  checkFiniteNumber(weightDecay, where('weightDecay'), { min: 0 });
  const st: OptimizerState = { t: 0, lr, buffers: {} };
  return {
    step(grads) {
      checkGrads(params, grads, 'Adam.step');
      const t = ++st.t;
      const lr = st.lr;
      const bc1 = 1 - b1 ** t;
      const bc2 = Math.sqrt(1 - b2 ** t);
      for (const [k, p] of Object.entries(params)) {
        const g = grads[k]!;
        const m = (st.buffers[`${k}.exp_avg`] ??= new Float32Array(p.length));
        const v = (st.buffers[`${k}.exp_avg_sq`] ??= new Float32Array(p.length));
        for (let i = 0; i < p.length; i++) {
          if (decoupledWeightDecay && weightDecay !== 0) p[i] = p[i]! * (1 - lr * weightDecay);
          const gi = decoupledWeightDecay ? g[i]! : g[i]! + weightDecay * p[i]!;
          m[i] = b1 * m[i]! + (1 - b1) * gi;
          v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
          p[i] = p[i]! - (lr / bc1) * (m[i]! / (Math.sqrt(v[i]!) / bc2 + eps));
        }
      }
    },
    ...stateMethods(st, params, (k) => [`${k}.exp_avg`, `${k}.exp_avg_sq`], 'Adam', true),
  };
}

export const OPTIMIZERS = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** An optimiser by name with the shared options (`lr`, `momentum` for SGD, `weightDecay`). */
export function createOptimizer(
  name: OptimizerName,
  params: Params,
  options: { lr: number; momentum?: number; weightDecay?: number },
): Optimizer {
  if (name === 'sgd')
    return createSgd(params, {
      lr: options.lr,
      momentum: options.momentum ?? 0,
      weightDecay: options.weightDecay ?? 0,
    });
  if (name === 'adam') return createAdam(params, { lr: options.lr, weightDecay: options.weightDecay ?? 0 });
  throw new InvalidArgumentError({
    functionName: 'createOptimizer',
    argument: 'name',
    message: `expected one of ${OPTIMIZERS.join(', ')}, got '${String(name)}'`,
  });
}

/**
 * PyTorch `MultiStepLR` (stepped once per epoch): lr · γ^(number of milestones ≤ epoch), epochs counted from 0.
 * HESP: milestones [30, 60, 90, 120], γ 0.1. @default gamma 0.1
 */
export function multiStepLr(baseLr: number, epoch: number, milestones: readonly number[], gamma = 0.1): number {
  const where = (argument: string) => ({ functionName: 'multiStepLr', argument });
  checkFiniteNumber(baseLr, where('baseLr'), { min: 0, minExclusive: true });
  checkFiniteNumber(epoch, where('epoch'), { min: 0, integer: true });
  checkFiniteNumber(gamma, where('gamma'), { min: 0, minExclusive: true });
  assertArrayLike(milestones, 'milestones', 'multiStepLr');
  milestones.forEach((m, i) => checkFiniteNumber(m, where(`milestones[${i}]`), { min: 0, integer: true }));
  return baseLr * gamma ** milestones.filter((m) => epoch >= m).length;
}

/**
 * HESP's manual prompt update (`core/train.py`): target −= step · g / (‖g‖₂ + 1e-10), not scaled by the learning
 * rate; the same update is added to each of `repeat` consecutive copies of g's size in `target` (HESP applies the
 * mean gradient of its K negative images to all K).
 */
export function normalizedGradientStep(target: Float32Array, grad: ArrayLike<number>, step: number, repeat = 1): void {
  checkFiniteNumber(repeat, { functionName: 'normalizedGradientStep', argument: 'repeat' }, { min: 1, integer: true });
  checkFiniteNumber(step, { functionName: 'normalizedGradientStep', argument: 'step' });
  assertArrayLike(grad, 'grad', 'normalizedGradientStep');
  assertFiniteValues({ data: grad }, 'grad', 'normalizedGradientStep');
  if (target.length !== grad.length * repeat)
    throw new InvalidArgumentError({
      functionName: 'normalizedGradientStep',
      argument: 'grad',
      message: `${grad.length} values × ${repeat} copies do not match the target's ${target.length}`,
    });
  let n2 = 0;
  for (let i = 0; i < grad.length; i++) n2 += grad[i]! ** 2;
  const f = step / (Math.sqrt(n2) + 1e-10);
  for (let r = 0; r < repeat; r++) for (let i = 0; i < grad.length; i++) target[r * grad.length + i]! -= f * grad[i]!;
}
