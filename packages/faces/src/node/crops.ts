import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  DataFormatError,
  InvalidArgumentError,
  OptionsError,
  parseOptions,
  throwIfAborted,
  checkOneOf,
  type ProgressCallback,
} from '@vlfer/core';
import { ensureDir, FeatureCache, hashBytes, hashFile, writeFileAtomic } from '@vlfer/core/node';
import { decodeImage, readImageHeader } from '@vlfer/image/node';
import { CROP_VERSION, faceCrop } from '../align.js';
import {
  FACE_SELECTIONS,
  MISSING_FACE_POLICIES,
  NO_FACE_POLICIES,
  selectFaces,
  trackFace,
  type FaceSelection,
  type MissingFacePolicy,
  type NoFacePolicy,
} from '../select.js';
import type { Face, RgbImage } from '../types.js';
import { FaceDetector } from './detector.js';
import { encodePng } from './png.js';
import { FacesOptionsSchema, type FacesOptions, type FacesOptionsInput } from '../options.js';

/** How faces become the images the encoders see. */
export interface FaceCropSettings {
  /** `false`: the box grown by `margin`, made square ('detect'); `true`: five-point alignment onto the ArcFace template ('detect:align'). */
  align: boolean;
  /** Side of the crop in pixels. @default 224 */
  size?: number;
  /** Box crops: margin on each side as a fraction of the box. @default 0.2 */
  margin?: number;
  /** Images with several faces. @default 'largest' */
  selection?: FaceSelection;
  /** Images with no face. @default 'skip' */
  noFace?: NoFacePolicy;
  /** Clip frames where the followed face is missing. @default 'carry' */
  missing?: MissingFacePolicy;
}

/** What a cropper did: its settings in words, the counts, and the images (or clips) skipped for having no face. */
export interface FacesReport {
  description: string;
  counts: FaceCounts;
  skipped: string[];
}

/** Faces found per image: how many images had 0, 1 or more, and how many were skipped or used whole. */
export interface FaceCounts {
  /** Images (or clips) looked at, and how many had no face, one, several. */
  images: number;
  zero: number;
  one: number;
  many: number;
  /** Images with as many faces as the detector keeps (`topK`): more may be in them, unseen. */
  atLimit: number;
  /** Left out (no face, 'skip') or used whole (no face, 'full'); crops written or reused. */
  skipped: number;
  whole: number;
  crops: number;
  /**
   * Images (clips: by their first frame) whose EXIF orientation (2–8) turns or mirrors them. It is not applied, as
   * Pillow's `Image.open` does not: such a photo is detected as stored, where a face on its side scores lower or is
   * missed.
   */
  exifOriented: number;
}

/**
 * How this run used the cache (per image or frame): detector runs now vs detections read back, and cached crops
 * found changed or damaged (then cut again). They depend on what earlier runs left, so they belong in `run.json`,
 * not in a run's published results.
 */
export interface FaceCacheCounts {
  detected: number;
  fromCache: number;
  damagedCrops: number;
}

/** An image decoded on first use: the image already at hand, or the file decoded once. */
function lazyImage(path: string, image: RgbImage | null): () => Promise<RgbImage> {
  let p: Promise<RgbImage> | undefined = image ? Promise.resolve(image) : undefined;
  return () => (p ??= decodeImage(path));
}

const PER_FACE = 15;

/** A detection cache entry holds every face the detector keeps (`topK`; its cache key names it). */
function encodeFaces(faces: readonly Face[], maxFaces: number): Float32Array {
  const v = new Float32Array(1 + maxFaces * PER_FACE).fill(Number.NaN);
  const n = Math.min(faces.length, maxFaces);
  v[0] = n;
  faces.slice(0, n).forEach((f, i) => {
    const o = 1 + i * PER_FACE;
    v.set([f.box.x, f.box.y, f.box.width, f.box.height, f.score], o);
    if (f.landmarks)
      f.landmarks.forEach(([x, y], k) => {
        v[o + 5 + 2 * k] = x;
        v[o + 6 + 2 * k] = y;
      });
  });
  return v;
}

function decodeFaces(v: Float32Array): Face[] {
  const out: Face[] = [];
  for (let i = 0; i < v[0]!; i++) {
    const o = 1 + i * PER_FACE;
    const lm = Number.isNaN(v[o + 5]!)
      ? null
      : Array.from({ length: 5 }, (_, k) => [v[o + 5 + 2 * k]!, v[o + 6 + 2 * k]!] as [number, number]);
    out.push({ box: { x: v[o]!, y: v[o + 1]!, width: v[o + 2]!, height: v[o + 3]! }, score: v[o + 4]!, landmarks: lm });
  }
  return out;
}

/**
 * The name of a crop file: the image's detection key, the detector's cache key (model, thresholds, input resize), the
 * crop settings, the face (its index among the image's detections, or for a clip's frame the followed face itself:
 * box and landmarks, which another clip holding the same frame may follow otherwise), and `version` — `CROP_VERSION`, which changes whenever crop pixels do (the OpenCV-exact
 * warp and insightface's 128-pixel template changed them), so crops cached by an older vlfer are not reused.
 */
export function cropFileKey(
  imageKey: string,
  detectorKey: string,
  settings: { align: boolean; size: number; margin: number },
  face: number | string,
  version: string = CROP_VERSION,
): string {
  return hashBytes(
    JSON.stringify([imageKey, detectorKey, version, settings.align, settings.size, settings.margin, face]),
  );
}

/**
 * Why the crop `file` (named `base`) cannot be reused, or undefined when its record `<hash>  <base>` (`sha256sum`'s
 * format) names it and matches its content.
 */
function cropRecordProblem(file: string, record: string, base: string): string | undefined {
  for (const [path, what] of [
    [file, 'a face crop'],
    [record, "a face crop's SHA-256 record"],
  ] as const)
    if (statSync(path, { throwIfNoEntry: false })?.isFile() === false)
      throw new DataFormatError({
        file: path,
        message: `is not a file: ${what} belongs here (the crop cache holds only crops and their records); remove it`,
      });
  if (!existsSync(record)) return 'has no recorded SHA-256 (an interrupted write, or an older vlfer)';
  const line = readFileSync(record, 'utf8').replace(/\n$/, '');
  const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
  if (!m) return `has a record ${record} not of the form '<sha256>  ${base}' (damaged, or written by an older vlfer)`;
  if (m[2] !== base)
    return `has the record of another crop (${m[2]}): crop files and their records were swapped or copied`;
  const got = hashFile(file);
  if (got === m[1]) return undefined;
  return `differs from its recorded SHA-256 (${got.slice(0, 12)}…, recorded ${m[1]!.slice(0, 12)}…): changed or damaged after it was written`;
}

/**
 * Face crops for a dataset, cached on disk so detection runs once per image: detections are kept in a checksummed
 * `FeatureCache` keyed by the image's content and the detector (file hash, thresholds, input size); crops are PNG
 * files named by the detection key, the crop settings and the face, written atomically. An interrupted run resumes
 * where it stopped, and a changed image, detector or setting gets new entries. The crop files are what the encoders
 * then read, so their feature cache keys follow the crops' content.
 */
export class FaceCropper {
  readonly counts: FaceCounts = {
    images: 0,
    zero: 0,
    one: 0,
    many: 0,
    atLimit: 0,
    skipped: 0,
    whole: 0,
    crops: 0,
    exifOriented: 0,
  };
  /** The first image counted in `counts.exifOriented`, for the summary. */
  private firstExifOriented: string | null = null;
  /** Cache use of this cropper (for run.json): detections computed or read back, damaged crops cut again. */
  readonly cacheCounts: FaceCacheCounts = { detected: 0, fromCache: 0, damagedCrops: 0 };
  /** Images left out for having no face (noFace 'skip'), by path. */
  readonly skippedItems: string[] = [];
  private readonly seen = new Set<string>();
  private readonly detections: FeatureCache;
  private readonly cropDir: string;
  private readonly settings: Required<FaceCropSettings>;

  constructor(
    readonly detector: FaceDetector,
    settings: FaceCropSettings,
    cacheDir: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    const fn = 'FaceCropper';
    this.settings = { size: 224, margin: 0.2, selection: 'largest', noFace: 'skip', missing: 'carry', ...settings };
    checkOneOf(this.settings.selection, FACE_SELECTIONS, { functionName: fn, argument: 'selection' });
    checkOneOf(this.settings.noFace, NO_FACE_POLICIES, { functionName: fn, argument: 'noFace' });
    checkOneOf(this.settings.missing, MISSING_FACE_POLICIES, { functionName: fn, argument: 'missing' });
    if (!Number.isInteger(this.settings.size) || this.settings.size < 16)
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'size',
        message: `must be an integer ≥ 16, got ${this.settings.size}`,
      });
    if (this.settings.align && detector.kind !== 'yunet')
      throw new InvalidArgumentError({
        functionName: fn,
        argument: 'align',
        message: `needs landmarks; ${detector.id} finds boxes only (use 'detect', or a YuNet detector)`,
      });
    this.detections = new FeatureCache({
      dir: join(cacheDir, 'detections'),
      namespace: { model: detector.fingerprint, dtype: 'float32', preprocess: 'faces', extra: detector.cacheKey },
      onCorrupt: (f, why) => log(`face cache entry ${f} ${why}; detecting again`),
    });
    this.cropDir = join(cacheDir, 'crops');
    ensureDir(this.cropDir);
  }

  /** What the crop files depend on besides the image: for run keys and outputs. */
  describe(): string {
    const s = this.settings;
    return `${this.detector.id} ${s.align ? 'aligned' : `box+${s.margin}`} ${s.size}px, ${s.selection}, no face: ${s.noFace}`;
  }

  /** The faces in one image file (cached), and the decoded image when it had to be read. */
  async detectFile(path: string): Promise<{ faces: Face[]; key: string; image: RgbImage | null }> {
    const key = hashFile(path);
    const maxFaces = this.detector.options.topK;
    const dim = 1 + maxFaces * PER_FACE;
    const hit = this.detections.get(key, dim);
    if (hit) {
      this.cacheCounts.fromCache++;
      return { faces: decodeFaces(hit), key, image: null };
    }
    const image = await decodeImage(path);
    const encoded = encodeFaces(await this.detector.detect(image), maxFaces);
    this.detections.set(key, encoded);
    this.cacheCounts.detected++;
    // crops are always cut from the cached (float32) detections, so a crop does not depend on whether its
    // detection was computed now or read back: the same image gives the same crop bytes in every run
    return { faces: decodeFaces(encoded), key, image };
  }

  /**
   * The crop file of one face (written unless a valid one exists); `image` decodes the image only when needed.
   * Each crop's SHA-256 is recorded beside it with the crop's name (`<name>.png.sha256`, in `sha256sum`'s format
   * `<hash>  <name>.png`, written before the crop) and checked on every use: a crop replaced (another valid PNG),
   * torn, without its record, or swapped together with its record for another crop's pair is reported and cut again.
   */
  private async writeCrop(
    key: string,
    face: Face,
    index: number | string,
    image: () => Promise<RgbImage>,
  ): Promise<string> {
    const s = this.settings;
    const name = cropFileKey(key, this.detector.cacheKey, s, index);
    const file = join(this.cropDir, name.slice(0, 2), `${name}.png`);
    const record = `${file}.sha256`;
    if (existsSync(file)) {
      const why = cropRecordProblem(file, record, `${name}.png`);
      if (!why) return file;
      this.cacheCounts.damagedCrops++;
      this.log(`face crop ${file} ${why}; cutting it again`);
    }
    const img = await image();
    const png = await encodePng(faceCrop(img, face, s));
    ensureDir(join(this.cropDir, name.slice(0, 2)));
    // the record first: a run sharing the cache that finds the crop finds its record (written after, a crop being
    // written by another run was 'without its record' for a moment, reported as damaged and cut again)
    writeFileAtomic(record, `${hashBytes(png)}  ${name}.png\n`, { durable: false });
    writeFileAtomic(file, png, { durable: false });
    return file;
  }

  /**
   * The crop files of one image under the selection: one crop ('largest', 'central'), one per face ('all'), none
   * (no face, 'skip'), the image itself (no face, 'full'), or a `DataFormatError` naming it (no face, 'fail').
   */
  async imageCrops(path: string): Promise<string[]> {
    const { faces, key, image } = await this.detectFile(path);
    const first = this.firstVisit(path);
    // the header says the size (when the detection came from the cache) and the EXIF orientation
    const meta = first || !image ? await readImageHeader(path) : null;
    if (first) {
      this.counts.images++;
      this.noteOrientation(path, meta!);
    }
    if (faces.length === 0) {
      if (first) this.counts.zero++;
      if (this.settings.noFace === 'fail')
        throw new DataFormatError({
          file: path,
          message: `no face found by ${this.detector.id} (score ≥ ${this.detector.options.scoreThreshold}); use noFace 'skip' or 'full' (--when-no-face)`,
        });
      if (this.settings.noFace === 'skip') {
        if (first) {
          this.counts.skipped++;
          this.skippedItems.push(path);
        }
        return [];
      }
      if (first) this.counts.whole++;
      return [path];
    }
    if (first) this.counts[faces.length === 1 ? 'one' : 'many']++;
    if (first && faces.length >= this.detector.options.topK) this.counts.atLimit++;
    const size = image ?? meta!;
    const chosen = selectFaces(faces, this.settings.selection, { width: size.width, height: size.height });
    const decoded = lazyImage(path, image); // decoded at most once, however many of its crops are missing
    const out: string[] = [];
    for (const f of chosen) out.push(await this.writeCrop(key, f, faces.indexOf(f), decoded));
    if (first) this.counts.crops += out.length;
    return out;
  }

  /**
   * The crop of the followed face in each frame of a clip (`trackFace`: the selected face of the first frame with
   * faces, followed by IoU); frames where it is missing follow `missing` ('skip' drops the frame, so fewer crops come
   * back). A clip with no face in any frame follows `noFace` ('full': the frames themselves). Each clip is counted
   * once per cropper; `count: false` reads without counting (a look at one frame, e.g. HESP's CAM location).
   */
  async clipCrops(frames: readonly string[], name: string, options: { count?: boolean } = {}): Promise<string[]> {
    const found = [];
    for (const f of frames) found.push(await this.detectFile(f));
    // a clip is counted once, however often it is read (HESP samples its frames again every epoch)
    const first = options.count !== false && this.firstVisit(`clip:${name}`);
    if (first) {
      this.counts.images++;
      this.noteOrientation(name, await readImageHeader(frames[0]!)); // a clip's frames come from one camera
    }
    const max = Math.max(...found.map((d) => d.faces.length));
    if (max === 0) {
      if (first) this.counts.zero++;
      if (this.settings.noFace === 'fail')
        throw new DataFormatError({
          file: name,
          message: `no face found by ${this.detector.id} in the ${frames.length} frame${frames.length === 1 ? '' : 's'} read (${frames
            .map((f) => basename(f))
            .slice(0, 4)
            .join(
              ', ',
            )}${frames.length > 4 ? ', …' : ''}); use noFace 'full' (--when-no-face full) to use such clips whole`,
        });
      if (this.settings.noFace === 'skip') {
        if (first) {
          this.counts.skipped++;
          this.skippedItems.push(name);
        }
        return [];
      }
      if (first) this.counts.whole++;
      return [...frames];
    }
    if (first) this.counts[max === 1 ? 'one' : 'many']++;
    if (first && max >= this.detector.options.topK) this.counts.atLimit++;
    const meta = found[0]!.image ?? (await readImageHeader(frames[0]!));
    const selection = this.settings.selection === 'all' ? 'largest' : this.settings.selection;
    const track = trackFace(
      found.map((d) => d.faces),
      { width: meta.width, height: meta.height },
      { selection, missing: this.settings.missing, name },
    );
    const out: string[] = [];
    for (let t = 0; t < frames.length; t++) {
      const face = track.faces[t];
      if (!face) continue;
      // named by the face followed, not the frame's place: the same frame in another clip (or another read of this
      // one) may follow another face, whose crop must not be this one's
      const followed = JSON.stringify(['followed', face.box, face.landmarks]);
      out.push(await this.writeCrop(found[t]!.key, face, followed, lazyImage(frames[t]!, found[t]!.image)));
    }
    if (first) this.counts.crops += out.length;
    return out;
  }

  private firstVisit(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    return true;
  }

  /**
   * Crops of many images, with progress and abort between images. Items without a crop are left out; `source` names
   * the image and `face` the crop's place among its faces (0 unless the selection is 'all'), or is `null` for an
   * image used whole (no face found, `noFace: 'full'`).
   */
  async cropImages<T extends { path: string }>(
    items: readonly T[],
    hooks: { signal?: AbortSignal; onProgress?: ProgressCallback } = {},
  ): Promise<(T & { source: string; face: number | null })[]> {
    const out: (T & { source: string; face: number | null })[] = [];
    for (let i = 0; i < items.length; i++) {
      throwIfAborted(hooks.signal, 'face detection');
      const source = items[i]!.path;
      const crops = await this.imageCrops(source);
      // crops are files of the crop cache: only an image used whole comes back as itself
      crops.forEach((crop, face) =>
        out.push({ ...items[i]!, path: crop, source, face: crop === source ? null : face }),
      );
      hooks.onProgress?.({ phase: 'faces', done: i + 1, total: items.length, unit: 'images' });
    }
    return out;
  }

  /**
   * What decides every crop this cropper cuts, hashed: the detector (`cacheKey`: model file, thresholds, input size),
   * how crops are cut (`CROP_VERSION`) and the settings. A resumed run that trained on crops checks it (HESP).
   */
  get fingerprint(): string {
    // the settings that decide crops only: a cropper made from a pipeline's options also holds where its cache and
    // models are, which do not
    const { align, size, margin, selection, noFace, missing } = this.settings;
    const cut = { align, size, margin, selection, noFace, missing };
    return hashBytes(JSON.stringify([this.detector.cacheKey, CROP_VERSION, cut]));
  }

  /** Count an image (or a clip, by its first frame) whose EXIF orientation turns or mirrors it. */
  private noteOrientation(name: string, meta: { orientation?: number | undefined }): void {
    if (meta.orientation === undefined || meta.orientation === 1) return;
    this.counts.exifOriented++;
    this.firstExifOriented ??= name;
  }

  /** Release the detector. */
  async dispose(): Promise<void> {
    await this.detector.dispose();
  }

  /**
   * What the cropper did, for results files: its settings in words, the counts, the images skipped for having no
   * face. Cache use is not part of it (`cacheCounts`, for run.json): a warm-cache rerun reports the same.
   */
  report(): FacesReport {
    return { description: this.describe(), counts: { ...this.counts }, skipped: [...this.skippedItems] };
  }

  /** One line for logs and outputs: images with 0, 1, > 1 faces. */
  summary(): string {
    const c = this.counts;
    const k = this.cacheCounts;
    return `faces (${this.describe()}): ${c.images} images/clips — ${c.zero} with none, ${c.one} with one, ${c.many} with several${c.atLimit ? ` (${c.atLimit} with ${this.detector.options.topK}, the detector's limit: more faces may be in them, unseen; raise topK)` : ''}; ${c.crops} crops${c.skipped ? `, ${c.skipped} skipped` : ''}${c.whole ? `, ${c.whole} used whole` : ''} (detector run on ${k.detected} images, ${k.fromCache} from the cache${k.damagedCrops ? `; ${k.damagedCrops} damaged crops cut again` : ''})${c.exifOriented ? `; ${c.exifOriented} with an EXIF orientation that turns or mirrors them (first: ${this.firstExifOriented}), not applied, as Pillow does not: detected as stored, where faces on their side score lower or are missed; rotate such photos first (exiftool, ImageMagick -auto-orient)` : ''}`;
  }
}

/**
 * The cropper a pipeline's `faces` option asks for: loads the detector (checked) and opens the crop cache.
 * Clips may not drop frames ('skip' for missing faces), since every clip keeps its frame count.
 */
export async function createFaceCropper(
  input: FacesOptionsInput,
  context: { threads?: number; log?: (line: string) => void; clips?: boolean } = {},
): Promise<FaceCropper> {
  // the options as given (defaults filled in, unknown keys refused) or as the pipelines' schemas parsed them
  const options: FacesOptions = parseOptions(FacesOptionsSchema, input, 'createFaceCropper');
  if (context.clips && options.missing === 'skip')
    throw new InvalidArgumentError({
      functionName: 'createFaceCropper',
      argument: 'faces.missing',
      message: "'skip' would leave clips with fewer frames; use 'carry' or 'fail'",
    });
  const detector = await FaceDetector.load(options.detector, {
    ...(options.modelDir ? { modelDir: options.modelDir } : {}),
    ...(options.scoreThreshold !== undefined ? { scoreThreshold: options.scoreThreshold } : {}),
    ...(context.threads ? { threads: context.threads } : {}),
  }).catch((error: unknown) => {
    throw asFacesOptionError(error);
  });
  try {
    return new FaceCropper(detector, options, options.cacheDir, context.log);
  } catch (error) {
    await detector.dispose();
    throw asFacesOptionError(error);
  }
}

/**
 * An error of the detector or the cropper about one of its arguments, as one about the pipeline's `faces` option
 * (`model` → `faces.detector`, `modelDir` → `faces.modelDir`, …; an environment variable stays), so a caller learns which option to change (the
 * command line: which flag) rather than an inner function's argument; other errors unchanged.
 */
export function asFacesOptionError(error: unknown): unknown {
  if (
    !(error instanceof InvalidArgumentError) ||
    error instanceof OptionsError ||
    error.argument.startsWith('faces.') ||
    /^[A-Z][A-Z0-9_]*$/.test(error.argument) // an environment variable (VLFER_FACE_MODELS): named as it is
  )
    return error;
  return new InvalidArgumentError({
    functionName: 'createFaceCropper',
    argument: `faces.${error.argument === 'model' ? 'detector' : error.argument}`,
    message: error.detail,
    cause: error,
  });
}
