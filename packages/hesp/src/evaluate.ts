import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import {
  checkHooks,
  argmaxRows,
  csvRow,
  DataFormatError,
  InvalidArgumentError,
  maxRows,
  parseOptions,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import { loadCheckpoint, readTextFile, recordedRunKind, RunDirectory, verifyRunOutputs } from '@vlfer/core/node';
import { flattenOpenSetReport, type OpenSetReport } from '@vlfer/metrics';
import { knownClassTexts } from '@vlfer/open-set';
import { clipContentFingerprints } from '@vlfer/encoders/node';
import { HespModel } from '@vlfer/open-set/node';
import type { FaceCropper } from '@vlfer/faces/node';
import { hespKnownNames, loadHespDataStepped, type HespData } from './data.js';
import { HespOptionsSchema, type HespOptions } from './options.js';
import {
  clipFrameReader,
  evaluateOpenSet,
  HESP_RUN,
  hespFaceCropper,
  loadHespClip,
  speltAsPath,
  type HespHooks,
} from './train.js';
import {
  acceptedDataFingerprints,
  fingerprintHespData,
  readHespRunDataFingerprints,
  refuseChangedFingerprints,
  refuseOtherClasses,
  RunClassesSchema,
} from './checkpoint.js';
import { hespRunCwd, resolvedOptionsPart } from './publish.js';

/**
 * How many known-ness scores are tied, and what that means for the ARPL OSCR (`ties` of `openSetReport`).
 * @param test flattened metrics (`flattenOpenSetReport`)
 */
function tiesNote(test: Record<string, number>): string {
  const ties = test['ties'] ?? 0;
  const n = (test['n_known'] ?? 0) + (test['n_unknown'] ?? 0);
  return ties === 0
    ? `ties 0 of ${n} known-ness scores`
    : `ties ${ties} of ${n} known-ness scores: the reference code's ARPL OSCR depends on numpy's unstable sort there (vlfer sorts stably); do not compare it across tools`;
}

/** Per-clip scores of a run's selected state on its test split (what `hesp eval` writes to scores.csv). */
export interface RunScores {
  /** Closed-set accuracy and both families of open-set metrics (`flattenOpenSetReport` names), fractions. */
  test: Record<string, number>;
  /** The epoch the evaluated state comes from (1-based). */
  epoch: number;
  /** known-class test clips: frame dir, known label (index into `knownNames`), predicted label, known-ness (max ensemble logit) */
  known: { frameDir: string; label: number; predicted: number; knownness: number }[];
  /** unknown-class test clips: frame dir, original label name, known-ness, the known class it is closest to (argmax) */
  unknown: { frameDir: string; originalLabel: string; knownness: number; predicted: number }[];
  /** the known classes' prompt texts in logit order (`knownClassTexts`) */
  classNames: string[];
  /**
   * known label j's class name in the run's label set. It equals `classNames` but for the released code's
   * alphabetical prompts (`referenceBehaviour.alphabeticalClassNames`), where the prompt of logit j names another
   * class than label j in most splits; labels and predictions are named by this.
   */
  knownNames: string[];
  /** `evaluateHespRun`: what the data's loading warned makes the numbers suspect (also in eval.json), else absent */
  warnings?: string[];
}

const BestMetaSchema = z.object({
  epoch: z.number().int().positive(),
  selectedOn: z.string(),
  selectionMetrics: z.string(),
  location: z.object({ row: z.number().int(), col: z.number().int() }),
  ...RunClassesSchema.shape,
  /** `FaceCropper.fingerprint` of a run trained on face crops (absent without faces, and before 2026-12-06) */
  facesFingerprint: z.string().optional(),
});

/** The selected state of a run (best.safetensors): the learnable tensors and where they come from. */
export interface HespBestState {
  tensors: Record<string, Float32Array>;
  meta: z.infer<typeof BestMetaSchema>;
}

/**
 * Load stage of `hesp eval`: check that `runDir` is a finished `hesp train` run (config.resolved.json and
 * best.safetensors checksum-verified against its manifest) and parse its stored options, their relative paths taken
 * from the directory the run was trained in (run.json's `cwd`; runs before 2026-12-06: from this process's).
 * @throws DataFormatError naming config.resolved.json (missing, not JSON, or with the invalid field)
 */
export function readHespRunConfig(
  runDir: string,
  /** collects a notice for each path read from this process's directory (run.json records none, or the project moved) */
  notes: string[] = [],
): HespOptions {
  if (typeof runDir !== 'string' || runDir === '')
    throw new InvalidArgumentError({
      functionName: 'evaluateHespRun',
      argument: 'runDir',
      message: `expected a directory written by 'hesp train', got ${JSON.stringify(runDir)}`,
    });
  if (!existsSync(runDir))
    throw new InvalidArgumentError({
      functionName: 'evaluateHespRun',
      argument: 'runDir',
      message: `${runDir} does not exist; expected a directory written by 'hesp train'`,
    });
  const cfgPath = join(runDir, 'config.resolved.json');
  const kind = recordedRunKind(runDir);
  if (kind !== undefined && kind !== HESP_RUN.kind)
    throw new DataFormatError({ file: runDir, message: `holds a run of '${kind}', not of 'hesp train'` });
  if (!existsSync(cfgPath))
    throw new DataFormatError({
      file: cfgPath,
      message: existsSync(join(runDir, 'checkpoint.safetensors'))
        ? "not found: this 'hesp train' run has not finished (it holds a checkpoint, no published results): rerun its hesp train command to finish it, then evaluate"
        : "not found: expected a directory written by 'hesp train' (trainHesp)",
    });
  verifyRunOutputs(runDir, ['config.resolved.json', 'best.safetensors']);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readTextFile(cfgPath, 'run configuration')) as Record<string, unknown>;
  } catch (error) {
    throw new DataFormatError({ file: cfgPath, message: `not valid JSON (${(error as Error).message})`, cause: error });
  }
  const o = hespRunOptions(raw, cfgPath);
  const cwd = hespRunCwd(runDir);
  if (cwd !== undefined) return pathsFrom(o, cwd, notes);
  if ([o.trainAnnotations, o.testAnnotations, o.root, o.model].some((p) => p && !isAbsolute(p)))
    notes.push(
      `${join(runDir, 'run.json')} records no working directory (a run of vlfer before 2026-12-06, or the file was removed): the run's relative paths are read from ${process.cwd()}`,
    );
  return o;
}

/**
 * `o` with its relative file and directory options resolved against `cwd`: the lists, the root and the CLIP model
 * (from this process's directory where they are missing there but found here, e.g. the project moved: a note in
 * `notes`; the run's fingerprints then say whether they are the same files); the tokenizer, a label set file and
 * the face models where they name something there (else they may be ids). A relative rebase target stays: it is
 * read under the root.
 */
function pathsFrom(o: HespOptions, cwd: string, notes: string[]): HespOptions {
  const from = <T extends string | undefined>(p: T): T => {
    if (p === undefined || isAbsolute(p)) return p;
    if (existsSync(resolve(cwd, p)) || !existsSync(p)) return resolve(cwd, p) as T;
    notes.push(`${p} is not in ${cwd}, where the run trained (run.json's cwd): read from ${process.cwd()}`);
    return resolve(p) as T;
  };
  const at = <T extends string | undefined>(p: T): T => {
    const found = p !== undefined && !isAbsolute(p) && existsSync(resolve(cwd, p)) ? resolve(cwd, p) : undefined;
    return (found ?? p) as T; // not found there: an id, or a path of this directory (its content is checked)
  };
  return {
    ...o,
    trainAnnotations: from(o.trainAnnotations),
    testAnnotations: from(o.testAnnotations),
    root: from(o.root),
    model: from(o.model),
    // a path (./tok, ../tok) is one of the run's directory; a bare name may be a Hub id
    tokenizer: o.tokenizer !== undefined && speltAsPath(o.tokenizer) ? from(o.tokenizer) : at(o.tokenizer),
    labelSet: o.labelSet?.endsWith('.json') ? at(o.labelSet) : o.labelSet,
    ...(o.faces
      ? {
          faces: {
            ...o.faces,
            detector: o.faces.detector.endsWith('.onnx') ? at(o.faces.detector) : o.faces.detector,
            modelDir: at(o.faces.modelDir),
            cacheDir: at(o.faces.cacheDir),
          },
        }
      : {}),
  };
}

/**
 * The options of a run from its config.resolved.json's content (what `trainHesp` resolved besides them is left out).
 * Runs written before `classes` and `labelSet` were refused together read as they ran: with the classes.
 * @throws DataFormatError naming `file` and the first invalid field
 */
export function hespRunOptions(raw: Record<string, unknown>, file: string): HespOptions {
  const stored = resolvedOptionsPart(raw);
  if (stored.classes !== undefined) delete stored.labelSet;
  try {
    return parseOptions(HespOptionsSchema, stored, 'evaluateHespRun');
  } catch (error) {
    const issues = (error as { issues?: { path: string; message: string }[] }).issues ?? [];
    // a field this version does not know: most likely a newer vlfer's, which can read the run
    const newer = issues.some((i) => /^Unrecognized key/.test(i.message))
      ? ' (fields this version of @vlfer/hesp does not know: the run was probably written by a newer vlfer; evaluate it with that version)'
      : '';
    throw new DataFormatError({
      file,
      ...(issues[0] ? { field: issues[0].path } : {}),
      message: `is not a valid hesp run configuration: ${
        issues
          .slice(0, 3)
          .map((i) => `${i.path || '(root)'}: ${i.message}`)
          .join('; ') || (error as Error).message
      }${newer}`,
      cause: error,
    });
  }
}

/** This data's fingerprints, the frames' in both forms (`hespDataFingerprintForms`: runs before 2026-12-06 spelt them). */
async function dataFingerprintsAccepted(
  o: HespOptions,
  data: HespData,
  hooks: HespHooks,
): Promise<Record<string, string | string[]>> {
  const { fingerprints, asSpelt } = await fingerprintHespData(o, data, hooks);
  return acceptedDataFingerprints(fingerprints, asSpelt);
}

/**
 * Read a run's selected state (best.safetensors, checksum-checked) and its metadata.
 * @throws DataFormatError naming the file and the invalid metadata field
 */
export function loadHespBest(runDir: string): HespBestState {
  const path = join(runDir, 'best.safetensors');
  const best = loadCheckpoint(path);
  const meta = BestMetaSchema.safeParse(best.meta);
  if (!meta.success)
    throw new DataFormatError({
      file: path,
      field: meta.error.issues[0]!.path.join('.'),
      message: meta.error.issues[0]!.message,
    });
  return { tensors: Object.fromEntries(Object.entries(best.tensors).map(([k, v]) => [k, v.data])), meta: meta.data };
}

/**
 * Per-clip scores from the test logits: predicted class (argmax) and known-ness (max ensemble logit) of each clip.
 * @param known ensemble logits [known clips, K] in `data.testKnown` order @param unknown [unknown clips, K]
 */
export function hespRunScores(
  data: HespData,
  texts: string[],
  epoch: number,
  test: OpenSetReport,
  known: Tensor2D,
  unknown: Tensor2D,
): RunScores {
  const predicted = argmaxRows(known);
  const sk = maxRows(known);
  const su = maxRows(unknown);
  const predictedUnknown = argmaxRows(unknown);
  return {
    test: flattenOpenSetReport(test),
    epoch,
    known: data.testKnown.map((v, i) => ({
      frameDir: v.frameDir,
      label: v.label,
      predicted: predicted[i]!,
      knownness: sk[i]!,
    })),
    unknown: data.testUnknown.map((v, i) => ({
      frameDir: v.frameDir,
      originalLabel: data.labelSet.names[v.label] ?? String(v.label),
      knownness: su[i]!,
      predicted: predictedUnknown[i]!,
    })),
    classNames: texts,
    knownNames: hespKnownNames(data),
  };
}

/**
 * Score stage of `hesp eval`: rebuild the model with the run's options and the selected state, score the test split
 * (`evaluateOpenSet`, with the run's face cropping) and release the model. @param texts the K known class texts
 */
export async function scoreHespRun(
  o: HespOptions,
  data: HespData,
  texts: string[],
  best: HespBestState,
  hooks: HespHooks = {},
  /** the run's recorded `modelFingerprint` (and the file recording it): CLIP files of other content are refused */
  recorded?: { file: string; modelFingerprint: string },
): Promise<RunScores> {
  const model = await scoringModel(o, texts, best, hooks, recorded);
  let cropper: FaceCropper | undefined;
  try {
    // inside: a cropper that fails to load (its detector gone) releases the model too
    cropper = o.faces ? await hespFaceCropper(o, hooks.log ?? (() => undefined)) : undefined;
    if (cropper) refuseOtherCrops(cropper, best, recorded?.file ?? 'best.safetensors', o, hooks.log);
    model.loadState({ tensors: best.tensors, optimizer: { step: 0, buffers: {} } });
    const read = clipFrameReader(cropper);
    const onBatch = scoreProgress(data, hooks.onProgress);
    const { report, known, unknown } = await evaluateOpenSet(
      model,
      data,
      o.frames,
      o.batch,
      hooks.signal,
      read,
      onBatch,
    );
    return hespRunScores(data, texts, best.meta.epoch, report, known, unknown);
  } finally {
    await model.release();
    await cropper?.dispose();
  }
}

/** The HESP model `scoreHespRun` scores with: the run's CLIP (checked against the run's record) and options. */
async function scoringModel(
  o: HespOptions,
  texts: string[],
  best: HespBestState,
  hooks: HespHooks,
  recorded: { file: string; modelFingerprint: string } | undefined,
): Promise<HespModel> {
  const clip = await loadHespClip(o, hooks);
  try {
    if (recorded)
      refuseChangedFingerprints(
        recorded.file,
        o,
        recorded,
        { modelFingerprint: clipContentFingerprints(clip.bundle) },
        {
          functionName: 'evaluateHespRun',
          argument: 'runDir',
          consequence:
            'Its selected state would be scored with another CLIP than it was trained with: restore those files',
        },
      );
    return await HespModel.create(clip, {
      classTexts: texts,
      nCtx: o.nCtx,
      patchSize: o.patchSize,
      location: best.meta.location,
      logitScale: o.logitScale,
      seed: o.seed,
      referenceBehaviour: o.referenceBehaviour,
    });
  } catch (error) {
    await clip.release();
    throw error;
  }
}

/** Progress in test clips scored, as the baselines' encode phase counts them: said at 0, then after each batch. */
function scoreProgress(data: HespData, onProgress: ProgressCallback | undefined): (clips: number) => void {
  const total = data.testKnown.length + data.testUnknown.length;
  let done = 0;
  onProgress?.({ phase: 'score', done, total, unit: 'clips' });
  return (n) => onProgress?.({ phase: 'score', done: (done += n), total, unit: 'clips' });
}

/**
 * The selected state is scored on the crops it was trained on (`FaceCropper.fingerprint` as best.safetensors records
 * it), or not at all; a run that records none (trained before 2026-12-06, when box crops became Pillow's) is scored
 * with a warning through `log`.
 * @throws InvalidArgumentError naming `runDir` where the crops differ
 */
function refuseOtherCrops(
  cropper: FaceCropper,
  best: HespBestState,
  file: string,
  o: HespOptions,
  log: ((line: string) => void) | undefined,
): void {
  if (best.meta.facesFingerprint === undefined) {
    log?.(
      'warning: the run records no fingerprint of its face crops (trained by a vlfer before 2026-12-06, whose box crops were cut otherwise): its test clips are scored on the crops this vlfer cuts, which may not be those it was trained and selected on',
    );
    return;
  }
  refuseChangedFingerprints(
    file,
    o,
    best.meta,
    { facesFingerprint: cropper.fingerprint },
    {
      functionName: 'evaluateHespRun',
      argument: 'runDir',
      consequence:
        'Its selected state would be scored on other crops than it was trained on: evaluate it with the detector and the vlfer it was trained with',
    },
  );
}

/**
 * scores.csv: one row per test clip (set, frame_dir, label, predicted, knownness), known clips first; labels and
 * predictions by class name (`RunScores.knownNames`; an unknown clip's label is its own class, its prediction the
 * known class its logits rank first).
 */
export function hespScoresCsv(result: RunScores): string {
  const names = result.knownNames;
  return (
    [
      csvRow(['set', 'frame_dir', 'label', 'predicted', 'knownness']),
      ...result.known.map((r) => csvRow(['known', r.frameDir, names[r.label]!, names[r.predicted]!, r.knownness])),
      // an unknown clip's predicted known class too (the README's "predicted class" of every row; it was empty)
      ...result.unknown.map((r) => csvRow(['unknown', r.frameDir, r.originalLabel, names[r.predicted]!, r.knownness])),
    ].join('\n') + '\n'
  );
}

/** Publish stage of `hesp eval`: adds scores.csv and eval.json to the run's published set (merging). */
export function publishHespEval(
  runDir: string,
  result: RunScores,
  best: HespBestState['meta'],
  warnings: string[],
  log?: (line: string) => void,
  /** the run directory, locked by the caller since it read the state it scored (left open); else locked here */
  locked?: RunDirectory,
): void {
  const run = locked ?? RunDirectory.open(runDir, { command: 'hesp eval', ...(log ? { log } : {}) });
  try {
    const evalJson = {
      epoch: result.epoch,
      selectedOn: best.selectedOn,
      selectionMetrics: best.selectionMetrics,
      metricsAreFractions: true,
      warnings,
      test: result.test,
    };
    run.publish(
      { 'scores.csv': hespScoresCsv(result), 'eval.json': `${JSON.stringify(evalJson, null, 2)}\n` },
      { merge: true },
    );
  } finally {
    if (!locked) run.close();
  }
}

/**
 * `hesp eval`: re-evaluate a finished run's selected state (best.safetensors, checksum-verified against the run's
 * manifest) on its test split; adds eval.json and scores.csv (one row per test clip: set, frame_dir, label,
 * predicted, knownness) to the run's published set.
 * Stages: `readHespRunConfig` → `loadHespData` → `loadHespBest` → `scoreHespRun` → `publishHespEval`.
 */
export async function evaluateHespRun(runDir: string, hooks: HespHooks = {}): Promise<RunScores> {
  checkHooks(hooks, 'evaluateHespRun');
  // locked from the first read to the publish: a training that published a newer state in between had its
  // metrics.json and best.safetensors merged with this call's scores of the older one
  const log = hooks.log;
  // a path that holds no HESP run is neither made nor locked (the lock's recovery tidies the directory it opens):
  // the reader says what was expected; read again under the lock below
  readHespRunConfig(runDir);
  const run = RunDirectory.open(runDir, { command: 'hesp eval', ...(log ? { log } : {}) });
  try {
    return await evaluateLockedHespRun(run, runDir, hooks);
  } finally {
    run.close();
  }
}

/** `evaluateHespRun` in its locked run directory. */
async function evaluateLockedHespRun(run: RunDirectory, runDir: string, hooks: HespHooks): Promise<RunScores> {
  const notes: string[] = [];
  const o = readHespRunConfig(runDir, notes);
  for (const line of notes) hooks.log?.(line);
  const data = await loadHespDataStepped(o, hooks.signal);
  for (const w of data.warnings) hooks.log?.(`warning: ${w}`);
  const texts = knownClassTexts(data.split.known, data.labelSet, { referenceBehaviour: o.referenceBehaviour });
  const best = loadHespBest(runDir);
  // the selected state is scored on the data it was trained and selected on, with its CLIP, or not at all
  const recorded = readHespRunDataFingerprints(runDir);
  const accepted = await dataFingerprintsAccepted(o, data, hooks);
  refuseChangedFingerprints(join(runDir, 'metrics.json'), o, recorded, accepted, {
    functionName: 'evaluateHespRun',
    argument: 'runDir',
    consequence:
      'Its selected state would be scored on data it was not trained and selected on: evaluate it on that data, or train a new run',
  });
  refuseOtherClasses(join(runDir, 'best.safetensors'), o, data, best.meta, 'evaluate');
  const result = await scoreHespRun(o, data, texts, best, hooks, {
    file: join(runDir, 'metrics.json'),
    modelFingerprint: recorded.modelFingerprint,
  });
  publishHespEval(runDir, result, best.meta, data.warnings, hooks.log, run);
  const f = (k: string) => (100 * result.test[k]!).toFixed(2);
  hooks.log?.(
    `test (epoch ${result.epoch}): closed-set acc ${f('closed_set_accuracy')}, AUROC ${f('auroc_arpl')} (ARPL) / ${f('auroc_standard')} (standard), OSCR ${f('oscr_arpl')} / ${f('oscr_standard')}; ${tiesNote(result.test)}`,
  );
  return { ...result, warnings: data.warnings };
}
