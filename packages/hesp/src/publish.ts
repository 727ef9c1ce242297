import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { DataFormatError } from '@vlfer/core';
import {
  jsonLinesText,
  provenance,
  readJsonLines,
  readTextFile,
  writeJsonAtomic,
  type RunDirectory,
} from '@vlfer/core/node';
import { runtimeVersions } from '@vlfer/encoders/node';
import type { LabelScheme } from '@vlfer/datasets';
import type { FaceCropper } from '@vlfer/faces/node';
import type { HespDataFingerprints } from './checkpoint.js';
import type { HespData } from './data.js';
import type { HespOptions } from './options.js';
import type { EpochRecord, HespRunPaths, StepRecord } from './train.js';

/**
 * config.resolved.json: the parsed options plus the run key, the labels as read (the label scheme and label set in
 * effect, defaults included), the random streams' version, the split, the class texts and the selection rule.
 */
export type HespResolvedConfig = HespOptions & {
  key: string;
  labels: {
    scheme: LabelScheme;
    /** the test list's, where it differs */
    testScheme?: LabelScheme;
    labelSet: { id: string; names: readonly string[] };
    reason: string;
  };
  /** The random streams' version (`HespRngStreams`): 1 for a run resumed from a checkpoint of vlfer before 2026-12-05. */
  rngStreams: HespData['rngStreams'];
  split: Pick<HespData['split'], 'index' | 'known' | 'unknown' | 'openness'>;
  classTexts: string[];
  selection: string;
};

/**
 * The options part of a config.resolved.json (`HespResolvedConfig` without what `resolvedHespConfig` adds), as read:
 * not validated.
 */
export function resolvedOptionsPart(raw: Record<string, unknown>): Record<string, unknown> {
  const { key: _k, labels: _l, rngStreams: _r, split: _s, classTexts: _c, selection: _sel, ...stored } = raw;
  void [_k, _l, _r, _s, _c, _sel];
  return stored;
}

/** The resolved configuration of a run (what `evaluateHespRun` reads back), in config.resolved.json's key order. */
export function resolvedHespConfig(o: HespOptions, key: string, data: HespData, texts: string[]): HespResolvedConfig {
  return {
    ...o,
    key,
    labels: {
      // as read: DFEW's own split file is read with DFEW's ids whatever the option
      scheme: data.labelSchemes.train,
      ...(data.labelSchemes.test !== data.labelSchemes.train ? { testScheme: data.labelSchemes.test } : {}),
      labelSet: { id: data.labelSet.id, names: data.labelSet.names },
      reason: data.labelSetReason,
    },
    rngStreams: data.rngStreams,
    split: {
      index: data.split.index,
      known: data.split.known,
      unknown: data.split.unknown,
      openness: data.split.openness,
    },
    classTexts: texts,
    selection:
      o.selectOn === 'test'
        ? `test split, AUROC + OSCR (${o.selectionMetrics} definitions; the reference's optimistic protocol)`
        : data.val.length > 0
          ? `closed-set accuracy on the validation part of the training data (${data.val.length} clips)`
          : `the last epoch: the validation part holds no clip (valFraction ${o.valFraction})`,
  };
}

/** What metrics.json records besides the epochs: the data, the selection rule, the patch centre, faces, fingerprints. */
export interface HespMetricsInput {
  data: HespData;
  selection: string;
  visualPromptCentre: { row: number; col: number };
  epochs: readonly EpochRecord[];
  cropper: FaceCropper | undefined;
  fingerprints: HespDataFingerprints;
  modelFingerprint: string;
}

const METRIC_DEFINITIONS = {
  standard:
    'AUROC with ties counted 1/2 (Mann–Whitney); OSCR = area under CCR(t) vs FPR(t) over every threshold t; TNR at the highest threshold with TPR ≥ 95 %',
  arpl: "ARPL/HESP core/evaluation.py: AUROC with ties counted 0 (metric_ood); OSCR = compute_oscr (CCR from k+1, FPR from k); TNR = get_curve's point closest to TPR 95 %",
};

const TIES_NOTE =
  "test.ties: how many test clips (known and unknown pooled) have a known-ness score (max ensemble logit) equal to another clip's. With ties, ARPL's compute_oscr depends on numpy's unstable argsort; vlfer sorts stably (numpy argsort kind='stable'), so oscr_arpl may differ from the reference code's: do not compare tie-heavy numbers across tools";

/** metrics.json of a run (pretty JSON, trailing newline): split, warnings, selection, best and last epochs, fingerprints. */
export function hespMetricsJson(m: HespMetricsInput): string {
  const { data } = m;
  const metrics = {
    split: {
      index: data.split.index,
      known: data.split.known,
      knownNames: data.split.known.map((k) => data.labelSet.names[k]),
      openness: data.split.openness,
    },
    warnings: data.warnings,
    visualPromptCentre: m.visualPromptCentre,
    selection: m.selection,
    metricsAreFractions: true,
    metricDefinitions: METRIC_DEFINITIONS,
    ties: TIES_NOTE,
    best: m.epochs.filter((e) => e.selected).at(-1) ?? null,
    last: m.epochs.at(-1) ?? null,
    // what the cropper saw depends on which clips and frames this process read (a resumed run reads fewer):
    // the counts go to run.json, the published set keeps the settings
    faces: m.cropper ? { description: m.cropper.describe() } : null,
    ...m.fingerprints,
    modelFingerprint: m.modelFingerprint,
    provenance: provenance({ runtime: runtimeVersions() }),
  };
  return `${JSON.stringify(metrics, null, 2)}\n`;
}

/**
 * Publish stage: metrics.json, epochs.jsonl, train-log.jsonl (re-read, a torn tail repaired), config.resolved.json
 * and best.safetensors (when an epoch was selected) as one verified set of the run directory.
 */
export function publishHespRun(
  run: RunDirectory,
  paths: HespRunPaths,
  metrics: HespMetricsInput,
  resolved: HespResolvedConfig,
): void {
  const files: Record<string, string | Uint8Array> = {
    'metrics.json': hespMetricsJson(metrics),
    'epochs.jsonl': jsonLinesText(metrics.epochs),
    'train-log.jsonl': jsonLinesText(
      readJsonLines<StepRecord>(paths.trainLog, { repairTornTail: true, what: 'training log' }).rows,
    ),
    'config.resolved.json': `${JSON.stringify(resolved, null, 2)}\n`,
  };
  if (existsSync(paths.best)) files['best.safetensors'] = readFileSync(paths.best);
  run.publish(files);
}

/**
 * run.json (outside the published set, which stays the same bytes wherever the run ran): the working directory that
 * the relative paths of config.resolved.json are from, where this call resumed from, face counts and cache use, timings.
 */
export function writeHespRunJson(
  run: RunDirectory,
  resumedFrom: { epoch: number; step: number } | null,
  cropper: FaceCropper | undefined,
  stepSeconds: number[],
  seconds: number,
): void {
  writeJsonAtomic(run.path('run.json'), {
    command: 'hesp train',
    cwd: process.cwd(),
    resumedFrom,
    ...(cropper ? { faces: { ...cropper.report(), cache: cropper.cacheCounts } } : {}),
    stepSeconds,
    seconds,
    finishedAt: new Date().toISOString(),
  });
}

const RUN_JSON_ADVICE =
  ": it records the directory the run's relative paths are from; restore it, or remove it to read them from the current directory";

/**
 * The working directory the run's last `hesp train` call ran in (run.json's `cwd`), or undefined where run.json is
 * absent or older. @throws DataFormatError naming run.json when it is not JSON
 */
export function hespRunCwd(runDir: string): string | undefined {
  const file = join(runDir, 'run.json');
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readTextFile(file, 'run record'));
  } catch (error) {
    throw new DataFormatError({
      file,
      message: `not valid JSON (${(error as Error).message})${RUN_JSON_ADVICE}`,
      cause: error,
    });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new DataFormatError({
      file,
      message: `expected a JSON object (the record hesp train writes)${RUN_JSON_ADVICE}`,
    });
  const cwd = (json as { cwd?: unknown }).cwd;
  if (cwd !== undefined && (typeof cwd !== 'string' || !isAbsolute(cwd)))
    throw new DataFormatError({
      file,
      field: 'cwd',
      message: `expected an absolute directory, got ${JSON.stringify(cwd)}`,
    });
  return cwd;
}
