import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import { createRng } from '@vlfer/core';
import { readSafetensors } from '@vlfer/core/node';
import { auroc } from '@vlfer/metrics';
import { sharedPath, writeSmallVideoSet, copyWritable } from '@vlfer/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { expandAblation, lockAblation, methodOf, readRows, runAblation, writeSummary } from './ablations.js';
import { writeReport } from './report.js';
import { ABLATIONS, benchDataPaths, checkAblationSpec, loadBenchData, type AblationSpec } from './registry.js';

const csvLines = (path: string) => readFileSync(path, 'utf8').trim().split('\n');
const HEADER =
  'ablation,method,backbone,train_set,split,prompt_type,preprocess,dataset,subset,seeds,n,uar_mean,uar_std,war_mean,war_std,closed_set_acc_mean,closed_set_acc_std,auroc_arpl_mean,auroc_arpl_std,oscr_arpl_mean,oscr_arpl_std,tnr_at_tpr95_arpl_mean,tnr_at_tpr95_arpl_std,auroc_standard_mean,auroc_standard_std,oscr_standard_mean,oscr_standard_std,tnr_at_tpr95_standard_mean,tnr_at_tpr95_standard_std,git_sha,git_dirty,dataset_fingerprint,shots,ci,uar_ci_low,uar_ci_high,war_ci_low,war_ci_high,closed_set_acc_ci_low,closed_set_acc_ci_high,auroc_standard_ci_low,auroc_standard_ci_high,oscr_standard_ci_low,oscr_standard_ci_high,warnings';

describe('ablation registry and runner', () => {
  it('expands the grids: 5 prompt types × 2 preprocessings; 3 backbones × 5 prompt types × 3 seeds; 20 HESP splits', () => {
    const runs = expandAblation(
      'exp-clip-zero-shot/prompt-x-preprocess',
      ABLATIONS['exp-clip-zero-shot/prompt-x-preprocess'],
    );
    expect(runs.length).toBe(10);
    expect(new Set(runs.map((r) => r.id)).size).toBe(10);
    expect(
      expandAblation('exp-clip-trained/backbone-x-seed', ABLATIONS['exp-clip-trained/backbone-x-seed']).length,
    ).toBe(45);
    const hesp = expandAblation('hesp/mafw-20-splits', ABLATIONS['hesp/mafw-20-splits']);
    expect(hesp.map((r) => r.coords.split)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
  it('a registry entry is checked whole before its first run; every built-in one passes', async () => {
    for (const [id, spec] of Object.entries(ABLATIONS)) expect(checkAblationSpec(id, spec)).toBe(spec);
    const results = mkdtempSync(join(tmpdir(), 'vlfer-abl-spec-'));
    const base = ABLATIONS['exp-clip-zero-shot/prompt-x-preprocess'];
    const grid = (axes: object): Record<string, AblationSpec> => ({
      g: { ...base, axes: { ...base.axes, ...axes } } as AblationSpec,
    });
    const run = (registry: Record<string, AblationSpec>) =>
      runAblation('g', { shared: sharedPath(), resultsDir: results, registry, log: () => {} });
    await expect(run(grid({ promptType: ['class_name', 'class_description'] }))).rejects.toThrow(
      /'registry\.g\.axes\.promptType\.1' passed to 'runAblation': Invalid option: expected one of/,
    );
    await expect(run(grid({ backbones: ['tiny-clip'] }))).rejects.toThrow(/'registry\.g\.axes'.*backbones/);
    await expect(run({ g: { ...base, seeds: [] } })).rejects.toThrow(/'registry\.g\.seeds'/);
    await expect(run({ g: { ...base, seeds: [1, 1] } })).rejects.toThrow(/'registry\.g\.seeds' .*lists 1 twice/);
    await expect(run(grid({ promptType: ['class_name', 'class_name'] }))).rejects.toThrow(
      /'registry\.g\.axes\.promptType' .*lists "class_name" twice/,
    );
    await expect(
      runAblation('prompt-x', { shared: sharedPath(), resultsDir: results, onProgress: 1 as never }),
    ).rejects.toThrow(/Unknown ablation/);
    await expect(
      runAblation('exp-clip-zero-shot/prompt-x-preprocess', {
        shared: sharedPath(),
        resultsDir: results,
        signal: new AbortController() as never,
      }),
    ).rejects.toThrow(/'signal' passed to 'runAblation': expected an AbortSignal, got an AbortController/);
    expect(readdirSync(results)).toEqual([]); // nothing ran, nothing was locked
  });
  it('one process at a time per ablation (or shard) and results directory: a second is refused naming the holder', () => {
    const results = mkdtempSync(join(tmpdir(), 'vlfer-abl-lock-'));
    const first = lockAblation(results, 'closed-set/zero-shot-vs-probes', undefined, () => {});
    try {
      // the tester's two `bench:ablations` on one results directory each rewrote the rows file: 31 finished rows lost
      expect(() => lockAblation(results, 'closed-set/zero-shot-vs-probes', undefined, () => {})).toThrow(
        /in use by another run: pid \d+ .*bench:ablations closed-set\/zero-shot-vs-probes/,
      );
      // other ablations and other shards write other files: they run side by side
      lockAblation(results, 'open-set/hesp-vs-baselines-smoke', undefined, () => {}).close();
      lockAblation(results, 'closed-set/zero-shot-vs-probes', { index: 0, count: 2 }, () => {}).close();
    } finally {
      first.close();
    }
    lockAblation(results, 'closed-set/zero-shot-vs-probes', undefined, () => {}).close();
  });
  it('a method axis puts several methods on the same grid, one run (and id) per method, the method in the coordinates', () => {
    const spec: AblationSpec = {
      method: 'hesp',
      axes: { method: ['hesp', 'face-api'], backbone: ['vit-b32'], dataset: ['mafw'], split: [0, 1] },
      seeds: [0],
      description: 'test',
    };
    const runs = expandAblation('side-by-side', spec);
    expect(runs.map((r) => [r.coords.method, r.coords.split])).toEqual([
      ['hesp', 0],
      ['hesp', 1],
      ['face-api', 0],
      ['face-api', 1],
    ]);
    expect(new Set(runs.map((r) => r.id)).size).toBe(4);
    expect(methodOf(spec, runs[2]!.coords)).toBe('face-api');
    expect(
      methodOf({ ...spec, axes: { ...spec.axes, method: undefined } }, { backbone: 'vit-b32', dataset: 'mafw' }),
    ).toBe('hesp');
  });
  it('runs the zero-shot grid on tiny-clip, skips finished runs, and summarises', async () => {
    const results = mkdtempSync(join(tmpdir(), 'vlfer-abl-'));
    const opts = {
      shared: sharedPath(),
      resultsDir: results,
      cacheDir: join(results, 'cache'),
      limit: 40,
      log: () => {},
    };
    const first = await runAblation('exp-clip-zero-shot/prompt-x-preprocess', opts);
    expect(first).toEqual({ ran: 10, skipped: 0 });
    const again = await runAblation('exp-clip-zero-shot/prompt-x-preprocess', opts);
    expect(again).toEqual({ ran: 0, skipped: 10 });
    const rows = readRows(join(results, 'exp-clip-zero-shot__prompt-x-preprocess.jsonl'));
    expect(rows.length).toBe(10);
    expect(rows.every((r) => r.metrics.n === 40 && r.confusionMatrix.flat().reduce((a, b) => a + b, 0) === 40)).toBe(
      true,
    );
    const csv = csvLines(writeSummary(results));
    expect(csv[0]).toBe(HEADER);
    expect(csv.length).toBe(11);
    const r0 = rows[0]!;
    const cells = csv.find((l) => l.includes(`,${r0.coords.promptType},${r0.coords.preprocess},`))!.split(',');
    expect(cells[8]).toBe('strat-n40-seed0'); // the subset is part of the coordinates and of the run id
    expect(r0.id).toContain('subset=strat-n40-seed0');
    expect(cells[13]).toBe((100 * r0.metrics.war!).toFixed(2));
    expect(cells[14]).toBe(''); // one seed: no std
    expect(cells.slice(15, 29).every((c) => c === '')).toBe(true); // no open-set metrics for a closed-set method
    expect(cells[31]).toBe(r0.datasetFingerprint);
    // the pipeline's warnings (here classes with no items among the 40, a degenerate random model) reach the rows,
    // summary.csv's last column and the report (before: only runs/*/metrics.json held them; summary.csv said nothing)
    for (const r of rows)
      expect(r.warnings ?? []).toEqual(
        (JSON.parse(readFileSync(join(results, r.runDir!, 'metrics.json'), 'utf8')) as { warnings: string[] }).warnings,
      );
    const warned = rows.find((r) => r.warnings)!;
    expect(warned.warnings!.length).toBeGreaterThan(0);
    const line = csv.find((l) => l.includes(`,${warned.coords.promptType},${warned.coords.preprocess},`))!;
    expect(line.endsWith(`,"${warned.warnings!.join('; ').replaceAll('"', '""')}"`)).toBe(true);
    const html = readFileSync(writeReport(results, { charts: false }).path, 'utf8');
    expect(html).toContain('warnings of these runs:');
    expect(html).toContain(warned.warnings![0]!.split(/["&<>]/)[0]!);
    // per-item outcomes: 40 items named by their path under the dataset root, the same items in every run
    expect(r0.items!.ids.length).toBe(40);
    expect(r0.items!.ids[0]).toMatch(/^[a-z]+\/[^/]+\.(png|jpg)$/);
    expect(rows.every((r) => JSON.stringify(r.items!.ids) === JSON.stringify(r0.items!.ids))).toBe(true);
    // one seed: the interval is the bootstrap over items, around the run's WAR
    expect(cells[33]).toBe('items');
    const [lo, hi] = [Number(cells[36]), Number(cells[37])];
    expect(lo).toBeLessThanOrEqual(Number(cells[13]));
    expect(hi).toBeGreaterThanOrEqual(Number(cells[13]));
    expect(hi).toBeGreaterThan(lo);
    // paired.csv: every run against the first (reference) and, with 10 runs, every other pair: 45 pairs × UAR, WAR
    const paired = csvLines(join(results, 'paired.csv'));
    expect(paired.length).toBe(1 + 45 * 2);
    expect(paired.filter((l) => l.includes(',reference,')).length).toBe(9 * 2);
    expect(r0.provenance.runtime.onnxruntimeNode).toBe('1.30.0');
    // a full run of the same grid is not "already finished": the subset is in the run ids
    expect(
      expandAblation('exp-clip-zero-shot/prompt-x-preprocess', ABLATIONS['exp-clip-zero-shot/prompt-x-preprocess'])[0]!
        .id,
    ).not.toBe(r0.id);
    expect(existsSync(join(results, 'charts'))).toBe(true);
    // runs whose rows were never written (killed between a run's results and its row) are redone, even with the
    // shared assets at another path: they are no results of the ablation yet (they used to wedge it for good)
    const rowsFile = join(results, 'exp-clip-zero-shot__prompt-x-preprocess.jsonl');
    const kept = readFileSync(rowsFile, 'utf8');
    writeFileSync(rowsFile, kept.split('\n').slice(0, 8).join('\n') + '\n');
    const link = join(mkdtempSync(join(tmpdir(), 'vlfer-abl-link-')), 'shared');
    symlinkSync(sharedPath(), link);
    expect(await runAblation('exp-clip-zero-shot/prompt-x-preprocess', { ...opts, shared: link })).toEqual({
      ran: 2,
      skipped: 8,
    });
    expect(readRows(rowsFile).map((r) => r.metrics)).toEqual(rows.map((r) => r.metrics));
  }, 120_000);
  it('a finished run whose files changed since runs again: an image replaced in place, a model touched', async () => {
    // a shared folder of its own: copies of tiny-clip (19 MB) and of 3 FER2013 faces of each class
    const shared = mkdtempSync(join(tmpdir(), 'vlfer-abl-inputs-'));
    const model = join(shared, 'fixtures', 'tiny-clip');
    copyWritable(join(sharedPath(), 'fixtures', 'tiny-clip'), model);
    const data = join(shared, 'data', 'fer2013-privatetest');
    const real = join(sharedPath(), 'data', 'fer2013-privatetest');
    for (const c of readdirSync(real)) {
      mkdirSync(join(data, c), { recursive: true });
      for (const f of readdirSync(join(real, c)).sort().slice(0, 3)) copyWritable(join(real, c, f), join(data, c, f));
    }
    const registry: Record<string, AblationSpec> = {
      one: {
        method: 'exp-clip-zero-shot',
        axes: { backbone: ['tiny-clip'], promptType: ['class_name'], dataset: ['fer2013'] },
        seeds: [1],
        description: 'test',
      },
    };
    const results = mkdtempSync(join(tmpdir(), 'vlfer-abl-inputs-results-'));
    const notes: string[] = [];
    const opts = {
      shared,
      resultsDir: results,
      cacheDir: join(results, 'cache'),
      registry,
      log: (l: string) => notes.push(l),
    };
    const rowsFile = join(results, 'one.jsonl');
    expect(await runAblation('one', opts)).toEqual({ ran: 1, skipped: 0 });
    const [before] = readRows(rowsFile);
    expect(before!.inputs).toMatch(/^[0-9a-f]{64}$/);
    expect(await runAblation('one', opts)).toEqual({ ran: 0, skipped: 1 });
    // another face written over one of the images (same name): the row is not kept as finished
    const [c0] = readdirSync(data).sort();
    const [f0, f1] = readdirSync(join(data, c0!)).sort();
    copyWritable(join(data, c0!, f1!), join(data, c0!, f0!));
    notes.length = 0;
    expect(await runAblation('one', opts)).toEqual({ ran: 1, skipped: 0 });
    expect(notes.join('\n')).toMatch(
      /one: the files it read \(data, lists, model or head\) changed since one\|.* finished: running it again/,
    );
    const [after] = readRows(rowsFile);
    expect(after!.datasetFingerprint).not.toBe(before!.datasetFingerprint);
    expect(after!.inputs).not.toBe(before!.inputs);
    // the model only touched: run again, and the content fingerprints show nothing changed
    const config = readdirSync(model).find((f) => f.endsWith('.json'))!;
    const { atime, mtime } = statSync(join(model, config));
    utimesSync(join(model, config), atime, mtime); // same times, but a new status-change time
    expect(await runAblation('one', opts)).toEqual({ ran: 1, skipped: 0 });
    const [touched] = readRows(rowsFile);
    expect(touched!.datasetFingerprint).toBe(after!.datasetFingerprint);
    expect(touched!.modelFingerprint).toBe(after!.modelFingerprint);
    expect(touched!.metrics).toEqual(after!.metrics);
    // the ablation's options changed (the paper table's protocol, --epochs): run again, said so
    registry.one = { ...registry.one!, options: { head: false } };
    notes.length = 0;
    expect(await runAblation('one', opts)).toEqual({ ran: 1, skipped: 0 });
    expect(notes.join('\n')).toMatch(/one: the ablation's options or the data config's settings changed since one\|/);
    expect(await runAblation('one', opts)).toEqual({ ran: 0, skipped: 1 });
    // with the shared folder given by a relative path (the CLI's default ../shared): still stamped, and checked
    const cwd = process.cwd();
    try {
      process.chdir(dirname(shared));
      const relative = { ...opts, shared: basename(shared) };
      expect(await runAblation('one', relative)).toEqual({ ran: 0, skipped: 1 });
      copyWritable(join(data, c0!, f0!), join(data, c0!, f1!));
      expect(await runAblation('one', relative)).toEqual({ ran: 1, skipped: 0 });
    } finally {
      process.chdir(cwd);
    }
    // a row of an earlier version (no stamp) is kept as finished, and said to be
    writeFileSync(rowsFile, JSON.stringify({ ...readRows(rowsFile)[0], inputs: undefined }) + '\n');
    notes.length = 0;
    expect(await runAblation('one', opts)).toEqual({ ran: 0, skipped: 1 });
    expect(notes).toContain('one: 1 finished row predate input stamps: kept without checking their files');
  }, 120_000);
  it('names the missing data config entry for methods that need user data', async () => {
    const results = mkdtempSync(join(tmpdir(), 'vlfer-abl-'));
    await expect(
      runAblation('hesp/mafw-20-splits', { shared: sharedPath(), resultsDir: results, log: () => {} }),
    ).rejects.toThrow(/videoSets\.mafw/);
    await expect(
      runAblation('exp-clip-trained/backbone-x-seed', { shared: sharedPath(), resultsDir: results, log: () => {} }),
    ).rejects.toThrow(/trainSets\.unlabelled-faces/);
  });
});

describe('bench data config', () => {
  it('resolves relative paths against the file and names bad fields', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-data-'));
    const file = join(dir, 'bench-data.json');
    writeFileSync(
      file,
      JSON.stringify({
        models: { 'vit-b32': './models/b32', 'vit-b16': 'openai/clip-vit-base-patch16' },
        videoSets: { mafw: { train: 'lists/train.txt', test: '/abs/test.txt', root: 'frames' } },
        trainSets: {
          u: { unlabelled: 'faces', teacher: 'import', teacherSource: 'targets.npy', teacherKeys: 'keys.txt' },
        },
      }),
    );
    const d = loadBenchData(file);
    expect(d.models['vit-b32']).toBe(join(dir, 'models', 'b32'));
    expect(d.models['vit-b16']).toBe('openai/clip-vit-base-patch16');
    expect(d.videoSets.mafw).toEqual({
      train: join(dir, 'lists', 'train.txt'),
      test: '/abs/test.txt',
      root: join(dir, 'frames'),
    });
    expect(d.trainSets.u).toEqual({
      unlabelled: join(dir, 'faces'),
      teacher: 'import',
      teacherSource: join(dir, 'targets.npy'),
      teacherKeys: join(dir, 'keys.txt'),
    });
    // the paths a cluster job must reach: every absolute one (not the Hub id, not 'import')
    expect(new Set(benchDataPaths(d))).toEqual(
      new Set([
        join(dir, 'models', 'b32'),
        join(dir, 'lists', 'train.txt'),
        '/abs/test.txt',
        join(dir, 'frames'),
        join(dir, 'faces'),
        join(dir, 'targets.npy'),
        join(dir, 'keys.txt'),
        ...(d.dataRoot ? [d.dataRoot] : []),
      ]),
    );
    // saved by a Windows editor with a byte-order mark: read (it was "Unexpected token '\ufeff'", an invisible character)
    writeFileSync(file, `\ufeff${JSON.stringify({ models: { 'vit-b32': './models/b32' } })}`);
    expect(loadBenchData(file).models['vit-b32']).toBe(join(dir, 'models', 'b32'));
    writeFileSync(file, JSON.stringify({ videoSets: { mafw: { train: 'a.txt' } } }));
    expect(() => loadBenchData(file)).toThrow(
      /bench-data\.json: invalid bench data config:\n {2}videoSets\.mafw\.test/,
    );
    writeFileSync(file, JSON.stringify({ videoSet: {} }));
    expect(() => loadBenchData(file)).toThrow(/videoSet/);
    // a misspelt or unknown dataset id is named, not ignored (the run then fell back to the shared FER2013 split)
    writeFileSync(file, JSON.stringify({ labelledSets: { nosuchset: { root: 'x' } }, videoSets: { afw: {} } }));
    expect(() => loadBenchData(file)).toThrow(
      /labelledSets\.nosuchset: unknown dataset id 'nosuchset'; known: fer2013,/,
    );
    expect(() => loadBenchData(file)).toThrow(/videoSets\.afw: unknown dataset id 'afw'/);
    expect(() => loadBenchData(join(dir, 'absent.json'))).toThrow(
      /cannot read the bench data config .*absent\.json: ENOENT/,
    );
  });
});

describe('trained methods in the registry (tiny-clip, synthetic data)', () => {
  const work = mkdtempSync(join(tmpdir(), 'vlfer-abl-trained-'));
  const unlabelled = join(work, 'faces');
  const E = 32;
  let afew: Awaited<ReturnType<typeof writeSmallVideoSet>>;
  beforeAll(async () => {
    mkdirSync(unlabelled, { recursive: true });
    const rng = createRng(5);
    const lines: string[] = [];
    for (let i = 0; i < 32; i++) {
      const px = new Uint8Array(40 * 40 * 3).map((_, k) => (i * 37 + k * ((i % 7) + 1)) % 256);
      const p = join(unlabelled, `${String(i).padStart(3, '0')}.png`);
      writeFileSync(
        p,
        await sharp(px, { raw: { width: 40, height: 40, channels: 3 } })
          .png()
          .toBuffer(),
      );
      lines.push(JSON.stringify({ path: p, embedding: Array.from({ length: E }, () => rng.normal()) }));
    }
    writeFileSync(join(work, 'targets.jsonl'), `${lines.join('\n')}\n`);
    afew = await writeSmallVideoSet(join(work, 'video'));
  }, 120_000);

  const registry: Record<string, AblationSpec> = {
    'trained/tiny': {
      method: 'exp-clip-trained',
      axes: {
        backbone: ['tiny-clip'],
        trainSet: ['synthetic'],
        promptType: ['class_name', 'an_expression_of_name'],
        preprocess: ['exp-clip'],
        dataset: ['fer2013'],
      },
      seeds: [1, 2],
      options: { train: { epochs: 2, batch: 16, lr: 0.01, optimizer: 'adam', outputDim: E } },
      description: 'test',
    },
    'hesp/tiny': {
      method: 'hesp',
      axes: { backbone: ['tiny-clip'], dataset: ['afew'], split: [0] },
      seeds: [0, 1],
      options: { hesp: { epochs: 1, batch: 4, frames: 2, nCtx: 4, logitScale: 14.28, valFraction: 0.2 } },
      description: 'test',
    },
  };
  const data = () => ({
    models: {},
    trainSets: { synthetic: { unlabelled, teacher: 'import' as const, teacherSource: join(work, 'targets.jsonl') } },
    videoSets: { afew },
  });

  it('exp-clip-trained: one head per seed shared by the prompt types, evaluated with the head, mean ± std over seeds', async () => {
    const results = join(work, 'results');
    const r = await runAblation('trained/tiny', {
      shared: sharedPath(),
      resultsDir: results,
      cacheDir: join(work, 'cache'),
      limit: 40,
      data: data(),
      registry,
      log: () => {},
    });
    expect(r).toEqual({ ran: 4, skipped: 0 });
    const rows = readRows(join(results, 'trained__tiny.jsonl'));
    const heads = [1, 2].map((seed) =>
      join(results, 'runs', `trained_tiny_train_tiny-clip_synthetic_exp-clip_seed=${seed}`),
    );
    // trained once per seed: 2 epochs × 2 steps, not doubled by the second prompt type
    for (const h of heads) expect(csvLines(join(h, 'train-log.jsonl')).length).toBe(4);
    const [w1, w2] = heads.map((h) => readSafetensors(join(h, 'head.safetensors')).tensors['mlp.weight']!);
    expect(w1!.dims).toEqual([E, 24]); // tiny-clip projection_dim 24 → E
    expect(w1!.data).not.toEqual(w2!.data);
    for (const row of rows) {
      // the run's folder from the results directory (so the row names it after the results move)
      expect(row.runDir).toMatch(/^runs\/[^/]+$/);
      const cfg = JSON.parse(readFileSync(join(results, row.runDir!, 'config.resolved.json'), 'utf8'));
      expect(cfg.head).toBe(join(heads[row.seed - 1]!, 'head.safetensors'));
      expect(row.metrics.n).toBe(40);
      // the row carries the warnings of the head's training and of the evaluation (before: neither)
      const warned = (dir: string) =>
        (JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as { warnings: string[] }).warnings;
      const expected = [
        ...warned(heads[row.seed - 1]!).map((w) => `training the head: ${w}`),
        ...warned(join(results, row.runDir!)),
      ];
      expect(expected.length).toBeGreaterThan(0);
      expect(row.warnings).toEqual(expected);
    }
    const csv = csvLines(writeSummary(results));
    const line = csv
      .find((l) => l.startsWith('trained/tiny,exp-clip-trained,tiny-clip,synthetic,,class_name,'))!
      .split(',');
    expect(line[8]).toBe('strat-n40-seed0');
    const uars = rows.filter((x) => x.coords.promptType === 'class_name').map((x) => 100 * x.metrics.uar!);
    expect(line[9]).toBe('1 2');
    expect(line[11]).toBe(((uars[0]! + uars[1]!) / 2).toFixed(2));
    expect(line[12]).toBe((Math.abs(uars[0]! - uars[1]!) / Math.SQRT2).toFixed(2));
    // two seeds: the interval is the t-interval of the mean over seeds, around the mean
    expect(line[33]!.split(' ')).toContain('seeds'); // 'items seeds': a metric the two seeds left equal has the items' interval
    expect(Number(line[34])).toBeLessThanOrEqual(Number(line[11]));
    expect(Number(line[35])).toBeGreaterThanOrEqual(Number(line[11]));
  }, 300_000);

  it('hesp: trains and scores each split × seed, writes ROC charts, open-set columns in the summary', async () => {
    const results = join(work, 'results');
    const r = await runAblation('hesp/tiny', {
      shared: sharedPath(),
      resultsDir: results,
      data: data(),
      registry,
      log: () => {},
    });
    expect(r).toEqual({ ran: 2, skipped: 0 });
    const rows = readRows(join(results, 'hesp__tiny.jsonl'));
    for (const row of rows) {
      expect(row.labelNames.length).toBe(2); // afew split 0: 2 known classes
      expect(row.scores!.known.length).toBe(4);
      expect(row.scores!.unknown.length).toBe(4);
      expect(row.metrics.auroc_standard).toBeCloseTo(auroc(row.scores!.known, row.scores!.unknown), 12);
      expect(row.metrics.auroc_arpl).toBeCloseTo(auroc(row.scores!.known, row.scores!.unknown, { ties: 'zero' }), 12);
      expect(row.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(4);
      expect(existsSync(join(results, 'charts', `${row.id.replace(/[^A-Za-z0-9._=-]+/g, '_')}.roc.svg`))).toBe(true);
      // the data's warnings, as the run's eval.json has them (before: only there)
      const evalJson = JSON.parse(readFileSync(join(results, row.runDir!, 'eval.json'), 'utf8')) as {
        warnings: string[];
      };
      expect(row.warnings ?? []).toEqual(evalJson.warnings);
    }
    expect(readFileSync(join(results, 'charts', 'hesp__tiny.roc.svg'), 'utf8')).toContain('<svg');
    // per-item outcomes: 4 known and 4 unknown clips (label -1), named by their frame directory under the root
    for (const row of rows) {
      expect(row.items!.ids.length).toBe(8);
      expect(row.items!.labels.filter((l) => l === -1).length).toBe(4);
      expect(row.items!.ids.every((id) => !id.startsWith('/') && !id.startsWith('..'))).toBe(true);
      expect(row.items!.knownness!.length).toBe(8);
    }
    expect(rows[1]!.items!.ids).toEqual(rows[0]!.items!.ids);
    // the two seeds ran on the same clips: paired.csv compares them on closed-set accuracy, AUROC and OSCR
    writeSummary(results);
    const paired = csvLines(join(results, 'paired.csv')).filter((l) => l.startsWith('hesp/tiny,'));
    expect(paired.map((l) => l.split(',').at(-12))).toEqual(['closed_set_accuracy', 'auroc_standard', 'oscr_standard']);
    const line = csvLines(writeSummary(results))
      .find((l) => l.startsWith('hesp/tiny,hesp,tiny-clip,,0,,,afew,,0 1,8,'))!
      .split(',');
    expect(line.slice(11, 15)).toEqual(['', '', '', '']); // no UAR/WAR columns for the open-set method
    expect(line[17]).toBe((50 * (rows[0]!.metrics.auroc_arpl! + rows[1]!.metrics.auroc_arpl!)).toFixed(2));
    expect(line[23]).toBe((50 * (rows[0]!.metrics.auroc_standard! + rows[1]!.metrics.auroc_standard!)).toFixed(2));
  }, 300_000);
});
