import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortedError,
  createRng,
  DataFormatError,
  InvalidArgumentError,
  runStepsSync,
  type ProgressEvent,
} from '@vlfer/core';
import { fingerprintFiles, loadCheckpoint, RunDirectory, saveCheckpoint, verifyRunOutputs } from '@vlfer/core/node';
import { segmentCentreIndices, tsnTrainIndices } from '@vlfer/datasets';
import { listFrames } from '@vlfer/datasets/node';
import { clipContentFingerprints, configureModels } from '@vlfer/encoders/node';
import type { OpenSetReport } from '@vlfer/metrics';
import { sharedPath, writeSyntheticVideoSet, copyWritable } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildHespModel,
  clipFrameReader,
  evaluateHespRun,
  hespDataFingerprintForms,
  hespDataSteps,
  fingerprintHespData,
  hespDataFingerprints,
  encodeOpenSetSplit,
  evaluateHespEpoch,
  finishedHespRun,
  hespEpochLine,
  hespDatasetFingerprint,
  hespEpochOrder,
  hespLabelSet,
  hespStreamSeed,
  HESP_RNG_STREAMS,
  hespMetricsJson,
  hespRunKey,
  hespRunClasses,
  hespRunFields,
  hespRunPaths,
  hespRunScores,
  hespScoresCsv,
  hespStepsPerEpoch,
  hespTrainBatch,
  loadHespBest,
  loadHespData,
  missingClassWarnings,
  shortClipWarnings,
  planHespRun,
  publishHespRun,
  readHespCheckpoint,
  readHespRunConfig,
  hespRunOptions,
  readHespRunFingerprints,
  refuseDivergedStep,
  resolvedHespConfig,
  saveHespBest,
  saveHespCheckpoint,
  selectHespEpoch,
  splitValidation,
  startHespTraining,
  trainHesp,
  trainHespEpoch,
  truncateHespLogs,
  type EpochRecord,
  type HespCheckpointMeta,
  type HespData,
  type HespTrainContext,
} from './index.js';
import { HespOptionsSchema, type HespOptions } from './options.js';
import { knownClassTexts } from '@vlfer/open-set';

// The stages of trainHesp and evaluateHespRun, each on its own; the last test composes them by hand and checks that
// they publish the same bytes as trainHesp.
const work = mkdtempSync(join(tmpdir(), 'vlfer-hesp-stages-'));
const model = sharedPath('fixtures', 'tiny-clip');

beforeAll(async () => {
  await writeSyntheticVideoSet(work, {
    trainClasses: [0, 1, 2],
    testClasses: [0, 1, 2, 3],
    trainPerClass: 4,
    testPerClass: 2,
    trainFrames: 4,
    testFrames: 4,
  });
}, 120_000);

const options = (extra: object = {}): HespOptions =>
  HespOptionsSchema.parse({
    dataset: 'afew',
    trainAnnotations: join(work, 'train.txt'),
    testAnnotations: join(work, 'test.txt'),
    root: work,
    known: [0, 1, 2],
    model,
    epochs: 1,
    batch: 4,
    frames: 2,
    nCtx: 2,
    logitScale: 14.28,
    seed: 0,
    valFraction: 0.2,
    out: join(work, 'out'),
    ...extra,
  });

const report = (closed: number, auroc: number, oscr: number): OpenSetReport => ({
  closedSetAccuracy: closed,
  standard: { auroc: auroc - 0.01, oscr: oscr - 0.01, tnrAtTpr95: 0.5 },
  arpl: { auroc, oscr, tnrAtTpr95: 0.25 },
  nKnown: 4,
  nUnknown: 2,
  ties: 0,
});

const record = (epoch: number, selected: boolean): EpochRecord => ({
  epoch,
  lr: 0.01,
  trainLoss: 1.5,
  val: { closedSetAccuracy: 0.5, n: 2 },
  test: { closed_set_accuracy: 0.25 },
  score: 0.5,
  selected,
});

describe('load stages', () => {
  it('hespLabelSet: the dataset default, and a split index needs the dataset-sized set', () => {
    expect(hespLabelSet(options()).labelSet.id).toBe('basic-7');
    expect(hespLabelSet(options()).reason).toMatch(/default/);
    expect(() => hespLabelSet(options({ classes: ['a', 'b', 'c'], known: undefined, splitIndex: 0 }))).toThrow(
      InvalidArgumentError,
    );
  });

  it('splitValidation: a seeded floor(fraction·n) share, the rest in list order', () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const a = splitValidation(items, 3, 0.35);
    expect(a.val.length).toBe(3);
    expect([...a.train, ...a.val].sort((x, y) => x - y)).toEqual(items);
    expect(a.train).toEqual([...a.train].sort((x, y) => x - y));
    expect(splitValidation(items, 3, 0.35)).toEqual(a);
    expect(splitValidation(items, 4, 0.35).val).not.toEqual(a.val);
    expect(splitValidation(items, 3, 0).val).toEqual([]);
    // the earlier streams (version 1): seed + 17, as vlfer drew before 2026-12-05
    const v1 = new Set(
      createRng(3 + 17)
        .shuffled(items)
        .slice(0, 3),
    );
    expect(splitValidation(items, 3, 0.35, 1).val).toEqual(items.filter((i) => v1.has(i)));
  });

  it('version 3 takes the training clips in their canonical order: a list with its lines reordered is the same run', async () => {
    const o = options({ epochs: 1, out: join(work, 'order-a') });
    const lines = readFileSync(o.trainAnnotations, 'utf8').trimEnd().split('\n');
    const reversed = join(work, 'train-reversed.txt');
    writeFileSync(reversed, `${[...lines].reverse().join('\n')}\n`);
    const r = { ...o, trainAnnotations: reversed, out: join(work, 'order-b') };
    const [a, b] = [loadHespData(o), loadHespData(r)];
    const dirs = (clips: readonly { frameDir: string }[]) => clips.map((c) => c.frameDir);
    expect(dirs(b.train)).toEqual(dirs(a.train));
    expect(dirs(b.val)).toEqual(dirs(a.val));
    expect(dirs(a.train)).toEqual([...dirs(a.train)].sort());
    // the earlier streams keep list order (runs started with them resume as they drew)
    const [a2, b2] = [loadHespData(o, 2), loadHespData(r, 2)];
    expect(dirs(b2.train)).not.toEqual(dirs(a2.train));
    expect(hespRunKey(o, a.labelSet.names, 2)).not.toBe(hespRunKey(o, a.labelSet.names, 3));
    // the same training, to the bytes of its logs and best state
    await trainHesp(o);
    await trainHesp(r);
    for (const f of ['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'])
      expect(readFileSync(join(r.out, f)).equals(readFileSync(join(o.out, f))), f).toBe(true);
  }, 120_000);

  it("hespStreamSeed: version 2's streams are unrelated; version 1's overlapped (kept for runs started with it)", () => {
    expect(HESP_RNG_STREAMS).toBe(3);
    for (const seed of [0, 1, 5])
      for (let k = 0; k < 30; k++) {
        // version 1: epoch 0 step k drew epoch k + 1's order, seed 0's validation part epoch 17's
        expect(hespStreamSeed(1, seed, 'batch', 0, k)).toBe(hespStreamSeed(1, seed, 'epoch-order', k + 1));
        expect(hespStreamSeed(2, seed, 'batch', 0, k)).not.toBe(hespStreamSeed(2, seed, 'epoch-order', k + 1));
        expect(hespStreamSeed(2, seed, 'validation')).not.toBe(hespStreamSeed(2, seed, 'epoch-order', k));
      }
    expect(hespStreamSeed(1, 0, 'validation')).toBe(hespStreamSeed(1, 0, 'epoch-order', 17));
    expect(hespStreamSeed(1, 2, 'batch', 3, 4)).toBe(2 * 1_000_003 + 3 * 100_003 + 4 + 1);
    expect(hespEpochOrder(2, 9, 3, 1)).toEqual(createRng(2 * 1_000_003 + 3).shuffled([0, 1, 2, 3, 4, 5, 6, 7, 8]));
  });

  it('loadHespData (and the baselines’ encodeOpenSetSplit) refuse a clip in both lists, naming both and the clip', async () => {
    const test = join(work, 'test.txt');
    const same = options({ trainAnnotations: test });
    const both = new RegExp(
      `the training list ${test} and the test list ${test} share 8 clips \\(first: ${join(work, 'frames', 'te_0_0')}\\)`,
    );
    expect(() => loadHespData(same)).toThrow(InvalidArgumentError);
    expect(() => loadHespData(same)).toThrow(both);
    // one test clip added to the training list, written another way (./…/): the same frame directory
    const train = join(work, 'train-leak.txt');
    writeFileSync(train, `${readFileSync(join(work, 'train.txt'), 'utf8')}./frames/te_1_1/ 4 1\n`);
    expect(() => loadHespData(options({ trainAnnotations: train }))).toThrow(
      new RegExp(`${train} and the test list ${test} share 1 clip \\(first: ${join(work, 'frames', 'te_1_1')}\\)`),
    );
    // a test clip reached through a symbolic link from the training list is that clip too
    symlinkSync(join(work, 'frames', 'te_1_1'), join(work, 'link-to-te_1_1'));
    writeFileSync(train, `${readFileSync(join(work, 'train.txt'), 'utf8')}link-to-te_1_1 4 1\n`);
    expect(() => loadHespData(options({ trainAnnotations: train }))).toThrow(
      new RegExp(`${train} and the test list ${test} share 1 clip \\(first: ${join(work, 'frames', 'te_1_1')}\\)`),
    );
    const input = {
      dataset: 'afew' as const,
      trainAnnotations: test,
      testAnnotations: test,
      root: work,
      known: [0, 1, 2],
      model,
    };
    await expect(encodeOpenSetSplit(input)).rejects.toThrow(both);
    expect(() => loadHespData(options())).not.toThrow(); // disjoint lists
  });

  it('missingClassWarnings names the class and the list of each part without clips', () => {
    const o = options();
    const { labelSet } = hespLabelSet(o);
    const split = { ...loadHespData(o).split, known: [0, 1] };
    const w = missingClassWarnings(
      o,
      labelSet,
      split,
      [{ originalLabel: 0 }],
      [{ originalLabel: 0 }, { originalLabel: 1 }],
    );
    expect(w).toEqual([
      `known class 1 (${labelSet.names[1]}) has no training clips in ${o.trainAnnotations}: only its name (the text prompt) represents it`,
    ]);
  });

  it('shortClipWarnings counts the clips that HESP samples as frame 0 repeated (test ≤ T frames, training < T)', () => {
    const clip = (numFrames: number) => ({ frameDir: 'd', numFrames, label: 0, line: 1 });
    const files = { train: 'train.txt', test: 'test.txt' };
    expect(shortClipWarnings(8, { train: [clip(8), clip(9)], test: [clip(9), clip(100)] }, files)).toEqual([]);
    expect(shortClipWarnings(8, { train: [clip(7), clip(8), clip(1)], test: [clip(8), clip(9)] }, files)).toEqual([
      "2 of the 3 training clips in train.txt have fewer than 8 frames: HESP's sampling (as its code) takes frame 0 for all 8 of them, so each is one still frame",
      "1 of the 2 test clips in test.txt have at most 8 frames: HESP's sampling (as its code) takes frame 0 for all 8 of them, so each is one still frame",
    ]);
    // what the samplers do at those counts
    expect(segmentCentreIndices(8, 8)).toEqual(new Array(8).fill(0));
    expect(tsnTrainIndices(8, 8, createRng(1))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(tsnTrainIndices(7, 8, createRng(1))).toEqual(new Array(8).fill(0));
  });

  it('fingerprinting the frames reports progress, stops at the signal within a clip, and equals the synchronous form', async () => {
    const o = options();
    const data = loadHespData(o);
    const events: ProgressEvent[] = [];
    const forms = await fingerprintHespData(o, data, { onProgress: (e) => events.push(e) });
    expect(forms).toEqual(hespDataFingerprintForms(o, data));
    const clips = new Set([...data.train, ...data.val, ...data.testKnown, ...data.testUnknown].map((c) => c.frameDir));
    expect(events.map((e) => [e.phase, e.done, e.total, e.unit])).toEqual(
      [...clips].map((_, i) => ['fingerprint', i + 1, clips.size, 'clips']),
    );
    // before: one synchronous pass over every frame (seconds to minutes on FERV39k), in which Ctrl-C was not seen
    const ac = new AbortController();
    const seen: number[] = [];
    const stopped = fingerprintHespData(o, data, {
      signal: ac.signal,
      onProgress: (e) => {
        seen.push(e.done);
        if (e.done === 2) ac.abort();
      },
    });
    await expect(stopped).rejects.toThrow(AbortedError);
    await expect(stopped).rejects.toThrow('fingerprinting the frames was aborted');
    expect(seen).toEqual([1, 2]);
    // a training run reports the phase and stops there, before the model is built
    const run = new AbortController();
    const phases: string[] = [];
    const training = trainHesp(
      { ...o, out: join(mkdtempSync(join(work, 'fp-')), 'run') },
      {
        signal: run.signal,
        onProgress: (e) => {
          phases.push(e.phase);
          if (e.phase === 'fingerprint') run.abort();
        },
      },
    );
    await expect(training).rejects.toThrow('fingerprinting the frames was aborted');
    expect(phases).toEqual(['fingerprint']);
    // the clip lists are read in steps too (a stat and a read of each frame folder), the same data
    expect(runStepsSync(hespDataSteps(o))).toEqual(data);
    const fired = AbortSignal.abort();
    await expect(trainHesp({ ...o, out: join(work, 'fp-never') }, { signal: fired })).rejects.toThrow(AbortedError);
  });
  it('planHespRun logs the split, derives the texts and a key; a replaced frame changes the frames fingerprint', async () => {
    const o = options();
    const data = loadHespData(o);
    const lines: string[] = [];
    const plan = await planHespRun(o, data, (l) => lines.push(l));
    expect(plan.texts.length).toBe(3);
    expect(plan.key).toBe(hespRunKey(o, data.labelSet.names));
    expect(lines[0]).toBe(`label set basic-7 (${data.labelSetReason})`);
    expect(lines[1]).toMatch(/^known .* \(openness 0\.\d{3}\); train \d+, val \d+, test 6 known \+ 2 unknown$/);
    const frame = listFrames(data.testUnknown[0]!.frameDir)[0]!;
    const bytes = readFileSync(frame);
    writeFileSync(frame, Buffer.concat([bytes, Buffer.of(0)]));
    try {
      const again = (await planHespRun(o, data, () => undefined)).fingerprints;
      expect(again.framesFingerprint).not.toBe(plan.fingerprints.framesFingerprint);
      expect(again.trainListFingerprint).toBe(plan.fingerprints.trainListFingerprint);
    } finally {
      writeFileSync(frame, bytes);
    }
  });
});

describe('resume stages', () => {
  it('hespRunKey ignores epochs, output, threads, checkpoint interval and device; not the lr or the class names', () => {
    const o = options();
    const k = hespRunKey(o, ['a', 'b']);
    expect(hespRunKey({ ...o, epochs: 9, out: '/elsewhere', threads: 2, checkpointEvery: 3 }, ['a', 'b'])).toBe(k);
    expect(hespRunKey({ ...o, lr: 0.02 }, ['a', 'b'])).not.toBe(k);
    expect(hespRunKey(o, ['a', 'c'])).not.toBe(k);
  });

  it('readHespCheckpoint: none → undefined; refuses other options, other data and bad metadata, naming them', () => {
    const o = options();
    const path = join(mkdtempSync(join(work, 'ck-')), 'checkpoint.safetensors');
    const fp = { trainListFingerprint: 't', testListFingerprint: 'u', framesFingerprint: 'f' };
    const data = loadHespData(o);
    expect(readHespCheckpoint(path, o, 'key', fp, data)).toBeUndefined();
    const meta: HespCheckpointMeta = {
      ...{ key: 'key', epoch: 1, step: 2, lossSum: 3.5, bestScore: null, location: { row: 100, col: 90 } },
      ...fp,
      modelFingerprint: 'm',
      ...hespRunClasses(data, o),
    };
    const state = {
      tensors: {
        ctx: Float32Array.of(1, 2),
        patch: Float32Array.of(3),
        negImages: Float32Array.of(4),
        radius: Float32Array.of(5),
      },
      optimizer: { step: 7, buffers: { ctx: Float32Array.of(0.5, 0.25) } },
    };
    saveHespCheckpoint(path, state, meta);
    const ck = readHespCheckpoint(path, o, 'key', fp, data)!;
    expect(ck.meta).toEqual(meta);
    expect(Array.from(ck.tensors['ctx']!)).toEqual([1, 2]);
    expect(ck.optimizer.step).toBe(7);
    expect(() => readHespCheckpoint(path, o, 'other', fp, data)).toThrow(/belongs to a run with other options/);
    // with the options recorded, the refusal names what changed
    saveHespCheckpoint(path, state, { ...meta, runOptions: hespRunFields({ ...o, lr: 0.02 }, data.labelSet.names) });
    expect(() => readHespCheckpoint(path, o, 'other', fp, data)).toThrow(
      /other options \(lr \(0\.02 then, 0\.01 now\)\)/,
    );
    // the known ids in another order are the same run (numbered in ascending order either way); other ids are not
    saveHespCheckpoint(path, state, {
      ...meta,
      key: hespRunKey(o, data.labelSet.names),
      runOptions: hespRunFields(o, data.labelSet.names),
    });
    const reordered = options({ known: [2, 0, 1] });
    const dataR = loadHespData(reordered);
    expect(dataR.train.map((c) => [c.frameDir, c.label])).toEqual(data.train.map((c) => [c.frameDir, c.label]));
    expect(readHespCheckpoint(path, reordered, hespRunKey(reordered, dataR.labelSet.names), fp, dataR)).toBeDefined();
    const other = options({ known: [0, 1, 3] });
    expect(() =>
      readHespCheckpoint(path, other, hespRunKey(other, data.labelSet.names), fp, loadHespData(other)),
    ).toThrow(/other options \(known \(\[0,1,2\] then, \[0,1,3\] now\)\)/);
    // an earlier vlfer's run given both classes and a label set (the classes won): resumed with the classes only
    const classes = [...data.labelSet.names];
    const both = { ...o, classes, labelSet: 'mafw-11' };
    const bothKey = hespRunKey(both, data.labelSet.names, 1);
    const bothMeta = { ...meta, key: bothKey, runOptions: hespRunFields(both, data.labelSet.names, 1) };
    saveHespCheckpoint(path, state, bothMeta);
    const classesOnly = { ...o, classes };
    const data1 = loadHespData(classesOnly, 1);
    expect(readHespCheckpoint(path, classesOnly, hespRunKey(classesOnly, classes), fp, data1)!.rngStreams).toBe(1);
    // without its recorded options the label set is unknown: refused as another run's
    saveHespCheckpoint(path, state, { ...bothMeta, runOptions: undefined });
    expect(() => readHespCheckpoint(path, classesOnly, 'k', fp, data1)).toThrow(/belongs to a run with other options/);
    saveHespCheckpoint(path, state, meta);
    expect(() => readHespCheckpoint(path, o, 'key', { ...fp, framesFingerprint: 'g' }, data)).toThrow(
      /was trained on other data: the video frames changed since/,
    );
    saveHespCheckpoint(path, state, { ...meta, step: -1 });
    expect(() => readHespCheckpoint(path, o, 'key', fp, data)).toThrow(DataFormatError);
    expect(() => readHespCheckpoint(path, o, 'key', fp, data)).toThrow(/step/);
    // trained on other classes: other known classes or numbering, or clips labelled otherwise
    const reference = options({ referenceBehaviour: { alphabeticalClassNames: true }, known: [1, 2] });
    const sadNeutral = loadHespData(options({ known: [1, 2] }));
    saveHespCheckpoint(path, state, { ...meta, ...hespRunClasses(sadNeutral, o) });
    expect(readHespCheckpoint(path, options({ known: [1, 2] }), 'key', fp, sadNeutral)).toBeDefined();
    expect(() => readHespCheckpoint(path, reference, 'key', fp, loadHespData(reference))).toThrow(
      /was trained with the known classes sadness, neutral \(in label order\); this run has neutral, sadness/,
    );
    saveHespCheckpoint(path, state, { ...meta, labelsFingerprint: 'f'.repeat(64) });
    expect(() => readHespCheckpoint(path, o, 'key', fp, data)).toThrow(/clips labelled otherwise/);
    // written before the classes were recorded: resumed where vlfer read them as it does now, refused elsewhere
    const { knownNames: _k, labelsFingerprint: _l, ...earlier } = meta;
    saveHespCheckpoint(path, state, earlier);
    expect(readHespCheckpoint(path, o, 'key', fp, data)).toBeDefined();
    expect(() => readHespCheckpoint(path, reference, 'key', fp, loadHespData(reference))).toThrow(
      /written by an earlier vlfer, before the classes .* --reference-class-order .* numbers the known labels otherwise now; resuming would mix them/,
    );
    const fer = options({ labelSet: 'fer2013-7-native', known: [3, 4] });
    expect(() => readHespCheckpoint(path, fer, 'key', fp, loadHespData(fer))).toThrow(
      /the label set fer2013-7-native \(anger, .*\) is not in DFER-CLIP's class order/,
    );
  });

  it('finishedHespRun: nothing to skip without a checkpoint or before the last epoch', () => {
    const run = RunDirectory.open(join(work, 'finished'), { command: 'test' });
    try {
      const o = options({ epochs: 2 });
      expect(finishedHespRun(run, o, undefined, () => undefined)).toBeUndefined();
      const meta = { epoch: 1 } as HespCheckpointMeta;
      const ck = { meta, tensors: {}, optimizer: { step: 0, buffers: {} }, rngStreams: HESP_RNG_STREAMS };
      expect(finishedHespRun(run, o, ck, () => undefined)).toBe(undefined);
    } finally {
      run.close();
    }
  });

  it('truncateHespLogs cuts the step log back to the checkpoint and returns the epochs up to it', () => {
    const dir = mkdtempSync(join(work, 'logs-'));
    const paths = { checkpoint: '', best: '', trainLog: join(dir, 't.jsonl'), epochs: join(dir, 'e.jsonl') };
    const steps = [1, 2].flatMap((epoch) => [1, 2, 3].map((step) => ({ epoch, step, lr: 0.01, total: epoch * step })));
    writeFileSync(paths.trainLog, steps.map((s) => JSON.stringify(s)).join('\n') + '\n{"epoch": 2, "st'); // torn tail
    writeFileSync(paths.epochs, [record(1, true), record(2, false)].map((e) => JSON.stringify(e) + '\n').join(''));
    const epochs = truncateHespLogs(paths, { epoch: 1, step: 2 });
    expect(epochs.map((e) => e.epoch)).toEqual([1]);
    const kept = readFileSync(paths.trainLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; step: number });
    expect(kept.map((r) => [r.epoch, r.step])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
      [2, 1],
      [2, 2],
    ]);
  });
});

describe('per-epoch stages', () => {
  it('hespEpochOrder: a seeded permutation per epoch', () => {
    const a = hespEpochOrder(0, 9, 0);
    expect([...a].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(hespEpochOrder(0, 9, 0)).toEqual(a);
    expect(hespEpochOrder(0, 9, 1)).not.toEqual(a);
    expect(hespEpochOrder(1, 9, 0)).not.toEqual(a);
  });

  it('selectHespEpoch: validation accuracy or test AUROC + OSCR; the first epoch is selected, ties keep the earlier', () => {
    const val = { closedSetAccuracy: 0.6, n: 5 };
    const o = options();
    expect(selectHespEpoch(o, null, val, report(0.1, 0.7, 0.5), 2)).toEqual({ score: 0.6, selected: true });
    expect(selectHespEpoch(o, 0.6, val, report(0.1, 0.7, 0.5), 2)).toEqual({ score: 0.6, selected: false });
    // no validation clips: every epoch is selected, so the last one is kept (loadHespData warns)
    expect(selectHespEpoch(o, 0.7, null, report(0.1, 0.7, 0.5), 2)).toEqual({ score: -2, selected: true });
    expect(loadHespData(options({ valFraction: 0 })).warnings.at(-1)).toMatch(
      /valFraction 0 of the \d+ known training clips holds out none: .* the last epoch is kept/,
    );
    expect(loadHespData(options({ valFraction: 0, selectOn: 'test' })).warnings).toEqual([]);
    const t = selectHespEpoch(options({ selectOn: 'test' }), 1, val, report(0.1, 0.7, 0.5), 2);
    expect(t.score).toBeCloseTo(1.2, 12);
    expect(t.selected).toBe(true);
    expect(
      selectHespEpoch(options({ selectOn: 'test', selectionMetrics: 'standard' }), null, val, report(0, 0.7, 0.5), 2)
        .score,
    ).toBeCloseTo(1.18, 12);
  });

  it('hespEpochLine prints percentages with two decimals and marks a selected epoch', () => {
    const rec = { ...record(2, true), trainLoss: 1.23456 };
    expect(hespEpochLine(options({ epochs: 3 }), rec, report(0.25, 0.5, 0.125))).toBe(
      'epoch 2/3 loss 1.2346 val acc 50.00 test acc 25.00 AUROC 50.00 (ARPL) / 49.00 (standard), OSCR 12.50 / 11.50 *',
    );
    expect(hespEpochLine(options(), { ...rec, val: null, selected: false }, report(0, 0, 0))).toMatch(
      /val acc - test acc 0\.00 .* OSCR 0\.00 \/ -1\.00$/,
    );
  });
});

describe('publish and evaluation stages', () => {
  it('resolvedHespConfig and hespMetricsJson: the selection rule, the best (last selected) and the last epoch; readHespRunFingerprints of it', () => {
    const o = options();
    const data = loadHespData(o);
    const r = resolvedHespConfig(o, 'k', data, ['x', 'y', 'z']);
    expect(Object.keys(r).slice(-6)).toEqual(['key', 'labels', 'rngStreams', 'split', 'classTexts', 'selection']);
    expect(r.rngStreams).toBe(3);
    expect(r.labels.labelSet.id).toBe('basic-7');
    expect(r.selection).toBe(
      `closed-set accuracy on the validation part of the training data (${data.val.length} clips)`,
    );
    expect(resolvedHespConfig(options({ selectOn: 'test' }), 'k', data, []).selection).toMatch(
      /^test split, AUROC \+ OSCR \(arpl/,
    );
    const epochs = [record(1, true), record(2, true), record(3, false)];
    const fingerprints = { trainListFingerprint: 'a', testListFingerprint: 'b', framesFingerprint: 'c' };
    const m = JSON.parse(
      hespMetricsJson({
        data,
        selection: r.selection,
        visualPromptCentre: { row: 1, col: 2 },
        epochs,
        cropper: undefined,
        fingerprints,
        modelFingerprint: 'd',
      }),
    ) as { best: EpochRecord; last: EpochRecord; faces: unknown; modelFingerprint: string; framesFingerprint: string };
    expect([m.best.epoch, m.last.epoch, m.faces, m.modelFingerprint, m.framesFingerprint]).toEqual([
      2,
      3,
      null,
      'd',
      'c',
    ]);
    // what a bench row of this run carries: one data fingerprint over the three (canonical key order) and the model's
    const dir = mkdtempSync(join(work, 'fingerprints-'));
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify(m));
    const expected = hespDatasetFingerprint({
      framesFingerprint: 'c',
      testListFingerprint: 'b',
      trainListFingerprint: 'a',
    });
    expect(readHespRunFingerprints(dir)).toEqual({ datasetFingerprint: expected, modelFingerprint: 'd' });
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
    expect(hespDatasetFingerprint({ ...fingerprints, framesFingerprint: 'e' })).not.toBe(expected);
    writeFileSync(join(dir, 'metrics.json'), JSON.stringify({ ...m, framesFingerprint: undefined }));
    expect(() => readHespRunFingerprints(dir)).toThrow(DataFormatError);
    expect(() => readHespRunFingerprints(dir)).toThrow(/metrics\.json.*framesFingerprint/);
  });

  it('saveHespBest → loadHespBest round trip; hespRunScores and hespScoresCsv per test clip', () => {
    const o = options();
    const dir = mkdtempSync(join(work, 'best-'));
    const state = {
      tensors: {
        ctx: Float32Array.of(1),
        patch: Float32Array.of(2),
        negImages: Float32Array.of(3),
        radius: Float32Array.of(4),
      },
      optimizer: { step: 0, buffers: {} },
    };
    saveHespBest(join(dir, 'best.safetensors'), state, o, 3, { row: 50, col: 60 }, hespRunClasses(loadHespData(o), o));
    const best = loadHespBest(dir);
    expect(best.meta).toEqual({
      epoch: 3,
      selectedOn: 'val',
      selectionMetrics: 'arpl',
      location: { row: 50, col: 60 },
      ...hespRunClasses(loadHespData(o), o),
    });
    expect(best.meta.knownNames).toEqual(['happiness', 'sadness', 'neutral']);
    expect(Array.from(best.tensors['radius']!)).toEqual([4]);
    const data = loadHespData(o);
    const K = 3;
    const known = {
      dtype: 'float32' as const,
      data: Float32Array.from({ length: data.testKnown.length * K }, (_, i) => (i % K === 1 ? 5 : i / 100)),
      dims: [data.testKnown.length, K] as [number, number],
    };
    const unknown = {
      dtype: 'float32' as const,
      data: Float32Array.from({ length: data.testUnknown.length * K }, (_, i) => i),
      dims: [data.testUnknown.length, K] as [number, number],
    };
    const scores = hespRunScores(data, ['a', 'b', 'c'], 3, report(0.5, 0.5, 0.5), known, unknown);
    expect(scores.known.every((k) => k.predicted === 1 && k.knownness === 5)).toBe(true);
    expect(scores.unknown.map((u) => u.knownness)).toEqual([2, 5]);
    const csv = hespScoresCsv(scores).split('\n');
    expect(csv[0]).toBe('set,frame_dir,label,predicted,knownness');
    expect(csv.length).toBe(1 + data.testKnown.length + data.testUnknown.length + 1);
    // an unknown clip: its own class and the known class its logits rank first (the predicted column was empty)
    expect(csv.at(-2)).toMatch(/^unknown,.*,anger,neutral,5$/);
  });

  it("loadHespData keeps a HESP split's classes in a label set of another order, and numbers labels as asked", () => {
    // AFEW split 0 = sadness + happiness; the lists' DFER-CLIP ids (0 happiness, 1 sadness, 2 neutral, 3 anger) are
    // read by class name into FER2013's order (0 anger … 3 happiness, 4 sadness, 6 neutral)
    const names = (d: ReturnType<typeof loadHespData>, items: { originalLabel: number }[]) =>
      [...new Set(items.map((i) => d.labelSet.names[i.originalLabel]))].sort();
    const fer = loadHespData(options({ known: undefined, splitIndex: 0, labelSet: 'fer2013-7-native' }));
    const basic = loadHespData(options({ known: undefined, splitIndex: 0 }));
    for (const d of [fer, basic]) {
      expect(d.knownClassIds.map((k) => d.labelSet.names[k])).toEqual(['happiness', 'sadness']);
      expect(names(d, [...d.train, ...d.val])).toEqual(['happiness', 'sadness']);
      expect([...new Set(d.testUnknown.map((i) => d.labelSet.names[i.label]))].sort()).toEqual(['anger', 'neutral']);
    }
    expect(fer.knownClassIds).toEqual([3, 4]);
    // classes spelt as folders are ('Angry', 'Happy', --classes): the split maps by name, the prompts find their text
    const folders = ['Angry', 'Happy', 'Sad', 'Neutral', 'Surprise', 'Disgust', 'Fear'];
    const spelt = loadHespData(options({ known: undefined, splitIndex: 0, classes: folders }));
    expect(spelt.knownClassIds.map((k) => folders[k])).toEqual(['Happy', 'Sad']);
    expect(knownClassTexts(spelt.split.known, spelt.labelSet)).toEqual(['Happy', 'Sad']);
    // a known class of one's own (no expression name) is prompted by its name
    const own = loadHespData(
      options({ classes: ['happy', 'sad', 'neutral', 'bored'], labelScheme: 'label-set', known: [0, 3] }),
    );
    expect(knownClassTexts(own.split.known, own.labelSet)).toEqual(['Happy', 'bored']);
    // a typo in a class name is named as such, with the names vlfer knows
    const typo = ['happines', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear'];
    expect(() => loadHespData(options({ known: undefined, splitIndex: 0, classes: typo }))).toThrow(
      /happines is not in the split's classes \(happines: no expression name vlfer knows; the names are happiness, /,
    );
    expect(() => loadHespData(options({ known: undefined, splitIndex: 0, labelSet: 'contempt-7' }))).toThrow(
      /'splitIndex' passed to 'loadHespData': split 0 is over the classes of basic-7 .* lacks neutral/,
    );
    // sadness (1) and neutral (2): ascending ids by default; the released code numbers them by its own ids, where
    // neutral (4) comes before sadness (5), and pairs label j with the j-th alphabetical prompt
    const fixed = loadHespData(options({ known: [1, 2] }));
    const reference = loadHespData(options({ known: [1, 2], referenceBehaviour: { alphabeticalClassNames: true } }));
    expect(fixed.knownClassIds).toEqual([1, 2]);
    expect(reference.knownClassIds).toEqual([2, 1]);
    const sad = (d: typeof fixed) => d.testKnown.find((i) => i.originalLabel === 1)!.label;
    expect([sad(fixed), sad(reference)]).toEqual([0, 1]);
    // scores.csv names a clip's true class, not the prompt its logit was paired with
    const K = 2;
    const logits = (n: number) => ({
      dtype: 'float32' as const,
      data: Float32Array.from({ length: n * K }, (_, i) => (i % K === 0 ? 1 : 0)),
      dims: [n, K] as [number, number],
    });
    const scores = hespRunScores(
      reference,
      ['Neutral', 'Sad'].sort(),
      1,
      report(0.5, 0.5, 0.5),
      logits(reference.testKnown.length),
      logits(reference.testUnknown.length),
    );
    expect(scores.knownNames).toEqual(['neutral', 'sadness']);
    const rows = hespScoresCsv(scores).split('\n');
    const row = (dir: string) => rows.find((r) => r.includes(`${dir},`))!.split(',');
    const sadClip = reference.testKnown.find((i) => i.originalLabel === 1)!.frameDir;
    expect(row(sadClip).slice(2, 4)).toEqual(['sadness', 'neutral']);
  });

  it('readHespRunConfig names config.resolved.json when it is missing', () => {
    const dir = mkdtempSync(join(work, 'nocfg-'));
    expect(() => readHespRunConfig(dir)).toThrow(DataFormatError);
    expect(() => readHespRunConfig(dir)).toThrow(/config\.resolved\.json.*not found/);
    expect(() => readHespRunConfig('')).toThrow(/'runDir'.*expected a directory written by 'hesp train', got ""/);
    expect(() => readHespRunConfig(`${dir}-typo`)).toThrow(
      `Argument 'runDir' passed to 'evaluateHespRun': ${dir}-typo does not exist; expected a directory written by 'hesp train'`,
    );
    // an unfinished run says so; another command's directory is named as that
    writeFileSync(join(dir, 'checkpoint.safetensors'), 'c');
    expect(() => readHespRunConfig(dir)).toThrow(/this 'hesp train' run has not finished/);
    writeFileSync(join(dir, '.vlfer-run-kind'), 'exp-clip train\n');
    writeFileSync(join(dir, 'config.resolved.json'), '{}');
    expect(() => readHespRunConfig(dir)).toThrow(/nocfg-\w+: holds a run of 'exp-clip train', not of 'hesp train'/);
  });

  it('evaluateHespRun on a path that holds no HESP run neither locks nor tidies it', async () => {
    // the lock's recovery deleted a file named like a temporary one; a file path gave "cannot create directory"
    const dir = mkdtempSync(join(work, 'not-a-run-'));
    const photo = join(dir, '.photo.jpg.4242.zz9.tmp');
    writeFileSync(photo, 'x');
    await expect(evaluateHespRun(dir)).rejects.toThrow(/config\.resolved\.json.*not found/);
    expect(readdirSync(dir)).toEqual(['.photo.jpg.4242.zz9.tmp']);
    await expect(evaluateHespRun(photo)).rejects.toThrow(
      /config\.resolved\.json.*not found: expected a directory written by 'hesp train'/,
    );
  });

  it('hespRunOptions reads a run that stored both classes and labelSet as it ran: with the classes', () => {
    const stored = {
      ...options(),
      classes: ['x', 'y', 'z'],
      labelSet: 'basic-7',
      key: 'k',
      labels: {},
      selection: 's',
    };
    const o = hespRunOptions(JSON.parse(JSON.stringify(stored)) as Record<string, unknown>, 'config.resolved.json');
    expect(o.classes).toEqual(['x', 'y', 'z']);
    expect(o.labelSet).toBeUndefined();
    expect(() => hespRunOptions({ ...stored, lr: 'x' }, 'cfg.json')).toThrow(
      /cfg\.json \(field 'lr'\): is not a valid/,
    );
    // a field of a newer vlfer: said so, and which version to read it with
    expect(() => hespRunOptions({ ...stored, futureOption: 1 }, 'cfg.json')).toThrow(
      /Unrecognized key.*futureOption.*probably written by a newer vlfer; evaluate it with that version/,
    );
  });
});

/** The stages' shared context for a run composed by hand on `data` (drawn with any version of the streams). */
async function handContext(o: HespOptions, data: HespData, run: RunDirectory, signal?: AbortSignal) {
  const plan = await planHespRun(o, data, () => undefined);
  const paths = hespRunPaths(run);
  const built = await buildHespModel(o, plan.texts, undefined, paths.checkpoint);
  const ctx: HespTrainContext = {
    o,
    data,
    model: built.model,
    read: clipFrameReader(),
    paths,
    key: plan.key,
    fingerprints: plan.fingerprints,
    record: plan.record,
    modelFingerprint: built.modelFingerprint,
    signal,
    onProgress: undefined,
    log: () => undefined,
  };
  return { ctx, built, plan };
}

/** Train a run composed by hand for `o.epochs` epochs, or until `stopAfterSteps` steps (an abort: a checkpoint). */
async function trainByHand(o: HespOptions, data: HespData, stopAfterSteps?: number): Promise<void> {
  const run = RunDirectory.open(o.out, { command: 'test' });
  const controller = new AbortController();
  const { ctx, built } = await handContext(o, data, run, controller.signal);
  ctx.onProgress = (e) => {
    if (e.phase === 'train' && e.done === stopAfterSteps) controller.abort(new Error('test'));
  };
  try {
    const state = await startHespTraining(ctx, undefined, undefined);
    for (let e = 0; e < o.epochs; e++) await evaluateHespEpoch(ctx, state, e, await trainHespEpoch(ctx, state, e));
  } finally {
    await built.model.release();
    run.close();
  }
}

describe('the stages composed by hand on tiny-clip', () => {
  it('a run started with the earlier random streams resumes with them, to the bytes of its uninterrupted run', async () => {
    const o = options({ epochs: 2, out: join(work, 'v1-whole') });
    const data1 = loadHespData(o, 1);
    expect(data1.rngStreams).toBe(1);
    await trainByHand(o, data1);
    const cut = { ...o, out: join(work, 'v1-cut') };
    await expect(trainByHand(cut, data1, 1)).rejects.toThrow(AbortedError);
    // as vlfer wrote it then: the logs under the published names, no work/ (adopted when it resumes)
    for (const f of readdirSync(join(cut.out, 'work'))) renameSync(join(cut.out, 'work', f), join(cut.out, f));
    rmSync(join(cut.out, 'work'), { recursive: true });
    const ckPath = join(cut.out, 'checkpoint.safetensors');
    const v1Key = hespRunKey(cut, data1.labelSet.names, 1);
    expect(v1Key).not.toBe(hespRunKey(cut, data1.labelSet.names));
    expect(loadCheckpoint(ckPath).meta).toMatchObject({ key: v1Key, epoch: 0, step: 1 });
    // another option: refused, naming only it (not the streams)
    await expect(trainHesp({ ...cut, lr: 0.02 })).rejects.toThrow(/other options \(lr \(0\.01 then, 0\.02 now\)\)/);
    const lines: string[] = [];
    await trainHesp(cut, { log: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(/resuming from .*: epoch 1, step 2/);
    for (const f of ['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'])
      expect(readFileSync(join(cut.out, f)).equals(readFileSync(join(o.out, 'work', f))), f).toBe(true);
    const resolved = JSON.parse(readFileSync(join(cut.out, 'config.resolved.json'), 'utf8'));
    expect([resolved.rngStreams, resolved.key]).toEqual([1, v1Key]);
    // a fresh run draws from the current streams: other batches
    const fresh = await trainHesp({ ...o, out: join(work, 'v2') });
    const v2 = JSON.parse(readFileSync(join(fresh.outDir, 'config.resolved.json'), 'utf8'));
    expect(v2.rngStreams).toBe(3);
    const log = (dir: string) => readFileSync(join(dir, 'train-log.jsonl'), 'utf8');
    expect(log(fresh.outDir)).not.toBe(log(join(o.out, 'work')));
    // a checkpoint of streams this vlfer does not know is refused as a newer vlfer's
    const c = loadCheckpoint(ckPath);
    const runOptions = { ...(c.meta.runOptions as object), rngStreams: 4 };
    saveCheckpoint(ckPath, { ...c, meta: { ...c.meta, key: 'newer', runOptions } });
    await expect(trainHesp(cut)).rejects.toThrow(
      /was written by a newer vlfer \(random streams version 4; this one knows 1, 2, 3\)/,
    );
  }, 600_000);

  it('a stop asked for as the last epoch is scored stops before the publish; the rerun publishes the same bytes', async () => {
    const whole = options({ out: join(work, 'late-whole') });
    await trainHesp(whole);
    const late = options({ out: join(work, 'late-cut') });
    const stop = new AbortController();
    const atLastScore = (e: { phase: string; done: number; total: number }) =>
      e.phase === 'evaluate' && e.done === e.total ? stop.abort(new Error('test')) : undefined;
    await expect(trainHesp(late, { signal: stop.signal, onProgress: atLastScore })).rejects.toThrow(
      /rerun the same command to publish/,
    );
    expect(existsSync(join(late.out, 'metrics.json'))).toBe(false);
    const lines: string[] = [];
    await trainHesp(late, { log: (l) => lines.push(l) });
    expect(lines).toContain(`resuming from ${join(late.out, 'checkpoint.safetensors')}: all 1 epochs done, publishing`);
    for (const f of ['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'])
      expect(readFileSync(join(late.out, f)).equals(readFileSync(join(whole.out, f))), f).toBe(true);
  }, 120_000);

  it('an extension stopped half-way keeps the published set whole; a diverging step stops training unsaved', async () => {
    const o = options({ out: join(work, 'extend') });
    await trainHesp(o);
    const published = ['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'].map((f) => readFileSync(join(o.out, f)));
    const stop = new AbortController();
    const onProgress = (e: { phase: string }) => (e.phase === 'train' ? stop.abort(new Error('test')) : undefined);
    await expect(trainHesp({ ...o, epochs: 3 }, { signal: stop.signal, onProgress })).rejects.toThrow(AbortedError);
    verifyRunOutputs(o.out); // the published set, whole: the extension writes its logs and best state in work/
    expect(['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'].map((f) => readFileSync(join(o.out, f)))).toEqual(
      published,
    );
    const lines: string[] = [];
    const again = await trainHesp(o, { log: (l) => lines.push(l) });
    expect(again.resumedFrom).toEqual({ epoch: 1, step: 0 });
    // and says that the stopped extension's checkpoint is there to continue
    expect(lines.filter((l) => l.includes('already trained'))).toEqual([
      expect.stringMatching(
        /: already trained \(1 epoch\); a later call went on \(checkpoint\.safetensors: 1 epoch and [1-9]\d* steps? done\): ask for 2 or more epochs to continue it$/,
      ),
    ]);
    // without the checkpoint, a published run of other options is refused rather than replaced
    rmSync(join(o.out, 'checkpoint.safetensors'));
    await expect(trainHesp({ ...o, lr: 0.02 })).rejects.toThrow(
      /holds a run published with other options \(config.resolved.json: lr \(0\.\d+ then, 0\.02 now\)\) and no checkpoint/,
    );
    // a step whose loss is not finite: stopped there, nothing of it logged or checkpointed
    const d = options({ out: join(work, 'diverge'), lr: 1e30 });
    await expect(trainHesp(d)).rejects.toThrow(
      /'lr'.*: training diverged at epoch 1, step \d+ \(learning rate 1e\+30\)/,
    );
    expect(existsSync(join(d.out, 'manifest.json'))).toBe(false);
    const logged = readFileSync(join(d.out, 'work', 'train-log.jsonl'), 'utf8');
    expect(logged).not.toMatch(/null|NaN/);
    // a checkpoint it kept holds finite weights only (a finite loss whose update overflowed is caught too)
    const kept = join(d.out, 'checkpoint.safetensors');
    if (existsSync(kept))
      for (const t of Object.values(loadCheckpoint(kept).tensors)) expect(t.data.every(Number.isFinite)).toBe(true);
    expect(() =>
      refuseDivergedStep({ clipKnown: 1, supCon: 1, arpl: 1, negativeClip: 1, ensemble: 1, total: 5 }, 1, 0, 0.1, {
        ctx: Float32Array.of(0, Infinity),
      }),
    ).toThrow(/training diverged at epoch 2, step 1 \(learning rate 0\.1\): ctx\[1\] Infinity/);
    expect(() =>
      refuseDivergedStep({ clipKnown: 1, supCon: NaN, arpl: 1, negativeClip: 1, ensemble: 1, total: NaN }, 0, 2, 0.1),
    ).toThrow(/training diverged at epoch 1, step 3 \(learning rate 0\.1\): supCon NaN, total NaN/);
  }, 600_000);

  it("a run stopped while scoring an epoch resumes from that epoch's trained state, to the uninterrupted bytes", async () => {
    const whole = options({ out: join(work, 'scored-whole'), epochs: 2 });
    await trainHesp(whole, { log: () => {} });
    const cut = { ...whole, out: join(work, 'scored-cut') };
    const stop = new AbortController();
    const scored: number[] = [];
    const onProgress = (e: { phase: string; done: number }) =>
      e.phase === 'evaluate' ? (scored.push(e.done), stop.abort(new Error('test'))) : undefined;
    await expect(trainHesp(cut, { signal: stop.signal, onProgress })).rejects.toThrow(
      /HESP training \(stopped while scoring epoch 1; its trained state is checkpointed in .*; rerun the same command to resume\) was aborted/,
    );
    // the progress said no epoch was scored (it said 1/2 before the scoring, which then stopped)
    expect(scored).toEqual([0]);
    const meta = loadCheckpoint(join(cut.out, 'checkpoint.safetensors')).meta as { epoch: number; step: number };
    expect(meta.epoch).toBe(0);
    const lines: string[] = [];
    const resumed = await trainHesp(cut, { log: (l) => lines.push(l) });
    expect(resumed.resumedFrom).toEqual({ epoch: 0, step: meta.step });
    expect(lines).toContain(`resuming from ${join(cut.out, 'checkpoint.safetensors')}: epoch 1, its scoring`);
    for (const f of ['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'])
      expect(readFileSync(join(cut.out, f)), f).toEqual(readFileSync(join(whole.out, f)));
  }, 600_000);

  it('an extension stopped after its last checkpoint, before its publish, is published by the same command', async () => {
    const a = options({ out: join(work, 'ext-a'), epochs: 2 });
    await trainHesp(a, { log: () => {} });
    const b = { ...a, out: join(work, 'ext-b') };
    copyWritable(a.out, b.out);
    await trainHesp({ ...b, epochs: 3 }, { log: () => {} });
    // the state of a: its 2-epoch set published, and b's checkpoint and working files of epoch 3 (a kill between them)
    copyWritable(join(b.out, 'checkpoint.safetensors'), join(a.out, 'checkpoint.safetensors'));
    rmSync(join(a.out, 'work'), { recursive: true });
    copyWritable(join(b.out, 'work'), join(a.out, 'work'));
    // it said the run "went past epoch 3 … the state of epoch 3 was not kept"
    const r = await trainHesp({ ...a, epochs: 3 }, { log: () => {} });
    expect(r.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    for (const f of ['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'])
      expect(readFileSync(join(a.out, f)).equals(readFileSync(join(b.out, f))), f).toBe(true);
  }, 600_000);

  it('a resume refuses working files deleted, cut, edited or replaced since its checkpoint, naming each', async () => {
    const o = options({ out: join(work, 'work-files'), epochs: 2 });
    const stop = new AbortController();
    // stopped in epoch 2 (3 steps an epoch): epoch 1 is recorded and selected, so every working file has content
    const onProgress = (e: { phase: string; done: number }) =>
      e.phase === 'train' && e.done === 4 ? stop.abort(new Error('test')) : undefined;
    await expect(trainHesp(o, { signal: stop.signal, onProgress })).rejects.toThrow(AbortedError);
    const pristine = join(work, 'work-files-pristine');
    copyWritable(o.out, pristine);
    const restore = () => {
      rmSync(o.out, { recursive: true, force: true });
      copyWritable(pristine, o.out);
    };
    const w = (f: string) => join(o.out, 'work', f);
    rmSync(w('epochs.jsonl'));
    await expect(trainHesp(o)).rejects.toThrow(
      /epochs\.jsonl.*holds other epochs than checkpoint\.safetensors recorded/,
    );
    restore();
    rmSync(w('train-log.jsonl')); // deleted: cut back to nothing, it holds none of the steps recorded
    await expect(trainHesp(o)).rejects.toThrow(
      /train-log\.jsonl.*holds other training steps than checkpoint\.safetensors/,
    );
    restore();
    writeFileSync(
      w('train-log.jsonl'),
      readFileSync(w('train-log.jsonl'), 'utf8').replace(/"total":(\d)/, '"total":9$1'),
    );
    await expect(trainHesp(o)).rejects.toThrow(
      /train-log\.jsonl.*holds other training steps than checkpoint\.safetensors/,
    );
    restore();
    rmSync(w('best.safetensors'));
    await expect(trainHesp(o)).rejects.toThrow(
      /best\.safetensors.*is missing; checkpoint\.safetensors recorded a selected state/,
    );
    restore();
    const best = loadCheckpoint(w('best.safetensors'));
    const other = { ...best, tensors: { ...best.tensors, radius: { dims: [1], data: Float32Array.of(5) } } };
    saveCheckpoint(w('best.safetensors'), other);
    await expect(trainHesp(o)).rejects.toThrow(/best\.safetensors.*holds another selected state than checkpoint/);
    // an epoch end writes its selected state beside it until its checkpoint records it: one the checkpoint never
    // recorded (a crash before it) is dropped, one it recorded (a crash after it) is put in place
    restore();
    saveCheckpoint(w('best.safetensors.next'), other);
    const bestBytes = readFileSync(w('best.safetensors'));
    // stopped once the resume has checked its files (it says where it resumes from after that)
    const halt = new AbortController();
    const log = (l: string) => (l.startsWith('resuming from') ? halt.abort(new Error('test')) : undefined);
    await expect(trainHesp(o, { signal: halt.signal, log })).rejects.toThrow(AbortedError);
    expect(existsSync(w('best.safetensors.next'))).toBe(false);
    expect(readFileSync(w('best.safetensors')).equals(bestBytes)).toBe(true);
    restore();
    renameSync(w('best.safetensors'), w('best.safetensors.next'));
    expect((await trainHesp(o, { log: () => {} })).resumedFrom).toEqual({ epoch: 1, step: 1 });
    expect(existsSync(w('best.safetensors.next'))).toBe(false);
  }, 600_000);

  it('a model directory without tokenizer.json is refused with what to pass while remote models are off', async () => {
    const copy = join(work, 'no-tokenizer');
    copyWritable(model, copy);
    rmSync(join(copy, 'tokenizer.json'));
    const before = configureModels({}).allowRemoteModels;
    configureModels({ allowRemoteModels: false });
    try {
      await expect(buildHespModel(options({ model: copy }), ['a', 'b', 'c'], undefined, 'ck')).rejects.toThrow(
        /the CLIP files hold no tokenizer\.json \(so the tokenizer is looked up as openai\/clip-vit-base-patch32\): give tokenizer, a directory holding one \(CLI --tokenizer\), or allow remote models/,
      );
    } finally {
      configureModels({ allowRemoteModels: before });
    }
  }, 120_000);

  it('a run resumes and evaluates with its paths spelt otherwise, from another working directory', async () => {
    const cwd = process.cwd();
    const out = join(work, 'spelt-otherwise');
    const elsewhere = mkdtempSync(join(tmpdir(), 'vlfer-hesp-cwd-'));
    try {
      process.chdir(work);
      const rel = options({ trainAnnotations: 'train.txt', testAnnotations: 'test.txt', root: '.', out, epochs: 2 });
      const stop = new AbortController();
      const onProgress = (e: { phase: string }) => (e.phase === 'train' ? stop.abort(new Error('test')) : undefined);
      await expect(trainHesp(rel, { signal: stop.signal, onProgress })).rejects.toThrow(AbortedError);
      expect(loadCheckpoint(join(out, 'checkpoint.safetensors')).meta).toMatchObject({ cwd: work });
      // the same files named by absolute paths, from a directory where the relative ones name nothing
      process.chdir(elsewhere);
      const resumed = await trainHesp(options({ out, epochs: 2 }), { log: () => {} });
      expect(resumed.resumedFrom).toEqual({ epoch: 0, step: 1 });
      // config.resolved.json holds the paths as this call gave them, run.json the directory they are from
      expect(JSON.parse(readFileSync(join(out, 'config.resolved.json'), 'utf8'))).toMatchObject({ root: work });
      expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'))).toMatchObject({ cwd: elsewhere });
      // without its checkpoint: fewer epochs are refused (an earlier epoch's results would replace its own), and so
      // is an unreadable metrics.json; the same options train it again to the same bytes, with run.json damaged too
      const epochsBytes = readFileSync(join(out, 'epochs.jsonl'), 'utf8');
      rmSync(join(out, 'checkpoint.safetensors'));
      await expect(trainHesp(options({ out, epochs: 1 }))).rejects.toThrow(
        /holds a run published with 2 epochs; ask for 2 or more epochs \(its results would be replaced by those of epoch 1\)/,
      );
      const metricsPath = join(out, 'metrics.json');
      const metricsText = readFileSync(metricsPath);
      rmSync(metricsPath);
      await expect(trainHesp(options({ out, epochs: 2 }))).rejects.toThrow(
        /holds a published set whose metrics\.json cannot be read as published \(cannot read .*metrics\.json/,
      );
      // one that parses but is not the published file is no answer either
      writeFileSync(metricsPath, '{}');
      await expect(trainHesp(options({ out, epochs: 1 }))).rejects.toThrow(
        /holds a published set whose metrics\.json cannot be read as published \(.*differs from the manifest/,
      );
      writeFileSync(metricsPath, metricsText);
      // nor is a later call's checkpoint, stopped before it reached the published epochs, a way to fewer epochs
      const later = new AbortController();
      const stopAtFirstStep = (e: { phase: string }) =>
        e.phase === 'train' ? later.abort(new Error('test')) : undefined;
      await expect(
        trainHesp(options({ out, epochs: 5 }), { signal: later.signal, onProgress: stopAtFirstStep }),
      ).rejects.toThrow(AbortedError);
      await expect(trainHesp(options({ out, epochs: 1 }))).rejects.toThrow(/holds a run published with 2 epochs/);
      rmSync(join(out, 'checkpoint.safetensors'));
      writeFileSync(join(out, 'run.json'), '{bad');
      await expect(evaluateHespRun(out, { log: () => {} })).rejects.toThrow(
        /run\.json: not valid JSON \(.*\): it records the directory the run's relative paths are from; restore it, or remove it to read them from the current directory/,
      );
      await trainHesp(options({ out, epochs: 2 }), { log: () => {} });
      expect(readFileSync(join(out, 'epochs.jsonl'), 'utf8')).toBe(epochsBytes);
      // a run given relative paths is evaluated from anywhere: they are from the directory it ran in
      const relOut = join(work, 'spelt-relative');
      process.chdir(work);
      await trainHesp({ ...rel, out: relOut, epochs: 1 }, { log: () => {} });
      process.chdir(elsewhere);
      expect(existsSync('train.txt')).toBe(false);
      const events: ProgressEvent[] = [];
      const all: ProgressEvent[] = [];
      const scores = await evaluateHespRun(relOut, { log: () => {}, onProgress: (e) => all.push(e) });
      const clips = scores.known.length + scores.unknown.length;
      expect(clips).toBeGreaterThan(0);
      // the frames' fingerprint first (every clip folder of the run, each once), then the scoring
      const hashed = all.filter((e) => e.phase === 'fingerprint');
      expect(hashed.map((e) => e.done)).toEqual(hashed.map((_, i) => i + 1));
      expect(all.slice(0, hashed.length)).toEqual(hashed);
      events.push(...all.slice(hashed.length));
      // progress in clips scored, from 0 to all of them, each batch once
      expect(events[0]).toEqual({ phase: 'score', done: 0, total: clips, unit: 'clips' });
      expect(events.at(-1)).toEqual({ phase: 'score', done: clips, total: clips, unit: 'clips' });
      expect(events.every((e, i) => i === 0 || e.done > events[i - 1]!.done)).toBe(true);
      // the project moved (run.json's directory is gone): the paths are found from here, with a notice, and checked
      const runJson = join(relOut, 'run.json');
      const gone = join(elsewhere, 'gone');
      writeFileSync(runJson, JSON.stringify({ ...JSON.parse(readFileSync(runJson, 'utf8')), cwd: gone }));
      process.chdir(work);
      const said: string[] = [];
      await evaluateHespRun(relOut, { log: (l) => said.push(l) });
      expect(said).toContain(`train.txt is not in ${gone}, where the run trained (run.json's cwd): read from ${work}`);
      // without run.json the relative paths are read from here, and the log says so
      rmSync(runJson);
      const bare: string[] = [];
      await evaluateHespRun(relOut, { log: (l) => bare.push(l) });
      expect(bare).toContain(
        `${runJson} records no working directory (a run of vlfer before 2026-12-06, or the file was removed): the run's relative paths are read from ${work}`,
      );
    } finally {
      process.chdir(cwd);
    }
  }, 600_000);

  it('data copied elsewhere resumes; other data there, another CLIP or a relative rebase are handled', async () => {
    const out = join(work, 'moved');
    const copy = mkdtempSync(join(tmpdir(), 'vlfer-hesp-copy-'));
    for (const f of ['frames', 'train.txt', 'test.txt']) copyWritable(join(work, f), join(copy, f));
    const stop = new AbortController();
    const onProgress = (e: { phase: string }) => (e.phase === 'train' ? stop.abort(new Error('test')) : undefined);
    await expect(trainHesp(options({ out, epochs: 2 }), { signal: stop.signal, onProgress })).rejects.toThrow(
      AbortedError,
    );
    const there = (extra: object = {}) =>
      options({
        root: copy,
        trainAnnotations: join(copy, 'train.txt'),
        testAnnotations: join(copy, 'test.txt'),
        out,
        ...extra,
      });
    // one frame other there: refused, saying where the run read its data and where this call reads it
    const frame = listFrames(join(copy, 'frames', 'tr_0_0'))[0]!;
    const original = readFileSync(frame);
    writeFileSync(frame, Buffer.concat([original, Buffer.from([0])]));
    await expect(trainHesp(there({ epochs: 2 }))).rejects.toThrow(
      `the video frames changed since (the run read ${join(work, 'train.txt')}, ${join(work, 'test.txt')}, ${work}; this call reads ${join(copy, 'train.txt')}, ${join(copy, 'test.txt')}, ${copy})`,
    );
    // the same content: the same run, resumed
    writeFileSync(frame, original);
    expect((await trainHesp(there({ epochs: 2 }), { log: () => {} })).resumedFrom).toEqual({ epoch: 0, step: 1 });
    // hesp eval scores with the CLIP the run was trained with, or not at all
    const clip = join(work, 'clip-copy');
    copyWritable(model, clip);
    const evalOut = join(work, 'other-clip');
    await trainHesp(options({ model: clip, out: evalOut }), { log: () => {} });
    const weights = readFileSync(join(clip, 'model.safetensors'));
    weights.writeUInt8(weights.readUInt8(weights.length - 1) ^ 1, weights.length - 1); // the last weight's last byte
    writeFileSync(join(clip, 'model.safetensors'), weights);
    await expect(evaluateHespRun(evalOut, { log: () => {} })).rejects.toThrow(
      /the CLIP model files \(.*clip-copy\) changed since\. Its selected state would be scored with another CLIP/,
    );
    // a finished run answers "already trained" only for the CLIP files it was trained with, wherever they are
    await expect(trainHesp(options({ model: clip, out: evalOut }), { log: () => {} })).rejects.toThrow(
      /the CLIP model files \(.*clip-copy\) changed since/,
    );
    const answered: string[] = [];
    await trainHesp(options({ out: evalOut }), { log: (l) => answered.push(l) }); // tiny-clip: the copy's files then
    // a rebase that rewrites no frame path reads the same frames: the same run
    await trainHesp(options({ out: evalOut, rebase: { from: '/nowhere', to: '.' } }), {
      log: (l) => answered.push(l),
    });
    expect(answered.filter((l) => l.includes('already trained')).length).toBe(2);
    // without the checkpoint, the published run is trained again only with the CLIP files it was trained with
    rmSync(join(evalOut, 'checkpoint.safetensors'));
    await expect(trainHesp(options({ model: clip, out: evalOut }), { log: () => {} })).rejects.toThrow(
      /other-clip was trained on other data: the CLIP model files \(.*clip-copy\) changed since.* Training again would replace its results with those of other data/,
    );
    // a tokenizer given apart from the weights is part of the model: changed, the run is not scored with it
    const bare = join(work, 'clip-no-tokenizer');
    copyWritable(model, bare);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) rmSync(join(bare, f));
    const tok = join(work, 'tok');
    copyWritable(sharedPath('assets', 'clip-tokenizer'), tok);
    const tokOut = join(work, 'own-tokenizer');
    await trainHesp(options({ model: bare, tokenizer: tok, out: tokOut }), { log: () => {} });
    const bundle = {
      files: { 'config.json': join(bare, 'config.json'), 'tokenizer.json': join(tok, 'tokenizer.json') },
      tokenizerFileKeys: ['tokenizer.json'],
    };
    expect(clipContentFingerprints(bundle)).toEqual([
      fingerprintFiles(bundle.files),
      fingerprintFiles({ 'config.json': bundle.files['config.json'] }),
    ]);
    // the same tokenizer files elsewhere are the same model; changed ones are named with the model
    const tok2 = join(work, 'tok2');
    copyWritable(tok, tok2);
    const same: string[] = [];
    await trainHesp(options({ model: bare, tokenizer: tok2, out: tokOut }), { log: (l) => same.push(l) });
    expect(same.some((l) => l.includes('already trained'))).toBe(true);
    writeFileSync(join(tok, 'tokenizer.json'), `${readFileSync(join(tok, 'tokenizer.json'), 'utf8')} `);
    await expect(evaluateHespRun(tokOut, { log: () => {} })).rejects.toThrow(
      /the CLIP model files \(.*clip-no-tokenizer and the tokenizer .*tok\) changed since/,
    );
    // moved away, it is named as missing (it was reported as changed model files)
    renameSync(tok, `${tok}-moved`);
    await expect(evaluateHespRun(tokOut, { log: () => {} })).rejects.toThrow(
      `the CLIP tokenizer ${tok} does not exist (a directory with tokenizer.json)`,
    );
    // a bare name too, before a resume could call another spelling of it "other options" (while remote models are off)
    const before = configureModels({}).allowRemoteModels;
    configureModels({ allowRemoteModels: false });
    try {
      await expect(trainHesp(options({ model: bare, tokenizer: 'tok-gone', out: tokOut }))).rejects.toThrow(
        /the CLIP tokenizer .*tok-gone does not exist \(a directory with tokenizer\.json\), and 'tok-gone' is no Hub id while remote models are disabled/,
      );
    } finally {
      configureModels({ allowRemoteModels: before });
    }
    // lists whose frame paths carry the authors' prefix, on every line or on every other one, rebased to the root
    const prefixed = (tag: string, every: boolean) => {
      for (const f of ['train.txt', 'test.txt']) {
        const lines = readFileSync(join(work, f), 'utf8').trim().split('\n');
        const text = lines.map((l, i) => (every || i % 2 ? `/authors/data/${l}` : l)).join('\n');
        writeFileSync(join(work, `${tag}-${f}`), `${text}\n`);
      }
      return options({
        trainAnnotations: join(work, `${tag}-train.txt`),
        testAnnotations: join(work, `${tag}-test.txt`),
        rebase: { from: '/authors/data', to: '.' },
        out: join(work, `rebased-${tag}`),
      });
    };
    // a relative rebase target is read under the root, in training and in evaluation alike
    const rebased = prefixed('abs', true);
    await trainHesp(rebased, { log: () => {} });
    const scores = await evaluateHespRun(rebased.out, { log: () => {} });
    expect(scores.known.length).toBeGreaterThan(0);
    // the same prefix rebased to the same frames spelt otherwise, or to a copy of them, is the same run
    const again: string[] = [];
    await trainHesp({ ...rebased, rebase: { from: '/authors/data/', to: work } }, { log: (l) => again.push(l) });
    copyWritable(join(work, 'frames'), join(work, 'rebased-copy', 'frames'));
    const copied = { from: '/authors/data', to: join(work, 'rebased-copy') };
    await trainHesp({ ...rebased, rebase: copied }, { log: (l) => again.push(l) });
    expect(again.filter((l) => l.includes('already trained')).length).toBe(2);
    // without the checkpoint: trained again to the same result with the copy, refused where the copy differs
    const published = readFileSync(join(rebased.out, 'epochs.jsonl'), 'utf8');
    rmSync(join(rebased.out, 'checkpoint.safetensors'));
    const copyFrame = listFrames(join(work, 'rebased-copy', 'frames', 'tr_0_0'))[0]!;
    const kept = readFileSync(copyFrame);
    writeFileSync(copyFrame, Buffer.concat([kept, Buffer.from([0])]));
    await expect(trainHesp({ ...rebased, rebase: copied }, { log: () => {} })).rejects.toThrow(
      `rebased-abs was trained on other data: the video frames changed since (the run read frames rebased from /authors/data to ${work}; this call reads frames rebased from /authors/data to ${copied.to})`,
    );
    writeFileSync(copyFrame, kept);
    expect((await trainHesp({ ...rebased, rebase: copied }, { log: () => {} })).resumedFrom).toBeNull();
    expect(readFileSync(join(rebased.out, 'epochs.jsonl'), 'utf8')).toBe(published);
    // lists where only some lines carry the prefix: the others stay under the root, named as before
    const some = prefixed('mixed', false);
    await trainHesp(some, { log: () => {} });
    const mixedLines: string[] = [];
    await trainHesp({ ...some, rebase: copied }, { log: (l) => mixedLines.push(l) });
    expect(mixedLines.some((l) => l.includes('already trained'))).toBe(true);
  }, 600_000);

  it('a run started before 2026-12-06 (frames named as spelt, no cwd) resumes when spelt as then, and says so when not', async () => {
    const cwd = process.cwd();
    try {
      process.chdir(work);
      // started with absolute paths (frames named '/…/clip/0001.png' then), resumed with relative ones
      const rel = options({ trainAnnotations: 'train.txt', testAnnotations: 'test.txt', root: '.' });
      const abs = options();
      const data = loadHespData(abs);
      const forms = hespDataFingerprintForms(abs, data);
      expect(forms.asSpelt.framesFingerprint).not.toBe(forms.fingerprints.framesFingerprint);
      // the same files read through relative paths give the same (new) fingerprints
      expect(hespDataFingerprints(rel, loadHespData(rel))).toEqual(forms.fingerprints);
      expect(hespRunClasses(loadHespData(rel), rel)).toEqual(hespRunClasses(data, abs));
      // as an earlier vlfer recorded them: frame directories as spelt in both fingerprints
      const rows = [
        ...[...data.train, ...data.val, ...data.testKnown].map(
          (c) => `${c.frameDir}\t${data.labelSet.names[c.originalLabel]}\t${c.label}`,
        ),
        ...data.testUnknown.map((c) => `${c.frameDir}\t${data.labelSet.names[c.label]}\t-1`),
      ].sort();
      const labelsFingerprint = createHash('sha256').update(rows.join('\n')).digest('hex');
      const plan = await planHespRun(abs, data, () => {});
      const path = join(mkdtempSync(join(work, 'ck-')), 'checkpoint.safetensors');
      const meta: HespCheckpointMeta = {
        ...{ key: plan.key, epoch: 0, step: 1, lossSum: 1, bestScore: null, location: { row: 100, col: 90 } },
        ...forms.fingerprints,
        ...forms.asSpelt,
        modelFingerprint: 'm',
        knownNames: plan.record.knownNames,
        labelsFingerprint,
        runOptions: plan.record.runOptions,
      };
      const one = Float32Array.of(1);
      const state = {
        tensors: { ctx: one, patch: one, negImages: one, radius: one },
        optimizer: { step: 1, buffers: {} },
      };
      saveHespCheckpoint(path, state, meta);
      expect(readHespCheckpoint(path, abs, plan.key, plan.fingerprints, data, plan.asSpelt)).toBeDefined();
      // without the earlier form the same checkpoint is refused: the acceptance above comes from it
      expect(() => readHespCheckpoint(path, abs, plan.key, plan.fingerprints, data)).toThrow(
        /the video frames changed/,
      );
      const relData = loadHespData(rel);
      const relPlan = await planHespRun(rel, relData, () => {});
      expect(() => readHespCheckpoint(path, rel, relPlan.key, relPlan.fingerprints, relData, relPlan.asSpelt)).toThrow(
        `the video frames changed since (or only their paths are spelt otherwise than when the run started: give root '${work}', trainAnnotations '${join(work, 'train.txt')}', testAnnotations '${join(work, 'test.txt')}' as then, from the directory it ran in)`,
      );
    } finally {
      process.chdir(cwd);
    }
  });

  it('buildHespModel refuses a fixed patch outside the frame', async () => {
    const o = options({ location: { row: 10, col: 112 } });
    await expect(buildHespModel(o, ['a', 'b', 'c'], undefined, 'ck')).rejects.toThrow(
      /\(10, 112\) puts the 56-pixel patch outside the 224×224 frame/,
    );
    // trainHesp says it before the data load (annotations that do not exist are not reached)
    const missing = { ...o, trainAnnotations: join(work, 'no-such-list.txt'), out: join(work, 'location-out') };
    await expect(trainHesp(missing)).rejects.toThrow(/\(10, 112\) puts the 56-pixel patch outside the 224×224 frame/);
  }, 120_000);

  it('batch sampling, abort, train, evaluate and publish give the bytes of trainHesp', async () => {
    const o = options({ out: join(work, 'by-hand') });
    const reference = await trainHesp({ ...o, out: join(work, 'reference') });
    const data = loadHespData(o);
    const run = RunDirectory.open(o.out, { command: 'test' });
    const controller = new AbortController();
    const { ctx, built, plan } = await handContext(o, data, run, controller.signal);
    const { texts, key, fingerprints } = plan;
    const paths = ctx.paths;
    try {
      const state = await startHespTraining(ctx, undefined, undefined);
      // the frame-sampling stage: [clips·T, 3, S, S], the order's clips, the same draws for the same step
      const order = hespEpochOrder(o.seed, data.train.length, 0);
      const b = await hespTrainBatch(o, data, built.model, ctx.read, order, 0, 1);
      expect(b.pixels.dims).toEqual([Math.min(o.batch, data.train.length - o.batch) * o.frames, 3, 224, 224]);
      expect(b.labels).toEqual(order.slice(o.batch, 2 * o.batch).map((i) => data.train[i]!.label));
      const again = await hespTrainBatch(o, data, built.model, ctx.read, order, 0, 1);
      expect(Buffer.from(again.pixels.data.buffer).equals(Buffer.from(b.pixels.data.buffer))).toBe(true);
      // an aborted epoch leaves a checkpoint at the step it stopped
      controller.abort(new Error('test'));
      await expect(trainHespEpoch(ctx, state, 0)).rejects.toThrow(AbortedError);
      expect(loadCheckpoint(paths.checkpoint).meta).toMatchObject({ key, epoch: 0, step: 0 });
      ctx.signal = undefined;
      const lr = await trainHespEpoch(ctx, state, 0);
      const steps = readFileSync(paths.trainLog, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { total: number });
      expect(steps.length).toBe(hespStepsPerEpoch(o, data));
      expect(state.lossSum).toBe(steps.reduce((a, s) => a + s.total, 0));
      const rec = await evaluateHespEpoch(ctx, state, 0, lr);
      expect(rec.selected).toBe(true);
      expect(existsSync(paths.best)).toBe(true);
      const resolved = resolvedHespConfig(o, key, data, texts);
      const metrics = {
        data,
        selection: resolved.selection,
        visualPromptCentre: built.model.location,
        epochs: state.epochs,
        cropper: undefined,
      };
      publishHespRun(run, paths, { ...metrics, fingerprints, modelFingerprint: built.modelFingerprint }, resolved);
    } finally {
      await built.model.release();
      run.close();
    }
    for (const f of ['epochs.jsonl', 'train-log.jsonl', 'best.safetensors'])
      expect(readFileSync(join(o.out, f)).equals(readFileSync(join(reference.outDir, f))), f).toBe(true);
  }, 300_000);
});
