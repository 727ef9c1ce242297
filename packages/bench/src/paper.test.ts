import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResultRow } from './ablations.js';
import { loadBenchData } from './registry.js';
import {
  CONFIGS_DIR,
  PAPER_TABLES,
  paperCells,
  paperTableCsv,
  paperTableMarkdown,
  planPaperTable,
  type PaperTableId,
} from './paper.js';

const row = (ablation: string, backbone: string, split: number | undefined, metrics: Record<string, number>) =>
  ({
    ablation,
    coords: { backbone, dataset: 'x', ...(split !== undefined ? { split } : {}) },
    metrics,
  }) as unknown as ResultRow;

describe('paper data configs', () => {
  it('every protocol of both tables has an entry in its shipped config naming the expected layout', () => {
    for (const id of Object.keys(PAPER_TABLES) as PaperTableId[]) {
      const t = PAPER_TABLES[id];
      const raw = JSON.parse(readFileSync(join(CONFIGS_DIR, t.config), 'utf8'));
      const d = loadBenchData(join(CONFIGS_DIR, t.config), { dataRoot: '/data' });
      expect(raw.description).toMatch(new RegExp(`bench:paper ${id}`));
      for (const col of t.columns) {
        const entry = t.kind === 'zero-shot' ? raw.evalSets[col.dataset] : raw.videoSets[col.dataset];
        expect(entry, `${t.config}: ${col.dataset}`).toBeDefined();
        expect(entry.layout, `${t.config}: ${col.dataset}.layout`).toMatch(/\//);
        expect(entry.description).toBeTruthy();
      }
      // relative paths are taken from the data root
      if (t.kind === 'zero-shot') {
        expect(d.evalSets!.dfew!.annotations).toBe('/data/Exp-CLIP-annotation/DFEW_set_{fold}_test.txt');
        expect(d.evalSets!.dfew!.folds).toEqual([1, 2, 3, 4, 5]);
        expect(d.heads!['vit-l14']).toBe('/data/exp-clip/ExpCLIP_L14_model.pth');
      } else expect(d.videoSets.ferv39k!.train).toBe('/data/DFER-CLIP-annotation/FERV39K_train.txt');
    }
    // without --data-root: the config's dataRoot, relative to the config file (<repo>/data)
    const d = loadBenchData(join(CONFIGS_DIR, 'hesp-table.json'));
    expect(d.videoSets.mafw!.root).toBe(join(CONFIGS_DIR, '..', '..', '..', 'data', 'MAFW'));
  });
  it('refuses an unknown field in a set entry, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-paper-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ evalSets: { 'raf-db': { root: 'r', annotation: 'typo.txt' } } }));
    expect(() => loadBenchData(file)).toThrow(/evalSets\.raf-db: Unrecognized key: "annotation"/);
  });
});

describe('planPaperTable', () => {
  it('refuses a data root that does not exist, naming it (every dataset would be skipped and nothing run)', () => {
    const gone = join(mkdtempSync(join(tmpdir(), 'vlfer-paper-gone-')), 'no-such-root');
    for (const table of ['exp-clip-table2', 'hesp-table'] as const)
      expect(() => planPaperTable(table, { shared: '/nonexistent', dataRoot: gone })).toThrow(
        `the data root ${gone} does not exist (given)`,
      );
    // the config's own dataRoot, relative to the config: named with the config file
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-paper-cfg-')), 'c.json');
    writeFileSync(file, JSON.stringify({ dataRoot: 'missing' }));
    expect(() => planPaperTable('hesp-table', { shared: '/nonexistent', config: file })).toThrow(
      `the data root ${join(dirname(file), 'missing')} does not exist (the dataRoot of ${file})`,
    );
  });
  it('skips every dataset whose files are absent, naming the missing path, and plans the present ones', () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-paper-plan-'));
    mkdirSync(join(root, 'CAER-S', 'test'), { recursive: true });
    mkdirSync(join(root, 'DFEW'), { recursive: true });
    mkdirSync(join(root, 'Exp-CLIP-annotation'), { recursive: true });
    // DFEW with folds 1-4 only: the missing fold-5 list is named
    for (const f of [1, 2, 3, 4]) writeFileSync(join(root, 'Exp-CLIP-annotation', `DFEW_set_${f}_test.txt`), '');
    const plan = planPaperTable('exp-clip-table2', { shared: '/nonexistent', dataRoot: root, backbones: ['vit-b32'] });
    expect(Object.keys(plan.registry)).toEqual(['paper/exp-clip-table2/clip/caer-s']);
    const missing = Object.fromEntries(plan.skipped.map((s) => [s.what, s.missing]));
    expect(missing.DFEW).toBe(join(root, 'Exp-CLIP-annotation', 'DFEW_set_5_test.txt'));
    expect(missing['RAF-DB']).toBe(join(root, 'RAF-DB', 'basic'));
    expect(missing['Exp-CLIP vit-b32']).toBe(join(root, 'exp-clip', 'ExpCLIP_B32_model.pth'));
    expect(plan.skipped.map((s) => s.what)).toEqual([
      'RAF-DB',
      'AffectNet-7',
      'AffectNet-8',
      'FERPlus',
      'DFEW',
      'FERV39k',
      'MAFW',
      'AFEW',
      'Exp-CLIP vit-b32',
    ]);
    const hesp = planPaperTable('hesp-table', { shared: '/nonexistent', dataRoot: root });
    expect(hesp.registry).toEqual({});
    // the local model directory of the HESP config is absent: named once, nothing runs
    expect(hesp.skipped).toEqual([
      { what: 'backbone vit-b32', missing: join(root, 'models', 'clip-vit-base-patch32') },
    ]);
  });
});

describe('planPaperTable hesp-table', () => {
  it("runs HESP's protocol: no validation part, the epoch of the best test AUROC + OSCR, and says so in its title", () => {
    const root = mkdtempSync(join(tmpdir(), 'vlfer-paper-hesp-'));
    mkdirSync(join(root, 'models', 'clip-vit-base-patch32'), { recursive: true });
    mkdirSync(join(root, 'MAFW'), { recursive: true });
    mkdirSync(join(root, 'HESP-annotation'), { recursive: true });
    for (const f of ['MAFW_train.txt', 'MAFW_val.txt']) writeFileSync(join(root, 'HESP-annotation', f), '');
    const plan = planPaperTable('hesp-table', { shared: '/nonexistent', dataRoot: root, epochs: 2 });
    expect(Object.keys(plan.registry)).toEqual(['paper/hesp-table/hesp/mafw']);
    expect(plan.registry['paper/hesp-table/hesp/mafw']!.options).toEqual({
      hesp: { valFraction: 0, selectOn: 'test', epochs: 2 },
    });
    expect(
      planPaperTable('hesp-table', { shared: '/nonexistent', dataRoot: root }).registry['paper/hesp-table/hesp/mafw']!
        .options,
    ).toEqual({ hesp: { valFraction: 0, selectOn: 'test' } });
    expect(PAPER_TABLES['hesp-table'].title).toMatch(/the epoch of the best test AUROC \+ OSCR/);
  });
});

describe('planPaperTable config checks', () => {
  it('refuses a fold-based set whose annotations path has no {fold}, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-paper-fold-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ evalSets: { dfew: { root: '.', annotations: 'DFEW_set_1_test.txt' } } }));
    expect(() => planPaperTable('exp-clip-table2', { shared: '/nonexistent', config: file })).toThrow(
      /evalSets\.dfew\.annotations \(.*DFEW_set_1_test\.txt\) must contain \{fold\}: DFEW is evaluated per fold \(1, 2, 3, 4, 5\)/,
    );
  });
});

describe('paper tables', () => {
  it('averages DFEW over its folds, puts the paper numbers beside and the difference (ours − paper)', () => {
    const id = 'paper/exp-clip-table2/clip/dfew';
    const rows = [1, 2, 3, 4, 5].map((f) => row(id, 'vit-b32', f, { uar: 0.2 + 0.01 * f, war: 0.3, n: 10 }));
    const cells = paperCells('exp-clip-table2', rows, ['vit-b32']);
    const uar = cells.find((c) => c.row === 'CLIP' && c.dataset === 'dfew' && c.metric === 'uar')!;
    expect(uar.ours).toBeCloseTo(23, 10); // mean of 21..25
    expect(uar.paper).toBe(22.08);
    expect(uar.runs).toBe(5);
    const csv = paperTableCsv(cells).split('\n');
    expect(csv[0]).toBe('row,backbone,dataset,column,metric,ours,paper,difference,runs');
    expect(csv).toContain('CLIP,vit-b32,dfew,DFEW,uar,23.00,22.08,0.92,5');
    expect(csv).toContain('CLIP,vit-b32,dfew,DFEW,war,30.00,21.30,8.70,5');
    expect(csv).toContain('Exp-CLIP,vit-b32,raf-db,RAF-DB,uar,,39.56,,0');
    const md = paperTableMarkdown('exp-clip-table2', cells, [{ what: 'RAF-DB', missing: '/d/RAF-DB/basic' }]);
    const lines = md.split('\n');
    expect(lines).toContain(
      '| Backbone | Method | RAF-DB | AffectNet-7 | AffectNet-8 | FERPlus | DFEW | FERV39k | MAFW | AFEW | CAER-S |',
    );
    expect(lines).toContain('| vit-b32 | CLIP | – | – | – | – | 23.00/30.00 | – | – | – | – |');
    expect(lines).toContain(
      '| vit-b32 | CLIP (paper) | 34.97/30.05 | 29.29/29.29 | 25.53/25.53 | 36.05/33.89 | 22.08/21.30 | 18.12/17.38 | 13.39/15.48 | 28.59/28.87 | – |',
    );
    expect(lines).toContain('| vit-b32 | CLIP Δ | – | – | – | – | +0.92/+8.70 | – | – | – | – |');
    expect(lines).toContain('- RAF-DB: missing /d/RAF-DB/basic');
  });
  it('HESP: a row per known-count group (mean over its splits) and one over all splits; the paper column is empty', () => {
    const id = 'paper/hesp-table/hesp/afew';
    const m = (a: number) => ({ closed_set_accuracy: a, auroc_arpl: 0.5, oscr_arpl: 0.25 });
    // splits 0, 1 are AFEW's 2-known group, 5 the 3-known group
    const rows = [row(id, 'vit-b32', 0, m(0.4)), row(id, 'vit-b32', 1, m(0.6)), row(id, 'vit-b32', 5, m(0.8))];
    const cells = paperCells('hesp-table', rows);
    const acc = (g: string) =>
      cells.find((c) => c.dataset === 'afew' && c.row === g && c.metric === 'closed_set_accuracy')!;
    expect(acc('2 known').ours).toBeCloseTo(50, 10);
    expect(acc('2 known').runs).toBe(2);
    expect(acc('3 known').ours).toBeCloseTo(80, 10);
    expect(acc('all').ours).toBeCloseTo(60, 10);
    expect(acc('4 known').ours).toBeNull();
    expect(cells.every((c) => c.paper === null)).toBe(true);
    expect(cells.filter((c) => c.dataset === 'mafw').map((c) => c.row)).toContain('8 known');
    const lines = paperTableMarkdown('hesp-table', cells, []).split('\n');
    expect(lines).toContain('| vit-b32 | AFEW | 2 known | 50.00 |  |  | 50.00 |  |  | 25.00 |  |  | 2 |');
    expect(lines).toContain('| vit-b32 | FERV39k | all | – |  |  | – |  |  | – |  |  | 0 |');
  });
});
