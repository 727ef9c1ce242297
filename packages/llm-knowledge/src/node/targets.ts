import {
  DataFormatError,
  InvalidArgumentError,
  throwIfAborted,
  VlferError,
  type ProgressCallback,
  type Tensor2D,
} from '@vlfer/core';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FeatureCache, hashBytes, hashFile, readTextFile, writeJsonAtomic } from '@vlfer/core/node';
import { getInstruction } from '../instructions.js';
import { validateTarget, type Teacher } from '../teacher.js';

export interface ComputeTargetsOptions {
  teacher: Teacher;
  images: readonly string[];
  /** Instruction id from the registry. @default 'exp-clip' */
  instructionId?: string;
  /**
   * Target cache directory; entries are keyed by teacher id + instruction + image content hash, and checksummed. Not
   * used for a teacher keyed by path (`keyedBy: 'path'`: imported rows, looked up again instead).
   */
  cacheDir?: string;
  /** SHA-256 of each image's content, when the caller has them already (saves hashing twice). */
  imageKeys?: readonly string[];
  /** Images per teacher call. @default 64 */
  batchSize?: number;
  /** The head output dim the targets must have. */
  expectDim?: number;
  /** Stops between teacher calls and cancels outstanding requests; targets cached so far are kept. */
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Notices (damaged cache entries recomputed). */
  log?: (line: string) => void;
  /**
   * Shared by the calls of one run that computes its targets in parts (exp-clip train: per batch of images), so that
   * the teacher is checked against the cache once per run, not once per call. @default a check per call
   */
  teacherCheck?: TeacherCheck;
}

/** Whether a run's teacher has been checked against the target cache yet (see {@link checkCachedTarget}). */
export interface TeacherCheck {
  /** The teacher answered a cached image again in this run (and agreed). */
  done: boolean;
  /** The run's first cached image and its target (from any call, a fully cached one too): what the teacher re-asks. */
  cached?: { image: string; target: Float32Array };
  /** The cache's probe record was read in this run (once: before the run writes its own, and said once if unusable). */
  recordRead?: boolean;
  /** The probe record was checked, and written when it named no usable image, in this run. */
  recorded?: boolean;
  /** This run wrote the probe record (naming one of its own images). */
  wroteRecord?: boolean;
  /** The teacher was called in this run. */
  called?: boolean;
  /**
   * The cache keys whose targets this run computed before its check: not re-asked (they agree by construction),
   * removed from the cache if the teacher is refused; cleared once the check is done (a run may compute millions).
   */
  computed?: Set<string>;
}

/**
 * The file in a target cache's namespace folder naming one image whose target it holds (`{ path, key }`), written
 * with the first target computed there: a later run (a resume, another shard) that calls the teacher re-asks it.
 */
export const TEACHER_PROBE_FILE = 'teacher-probe.json';

/**
 * Checks the options of {@link computeTargets}. @returns the batch size and the instruction text
 * @throws InvalidArgumentError naming `batchSize`, `images` (empty) or `imageKeys` (another count); an unknown
 *   instruction id as `getInstruction` does
 */
export function checkTargetOptions(options: ComputeTargetsOptions): { batchSize: number; instruction: string } {
  const { images } = options;
  const instruction = getInstruction(options.instructionId ?? 'exp-clip');
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize <= 0)
    throw new InvalidArgumentError({
      functionName: 'computeTargets',
      argument: 'batchSize',
      message: `must be a positive integer, got ${batchSize}`,
    });
  if (images.length === 0)
    throw new InvalidArgumentError({ functionName: 'computeTargets', argument: 'images', message: 'is empty' });
  if (options.imageKeys && options.imageKeys.length !== images.length)
    throw new InvalidArgumentError({
      functionName: 'computeTargets',
      argument: 'imageKeys',
      message: `has ${options.imageKeys.length} keys for ${images.length} images`,
    });
  return { batchSize, instruction };
}

/** The target cache of `cacheDir` for this teacher and instruction, or undefined without a cache directory. */
export function openTargetCache(
  options: Pick<ComputeTargetsOptions, 'cacheDir' | 'teacher' | 'log'>,
  instruction: string,
): FeatureCache | undefined {
  if (!options.cacheDir || options.teacher.keyedBy === 'path') return undefined;
  return new FeatureCache({
    dir: options.cacheDir,
    namespace: {
      model: options.teacher.id,
      dtype: 'float32',
      preprocess: 'teacher-target',
      extra: hashBytes(instruction),
    },
    onCorrupt: (f, why) => options.log?.(`target cache entry ${f} ${why}; recomputing it`),
  });
}

/** A teacher target scaled to unit L2 norm (as the reference does before the loss). @param v [E] */
export function normalizeTarget(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return Float32Array.from(v, (x) => x / n);
}

/**
 * One teacher call for `batch` (image paths). @returns one embedding per image, not yet validated
 * @throws InvalidArgumentError naming the teacher when it returns another number of embeddings
 */
export async function embedBatch(
  teacher: Teacher,
  batch: string[],
  instruction: string,
  signal: AbortSignal | undefined,
  /** each embedding as it arrives, where the teacher answers image by image (`Teacher.embed`'s `onResult`) */
  onResult?: (index: number, embedding: Float32Array) => void,
): Promise<Float32Array[]> {
  const vecs = await teacher.embed(batch, instruction, {
    ...(signal ? { signal } : {}),
    ...(onResult ? { onResult } : {}),
  });
  if (!Array.isArray(vecs) || vecs.length !== batch.length)
    throw new InvalidArgumentError({
      functionName: 'computeTargets',
      argument: 'teacher',
      message: `teacher ${teacher.source} returned ${Array.isArray(vecs) ? vecs.length : 'no'} embeddings for ${batch.length} images`,
    });
  return vecs;
}

/** Least cosine between a cached target and the teacher's answer for the same image now (float noise: ≈ 1 − 1e-6). */
export const CACHED_TARGET_MIN_COSINE = 0.999;

/**
 * Check that the teacher still answers as its cached targets say: the cache is keyed by the teacher's id (an HTTP
 * teacher's `http:<model>@<url>`), and a server that now serves another model under that name would mix two
 * teachers' targets in one training set. `computeTargets` asks for one cached image again in its first call.
 * @param cachedTarget [E] the unit-norm target the cache holds @param fresh [E] the teacher's answer now
 * @throws DataFormatError naming the teacher, the image, the cosine and the cache directory
 */
export function checkCachedTarget(
  teacher: Teacher,
  image: string,
  cachedTarget: Float32Array,
  fresh: Float32Array,
  cacheDir: string,
): void {
  validateTarget(fresh, { item: image, teacher: teacher.source, dim: cachedTarget.length });
  const now = normalizeTarget(fresh);
  let cos = 0;
  for (let k = 0; k < now.length; k++) cos += now[k]! * cachedTarget[k]!;
  if (cos >= CACHED_TARGET_MIN_COSINE) return;
  throw new DataFormatError({
    file: image,
    message: `teacher ${teacher.source} (id ${teacher.id}) answers for this image with a target at cosine ${(Math.floor(cos * 1e6) / 1e6).toFixed(6)} to the one cached under its id in ${cacheDir} (at least ${CACHED_TARGET_MIN_COSINE} expected): the teacher changed under the same id (another model served under the same name?); give it another model name or use another cache directory`,
  });
}

/**
 * Refuses a target cached under the teacher's id with another dimension than the run's: the teacher changed under
 * the same id (another model served under the same name), or the head's `outputDim` is not the teacher's. Recomputing
 * would overwrite the other teacher's targets in place, and say nothing.
 * @throws DataFormatError naming the image, both dimensions, the teacher and the cache folder
 */
function refuseCachedDim(
  options: Pick<ComputeTargetsOptions, 'teacher' | 'expectDim'>,
  image: string,
  cachedDim: number,
  dim: number,
  cache: FeatureCache,
): never {
  const { teacher } = options;
  const wanted =
    options.expectDim !== undefined
      ? `the run expects ${dim}-d targets (the head's output dimension)`
      : teacher.dim !== undefined
        ? `the teacher says it answers ${dim}-d targets`
        : `other images' cached targets are ${dim}-d`;
  throw new DataFormatError({
    file: image,
    message: `the target cache ${cache.root} holds a ${cachedDim}-d target for this image under teacher id ${teacher.id} (${teacher.source}), and ${wanted}: the teacher changed under the same id (another model served under the same name?) or the head's output dimension is not the teacher's; give the teacher another model name, use another cache directory, or set the output dimension to the teacher's`,
  });
}

/**
 * The cached image a call re-asks the teacher for, once a run (the cache trusts the teacher's id): the run's first
 * cache hit (of any call sharing `check`), else the image the cache's probe record names (read once a run, before
 * the run writes its own: a resume, a shard). None in a call that computes nothing unless the run called the
 * teacher before (a fully cached run makes no call), and none once an image was re-asked: until then a first call
 * with nothing to re-ask leaves it to a later call's cache hit.
 */
function teacherProbeFor(
  cache: FeatureCache | undefined,
  call: {
    images: readonly string[];
    keys: readonly string[];
    out: readonly (Float32Array | undefined)[];
    toCompute: number;
    dim?: number;
  },
  check: TeacherCheck,
  log: ((line: string) => void) | undefined,
): { image: string; target: Float32Array } | undefined {
  // a hit on a target this run computed (the same content under another name) tells nothing about the teacher
  const hit = call.out.findIndex((v, i) => v !== undefined && !check.computed?.has(call.keys[i]!));
  if (hit >= 0) check.cached ??= { image: call.images[hit]!, target: call.out[hit]! };
  if (!cache || check.done || (call.toCompute === 0 && !check.called)) return undefined;
  if (check.cached || check.recordRead) return check.cached;
  check.recordRead = true;
  // kept like a hit: a call that fails before the answer (a teacher error, an abort) leaves it to the next call
  const recorded = teacherProbeRecord(cache, call.dim, log);
  if (recorded) check.cached = recorded;
  return recorded;
}

/**
 * {@link checkCachedTarget} of the run's probe; marks the check done. A teacher refused there leaves the cache as it
 * was before the run: the targets the run computed before the check (from the teacher now refused) are removed, and
 * a probe record the run wrote naming one of them.
 */
function refuseChangedTeacher(
  teacher: Teacher,
  probe: { image: string; target: Float32Array },
  again: Float32Array,
  cache: FeatureCache,
  check: TeacherCheck,
  cacheDir: string,
): void {
  try {
    checkCachedTarget(teacher, probe.image, probe.target, again, cacheDir);
  } catch (error) {
    for (const key of check.computed ?? []) cache.delete(key);
    if (check.wroteRecord) rmSync(join(cache.root, TEACHER_PROBE_FILE), { force: true });
    check.computed?.clear();
    throw error;
  }
  check.done = true;
  check.computed?.clear();
}

/**
 * The image of the cache's probe record ({@link TEACHER_PROBE_FILE}) and its cached target, while the record names a
 * regular file with the content it had and the cache holds its target; else undefined, with a notice to `log` for a
 * record that is there but not usable (damaged, or its image moved, changed or unreadable here).
 */
function teacherProbeRecord(
  cache: FeatureCache,
  dim: number | undefined,
  log?: (line: string) => void,
): { image: string; target: Float32Array } | undefined {
  const file = join(cache.root, TEACHER_PROBE_FILE);
  if (!existsSync(file)) return undefined;
  const ignored = (why: string) => {
    log?.(`teacher probe record ${file} ${why}: not used (the next target computed in this cache is recorded instead)`);
    return undefined;
  };
  try {
    const { path, key } = (JSON.parse(readTextFile(file, 'teacher probe record')) ?? {}) as Record<string, unknown>;
    if (typeof path !== 'string' || typeof key !== 'string') return ignored('is not { "path", "key" }');
    // a regular file only: a FIFO or /dev/zero named by a hand-edited record would block or never end the hashing
    if (!existsSync(path) || !statSync(path).isFile()) return ignored(`names ${path}, which is no file here`);
    if (hashFile(path) !== key) return ignored(`names ${path}, whose content changed since`);
    const target = cache.get(key, dim);
    return target ? { image: path, target } : ignored(`names ${path}, whose target the cache no longer holds`);
  } catch (error) {
    return ignored(`cannot be read, or names an image that cannot (${(error as Error).message})`);
  }
}

/**
 * Name `image` (its target just cached) in the cache's probe record when it names no usable image, once a run.
 * A record that cannot be written is said to `log`: the teacher is then checked against runs' own cached images only.
 * @returns whether it wrote the record
 */
function recordTeacherProbe(cache: FeatureCache, image: string, key: string, log?: (line: string) => void): boolean {
  if (teacherProbeRecord(cache, undefined)) return false;
  const file = join(cache.root, TEACHER_PROBE_FILE);
  try {
    writeJsonAtomic(file, { path: resolve(image), key });
    return true;
  } catch (error) {
    log?.(
      `teacher probe record ${file} cannot be written (${(error as Error).message}): a later run checks the teacher only against its own cached images`,
    );
    return false;
  }
}

/**
 * The targets the cache holds for `keys` (`out[i]`, undefined where missing: their indices in `todo`) and the run's
 * target dimension: `expectDim`, the teacher's `dim`, else the first cached entry's.
 * @throws DataFormatError for an entry of another dimension ({@link refuseCachedDim})
 */
function cachedTargets(
  options: Pick<ComputeTargetsOptions, 'teacher' | 'images' | 'expectDim'>,
  cache: FeatureCache | undefined,
  keys: readonly string[],
): { out: (Float32Array | undefined)[]; todo: number[]; dim: number | undefined } {
  const { images } = options;
  let dim = options.expectDim ?? options.teacher.dim;
  const out: (Float32Array | undefined)[] = new Array<Float32Array | undefined>(images.length);
  const todo: number[] = [];
  images.forEach((_, i) => {
    // without a known dim the first entry read gives it (entries store theirs); the others must have the same
    const hit = cache?.get(keys[i]!);
    if (hit) {
      if (dim !== undefined && hit.length !== dim) refuseCachedDim(options, images[i]!, hit.length, dim, cache!);
      out[i] = hit;
      dim ??= hit.length;
    } else todo.push(i);
  });
  return { out, todo, dim };
}

/**
 * One answer of the teacher taken: validated (`validateTarget`), L2-normalised into `out[i]` and cached; while the run's
 * teacher check is not done, its key is remembered (`TeacherCheck.computed`) so that a refused teacher's targets go.
 * @returns the run's target dimension (this answer's when none was known)
 */
function takeTarget(
  options: Pick<ComputeTargetsOptions, 'teacher' | 'images'>,
  run: {
    cache: FeatureCache | undefined;
    check: TeacherCheck;
    keys: readonly string[];
    out: (Float32Array | undefined)[];
  },
  i: number,
  v: Float32Array,
  dim: number | undefined,
): number {
  const { cache, check, keys } = run;
  validateTarget(v, {
    item: options.images[i]!,
    teacher: options.teacher.source,
    ...(dim !== undefined ? { dim } : {}),
  });
  const t = normalizeTarget(v);
  // what the cache holds: another run sharing the cache that stored this image's target first keeps it, and both
  // runs train on it (a teacher whose answers vary in their last digits left a mix neither run could resume on)
  run.out[i] = cache ? cache.set(keys[i]!, t) : t;
  if (cache && !check.done) (check.computed ??= new Set()).add(keys[i]!);
  return dim ?? v.length;
}

/**
 * A teacher's failure (a server that stopped answering, an HTTP error: a plain `VlferError`) with what a rerun keeps:
 * the targets computed so far are in the cache. Other errors (an abort, a bad target, a changed teacher) unchanged.
 */
function withCachedNote(error: unknown, cache: FeatureCache, kept: number, checking: boolean): unknown {
  if (!(error instanceof VlferError) || Object.getPrototypeOf(error) !== VlferError.prototype) return error;
  const note = kept
    ? `the ${kept} target${kept === 1 ? '' : 's'} answered before it in this call are cached in ${cache.root}: a rerun asks the teacher only for those still missing (and for one cached image again, to check that it answers as before)`
    : checking
      ? `no answer of this call was cached (a run's first call to the teacher, which re-asks one cached image to check it, is kept only whole): a rerun asks for them again`
      : `no answer of this call came before it: a rerun asks for them again`;
  return new VlferError(`${error.message}; ${note}`, { cause: error });
}

/**
 * The `onResult` of one teacher call of `n` images: each answer taken (`take`) as it arrives, once, by a valid
 * index; `close` once the call settled (a later report is refused), `checkSame` that the returned embedding is the one
 * reported. @throws InvalidArgumentError naming the teacher for a bad or repeated index, a report after the call,
 * or a returned embedding other than the reported one
 */
function answersAsTheyArrive(
  teacher: Teacher,
  n: number,
  take: (r: number, v: Float32Array) => void,
): {
  onResult: (r: number, v: Float32Array) => void;
  taken: Map<number, Float32Array>;
  close: () => void;
  checkSame: (r: number, v: Float32Array, image: string) => void;
} {
  const taken = new Map<number, Float32Array>();
  let open = true;
  const bad = (message: string) =>
    new InvalidArgumentError({
      functionName: 'computeTargets',
      argument: 'teacher',
      message: `teacher ${teacher.source} ${message}`,
    });
  return {
    taken,
    onResult(r, v) {
      if (!open) throw bad(`reported an answer (index ${r}) after its call returned`);
      if (!Number.isInteger(r) || r < 0 || r >= n || taken.has(r))
        throw bad(`reported an answer for index ${r} of a call of ${n} images${taken.has(r) ? ' twice' : ''}`);
      take(r, v);
      taken.set(r, v);
    },
    close() {
      open = false;
    },
    checkSame(r, v, image) {
      const was = taken.get(r)!;
      if (v !== was && (v.length !== was.length || v.some((x, k) => !Object.is(x, was[k]))))
        throw bad(`returned another embedding for ${image} than the one it reported through onResult`);
    },
  };
}

/**
 * Teacher targets for every image, served from / written to the on-disk cache (atomic, checksummed per item, so
 * an interrupted run resumes). Every target is validated (`validateTarget`: dimension, finite, non-zero norm)
 * before it is cached or used, then L2-normalised as the reference does before the loss.
 * The first teacher call of a run also asks for one cached image again (the run's first cache hit, in any of its
 * calls sharing `teacherCheck`, else the one the cache's probe record names: a resume or another shard) and refuses
 * to go on when the answer differs ({@link checkCachedTarget}); a fully cached run makes no call.
 * Stages: {@link checkTargetOptions} → {@link openTargetCache} → cache hits → per batch {@link embedBatch} (the first
 * with one cached image, {@link checkCachedTarget}), `validateTarget`, {@link normalizeTarget}, cache → stack.
 * @returns [images, E]
 * @throws DataFormatError naming the image and the teacher source for a bad target, or a teacher that answers a
 *   cached image differently now; AbortedError on abort
 */
export async function computeTargets(options: ComputeTargetsOptions): Promise<Tensor2D> {
  const { teacher, images, signal } = options;
  const { batchSize, instruction } = checkTargetOptions(options);
  const cache = openTargetCache(options, instruction);
  const keys = cache ? (options.imageKeys ?? images.map((p) => hashFile(p))) : [];
  const hits = cachedTargets(options, cache, keys);
  const { out, todo } = hits;
  let dim = hits.dim;
  const cached = images.length - todo.length;
  let done = cached;
  let kept = 0; // targets of this call cached from the teacher's answers
  const check = options.teacherCheck ?? { done: false };
  let probe = teacherProbeFor(cache, { images, keys, out, toCompute: todo.length, dim }, check, options.log);
  const refuse = (again: Float32Array) =>
    refuseChangedTeacher(teacher, probe!, again, cache!, check, options.cacheDir!);
  options.onProgress?.({ phase: 'targets', done, total: images.length, unit: 'images', cached });
  for (let b = 0; b < todo.length;) {
    throwIfAborted(signal, 'computing teacher targets');
    const idx = todo.slice(b, b + (probe ? batchSize - 1 : batchSize));
    const batch = [...idx.map((i) => images[i]!), ...(probe ? [probe.image] : [])];
    const take = (r: number, v: Float32Array) => {
      dim = takeTarget(options, { cache, check, keys, out }, idx[r]!, v, dim);
      kept += cache ? 1 : 0;
    };
    // with no teacher check in this batch, each answer is cached as it arrives: a batch that fails keeps them
    const arrived = probe ? undefined : answersAsTheyArrive(teacher, idx.length, take);
    const vecs = await embedBatch(teacher, batch, instruction, signal, arrived?.onResult)
      .catch((error: unknown) => {
        throw cache ? withCachedNote(error, cache, kept, !arrived) : error;
      })
      .finally(() => arrived?.close());
    check.called = true;
    if (probe) {
      refuse(vecs.pop()!);
      probe = undefined;
    }
    vecs.forEach((v, r) => (arrived?.taken.has(r) ? arrived.checkSame(r, v, batch[r]!) : take(r, v)));
    if (cache && !check.recorded && idx.length > 0) {
      check.recordRead = true; // the record names this run's own image from now on: nothing to re-ask
      check.wroteRecord = recordTeacherProbe(cache, images[idx[0]!]!, keys[idx[0]!]!, options.log);
      check.recorded = true;
    }
    b += idx.length;
    done += idx.length;
    if (idx.length > 0) options.onProgress?.({ phase: 'targets', done, total: images.length, unit: 'images', cached });
  }
  if (probe) {
    // a call served from the cache, in a run that called the teacher before with nothing to re-ask then
    throwIfAborted(signal, 'computing teacher targets');
    refuse((await embedBatch(teacher, [probe.image], instruction, signal))[0]!);
  }
  const d = dim!;
  const data = new Float32Array(images.length * d);
  out.forEach((v, i) => data.set(v!, i * d));
  return { dtype: 'float32', data, dims: [images.length, d] };
}
