import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkOneOf, DataFormatError, InvalidArgumentError, type LabelSet } from '@vlfer/core';
import { readTextFile } from '@vlfer/core/node';
import { getLabelSet, LABEL_SETS, type ExpressionName } from '../label-sets.js';
import { isHiddenName, isImageFile, isSystemFolder } from '../media.js';
import { expressionLabel } from '../parsers.js';
import { DropCounter, loadResult, type ImageItem, type LoadResult } from '../types.js';
import { verifyImages, type ImageVerification } from './image-check.js';
import { checkRootDir, readDirForScan, statForScan } from './scan-errors.js';

export interface CkPlusOptions {
  /** The CK+ release: `cohn-kanade-images/<subject>/<sequence>/*.png` and `Emotion/<subject>/<sequence>/*_emotion.txt`. */
  root: string;
  /** The last `peakFrames` frames of each labelled sequence, up to its labelled (peak) frame. @default 3 (981 images) */
  peakFrames?: number;
  /** Also the first frame of each labelled sequence, as neutral. @default false */
  neutralFrame?: boolean;
  /** @default contempt-7, or basic-8 with `neutralFrame` */
  labelSet?: LabelSet;
  /** Items whose expression is not in the label set: `'error'` or `'drop'` (counted). @default 'error' */
  outOfSet?: 'error' | 'drop';
  /** Files in the sequence folders that are neither frames nor emotion labels: `'error'` or `'skip'` (counted). @default 'error' */
  extraFiles?: 'error' | 'skip';
  /** @default 'none' */
  verify?: ImageVerification;
}

/** CK+'s emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise. */
export const CKPLUS_EMOTIONS: readonly ExpressionName[] = [
  'neutral',
  ...(LABEL_SETS['ckplus-7-native'].names as readonly ExpressionName[]),
];

/**
 * A CK+ `_emotion.txt` label (`   3.0000000e+00`): its emotion code 0–7.
 * @throws DataFormatError naming the file for anything else
 */
export function parseCkPlusEmotion(text: string, file: string): number {
  const t = text.replace(/^\uFEFF/, '').trim();
  const value = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(value) || value < 0 || value > 7)
    throw new DataFormatError({
      file,
      message: `holds ${JSON.stringify(text.trim().slice(0, 40))}; expected a CK+ emotion code 0–7 (such as 3.0000000e+00)`,
    });
  return value;
}

/** The frame number of a CK+ file name (`S005_001_00000011.png`, `S005_001_00000011_emotion.txt`), or undefined. */
function frameNumber(name: string): number | undefined {
  const m = /_(\d+)(?:_emotion\.txt|\.[A-Za-z]+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * The sub-folders of `dir`, sorted; hidden entries (.DS_Store, ._ forks) and system folders (`isSystemFolder`) ignored. A file among them is an extra file
 * (an error naming it, or with `extra` 'skip' counted); without `extra` (the Emotion tree) files are not looked at.
 */
function folders(dir: string, what: string, expected: string, extra?: 'error' | 'skip', drops?: DropCounter): string[] {
  const out: string[] = [];
  for (const n of readDirForScan(dir, what, expected).sort()) {
    if (isHiddenName(n) || isSystemFolder(n)) continue; // (@eaDir thumbnails, __MACOSX, $RECYCLE.BIN: no subjects)
    if (statForScan(join(dir, n), what).isDirectory()) out.push(n);
    else if (extra === 'skip') drops!.add('not a folder of subjects or sequences');
    else if (extra === 'error')
      throw new DataFormatError({
        file: join(dir, n),
        message: `is a file where ${expected.replace(/^expected /, '')} holds folders; pass extraFiles: 'skip' (CLI --extra-files skip) to leave such files out`,
      });
  }
  return out;
}

/** `loadCkPlus`'s options checked, with their defaults. @throws InvalidArgumentError naming the option */
function checkCkPlusOptions(options: CkPlusOptions) {
  const fn = 'loadCkPlus';
  checkRootDir(options.root, 'root', fn);
  const peakFrames = options.peakFrames ?? 3;
  if (!Number.isInteger(peakFrames) || peakFrames < 1)
    throw new InvalidArgumentError({
      functionName: fn,
      argument: 'peakFrames',
      message: `expected a positive integer, got ${String(options.peakFrames)}`,
    });
  return {
    peakFrames,
    neutralFrame: options.neutralFrame ?? false,
    labelSet: options.labelSet ?? getLabelSet(options.neutralFrame ? 'basic-8' : 'contempt-7'),
    outOfSet: checkOneOf(options.outOfSet ?? 'error', ['error', 'drop'], { functionName: fn, argument: 'outOfSet' }),
    extra: checkOneOf(options.extraFiles ?? 'error', ['error', 'skip'], { functionName: fn, argument: 'extraFiles' }),
  };
}

/** The emotion label files of an Emotion sequence folder (hidden ones, such as macOS's `._` forks, left out). */
function emotionFiles(dir: string): string[] {
  return readDirForScan(dir, 'the emotion folder')
    .filter((n) => !isHiddenName(n) && n.endsWith('_emotion.txt'))
    .sort();
}

/**
 * The frames of one sequence folder by frame number, and its emotion file (when `emotionDir` has one).
 * @throws DataFormatError for a file that is neither (unless `extra` is 'skip': counted), or two emotion files
 */
function readSequence(
  frameDir: string,
  emotionDir: string,
  prefix: string,
  extra: 'error' | 'skip',
  drops: DropCounter,
): { frames: { n: number; path: string }[]; emotion: string | undefined } {
  const frames: { n: number; path: string }[] = [];
  for (const name of readDirForScan(frameDir, 'the sequence folder').sort()) {
    if (isHiddenName(name) || isSystemFolder(name)) continue; // .DS_Store, ._ resource forks, @eaDir
    const n = frameNumber(name);
    if (isImageFile(name) && n !== undefined && name.startsWith(prefix)) frames.push({ n, path: join(frameDir, name) });
    else if (extra === 'skip') drops.add('not a frame of its sequence');
    else
      throw new DataFormatError({
        file: join(frameDir, name),
        message: `is not a frame of this sequence (${prefix}<frame>.png); pass extraFiles: 'skip' (CLI --extra-files skip) to leave such files out`,
      });
  }
  frames.sort((a, b) => a.n - b.n);
  for (let k = 1; k < frames.length; k++)
    if (frames[k]!.n === frames[k - 1]!.n)
      throw new DataFormatError({
        file: frames[k]!.path,
        message: `is frame ${frames[k]!.n} again (also ${frames[k - 1]!.path}); remove one`,
      });
  const labels = existsSync(emotionDir) ? emotionFiles(emotionDir) : [];
  const stranger = labels.find((n) => !n.startsWith(prefix));
  if (stranger)
    throw new DataFormatError({
      file: join(emotionDir, stranger),
      message: `labels another sequence than ${frameDir} (its name should start ${prefix})`,
    });
  if (labels.length > 1)
    throw new DataFormatError({
      file: emotionDir,
      message: `holds ${labels.length} emotion files; expected at most one`,
    });
  return { frames, emotion: labels[0] && join(emotionDir, labels[0]) };
}

/**
 * An emotion label whose sequence the image folder lacks (a copy that lost frames) would drop a labelled sequence
 * unseen. @throws DataFormatError naming the label file
 */
function refuseOrphanLabels(emotions: string, images: string, labelled: ReadonlySet<string>): void {
  for (const subject of folders(emotions, 'the emotion folder', ''))
    for (const sequence of folders(join(emotions, subject), 'the emotion folder', '')) {
      if (labelled.has(join(subject, sequence))) continue;
      const label = emotionFiles(join(emotions, subject, sequence))[0];
      if (label)
        throw new DataFormatError({
          file: join(emotions, subject, sequence, label),
          message: `labels a sequence that ${join(images, subject, sequence)} does not hold`,
        });
    }
}

/**
 * The items of one labelled sequence: the `peakFrames` frames numbered up to the peak its label file is named after,
 * with its emotion, and with `neutralFrame` its first frame as neutral (where that is no peak frame; counted where it
 * is). A sequence with fewer frames gives fewer, counted.
 * @throws DataFormatError naming the label when its peak frame, or a frame numbered between it and the others taken,
 *   is missing
 */
function sequenceItems(
  frames: readonly { n: number; path: string }[],
  emotion: string,
  dir: string,
  o: { peakFrames: number; neutralFrame: boolean },
  drops: DropCounter,
): { path: string; expression: ExpressionName; file: string }[] {
  const expression = CKPLUS_EMOTIONS[parseCkPlusEmotion(readTextFile(emotion, 'CK+ emotion file'), emotion)]!;
  const peakN = frameNumber(emotion)!;
  const from = Math.max(frames[0]?.n ?? peakN, peakN - o.peakFrames + 1);
  const out: { path: string; expression: ExpressionName; file: string }[] = [];
  for (let n = from; n <= peakN; n++) {
    const f = frames.find((x) => x.n === n);
    if (!f)
      throw new DataFormatError({
        file: emotion,
        message:
          n === peakN
            ? `labels frame ${peakN}, which ${dir} does not hold`
            : `labels frame ${peakN}; ${dir} lacks frame ${n}, one of the ${o.peakFrames} peak frames (a damaged copy?)`,
      });
    out.push({ path: f.path, expression, file: emotion });
  }
  if (out.length < o.peakFrames) drops.add('peak frames a sequence is too short to have', o.peakFrames - out.length);
  if (!o.neutralFrame) return out;
  if (frames[0]!.n < from) out.push({ path: frames[0]!.path, expression: 'neutral', file: emotion });
  else drops.add('no neutral first frame: the sequence is no longer than peakFrames');
  return out;
}

/**
 * CK+ (the Extended Cohn-Kanade dataset) as its release lays it out: for each sequence with an emotion label
 * (327 of 593), its last `peakFrames` frames up to the labelled peak frame (the frame the `_emotion.txt` is named
 * after), labelled with the sequence's emotion, and with `neutralFrame` its first frame as neutral. Items in path
 * order; sequences without a label are counted as dropped.
 * @throws DataFormatError naming the folder or file (a labelled frame missing, a label that is no code 0–7)
 */
export async function loadCkPlus(options: CkPlusOptions): Promise<LoadResult<ImageItem>> {
  const { peakFrames, neutralFrame, labelSet, outOfSet, extra } = checkCkPlusOptions(options);
  const expected =
    'expected the CK+ release: cohn-kanade-images/<subject>/<sequence>/ and Emotion/<subject>/<sequence>/';
  const [images, emotions] = [join(options.root, 'cohn-kanade-images'), join(options.root, 'Emotion')];
  if (!existsSync(emotions)) throw new DataFormatError({ file: emotions, message: `does not exist; ${expected}` });
  const drops = new DropCounter();
  const labelled = new Set<string>();
  const picked: { path: string; expression: ExpressionName; file: string }[] = [];
  for (const subject of folders(images, 'the image folder', expected, extra, drops))
    for (const sequence of folders(join(images, subject), 'the subject folder', expected, extra, drops)) {
      const dir = join(images, subject, sequence);
      const { frames, emotion } = readSequence(
        dir,
        join(emotions, subject, sequence),
        `${subject}_${sequence}_`,
        extra,
        drops,
      );
      if (!emotion) {
        drops.add('sequence without an emotion label');
        continue;
      }
      labelled.add(join(subject, sequence));
      picked.push(...sequenceItems(frames, emotion, dir, { peakFrames, neutralFrame }, drops));
    }
  refuseOrphanLabels(emotions, images, labelled);
  const items: ImageItem[] = [];
  for (const p of picked.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const label = expressionLabel(p.expression, labelSet, outOfSet, drops, {
      file: p.file,
      says: 'labels',
      things: 'items',
    });
    if (label !== undefined) items.push({ path: p.path, label });
  }
  await verifyImages(items, options.verify ?? 'none');
  return loadResult(items, labelSet, drops, options.root);
}
