import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { optionDocProblems } from '@vlfer/test-utils/option-docs';
import { FacesOptionsSchema, type FacesOptionsInput } from './options.js';

// Compile-time checks, run by `pnpm typecheck` (`tsc --noEmit -p .` includes this file).
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Agree<A, B> = [A] extends [B] ? ([B] extends [A] ? SameKeys<A, B> : false) : false;
export const facesAgree: Agree<z.input<typeof FacesOptionsSchema>, FacesOptionsInput> = true;
export const compileErrors: FacesOptionsInput[] = [
  // @ts-expect-error a selection that does not exist
  { selection: 'biggest' },
  // @ts-expect-error a misspelt option (`scoreThreshold`)
  { threshold: 0.5 },
];

describe('option interfaces and their zod schemas', () => {
  it('FacesOptionsInput documents every field, with the schema defaults', () => {
    const file = fileURLToPath(new URL('./options.ts', import.meta.url));
    expect(optionDocProblems(file, 'FacesOptionsInput', FacesOptionsSchema)).toEqual([]);
  });
});
