import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { DataFormatError, type LabelSet } from '@vlfer/core';
import { isImageFile } from './image-check.js';
import { BASIC_7, canonicalExpression, MAFW_11, NATIVE_LABELS, nativeToLabelId, type NativeLabelScheme } from './label-sets.js';
import { countLabels, type LoadResult, type VideoItem } from './types.js';

/** The frame images of a frame directory, sorted by name (Python's `sorted(glob(dir/*))` for ASCII names). */
export function listFrames(frameDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(frameDir);
  } catch (error) {
    throw new DataFormatError({ file: frameDir, message: `cannot read the frame directory (${(error as Error).message})`, cause: error });
  }
  return names.filter(isImageFile).sort().map((n) => join(frameDir, n));
}

export interface VideoListOptions {
  /** Annotation list, one clip per line: `<frame_dir> <num_frames> <label> [label text]`. */
  file: string;
  /**
   * How to read the label column. DFER-CLIP/Exp-CLIP lists for DFEW, FERV39k, MAFW, AFEW are 0-based in the
   * canonical order ('dfer-clip'); 'dfew-original' is DFEW's 1-based label; 'mafw-hesp' is HESP's MAFW order.
   * @default 'dfer-clip'
   */
  labelScheme?: 'dfer-clip' | 'dfew-original' | 'mafw-hesp';
  /** @default BASIC_7 (MAFW_11 for 'mafw-hesp') */
  labelSet?: LabelSet;
  /** Prefix for relative frame directories. @default the annotation file's directory */
  root?: string;
  /** Rewrite the start of frame-directory paths (lists ship with the authors' absolute paths). */
  rebase?: { from: string; to: string };
  /**
   * `'count'` (default): each frame dir must exist and hold exactly `num_frames` images;
   * `'exists'`: it must exist; `'none'`: no file-system check.
   */
  checkFrames?: 'count' | 'exists' | 'none';
}

/**
 * Video annotation lists as used by DFER-CLIP, Exp-CLIP and HESP. Errors name the file, line and field:
 * a missing frame dir, a frame-count mismatch, a label out of range, a label text that contradicts the id.
 * Frame directories with spaces in their path are not supported (the format is space-separated).
 */
export function loadVideoList(options: VideoListOptions): LoadResult<VideoItem> {
  const { file } = options;
  const scheme = options.labelScheme ?? 'dfer-clip';
  const labelSet = options.labelSet ?? (scheme === 'mafw-hesp' ? MAFW_11 : BASIC_7);
  const root = options.root ?? join(file, '..');
  const check = options.checkFrames ?? 'count';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new DataFormatError({ file, message: `cannot read the annotation list (${(error as Error).message})`, cause: error });
  }
  const items: VideoItem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (!t) return;
    const tokens = t.split(/\s+/);
    if (tokens.length < 3 || tokens.length > 4) throw new DataFormatError({ file, line, message: `expected '<frame_dir> <num_frames> <label> [label text]', got '${t}'` });
    const [dirToken, nText, labelText, labelName] = tokens as [string, string, string, string | undefined];
    const numFrames = Number(nText);
    if (!Number.isInteger(numFrames) || numFrames <= 0) throw new DataFormatError({ file, line, field: 'num_frames', message: `'${nText}' is not a positive integer` });
    const native = Number(labelText);
    let label: number | undefined;
    if (Number.isInteger(native)) {
      if (scheme === 'dfer-clip') label = native >= 0 && native < labelSet.names.length ? native : undefined;
      else label = nativeToLabelId(scheme === 'dfew-original' ? 'dfew' : ('mafw-hesp' satisfies NativeLabelScheme), native, labelSet);
    }
    if (label === undefined) {
      const range = scheme === 'dfew-original' ? `1..${NATIVE_LABELS.dfew.names.length}` : `0..${labelSet.names.length - 1}`;
      throw new DataFormatError({ file, line, field: 'label', message: `label '${labelText}' out of range; expected an integer ${range} (${scheme} scheme, ${labelSet.id})` });
    }
    if (labelName !== undefined) {
      const c = canonicalExpression(labelName);
      if (c !== labelSet.names[label]) throw new DataFormatError({ file, line, field: 'label text', message: `'${labelName}' contradicts label ${labelText} (= ${labelSet.names[label]} under the ${scheme} scheme)` });
    }
    let dir = dirToken;
    if (options.rebase && dir.startsWith(options.rebase.from)) dir = options.rebase.to + dir.slice(options.rebase.from.length);
    const frameDir = isAbsolute(dir) ? dir : join(root, dir);
    if (check !== 'none') {
      let isDir = false;
      try { isDir = statSync(frameDir).isDirectory(); } catch { isDir = false; }
      if (!isDir) throw new DataFormatError({ file, line, field: 'frame_dir', message: `frame directory '${frameDir}' does not exist${options.rebase ? '' : ' (use rebase to map the authors\' absolute paths)'}` });
      if (check === 'count') {
        const n = listFrames(frameDir).length;
        if (n !== numFrames) throw new DataFormatError({ file, line, field: 'num_frames', message: `says ${numFrames} frames but '${frameDir}' holds ${n} images` });
      }
    }
    items.push({ frameDir, numFrames, label, line });
  });
  if (items.length === 0) throw new DataFormatError({ file, message: 'the annotation list has no clips' });
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: [], source: file };
}
