/**
 * @file `@vlfer/probes/node`: the closed-set baselines end to end on a frozen CLIP (Node): image paths → features
 * through `@vlfer/encoders`' `encodeImages` and the feature cache `exp-clip eval` fills → fit (linear probe with the
 * validation sweep of C, few-shot probe, Tip-Adapter) or CLIP zero-shot → predictions of the test items.
 */
export type { ClosedSetRunHooks, ClosedSetRunOptions, ClosedSetRunResult, LabelledImages } from './closed-set-run.js';
export { runClosedSetBaseline } from './closed-set-run.js';
