import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@vlfer/core';
import { meanStd } from '@vlfer/metrics';
import { PROMPT_TYPES, type PromptType } from '@vlfer/llm-knowledge';
import { runEval } from '@vlfer/app-exp-clip';
import { confusionMatrixSpec, renderSvg, svgToPng } from './charts.js';
import { runFaceApiReference } from './face-api-reference.js';

/** Where a backbone's weights come from (`shared` = the shared assets folder). */
export const BACKBONES = {
  'tiny-clip': { model: (shared: string) => join(shared, 'fixtures', 'tiny-clip'), note: 'random-weight test CLIP (chance-level numbers)' },
  'vit-b32': { model: () => 'Xenova/clip-vit-base-patch32', note: 'OpenAI CLIP ViT-B/32 (needs the Hub or a local copy)' },
  'vit-b16': { model: () => 'Xenova/clip-vit-base-patch16', note: 'OpenAI CLIP ViT-B/16' },
  'vit-l14': { model: () => 'Xenova/clip-vit-large-patch14', note: 'OpenAI CLIP ViT-L/14' },
  'face-api-expression': { model: () => '@vladmandic/face-api face_expression_model', note: 'supervised FER CNN (tfjs wasm)' },
} as const;
export type BackboneId = keyof typeof BACKBONES;

export const DATASETS = {
  fer2013: { kind: 'fer2013' as const, root: (shared: string) => join(shared, 'data', 'fer2013-privatetest') },
} as const;
export type DatasetId = keyof typeof DATASETS;

export interface AblationSpec {
  method: 'exp-clip-zero-shot' | 'face-api';
  axes: { backbone: readonly BackboneId[]; dataset: readonly DatasetId[]; promptType?: readonly PromptType[]; preprocess?: readonly ('exp-clip' | 'clip')[] };
  seeds: readonly number[];
  description: string;
}

/**
 * The ablation registry: method × backbone × prompt type × preprocessing × dataset × seed. Each entry expands to a
 * grid of runs; finished runs (by id) are skipped. Zero-shot evaluation is deterministic, so one seed suffices there.
 */
export const ABLATIONS = {
  'exp-clip-zero-shot/prompt-x-preprocess': {
    method: 'exp-clip-zero-shot',
    axes: { backbone: ['tiny-clip'], promptType: PROMPT_TYPES, preprocess: ['exp-clip', 'clip'], dataset: ['fer2013'] },
    seeds: [1],
    description: 'plain-CLIP zero-shot baseline: the five Exp-CLIP prompt types × both preprocessing modes',
  },
  'supervised/face-api': {
    method: 'face-api',
    axes: { backbone: ['face-api-expression'], dataset: ['fer2013'] },
    seeds: [1],
    description: 'supervised reference row: face-api.js expression model (known FER2013 accuracy 0.569)',
  },
} as const satisfies Record<string, AblationSpec>;
export type AblationId = keyof typeof ABLATIONS;

export interface RunCoords { backbone: BackboneId; dataset: DatasetId; promptType?: PromptType; preprocess?: 'exp-clip' | 'clip' }

export interface ResultRow {
  id: string;
  ablation: string;
  method: AblationSpec['method'];
  coords: RunCoords;
  seed: number;
  metrics: { uar: number; war: number; n: number };
  perClassRecall: Record<string, number | null>;
  confusionMatrix: number[][];
  labelNames: string[];
  seconds: number;
  finishedAt: string;
}

export function expandAblation(id: string, spec: AblationSpec): { id: string; coords: RunCoords; seed: number }[] {
  const out: { id: string; coords: RunCoords; seed: number }[] = [];
  for (const backbone of spec.axes.backbone) for (const dataset of spec.axes.dataset)
    for (const promptType of spec.axes.promptType ?? [undefined]) for (const preprocess of spec.axes.preprocess ?? [undefined])
      for (const seed of spec.seeds) {
        const coords: RunCoords = { backbone, dataset, ...(promptType ? { promptType } : {}), ...(preprocess ? { preprocess } : {}) };
        const key = Object.entries(coords).map(([k, v]) => `${k}=${v}`).join(',');
        out.push({ id: `${id}|${key}|seed=${seed}`, coords, seed });
      }
  return out;
}

const fileName = (id: string) => id.replaceAll('/', '__');
const safe = (s: string) => s.replace(/[^A-Za-z0-9._=-]+/g, '_');

export function readRows(path: string): ResultRow[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ResultRow);
}

/**
 * Run every unfinished run of an ablation; each finished row is appended to `results/<ablation>.jsonl`
 * (the file is rewritten atomically) and its confusion matrix drawn as SVG and PNG.
 */
export async function runAblation(id: string, options: { shared: string; resultsDir: string; cacheDir?: string; limit?: number; log?: (l: string) => void }): Promise<{ ran: number; skipped: number }> {
  const spec = (ABLATIONS as Record<string, AblationSpec>)[id];
  if (!spec) throw new Error(`Unknown ablation '${id}'; known: ${Object.keys(ABLATIONS).join(', ')}`);
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const file = join(options.resultsDir, `${fileName(id)}.jsonl`);
  let rows = readRows(file);
  const done = new Set(rows.map((r) => r.id));
  let ran = 0;
  let skipped = 0;
  for (const run of expandAblation(id, spec)) {
    if (done.has(run.id)) { skipped++; continue; }
    log(`run ${run.id}`);
    const t0 = performance.now();
    const root = DATASETS[run.coords.dataset].root(options.shared);
    let row: Omit<ResultRow, 'seconds' | 'finishedAt'>;
    if (spec.method === 'face-api') {
      const r = await runFaceApiReference({ root, ...(options.limit ? { limitPerClass: Math.ceil(options.limit / 7) } : {}) });
      row = { id: run.id, ablation: id, method: spec.method, coords: run.coords, seed: run.seed, metrics: { uar: r.report.uar, war: r.report.war, n: r.report.n }, perClassRecall: Object.fromEntries(r.labelSet.names.map((c, i) => [c, r.report.perClassRecall[i] ?? null])), confusionMatrix: r.report.confusionMatrix, labelNames: [...r.labelSet.names] };
    } else {
      const r = await runEval({
        dataset: DATASETS[run.coords.dataset].kind, root, model: BACKBONES[run.coords.backbone].model(options.shared), promptTypes: [run.coords.promptType!], preprocess: run.coords.preprocess!,
        out: join(options.resultsDir, 'runs', safe(run.id)), progress: false, ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}), ...(options.limit ? { limit: options.limit } : {}),
      }, { log });
      const f = r.results[0]!.folds[0]!;
      row = { id: run.id, ablation: id, method: spec.method, coords: run.coords, seed: run.seed, metrics: { uar: r.results[0]!.mean.uar.mean, war: r.results[0]!.mean.war.mean, n: f.n }, perClassRecall: Object.fromEntries(r.labelSet.names.map((c, i) => [c, f.perClassRecall[i] ?? null])), confusionMatrix: f.confusionMatrix, labelNames: [...r.labelSet.names] };
    }
    const full: ResultRow = { ...row, seconds: (performance.now() - t0) / 1000, finishedAt: new Date().toISOString() };
    const svg = await renderSvg(confusionMatrixSpec(full.labelNames, full.confusionMatrix, `${id} ${Object.values(run.coords).join(' ')} seed ${run.seed}`));
    const chart = join(options.resultsDir, 'charts', `${safe(run.id)}.confusion`);
    writeFileAtomic(`${chart}.svg`, svg);
    writeFileAtomic(`${chart}.png`, await svgToPng(svg));
    rows = [...rows, full];
    writeFileAtomic(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    log(`  UAR ${(100 * full.metrics.uar).toFixed(2)} WAR ${(100 * full.metrics.war).toFixed(2)} (${full.seconds.toFixed(1)} s)`);
    ran++;
  }
  return { ran, skipped };
}

/** `results/summary.csv`: one line per ablation coordinate, mean ± sample std over seeds (percent). */
export function writeSummary(resultsDir: string): string {
  const rows = existsSync(resultsDir) ? readdirSync(resultsDir).filter((f) => f.endsWith('.jsonl')).sort().flatMap((f) => readRows(join(resultsDir, f))) : [];
  const groups = new Map<string, ResultRow[]>();
  for (const r of rows) {
    const k = JSON.stringify([r.ablation, r.method, r.coords.backbone, r.coords.promptType ?? '', r.coords.preprocess ?? '', r.coords.dataset]);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const lines = ['ablation,method,backbone,prompt_type,preprocess,dataset,seeds,n,uar_mean,uar_std,war_mean,war_std'];
  for (const [k, rs] of groups) {
    const uar = meanStd(rs.map((r) => 100 * r.metrics.uar));
    const war = meanStd(rs.map((r) => 100 * r.metrics.war));
    lines.push([...(JSON.parse(k) as string[]), rs.map((r) => r.seed).join(' '), rs[0]!.metrics.n, uar.mean.toFixed(2), uar.std.toFixed(2), war.mean.toFixed(2), war.std.toFixed(2)].join(','));
  }
  const path = join(resultsDir, 'summary.csv');
  writeFileAtomic(path, `${lines.join('\n')}\n`);
  return path;
}
