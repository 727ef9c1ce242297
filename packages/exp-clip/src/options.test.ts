import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { defaultThreads, maxThreads, ortSessionOptions, threadCountProblem } from '@vlfer/core/node';
import { optionDocProblems } from '@vlfer/test-utils/option-docs';
import { trainHead } from './train.js';
import { MAX_TIMER_MS, OptionsError } from '@vlfer/core';
import { evaluateZeroShot as evaluate } from './evaluate.js';
import {
  EvalOptionsSchema,
  evalOptionUses,
  TrainOptionsSchema,
  trainOptionUses,
  type EvalOptionsInput,
  type TrainOptionsInput,
} from './options.js';

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

type EvalInput = Parameters<typeof evaluate>[0];
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

describe('options an evaluation would not use', () => {
  const images = { dataset: 'image-folder', root: '/nonexistent-root', model: '/nonexistent-model' } as const;
  const refusal = async (o: EvalOptionsInput) => {
    const e: unknown = await evaluate(o).catch((err: unknown) => err);
    return e instanceof OptionsError ? e.issues : e;
  };

  it('are refused by evaluateZeroShot at any value but the default, naming each, before any file is read', async () => {
    expect(await refusal({ ...images, frames: 8, split: 'train', quantizationSample: 16 })).toEqual([
      {
        path: 'split',
        message: 'dataset image-folder has no train/test split to choose (RAF-DB and FERPlus have); got "train"',
      },
      { path: 'frames', message: 'dataset image-folder holds images, not video clips; got 8' },
      { path: 'quantizationSample', message: "applies to dtype 'int8' only (the fp32/int8 guard); got 16" },
    ]);
    expect(await refusal({ ...images, rebase: { from: '/a', to: '/b' }, subsetSeed: 3, duplicates: 'drop' })).toEqual([
      { path: 'rebase', message: expect.stringMatching(/^dataset image-folder reads no annotation list/) },
      { path: 'subsetSeed', message: expect.stringMatching(/^seeds the limit subset .*; got 3$/) },
      { path: 'duplicates', message: expect.stringMatching(/^dataset image-folder is read by listing its class/) },
    ]);
    expect(await refusal({ ...images, dataset: 'raf-db', extraFiles: 'skip', allowOutsideRoot: true })).toEqual([
      { path: 'extraFiles', message: expect.stringMatching(/^dataset raf-db is read from its annotation rows/) },
    ]);
    // the defaults change nothing that is recorded; past this check the missing model is what is refused
    const defaults = { ...images, frames: 16, split: 'test', shortClip: 'repeat-first', subsetSeed: 0 } as const;
    expect(String(await refusal(defaults))).toMatch(/'model' .*does not exist/);
    expect(String(await refusal({ ...images, subsetSeed: 3, limit: 5 }))).toMatch(/'model' .*does not exist/);
    expect(String(await refusal({ ...images, subsetSeed: 3, dtype: 'int8', quantizationSample: 8 }))).toMatch(
      /'model' .*does not exist/,
    );
  });

  it('follow the dataset format: video lists all but split, RAF-DB its split', () => {
    const unused = (o: Parameters<typeof evalOptionUses>[0]) =>
      evalOptionUses(o)
        .filter((u) => !u.applies)
        .map((u) => u.key);
    expect(unused({ dataset: 'dfew', dtype: 'int8' })).toEqual(['split', 'extraFiles', 'views', 'peakFrames']);
    expect(unused({ dataset: 'video-folder', limit: 4 })).toEqual([
      'split',
      'rebase',
      'labelScheme',
      'quantizationSample',
      'acceptInaccurateQuantization',
      'allowOutsideRoot',
      'duplicates',
      'views',
      'peakFrames',
    ]);
    expect(unused({ dataset: 'ferplus', limit: 4 })).toContain('duplicates'); // its CSV keeps an image's last row
    // AffectNet's npy release: its images listed, one annotation file each
    expect(unused({ dataset: 'affectnet7-npy', limit: 4 }).slice(-4)).toEqual([
      'allowOutsideRoot',
      'duplicates',
      'views',
      'peakFrames',
    ]);
    // KDEF, JAFFE and CK+: their images listed; views are KDEF's, peak frames CK+'s
    // (a second file of one KDEF or JAFFE image name is a duplicate)
    expect(unused({ dataset: 'kdef', limit: 4 }).slice(-2)).toEqual(['allowOutsideRoot', 'peakFrames']);
    expect(unused({ dataset: 'jaffe', limit: 4 }).slice(-3)).toEqual(['allowOutsideRoot', 'views', 'peakFrames']);
    expect(unused({ dataset: 'ckplus8', limit: 4 }).slice(-3)).toEqual(['allowOutsideRoot', 'duplicates', 'views']);
    expect(unused({ dataset: 'raf-db', limit: 4 })).toEqual([
      'frames',
      'shortClip',
      'rebase',
      'labelScheme',
      'quantizationSample',
      'acceptInaccurateQuantization',
      'extraFiles',
      'views',
      'peakFrames',
    ]);
  });
});

describe('trainHead options a training would not use', () => {
  const imported = {
    unlabelled: '/nonexistent-faces',
    model: '/nonexistent-model',
    teacher: 'import',
    teacherSource: 't.jsonl',
    out: '/nonexistent-out',
  } as const;
  const refusal = async (o: TrainInput) => {
    const e: unknown = await trainHead(o).catch((err: unknown) => err);
    return e instanceof OptionsError ? e.issues : e;
  };

  it('are refused at any value but the default, naming each, before any file is read', async () => {
    expect(
      await refusal({ ...imported, teacherKeys: 'k.txt', teacherRetries: 5, optimizer: 'adam', momentum: 0.5 }),
    ).toEqual([
      {
        path: 'teacherKeys',
        message: 'for a .npy or .safetensors targets file; t.jsonl holds its own keys; got "k.txt"',
      },
      { path: 'teacherRetries', message: "for teacher 'http' only; teacher 'import' reads a targets file; got 5" },
      { path: 'momentum', message: "for optimizer 'sgd' only; optimizer 'adam' has none; got 0.5" },
    ]);
    // at their defaults they change nothing; past this check something else is refused
    for (const o of [
      { ...imported, optimizer: 'adam', momentum: 0.9, teacherRetries: 3 },
      { ...imported, teacherSource: 'T.NPY', teacherKeys: 'k.txt' },
      { ...imported, teacherSource: 't.safetensors', teacherKeys: 'k.txt' }, // keys beside __metadata__.paths
      { ...imported, teacher: 'http', teacherSource: 'http://127.0.0.1:9', teacherModel: 'm', teacherRetries: 0 },
    ] as const)
      expect(await refusal(o)).not.toBeInstanceOf(Array);
  });

  it('hooks of the wrong kind are refused before any file is read (a controller for its signal never stopped it)', async () => {
    await expect(trainHead(imported, { signal: new AbortController() as never })).rejects.toThrow(
      /'signal' passed to 'trainHead': expected an AbortSignal, got an AbortController: give its \.signal/,
    );
    await expect(trainHead(imported, { onStep: 'x' as never })).rejects.toThrow(
      /'onStep' passed to 'trainHead': expected a function, got string/,
    );
    await expect(
      evaluate({ dataset: 'image-folder', root: '/nonexistent', model: '/nonexistent' }, { onProgress: 5 as never }),
    ).rejects.toThrow(/'onProgress' passed to 'evaluateZeroShot': expected a function, got number/);
  });

  it("bound the teacher's timeout by the longest timer Node keeps (a longer one fires after 1 ms)", async () => {
    const http = { ...imported, teacher: 'http', teacherSource: 'http://127.0.0.1:9', teacherModel: 'm' } as const;
    expect(await refusal({ ...http, teacherTimeoutMs: MAX_TIMER_MS + 1 })).toEqual([
      { path: 'teacherTimeoutMs', message: expect.stringMatching(/2147483647/) as unknown },
    ]);
    // at the bound the options pass; what fails next is the missing folder
    expect(await refusal({ ...http, teacherTimeoutMs: MAX_TIMER_MS })).not.toBeInstanceOf(Array);
    // reply model names: one or several, none blank
    expect(await refusal({ ...http, teacherReplyModel: ['a', 'b'] })).not.toBeInstanceOf(Array);
    for (const bad of [' ', [], ['a', '']])
      expect(await refusal({ ...http, teacherReplyModel: bad })).toEqual([
        expect.objectContaining({ path: expect.stringMatching(/^teacherReplyModel/) as unknown }),
      ]);
  });

  it('follow the teacher, its targets file and the optimiser', () => {
    const unused = (o: Parameters<typeof trainOptionUses>[0]) =>
      trainOptionUses(o)
        .filter((u) => !u.applies)
        .map((u) => u.key);
    expect(unused({ teacher: 'import', teacherSource: 'a.npy' })).toEqual([
      'teacherModel',
      'teacherReplyModel',
      'teacherTimeoutMs',
      'teacherRetries',
      'teacherConcurrency',
    ]);
    expect(unused({ teacher: 'http', teacherSource: 'http://h', optimizer: 'adam' })).toEqual([
      'teacherKeys',
      'momentum',
    ]);
  });
});
