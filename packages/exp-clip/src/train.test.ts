import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { AbortedError } from '@vlfer/core';
import { fingerprintFiles, loadCheckpoint, readSafetensors, saveCheckpoint, verifyRunOutputs } from '@vlfer/core/node';
import { encodeImages, loadClip } from '@vlfer/encoders/node';
import { sharedPath, copyWritable, processThreads } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { targetSpread } from '@vlfer/llm-knowledge';
import { trainHead as runTrain, type StepLog } from './index.js';

const model = sharedPath('fixtures', 'tiny-clip');
const work = mkdtempSync(join(tmpdir(), 'vlfer-train-'));
const unlabelled = join(work, 'caer-s', 'train');
const targetsFile = join(work, 'targets.jsonl');
const E = 32;

beforeAll(async () => {
  const paths: string[] = [];
  for (let i = 0; i < 48; i++) {
    const dir = join(unlabelled, i % 2 ? 'Happy' : 'Sad');
    mkdirSync(dir, { recursive: true });
    const px = new Uint8Array(40 * 40 * 3).map((_, k) => (i * 37 + k * ((i % 7) + 1) + ((k * i) % 13)) % 256);
    const p = join(dir, `${String(i).padStart(3, '0')}.png`);
    writeFileSync(
      p,
      await sharp(px, { raw: { width: 40, height: 40, channels: 3 } })
        .png()
        .toBuffer(),
    );
    paths.push(p);
  }
  // learnable synthetic teacher: targets = a fixed linear map of the centred CLIP features. The random tiny CLIP
  // maps every image to nearly the same direction (pairwise cosine ≥ 0.995), so centring is what makes the
  // targets distinct; a linear head can still fit them by projecting out the shared direction.
  const clip = await loadClip({ model, towers: ['vision'] });
  const f = (await encodeImages({ model: clip, items: paths, mode: 'exp-clip' })).features;
  const d = f.dims[1];
  const M = Float32Array.from({ length: E * d }, (_, k) => Math.sin(k * 1.3) + Math.cos(k * 0.7));
  const mean = Array.from(
    { length: d },
    (_, k) => paths.reduce((s, _p, i) => s + f.data[i * d + k]!, 0) / paths.length,
  );
  const lines = paths.map((p, i) => {
    const t = Array.from({ length: E }, (_, o) => {
      let s = 0;
      for (let k = 0; k < d; k++) s += M[o * d + k]! * (f.data[i * d + k]! - mean[k]!);
      return s;
    });
    return JSON.stringify({ path: p, embedding: t });
  });
  writeFileSync(targetsFile, `${lines.join('\n')}\n`);
}, 120_000);

const base = () => ({
  unlabelled,
  model,
  teacher: 'import' as const,
  teacherSource: targetsFile,
  epochs: 30,
  batch: 16,
  lr: 0.01,
  optimizer: 'adam' as const,
  weightDecay: 0,
  seed: 1,
  outputDim: E,
});
/** The training log as written (work/, the published train-log.jsonl only once the run ends). */
const readLog = (dir: string) =>
  readFileSync(join(dir, 'work', 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StepLog);

describe('exp-clip train end to end on tiny-clip with imported targets', () => {
  it('loss falls; writes head, log, config; the head loads with its metadata', async () => {
    const out = join(work, 'run');
    const r = await runTrain({ ...base(), out, cacheDir: join(work, 'cache') }, { log: () => {} });
    expect(r.status).toBe('completed');
    const logs = readLog(out);
    expect(logs.length).toBe(30 * 3);
    const firstEpoch = logs.filter((l) => l.epoch === 0).reduce((s, l) => s + l.loss, 0) / 3;
    const lastEpoch = logs.filter((l) => l.epoch === 29).reduce((s, l) => s + l.loss, 0) / 3;
    expect(lastEpoch).toBeLessThan(0.5 * firstEpoch);
    expect(lastEpoch).toBeLessThan(Math.log(16)); // better than chance for batch 16
    const acc = (epoch: number) => logs.filter((l) => l.epoch === epoch).reduce((a, l) => a + l.accuracy, 0) / 3;
    expect(acc(29)).toBeGreaterThan(acc(0));
    const head = readSafetensors(join(out, 'head.safetensors'));
    expect(head.tensors['mlp.weight']!.dims).toEqual([E, 24]);
    expect(head.metadata.epochs_completed).toBe('30');
    expect(JSON.parse(head.metadata.training_config!).lr).toBe(0.01);
    expect(JSON.parse(readFileSync(join(out, 'config.resolved.json'), 'utf8')).images).toBe(48);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.lastLoss).toBe(logs.at(-1)!.loss);
    expect(metrics.targetsFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(metrics.warnings).toEqual([]); // distinct targets: nothing to report
  });

  it('a cacheDir that cannot be used fails the run and releases the CLIP loaded for it', async () => {
    const file = join(work, 'cache-is-a-file');
    writeFileSync(file, 'x');
    const before = processThreads();
    for (let i = 0; i < 3; i++)
      await expect(runTrain({ ...base(), out: join(work, `cache-file-${i}`), cacheDir: file }, {})).rejects.toThrow(
        /cache-is-a-file/,
      );
    expect(processThreads()).toBeLessThanOrEqual(before);
  });
  it('a teacher that answers every image with the same vector is reported in the log and metrics.json (issue 22, item 10)', async () => {
    const same = join(work, 'same-targets.jsonl');
    const rows = readFileSync(targetsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string });
    const v = Array.from({ length: E }, (_, k) => Math.cos(k));
    writeFileSync(same, rows.map((r) => JSON.stringify({ path: r.path, embedding: v })).join('\n') + '\n');
    const out = join(work, 'same');
    const lines: string[] = [];
    await runTrain({ ...base(), teacherSource: same, epochs: 1, out }, { log: (l) => lines.push(l) });
    const w = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).warnings as string[];
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(
      /^the teacher \(.*same-targets\.jsonl\) gave the same target for all 48 images \(largest per-dimension std of the normalised targets \d\.\d\de[-+]\d+\): training cannot tell the images apart/,
    );
    expect(lines).toContain(`warning: ${w[0]}`);
    // the measure itself: 0 for one repeated direction (whatever the scale), > 0 as soon as one item differs
    expect(targetSpread([1, 2, 2, 4, 3, 6], 3, 2)).toBeLessThan(1e-7);
    expect(targetSpread([1, 0, 1, 0, 0, 1], 3, 2)).toBeCloseTo(Math.sqrt(2) / 3, 6);
    expect(() => targetSpread([1, 2, 3], 2, 2)).toThrow(/'data' passed to 'targetSpread': has 3 values, expected 4/);
  });

  it('an interrupted run resumes to exactly the weights of an uninterrupted one', async () => {
    const full = join(work, 'full');
    await runTrain({ ...base(), epochs: 3, out: full, cacheDir: join(work, 'cache') }, { log: () => {} });
    const part = join(work, 'part');
    let n = 0;
    const controller = new AbortController();
    await expect(
      runTrain(
        { ...base(), epochs: 3, out: part, cacheDir: join(work, 'cache') },
        {
          log: () => {},
          signal: controller.signal,
          onStep: () => {
            if (++n >= 4) controller.abort();
          },
        },
      ),
    ).rejects.toThrow(AbortedError);
    expect(readLog(part).length).toBe(4);
    // the log a resume keeps and publishes is the one the checkpoint was written after: deleted or edited, refused
    const logFile = join(part, 'work', 'train-log.jsonl');
    const logBytes = readFileSync(logFile);
    const again3 = { ...base(), epochs: 3, out: part, cacheDir: join(work, 'cache') };
    rmSync(logFile);
    await expect(runTrain(again3, { log: () => {} })).rejects.toThrow(
      /work\/train-log\.jsonl.*is missing: resuming would publish another log as this run's/,
    );
    expect(existsSync(logFile)).toBe(false); // a refused resume writes nothing (an empty log was left, named next time)
    writeFileSync(logFile, logBytes.toString('utf8').replace(/"loss":(\d)/, '"loss":9$1'));
    await expect(runTrain(again3, { log: () => {} })).rejects.toThrow(
      /work\/train-log\.jsonl.*holds other training steps than checkpoint\.safetensors recorded \(4 of its 4 steps, or other values/,
    );
    writeFileSync(logFile, logBytes);
    const resumed = await runTrain(
      { ...base(), epochs: 3, out: part, cacheDir: join(work, 'cache') },
      { log: () => {} },
    );
    expect(resumed.resumedFrom).toEqual({ epoch: 1, step: 1 });
    expect(resumed.status).toBe('completed');
    // an abort at the last step stops before the publish as well; the rerun publishes the same head
    const late = join(work, 'late');
    const stopLate = new AbortController();
    const lateRun = { ...base(), epochs: 3, out: late, cacheDir: join(work, 'cache') };
    let steps = 0;
    await expect(
      runTrain(lateRun, {
        log: () => {},
        signal: stopLate.signal,
        onStep: () => (++steps === 9 ? stopLate.abort() : 0),
      }),
    ).rejects.toThrow(AbortedError);
    expect(existsSync(join(late, 'head.safetensors'))).toBe(false);
    await runTrain(lateRun, { log: () => {} });
    expect(readFileSync(join(late, 'head.safetensors')).equals(readFileSync(join(full, 'head.safetensors')))).toBe(
      true,
    );
    expect(readLog(part).map((l) => l.globalStep)).toEqual(Array.from({ length: 9 }, (_, i) => i));
    expect(readSafetensors(join(part, 'head.safetensors')).tensors['mlp.weight']!.data).toEqual(
      readSafetensors(join(full, 'head.safetensors')).tensors['mlp.weight']!.data,
    );
    await expect(runTrain({ ...base(), lr: 0.02, epochs: 3, out: part }, { log: () => {} })).rejects.toThrow(
      /written with other training options/,
    );
    // a finished run answers without training once its data (read through the caches) are the published head's own:
    // head and log untouched
    const lines: string[] = [];
    const headBefore = readFileSync(join(part, 'head.safetensors'));
    const again = await runTrain({ ...base(), epochs: 3, out: part }, { log: (l) => lines.push(l) });
    expect(again).toMatchObject({ status: 'already-trained', steps: 0, resumedFrom: { epoch: 3, step: 0 } });
    expect(readFileSync(join(part, 'head.safetensors'))).toEqual(headBefore);
    expect(readLog(part).length).toBe(9);
    // the same files elsewhere answer too (content, not paths, decides) …
    const copy = join(work, 'clip-elsewhere');
    copyWritable(model, copy);
    const targetsCopy = join(work, 'targets-elsewhere.jsonl');
    copyWritable(targetsFile, targetsCopy);
    const elsewhere = { ...base(), model: copy, teacherSource: targetsCopy, epochs: 3, out: part };
    expect((await runTrain(elsewhere, { log: () => {} })).status).toBe('already-trained');
    // … and other files, at another path or changed in place under the same one, do not: the checkpoint refuses them
    const other = join(work, 'clip-other');
    copyWritable(model, other);
    const config = join(other, 'preprocessor_config.json');
    writeFileSync(config, `${readFileSync(config, 'utf8')}\n`);
    await expect(runTrain({ ...elsewhere, model: other }, { log: () => {} })).rejects.toThrow(
      /was trained on other data: the CLIP model files changed since/,
    );
    const negated = readFileSync(targetsCopy, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; embedding: number[] })
      .map((r) => JSON.stringify({ path: r.path, embedding: r.embedding.map((x) => -x) }));
    writeFileSync(targetsCopy, `${negated.join('\n')}\n`);
    await expect(runTrain(elsewhere, { log: () => {} })).rejects.toThrow(
      /was trained on other data: the teacher targets changed since/,
    );
    const head = readFileSync(join(part, 'head.safetensors'));
    // fewer epochs than the run went to: epoch 2's weights are gone, so refused, not answered with epoch 3's head
    await expect(runTrain({ ...base(), epochs: 2, out: part }, { log: () => {} })).rejects.toThrow(
      /went past epoch 2 \(3 epochs and 0 steps done, checkpoint\.safetensors\); the weights of epoch 2 were not kept: ask for 3 or more epochs/,
    );
    // an extension to 5 epochs, stopped: the published 3-epoch set stays whole (log, head, manifest) and still answers
    const published = readFileSync(join(part, 'train-log.jsonl'));
    const stop = new AbortController();
    let k = 0;
    const onStep = () => (++k >= 2 ? stop.abort() : undefined);
    const extend = runTrain({ ...base(), epochs: 5, out: part }, { log: () => {}, signal: stop.signal, onStep });
    await expect(extend).rejects.toThrow(AbortedError);
    verifyRunOutputs(part);
    expect(readFileSync(join(part, 'train-log.jsonl'))).toEqual(published);
    expect(readLog(part).length).toBe(11);
    const said: string[] = [];
    expect(await runTrain({ ...base(), epochs: 3, out: part }, { log: (l) => said.push(l) })).toMatchObject({
      status: 'already-trained',
    });
    // and says that the stopped extension's checkpoint is there to continue
    expect(said.filter((l) => l.includes('already trained'))).toEqual([
      `${part}: already trained (3 epochs); head in ${join(part, 'head.safetensors')}; a later call went on (checkpoint.safetensors: 3 epochs and 2 steps done): ask for 4 or more epochs to continue it`,
    ]);
    // other data at that point are said to be other data (not "ask for 4 or more epochs", which would refuse again)
    for (const epochs of [3, 2])
      await expect(runTrain({ ...elsewhere, epochs }, { log: () => {} })).rejects.toThrow(
        /was trained on other data: the teacher targets changed since/,
      );
    // without the checkpoint, a head of other options is refused instead of replaced
    rmSync(join(part, 'checkpoint.safetensors'));
    await expect(runTrain({ ...base(), lr: 0.02, epochs: 3, out: part }, { log: () => {} })).rejects.toThrow(
      /holds a head trained with other options .* and no checkpoint to compare with/,
    );
    // and so is one of other data (the targets negated above), also for other epochs: it was retrained over
    for (const epochs of [3, 4])
      await expect(runTrain({ ...elsewhere, epochs }, { log: () => {} })).rejects.toThrow(
        /holds a head trained on other data \(head\.safetensors; config\.resolved\.json's fingerprints\) and no checkpoint/,
      );
    // and so are fewer epochs of its options and data: the head of an earlier epoch would replace it
    await expect(runTrain({ ...base(), epochs: 2, out: part }, { log: () => {} })).rejects.toThrow(
      /holds a head published with 3 epochs; ask for 3 or more epochs \(it would be replaced by the head of epoch 2\)/,
    );
    // … also once a later call, stopped before the published epochs, has left a checkpoint
    const later = new AbortController();
    const stopAtOnce = { log: () => {}, signal: later.signal, onStep: () => later.abort() };
    await expect(runTrain({ ...base(), epochs: 5, out: part }, stopAtOnce)).rejects.toThrow(AbortedError);
    await expect(runTrain({ ...base(), epochs: 2, out: part }, { log: () => {} })).rejects.toThrow(
      /holds a head published with 3 epochs/,
    );
    rmSync(join(part, 'checkpoint.safetensors'));
    // a metrics.json other than the published one answers nothing
    const metricsBytes = readFileSync(join(part, 'metrics.json'));
    writeFileSync(join(part, 'metrics.json'), '{}');
    await expect(runTrain({ ...base(), epochs: 2, out: part }, { log: () => {} })).rejects.toThrow(
      /holds a published set whose metrics\.json cannot be read as published \(.*differs from the manifest/,
    );
    writeFileSync(join(part, 'metrics.json'), metricsBytes);
    expect(readFileSync(join(part, 'head.safetensors'))).toEqual(head);
    // an evaluation's directory is no training's: refused, its tables kept
    const evalDir = join(work, 'an-eval');
    mkdirSync(evalDir);
    writeFileSync(join(evalDir, 'predictions.csv'), 'x\n');
    writeFileSync(
      join(evalDir, 'manifest.json'),
      JSON.stringify({
        format: 'vlfer-run-outputs',
        version: 1,
        files: { 'predictions.csv': { sha256: 'x', bytes: 2 } },
      }),
    );
    await expect(runTrain({ ...base(), epochs: 1, out: evalDir }, { log: () => {} })).rejects.toThrow(
      /an-eval holds the results of another command \(predictions\.csv\), which 'exp-clip train' would replace/,
    );
    expect(readFileSync(join(evalDir, 'predictions.csv'), 'utf8')).toBe('x\n');
    // a run of another command killed before it published anything: its checkpoint is not this one's either
    const killed = join(work, 'a-killed-hesp');
    mkdirSync(killed);
    writeFileSync(join(killed, '.vlfer-run-kind'), 'hesp train\n');
    writeFileSync(join(killed, 'checkpoint.safetensors'), 'c');
    await expect(runTrain({ ...base(), epochs: 1, out: killed }, { log: () => {} })).rejects.toThrow(
      /^Argument 'out' passed to 'trainHead': .*a-killed-hesp holds an unfinished run of 'hesp train' \(checkpoint\.safetensors\), which 'exp-clip train' would replace/,
    );
    // …and one from before kinds were recorded is known by its checkpoint
    const older = join(work, 'an-older-hesp');
    mkdirSync(older);
    const meta = { key: 'k', epoch: 0, step: 1, framesFingerprint: 'f' };
    saveCheckpoint(join(older, 'checkpoint.safetensors'), { tensors: {}, meta });
    await expect(runTrain({ ...base(), epochs: 1, out: older }, { log: () => {} })).rejects.toThrow(
      /an-older-hesp\/checkpoint\.safetensors is the checkpoint of a 'hesp train' run, not of 'exp-clip train'/,
    );
    // the head's own set records its kind, which an evaluation checks
    expect(JSON.parse(readFileSync(join(part, 'manifest.json'), 'utf8')).kind).toBe('exp-clip train');
  });

  it('a checkpoint that fingerprinted a tokenizer given apart as vlfer before 2026-12-06 did (left out) resumes', async () => {
    // weights without a tokenizer or ONNX graphs (the 'graphs' runtime), the tokenizer from its own directory
    const bare = join(work, 'clip-weights-only');
    copyWritable(model, bare);
    for (const f of ['onnx', 'tokenizer.json', 'tokenizer_config.json']) rmSync(join(bare, f), { recursive: true });
    const o = { ...base(), model: bare, tokenizer: sharedPath('assets', 'clip-tokenizer'), epochs: 2 };
    const out = join(work, 'earlier-tokenizer-form');
    const controller = new AbortController();
    let n = 0;
    const onStep = () => (++n >= 2 ? controller.abort() : undefined);
    await expect(runTrain({ ...o, out }, { log: () => {}, signal: controller.signal, onStep })).rejects.toThrow(
      AbortedError,
    );
    // the checkpoint as that vlfer wrote it: the model's fingerprint of the weights directory's own files
    const ckPath = join(out, 'checkpoint.safetensors');
    const ck = loadCheckpoint(ckPath);
    const own = ['config.json', 'model.safetensors', 'preprocessor_config.json'];
    const earlier = fingerprintFiles(Object.fromEntries(own.map((f) => [f, join(bare, f)])));
    expect(ck.meta.modelFingerprint).not.toBe(earlier);
    saveCheckpoint(ckPath, { ...ck, meta: { ...ck.meta, modelFingerprint: earlier } });
    const resumed = await runTrain({ ...o, out }, { log: () => {} });
    expect(resumed).toMatchObject({ status: 'completed', resumedFrom: { epoch: 0, step: 2 } });
    // another fingerprint is still other model files
    const other = join(work, 'earlier-tokenizer-other');
    n = 0;
    const stop = new AbortController();
    await expect(
      runTrain(
        { ...o, out: other },
        { log: () => {}, signal: stop.signal, onStep: () => (++n >= 2 ? stop.abort() : undefined) },
      ),
    ).rejects.toThrow(AbortedError);
    const ck2 = loadCheckpoint(join(other, 'checkpoint.safetensors'));
    saveCheckpoint(join(other, 'checkpoint.safetensors'), {
      ...ck2,
      meta: { ...ck2.meta, modelFingerprint: '0'.repeat(64) },
    });
    await expect(runTrain({ ...o, out: other }, { log: () => {} })).rejects.toThrow(
      /was trained on other data: the CLIP model files changed since/,
    );
  }, 300_000);

  it('rejects a batch larger than the data, a teacher/head dim mismatch and a missing image set', async () => {
    await expect(runTrain({ ...base(), unlabelled: join(work, 'typo'), out: join(work, 'typo-out') })).rejects.toThrow(
      /Argument 'unlabelled' passed to 'trainHead': the root '.*typo' /,
    );
    await expect(runTrain({ ...base(), batch: 64, out: join(work, 'big') }, { log: () => {} })).rejects.toThrow(
      /Argument 'batch' passed to 'trainHead': 64 is larger than the 48 training images/,
    );
    await expect(runTrain({ ...base(), outputDim: 4096, out: join(work, 'dim') }, { log: () => {} })).rejects.toThrow(
      /teacher target has 32 values, expected 4096/,
    );
  });
});
