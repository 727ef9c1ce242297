import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import {
  AbortedError,
  checkHooks,
  csvRow,
  DataFormatError,
  InvalidArgumentError,
  shardOfKey,
  VlferError,
  type ProgressCallback,
  type Shard,
} from '@vlfer/core';
import {
  jsonLinesText,
  canonicalJson,
  shardRecordProblems,
  hashBytes,
  readJsonLines,
  readTextFile,
  readShardRecord,
  rowChecksum,
  shardRecordPath,
  writeFileAtomic,
  writeShardRecord,
  provenance,
  RunDirectory,
  type Provenance,
  type ShardRecord,
} from '@vlfer/core/node';
import { DATASETS as DATA, subsetId } from '@vlfer/datasets';
import { runtimeVersions } from '@vlfer/encoders/node';
import { evaluateZeroShot, trainHead } from '@vlfer/exp-clip';
import { evaluateHespRun, HESP_RNG_STREAMS, OPEN_SET_BASELINES, readHespRunFingerprints, trainHesp } from '@vlfer/hesp';
import { classificationReport, meanStd } from '@vlfer/metrics';
import type { PromptType } from '@vlfer/llm-knowledge';
import { chartsWanted } from './chart-packages.js';
import { inputStamp, runInputs, runSettings } from './run-inputs.js';
import { confusionMatrixSpec, renderSvg, rocCurvesSpec, svgToPng } from './charts.js';
import { runFaceApiReference } from './face-api-reference.js';
import { execClosedSet, isClosedSetRun, shotSeedGrid } from './methods/closed-set.js';
import {
  execOpenSetBaseline,
  isOpenSetBaseline,
  isOpenSetMethod,
  openSetOutcome,
  openSetRunData,
  videoSetRoot,
} from './methods/open-set-baselines.js';
import { itemIdUnder, itemOutcomes, itemsProblem } from './items.js';
import {
  coordinateKey,
  groupIntervals,
  pairedComparisons,
  runLabels,
  STATISTICS,
  type CiMetric,
} from './statistics.js';
import {
  ABLATIONS,
  BACKBONES,
  checkAblationSpec,
  DATASETS,
  METHODS,
  type AblationSpec,
  type BackboneId,
  type BenchData,
  type DatasetId,
  type Method,
  type Preprocess,
} from './registry.js';

export interface RunCoords {
  /** only when the ablation has a `method` axis; the row's `method` field always names the method */
  method?: Method;
  backbone: BackboneId;
  dataset: DatasetId;
  promptType?: PromptType;
  preprocess?: Preprocess;
  trainSet?: string;
  split?: number;
  /** few-shot methods: shots per class */
  shots?: number;
  subset?: string;
}

/** Per-item outcomes of a run: parallel arrays `[n]` (see {@link ResultRow.items}). */
export interface ItemOutcomes {
  ids: string[];
  labels: number[];
  predicted: number[];
  knownness?: number[];
}

export interface ResultRow {
  id: string;
  ablation: string;
  method: Method;
  coords: RunCoords;
  seed: number;
  /**
   * Fractions. Closed-set methods: uar, war, n. Open-set (hesp): closed_set_accuracy and both families of open-set
   * metrics (auroc_standard, auroc_arpl, oscr_standard, oscr_arpl, tnr_at_tpr95_standard, tnr_at_tpr95_arpl),
   * n_known, n_unknown, n.
   */
  metrics: Record<string, number>;
  perClassRecall: Record<string, number | null>;
  /** rows = true class, columns = predicted (open-set: the known-class test clips) */
  confusionMatrix: number[][];
  labelNames: string[];
  /** open-set only: known-ness scores (max ensemble logit) of the known and unknown test clips, for ROC curves */
  scores?: { known: number[]; unknown: number[] };
  /**
   * Per-item outcomes, for bootstrap confidence intervals over items and paired tests between two runs on the same
   * items. Parallel arrays in one order (sorted by id): `ids` unique item ids (relative path or clip id, the same for
   * the same item in every run on that dataset), `labels` the true class index into `labelNames` (-1: an open-set
   * unknown item), `predicted` the predicted class index (-1: an open-set unknown item whose method reports no class
   * for it, as HESP's evaluation), `knownness` (open-set methods) the known-ness score, higher = more likely known.
   */
  items?: ItemOutcomes;
  /**
   * Where the run's own outputs are (eval/train/hesp directories), relative to the results directory (`runs/<id>`;
   * rows written before 2026-12-06 hold the path as the results directory was given).
   */
  runDir?: string;
  /** content fingerprint of the evaluated items (ids, labels, content hashes), when the method reports one */
  datasetFingerprint?: string;
  /** content fingerprint of the model files, when the method reports one */
  modelFingerprint?: string;
  /**
   * stamp of the files the run may read (`runInputs`, `inputStamp`: sizes, times, inodes) when it started: a
   * resume runs a finished run again where it changed (rows written before 2026-12-07 carry none)
   */
  inputs?: string;
  /** `runSettings`: a hash of the ablation's method and options and the data config's settings for the run's sets */
  settings?: string;
  /**
   * What the run's pipeline warned makes its numbers suspect (classes with no test items, so UAR is over the others;
   * one class predicted for every item; the data loader's warnings), in its words; absent where it warned of nothing
   * or reports no warnings (rows written before 2026-12-08 carry none). summary.csv and the report show them.
   */
  warnings?: string[];
  /** code, package and runtime versions, machine: what produced the row */
  provenance: Provenance;
  seconds: number;
  finishedAt: string;
}

/**
 * Every run of an ablation: the grid of its axes × seeds. With `limit`, every run evaluates the same stratified,
 * seeded subset (`subsetId`), and the subset is part of the run id and coordinates, so a later full run is a
 * different run, not "already finished".
 */
export function expandAblation(
  id: string,
  spec: AblationSpec,
  options: { limit?: number } = {},
): { id: string; coords: RunCoords; seed: number }[] {
  const out: { id: string; coords: RunCoords; seed: number }[] = [];
  for (const method of spec.axes.method ?? [undefined])
    for (const backbone of spec.axes.backbone)
      for (const dataset of spec.axes.dataset)
        for (const trainSet of spec.axes.trainSet ?? [undefined])
          for (const split of spec.axes.split ?? [undefined])
            for (const promptType of spec.axes.promptType ?? [undefined])
              for (const preprocess of spec.axes.preprocess ?? [undefined])
                for (const [shots, seed] of shotSeedGrid(spec, method)) {
                  const coords: RunCoords = {
                    ...(method !== undefined ? { method } : {}),
                    backbone,
                    dataset,
                    ...(trainSet !== undefined ? { trainSet } : {}),
                    ...(split !== undefined ? { split } : {}),
                    ...(shots !== undefined ? { shots } : {}),
                    ...(promptType ? { promptType } : {}),
                    ...(preprocess ? { preprocess } : {}),
                    ...(options.limit ? { subset: subsetId(options.limit, 0) } : {}),
                  };
                  const key = Object.entries(coords)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(',');
                  out.push({ id: `${id}|${key}|seed=${seed}`, coords, seed });
                }
  return out;
}

const fileName = (id: string) => id.replaceAll('/', '__');
const safe = (s: string) => s.replace(/[^A-Za-z0-9._=-]+/g, '_');

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const fraction = z.number().min(0).max(1);
/** The shape of a result row (what `readRows` accepts). */
const ResultRowSchema = z.looseObject({
  id: z.string().min(1),
  ablation: z.string().min(1),
  method: z.enum(METHODS),
  coords: z.looseObject({
    method: z.enum(METHODS).optional(),
    backbone: z.string().min(1),
    dataset: z.string().min(1),
    promptType: z.string().optional(),
    preprocess: z.string().optional(),
    trainSet: z.string().optional(),
    split: z.number().int().optional(),
    shots: z.number().int().positive().optional(),
    subset: z.string().optional(),
  }),
  seed: z.number().int(),
  metrics: z.record(z.string(), z.number().refine(Number.isFinite, 'expected a finite number')),
  perClassRecall: z.record(z.string(), fraction.nullable()),
  confusionMatrix: z.array(z.array(count)),
  labelNames: z.array(z.string()).min(1),
  scores: z.object({ known: z.array(z.number()), unknown: z.array(z.number()) }).optional(),
  items: z
    .object({
      ids: z.array(z.string()),
      labels: z.array(z.number().int().min(-1)),
      predicted: z.array(z.number().int().min(-1)),
      knownness: z.array(z.number()).optional(),
    })
    .optional(),
  runDir: z.string().optional(),
  datasetFingerprint: z.string().optional(),
  modelFingerprint: z.string().optional(),
  // (in the order a row is written: a parsed row re-serialises byte for byte, as a shard merge writes it)
  warnings: z.array(z.string()).optional(),
  inputs: z.string().optional(),
  settings: z.string().optional(),
  provenance: z.looseObject({}),
  seconds: z.number(),
  finishedAt: z.string(),
});

const near = (a: number | undefined, b: number) => a !== undefined && Math.abs(a - b) <= 1e-9;

/**
 * What is wrong with a row's numbers, or null: every metric must follow from the row's confusion matrix (rows =
 * true class): a square matrix over `labelNames` of non-negative integer counts; closed-set rows: the counts add up
 * to `n`, and `uar`, `war` and the per-class recall are what `classificationReport` computes from the items the
 * matrix describes; open-set rows: the counts add up to `n_known`, `n` = `n_known` + `n_unknown`,
 * `closed_set_accuracy` is the matrix's trace over `n_known`, the scores are one per test clip, and every other
 * metric is a fraction. A row with per-item outcomes (`items`) must agree with them (`itemsProblem`).
 */
export function rowMetricsProblem(row: ResultRow): string | null {
  const k = row.labelNames.length;
  const cm = row.confusionMatrix;
  if (cm.length !== k || cm.some((r) => r.length !== k))
    return `confusionMatrix is ${cm.length}×${cm[0]?.length ?? 0}, expected ${k}×${k} (one row and column per label name)`;
  for (const [i, r] of cm.entries())
    for (const [j, v] of r.entries())
      if (!Number.isSafeInteger(v) || v < 0)
        return `confusionMatrix[${i}][${j}] is ${v}, expected a non-negative integer count`;
  const itemProblem = itemsProblem(row);
  if (itemProblem) return itemProblem;
  const total = cm.reduce((s, r) => s + r.reduce((a, b) => a + b, 0), 0);
  const m = row.metrics;
  if (isOpenSetMethod(row.method)) return openSetMetricsProblem(row, total);
  const bad = countProblem(m, 'n');
  if (bad) return bad;
  if (total !== m.n) return `the confusion matrix counts ${total} items, metrics.n says ${m.n} (they must be equal)`;
  if (total === 0) return 'the confusion matrix is empty (no item was evaluated)';
  // the items the matrix describes, through the same function the run used
  const yTrue: number[] = [];
  const yPred: number[] = [];
  cm.forEach((r, i) =>
    r.forEach((c, j) => {
      for (let n = 0; n < c; n++) {
        yTrue.push(i);
        yPred.push(j);
      }
    }),
  );
  const rep = classificationReport(yTrue, yPred, k);
  for (const name of ['uar', 'war'] as const)
    if (!near(m[name], rep[name]))
      return `metrics.${name} is ${m[name]}, but the confusion matrix gives ${rep[name]} (a fraction in [0, 1])`;
  for (const [i, c] of row.labelNames.entries()) {
    const want = rep.perClassRecall[i] ?? null;
    const got = row.perClassRecall[c];
    if (want === null ? got !== null : got === null || got === undefined || !near(got, want))
      return `perClassRecall['${c}'] is ${got}, but the confusion matrix gives ${want}`;
  }
  for (const [name, v] of Object.entries(m))
    if (name !== 'n' && !(v >= 0 && v <= 1)) return `metrics.${name} is ${v}, expected a fraction in [0, 1]`;
  return null;
}

/** `metrics.<name>` is not a non-negative integer count: the message, else null. */
const countProblem = (m: ResultRow['metrics'], name: string): string | null =>
  Number.isSafeInteger(m[name]) && m[name]! >= 0 ? null : `metrics.${name} is ${m[name]}, expected a count`;

/** `rowMetricsProblem` of an open-set row: its counts add up, accuracy and scores follow from the matrix. */
function openSetMetricsProblem(row: ResultRow, total: number): string | null {
  const m = row.metrics;
  const cm = row.confusionMatrix;
  const bad =
    countProblem(m, 'n_known') ??
    countProblem(m, 'n_unknown') ??
    countProblem(m, 'n') ??
    (m.ties === undefined ? null : countProblem(m, 'ties'));
  if (bad) return bad;
  // `ties`: how many known-ness scores share their value with another (`tiedScores`), a count of the test clips
  if (m.ties !== undefined && m.ties > m.n!) return `metrics.ties is ${m.ties}, more than the ${m.n} test clips`;
  if (total !== m.n_known)
    return `the confusion matrix counts ${total} clips, metrics.n_known says ${m.n_known} (they must be equal)`;
  if (m.n !== m.n_known! + m.n_unknown!)
    return `metrics.n is ${m.n}, expected n_known + n_unknown = ${m.n_known! + m.n_unknown!}`;
  const trace = cm.reduce((s, r, i) => s + r[i]!, 0);
  if (!near(m.closed_set_accuracy, total > 0 ? trace / total : NaN))
    return `metrics.closed_set_accuracy is ${m.closed_set_accuracy}, but the confusion matrix gives ${trace}/${total}`;
  if (row.scores && (row.scores.known.length !== m.n_known || row.scores.unknown.length !== m.n_unknown))
    return `scores hold ${row.scores.known.length} known and ${row.scores.unknown.length} unknown clips, metrics say ${m.n_known} and ${m.n_unknown}`;
  for (const [name, v] of Object.entries(m))
    if (!['n', 'n_known', 'n_unknown', 'ties'].includes(name) && !(v >= 0 && v <= 1))
      return `metrics.${name} is ${v}, expected a fraction in [0, 1]`;
  return null;
}

/**
 * Result rows of an ablation's JSONL file (a torn last line, from a killed run, is dropped and the file repaired).
 * Every row is checked: its shape (a line that is not a result row, e.g. from another tool's file, is named with
 * the field), its numbers (`rowMetricsProblem`), and its run once in the file (a copied line would count twice in
 * the summary's seeds and be compared with itself).
 * @throws DataFormatError naming the file, line and field
 */
export function readRows(path: string): ResultRow[] {
  return readRowsAndLines(path).rows;
}

/** {@link readRows}, with each row's line in the file (1-based; blank lines are not rows). */
function readRowsAndLines(path: string): { rows: ResultRow[]; lines: number[] } {
  if (!existsSync(path)) return { rows: [], lines: [] };
  const read = readJsonLines<unknown>(path, { repairTornTail: true, what: 'ablation results' });
  const lineOf = new Map<string, number>();
  const rows = read.rows.map((raw, i) => {
    const line = read.lines[i]!; // the file's own line numbers: blank lines are not rows
    const row = checkRow(raw, path, line);
    const first = lineOf.get(row.id);
    if (first !== undefined)
      throw new DataFormatError({
        file: path,
        line,
        message: `run ${row.id.slice(0, 200)} has a row on line ${first} already; a run has one row (a line copied, or files joined): remove one of them`,
      });
    lineOf.set(row.id, line);
    return row;
  });
  return { rows, lines: read.lines };
}

function checkRow(raw: unknown, file: string, line: number): ResultRow {
  const r = ResultRowSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DataFormatError({
      file,
      line,
      ...(issue.path.length ? { field: issue.path.join('.') } : {}),
      message: `not an ablation result row: ${issue.message} (rows are written by bench:ablations; other JSON-lines files do not belong in the results directory)`,
    });
  }
  const row = r.data as unknown as ResultRow;
  const problem = rowMetricsProblem(row);
  if (problem)
    throw new DataFormatError({
      file,
      line,
      message: `row ${row.id.slice(0, 200)}: ${problem}; the row was edited or damaged: remove line ${line} of the file, and the next bench:ablations runs it again`,
    });
  return row;
}

export interface RunAblationOptions {
  /** the shared assets folder (tiny-clip, FER2013) */
  shared: string;
  resultsDir: string;
  /** feature/target cache shared by runs */
  cacheDir?: string;
  /** a stratified, seeded subset of n items per evaluation (smoke runs; closed-set methods only), part of the run ids */
  limit?: number;
  /** stops between (and inside) runs; finished rows are kept */
  signal?: AbortSignal;
  /**
   * Progress inside each run, the phases of its method's pipeline (encode, train, evaluate, fit, knn …), each phase
   * starting again at every run; runs themselves are said through `log`.
   */
  onProgress?: ProgressCallback;
  /** models, video lists and unlabelled sets that only the user can point at (`loadBenchData`) */
  data?: BenchData;
  /** a registry other than ABLATIONS (tests, private grids) */
  registry?: Record<string, AblationSpec>;
  /**
   * Run only the runs whose id hashes to this shard (`shardOfKey`), writing their rows to
   * `results/shards/<ablation>/<i>-of-<n>.jsonl`; `mergeAblation` then writes what one unsharded run writes.
   */
  shard?: Shard;
  /**
   * Draw each run's confusion matrix (and ROC curve) and the ablation's ROC overlay under `results/charts/`, with vega
   * and vega-lite, optional peer dependencies: `true` draws them and throws before any run, naming the install
   * command, when they are not installed; `false` draws none; by default they are drawn when both are installed, else
   * not, and `log` says so once (`chartsWanted`).
   */
  charts?: boolean;
  log?: (l: string) => void;
}

/** Where the rows of one shard of an ablation go. */
export function shardRowsFile(resultsDir: string, id: string, shard: Shard): string {
  return join(resultsDir, 'shards', fileName(id), `${shard.index}-of-${shard.count}.jsonl`);
}

/** Where the record of one shard of an ablation goes (`<i>-of-<n>.json` beside its rows). */
export function shardRecordFile(resultsDir: string, id: string, shard: Shard): string {
  return shardRecordPath(join(resultsDir, 'shards', fileName(id)), shard);
}

/**
 * What every shard of an ablation must share, by name: the ablation and its registry entry, the subset size, the
 * data config's content (when given) and the code (git commit, dirty flag, package versions).
 */
export function ablationShardFields(
  id: string,
  spec: AblationSpec,
  o: { limit?: number; data?: BenchData; code?: Pick<Provenance, 'git' | 'packages'> },
): Record<string, unknown> {
  return {
    ablation: id,
    registryEntry: hashBytes(canonicalJson(spec)),
    limit: o.limit ?? null,
    ...(o.data !== undefined ? { dataConfig: hashBytes(canonicalJson(o.data)) } : {}),
    ...(o.code ? { code: { git: o.code.git, packages: o.code.packages } } : {}),
  };
}

/**
 * Write a shard's rows (`<i>-of-<n>.jsonl`) and then its record (`<i>-of-<n>.json`: `fields`, the rows' content
 * fingerprints, a checksum of each row), both atomically; `runAblation` calls it after every row.
 * @returns the record's path
 */
export function writeAblationShard(
  resultsDir: string,
  id: string,
  shard: Shard,
  rows: readonly ResultRow[],
  o: { fields: Record<string, unknown>; units: number },
): string {
  writeFileAtomic(shardRowsFile(resultsDir, id, shard), jsonLinesText(rows));
  return writeShardRecord(join(resultsDir, 'shards', fileName(id)), shard, {
    agree: o.fields,
    fingerprints: rowFingerprints(rows).fingerprints,
    units: o.units,
    unitsDone: rows.length,
    rows: Object.fromEntries(rows.map((r) => [r.id, rowChecksum(r)])),
  });
}

const FIELD_NAMES: Record<string, string> = {
  ablation: 'ablation (--only)',
  registryEntry: "the ablation's registry entry (axes, seeds, options)",
  limit: 'limit (--limit)',
  dataConfig: 'the content of --data-config',
  code: 'code (git commit, uncommitted changes, package versions)',
};

/**
 * What one data fingerprint covers: the dataset (and subset); for an open-set split (`split` axis) the split too:
 * the known-class training clips (so the frames read) differ between splits.
 */
const dataName = (c: RunCoords): string =>
  [c.dataset, c.subset, c.split === undefined ? '' : `split ${c.split}`].filter(Boolean).join(' ');

/**
 * The content fingerprints a shard's rows carry: `data` by dataset (and subset), `model` by backbone. A shard (or an
 * unsharded run resumed later) whose rows disagree has read changed data or models between its runs.
 */
function rowFingerprints(rows: readonly ResultRow[]): {
  fingerprints: Record<string, Record<string, string>>;
  conflict: string | null;
} {
  const data: Record<string, string> = {};
  const model: Record<string, string> = {};
  for (const r of rows) {
    const pairs: [Record<string, string>, string, string | undefined, string][] = [
      [data, dataName(r.coords), r.datasetFingerprint, 'data'],
      [model, r.coords.backbone, r.modelFingerprint, 'model'],
    ];
    for (const [map, name, fp, kind] of pairs) {
      if (fp === undefined) continue;
      if (map[name] !== undefined && map[name] !== fp)
        return {
          fingerprints: { data, model },
          conflict: `run ${r.id} read ${kind === 'data' ? 'other data' : 'another model'} for '${name}' (fingerprint ${fp.slice(0, 12)}…) than earlier runs (${map[name]!.slice(0, 12)}…): the ${kind} changed between runs`,
        };
      map[name] = fp;
    }
  }
  return { fingerprints: { data, model }, conflict: null };
}

function modelFor(backbone: BackboneId, o: RunAblationOptions): string {
  return o.data?.models[backbone] ?? BACKBONES[backbone].model(o.shared);
}

const recallByName = (names: readonly string[], recall: readonly (number | null)[]) =>
  Object.fromEntries(names.map((c, i) => [c, recall[i] ?? null]));

function closedSetRow(
  names: readonly string[],
  matrix: number[][],
  uar: number,
  war: number,
  n: number,
  recall: readonly (number | null)[],
): Pick<ResultRow, 'metrics' | 'perClassRecall' | 'confusionMatrix' | 'labelNames'> {
  return {
    metrics: { uar, war, n },
    perClassRecall: recallByName(names, recall),
    confusionMatrix: matrix,
    labelNames: [...names],
  };
}

type RunOutcome = Pick<
  ResultRow,
  | 'metrics'
  | 'perClassRecall'
  | 'confusionMatrix'
  | 'labelNames'
  | 'scores'
  | 'items'
  | 'runDir'
  | 'datasetFingerprint'
  | 'modelFingerprint'
  | 'warnings'
>;

/** The method of one run: its `method` coordinate where the ablation has that axis, else the ablation's. */
export const methodOf = (spec: AblationSpec, coords: RunCoords): Method => coords.method ?? spec.method;

/** What a method's run needs: the ablation, the run, the options, its run folder and the hooks for the pipelines. */
interface RunContext {
  spec: AblationSpec;
  ablation: string;
  run: { id: string; coords: RunCoords; seed: number };
  o: RunAblationOptions;
  method: Method;
  runDir: string;
  sub: (line: string) => void;
  hooks: RunHooks;
}

/** What a run hands its method's pipeline: the run's log, and the caller's signal and progress callback. */
export interface RunHooks {
  log: (line: string) => void;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

async function exec(
  spec: AblationSpec,
  ablation: string,
  run: { id: string; coords: RunCoords; seed: number },
  o: RunAblationOptions,
  log: (l: string) => void,
): Promise<RunOutcome> {
  const c = run.coords;
  const method = methodOf(spec, c);
  const runDir = join(o.resultsDir, 'runs', safe(run.id));
  const sub = (l: string) => log(`  ${l}`);
  const hooks: RunHooks = {
    log: sub,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
  const ctx: RunContext = { spec, ablation, run, o, method, runDir, sub, hooks };
  if (isOpenSetBaseline(method))
    return execOpenSetBaseline(
      method,
      { ablation, spec, ...run, model: modelFor(c.backbone, o), ...(o.data ? { data: o.data } : {}) },
      hooks,
    );
  if (isClosedSetRun(spec, method))
    return execClosedSet(spec, ablation, { ...run, method }, o, { ...hooks, model: modelFor(c.backbone, o), runDir });
  if (method === 'hesp') return execHesp(ctx);
  const root = testSetRoot(ctx);
  if (method === 'face-api') return execFaceApi(ctx, root);
  return execZeroShot(ctx, root);
}

/** A HESP run: train on the split (resuming a stopped training), then evaluate its best epoch. */
async function execHesp({ spec, ablation, run, o, method, runDir, hooks }: RunContext): Promise<RunOutcome> {
  const c = run.coords;
  const { video: v, options: dataOptions } = openSetRunData(ablation, method, c, o.data);
  await trainHesp(
    {
      ...spec.options?.hesp,
      ...dataOptions,
      model: modelFor(c.backbone, o),
      seed: run.seed,
      out: runDir,
    },
    hooks,
  );
  const r = await evaluateHespRun(runDir, hooks);
  // rows name classes by the label set (`knownNames`), as the baselines' rows of the same split do
  const warnings = r.warnings?.length ? { warnings: r.warnings } : {};
  return { ...openSetOutcome(r, videoSetRoot(v)), ...readHespRunFingerprints(runDir), runDir, ...warnings };
}

/** The test set of a closed-set run: one of the data config (`evalSets`), else one of the shared assets (fer2013). */
function testSetRoot({ ablation, run, o }: RunContext): string {
  const c = run.coords;
  const ds = DATASETS[c.dataset];
  const evalSet = o.data?.evalSets?.[c.dataset];
  if (!evalSet && !('root' in ds))
    throw new Error(
      `${ablation}: no test set '${c.dataset}': give --data-config with evalSets.${c.dataset} = { root, annotations } (the shared assets hold only fer2013)`,
    );
  const root = evalSet ? evalSet.root : (ds as { root: (shared: string) => string }).root(o.shared);
  // named by where it came from: the pipeline would name its own option (`root`), which no bench user gave
  if (!existsSync(root))
    throw new VlferError(
      `${ablation}: the test set '${c.dataset}' at ${root} does not exist (${evalSet ? `evalSets.${c.dataset}.root of the data config` : `in the shared assets: shared is ${o.shared}`})`,
    );
  return root;
}

/** The supervised reference row: face-api.js's expression model on a class-folder test set. */
async function execFaceApi({ ablation, run, o, hooks }: RunContext, root: string): Promise<RunOutcome> {
  const c = run.coords;
  const info = DATA[DATASETS[c.dataset].data];
  if (info.format !== 'image-folder')
    throw new Error(`${ablation}: method face-api reads class folders, '${c.dataset}' is ${info.format}`);
  const r = await runFaceApiReference({
    root,
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    ...(o.limit ? { limit: o.limit, subsetSeed: 0 } : {}),
  });
  return {
    ...closedSetRow(
      r.labelSet.names,
      r.report.confusionMatrix,
      r.report.uar,
      r.report.war,
      r.report.n,
      r.report.perClassRecall,
    ),
    items: itemOutcomes(
      r.items.map((it) => itemIdUnder(root, it.path)),
      r.items.map((it) => it.label),
      r.predictions,
    ),
    datasetFingerprint: r.datasetFingerprint,
  };
}

/**
 * The projection head of an Exp-CLIP run, if any: trained for `exp-clip-trained` (one head per backbone, train set,
 * preprocessing and seed, shared by the prompt-type runs: trainHead answers from a finished training directory after
 * checking its data through the caches, so the head is trained and the images encoded once), or the data config's `heads.<backbone>` when the
 * ablation asks for one.
 */
async function headFor({ spec, ablation, run, o, method, hooks }: RunContext): Promise<{
  head: string | undefined;
  /** what the head's training warned of (its metrics.json), for the row */
  warnings: string[];
}> {
  const c = run.coords;
  let head: string | undefined;
  let warnings: string[] = [];
  if (method === 'exp-clip-trained') {
    const t = c.trainSet === undefined ? undefined : o.data?.trainSets[c.trainSet];
    if (!t)
      throw new Error(
        `${ablation}: no unlabelled set '${c.trainSet}': give --data-config with trainSets.${c.trainSet} = { unlabelled, teacher, teacherSource }`,
      );
    const trainDir = join(
      o.resultsDir,
      'runs',
      safe(`${ablation}|train|${c.backbone}|${c.trainSet}|${c.preprocess ?? 'exp-clip'}|seed=${run.seed}`),
    );
    const tr = await trainHead(
      {
        ...spec.options?.train,
        ...t,
        model: modelFor(c.backbone, o),
        ...(c.preprocess ? { preprocess: c.preprocess } : {}),
        seed: run.seed,
        out: trainDir,
        ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      },
      hooks,
    );
    head = tr.headPath;
    warnings = trainingWarnings(tr.outDir);
  }
  if (!c.promptType) throw new Error(`${ablation}: method ${method} needs the promptType axis`);
  if (!spec.options?.head) return { head, warnings };
  const given = o.data?.heads?.[c.backbone];
  if (!given)
    throw new Error(
      `${ablation}: the Exp-CLIP rows need a projection head: give --data-config with heads.${c.backbone} = <head file>`,
    );
  return { head: given, warnings };
}

/** The warnings a head's training published in its metrics.json, each marked as the training's. */
function trainingWarnings(trainDir: string): string[] {
  const m = JSON.parse(readTextFile(join(trainDir, 'metrics.json'), 'head training metrics')) as { warnings?: unknown };
  const list = Array.isArray(m.warnings) ? m.warnings.filter((w): w is string => typeof w === 'string') : [];
  return list.map((w) => `training the head: ${w}`);
}

/** A zero-shot (or Exp-CLIP head) evaluation of one prompt type, preprocessing and fold on the test set. */
async function execZeroShot(ctx: RunContext, root: string): Promise<RunOutcome> {
  const { run, o, runDir, hooks } = ctx;
  const c = run.coords;
  const ds = DATASETS[c.dataset];
  const evalSet = o.data?.evalSets?.[c.dataset];
  const { head, warnings: trained } = await headFor(ctx);
  const promptType = c.promptType!;
  const r = await evaluateZeroShot(
    {
      dataset: DATA[ds.data] === DATA.fer2013 ? 'fer2013' : ds.data,
      root,
      ...(evalSet?.annotations ? { annotations: evalSet.annotations } : {}),
      ...(evalSet?.rebase ? { rebase: evalSet.rebase } : {}),
      // one run per fold (the split axis), so every row's metrics follow from its own confusion matrix
      ...(c.split !== undefined ? { folds: [c.split] } : {}),
      model: modelFor(c.backbone, o),
      promptTypes: [promptType],
      preprocess: c.preprocess ?? 'exp-clip',
      ...(head ? { head } : {}),
      out: runDir,
      // a run without its row is no result of the ablation yet (killed before its row was written, or refused):
      // its folder is redone as one set, whatever options or paths an earlier attempt left there
      overwrite: true,
      ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      ...(o.limit ? { limit: o.limit, subsetSeed: 0 } : {}),
    },
    hooks,
  );
  const f = r.results[0]!.folds[0]!;
  const p = r.predictions[0]!;
  return {
    ...closedSetRow(
      r.labelSet.names,
      f.confusionMatrix,
      r.results[0]!.mean.uar.mean,
      r.results[0]!.mean.war.mean,
      f.n,
      f.perClassRecall,
    ),
    items: itemOutcomes(p.ids, p.labels, p.byPromptType[promptType]!.predicted),
    runDir,
    datasetFingerprint: r.datasetFingerprint,
    modelFingerprint: r.modelFingerprint,
    ...(trained.length + r.warnings.length > 0 ? { warnings: [...trained, ...r.warnings] } : {}),
  };
}

async function drawChart(spec: Parameters<typeof renderSvg>[0], base: string): Promise<void> {
  const svg = await renderSvg(spec);
  writeFileAtomic(`${base}.svg`, svg);
  writeFileAtomic(`${base}.png`, await svgToPng(svg));
}

/**
 * Run every unfinished run of an ablation; each finished row is appended to `results/<ablation>.jsonl` (the file
 * is rewritten atomically) and its confusion matrix drawn as SVG and PNG; open-set runs also get a ROC curve, and
 * `charts/<ablation>.roc.{svg,png}` overlays the ROC curves of all the ablation's open-set runs (the charts need
 * vega and vega-lite: `options.charts`).
 * @throws VlferError before any run when `options.charts` is true and vega or vega-lite is not installed
 */
export async function runAblation(id: string, options: RunAblationOptions): Promise<{ ran: number; skipped: number }> {
  const registry = options.registry ?? (ABLATIONS as Record<string, AblationSpec>);
  if (!Object.hasOwn(registry, id))
    throw new Error(`Unknown ablation '${id}'; known: ${Object.keys(registry).join(', ')}`);
  const spec = checkAblationSpec(id, registry[id]);
  checkHooks(options, 'runAblation');
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const charts = chartsWanted(options.charts, log);
  const lock = lockAblation(options.resultsDir, id, options.shard, log);
  try {
    return await runLockedAblation(id, spec, { ...options, charts }, log);
  } finally {
    lock.close();
  }
}

/**
 * One process at a time runs an ablation (or one shard of it) into a results directory: each keeps its rows in memory
 * and rewrites the rows file, so two at once would drop each other's finished rows. The lock is a run directory
 * `<results>/.locks/<ablation>[.shard-i-of-n]` (`RunDirectory`: O_EXCL lock file, heartbeat, a dead holder's lock taken
 * over); a second run is refused naming the holder. Different shards, and different ablations, run side by side.
 * @throws RunLockedError naming the process that holds the ablation
 */
export function lockAblation(
  resultsDir: string,
  id: string,
  shard: Shard | undefined,
  log: (line: string) => void,
): RunDirectory {
  const name = `${fileName(id)}${shard ? `.shard-${shard.index}-of-${shard.count}` : ''}`;
  return RunDirectory.open(join(resultsDir, '.locks', name), { command: `bench:ablations ${id}`, log });
}

/**
 * A row's settings (`runSettings`), with HESP's random streams version for the methods that draw from them (HESP, and
 * the open-set baselines' validation part): rows of another version run again instead of mixing with this one's.
 */
function rowSettings(spec: AblationSpec, c: RunCoords, data: BenchData | undefined): string {
  const usesHespStreams = ['hesp', ...OPEN_SET_BASELINES].includes(methodOf(spec, c));
  return runSettings(spec, c, data, usesHespStreams ? { hespRandomStreams: HESP_RNG_STREAMS } : undefined);
}

async function runLockedAblation(
  id: string,
  spec: AblationSpec,
  options: RunAblationOptions,
  log: (line: string) => void,
): Promise<{ ran: number; skipped: number }> {
  const shard = options.shard;
  const file = shard ? shardRowsFile(options.resultsDir, id, shard) : join(options.resultsDir, `${fileName(id)}.jsonl`);
  const all = expandAblation(id, spec, options.limit ? { limit: options.limit } : {});
  const runs = shard ? all.filter((r) => shardOfKey(r.id, shard.count) === shard.index) : all;
  if (shard) log(`${id}: shard ${shard.index}/${shard.count} has ${runs.length} of ${all.length} runs`);
  const prov = provenance({ runtime: runtimeVersions() });
  const fields = ablationShardFields(id, spec, { ...options, code: prov });
  let rows = readRows(file);
  if (shard && rows.length > 0) rows = resumedShardRows(id, options, shard, file, rows, fields, log);
  const stampOf = runInputStamps(options);
  const settingsOf = (c: RunCoords) => rowSettings(spec, c, options.data);
  rows = rowsOnUnchangedInputs(id, runs, rows, { stampOf, settingsOf }, log);
  const done = new Set(rows.map((r) => r.id));
  let ran = 0;
  const saveShard = () => {
    if (shard) writeAblationShard(options.resultsDir, id, shard, rows, { fields, units: all.length });
  };
  for (const [i, run] of runs.entries()) {
    if (done.has(run.id)) continue;
    log(`[${i + 1}/${runs.length}] ${run.id}`);
    const [inputs, settings] = [stampOf(run.coords), settingsOf(run.coords)];
    const t0 = performance.now();
    const outcome = await execStoppable(spec, id, run, options, log, { file, kept: rows.length });
    const row: ResultRow = {
      id: run.id,
      ablation: id,
      method: methodOf(spec, run.coords),
      coords: run.coords,
      seed: run.seed,
      ...outcome,
      // from the results directory, so that the row still names the run's folder once the results are moved
      ...(outcome.runDir !== undefined
        ? { runDir: relative(options.resultsDir, outcome.runDir).split(sep).join('/') }
        : {}),
      inputs,
      settings,
      provenance: prov,
      seconds: (performance.now() - t0) / 1000,
      finishedAt: new Date().toISOString(),
    };
    if (options.charts) await drawRunCharts(id, run, row, join(options.resultsDir, 'charts'));
    const conflict = rowFingerprints([...rows, row]).conflict;
    if (conflict) throw new DataFormatError({ file, message: `${id}: ${conflict}; use another results directory` });
    rows = [...rows, row];
    if (shard) saveShard();
    else writeFileAtomic(file, jsonLinesText(rows));
    log(rowLine(row));
    ran++;
  }
  if (ran > 0 && !shard && options.charts) await drawOverlayRoc(id, rows, join(options.resultsDir, 'charts'));
  // a shard records itself even when it had nothing (left) to run, so the merge sees it finished
  if (shard && ran === 0) saveShard();
  return { ran, skipped: runs.filter((r) => done.has(r.id)).length };
}

/**
 * The stamp of the files a run of these coordinates may read (`runInputs`), each tree walked once per call, the
 * results and cache directories left out where they lie inside an input.
 */
function runInputStamps(o: RunAblationOptions): (c: RunCoords) => string {
  const memo = new Map<string, string>();
  return (c) => {
    const ds = DATASETS[c.dataset] as { root?: (shared: string) => string; data: keyof typeof DATA };
    const folds = (DATA[ds.data] as { folds?: readonly number[] }).folds;
    const inputs = runInputs(c, o.data, { model: modelFor(c.backbone, o), root: ds.root?.(o.shared), folds });
    return inputStamp(inputs, memo, [o.resultsDir, ...(o.cacheDir ? [o.cacheDir] : [])]);
  };
}

/**
 * The finished rows a resume keeps: a row whose run's files (data, lists, model, head) changed since it started
 * (`inputs`), or whose ablation options or data-config settings changed (`settings`), is dropped, with a log line,
 * and its run runs again; the content fingerprints of the new row then decide (the same as the other rows', or a
 * conflict naming the change). Rows written before these stamps are kept, said once.
 */
function rowsOnUnchangedInputs(
  id: string,
  runs: readonly { id: string; coords: RunCoords }[],
  rows: ResultRow[],
  of: { stampOf: (c: RunCoords) => string; settingsOf: (c: RunCoords) => string },
  log: (line: string) => void,
): ResultRow[] {
  const coords = new Map(runs.map((r) => [r.id, r.coords]));
  let unstamped = 0;
  const kept = rows.filter((r) => {
    const c = coords.get(r.id);
    if (!c) return true;
    if (r.inputs === undefined || r.settings === undefined) return ++unstamped > 0;
    const changed =
      r.settings !== of.settingsOf(c)
        ? "the ablation's options or the data config's settings"
        : r.inputs !== of.stampOf(c)
          ? 'the files it read (data, lists, model or head)'
          : undefined;
    if (changed) log(`${id}: ${changed} changed since ${r.id} finished: running it again`);
    return !changed;
  });
  if (unstamped > 0)
    log(
      `${id}: ${unstamped} finished row${unstamped === 1 ? '' : 's'} predate input stamps: kept without checking their files`,
    );
  return kept;
}

/**
 * The rows a resumed shard keeps: those its record (rewritten after every row) lists with their checksum. Refuses to
 * continue from edited rows or from a start with other settings.
 */
function resumedShardRows(
  id: string,
  options: RunAblationOptions,
  shard: Shard,
  file: string,
  rows: ResultRow[],
  fields: ReturnType<typeof ablationShardFields>,
  log: (line: string) => void,
): ResultRow[] {
  const recordFile = shardRecordFile(options.resultsDir, id, shard);
  const rec = existsSync(recordFile) ? readShardRecord(recordFile, shard) : null;
  if (rec) {
    const differ = Object.keys({ ...fields, ...rec.agree }).filter(
      (f) => canonicalJson(rec.agree[f]) !== canonicalJson(fields[f]),
    );
    if (differ.length > 0)
      throw new InvalidArgumentError({
        functionName: 'runAblation',
        argument: 'shard',
        message: `${id}: shard ${shard.index}/${shard.count} in ${options.resultsDir} was started with other settings (${differ.map((f) => FIELD_NAMES[f] ?? f).join(', ')}); use another results directory or remove ${file} and ${recordFile}`,
      });
  }
  for (const r of rows) {
    const want = rec?.rows[r.id];
    if (want !== undefined && want !== rowChecksum(r))
      throw new DataFormatError({
        file,
        message: `row ${r.id.slice(0, 200)} differs from what shard ${shard.index}/${shard.count} wrote (checksum in ${recordFile}); it was edited: remove the line to run it again`,
      });
  }
  const kept = rows.filter((r) => rec?.rows[r.id] !== undefined);
  if (kept.length < rows.length)
    log(
      `${id}: ${rows.length - kept.length} row(s) in ${file} were not recorded by the shard (stopped while writing them); running them again`,
    );
  return kept;
}

/**
 * One run that stops at `options.signal`, before it starts or inside its method, with an AbortedError that says
 * where the finished rows are and how to resume (HESP's own stop already says so and is passed on). Without the check
 * before each run, a stop during the open-set baselines was never seen: their rows after the first of a split find
 * every feature in the cache and never look at the signal, so the ablation ran on and ended without the hint.
 */
async function execStoppable(
  spec: AblationSpec,
  id: string,
  run: { id: string; coords: RunCoords; seed: number },
  options: RunAblationOptions,
  log: (line: string) => void,
  kept: { file: string; kept: number },
): Promise<RunOutcome> {
  const stopped = (cause: unknown) =>
    new AbortedError(
      `${id} at run ${run.id} (${kept.kept} finished row${kept.kept === 1 ? '' : 's'} kept in ${kept.file}; rerun the same command to resume)`,
      { cause },
    );
  if (options.signal?.aborted) throw stopped(options.signal.reason);
  try {
    return await exec(spec, id, run, options, log);
  } catch (error) {
    if (error instanceof AbortedError && !/rerun/.test(error.message)) throw stopped(error);
    // a pipeline's refusal of the options the ablation gave it: said for this run, not as an argument of a function
    // the bench user never called (its own advice about output directories means the run's folder)
    if (error instanceof InvalidArgumentError)
      throw new VlferError(`${id} at run ${run.id} (runs/${safe(run.id)}): ${error.detail}`, { cause: error });
    throw error;
  }
}

/** A run's confusion matrix, and for an open-set run its ROC curve, as SVG and PNG under `charts`. */
async function drawRunCharts(
  id: string,
  run: { id: string; coords: RunCoords; seed: number },
  row: ResultRow,
  charts: string,
): Promise<void> {
  const title = `${id} ${Object.values(run.coords).join(' ')} seed ${run.seed}`;
  await drawChart(
    confusionMatrixSpec(row.labelNames, row.confusionMatrix, title),
    join(charts, `${safe(run.id)}.confusion`),
  );
  if (row.scores)
    await drawChart(
      rocCurvesSpec(
        [{ name: `seed ${run.seed}`, knownScores: row.scores.known, unknownScores: row.scores.unknown }],
        title,
      ),
      join(charts, `${safe(run.id)}.roc`),
    );
}

/** The log line of a finished row: its headline metrics and time. */
function rowLine(row: ResultRow): string {
  const m = row.metrics;
  return m.auroc_arpl !== undefined
    ? `  closed-set acc ${pct(m.closed_set_accuracy)} AUROC ${pct(m.auroc_arpl)} (ARPL) / ${pct(m.auroc_standard)} OSCR ${pct(m.oscr_arpl)} / ${pct(m.oscr_standard)} (${row.seconds.toFixed(1)} s)`
    : `  UAR ${pct(m.uar)} WAR ${pct(m.war)} (${row.seconds.toFixed(1)} s)`;
}

/** A run's name in charts: its coordinates and seed. */
export const runLabel = (r: Pick<ResultRow, 'coords' | 'seed'>): string =>
  `${Object.values(r.coords).join(' ')} s${r.seed}`;

/** The ROC chart of an ablation's open-set runs in one figure (curves named by `runLabel`, AUC in the legend). */
export function overlayRocSpec(
  id: string,
  rows: readonly ResultRow[],
  title = `${id}: known vs unknown`,
): ReturnType<typeof rocCurvesSpec> {
  return rocCurvesSpec(
    rows
      .filter((r) => r.scores)
      .map((r) => ({ name: runLabel(r), knownScores: r.scores!.known, unknownScores: r.scores!.unknown })),
    title,
  );
}

/** `charts/<ablation>.roc.{svg,png}`: the ROC curves of all the ablation's open-set runs in one figure. */
async function drawOverlayRoc(id: string, rows: readonly ResultRow[], charts: string): Promise<void> {
  if (!rows.some((r) => r.scores)) return;
  await drawChart(overlayRocSpec(id, rows), join(charts, `${safe(fileName(id))}.roc`));
}

/**
 * What is wrong with the rows of one shard file `f` against its record (rows not recorded, edited or gone), the shard
 * of each row's id, and the rows of the shards before it (`byId`, which this adds the rows to).
 */
function shardRowProblems(
  rows: readonly ResultRow[],
  shard: Shard,
  f: string,
  rec: ShardRecord | undefined,
  recordPath: string,
  byId: Map<string, ResultRow>,
): string[] {
  const problems: string[] = [];
  for (const r of rows) {
    const want = rec?.rows[r.id];
    if (rec && want === undefined) problems.push(`${f}: row ${r.id} is not in the shard's record (${recordPath})`);
    else if (rec && want !== rowChecksum(r))
      problems.push(`${f}: row ${r.id} was edited after the shard wrote it (its checksum differs from the record's)`);
    if (shardOfKey(r.id, shard.count) !== shard.index)
      problems.push(`${f}: row ${r.id} belongs to shard ${shardOfKey(r.id, shard.count)}/${shard.count}`);
    if (byId.has(r.id)) problems.push(`run ${r.id} appears in more than one shard`);
    byId.set(r.id, r);
  }
  if (rec)
    for (const rid of Object.keys(rec.rows))
      if (!rows.some((r) => r.id === rid)) problems.push(`${f}: row ${rid} that the shard recorded is gone`);
  return problems;
}

/**
 * Merge the `count` shards of an ablation into what one unsharded run writes: `results/<ablation>.jsonl` with every
 * run once, in the registry's order, and the overlay ROC chart (per-run charts were drawn by the shards; `charts` as
 * for `runAblation`).
 * Refuses, naming each problem: missing shard files or records; a shard run with another ablation, registry entry,
 * `limit`, data config or code (the field is named); shards that read different data or models (their rows' content
 * fingerprints differ); a row edited after its shard wrote it (its checksum in the record differs), a row the record
 * does not list, or a recorded row that is gone; a row whose numbers do not follow from its confusion matrix
 * (`rowMetricsProblem`); a row in the wrong shard; missing and duplicated runs.
 */
export async function mergeAblation(
  id: string,
  options: Pick<RunAblationOptions, 'resultsDir' | 'limit' | 'registry' | 'charts' | 'log'> & { count: number },
): Promise<{ runs: number; records: ShardRecord[] }> {
  const registry = options.registry ?? (ABLATIONS as Record<string, AblationSpec>);
  const spec = registry[id];
  if (!spec) throw new Error(`Unknown ablation '${id}'; known: ${Object.keys(registry).join(', ')}`);
  const charts = chartsWanted(options.charts, options.log ?? ((l: string) => process.stderr.write(`${l}\n`)));
  const runs = expandAblation(id, spec, options.limit ? { limit: options.limit } : {});
  const byId = new Map<string, ResultRow>();
  const dir = join(options.resultsDir, 'shards', fileName(id));
  const { records, problems } = shardRecordProblems(dir, options.count, {
    expected: ablationShardFields(id, spec, options),
    name: (f) => FIELD_NAMES[f] ?? f,
  });
  const unreadable = new Set<number>();
  const recordOf = new Map(records.map((r) => [r.shard.index, r]));
  for (let i = 0; i < options.count; i++) {
    const shard = { index: i, count: options.count };
    const f = shardRowsFile(options.resultsDir, id, shard);
    if (!existsSync(f)) {
      problems.push(`shard ${i}/${options.count} wrote nothing (${f} is missing)`);
      continue;
    }
    let rows: ResultRow[];
    try {
      rows = readRows(f);
    } catch (error) {
      if (!(error instanceof DataFormatError)) throw error;
      problems.push(error.message);
      unreadable.add(i);
      continue;
    }
    problems.push(...shardRowProblems(rows, shard, f, recordOf.get(i), shardRecordPath(dir, shard), byId));
  }
  // the runs of a shard whose rows could not be read are not listed one by one (that shard's problem is named)
  const missing = runs.filter((r) => !byId.has(r.id) && !unreadable.has(shardOfKey(r.id, options.count)));
  for (const r of missing.slice(0, 10))
    problems.push(`run ${r.id} (shard ${shardOfKey(r.id, options.count)}/${options.count}) has no row`);
  if (missing.length > 10) problems.push(`… and ${missing.length - 10} more runs`);
  if (problems.length > 0) throw new Error(`cannot merge ${id}: ${problems.join('; ')}`);
  const rows = runs.map((r) => byId.get(r.id)!);
  writeMergedRows(id, join(options.resultsDir, `${fileName(id)}.jsonl`), rows);
  if (charts) await drawOverlayRoc(id, rows, join(options.resultsDir, 'charts'));
  return { runs: rows.length, records };
}

/**
 * Write a merge's rows to the ablation's file. Rows of other runs already finished there (another --limit) stay, as
 * an unsharded run keeps them, and are refused, as an unsharded run refuses them, when they read other data or
 * models than the merged rows; a row of another ablation there is refused at its line.
 * @throws DataFormatError naming the file (and line)
 */
function writeMergedRows(id: string, target: string, rows: readonly ResultRow[]): void {
  const merged = new Set(rows.map((r) => r.id));
  const kept = readRowsAndLines(target);
  // a row of another ablation pasted here is refused before the file is rewritten, at its line in the file as it is
  const foreign = kept.rows.findIndex((r) => r.ablation !== id);
  if (foreign >= 0)
    throw new DataFormatError({
      file: target,
      line: kept.lines[foreign]!,
      message: `a row of ablation '${kept.rows[foreign]!.ablation}', whose rows are in ${fileName(kept.rows[foreign]!.ablation)}.jsonl; move or remove the line, then merge again`,
    });
  const others = kept.rows.filter((r) => !merged.has(r.id));
  const conflict = rowFingerprints([...others, ...rows]).conflict;
  if (conflict)
    throw new DataFormatError({ file: target, message: `${id}: ${conflict}; use another results directory` });
  writeFileAtomic(target, jsonLinesText([...others, ...rows]));
}

const pct = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(2));

/** Summary columns: metric key → CSV column stem, in this order (open-set metrics in both families). */
const SUMMARY_METRICS = [
  ['uar', 'uar'],
  ['war', 'war'],
  ['closed_set_accuracy', 'closed_set_acc'],
  ['auroc_arpl', 'auroc_arpl'],
  ['oscr_arpl', 'oscr_arpl'],
  ['tnr_at_tpr95_arpl', 'tnr_at_tpr95_arpl'],
  ['auroc_standard', 'auroc_standard'],
  ['oscr_standard', 'oscr_standard'],
  ['tnr_at_tpr95_standard', 'tnr_at_tpr95_standard'],
] as const;

/**
 * `results/summary.csv`: one line per ablation coordinate, mean ± sample std over seeds (percent), then the 95 %
 * interval of each metric (`ci`: `items` = bootstrap over the run's items, one seed; `seeds` = t-interval of the mean
 * over seeds; `statistics.ts`). Metrics a method does not have are left empty. The last column, `warnings`, lists
 * what the group's runs warned of (`ResultRow.warnings`, each once, `; ` between). Also writes `results/paired.csv`
 * (`writePaired`): paired tests between runs on the same items.
 */
export function writeSummary(resultsDir: string): string {
  const rows = readAllRows(resultsDir);
  const groups = new Map<string, ResultRow[]>();
  for (const r of rows) groups.set(coordinateKey(r), [...(groups.get(coordinateKey(r)) ?? []), r]);
  const lines = [
    [
      'ablation,method,backbone,train_set,split,prompt_type,preprocess,dataset,subset,seeds,n',
      ...SUMMARY_METRICS.map(([, c]) => `${c}_mean,${c}_std`),
      'git_sha,git_dirty,dataset_fingerprint,shots,ci',
      ...CI_COLUMNS.map(([, c]) => `${c}_ci_low,${c}_ci_high`),
      'warnings',
    ].join(','),
  ];
  for (const [k, rs] of groups) {
    const cells = SUMMARY_METRICS.map(([m]) => {
      if (rs.some((r) => r.metrics[m] === undefined)) return ',';
      const s = meanStd(rs.map((r) => 100 * r.metrics[m]!));
      return `${s.mean.toFixed(2)},${rs.length > 1 ? s.std.toFixed(2) : ''}`;
    });
    const ci = groupIntervals(rs);
    const over = [...new Set(Object.values(ci).map((c) => c.over))].join(' ');
    const git = rs[0]!.provenance?.git;
    const fingerprints = [...new Set(rs.map((r) => r.datasetFingerprint ?? ''))];
    lines.push(
      [
        ...(JSON.parse(k) as string[]).slice(0, -1).map((v) => csvRow([v])),
        rs.map((r) => r.seed).join(' '),
        rs[0]!.metrics.n,
        ...cells,
        git?.sha ?? '',
        git ? String(git.dirty) : '',
        fingerprints.length === 1 ? fingerprints[0] : 'differs',
        rs[0]!.coords.shots ?? '',
        over,
        ...CI_COLUMNS.map(([m]) => (ci[m] ? `${pct(ci[m].lower)},${pct(ci[m].upper)}` : ',')),
        csvRow([[...new Set(rs.flatMap((r) => r.warnings ?? []))].join('; ')]),
      ].join(','),
    );
  }
  const path = join(resultsDir, 'summary.csv');
  writeFileAtomic(path, `${lines.join('\n')}\n`);
  writePaired(resultsDir, rows);
  return path;
}

/** Every result row of a results directory (`<ablation>.jsonl` files in name order), checked by `readRows`. */
export function readAllRows(resultsDir: string): ResultRow[] {
  if (!existsSync(resultsDir)) return [];
  const fileOf = new Map<string, string>();
  const files = readdirSync(resultsDir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort();
  return files.flatMap((f) => {
    const { rows, lines } = readRowsAndLines(join(resultsDir, f));
    return rows.map((row, i) => {
      // each ablation's rows are in its own file: a copy of a file, or rows pasted into another, would count twice
      const problem =
        `${fileName(row.ablation)}.jsonl` !== f
          ? `a row of ablation '${row.ablation}', whose rows are in ${fileName(row.ablation)}.jsonl`
          : fileOf.has(row.id)
            ? `run ${row.id.slice(0, 200)}, which has a row in ${fileOf.get(row.id)} already`
            : undefined;
      if (problem)
        throw new DataFormatError({
          file: join(resultsDir, f),
          line: lines[i]!,
          message: `${problem}; the summary would count it twice: move or remove the file (or the line)`,
        });
      fileOf.set(row.id, f);
      return row;
    });
  });
}

/** Interval columns of summary.csv: metric key → column stem. */
const CI_COLUMNS = [
  ['uar', 'uar'],
  ['war', 'war'],
  ['closed_set_accuracy', 'closed_set_acc'],
  ['auroc_standard', 'auroc_standard'],
  ['oscr_standard', 'oscr_standard'],
] as const satisfies readonly (readonly [CiMetric, string])[];

/**
 * `results/paired.csv`: one line per compared pair of runs and metric (`pairedComparisons`): A − B in percent
 * points with its 95 % paired-bootstrap interval, the bootstrap p-value and (for metrics of predictions) the paired
 * permutation p-value; `kind` reference = B is the first run on these items.
 */
export function writePaired(resultsDir: string, rows: readonly ResultRow[]): string {
  const { pairs } = pairedComparisons(rows);
  const byAblation = new Map<string, ResultRow[]>();
  for (const r of rows) byAblation.set(r.ablation, [...(byAblation.get(r.ablation) ?? []), r]);
  const labels = new Map([...byAblation.values()].flatMap((rs) => [...runLabels(rs)]));
  const lines = [
    'ablation,dataset,split,subset,seed,kind,run_a,run_b,label_a,label_b,metric,n,a,b,difference,ci_low,ci_high,p_bootstrap,p_permutation,iterations,permutations,stat_seed',
  ];
  for (const p of pairs)
    for (const [m, t] of Object.entries(p.tests))
      lines.push(
        csvRow([
          p.ablation,
          p.a.coords.dataset,
          p.a.coords.split ?? '',
          p.a.coords.subset ?? '',
          p.a.seed,
          p.kind,
          p.a.id,
          p.b.id,
          labels.get(p.a.id) ?? '',
          labels.get(p.b.id) ?? '',
          m,
          p.n,
          pct(t.estimateA),
          pct(t.estimateB),
          pct(t.difference),
          pct(t.lower),
          pct(t.upper),
          t.pValue.toPrecision(4),
          t.permutationP === null ? '' : t.permutationP.toPrecision(4),
          t.iterations,
          t.permutationP === null ? '' : STATISTICS.permutations,
          t.seed,
        ]),
      );
  const path = join(resultsDir, 'paired.csv');
  writeFileAtomic(path, `${lines.join('\n')}\n`);
  return path;
}
