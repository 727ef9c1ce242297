import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RunLockedError } from '@vlfer/core';
import { loadCheckpoint, RunDirectory, saveCheckpoint } from '@vlfer/core/node';
import { sharedPath, writeSyntheticVideoSet, copyWritable } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { auroc } from '@vlfer/metrics';
import { BASIC_7 } from '@vlfer/datasets';
import { listFrames } from '@vlfer/datasets/node';
import {
  evaluateHespRun as evaluateRun,
  loadHespData,
  planHespRun,
  readHespCheckpoint,
  trainHesp as runHesp,
  type EpochRecord,
} from './index.js';
import { createFaceCropper } from '@vlfer/faces/node';
import { HespOptionsSchema } from './options.js';

const work = mkdtempSync(join(tmpdir(), 'vlfer-hesp-'));
const model = sharedPath('fixtures', 'tiny-clip');

beforeAll(async () => {
  await writeSyntheticVideoSet(work, {
    trainClasses: [0, 1, 2],
    testClasses: [0, 1, 2, 3, 4],
    trainPerClass: 5,
    testPerClass: 2,
    trainFrames: 6,
    testFrames: 5,
  });
}, 120_000);

const cfg = (out: string, epochs: number) => ({
  dataset: 'afew' as const,
  trainAnnotations: join(work, 'train.txt'),
  testAnnotations: join(work, 'test.txt'),
  root: work,
  known: [0, 1, 2],
  model,
  epochs,
  batch: 6,
  frames: 2,
  nCtx: 4,
  logitScale: 14.28,
  seed: 0,
  valFraction: 0.2,
  out: join(work, out),
});

describe('hesp train/eval end to end on tiny-clip with synthetic frame directories', () => {
  it('trains, the loss falls, metrics are written each epoch, and a rerun resumes', async () => {
    const r = await runHesp(cfg('run', 3), { log: () => {} });
    expect(r.epochs.length).toBe(3);
    const steps = readFileSync(join(work, 'run', 'train-log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; total: number });
    expect(steps.length).toBe(3 * 2); // 12 train clips (3 held out for validation) / batch 6
    expect(steps.at(-1)!.total).toBeLessThan(steps[0]!.total);
    const epochs = readFileSync(join(work, 'run', 'epochs.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EpochRecord);
    for (const e of epochs) {
      expect(e.test.n_known).toBe(6);
      expect(e.test.n_unknown).toBe(4);
      for (const k of [
        'closed_set_accuracy',
        'auroc_standard',
        'auroc_arpl',
        'oscr_standard',
        'oscr_arpl',
        'tnr_at_tpr95_standard',
        'tnr_at_tpr95_arpl',
      ])
        expect(e.test[k]).toBeGreaterThanOrEqual(0);
      expect(e.val!.n).toBe(3);
    }
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    const metrics = JSON.parse(readFileSync(join(work, 'run', 'metrics.json'), 'utf8'));
    expect(metrics.selection).toMatch(/closed-set accuracy on the validation part/);
    // the labels as read, defaults included (neither a label scheme nor a label set was given)
    const resolved = JSON.parse(readFileSync(join(work, 'run', 'config.resolved.json'), 'utf8'));
    expect(resolved.labelSet).toBeUndefined();
    expect(resolved.labels).toEqual({
      scheme: 'dfer-clip',
      labelSet: { id: 'basic-7', names: BASIC_7.names },
      reason: "the dataset's default 'basic-7'",
    });
    expect(Object.keys(metrics.metricDefinitions)).toEqual(['standard', 'arpl']);
    // the CAM rule chose a centre where the 56-px patch fits
    for (const v of [metrics.visualPromptCentre.row, metrics.visualPromptCentre.col]) {
      expect(v).toBeGreaterThanOrEqual(28);
      expect(v).toBeLessThanOrEqual(195);
    }
    const more = await runHesp(cfg('run', 4), { log: () => {} });
    expect(more.resumedFrom).toEqual({ epoch: 3, step: 0 });
    expect(JSON.parse(readFileSync(join(work, 'run', 'metrics.json'), 'utf8')).visualPromptCentre).toEqual(
      metrics.visualPromptCentre,
    );
    expect(more.epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
    const evalLog: string[] = [];
    // the run stays locked from the first read to the publish (a training publishing a newer state in between had its
    // files merged with scores of the older one): another opener is refused while the evaluation logs its result
    const lockedOut: unknown[] = [];
    const tryLock = () => {
      try {
        RunDirectory.open(join(work, 'run'), { command: 'test' }).close();
        lockedOut.push('opened');
      } catch (error) {
        lockedOut.push(error);
      }
    };
    const scored = await evaluateRun(join(work, 'run'), { log: (l) => (evalLog.push(l), tryLock()) });
    expect(lockedOut.length).toBeGreaterThan(0);
    for (const e of lockedOut) expect(e).toBeInstanceOf(RunLockedError);
    expect(scored.test.n_known! + scored.test.n_unknown!).toBe(10);
    // tied known-ness scores are counted (the ARPL OSCR of the reference code depends on their order) and printed
    const ties = scored.test.ties!;
    const all = [...scored.known, ...scored.unknown].map((r) => r.knownness);
    expect(ties).toBe(all.filter((v) => all.filter((w) => w === v).length > 1).length);
    expect(JSON.parse(readFileSync(join(work, 'run', 'eval.json'), 'utf8')).test.ties).toBe(ties);
    expect(evalLog.at(-1)).toMatch(new RegExp(`; ties ${ties} of 10 known-ness scores`));
    const m2 = JSON.parse(readFileSync(join(work, 'run', 'metrics.json'), 'utf8'));
    expect(m2.best.test.ties).toBeGreaterThanOrEqual(0);
    expect(m2.ties).toMatch(/^test\.ties: how many test clips .* numpy's unstable argsort; vlfer sorts stably/);
    expect(JSON.parse(readFileSync(join(work, 'run', 'eval.json'), 'utf8')).test.auroc_arpl).toBeCloseTo(
      scored.test.auroc_arpl!,
      12,
    );
    // scores.csv: one row per test clip; its known-ness scores reproduce the reported AUROC and accuracy
    const csv = readFileSync(join(work, 'run', 'scores.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('set,frame_dir,label,predicted,knownness');
    expect(csv.length).toBe(11);
    const col = (set: string) =>
      csv
        .slice(1)
        .map((l) => l.split(','))
        .filter((c) => c[0] === set);
    expect(
      auroc(
        col('known').map((c) => Number(c[4])),
        col('unknown').map((c) => Number(c[4])),
      ),
    ).toBeCloseTo(scored.test.auroc_standard!, 12);
    expect(
      auroc(
        col('known').map((c) => Number(c[4])),
        col('unknown').map((c) => Number(c[4])),
        { ties: 'zero' },
      ),
    ).toBeCloseTo(scored.test.auroc_arpl!, 12);
    expect(col('known').filter((c) => c[2] === c[3]).length / 6).toBeCloseTo(scored.test.closed_set_accuracy!, 12);
    expect(scored.classNames).toEqual(['Happy', 'Sad', 'Neutral']);
  }, 300_000);
  it('a known class without training or test clips is a warning naming the class and the list (issue 22, item 10)', () => {
    const load = (extra: object) => loadHespData(HespOptionsSchema.parse({ ...cfg('warn', 1), ...extra }));
    expect(load({}).warnings).toEqual([]);
    // class 3 (sadness) has test clips but no training clips; class 5 has neither
    const d = load({ known: [0, 1, 3, 5] });
    expect(d.warnings).toEqual([
      `known classes 3 (${d.labelSet.names[3]}), 5 (${d.labelSet.names[5]}) have no training clips in ${join(work, 'train.txt')}: only their names (the text prompts) represent them`,
      `known class 5 (${d.labelSet.names[5]}) has no test clips in ${join(work, 'test.txt')}: closed-set accuracy and the open-set numbers are over the other known classes`,
    ]);
  });
  it('frames numbered without zero padding are a warning naming the list and the clip (name order is not time order)', () => {
    const dir = join(work, 'frames-unpadded', 'clip');
    mkdirSync(dir, { recursive: true });
    for (let i = 1; i <= 10; i++) copyWritable(listFrames(join(work, 'frames', 'tr_0_0'))[0]!, join(dir, `${i}.png`));
    const train = join(work, 'train-unpadded.txt');
    writeFileSync(train, `${readFileSync(join(work, 'train.txt'), 'utf8').trimEnd()}\nframes-unpadded/clip 10 0\n`);
    const d = loadHespData(HespOptionsSchema.parse({ ...cfg('warn-order', 1), trainAnnotations: train }));
    expect(d.warnings).toEqual([
      expect.stringMatching(
        /^.*train-unpadded\.txt: the frames of 1 of 16 clips are numbered with numbers of different widths \(first at line 16, '.*clip': '10\.png' sorts before '2\.png'\)/,
      ),
    ]);
  });
  it("takes any label set: ad-hoc classes, a built-in id or a JSON file; HESP split indices need the dataset's classes", () => {
    const load = (extra: object) => loadHespData(HespOptionsSchema.parse({ ...cfg('ls', 1), ...extra }));
    // classes of one's own: the lists' ids are positions in them ('label-set'); DFER-CLIP's ids name expressions
    expect(() => load({ classes: ['calm', 'joy', 'gloom', 'rage', 'shock'] })).toThrow(
      /train\.txt:\d+ \(field .label.\): label \d \(= \w+ under the dfer-clip scheme\) is not a class of label set classes:calm,.*labelScheme 'label-set'/,
    );
    const adHoc = load({ classes: ['calm', 'joy', 'gloom', 'rage', 'shock'], labelScheme: 'label-set' });
    expect(adHoc.labelSet.names).toEqual(['calm', 'joy', 'gloom', 'rage', 'shock']);
    expect(adHoc.labelSetReason).toBe('given with classes');
    expect(adHoc.testUnknown.length).toBe(4); // classes 3 and 4 of the test list
    // contempt-7 has no neutral: the lists' neutral clips (DFER-CLIP id 2) are refused, not read as another class
    expect(() => load({ labelSet: 'contempt-7' })).toThrow(/label 2 \(= neutral under the dfer-clip scheme\)/);
    expect(load({ labelSet: 'contempt-7', labelScheme: 'label-set' }).labelSet.names.at(-1)).toBe('contempt');
    const file = join(work, 'five.json');
    writeFileSync(file, JSON.stringify({ id: 'five', names: ['a', 'b', 'c', 'd', 'e'] }));
    expect(load({ labelSet: file, labelScheme: 'label-set' }).labelSetReason).toBe(`from ${file}`);
    expect(() =>
      load({ classes: ['a', 'b', 'c', 'd', 'e'], labelScheme: 'label-set', known: undefined, splitIndex: 0 }),
    ).toThrow(
      /split 0 is over the classes of basic-7 \(happiness, .*\), label set classes:a,b,c,d,e has a, b, c, d, e; it lacks happiness, .*; give known class ids instead/,
    );
    // both: one would be ignored silently
    expect(() => load({ classes: ['a', 'b', 'c'], labelSet: 'basic-7', known: [0, 1] })).toThrow(
      /Argument 'classes' passed to 'resolveLabelSet': was given with labelSet 'basic-7' too: give one/,
    );
    // two names of one class: the option is named, not an inner function's argument
    expect(() => load({ classes: ['happiness', 'happy', 'anger'], known: [0, 1] })).toThrow(
      /Argument 'classes' passed to 'resolveLabelSet': 'happy' and 'happiness' name the same class|Argument 'classes' passed to 'resolveLabelSet': 'happiness' and 'happy' name the same class/,
    );
    expect(() => load({ labelSet: 'no-such-set' })).toThrow(
      /'no-such-set' is neither a built-in label set \(.*basic-7.*\) nor a JSON file/,
    );
    // a list label outside the label set names the list, the line and the set
    expect(() => load({ classes: ['a', 'b', 'c'], labelScheme: 'label-set', known: [0, 1] })).toThrow(
      /test\.txt:\d+ \(field 'label'\): label '3' out of range; expected an integer 0..2 \(label-set scheme, label set classes:a,b,c\)/,
    );
  });
  it("reads FERV39k with vlfer's seeded open-set splits (ferv39kOpenSetSplits)", () => {
    // split 0 of FERV39k knows happiness and sadness (BASIC_7 ids 0, 1); the test list has classes 0..4, 2 clips each
    const d = loadHespData(
      HespOptionsSchema.parse({ ...cfg('ferv39k', 1), dataset: 'ferv39k', known: undefined, splitIndex: 0 }),
    );
    expect(d.split.known).toEqual([0, 1]);
    expect(d.labelSet.id).toBe('basic-7');
    expect(d.testKnown.length).toBe(4);
    expect(d.testUnknown.length).toBe(6);
  });
  it('trains and evaluates on face crops followed through each clip (frames cut from real photos)', async () => {
    const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
    const root = join(work, 'faces-data');
    const lines = { train: [] as string[], test: [] as string[] };
    for (const [set, classes] of [
      ['train', [0, 1, 2]],
      ['test', [0, 1, 2, 3]],
    ] as const) {
      for (const c of classes) {
        for (let k = 0; k < 2; k++) {
          const dir = join(root, `${set}_${c}_${k}`);
          mkdirSync(dir, { recursive: true });
          for (let t = 0; t < 3; t++)
            await sharp(join(demo, `sample${1 + ((c + k) % 6)}.jpg`))
              .extract({ left: 60 * t + 40 * k, top: 40, width: 1200, height: 900 })
              .resize(400, 300)
              .png()
              .toFile(join(dir, `${t}.png`));
          lines[set].push(`${dir} 3 ${c + 1}`);
        }
      }
    }
    writeFileSync(join(root, 'train.txt'), `${lines.train.join('\n')}\n`);
    writeFileSync(join(root, 'test.txt'), `${lines.test.join('\n')}\n`);
    const logs: string[] = [];
    const o = {
      ...cfg('faces-run', 1),
      trainAnnotations: join(root, 'train.txt'),
      testAnnotations: join(root, 'test.txt'),
      root,
      batch: 3,
      valFraction: 0,
      faces: {
        align: true,
        modelDir: sharedPath('assets', 'face-detectors'),
        cacheDir: join(work, 'faces-cache'),
        noFace: 'full' as const,
      },
    };
    const r = await runHesp(o, { log: (l) => logs.push(l) });
    expect(r.epochs).toHaveLength(1);
    expect(logs.join('\n')).toMatch(
      /faces \(yunet-s aligned 224px, largest, no face: full\): \d+ images\/clips — 0 with none/,
    );
    const m = JSON.parse(readFileSync(join(work, 'faces-run', 'metrics.json'), 'utf8'));
    const [, nTrain] = /train (\d+), val 0/.exec(logs.join('\n'))!;
    // the published set holds the face settings only; what this process saw and the cache use go to run.json
    expect(m.faces).toEqual({ description: 'yunet-s aligned 224px, largest, no face: full' });
    const runInfo = JSON.parse(readFileSync(join(work, 'faces-run', 'run.json'), 'utf8'));
    expect(runInfo.faces.cache.detected).toBeGreaterThan(0);
    // each clip is counted once although its frames are read every epoch (and once more for the CAM location)
    expect(runInfo.faces.counts.images).toBe(Number(nTrain) + m.best.test.n_known + m.best.test.n_unknown);
    const scored = await evaluateRun(join(work, 'faces-run'), { log: () => {} });
    expect(scored.test.n_known! + scored.test.n_unknown!).toBe(8);
    // the checkpoint records what cut the crops; one without it (a vlfer before 2026-12-06, whose box crops were
    // cut otherwise) does not continue on today's crops; with it, the run continues
    const ckPath = join(work, 'faces-run', 'checkpoint.safetensors');
    const ck = loadCheckpoint(ckPath);
    expect((ck.meta as { facesFingerprint?: string }).facesFingerprint).toMatch(/^[0-9a-f]{64}$/);
    const { facesFingerprint: _f, ...older } = ck.meta as Record<string, unknown>;
    void _f;
    saveCheckpoint(ckPath, { ...ck, meta: older });
    await expect(runHesp({ ...o, epochs: 2 }, { log: () => {} })).rejects.toThrow(
      /checkpoint\.safetensors was trained on other data: the face crops \(not recorded by a vlfer before 2026-12-06, whose box crops were cut otherwise\) changed since/,
    );
    saveCheckpoint(ckPath, ck);
    expect((await runHesp({ ...o, epochs: 2 }, { log: () => {} })).resumedFrom).toEqual({ epoch: 1, step: 0 });
    // the detector's folder spelt otherwise, another cache folder: the same crops (their fingerprint), one run
    const moved = { ...o.faces, modelDir: `${o.faces.modelDir}/`, cacheDir: join(work, 'faces-cache-2') };
    const resumed = await runHesp({ ...o, faces: moved, epochs: 3 }, { log: () => {} });
    expect(resumed.resumedFrom).toEqual({ epoch: 2, step: 0 });
    // the same detector by its file instead of its name, no model folder, the default threshold written out: the
    // same crops, one run
    const modelDir = sharedPath('assets', 'face-detectors');
    const byFile = {
      ...o.faces,
      modelDir: undefined,
      detector: join(modelDir, 'yunet_s_dynamic.onnx'),
      scoreThreshold: 0.7,
    };
    expect((await runHesp({ ...o, faces: byFile, epochs: 3 }, { log: () => {} })).resumedFrom).toEqual({
      epoch: 3,
      step: 0,
    });
    // a published run without its checkpoint is trained again where its crops are the same, spelt otherwise
    const againDir = join(work, 'faces-again');
    copyWritable(join(work, 'faces-run'), againDir);
    rmSync(join(againDir, 'checkpoint.safetensors'));
    const again = await runHesp({ ...o, out: againDir, faces: byFile, epochs: 3 }, { log: () => {} });
    expect(again.resumedFrom).toBeNull();
    expect(again.epochs).toHaveLength(3);
    // the stage itself (the checkpoint now records the moved spelling): the first spelling is the recorded run only
    // where the crops are checked
    const parsed = HespOptionsSchema.parse({ ...o, epochs: 4 });
    const data = loadHespData(parsed);
    const plan = await planHespRun(parsed, data, () => {});
    const ckFile = join(work, 'faces-run', 'checkpoint.safetensors');
    expect(() => readHespCheckpoint(ckFile, parsed, plan.key, plan.fingerprints, data, plan.asSpelt)).toThrow(
      /belongs to a run with other options \(faces\.cacheDir .*faces\.modelDir/,
    );
    const cropper = await createFaceCropper(parsed.faces!, { clips: true });
    try {
      const fp = cropper.fingerprint;
      expect(readHespCheckpoint(ckFile, parsed, plan.key, plan.fingerprints, data, plan.asSpelt, fp)?.meta.epoch).toBe(
        3,
      );
      expect(() =>
        readHespCheckpoint(ckFile, parsed, plan.key, plan.fingerprints, data, plan.asSpelt, 'f'.repeat(64)),
      ).toThrow(/the face crops \(the detector, the crop settings or how this vlfer cuts them\) changed since/);
    } finally {
      await cropper.dispose();
    }
    // hesp eval scores the selected state on the crops it was trained on: a detector file replaced is refused
    const detector = join(work, 'detector-copy.onnx');
    copyWritable(sharedPath('assets', 'face-detectors', 'yunet_s_dynamic.onnx'), detector);
    const byPath = { ...o, out: join(work, 'faces-path-run'), faces: { ...o.faces, detector } };
    await runHesp(byPath, { log: () => {} });
    copyWritable(sharedPath('assets', 'face-detectors', 'yunet_n_320_320.onnx'), detector);
    await expect(evaluateRun(join(work, 'faces-path-run'), { log: () => {} })).rejects.toThrow(
      /metrics\.json was trained on other data: the face crops \(the detector, the crop settings or how this vlfer cuts them\) changed since\. Its selected state would be scored on other crops/,
    );
    // nor is it trained again on them in place of its results, checkpoint or not
    rmSync(join(work, 'faces-path-run', 'checkpoint.safetensors'));
    await expect(runHesp(byPath, { log: () => {} })).rejects.toThrow(
      /best\.safetensors was trained on other data: the face crops \(the detector, the crop settings or how this vlfer cuts them\) changed since\. Training again would replace its results/,
    );
    await expect(
      runHesp(
        { ...o, out: join(work, 'faces-bad'), faces: { ...o.faces, noFace: 'skip' as never } },
        { log: () => {} },
      ),
    ).rejects.toThrow(/faces\.noFace: Invalid option: expected one of "full"\|"fail"/);
  }, 300_000);
  it('refuses to resume after a list was relabelled in place, a frame replaced or the CLIP weights changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-hesp-changed-'));
    await writeSyntheticVideoSet(dir, {
      trainClasses: [0, 1, 2],
      testClasses: [0, 1, 2, 3],
      trainPerClass: 3,
      testPerClass: 1,
      trainFrames: 3,
      testFrames: 3,
    });
    const clip = join(dir, 'clip');
    copyWritable(model, clip);
    const o = (epochs: number) => ({
      ...cfg('unused', epochs),
      trainAnnotations: join(dir, 'train.txt'),
      testAnnotations: join(dir, 'test.txt'),
      root: dir,
      model: clip,
      batch: 4,
      out: join(dir, 'run'),
    });
    const first = await runHesp(o(1), { log: () => {} });
    expect(first.epochs.length).toBe(1);
    const metrics = JSON.parse(readFileSync(join(dir, 'run', 'metrics.json'), 'utf8'));
    /** Change a file, expect the resume to be refused naming the change, restore it. */
    const refusedAfter = async (file: string, change: (bytes: Buffer) => Buffer, named: RegExp) => {
      const original = readFileSync(file);
      writeFileSync(file, change(Buffer.from(original)));
      await expect(runHesp(o(2), { log: () => {} })).rejects.toThrow(named);
      writeFileSync(file, original);
    };
    const trainList = join(dir, 'train.txt');
    await refusedAfter(
      trainList,
      (b) => Buffer.from(b.toString('utf8').replace('frames/tr_0_0 3 0', 'frames/tr_0_0 3 1')), // same size, relabelled
      /checkpoint\.safetensors was trained on other data: the training list \S*train\.txt changed since/,
    );
    await refusedAfter(
      join(dir, 'frames', 'tr_1_2', '00001.png'),
      () => readFileSync(join(dir, 'frames', 'tr_2_0', '00001.png')), // another valid frame
      /was trained on other data: the video frames changed since/,
    );
    await refusedAfter(
      join(clip, 'model.safetensors'),
      (b) => {
        b[b.length - 2]! ^= 0x80; // the sign of one weight (safetensors carry no checksum; the file stays valid)
        return b;
      },
      /was trained on other data: the CLIP model files \(\S*clip\) changed since/,
    );
    // `hesp eval` of the finished run scores its selected state on the data it was selected on, or refuses
    const frame = join(dir, 'frames', 'te_0_0', '00001.png');
    const kept = readFileSync(frame);
    writeFileSync(frame, readFileSync(join(dir, 'frames', 'tr_2_0', '00001.png')));
    await expect(evaluateRun(join(dir, 'run'), { log: () => {} })).rejects.toThrow(
      /metrics\.json was trained on other data: the video frames changed since\. Its selected state would be scored on data it was not trained and selected on/,
    );
    writeFileSync(frame, kept);
    // everything restored: the same command resumes, with the same files spelt otherwise too (as tab completion
    // does) and the dataset's default label set and scheme named instead of left out
    const same = { model: `${clip}/`, root: `${dir}/./`, labelSet: 'basic-7', labelScheme: 'dfer-clip' as const };
    const resumed = await runHesp({ ...o(2), ...same }, { log: () => {} });
    expect(resumed.resumedFrom).toEqual({ epoch: 1, step: 0 });
    expect(metrics.modelFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(metrics.framesFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(readFileSync(join(dir, 'run', 'metrics.json'), 'utf8')).modelFingerprint).toBe(
      metrics.modelFingerprint,
    );
  }, 180_000);
  it('rejects unknown split options clearly', async () => {
    await expect(runHesp({ ...cfg('bad', 1), known: [0, 9] }, { log: () => {} })).rejects.toThrow(
      /class id 9 is outside basic-7/,
    );
    await expect(runHesp({ ...cfg('bad', 1), known: [0, 0, 1] }, { log: () => {} })).rejects.toThrow(
      /class id 0 \(happiness\) is listed twice/,
    );
    await expect(runHesp({ ...cfg('bad', 1), splitIndex: 3 }, { log: () => {} })).rejects.toThrow(
      /known: explicit known class ids and a HESP split \(splitIndex\) were both given: give one/,
    );
    await expect(runHesp({ ...cfg('bad', 1), location: { row: 1000, col: 1000 } }, { log: () => {} })).rejects.toThrow(
      /\(1000, 1000\) puts the 56-pixel patch outside the 224×224 frame/,
    );
  });
});
