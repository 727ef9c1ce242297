import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, createRng, DataFormatError, parseOptions, type Tensor2D } from '@vlfer/core';
import { RunDirectory, saveCheckpoint } from '@vlfer/core/node';
import { createProjectionHead } from '@vlfer/projection-head';
import { describe, expect, it } from 'vitest';
import { TrainOptionsSchema, type TrainOptionsInput } from './options.js';
import {
  checkTrainingData,
  readTrainCheckpoint,
  resolveTeacher,
  selectTrainingFaces,
  selectTrainStart,
  trainingFingerprints,
  trainLoopSteps,
  trainMetrics,
  trainProjectionHead,
  type StepLog,
  type TrainFiles,
} from './train.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-train-stages-'));
const teacherFile = join(work, 'targets.jsonl');
writeFileSync(teacherFile, '');
const opts = (o: Partial<TrainOptionsInput> = {}) =>
  parseOptions(
    TrainOptionsSchema,
    {
      unlabelled: work,
      model: 'm',
      teacher: 'import',
      teacherSource: teacherFile,
      out: join(work, 'out'),
      outputDim: 3,
      batch: 2,
      ...o,
    },
    'test',
  );
const t2 = (rows: number[][]): Tensor2D => ({
  dtype: 'float32',
  data: Float32Array.from(rows.flat()),
  dims: [rows.length, rows[0]!.length],
});
const data = {
  paths: ['a.png', 'b.png', 'c.png', 'd.png', 'e.png'],
  keys: ['ka', 'kb', 'kc', 'kd', 'ke'],
  features: t2([
    [1, 0],
    [0, 1],
    [1, 1],
    [2, 0],
    [0, 2],
  ]),
  targets: t2([
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
    [1, 1, 0],
    [0, 1, 1],
  ]),
  modelFingerprint: 'model-fp',
};

describe('training stages', () => {
  it('trainLoopSteps: ⌊N / batch⌋ steps; mismatched targets, head or a batch larger than N are refused by name', () => {
    const head = createProjectionHead({ inputDim: 2, outputDim: 3, rng: createRng(0) });
    expect(trainLoopSteps({ features: data.features, targets: data.targets, head, batch: 2 })).toBe(2);
    const fail = (o: Partial<Parameters<typeof trainLoopSteps>[0]>) => () =>
      trainLoopSteps({ features: data.features, targets: data.targets, head, batch: 2, ...o });
    expect(fail({ targets: t2([[1, 2, 3]]) })).toThrow(/'targets'.*has 1 rows, features have 5/);
    expect(fail({ head: createProjectionHead({ inputDim: 2, outputDim: 4, rng: createRng(0) }) })).toThrow(
      /'head'.*is 2→4 but features are 2-d and targets 3-d/,
    );
    expect(fail({ batch: 6 })).toThrow(/'batch'.*6 is larger than the 5 training images/);
  });

  it("resolveTeacher: 'import' reads the file; 'http' needs teacherModel", () => {
    expect(resolveTeacher(opts()).source).toContain(teacherFile);
    expect(() => resolveTeacher(opts({ teacher: 'http', teacherSource: 'http://localhost:1' }))).toThrow(
      /'teacherModel'.*is required with teacher 'http'/,
    );
  });

  it('selectTrainingFaces without a cropper trains on the images themselves', async () => {
    expect(await selectTrainingFaces(['x.png'], undefined)).toEqual({ items: ['x.png'], crops: [] });
  });

  it('trainingFingerprints: the image count and SHA-256 of keys, features and targets; any change shows', () => {
    const f = trainingFingerprints(data);
    expect(f.images).toBe(5);
    expect(f.modelFingerprint).toBe('model-fp');
    expect(f.imagesFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(trainingFingerprints(data)).toEqual(f);
    const targets = t2([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
      [1, 1, 0],
      [0, 1, 2],
    ]);
    const g = trainingFingerprints({ ...data, targets });
    expect(g.targetsFingerprint).not.toBe(f.targetsFingerprint);
    expect(g.featuresFingerprint).toBe(f.featuresFingerprint);
  });

  it('checkTrainingData: a constant teacher is a logged warning; a batch larger than the images is refused', () => {
    const lines: string[] = [];
    expect(checkTrainingData({ batch: 2 }, data, { source: 't' }, (l) => lines.push(l))).toEqual([]);
    const constant = t2(data.paths.map(() => [0.5, 0.5, 0.5]));
    const w = checkTrainingData({ batch: 2 }, { ...data, targets: constant }, { source: 't' }, (l) => lines.push(l));
    expect(w).toHaveLength(1);
    expect(lines).toEqual([`warning: ${w[0]}`]);
    expect(() => checkTrainingData({ batch: 8 }, data, { source: 't' }, () => undefined)).toThrow(
      /'batch'.*8 is larger than the 5 training images/,
    );
  });

  it('readTrainCheckpoint: none → undefined; other options and invalid metadata are refused by name', () => {
    const path = join(work, 'ck.safetensors');
    expect(readTrainCheckpoint(path, 'a'.repeat(64))).toBeUndefined();
    const meta = { trainingKey: 'a'.repeat(64), epoch: 1, step: 0, ...trainingFingerprints(data) };
    const tensors = { weight: { dims: [3, 2], data: new Float32Array(6) } };
    saveCheckpoint(path, { tensors, meta });
    expect(readTrainCheckpoint(path, 'a'.repeat(64))?.meta).toEqual(meta);
    expect(() => readTrainCheckpoint(path, 'b'.repeat(64))).toThrow(/was written with other training options/);
    // with the fields recorded, the refusal names what changed
    saveCheckpoint(path, { tensors, meta: { ...meta, training: { lr: 0.001, batch: 512 } } });
    expect(() => readTrainCheckpoint(path, 'b'.repeat(64), { lr: 0.001, batch: 512, milestones: [2, 4] })).toThrow(
      /other training options \(milestones \(\[30\] then, \[2,4\] now\)\)/,
    );
    // the default schedule (left out of the fields) is named by its value, on either side
    expect(() => readTrainCheckpoint(path, 'b'.repeat(64), { lr: 0.001, batch: 512, milestones: [] })).toThrow(
      /other training options \(milestones \(\[30\] then, \[\] now\)\)/,
    );
    saveCheckpoint(path, { tensors, meta });
    saveCheckpoint(path, { tensors, meta: { ...meta, epoch: -1 } });
    const err = (() => {
      try {
        readTrainCheckpoint(path, 'a'.repeat(64));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as DataFormatError).message).toMatch(/epoch/);
  });

  it('selectTrainStart: a fresh seeded head and an empty log; a resume cuts the log back; changed data is named', () => {
    const o = opts({ out: join(work, 'run') });
    const run = RunDirectory.open(o.out, { command: 'test' });
    try {
      const files: TrainFiles = {
        run,
        checkpointPath: run.path('checkpoint.safetensors'),
        logPath: run.path('train-log.jsonl'),
        trainingKey: 'a'.repeat(64),
      };
      const fp = trainingFingerprints(data);
      const fresh = selectTrainStart(o, data.features, fp, undefined, files, () => undefined);
      expect(fresh.resumedFrom).toBeNull();
      expect(Array.from(fresh.head.weight)).toEqual(
        Array.from(createProjectionHead({ inputDim: 2, outputDim: 3, rng: createRng(o.seed) }).weight),
      );
      expect(readFileSync(files.logPath, 'utf8')).toBe('');
      const step = (globalStep: number): StepLog => ({
        epoch: 0,
        step: globalStep,
        globalStep,
        loss: 1,
        accuracy: 0,
        lr: 0.1,
      });
      writeFileSync(files.logPath, [0, 1, 2].map((g) => `${JSON.stringify(step(g))}\n`).join(''));
      const weight = { dims: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
      const ck = { meta: { trainingKey: files.trainingKey, epoch: 0, step: 1, ...fp }, tensors: { weight } };
      const lines: string[] = [];
      const resumed = selectTrainStart(o, data.features, fp, ck, files, (l) => lines.push(l));
      expect(resumed.resumedFrom).toEqual({ epoch: 0, step: 1 });
      expect(Array.from(resumed.head.weight)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(readFileSync(files.logPath, 'utf8')).toBe(`${JSON.stringify(step(0))}\n`);
      expect(lines).toEqual([`resuming from ${files.checkpointPath}: epoch 1, step 2`]);
      const other = { ...ck, meta: { ...ck.meta, targetsFingerprint: 'x' } };
      expect(() => selectTrainStart(o, data.features, fp, other, files, () => undefined)).toThrow(
        /trained on other data: the teacher targets changed since/,
      );
      const wrong = { ...ck, tensors: { weight: { dims: [2, 2], data: new Float32Array(4) } } };
      expect(() => selectTrainStart(o, data.features, fp, wrong, files, () => undefined)).toThrow(/expected \[3, 2\]/);
    } finally {
      run.close();
    }
  });

  it('trainProjectionHead refuses settings trainHead refuses, and a signal fired before the call trains nothing', async () => {
    const features = t2(Array.from({ length: 8 }, (_, i) => [Math.sin(i + 1), Math.cos(2 * i + 1)]));
    const targets = t2(Array.from({ length: 8 }, (_, i) => [Math.sin(3 * i), Math.cos(i), Math.sin(i + 0.5)]));
    const head = createProjectionHead({ inputDim: 2, outputDim: 3, rng: createRng(7) });
    const before = Array.from(head.weight);
    const base = {
      ...{ features, targets, head, epochs: 2, batch: 4, optimizer: 'sgd' as const, seed: 1 },
      ...{ lr: 0.1, momentum: 0.9, weightDecay: 0 },
    };
    for (const [bad, message] of [
      [{ epochs: -1 }, /'epochs'.*expected an integer ≥ 0, got -1/],
      [{ epochs: 2.5 }, /'epochs'.*expected an integer ≥ 0, got 2\.5/],
      [{ batch: 0 }, /'batch'.*expected a positive integer, got 0/],
      [{ batch: 2.5 }, /'batch'.*expected a positive integer, got 2\.5/],
      [{ momentum: 5 }, /'momentum'.*≤ 1, got 5/],
      [{ lr: 0 }, /'lr'.*> 0, got 0/],
      [{ start: { epoch: -1, step: 0 } }, /'start\.epoch'/],
    ] as const)
      await expect(trainProjectionHead({ ...base, ...bad }), JSON.stringify(bad)).rejects.toThrow(message);
    const fired = new AbortController();
    fired.abort();
    await expect(trainProjectionHead({ ...base, signal: fired.signal })).rejects.toThrow(AbortedError);
    expect(Array.from(head.weight)).toEqual(before);
    // one loop per head at a time (two at once gave weights of neither order); the first completes
    const first = trainProjectionHead(base);
    await expect(trainProjectionHead(base)).rejects.toThrow(/this head is being trained by another call/);
    await expect(first).resolves.toBe('completed');
    await expect(trainProjectionHead({ ...base, epochs: 0 })).resolves.toBe('completed');
  });

  it('trainProjectionHead steps the rate at the milestones (MultiStepLR, γ 0.1), also when resumed at an epoch', async () => {
    const features = t2(Array.from({ length: 8 }, (_, i) => [Math.sin(i + 1), Math.cos(2 * i + 1)]));
    const targets = t2(Array.from({ length: 8 }, (_, i) => [Math.sin(3 * i), Math.cos(i), Math.sin(i + 0.5)]));
    const train = async (lr: number, milestones: number[], extra: object = {}, init?: number[]) => {
      const head = createProjectionHead({ inputDim: 2, outputDim: 3, rng: createRng(7) });
      if (init) head.weight.set(init);
      const logs: StepLog[] = [];
      const base = { features, targets, head, epochs: 3, batch: 4, optimizer: 'sgd' as const, seed: 1 };
      await trainProjectionHead({
        ...base,
        lr,
        milestones,
        momentum: 0.9,
        weightDecay: 1e-4,
        onStep: (l) => logs.push(l),
        ...extra,
      });
      return { weight: Array.from(head.weight), rates: logs.map((l) => l.lr) };
    };
    const stepped = await train(0.5, [1, 2]);
    expect(stepped.rates).toEqual([0.5, 0.5, 0.05, 0.05, 0.005000000000000001, 0.005000000000000001]);
    const constant = await train(0.5, []);
    expect(constant.rates.every((r) => r === 0.5)).toBe(true);
    expect(stepped.weight).not.toEqual(constant.weight);
    // a milestone at epoch 0 is the tenth of the rate from the start
    expect((await train(0.5, [0])).weight).toEqual((await train(0.05, [])).weight);
    // resumed at epoch 1 from the state there, the run takes epoch 1's rate, not the base rate
    let at1: Parameters<NonNullable<Parameters<typeof trainProjectionHead>[0]['onCheckpoint']>>[0] | undefined;
    const first = await train(0.5, [1, 2], {
      epochs: 1,
      onCheckpoint: (c: NonNullable<typeof at1>) => (at1 = c),
    });
    const start = { epoch: 1, step: 0, optimizerState: at1!.optimizerState };
    const resumed = await train(0.5, [1, 2], { start }, first.weight);
    expect(resumed.rates).toEqual(stepped.rates.slice(2));
    expect(resumed.weight).toEqual(stepped.weight);
    // a finite loss whose update overflowed the weights: stopped before a checkpoint or the head holds them
    let saved = 0;
    await expect(
      train(
        1e37,
        [],
        { epochs: 1, batch: 8, momentum: 0, onCheckpoint: () => saved++ },
        [1e-20, 2e-20, -1e-20, 1e-20, 3e-20, -2e-20],
      ),
    ).rejects.toThrow(
      /'lr' passed to 'trainProjectionHead': the head's weight \d+ became -?Infinity at epoch 1, step 1/,
    );
    expect(saved).toBe(0);
  });

  it('trainMetrics: steps per epoch, first/last loss and the mean accuracy of the last epoch', () => {
    const log: StepLog[] = [
      { epoch: 0, step: 0, globalStep: 0, loss: 3, accuracy: 0, lr: 1 },
      { epoch: 1, step: 0, globalStep: 2, loss: 2, accuracy: 0.5, lr: 1 },
      { epoch: 1, step: 1, globalStep: 3, loss: 1, accuracy: 1, lr: 1 },
    ];
    const m = trainMetrics({ epochs: 2, batch: 2 }, log, ['w'], trainingFingerprints(data));
    expect(m).toMatchObject({ epochs: 2, stepsPerEpoch: 2, firstLoss: 3, lastLoss: 1, lastEpochAccuracy: 0.75 });
    expect(m.warnings).toEqual(['w']);
  });
});
