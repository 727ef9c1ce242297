import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { optionDocProblems } from '@vlfer/test-utils/option-docs';
import { OptionsError } from '@vlfer/core';
import { trainHesp } from './train.js';
import { HespOptionsSchema, type HespFacesOptionsInput, type HespOptionsInput } from './options.js';

// Compile-time checks, run by `pnpm typecheck` (`tsc --noEmit -p .` includes this file): the documented interfaces
// and zod's input types agree (same keys, each assignable to the other), and wrong values do not compile.
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Agree<A, B> = [A] extends [B] ? ([B] extends [A] ? SameKeys<A, B> : false) : false;
export const hespAgrees: Agree<z.input<typeof HespOptionsSchema>, HespOptionsInput> = true;
export const hespFacesAgree: Agree<
  NonNullable<z.input<typeof HespOptionsSchema>['faces']>,
  HespFacesOptionsInput
> = true;

type HespInput = Parameters<typeof trainHesp>[0];
const base = { trainAnnotations: 't', testAnnotations: 'e', model: 'm', out: 'o', splitIndex: 0 } as const;
export const compileErrors: HespInput[] = [
  // @ts-expect-error a dataset HESP has no splits for
  { ...base, dataset: 'fer2013' },
  // @ts-expect-error a misspelt option (`valFraction`)
  { ...base, dataset: 'mafw', valfraction: 0.1 },
  // @ts-expect-error clips without a face cannot be skipped
  { ...base, dataset: 'dfew', faces: { noFace: 'skip' } },
];

const file = fileURLToPath(new URL('./options.ts', import.meta.url));

describe('option interfaces and their zod schemas', () => {
  it('HespOptionsInput documents every field, with the schema defaults', () => {
    expect(optionDocProblems(file, 'HespOptionsInput', HespOptionsSchema)).toEqual([]);
  });
  it("HespFacesOptionsInput's own field has the schema default", () => {
    const faces = HespOptionsSchema.shape.faces.unwrap();
    const problems = optionDocProblems(file, 'HespFacesOptionsInput', faces);
    // the inherited fields are documented (and checked) in @vlfer/faces
    expect(problems.filter((p) => !p.endsWith('not in HespFacesOptionsInput'))).toEqual([]);
  });
});

describe('option values', () => {
  it('patchSize: even, inside the frame (an odd one diverged at step 1 and was blamed on the learning rate)', () => {
    const o = { ...base, dataset: 'mafw' as const };
    expect(HespOptionsSchema.parse({ ...o, patchSize: 2 }).patchSize).toBe(2);
    expect(HespOptionsSchema.parse(o).patchSize).toBe(56);
    for (const patchSize of [1, 57, 224, 1000]) {
      const r = HespOptionsSchema.safeParse({ ...o, patchSize });
      expect(r.success, String(patchSize)).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['patchSize']);
      expect(r.error?.issues[0]?.message).toMatch(/expected an even number of pixels from 2 to 222/);
    }
  });
  it('logitScale: within the range float32 logits take (1e-44 made the clip-msp baseline predict by ties)', () => {
    const o = { ...base, dataset: 'mafw' as const };
    expect(HespOptionsSchema.parse({ ...o, logitScale: 1e30 }).logitScale).toBe(1e30);
    for (const logitScale of [0, 1e-44, 1e39]) {
      const r = HespOptionsSchema.safeParse({ ...o, logitScale });
      expect(r.error?.issues[0]?.path).toEqual(['logitScale']);
      expect(r.error?.issues[0]?.message).toMatch(/expected a number from 1e-30 to 1e\+30/);
    }
  });
});

describe('options a run would not use', () => {
  it('selectionMetrics other than the default is refused without selectOn test, before any file is read', async () => {
    const o = { ...base, dataset: 'afew', trainAnnotations: '/nonexistent/t.txt' } as const;
    const issues = async (x: HespInput) => {
      const e: unknown = await trainHesp(x).catch((err: unknown) => err);
      return e instanceof OptionsError ? e.issues : String(e);
    };
    expect(await issues({ ...o, selectionMetrics: 'standard' })).toEqual([
      {
        path: 'selectionMetrics',
        message:
          'drives selection on the test split (selectOn \'test\'); selection on the validation part is by closed-set accuracy; got "standard"',
      },
    ]);
    // the default, or with selectOn 'test': past this check the missing list is what is refused
    expect(await issues({ ...o, selectionMetrics: 'arpl' })).toMatch(/nonexistent/);
    expect(await issues({ ...o, selectionMetrics: 'standard', selectOn: 'test' })).toMatch(/nonexistent/);
  });
});
