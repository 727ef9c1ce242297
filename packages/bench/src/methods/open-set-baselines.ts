import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { FileHashIndex } from '@vlfer/core/node';
import { DATASETS as DATA } from '@vlfer/datasets';
import {
  encodeOpenSetSplit,
  OPEN_SET_BASELINE_HESP_KEYS,
  OPEN_SET_BASELINES,
  scoreOpenSetBaseline,
  type OpenSetBaseline,
  type OpenSetBaselineOptionsInput,
  type OpenSetFeatureCache,
  type OpenSetProbeCache,
  type RunScores,
} from '@vlfer/hesp';
import { classificationReport } from '@vlfer/metrics';
import type { ItemOutcomes, ResultRow, RunCoords, RunHooks } from '../ablations.js';
import { DATASETS, type AblationSpec, type BenchData, type Method } from '../registry.js';

/**
 * The open-set baseline methods of the bench (`OPEN_SET_BASELINES` of @vlfer/hesp, same ids): `msp`, `max-logit`,
 * `energy`, `knn` on a linear probe of frozen CLIP video features, and `clip-msp` (zero-shot CLIP + MSP).
 */
export const isOpenSetBaseline = (m: Method): m is Method & OpenSetBaseline =>
  (OPEN_SET_BASELINES as readonly string[]).includes(m);

/** Methods whose rows carry open-set metrics (n_known, n_unknown, AUROC, OSCR …) instead of UAR/WAR. */
export const isOpenSetMethod = (m: Method): boolean => m === 'hesp' || isOpenSetBaseline(m);

/** The folder a video set's item ids are relative to: its `root`, else the folder of its test list. */
export const videoSetRoot = (v: { root?: string; test: string }): string => v.root ?? dirname(v.test);

/**
 * The data of one open-set run, HESP's or a baseline's: the dataset's HESP split list, the data config's annotation
 * lists (`videoSets.<dataset>`) and the split, as the options `trainHesp` and `encodeOpenSetSplit` share.
 * @throws Error naming the ablation and what is missing (a video open-set dataset, its lists, the split axis)
 */
export function openSetRunData(ablation: string, method: Method, c: RunCoords, data: BenchData | undefined) {
  const info = DATA[DATASETS[c.dataset].data];
  if (!('hesp' in info))
    throw new Error(
      `${ablation}: method ${method} needs a video open-set dataset (mafw, dfew, afew), got '${c.dataset}'`,
    );
  const v = data?.videoSets[c.dataset];
  if (!v)
    throw new Error(
      `${ablation}: no annotation lists for '${c.dataset}': give --data-config with videoSets.${c.dataset} = { train, test, root }`,
    );
  if (c.split === undefined) throw new Error(`${ablation}: method ${method} needs the split axis`);
  return {
    video: v,
    options: {
      dataset: info.hesp.splits,
      trainAnnotations: v.train,
      testAnnotations: v.test,
      ...(v.root ? { root: v.root } : {}),
      ...(v.rebase ? { rebase: v.rebase } : {}),
      splitIndex: c.split,
    },
  };
}

/**
 * A clip's item id: its frame directory relative to `root` (`videoSetRoot`) when it lies inside it, else the path
 * itself — the same clip has the same id in every run on that set (HESP and the baselines), so their rows pair up.
 */
export function clipItemId(frameDir: string, root: string): string {
  const r = relative(resolve(root), resolve(frameDir));
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : frameDir;
}

/**
 * Per-item outcomes of an open-set run, sorted by id: known test clips with their known label, unknown ones with
 * label -1; `predicted` the known class given (-1 where the method does not report it for unknown clips).
 */
export function openSetItems(
  r: Pick<RunScores, 'known'> & { unknown: { frameDir: string; knownness: number; predicted?: number }[] },
  root: string,
): ItemOutcomes {
  const rows = [
    ...r.known.map((k) => ({ id: clipItemId(k.frameDir, root), label: k.label, p: k.predicted, s: k.knownness })),
    ...r.unknown.map((u) => ({ id: clipItemId(u.frameDir, root), label: -1, p: u.predicted ?? -1, s: u.knownness })),
  ].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    ids: rows.map((x) => x.id),
    labels: rows.map((x) => x.label),
    predicted: rows.map((x) => x.p),
    knownness: rows.map((x) => x.s),
  };
}

/** The row fields of an open-set outcome (HESP's `RunScores` shape): metrics, confusion matrix, scores, items. */
export function openSetOutcome(
  r: Omit<RunScores, 'epoch' | 'unknown'> & { unknown: { frameDir: string; knownness: number; predicted?: number }[] },
  root: string,
): Pick<ResultRow, 'metrics' | 'perClassRecall' | 'confusionMatrix' | 'labelNames' | 'scores' | 'items'> {
  const rep = classificationReport(
    r.known.map((k) => k.label),
    r.known.map((k) => k.predicted),
    r.knownNames.length,
  );
  return {
    metrics: { ...r.test, n: r.known.length + r.unknown.length },
    perClassRecall: Object.fromEntries(r.knownNames.map((c, i) => [c, rep.perClassRecall[i] ?? null])),
    confusionMatrix: rep.confusionMatrix,
    labelNames: [...r.knownNames],
    scores: { known: r.known.map((k) => k.knownness), unknown: r.unknown.map((u) => u.knownness) },
    items: openSetItems(r, root),
  };
}

/**
 * Frozen features of every clip this process has encoded (by model, frames, face settings and clip): the baseline
 * runs of one dataset (every method, every split) encode each clip once. About 2 KB per clip at 512 dimensions.
 */
const FEATURES: OpenSetFeatureCache = new Map();
/** The known-class probes fitted in this process (by split content): fitted once per split, shared by four rows. */
const PROBES: OpenSetProbeCache = new Map();
/**
 * The content hashes of the frames read for data fingerprints in this process, by file state (`FileHashIndex`): the
 * five baseline rows of a split (and the other splits of the set) read each frame once instead of once per row, and a
 * frame changed in place (new mtime / ctime) is read again, so its row's fingerprint still changes.
 */
const FRAME_HASHES: FileHashIndex = new Map();

/**
 * One open-set baseline run: HESP's split `coords.split` of the data config's `videoSets.<dataset>`, with the HESP
 * options of the ablation that the baselines share (frames, validation part, logit scale, faces …) so they see the
 * same clips and frames as the HESP runs beside them, and the ablation's `options.openSet` (k, temperature, probe
 * search).
 */
export async function execOpenSetBaseline(
  method: OpenSetBaseline,
  run: { ablation: string; spec: AblationSpec; coords: RunCoords; seed: number; model: string; data?: BenchData },
  hooks: RunHooks,
): Promise<
  Pick<
    ResultRow,
    | 'metrics'
    | 'perClassRecall'
    | 'confusionMatrix'
    | 'labelNames'
    | 'scores'
    | 'items'
    | 'datasetFingerprint'
    | 'modelFingerprint'
    | 'warnings'
  >
> {
  const { ablation, coords: c } = run;
  const { video: v, options: dataOptions } = openSetRunData(ablation, method, c, run.data);
  const shared = Object.fromEntries(
    Object.entries(run.spec.options?.hesp ?? {}).filter(([k]) =>
      (OPEN_SET_BASELINE_HESP_KEYS as readonly string[]).includes(k),
    ),
  ) as Partial<OpenSetBaselineOptionsInput>;
  const features = await encodeOpenSetSplit(
    {
      ...shared,
      ...run.spec.options?.openSet,
      ...dataOptions,
      model: run.model,
      seed: run.seed,
    },
    { ...hooks, cache: FEATURES, frameHashes: FRAME_HASHES },
  );
  const r = await scoreOpenSetBaseline(features, method, {
    probes: PROBES,
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
  });
  hooks.log(
    `${method}: ${Object.entries(r.details)
      .map(([k, x]) => `${k} ${x}`)
      .join('; ')}`,
  );
  return {
    ...openSetOutcome(r, videoSetRoot(v)),
    datasetFingerprint: features.datasetFingerprint,
    ...(features.modelFingerprint ? { modelFingerprint: features.modelFingerprint } : {}),
    ...(features.warnings.length > 0 ? { warnings: features.warnings } : {}),
  };
}
