import { createHash } from 'node:crypto';
import {
  checkHooks,
  InvalidArgumentError,
  parseOptions,
  runSteps,
  throwIfAborted,
  type ComputeDevice,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import { FeatureCache, hashFile } from '@vlfer/core/node';
import { buildZeroShotClassifier, type PreprocessMode } from '@vlfer/encoders';
import { encodeImages, loadClip, type ClipDtype, type ClipModel, type Resizer } from '@vlfer/encoders/node';
import {
  fitClosedSetMethodSteps,
  partsOf,
  probeProgress,
  usesShots,
  type ClosedSetFit,
  type ClosedSetInputs,
  type ClosedSetMethod,
  type TipAdapterOptions,
} from '@vlfer/probes';
import { clipFeatureNamespace } from './eval-encode.js';
import { ClosedSetRunOptionsSchema } from './options.js';

/** One part of a labelled image set: parallel arrays `[n]` of item ids, image paths and class ids. */
export interface LabelledImages {
  /** ids in outputs (e.g. the path relative to the dataset root), the same for the same item in every run */
  ids: readonly string[];
  paths: readonly string[];
  labels: readonly number[];
  /**
   * SHA-256 (hex) of each image file, as the feature cache keys it (`contentKey`); computed here when absent. Given
   * keys are trusted (not re-hashed: that is what they save): a wrong key reads another image's cached features.
   */
  keys?: readonly string[];
}

export interface ClosedSetRunOptions {
  method: ClosedSetMethod;
  /** few-shot-probe, tip-adapter: shots per class */
  shots?: number;
  /** seed of the shot selection; default 0 */
  seed?: number;
  /** the frozen CLIP (`loadClip`: Hugging Face id, local directory or OpenAI checkpoint) */
  model: string;
  dtype?: ClipDtype;
  device?: ComputeDevice;
  threads?: number;
  /** image preprocessing, as `exp-clip eval --preprocess`; default 'exp-clip' */
  preprocess?: PreprocessMode;
  /** default 'pil' */
  resizer?: Resizer;
  /** default 32 */
  batchSize?: number;
  /** the feature cache `exp-clip eval --cache-dir` fills: the same entries serve both */
  cacheDir?: string;
  classNames: readonly string[];
  /** zero-shot, tip-adapter: the prompts of every class (equal counts), in class order */
  prompts?: readonly (readonly string[])[];
  test: LabelledImages;
  train?: LabelledImages;
  validation?: LabelledImages;
  tipAdapter?: TipAdapterOptions;
}

export interface ClosedSetRunHooks {
  /** checked between batches and phases; the feature cache keeps what was encoded */
  signal?: AbortSignal;
  /** phases 'hash' (images whose content keys are not given), 'encode train', 'encode validation', 'encode test' (unit images), then 'fit' */
  onProgress?: ProgressCallback;
  log?: (line: string) => void;
}

export interface ClosedSetRunResult {
  method: ClosedSetMethod;
  shots: number | null;
  seed: number;
  /** [n] the test items, in the order given */
  ids: string[];
  labels: number[];
  predicted: number[];
  fit: Omit<ClosedSetFit, 'predicted' | 'logits'>;
  /** SHA-256 over the test items' id, label and content hash (as `evaluateZeroShot`'s) */
  datasetFingerprint: string;
  modelFingerprint: string;
  /** images read (all parts), served from the cache, run through the encoder */
  counts: { images: number; cached: number; encoded: number };
}

const fn = 'runClosedSetBaseline';
const bad = (argument: string, message: string) => new InvalidArgumentError({ functionName: fn, argument, message });

function checkPart(p: LabelledImages, name: string, k: number): void {
  if (p.ids.length !== p.paths.length || p.ids.length !== p.labels.length)
    throw bad(name, `has ${p.ids.length} ids, ${p.paths.length} paths and ${p.labels.length} labels; expected equal`);
  if (p.ids.length === 0) throw bad(name, 'holds no items');
  p.labels.forEach((y, i) => {
    if (!Number.isInteger(y) || y < 0 || y >= k)
      throw bad(name, `item '${p.ids[i]}' has label ${y}; expected a class id in [0, ${k})`);
  });
}

type Part = 'train' | 'validation' | 'test';

/**
 * The content key (SHA-256 of the file, the feature cache's key) of every item of the parts a method reads: hashed one
 * file per step (`runSteps`), so a signal stops the hashing of an AffectNet-sized part within a file; progress `hash`
 * (images) where keys are computed.
 */
async function contentKeys(
  o: ClosedSetRunOptions,
  hooks: ClosedSetRunHooks,
): Promise<Partial<Record<Part, readonly string[]>>> {
  const keys: Partial<Record<Part, readonly string[]>> = {};
  for (const part of partsOf(o.method)) keys[part] = checkedKeys(o, part);
  const toHash = partsOf(o.method).filter((part) => !keys[part]);
  const total = toHash.reduce((n, part) => n + o[part]!.paths.length, 0);
  const hashed = await runSteps(hashSteps(toHash.flatMap((part) => o[part]!.paths)), {
    what: 'hashing the images',
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    onStep: (done) => hooks.onProgress?.({ phase: 'hash', done, total, unit: 'images' }),
  });
  let at = 0;
  for (const part of toHash) keys[part] = hashed.slice(at, (at += o[part]!.paths.length));
  return keys;
}

/** A part's given keys, checked (one lowercase SHA-256 per path), or undefined where it gives none. */
function checkedKeys(o: ClosedSetRunOptions, part: Part): readonly string[] | undefined {
  const p = o[part]!;
  if (p.keys && p.keys.length !== p.paths.length)
    throw bad(part, `has ${p.keys.length} keys for ${p.paths.length} paths; expected one SHA-256 per image`);
  const notHash = p.keys?.findIndex((k) => typeof k !== 'string' || !/^[0-9a-f]{64}$/.test(k)) ?? -1;
  if (notHash >= 0)
    throw bad(
      part,
      `keys[${notHash}] is ${JSON.stringify(p.keys![notHash])}; expected the SHA-256 of '${p.paths[notHash]}' in lowercase hex (contentKey), or no keys (computed here)`,
    );
  return p.keys;
}

/** SHA-256 of each file, one file per step, yielding the count hashed. */
function* hashSteps(paths: readonly string[]): Generator<number, string[], void> {
  const out: string[] = [];
  for (const path of paths) {
    out.push(hashFile(path));
    yield out.length;
  }
  return out;
}

/**
 * Refuse a train or validation part that holds an image whose content (`keys`: SHA-256 of the file) is also a test
 * image's: a copy of a test image under another path is as much a leak as the same path.
 * @param parts the parts with their content keys (`keys[i]` of `paths[i]`); a part without keys is not checked
 * @param where the function named in the error (default this one) and a hint appended to its message
 * @throws InvalidArgumentError naming the part, the count and the first pair of paths
 */
export function refuseSharedContent(
  parts: Partial<Record<Part, Pick<LabelledImages, 'paths' | 'keys'>>>,
  where: { functionName?: string; hint?: string } = {},
): void {
  const testKeys = parts.test?.keys;
  if (!testKeys) return;
  const test = new Map<string, number>();
  testKeys.forEach((k, i) => test.has(k) || test.set(k, i));
  const shared = (['train', 'validation'] as const).map((part) => ({
    part,
    at: (parts[part]?.keys ?? []).flatMap((k, i) => (test.has(k) ? [i] : [])),
  }));
  const hit = shared.filter((s) => s.at.length > 0);
  if (hit.length === 0) return;
  const { part, at } = hit[0]!;
  const first = `'${parts[part]!.paths[at[0]!]}' is a copy of test image '${parts.test!.paths[test.get(parts[part]!.keys![at[0]!]!)!]}'`;
  throw new InvalidArgumentError({
    functionName: where.functionName ?? 'refuseSharedContent',
    argument: hit.map((s) => s.part).join(', '),
    message: `${hit.reduce((n, s) => n + s.at.length, 0)} image(s) (${hit.map((s) => `${s.part} ${s.at.length}`).join(', ')}) share their content (SHA-256) with test images, e.g. ${first}; ${where.hint ?? 'train and validation must hold no copies of test images'}`,
  });
}

/** The content keys of the parts (`contentKeys`), after refusing train/validation copies of test images. */
async function checkedContentKeys(
  o: ClosedSetRunOptions,
  hooks: ClosedSetRunHooks,
): Promise<Partial<Record<Part, readonly string[]>>> {
  const keys = await contentKeys(o, hooks);
  refuseSharedContent(
    Object.fromEntries(Object.entries(keys).map(([part, k]) => [part, { paths: o[part as Part]!.paths, keys: k }])),
    { functionName: fn },
  );
  return keys;
}

/**
 * The options, each named when it is unknown or out of range (`ClosedSetRunOptionsSchema`), then what depends on
 * several: int8 (guarded only in `evaluateZeroShot`), the parts a method reads, their labels, the shot count and the
 * prompts.
 * @throws OptionsError listing every unknown or out-of-range option; InvalidArgumentError naming the option
 */
function checkRunOptions(input: ClosedSetRunOptions): ClosedSetRunOptions {
  const o: ClosedSetRunOptions = parseOptions(ClosedSetRunOptionsSchema, input, fn);
  if (o.dtype === 'int8')
    throw bad('dtype', "'int8' features are checked by a guard only in exp-clip eval (evaluateZeroShot); use fp32");
  const k = o.classNames.length;
  if (k < 2) throw bad('classNames', `needs at least 2 classes, got ${k}`);
  for (const part of partsOf(o.method)) {
    const p = o[part];
    if (!p) throw bad(part, `${o.method} needs the ${part} part`);
    checkPart(p, part, k);
  }
  if (usesShots(o.method) && !(Number.isInteger(o.shots) && o.shots! > 0))
    throw bad('shots', `${o.method} needs a positive integer shot count, got ${o.shots}`);
  if ((o.method === 'zero-shot' || o.method === 'tip-adapter') && !o.prompts)
    throw bad('prompts', `${o.method} needs the class prompts`);
  if (usesShots(o.method)) checkShotsPerClass(o.train!.labels, o.shots!, o.classNames, o.method);
  return o;
}

/**
 * Every class of the train part must hold `shots` images for a few-shot method: checked before the model loads,
 * with the class named (`selectFewShot` itself knows class ids only).
 * @throws InvalidArgumentError naming `shots`, each class short of images, how many it has and how many it needs
 */
function checkShotsPerClass(
  labels: readonly number[],
  shots: number,
  classNames: readonly string[],
  method: ClosedSetMethod,
): void {
  const counts = classNames.map(() => 0);
  for (const y of labels) counts[y] = (counts[y] ?? 0) + 1;
  const short = classNames.flatMap((name, c) =>
    counts[c]! < shots ? [`class '${name}' (id ${c}) has ${counts[c]} train image(s)`] : [],
  );
  if (short.length)
    throw bad(
      'shots',
      `${method} with ${shots} shots needs ${shots} train images of every class, but ${short.join(', ')}; ${Math.min(...counts) > 0 ? `use at most ${Math.min(...counts)} shots or ` : ''}add images to ${short.length === 1 ? 'that class' : 'those classes'}`,
    );
}

/** The feature cache `evaluateZeroShot` uses for this model and preprocessing (the same namespace, so shared entries). */
function openFeatureCache(clip: ClipModel, o: ClosedSetRunOptions, log: (l: string) => void): FeatureCache | undefined {
  if (!o.cacheDir) return undefined;
  return new FeatureCache({
    dir: o.cacheDir,
    namespace: clipFeatureNamespace(clip, clip.contentFingerprint(o.cacheDir), {
      dtype: o.dtype ?? 'fp32',
      preprocess: o.preprocess ?? 'exp-clip',
      resizer: o.resizer ?? 'pil',
    }),
    onCorrupt: (file, why) => log(`feature cache entry ${file} ${why}; recomputing it`),
  });
}

/** The text side of the methods that need it: zero-shot logits of the test features, Tip-Adapter's class weights. */
async function textSide(
  clip: ClipModel,
  o: ClosedSetRunOptions,
  test: Tensor2D,
): Promise<Pick<ClosedSetInputs, 'zeroShotLogits' | 'classWeights'>> {
  if (o.method !== 'zero-shot' && o.method !== 'tip-adapter') return {};
  // the zero-shot row is `evaluateZeroShot`'s classifier (logit ensemble over the prompts); Tip-Adapter's W is the
  // mean of each class's normalised prompt embeddings, as its code builds the zero-shot weights
  const zs = await buildZeroShotClassifier({
    model: clip,
    classNames: o.classNames,
    prompts: o.prompts!,
    ensemble: o.method === 'zero-shot' ? 'logits' : 'embeddings',
  });
  return o.method === 'zero-shot' ? { zeroShotLogits: await zs.classify(test) } : { classWeights: zs.textFeatures };
}

/** Encode the parts a method reads through `encodeImages` (batches, preprocessing and cache as `exp-clip eval`). */
async function encodeParts(
  clip: ClipModel,
  o: ClosedSetRunOptions,
  cache: FeatureCache | undefined,
  hooks: ClosedSetRunHooks,
  keys: Partial<Record<Part, readonly string[]>>,
): Promise<{ features: Partial<Record<'train' | 'validation' | 'test', Tensor2D>>; testKeys: string[] } & Counts> {
  const features: Partial<Record<'train' | 'validation' | 'test', Tensor2D>> = {};
  const counts = { images: 0, cached: 0, encoded: 0 };
  let testKeys: string[] = [];
  for (const part of partsOf(o.method)) {
    throwIfAborted(hooks.signal, 'closed-set baseline');
    const p = o[part]!;
    const r = await encodeImages({
      model: clip,
      items: p.paths.map((path, i) => ({ path, label: p.labels[i]! })),
      keys: keys[part]!,
      mode: o.preprocess ?? 'exp-clip',
      resizer: o.resizer ?? 'pil',
      batchSize: o.batchSize ?? 32,
      ...(cache ? { cache } : {}),
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      onProgress: (e) => hooks.onProgress?.({ ...e, phase: `encode ${part}` }),
    });
    features[part] = r.features;
    if (part === 'test') testKeys = r.keys;
    counts.images += p.paths.length;
    counts.cached += r.cached;
    counts.encoded += r.encoded;
  }
  return { features, testKeys, ...counts };
}
type Counts = { images: number; cached: number; encoded: number };

/**
 * `fitClosedSetMethod` of `o.method` on `inputs`, in steps (`runSteps`): a probe on a large train part fits for
 * minutes, and Ctrl-C stops it within an L-BFGS iteration while its progress (phase 'fit', in fits) shows.
 */
async function fitMethod(
  o: ClosedSetRunOptions,
  inputs: ClosedSetInputs,
  hooks: ClosedSetRunHooks,
): Promise<ClosedSetFit> {
  hooks.onProgress?.({ phase: 'fit', done: 0, total: 1, unit: 'fits' });
  const fit = await runSteps(
    fitClosedSetMethodSteps(o.method, inputs, {
      ...(o.shots !== undefined ? { shots: o.shots } : {}),
      seed: o.seed ?? 0,
      ...(o.tipAdapter ? { tipAdapter: o.tipAdapter } : {}),
    }),
    { what: `fitting ${o.method}`, signal: hooks.signal, onStep: probeProgress(hooks.onProgress) },
  );
  const fits = fit.sweep?.evaluated.length ?? 1;
  hooks.onProgress?.({ phase: 'fit', done: fits, total: fits, unit: 'fits' });
  return fit;
}

/**
 * One closed-set baseline end to end on a frozen CLIP: encode the parts the method reads (train, validation, test
 * image paths) through `encodeImages` and the feature cache `exp-clip eval` fills, build the text side where needed
 * (zero-shot logits, Tip-Adapter's class weights), fit (`fitClosedSetMethodSteps`: the linear probe's validation sweep
 * of C, the seeded shot selection) and predict the test items.
 * @throws InvalidArgumentError naming the option (a missing part, a label outside the classes, no shot count, a
 *   train or validation image whose content — SHA-256 of the file, hashed once and reused as the cache key — is a
 *   test image's)
 * @throws AbortError when `hooks.signal` aborts (between batches and phases, and within 50 ms of L-BFGS iterations
 *   during the probe's sweep: `fitClosedSetMethodSteps` run by `runSteps`)
 */
export async function runClosedSetBaseline(
  o: ClosedSetRunOptions,
  hooks: ClosedSetRunHooks = {},
): Promise<ClosedSetRunResult> {
  checkHooks(hooks, 'runClosedSetBaseline');
  o = checkRunOptions(o);
  const keys = await checkedContentKeys(o, hooks);
  const log = hooks.log ?? (() => undefined);
  const clip = await loadClip({
    model: o.model,
    ...(o.dtype ? { dtype: o.dtype } : {}),
    ...(o.device ? { device: o.device } : {}),
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
    log,
  });
  try {
    const cache = openFeatureCache(clip, o, log);
    const enc = await encodeParts(clip, o, cache, hooks, keys);
    const text = await textSide(clip, o, enc.features.test!);
    throwIfAborted(hooks.signal, 'closed-set baseline');
    const labelled = (part: 'train' | 'validation') =>
      enc.features[part] ? { features: enc.features[part], labels: o[part]!.labels } : undefined;
    const train = labelled('train');
    const validation = labelled('validation');
    const inputs: ClosedSetInputs = {
      numClasses: o.classNames.length,
      test: enc.features.test!,
      ...(train ? { train } : {}),
      ...(validation ? { validation } : {}),
      ...text,
    };
    const { predicted, logits: _, ...fit } = await fitMethod(o, inputs, hooks);
    throwIfAborted(hooks.signal, 'closed-set baseline'); // a stop asked for during the last iteration of the fit
    const fingerprint = createHash('sha256');
    o.test.ids.forEach((id, i) => fingerprint.update(`${id}\t${o.test.labels[i]}\t${enc.testKeys[i]}\n`));
    return {
      method: o.method,
      shots: usesShots(o.method) ? o.shots! : null,
      seed: o.seed ?? 0,
      ids: [...o.test.ids],
      labels: [...o.test.labels],
      predicted,
      fit,
      datasetFingerprint: fingerprint.digest('hex'),
      modelFingerprint: clip.contentFingerprint(o.cacheDir),
      counts: { images: enc.images, cached: enc.cached, encoded: enc.encoded },
    };
  } finally {
    await clip.dispose();
  }
}
