/**
 * @file The closed-set rows of the bench: CLIP zero-shot next to the linear probe, few-shot probes and Tip-Adapter,
 * all on the same test items. The app only gathers the three parts (train, validation, test) from the data config
 * or the shared assets and turns `runClosedSetBaseline`'s predictions into a result row; fitting and scoring are
 * `@vlfer/probes`.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import { stratifiedSubset, type ImageItem } from '@vlfer/datasets';
import { DATASETS as DATA } from '@vlfer/datasets';
import { hashFile, writeJsonAtomic } from '@vlfer/core/node';
import { EvalOptionsSchema, loadEvalData, type EvalData } from '@vlfer/exp-clip';
import { expClipPrompts } from '@vlfer/llm-knowledge';
import { classificationReport } from '@vlfer/metrics';
import { DEFAULT_SPLIT_FRACTIONS, splitStratified, usesShots, type ClosedSetMethod } from '@vlfer/probes';
import { refuseSharedContent, runClosedSetBaseline, type LabelledImages } from '@vlfer/exp-clip';
import type { ResultRow, RunAblationOptions, RunCoords, RunHooks } from '../ablations.js';
import { DATASETS, type AblationSpec, type BenchData, type DatasetId, type Method } from '../registry.js';

/** The bench's method id → the closed-set method of `@vlfer/probes` it runs. */
const CLOSED_SET_OF: Partial<Record<Method, ClosedSetMethod>> = {
  'exp-clip-zero-shot': 'zero-shot',
  'linear-probe': 'linear-probe',
  'few-shot-probe': 'few-shot-probe',
  'tip-adapter': 'tip-adapter',
};

/** The seed of the split of a single labelled set (FER2013 PrivateTest here) into train/validation/test. */
export const CLOSED_SET_SPLIT_SEED = 0;

/**
 * Whether a run goes through the closed-set pipeline: every probe method, and every method of an ablation with
 * `options.closedSet` (there the zero-shot row is measured on the split's test part, the probes' test items).
 */
export function isClosedSetRun(spec: AblationSpec, method: Method): boolean {
  return (
    method === 'linear-probe' ||
    method === 'few-shot-probe' ||
    method === 'tip-adapter' ||
    (spec.options?.closedSet !== undefined && CLOSED_SET_OF[method] !== undefined)
  );
}

/**
 * The (shots, seed) pairs a method runs with on an ablation's grid, shots-major: the shots axis applies to the
 * few-shot methods only, and where an ablation has a shots axis, the methods without shots (zero-shot, the full
 * linear probe: deterministic given the split) run once, with the first seed. Without a shots axis: every seed.
 */
export function shotSeedGrid(spec: AblationSpec, method: Method | undefined): [number | undefined, number][] {
  const m = CLOSED_SET_OF[method ?? spec.method];
  if (!spec.axes.shots) return spec.seeds.map((seed) => [undefined, seed]);
  if (m && usesShots(m)) return spec.axes.shots.flatMap((k) => spec.seeds.map((seed): [number, number] => [k, seed]));
  return spec.seeds.slice(0, 1).map((seed) => [undefined, seed]);
}

/** An item's id: its path relative to the root, or the path itself outside the root (as `evaluateZeroShot` names it). */
function idOf(root: string, path: string): string {
  const r = relative(resolve(root), resolve(path));
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : path;
}

/** A closed-set part with the SHA-256 of every file (hashed once here; the feature cache reuses them as its keys). */
type KeyedPart = LabelledImages & { keys: readonly string[] };

/** A loaded set as ids, paths, labels and content keys (SHA-256 of each file), sorted by id. */
function toPart(items: readonly ImageItem[], root: string): KeyedPart {
  const rows = items
    .map((it) => ({ id: idOf(root, it.path), path: it.path, label: it.label }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const paths = rows.map((r) => r.path);
  return { ids: rows.map((r) => r.id), paths, labels: rows.map((r) => r.label), keys: paths.map((p) => hashFile(p)) };
}

const take = (p: KeyedPart, idx: readonly number[]): KeyedPart => ({
  ids: idx.map((i) => p.ids[i]!),
  paths: idx.map((i) => p.paths[i]!),
  labels: idx.map((i) => p.labels[i]!),
  keys: idx.map((i) => p.keys[i]!),
});

async function loadSet(
  dataset: DatasetId,
  set: { root: string; annotations?: string; rebase?: { from: string; to: string } },
  split: 'train' | 'test',
  model: string,
): Promise<EvalData & { kind: 'images' }> {
  const info = DATA[DATASETS[dataset].data];
  const d = await loadEvalData(
    EvalOptionsSchema.parse({
      dataset: info === DATA.fer2013 ? 'fer2013' : DATASETS[dataset].data,
      root: set.root,
      model,
      split,
      ...(set.annotations ? { annotations: set.annotations } : {}),
      ...(set.rebase ? { rebase: set.rebase } : {}),
    }),
    null,
  );
  if (d.kind !== 'images')
    throw new Error(`the closed-set methods take image datasets; '${dataset}' is ${d.kind} (${d.source})`);
  return d;
}

/** The three parts of a closed-set run, each sorted by id, and how they were made. */
export interface ClosedSetParts {
  labelNames: string[];
  train: KeyedPart;
  validation: KeyedPart;
  test: KeyedPart;
  /** one line: where each part comes from */
  protocol: string;
}

/** Refuse train/validation images that are test images by content (a copy under another path is one too). */
function refuseOverlap(parts: Omit<ClosedSetParts, 'protocol' | 'labelNames'>, dataset: string): void {
  refuseSharedContent(parts, {
    functionName: 'closedSetParts',
    hint: `${dataset}: point labelledSets.${dataset} at a train split that holds no copies of test images`,
  });
}

/**
 * The train, validation and test parts of a dataset. With `labelledSets.<dataset>` in the data config (a labelled
 * train split: RAF-DB, AffectNet, FERPlus training sets), train and validation are an 80/20 stratified split of it
 * (seed {@link CLOSED_SET_SPLIT_SEED}) and the test part is the zero-shot test set (`evalSets.<dataset>`, or the
 * shared FER2013 PrivateTest). Without one, the test set itself is split 30/20/50 % (`splitStratified`, the same
 * seed), byte-identical images (same SHA-256) kept in one part. Train or validation images whose content is a test
 * image's are refused. With `limit`, the test part is cut to `stratifiedSubset(limit, seed 0)`; train and validation stay whole.
 */
export async function closedSetParts(
  dataset: DatasetId,
  o: { shared: string; data?: BenchData; model: string; limit?: number },
): Promise<ClosedSetParts> {
  const ds = DATASETS[dataset];
  const evalSet = o.data?.evalSets?.[dataset];
  const testSet = evalSet ?? ('root' in ds ? { root: ds.root(o.shared) } : undefined);
  if (!testSet)
    throw new Error(
      `no test set '${dataset}': give --data-config with evalSets.${dataset} = { root, annotations } (the shared assets hold only fer2013)`,
    );
  const testData = await loadSet(dataset, testSet, 'test', o.model);
  const labelNames = [...testData.labelSet.names];
  const whole = toPart(testData.items, testSet.root);
  const labelled = o.data?.labelledSets?.[dataset];
  let parts: Omit<ClosedSetParts, 'protocol' | 'labelNames'>;
  let protocol: string;
  if (labelled) {
    const trainData = await loadSet(dataset, labelled, 'train', o.model);
    if (trainData.labelSet.names.join('\n') !== labelNames.join('\n'))
      throw new Error(
        `${dataset}: the labelled train set ${labelled.root} has classes ${trainData.labelSet.names.join(', ')}, the test set ${labelNames.join(', ')}`,
      );
    const train = toPart(trainData.items, labelled.root);
    const fractions = { train: 0.8, validation: 0.2, test: 0 };
    const s = splitStratified(train.ids, train.labels, { seed: CLOSED_SET_SPLIT_SEED, fractions, groups: train.keys });
    parts = { train: take(train, s.train), validation: take(train, s.validation), test: whole };
    protocol = `train/validation: 80/20 % of ${trainData.source} (seed ${CLOSED_SET_SPLIT_SEED}); test: ${testData.source}`;
  } else {
    const s = splitStratified(whole.ids, whole.labels, { seed: CLOSED_SET_SPLIT_SEED, groups: whole.keys });
    parts = { train: take(whole, s.train), validation: take(whole, s.validation), test: take(whole, s.test) };
    const f = DEFAULT_SPLIT_FRACTIONS;
    protocol = `${100 * f.train}/${100 * f.validation}/${100 * f.test} % train/validation/test of ${testData.source} (seed ${CLOSED_SET_SPLIT_SEED}; byte-identical images kept in one part)`;
  }
  refuseOverlap(parts, dataset);
  if (o.limit) {
    const sub = stratifiedSubset(
      parts.test.labels.map((label) => ({ label })),
      { limit: o.limit, seed: 0 },
    );
    parts = { ...parts, test: take(parts.test, sub.indices) };
    protocol += `; test cut to ${sub.id}`;
  }
  return { labelNames, ...parts, protocol };
}

type Outcome = Pick<
  ResultRow,
  | 'metrics'
  | 'perClassRecall'
  | 'confusionMatrix'
  | 'labelNames'
  | 'items'
  | 'runDir'
  | 'datasetFingerprint'
  | 'modelFingerprint'
>;

/**
 * One closed-set run of the bench: the parts of its dataset, `runClosedSetBaseline` with the run's method, shots
 * (`coords.shots`), seed (the shot selection) and prompt type (zero-shot, Tip-Adapter), and the row: metrics from
 * `classificationReport`, the per-item outcomes sorted by id, and `fit.json` in the run directory (chosen C, the
 * C values tried, the ids of the shots, the protocol).
 */
export async function execClosedSet(
  spec: AblationSpec,
  ablation: string,
  run: { coords: RunCoords; seed: number; method: Method },
  o: Pick<RunAblationOptions, 'shared' | 'data' | 'limit' | 'cacheDir'>,
  w: RunHooks & { model: string; runDir: string },
): Promise<Outcome> {
  const c = run.coords;
  const method = CLOSED_SET_OF[run.method];
  if (!method) throw new Error(`${ablation}: method ${run.method} has no closed-set form`);
  if (spec.options?.head) throw new Error(`${ablation}: the closed-set runs take no projection head (options.head)`);
  if (usesShots(method) && c.shots === undefined)
    throw new Error(`${ablation}: method ${run.method} needs the shots axis`);
  if ((method === 'zero-shot' || method === 'tip-adapter') && !c.promptType)
    throw new Error(`${ablation}: method ${run.method} needs the promptType axis (its class prompts)`);
  const parts = await closedSetParts(c.dataset, { ...o, model: w.model });
  w.log(`${c.dataset}: ${parts.protocol}`);
  const r = await runClosedSetBaseline(
    {
      method,
      ...(c.shots !== undefined ? { shots: c.shots } : {}),
      seed: run.seed,
      model: w.model,
      preprocess: c.preprocess ?? 'exp-clip',
      ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      classNames: parts.labelNames,
      ...(c.promptType ? { prompts: expClipPrompts(c.promptType, parts.labelNames).prompts } : {}),
      train: parts.train,
      validation: parts.validation,
      test: parts.test,
    },
    { log: w.log, ...(w.signal ? { signal: w.signal } : {}), ...(w.onProgress ? { onProgress: w.onProgress } : {}) },
  );
  const rep = classificationReport(r.labels, r.predicted, parts.labelNames.length);
  const shotIds = r.fit.shotIndices?.map((i) => parts.train.ids[i]!);
  writeJsonAtomic(join(w.runDir, 'fit.json'), {
    method,
    protocol: parts.protocol,
    sweep: r.fit.sweep ?? null,
    shotIds,
  });
  return {
    metrics: { uar: rep.uar, war: rep.war, n: rep.n },
    perClassRecall: Object.fromEntries(parts.labelNames.map((n, i) => [n, rep.perClassRecall[i] ?? null])),
    confusionMatrix: rep.confusionMatrix,
    labelNames: parts.labelNames,
    items: { ids: r.ids, labels: r.labels, predicted: r.predicted },
    runDir: w.runDir,
    datasetFingerprint: r.datasetFingerprint,
    modelFingerprint: r.modelFingerprint,
  };
}
