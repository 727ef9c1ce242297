import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, InvalidArgumentError, OptionsError } from '@vlfer/core';
import { sharedPath, copyWritable } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { splitStratified } from '@vlfer/probes';
import type { z } from 'zod';
import { runClosedSetBaseline, type ClosedSetRunOptions, type LabelledImages } from './closed-set-run.js';
import type { ClosedSetRunOptionsSchema } from './options.js';

// compile-time check (`pnpm typecheck`): the documented options and the schema's input agree, key for key
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
export const runOptionsAgree: SameKeys<z.input<typeof ClosedSetRunOptionsSchema>, ClosedSetRunOptions> = true;
export const partsAgree: SameKeys<z.input<typeof ClosedSetRunOptionsSchema>['test'], LabelledImages> = true;

const model = sharedPath('fixtures', 'tiny-clip');
const root = sharedPath('data', 'fer2013-privatetest');
const classNames = readdirSync(root).sort();
// 10 FER2013 images per class, split 30/20/50 % (3 train, 2 validation, 5 test per class)
const all = classNames.flatMap((c, y) =>
  readdirSync(join(root, c))
    .sort()
    .slice(0, 10)
    .map((f) => ({ id: `${c}/${f}`, label: y })),
);
const split = splitStratified(
  all.map((i) => i.id),
  all.map((i) => i.label),
  { seed: 0 },
);
const part = (idx: number[]): LabelledImages => ({
  ids: idx.map((i) => all[i]!.id),
  paths: idx.map((i) => join(root, all[i]!.id)),
  labels: idx.map((i) => all[i]!.label),
});
const parts = { train: part(split.train), validation: part(split.validation), test: part(split.test) };
const prompts = classNames.map((c) => [`a photo of a ${c} face.`, `a ${c} facial expression.`]);
const base = { model, classNames, prompts, ...parts };

describe('runClosedSetBaseline on tiny-clip + FER2013', () => {
  it('runs every method on the same test items; the feature cache serves a second run without encoding', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'vlfer-probes-cache-'));
    const phases = new Set<string>();
    const first = await runClosedSetBaseline(
      { ...base, method: 'linear-probe', cacheDir },
      { onProgress: (e) => phases.add(e.phase) },
    );
    expect([...phases]).toEqual(['hash', 'encode train', 'encode validation', 'encode test', 'fit']);
    expect(first.counts).toEqual({ images: 70, cached: 0, encoded: 70 });
    expect(first.fit.sweep!.evaluated.length).toBeGreaterThan(7);
    for (const [method, shots] of [
      ['zero-shot', undefined],
      ['few-shot-probe', 2],
      ['tip-adapter', 1],
    ] as const) {
      const r = await runClosedSetBaseline({ ...base, method, ...(shots ? { shots } : {}), seed: 1, cacheDir });
      expect(r.ids).toEqual(parts.test.ids);
      expect(r.labels).toEqual(parts.test.labels);
      expect(r.predicted).toHaveLength(35);
      expect(r.predicted.every((p) => Number.isInteger(p) && p >= 0 && p < 7)).toBe(true);
      expect(r.counts.encoded).toBe(0);
      expect(r.datasetFingerprint).toBe(first.datasetFingerprint);
      expect(r.modelFingerprint).toBe(first.modelFingerprint);
      expect(r.shots).toBe(shots ?? null);
      if (shots) expect(r.fit.shotIndices).toHaveLength(7 * shots);
    }
  }, 120_000);

  it('names a missing part, a label outside the classes and a missing shot count before loading the model', async () => {
    const { validation: _, ...noValidation } = base;
    await expect(runClosedSetBaseline({ ...noValidation, method: 'linear-probe' })).rejects.toThrow(
      /validation.*linear-probe needs the validation part/,
    );
    await expect(
      runClosedSetBaseline({
        ...base,
        method: 'zero-shot',
        test: { ...parts.test, labels: parts.test.labels.map(() => 7) },
      }),
    ).rejects.toThrow(/item 'angry\/.*' has label 7; expected a class id in \[0, 7\)/);
    // content keys that are no SHA-256 (a raw RangeError of the feature cache, or a fingerprint of nothing)
    await expect(
      runClosedSetBaseline({
        ...base,
        method: 'zero-shot',
        test: { ...parts.test, keys: parts.test.paths.map(() => 'x') },
      }),
    ).rejects.toThrow(
      /'test' passed to 'runClosedSetBaseline': keys\[0\] is "x"; expected the SHA-256 of '.*' in lowercase hex/,
    );
    await expect(runClosedSetBaseline({ ...base, method: 'zero-shot' }, { onProgress: 1 as never })).rejects.toThrow(
      /'onProgress' passed to 'runClosedSetBaseline': expected a function/,
    );
    await expect(runClosedSetBaseline({ ...base, method: 'tip-adapter' })).rejects.toThrow(InvalidArgumentError);
    await expect(runClosedSetBaseline({ ...base, method: 'tip-adapter' })).rejects.toThrow(/shots/);
    // int8 has its accuracy guard in exp-clip eval only: refused here rather than run unchecked
    await expect(runClosedSetBaseline({ ...base, method: 'zero-shot', dtype: 'int8' })).rejects.toThrow(
      /dtype.*'int8' features are checked by a guard only in exp-clip eval/,
    );
  });

  it('names an unknown, misspelt or out-of-range option before loading the model (it was ignored or failed inside)', async () => {
    const run = (extra: Record<string, unknown>) =>
      runClosedSetBaseline({ ...base, method: 'tip-adapter', shots: 2, ...extra } as never);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ shot: 3 }, /\(options\): Unrecognized key: "shot"/],
      [{ tipAdapter: { gamma: 3 } }, /tipAdapter: Unrecognized key: "gamma"/],
      [{ tipAdapter: { alpha: NaN } }, /tipAdapter\.alpha: .*expected number, received NaN/],
      [{ tipAdapter: { beta: -1 } }, /tipAdapter\.beta: expected a number ≥ 0, got -1/],
      [{ threads: 0 }, /^[^]*invalid options:\n  threads: must be a positive integer, got 0$/],
      [{ batchSize: 0 }, /batchSize: expected a number > 0, got 0/],
      [{ preprocess: 'bogus' }, /preprocess: .*"clip"\|"exp-clip"\|"openai"/],
      [{ device: 'cuda' }, /device: .*"cpu"\|"webgpu"/],
      [{ seed: NaN }, /seed: .*expected number, received NaN/],
      [{ seed: 1.5 }, /seed: .*expected int, received number/],
      [{ classNames: [...base.classNames.slice(0, -1), base.classNames[0]] }, /classNames: names 'angry' twice/],
    ];
    for (const [extra, message] of cases) {
      const error: unknown = await run(extra).catch((e: unknown) => e);
      expect(error, JSON.stringify(extra)).toBeInstanceOf(OptionsError);
      expect((error as Error).message, JSON.stringify(extra)).toMatch(message);
    }
    for (const [extra, message] of cases) await expect(run(extra), JSON.stringify(extra)).rejects.toThrow(message);
  });

  it('refuses a train or validation part holding copies of test images (same bytes, other path) before loading the model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-copies-'));
    const copies = parts.test.paths.slice(0, 3).map((p, i) => {
      const to = join(dir, `copy-${i}.jpg`);
      copyWritable(p, to);
      return to;
    });
    const withCopies = (p: LabelledImages): LabelledImages => ({
      ids: [...p.ids, ...copies.map((c) => `copies/${c}`)],
      paths: [...p.paths, ...copies],
      labels: [...p.labels, ...parts.test.labels.slice(0, 3)],
    });
    const missingModel = join(dir, 'no-such-model'); // never reached: the check comes first
    await expect(
      runClosedSetBaseline({ ...base, model: missingModel, method: 'linear-probe', train: withCopies(parts.train) }),
    ).rejects.toThrow(
      new RegExp(
        `'train' .*: 3 image\\(s\\) \\(train 3\\) share their content \\(SHA-256\\) with test images, e\\.g\\. '${copies[0]}' is a copy of test image '${parts.test.paths[0]}'`,
      ),
    );
    await expect(
      runClosedSetBaseline({
        ...base,
        model: missingModel,
        method: 'few-shot-probe',
        shots: 1,
        validation: withCopies(parts.validation),
      }),
    ).rejects.toThrow(/'validation' .*: 3 image\(s\) \(validation 3\) share their content/);
    // caller-given keys are used as they are (no second hash): equal keys are refused, distinct ones pass the check
    const keyed = (p: LabelledImages, k: string) => ({
      ...p,
      keys: p.paths.map((_, i) => `${k}${i}`.padStart(64, '0')),
    });
    await expect(
      runClosedSetBaseline({
        ...base,
        model: missingModel,
        method: 'linear-probe',
        train: keyed(parts.train, 'a'),
        validation: keyed(parts.validation, 'b'),
        test: keyed(parts.test, 'a'),
      }),
    ).rejects.toThrow(/'train' .*: 21 image\(s\) \(train 21\) share their content/);
  });

  it('stops on an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(runClosedSetBaseline({ ...base, method: 'zero-shot' }, { signal: ac.signal })).rejects.toThrow(
      AbortedError,
    );
    // before: every image of the parts was hashed in one synchronous pass (minutes on AffectNet) before any check
    const hashing = new AbortController();
    const seen: number[] = [];
    const run = runClosedSetBaseline(
      { ...base, method: 'linear-probe' },
      {
        signal: hashing.signal,
        onProgress: (e) => {
          expect([e.phase, e.unit, e.total]).toEqual(['hash', 'images', 70]);
          seen.push(e.done);
          if (e.done === 3) hashing.abort();
        },
      },
    );
    await expect(run).rejects.toThrow('hashing the images was aborted');
    expect(seen).toEqual([1, 2, 3]);
  }, 60_000);
});

describe('a few-shot method with a class short of train images', () => {
  it('is refused before the model loads, naming the class, its image count and what the shot count needs', async () => {
    // class 1 keeps one of its 3 train images; the model path does not exist, so only the options check can answer
    const drop = new Set(parts.train.labels.flatMap((y, i) => (y === 1 ? [i] : [])).slice(1));
    const keep = (xs: readonly (string | number)[]) => xs.filter((_, i) => !drop.has(i));
    const train = {
      ids: keep(parts.train.ids) as string[],
      paths: keep(parts.train.paths) as string[],
      labels: keep(parts.train.labels) as number[],
    };
    const run = (shots: number) =>
      runClosedSetBaseline({ ...base, train, model: '/nonexistent/clip', method: 'few-shot-probe', shots });
    await expect(run(2)).rejects.toThrow(
      `few-shot-probe with 2 shots needs 2 train images of every class, but class '${classNames[1]}' (id 1) has 1 train image(s); use at most 1 shots or add images to that class`,
    );
    await expect(run(4)).rejects.toThrow(
      new RegExp(`with 4 shots needs 4 train images of every class, but class '${classNames[0]}' \\(id 0\\) has 3`),
    );
    await expect(run(4)).rejects.not.toThrow(/selectFewShot/);
  });
});
