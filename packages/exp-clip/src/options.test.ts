import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { defaultThreads, maxThreads, ortSessionOptions, threadCountProblem } from '@vlfer/core/node';
import { optionDocProblems } from '@vlfer/test-utils/option-docs';
import type { evaluateZeroShot } from './evaluate.js';
import type { trainHead } from './train.js';
import { EvalOptionsSchema, TrainOptionsSchema, type EvalOptionsInput, type TrainOptionsInput } from './options.js';

// Compile-time checks, run by `pnpm typecheck` (`tsc --noEmit -p .` includes this file): the documented interfaces
// and zod's input types agree (same keys, each assignable to the other), and wrong values do not compile.
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Agree<A, B> = [A] extends [B] ? ([B] extends [A] ? SameKeys<A, B> : false) : false;
export const evalAgrees: Agree<z.input<typeof EvalOptionsSchema>, EvalOptionsInput> = true;
export const trainAgrees: Agree<z.input<typeof TrainOptionsSchema>, TrainOptionsInput> = true;
export const evalFacesAgree: Agree<
  NonNullable<z.input<typeof EvalOptionsSchema>['faces']>,
  NonNullable<EvalOptionsInput['faces']>
> = true;

type EvalInput = Parameters<typeof evaluateZeroShot>[0];
type TrainInput = Parameters<typeof trainHead>[0];
export const compileErrors: EvalInput[] = [
  // @ts-expect-error a dataset id that does not exist (the id is `fer2013`)
  { dataset: 'fer-2013', root: 'r', model: 'm' },
  // @ts-expect-error a misspelt option (`batchSize`)
  { dataset: 'fer2013', root: 'r', model: 'm', batchsize: 8 },
  // @ts-expect-error a prompt type that does not exist
  { dataset: 'fer2013', root: 'r', model: 'm', promptTypes: ['class-name'] },
  // @ts-expect-error a resizer that does not exist
  { dataset: 'raf-db', root: 'r', model: 'm', resizer: 'lanczos' },
];
export const trainCompileErrors: TrainInput[] = [
  // @ts-expect-error an optimizer that does not exist
  { unlabelled: 'u', model: 'm', teacher: 'import', teacherSource: 't', out: 'o', optimizer: 'adamw' },
  // @ts-expect-error a misspelt option (`weightDecay`)
  { unlabelled: 'u', model: 'm', teacher: 'import', teacherSource: 't', out: 'o', weightdecay: 0 },
];

const file = fileURLToPath(new URL('./options.ts', import.meta.url));

describe('option interfaces and their zod schemas', () => {
  it('EvalOptionsInput documents every field, with the schema defaults', () => {
    expect(optionDocProblems(file, 'EvalOptionsInput', EvalOptionsSchema)).toEqual([]);
  });
  it('TrainOptionsInput documents every field, with the schema defaults', () => {
    expect(optionDocProblems(file, 'TrainOptionsInput', TrainOptionsSchema)).toEqual([]);
  });
  it('the schema rejects at run time what the types reject at compile time', () => {
    expect(EvalOptionsSchema.safeParse({ dataset: 'fer-2013', root: 'r', model: 'm' }).success).toBe(false);
    expect(EvalOptionsSchema.safeParse({ dataset: 'fer2013', root: 'r', model: 'm', batchsize: 8 }).success).toBe(
      false,
    );
    expect(EvalOptionsSchema.safeParse({ dataset: 'fer2013', root: 'r', model: 'm' }).success).toBe(true);
    // an instruction id no teacher instruction has (ids can be registered, so checked against the current list)
    const train = { unlabelled: 'u', model: 'm', teacher: 'import', teacherSource: 't', out: 'o' } as const;
    const bad = TrainOptionsSchema.safeParse({ ...train, instruction: 'foo' });
    expect(bad.success ? '' : bad.error.issues[0]!.message).toMatch(/^expected one of exp-clip, .*got 'foo'$/);
    expect(TrainOptionsSchema.safeParse(train).success).toBe(true);
    // thread and worker counts: at most 4 per CPU (a count in the thousands exhausts memory before a result)
    const max = maxThreads();
    const evalOk = { dataset: 'fer2013', root: 'r', model: 'm' } as const;
    for (const o of [
      { ...evalOk, threads: max + 1 },
      { ...evalOk, preprocessWorkers: 100000 },
    ]) {
      const r = EvalOptionsSchema.safeParse(o);
      expect(r.success ? '' : r.error.issues[0]!.message).toMatch(
        new RegExp(`^must be at most ${max} \\(4 per CPU; this process may use ${availableParallelism()}\\)`),
      );
    }
    expect(EvalOptionsSchema.safeParse({ ...evalOk, threads: max, preprocessWorkers: 0 }).success).toBe(true);
    expect(TrainOptionsSchema.safeParse({ ...train, threads: max + 1 }).success).toBe(false);
    // the same bound where the count comes from the environment or goes to a session
    process.env.VLFER_THREADS = String(max + 1);
    try {
      expect(() => defaultThreads()).toThrow(/'VLFER_THREADS' .*: must be at most/);
      process.env.VLFER_THREADS = '1e1';
      expect(() => defaultThreads()).toThrow(/must be a positive integer, got '1e1'/);
    } finally {
      delete process.env.VLFER_THREADS;
    }
    expect(() => ortSessionOptions({ intraOpNumThreads: max + 1 })).toThrow(/intraOpNumThreads.*must be at most/);
    expect(threadCountProblem(0)).toMatch(/positive integer/);
  });
});
