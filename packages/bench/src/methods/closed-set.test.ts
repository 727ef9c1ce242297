import type { ProgressEvent } from '@vlfer/core';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { evaluateZeroShot } from '@vlfer/exp-clip';
import { copyClassFolderSubset, sharedPath, copyWritable } from '@vlfer/test-utils';
import { describe, expect, it } from 'vitest';
import { expandAblation, readRows, runAblation, writeSummary } from '../ablations.js';
import { ABLATIONS, loadBenchData, type AblationSpec } from '../registry.js';
import { closedSetParts } from './closed-set.js';

const shared = sharedPath();
const ferRoot = sharedPath('data', 'fer2013-privatetest');
const model = sharedPath('fixtures', 'tiny-clip');

describe('closed-set ablation: zero-shot vs linear probe vs few-shot vs Tip-Adapter', () => {
  it('expands to one zero-shot and one linear-probe run and 5 shot counts × 3 seeds of each few-shot method', () => {
    const runs = expandAblation('closed-set/zero-shot-vs-probes', ABLATIONS['closed-set/zero-shot-vs-probes']);
    const by = (m: string) => runs.filter((r) => r.coords.method === m);
    expect(by('exp-clip-zero-shot').map((r) => [r.coords.shots, r.seed])).toEqual([[undefined, 1]]);
    expect(by('linear-probe').map((r) => [r.coords.shots, r.seed])).toEqual([[undefined, 1]]);
    for (const m of ['few-shot-probe', 'tip-adapter'])
      expect(by(m).map((r) => [r.coords.shots, r.seed])).toEqual(
        [1, 2, 4, 8, 16].flatMap((k) => [1, 2, 3].map((s) => [k, s])),
      );
    expect(runs.length).toBe(32);
    expect(new Set(runs.map((r) => r.id)).size).toBe(32);
  });

  it('FER2013 without a labelled train set: a seeded 30/20/50 % split of PrivateTest; --limit cuts the test part only', async () => {
    const p = await closedSetParts('fer2013', { shared, model });
    const all = [...p.train.ids, ...p.validation.ids, ...p.test.ids];
    expect(all.length).toBe(3589);
    expect(new Set(all).size).toBe(3589);
    const disgust = (ids: readonly string[]) => ids.filter((id) => id.startsWith('disgust/')).length;
    expect([disgust(p.train.ids), disgust(p.validation.ids), disgust(p.test.ids)]).toEqual([16, 11, 28]);
    expect(p.test.ids).toEqual([...p.test.ids].sort());
    expect(p.protocol).toMatch(
      /30\/20\/50 % train\/validation\/test of .* \(seed 0; byte-identical images kept in one part\)/,
    );
    // PrivateTest holds 16 groups of byte-identical images (17 extra copies): each group lies in one part
    expect([p.train.ids.length, p.validation.ids.length, p.test.ids.length]).toEqual([1077, 717, 1795]);
    const partOf = new Map<string, string>();
    for (const [name, part] of Object.entries({ train: p.train, validation: p.validation, test: p.test }))
      part.keys.forEach((k, i) => {
        expect(partOf.get(k) ?? name, `${part.ids[i]} is a copy of an image in another part`).toBe(name);
        partOf.set(k, name);
      });
    expect(partOf.size).toBe(3589 - 17);
    const again = await closedSetParts('fer2013', { shared, model, limit: 70 });
    expect(again.test.ids.length).toBe(70);
    expect(again.test.ids.every((id) => p.test.ids.includes(id))).toBe(true);
    expect(again.train.ids).toEqual(p.train.ids);
    expect(again.protocol).toMatch(/test cut to strat-n70-seed0/);
  }, 60_000);

  it('a data config labelledSets entry is the train split (80/20 train/validation); one that overlaps the test set is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-labelled-'));
    const p = await closedSetParts('fer2013', { shared, model });
    for (const id of p.train.ids.filter((_, i) => i % 10 === 0)) {
      mkdirSync(join(dir, 'train', dirname(id)), { recursive: true });
      // other images than the test set's: the bytes of a train-part image and one more (a JPEG ignores trailing bytes)
      writeFileSync(
        join(dir, 'train', `${id}.copy.jpg`),
        Buffer.concat([readFileSync(join(ferRoot, id)), Buffer.from([0])]),
      );
    }
    writeFileSync(
      join(dir, 'bench-data.json'),
      JSON.stringify({ labelledSets: { fer2013: { root: 'train', layout: 'FER2013 Training as class folders' } } }),
    );
    const data = loadBenchData(join(dir, 'bench-data.json'));
    expect(data.labelledSets?.fer2013?.root).toBe(join(dir, 'train'));
    const q = await closedSetParts('fer2013', { shared, model, data });
    expect(q.test.ids.length).toBe(3589);
    expect(q.train.ids.length + q.validation.ids.length).toBe(Math.ceil(p.train.ids.length / 10));
    expect(q.train.ids.every((id) => id.endsWith('.copy.jpg'))).toBe(true);
    expect(q.protocol).toMatch(/train\/validation: 80\/20 % of .*train/);
    const badFile = join(dir, 'bad.json');
    writeFileSync(badFile, JSON.stringify({ labelledSets: { fer2013: { annotations: 'x.csv' } } }));
    expect(() => loadBenchData(badFile)).toThrow(/bad\.json.*\n {2}labelledSets\.fer2013\.root: /s);
    // the shipped config: every labelled train split names its layout, paths taken from --data-root
    const cfg = loadBenchData(join(import.meta.dirname, '..', '..', 'configs', 'closed-set-probes.json'), {
      dataRoot: '/data/fer',
    });
    expect(Object.keys(cfg.labelledSets ?? {}).sort()).toEqual(['affectnet7', 'fer2013', 'ferplus', 'raf-db']);
    expect(cfg.labelledSets!['raf-db']!.root).toBe('/data/fer/RAF-DB/basic');
    expect(cfg.labelledSets!['raf-db']!.annotations).toBe('/data/fer/RAF-DB/basic/EmoLabel/list_patition_label.txt');
    expect(Object.values(cfg.labelledSets!).every((v) => (v.layout ?? '').length > 20)).toBe(true);
    const overlap = { ...data, labelledSets: { fer2013: { root: ferRoot } } };
    await expect(closedSetParts('fer2013', { shared, model, data: overlap })).rejects.toThrow(
      /'train, validation' passed to 'closedSetParts': 3589 image\(s\) \(train 2872, validation 717\) share their content \(SHA-256\) with test images, .*point labelledSets\.fer2013 at a train split/,
    );
    // copies of 42 test images in another folder (other paths, same bytes) are refused too, naming the first pair
    const copies = join(dir, 'copies');
    const copied = p.test.ids.filter((_, i) => i % 40 === 0).slice(0, 42);
    for (const id of copied) {
      mkdirSync(join(copies, dirname(id)), { recursive: true });
      copyWritable(join(ferRoot, id), join(copies, id));
    }
    const copyData = { ...data, labelledSets: { fer2013: { root: copies } } };
    await expect(closedSetParts('fer2013', { shared, model, data: copyData })).rejects.toThrow(
      /: 42 image\(s\) \(train \d+, validation \d+\) share their content \(SHA-256\) with test images, e\.g\. '.*copies\/.*' is a copy of test image '.*fer2013-privatetest\/.*'/,
    );
  }, 60_000);

  it('runs every method on the same test item ids (items filled), the zero-shot row equal to exp-clip eval on those items', async () => {
    const spec: AblationSpec = {
      ...ABLATIONS['closed-set/zero-shot-vs-probes'],
      axes: { ...ABLATIONS['closed-set/zero-shot-vs-probes'].axes, shots: [1, 2] },
      seeds: [1],
    };
    const results = mkdtempSync(join(tmpdir(), 'vlfer-closed-'));
    const cacheDir = join(results, 'cache');
    // a 70-image FER2013 (the first 10 of every class) as the data config's test set: split 21/14/35
    const small = join(results, 'fer-small');
    await copyClassFolderSubset(ferRoot, small, 10);
    const data = { models: {}, videoSets: {}, trainSets: {}, evalSets: { fer2013: { root: small } } };
    // each run's pipeline reports its progress through the ablation's onProgress
    const phases = new Set<string>();
    const onProgress = (e: ProgressEvent) => void phases.add(`${e.phase} (${e.unit})`);
    const opts = { shared, resultsDir: results, cacheDir, data, log: () => {}, registry: { cs: spec }, onProgress };
    expect(await runAblation('cs', opts)).toEqual({ ran: 6, skipped: 0 });
    expect([...phases].sort()).toEqual([
      'encode test (images)',
      'encode train (images)',
      'encode validation (images)',
      'fit (fits)',
    ]);
    const rows = readRows(join(results, 'cs.jsonl'));
    expect(rows.map((r) => [r.method, r.coords.shots])).toEqual([
      ['exp-clip-zero-shot', undefined],
      ['linear-probe', undefined],
      ['few-shot-probe', 1],
      ['few-shot-probe', 2],
      ['tip-adapter', 1],
      ['tip-adapter', 2],
    ]);
    const ids = rows[0]!.items!.ids;
    expect(ids.length).toBe(35);
    for (const r of rows) {
      expect(r.items!.ids).toEqual(ids);
      expect(r.items!.labels).toEqual(rows[0]!.items!.labels);
      expect(r.metrics.n).toBe(35);
      const correct = r.items!.predicted.filter((y, i) => y === r.items!.labels[i]).length;
      expect(correct / 35).toBeCloseTo(r.metrics.war!, 12);
    }
    const fit = JSON.parse(readFileSync(join(results, rows[3]!.runDir!, 'fit.json'), 'utf8')) as { shotIds: string[] };
    expect(fit.shotIds.length).toBe(14);
    // the same items through exp-clip eval (a copy of them in the same layout, so the ids and cache keys are equal)
    const copy = join(results, 'copy');
    for (const id of ids) {
      mkdirSync(join(copy, dirname(id)), { recursive: true });
      copyWritable(join(small, id), join(copy, id));
    }
    const zs = await evaluateZeroShot({ dataset: 'fer2013', root: copy, model, promptTypes: ['class_name'], cacheDir });
    expect(zs.counts.encoded).toBe(0);
    const order = zs.predictions[0]!.ids.map((id) => ids.indexOf(id));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(zs.predictions[0]!.byPromptType.class_name!.predicted).toEqual(
      order.map((i) => rows[0]!.items!.predicted[i]),
    );
    const csv = readFileSync(writeSummary(results), 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/,dataset_fingerprint,shots,ci,/);
    const fewShot = csv.filter((l) => l.startsWith('cs,few-shot-probe,tiny-clip,,,class_name,'));
    const shotsColumn = csv[0]!.split(',').indexOf('shots');
    expect(fewShot.map((l) => l.split(',')[shotsColumn])).toEqual(['1', '2']);
    expect(csv.filter((l) => l.startsWith('cs,linear-probe,')).map((l) => l.split(',').at(-1))).toEqual(['']);
  }, 300_000);
});
