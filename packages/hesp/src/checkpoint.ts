import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import {
  DataFormatError,
  describeChangedFields,
  InvalidArgumentError,
  runSteps,
  runStepsSync,
  type ProgressCallback,
} from '@vlfer/core';
import {
  hashFile,
  hashFileIndexed,
  loadCommandCheckpoint,
  readTextFile,
  saveCheckpoint,
  type FileHashIndex,
} from '@vlfer/core/node';
import { canonicalExpression, EXP_CLIP_CLASS_ORDER, type LabelScheme, type VideoItem } from '@vlfer/datasets';
import { listFrames, unsetLabelScheme } from '@vlfer/datasets/node';
import type { PatchLocation } from '@vlfer/open-set';
import type { HespState } from '@vlfer/open-set/node';
import {
  HESP_RNG_STREAMS,
  hespDefaultLabelSetId,
  hespKnownNames,
  hespLabelScheme,
  type HespData,
  type HespRngStreams,
  hespDataName,
  HESP_RNG_STREAM_VERSIONS,
} from './data.js';
import type { HespOptions } from './options.js';

/** `HespRunClasses` as stored with a checkpoint or selected state; absent from those of vlfer before 2026-12-05. */
export const RunClassesSchema = z.object({
  knownNames: z.array(z.string()).optional(),
  labelsFingerprint: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

const CheckpointMetaSchema = z.object({
  key: z.string(),
  /** Epochs completed (0-based index of the epoch to continue). */
  epoch: z.number().int().min(0),
  /** Steps completed in that epoch. */
  step: z.number().int().min(0),
  lossSum: z.number(),
  bestScore: z.number().nullable(),
  location: z.object({ row: z.number().int(), col: z.number().int() }),
  trainListFingerprint: z.string(),
  testListFingerprint: z.string(),
  framesFingerprint: z.string(),
  modelFingerprint: z.string(),
  /** `FaceCropper.fingerprint` of a run trained on face crops (absent without faces, and before 2026-12-06). */
  facesFingerprint: z.string().optional(),
  ...RunClassesSchema.shape,
  /** What `key` hashes (`hespRunFields`; absent from checkpoints written before 2026-12-05). */
  runOptions: z.record(z.string(), z.unknown()).optional(),
  /**
   * The working directory of the call that wrote the checkpoint, which the relative paths of `runOptions` are from;
   * absent from checkpoints written before 2026-12-06, whose data fingerprints named the frames by their paths as
   * spelt (`hespDataFingerprintForms`).
   */
  cwd: z.string().optional(),
  /**
   * SHA-256 of the working files as they stood when the checkpoint was written (work/train-log.jsonl,
   * work/epochs.jsonl, work/best.safetensors or null), which a resume reuses and publishes: checked on resume (absent
   * from checkpoints written before 2026-12-06).
   */
  workDigests: z.object({ trainLog: z.string(), epochs: z.string(), best: z.string().nullable() }).optional(),
});

/** The metadata of a HESP training checkpoint (checkpoint.safetensors): where to continue and what it was trained on. */
export type HespCheckpointMeta = z.infer<typeof CheckpointMetaSchema>;

/** A validated HESP training checkpoint: its metadata, the learnable tensors and the optimiser state. */
export interface HespCheckpoint {
  meta: HespCheckpointMeta;
  /** `ctx`, `patch`, `negImages`, `radius` (flat, the layouts of `HespModel`). */
  tensors: Record<string, Float32Array>;
  optimizer: { step: number; buffers: Record<string, Float32Array> };
  /** The random streams the run started with (its key says which), which it continues with. */
  rngStreams: HespRngStreams;
}

/** Content fingerprints of a run's data: both clip lists (bytes) and every frame of every clip the run reads. */
export interface HespDataFingerprints {
  trainListFingerprint: string;
  testListFingerprint: string;
  framesFingerprint: string;
}

/**
 * SHA-256 of the list files and of every frame (name, `hespDataName`, and content) of the training, validation and
 * test clips: a list relabelled in place or one frame replaced gives another fingerprint. Reads every frame once per
 * run; with `frameHashes` (kept across runs, e.g. the open-set baseline rows of one split), a frame whose path, size,
 * mtime, inode and ctime are unchanged is not read again (`hashFileIndexed`), while one rewritten in place still is.
 */
export function hespDataFingerprints(
  o: HespOptions,
  data: HespData,
  frameHashes?: FileHashIndex,
): HespDataFingerprints {
  return hespDataFingerprintForms(o, data, frameHashes).fingerprints;
}

/** The fingerprints of the data and, as `asSpelt`, the frames' as runs before 2026-12-06 recorded it. */
export interface HespDataFingerprintForms {
  fingerprints: HespDataFingerprints;
  asSpelt: { framesFingerprint: string };
}

/**
 * `hespDataFingerprints`, and the frames' fingerprint as vlfer before 2026-12-06 computed it (`asSpelt`: the frames
 * named by their paths as `root` and the lists spell them), which runs started then recorded. Each frame is read once.
 * Synchronous: a pipeline hashes with `fingerprintHespData`, which a signal stops.
 */
export function hespDataFingerprintForms(
  o: HespOptions,
  data: HespData,
  frameHashes?: FileHashIndex,
): HespDataFingerprintForms {
  return runStepsSync(fingerprintSteps(o, data, frameHashes));
}

/**
 * `hespDataFingerprintForms` giving the event loop its turns (`runSteps`): hashing every frame of a FERV39k-sized split
 * takes minutes on real frames, in which Ctrl-C, a SIGTERM or `signal` now stop it within a clip. `onProgress`:
 * `{ phase: 'fingerprint', unit: 'clips' }` after each clip folder.
 * @throws AbortedError when `signal` fires
 */
export async function fingerprintHespData(
  o: HespOptions,
  data: HespData,
  options: { frameHashes?: FileHashIndex; signal?: AbortSignal; onProgress?: ProgressCallback } = {},
): Promise<HespDataFingerprintForms> {
  return runSteps(fingerprintSteps(o, data, options.frameHashes), {
    what: 'fingerprinting the frames',
    ...(options.signal ? { signal: options.signal } : {}),
    onStep: ([done, total]) => options.onProgress?.({ phase: 'fingerprint', done, total, unit: 'clips' }),
  });
}

/** The steps of `hespDataFingerprintForms`: one per clip folder, yielding [folders done, folders]. */
function* fingerprintSteps(
  o: HespOptions,
  data: HespData,
  frameHashes?: FileHashIndex,
): Generator<[number, number], HespDataFingerprintForms, void> {
  const clips = [...data.train, ...data.val, ...data.testKnown, ...data.testUnknown];
  const rebased = new Set(clips.filter((c) => c.rebased).map((c) => c.frameDir));
  const hash = frameHashes ? (f: string) => hashFileIndexed(f, frameHashes) : hashFile;
  const spelt = createHash('sha256');
  const frames: [name: string, line: string][] = [];
  const name = hespDataName(o);
  const dirs = [...new Set(clips.map((c) => c.frameDir))].sort();
  for (const [i, dir] of dirs.entries()) {
    for (const f of listFrames(dir)) {
      const [h, n] = [hash(f), name(f, rebased.has(dir))];
      spelt.update(`${f}\0${h}\n`);
      frames.push([n, `${n}\0${h}\n`]);
    }
    yield [i + 1, dirs.length];
  }
  const named = createHash('sha256');
  for (const [, line] of frames.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) named.update(line);
  return {
    fingerprints: {
      trainListFingerprint: hashFile(o.trainAnnotations),
      testListFingerprint: hashFile(o.testAnnotations),
      framesFingerprint: named.digest('hex'),
    },
    asSpelt: { framesFingerprint: spelt.digest('hex') },
  };
}

/**
 * One fingerprint of a split's data (a bench row's `datasetFingerprint`): SHA-256 of the canonical JSON (sorted keys)
 * of its `HespDataFingerprints`. HESP and the open-set baselines on the same lists and frames give the same string.
 */
export function hespDatasetFingerprint(f: HespDataFingerprints): string {
  const { trainListFingerprint, testListFingerprint, framesFingerprint } = f;
  return createHash('sha256')
    .update(JSON.stringify({ framesFingerprint, testListFingerprint, trainListFingerprint }))
    .digest('hex');
}

const RunFingerprintsSchema = z.object({
  trainListFingerprint: z.string(),
  testListFingerprint: z.string(),
  framesFingerprint: z.string(),
  modelFingerprint: z.string(),
});

/** The content fingerprints a trained run recorded in its metrics.json, each as recorded. */
export function readHespRunDataFingerprints(runDir: string): z.infer<typeof RunFingerprintsSchema> {
  const file = join(runDir, 'metrics.json');
  let json: unknown;
  try {
    json = JSON.parse(readTextFile(file, 'HESP metrics'));
  } catch (error) {
    if (error instanceof SyntaxError)
      throw new DataFormatError({ file, message: `not valid JSON (${error.message})`, cause: error });
    throw error;
  }
  const m = RunFingerprintsSchema.safeParse(json);
  if (!m.success)
    throw new DataFormatError({
      file,
      field: m.error.issues[0]!.path.join('.'),
      message: `${m.error.issues[0]!.message} (the run's content fingerprints)`,
    });
  return m.data;
}

/**
 * The content fingerprints a trained run recorded in its metrics.json: `datasetFingerprint`
 * (`hespDatasetFingerprint`) and the CLIP model files' `modelFingerprint`.
 * @throws DataFormatError naming metrics.json and the field when one is missing
 */
export function readHespRunFingerprints(runDir: string): { datasetFingerprint: string; modelFingerprint: string } {
  const recorded = readHespRunDataFingerprints(runDir);
  return { datasetFingerprint: hespDatasetFingerprint(recorded), modelFingerprint: recorded.modelFingerprint };
}

/**
 * The data fingerprints a recorded run may hold for this run's data, for `refuseChangedFingerprints`: the lists', and
 * the frames' in this vlfer's form and, where given, as runs started before 2026-12-06 recorded it (`asSpelt`).
 */
export function acceptedDataFingerprints(
  fingerprints: HespDataFingerprints,
  asSpelt?: { framesFingerprint: string },
): Record<string, string | string[]> {
  const frames = [fingerprints.framesFingerprint, ...(asSpelt ? [asSpelt.framesFingerprint] : [])];
  return { ...fingerprints, framesFingerprint: frames };
}

/**
 * Refuse a checkpoint whose recorded fingerprints differ from this run's, naming what changed.
 * @param now the fingerprints to compare (a subset of the checkpoint's: the data ones, or `modelFingerprint`); a
 *   list holds every form accepted (this vlfer's, then an earlier one's: `hespDataFingerprintForms`)
 * @throws InvalidArgumentError naming the changed lists, frames or model files
 */
export function refuseChangedFingerprints(
  ckptPath: string,
  o: HespOptions,
  recorded: Partial<Record<string, unknown>>,
  now: Record<string, string | readonly string[]>,
  /** who refuses and what to do instead (default: a resume of `trainHesp`) */
  refusal: { functionName: string; argument: string; consequence: string } = {
    functionName: 'trainHesp',
    argument: 'options',
    consequence: 'Resuming would mix them; use another output directory or delete the checkpoint',
  },
): void {
  const what: Record<string, string> = {
    trainListFingerprint: `the training list ${o.trainAnnotations}`,
    testListFingerprint: `the test list ${o.testAnnotations}`,
    framesFingerprint: 'the video frames',
    modelFingerprint: `the CLIP model files (${o.model}${o.tokenizer ? ` and the tokenizer ${o.tokenizer}` : ''})`,
    facesFingerprint: `the face crops (${recorded.facesFingerprint === undefined ? 'not recorded by a vlfer before 2026-12-06, whose box crops were cut otherwise' : 'the detector, the crop settings or how this vlfer cuts them'})`,
  };
  const changed = Object.keys(now).filter((k) => ![now[k]].flat().includes(recorded[k] as string));
  if (changed.length)
    throw new InvalidArgumentError({
      functionName: refusal.functionName,
      argument: refusal.argument,
      message: `${ckptPath} was trained on other data: ${changed.map((k) => what[k] ?? k).join(', ')} changed since${pathsNote(o, recorded, changed)}. ${refusal.consequence}`,
    });
}

/**
 * Runs started before 2026-12-06 (no recorded `cwd`) named the frames in their fingerprint by their paths as `root`
 * and the lists spell them: when the frames' fingerprint changed and the recorded options spelt those paths
 * otherwise, the note says to spell them as then ('' otherwise).
 */
function framesSpelling(o: HespOptions, then: Record<string, unknown>, changed: string[]): string {
  if (!changed.includes('framesFingerprint')) return '';
  const keys = ['root', 'trainAnnotations', 'testAnnotations'] as const;
  const differ = keys.filter((k) => typeof then[k] === 'string' && then[k] !== o[k]);
  return differ.length
    ? ` (or only their paths are spelt otherwise than when the run started: give ${differ.map((k) => `${k} '${String(then[k])}'`).join(', ')} as then, from the directory it ran in)`
    : '';
}

/**
 * Where the run read its data then and this call reads it now, where those differ (a copy or a move that is not the
 * same content), for the refusal of changed fingerprints; for runs started before 2026-12-06, `framesSpelling`.
 */
function pathsNote(o: HespOptions, recorded: Partial<Record<string, unknown>>, changed: string[]): string {
  const then = (recorded as { runOptions?: Record<string, unknown> }).runOptions;
  if (!then) return '';
  if (typeof recorded.cwd !== 'string') return framesSpelling(o, then, changed);
  const cwd = recorded.cwd;
  // a tokenizer given as a directory is part of the model files (a Hub id names no place)
  const local = (k: string) => k !== 'tokenizer' || (typeof o.tokenizer === 'string' && existsSync(o.tokenizer));
  const differ = [...CONTENT_CHECKED, 'tokenizer' as const].filter(
    (k) => typeof then[k] === 'string' && o[k] !== undefined && local(k) && resolve(cwd, then[k]) !== resolve(o[k]),
  );
  const was = differ.map((k) => resolve(cwd, then[k] as string));
  const is = differ.map((k) => resolve(o[k]!));
  // frames a rebase moved are read from where it points (a relative target under the root, as `hespDataName` reads it)
  const rebase = (r: unknown, base: string) => {
    const { from, to } = (r ?? {}) as { from?: string; to?: string };
    return from !== undefined && to !== undefined
      ? `frames rebased from ${from} to ${resolve(base, to)}`
      : 'its frames without a rebase';
  };
  if (changed.includes('framesFingerprint') && JSON.stringify(then.rebase) !== JSON.stringify(o.rebase)) {
    const root = (v: Record<string, unknown>) => (v.root ?? dirname(v.trainAnnotations as string)) as string;
    was.push(rebase(then.rebase, resolve(cwd, root(then))));
    is.push(rebase(o.rebase, resolve(root(o))));
  }
  return was.length ? ` (the run read ${was.join(', ')}; this call reads ${is.join(', ')})` : '';
}

/** What a run trains on, as its data were read: the known classes in label order, and every clip's label. */
export interface HespRunClasses {
  /** Known label j's class name in the run's label set (`HespData.knownClassIds`). */
  knownNames: string[];
  /** SHA-256 of every clip's name (`hespDataName` of its frame directory), class name and known label (−1: unknown). */
  labelsFingerprint: string;
}

/** What every checkpoint and selected state of a run records about it: its classes and the options its key hashes. */
export type HespRunRecord = HespRunClasses & { runOptions: Record<string, unknown> };

/** `HespRunClasses` of a run's data read with the options `o` (the clips named by `hespDataName`). */
export function hespRunClasses(
  data: HespData,
  o: Pick<HespOptions, 'root' | 'trainAnnotations' | 'rebase'>,
): HespRunClasses {
  const name = hespDataName(o);
  return {
    knownNames: hespKnownNames(data),
    labelsFingerprint: labelsFingerprint(data, (c) => name(c.frameDir, c.rebased)),
  };
}

/** SHA-256 of every clip's name (`name` of the clip), class name and known label (−1: unknown), sorted. */
function labelsFingerprint(data: HespData, name: (clip: VideoItem) => string): string {
  const names = data.labelSet.names;
  const rows = [
    ...[...data.train, ...data.val, ...data.testKnown].map((c) => [name(c), names[c.originalLabel], c.label]),
    ...data.testUnknown.map((c) => [name(c), names[c.label], -1]),
  ]
    .map((r) => r.join('\t'))
    .sort();
  return createHash('sha256').update(rows.join('\n')).digest('hex');
}

/**
 * Why vlfer before 2026-12-05 may have read this run's classes otherwise than vlfer does now, or undefined where it
 * read them alike: a label set in DFER-CLIP's class order (basic-7, mafw-11 or a prefix), where 'dfer-clip' ids by
 * position and by name agree and HESP's splits mapped the same, and the ascending label numbering (not
 * `referenceBehaviour.alphabeticalClassNames`). Conservative: some runs it names were read alike.
 */
function readOtherwiseBefore(o: HespOptions, data: HespData): string | undefined {
  if (o.referenceBehaviour?.alphabeticalClassNames)
    return '--reference-class-order (referenceBehaviour.alphabeticalClassNames) numbers the known labels otherwise now';
  if (!data.labelSet.names.every((n, i) => canonicalExpression(n) === EXP_CLIP_CLASS_ORDER[i]))
    return `the label set ${data.labelSet.id} (${data.labelSet.names.join(', ')}) is not in DFER-CLIP's class order, in which the earlier vlfer read list ids and HESP's splits as positions`;
  return undefined;
}

/** Who refuses a state of other classes, and what to do instead, for each use of the state. */
const OTHER_CLASSES_ADVICE = {
  resume: {
    functionName: 'trainHesp',
    advice: 'resuming would mix them: use another output directory, or delete the checkpoint to train again',
  },
  evaluate: {
    functionName: 'evaluateHespRun',
    advice:
      'scoring it with these classes would mismatch its class prompts: evaluate it with the vlfer that trained it, or train again into another output directory',
  },
} as const;

/**
 * Refuse a checkpoint or selected state trained on other classes than this run reads: other known classes or
 * numbering (`knownNames`), or clips labelled otherwise (`labelsFingerprint`: a label scheme or label set read
 * differently). One written before these were recorded passes only where vlfer read the classes as it does now.
 * @param use what the state is read for: 'resume' (a checkpoint, `trainHesp`) or 'evaluate' (best.safetensors,
 *   `evaluateHespRun`), which decides the advice and the function the error names
 * @throws InvalidArgumentError (argument 'options') naming the file and what differs
 */
export function refuseOtherClasses(
  file: string,
  o: HespOptions,
  data: HespData,
  recorded: z.infer<typeof RunClassesSchema>,
  use: 'resume' | 'evaluate',
): void {
  const now = hespRunClasses(data, o);
  const { functionName, advice } = OTHER_CLASSES_ADVICE[use];
  const fail = (why: string): never => {
    throw new InvalidArgumentError({ functionName, argument: 'options', message: `${file} ${why}; ${advice}` });
  };
  if (recorded.knownNames === undefined || recorded.labelsFingerprint === undefined) {
    const why = readOtherwiseBefore(o, data);
    if (why) fail(`was written by an earlier vlfer, before the classes a run trains on were recorded, and ${why}`);
    return;
  }
  if (recorded.knownNames.join('\n') !== now.knownNames.join('\n'))
    fail(
      `was trained with the known classes ${recorded.knownNames.join(', ')} (in label order); this run has ${now.knownNames.join(', ')}`,
    );
  // vlfer before 2026-12-06 named the clips by their frame directories as spelt
  const asSpelt = () => labelsFingerprint(data, (c) => c.frameDir);
  if (recorded.labelsFingerprint !== now.labelsFingerprint && recorded.labelsFingerprint !== asSpelt())
    fail('was trained on clips labelled otherwise than the lists read now (label scheme, label set or list changed)');
}

/**
 * What a checkpoint must agree with to be resumed: every option that changes the numbers, and the class names (a
 * label set file may change under the same path). Epochs, output directory, threads, checkpoint interval and device
 * do not enter it. @returns a SHA-256 hex digest
 */
export function hespRunKey(
  o: HespOptions,
  classNames: readonly string[],
  rngStreams: HespRngStreams = HESP_RNG_STREAMS,
): string {
  return hespRunKeyOf(hespRunFields(o, classNames, rngStreams));
}

/** `hespRunKey` of fields already computed (`hespRunFields`). */
export function hespRunKeyOf(fields: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

/**
 * What `hespRunKey` hashes, as a checkpoint's metadata records it (so a refusal can name what changed). The random
 * streams enter only from version 2 on, so the keys of runs started before them are unchanged, and a vlfer that knows
 * only version 1 refuses to resume a run of version 2 instead of drawing other numbers.
 */
export function hespRunFields(
  o: HespOptions,
  classNames: readonly string[],
  rngStreams: HespRngStreams = HESP_RNG_STREAMS,
): Record<string, unknown> {
  const { epochs: _e, out: _o, threads: _t, checkpointEvery: _c, device: _d, ...rest } = o;
  void [_e, _o, _t, _c, _d];
  const streams = rngStreams === 1 ? {} : { rngStreams };
  return JSON.parse(JSON.stringify({ ...rest, classNames, ...streams })) as Record<string, unknown>;
}

/**
 * Resume stage, part 1: read and check the training checkpoint at `ckptPath` (checksum, metadata schema, run key,
 * data fingerprints, the classes as read: `refuseOtherClasses`; with `facesFingerprint`, the face crops; the model
 * fingerprint is checked once the model is loaded).
 * @returns the checkpoint, or `undefined` when there is none (a fresh run)
 * @throws DataFormatError for a damaged checkpoint or bad metadata (naming the field); InvalidArgumentError when it
 *   belongs to a run with other options or other data
 */
export function readHespCheckpoint(
  ckptPath: string,
  o: HespOptions,
  key: string,
  fingerprints: HespDataFingerprints,
  data: HespData,
  /** The frames' fingerprint as runs started before 2026-12-06 recorded it (`hespDataFingerprintForms`). */
  asSpelt?: { framesFingerprint: string },
  /**
   * With faces, the run's `FaceCropper.fingerprint`: the checkpoint's crops must be these, and then the faces'
   * folders and detector file may be spelt otherwise than it recorded (`recordedSpellings`). Without it, the faces
   * options must be as recorded and the crops are not checked.
   */
  facesFingerprint?: string,
): HespCheckpoint | undefined {
  if (!existsSync(ckptPath)) return undefined;
  const { content: c, meta } = loadCommandCheckpoint(ckptPath, CheckpointMetaSchema, (other) =>
    'trainingKey' in other && !('key' in other)
      ? new InvalidArgumentError({
          functionName: 'trainHesp',
          argument: 'out',
          message: `${ckptPath} is the checkpoint of an 'exp-clip train' run, not of 'hesp train'; choose another output directory`,
        })
      : undefined,
  );
  // a run started with the earlier streams (vlfer before 2026-12-05) continues with them
  const faces = facesFingerprint !== undefined;
  const rngStreams = meta.key === key ? data.rngStreams : hespEarlierRunKey(meta, o, data, faces);
  if (rngStreams === undefined) {
    const recorded = meta.runOptions;
    // compared with this run's fields in the recorded streams' version, so that only real changes are named
    const given: unknown = recorded?.rngStreams ?? 1;
    const streams = HESP_RNG_STREAM_VERSIONS.find((v) => v === given);
    if (streams === undefined)
      throw new InvalidArgumentError({
        functionName: 'trainHesp',
        argument: 'options',
        message: `${ckptPath} was written by a newer vlfer (random streams version ${JSON.stringify(given)}; this one knows ${HESP_RNG_STREAM_VERSIONS.join(', ')}): resume it with that version, or use another output directory`,
      });
    const spelt = recordedSpellings(o, recorded, meta.cwd, { faces }) ?? o; // a path spelt otherwise is no change
    const changed = recorded ? describeChangedFields(recorded, hespRunFields(spelt, data.labelSet.names, streams)) : '';
    throw new InvalidArgumentError({
      functionName: 'trainHesp',
      argument: 'options',
      message: `${ckptPath} belongs to a run with other options (${changed || 'split, learning rate, seed, data …'}); use another output directory or delete it`,
    });
  }
  // either form names the same frames and contents: a run started before 2026-12-06 recorded the one as spelt
  refuseChangedFingerprints(ckptPath, o, meta, acceptedDataFingerprints(fingerprints, asSpelt));
  // the crops it trained on: the same detector, settings and way of cutting them (not only the same frames)
  if (o.faces && faces) refuseChangedFingerprints(ckptPath, o, meta, { facesFingerprint: facesFingerprint! });
  refuseOtherClasses(ckptPath, o, data, meta, 'resume');
  return {
    meta: meta,
    tensors: Object.fromEntries(Object.entries(c.tensors).map(([k, v]) => [k, v.data])),
    optimizer: c.optimizer ?? { step: 0, buffers: {} },
    rngStreams,
  };
}

/**
 * Where a checkpoint's key is that of this run as an earlier vlfer keyed it: the random streams it was started with
 * (any version), also when it was started with both `classes` and a `labelSet` that the classes overrode (an earlier
 * vlfer accepted both; its recorded options say which label set, and this run, which refuses both, gives the
 * classes only). @returns the streams' version, or undefined when the key is another run's
 */
function hespEarlierRunKey(
  meta: HespCheckpointMeta,
  o: HespOptions,
  data: HespData,
  faces: boolean,
): HespRngStreams | undefined {
  const recorded = meta.runOptions;
  const overridden =
    o.classes !== undefined && o.labelSet === undefined && recorded?.classes !== undefined
      ? recorded.labelSet
      : undefined;
  const spelt = recordedSpellings(o, recorded, meta.cwd, { faces });
  const base = [o, ...(spelt ? [spelt] : [])];
  const variants = [
    ...base,
    ...(typeof overridden === 'string' ? base.map((v) => ({ ...v, labelSet: overridden })) : []),
  ];
  for (const v of [data.rngStreams, ...HESP_RNG_STREAM_VERSIONS.filter((x) => x !== data.rngStreams)])
    if (variants.some((opts) => hespRunKey(opts, data.labelSet.names, v) === meta.key)) return v;
  return undefined;
}

/**
 * The faces options `then` records, where `now` also crops faces and spells them otherwise: every setting that decides
 * a crop (the detector's file content, its thresholds and input size, alignment, size, margin, selection, the
 * no-face and missing-face policies, how this vlfer cuts) is in the crops' fingerprint (`FaceCropper.fingerprint`),
 * checked on resume, and the rest only says where files are (`cacheDir`, `modelDir`). So a detector given by path
 * where the run named it (or the reverse), `modelDir` left to `$VLFER_FACE_MODELS`, or a threshold written out at the
 * detector's default is the same run when the crops are the same. @returns undefined where nothing is respelt
 */
function facesSpelling(now: HespOptions['faces'], then: unknown): HespOptions['faces'] | undefined {
  if (!now || typeof then !== 'object' || then === null) return undefined;
  return JSON.stringify(then) === JSON.stringify(now) ? undefined : (then as HespOptions['faces']);
}

/** Options that name files or directories (`labelSet` may also be a built-in id, which resolves to no file). */
const PATH_OPTIONS = ['trainAnnotations', 'testAnnotations', 'root', 'model', 'tokenizer', 'labelSet'] as const;

/**
 * Path options whose files' content a checkpoint's fingerprints cover (the lists, the frames under the root, the CLIP
 * files), checked before anything answers from the checkpoint (`refuseChangedHespModel` where no model is loaded):
 * where they name other places than the run's, the fingerprints say whether the content is the same.
 */
const CONTENT_CHECKED = ['trainAnnotations', 'testAnnotations', 'root', 'model'] as const;

/**
 * The label scheme the run's lists are read with when none is given: DFEW's own ids where both lists are DFEW's split
 * files (`set_N.csv`, read that way whatever the option), else the dataset's HESP default (`hespLabelScheme`).
 */
function listsDefaultScheme(o: HespOptions): LabelScheme {
  const dataset = hespLabelScheme({ dataset: o.dataset });
  const both = unsetLabelScheme([o.trainAnnotations, o.testAnnotations], dataset);
  return both === 'dfew-original' ? both : dataset;
}

/**
 * `o` with each path option spelt as the checkpoint recorded it where both spellings name the same file or directory
 * (`clip/` and `clip`, a relative and an absolute path; a recorded relative path is from `cwd`, the directory the run
 * started in, where recorded), a `rebase` as recorded (the frames' fingerprint says where it changed what is read),
 * the known class ids as recorded where they are the same ids in another order (the run numbers them in ascending
 * order either way), and the dataset's default label set and scheme as recorded where one side named it and the other left it out: the
 * run key hashes the options as typed, and the content fingerprints, checked next, say whether the files are the
 * same. Undefined when nothing differs that way.
 */
export function recordedSpellings(
  o: HespOptions,
  recorded: Record<string, unknown> | undefined,
  cwd: string | undefined,
  /** `faces: true` where the checkpoint's crop fingerprint is checked next (a resume): `facesSpelling` */
  context: { faces?: boolean } = {},
): HespOptions | undefined {
  if (!recorded) return undefined;
  const from = (then: string) => (cwd !== undefined && !isAbsolute(then) ? resolve(cwd, then) : then);
  const same = (now: string, then: string) =>
    existsSync(now) && existsSync(from(then)) && realpathSync(now) === realpathSync(from(then));
  const changes: [string, unknown][] = PATH_OPTIONS.flatMap((k) => {
    const now = o[k];
    const then = recorded[k];
    // a copy or move: the fingerprints decide (a tokenizer directory's files are in the model's, a Hub id's are not)
    const moved =
      (CONTENT_CHECKED as readonly string[]).includes(k) ||
      (k === 'tokenizer' && typeof now === 'string' && existsSync(now));
    return typeof now === 'string' && typeof then === 'string' && now !== then && (moved || same(now, then))
      ? [[k, then]]
      : [];
  });
  const faces = context.faces ? facesSpelling(o.faces, recorded.faces) : undefined;
  if (faces) changes.push(['faces', faces]);
  // a rebase given, dropped or spelt otherwise: the frames' fingerprint decides (it names a frame a rebase moved by the
  // lists' path, one it did not move by its path under the root, so frames found elsewhere than the run's differ)
  const [now, then] = [o.rebase, recorded.rebase as HespOptions['rebase'] | undefined];
  if (JSON.stringify(now) !== JSON.stringify(then)) changes.push(['rebase', then]);
  // the known class ids in another order: the same classes, numbered in ascending order either way (`partitionBySplit`)
  const [known, knownThen] = [o.known, recorded.known];
  if (Array.isArray(known) && Array.isArray(knownThen) && JSON.stringify(known) !== JSON.stringify(knownThen)) {
    const sorted = (ids: readonly unknown[]) => JSON.stringify([...ids].sort());
    if (sorted(known) === sorted(knownThen)) changes.push(['known', knownThen]);
  }
  // the dataset's default given by name (`--label-set basic-7`) or left out is the same choice
  const defaults = {
    labelSet: hespDefaultLabelSetId(o.dataset),
    labelScheme: listsDefaultScheme(o),
  };
  for (const [k, def] of Object.entries(defaults)) {
    const now = o[k as keyof typeof defaults];
    const then = recorded[k];
    if (o.classes === undefined && now !== then && (now ?? def) === (then ?? def)) changes.push([k, then]);
  }
  return changes.length ? ({ ...o, ...Object.fromEntries(changes) } as HespOptions) : undefined;
}

/** The learnable tensors of a `HespState` as checkpoint tensors (flat, one axis each). */
function stateTensors(tensors: HespState['tensors']) {
  return Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, { dims: [v.length], data: v }]));
}

/** Write the training checkpoint (tensors, optimiser state and `meta`) atomically to `ckptPath`. */
export function saveHespCheckpoint(ckptPath: string, state: HespState, meta: HespCheckpointMeta): void {
  saveCheckpoint(ckptPath, { tensors: stateTensors(state.tensors), optimizer: state.optimizer, meta });
}

/**
 * Write the selected state (best.safetensors: tensors only) with what `evaluateHespRun` needs to rebuild the model.
 * @param epoch the selected epoch, 1-based
 */
export function saveHespBest(
  path: string,
  state: HespState,
  o: HespOptions,
  epoch: number,
  location: PatchLocation,
  classes: HespRunClasses,
  /** `FaceCropper.fingerprint` of a run trained on face crops, which `hesp eval` checks */
  facesFingerprint?: string,
): void {
  saveCheckpoint(path, {
    tensors: stateTensors(state.tensors),
    meta: {
      epoch,
      selectedOn: o.selectOn,
      selectionMetrics: o.selectionMetrics,
      location,
      knownNames: classes.knownNames,
      labelsFingerprint: classes.labelsFingerprint,
      ...(facesFingerprint ? { facesFingerprint } : {}),
    },
  });
}
