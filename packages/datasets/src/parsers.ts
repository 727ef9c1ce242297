import {
  checkOneOf,
  DataFormatError,
  InvalidArgumentError,
  parseNpyHeader,
  quoteInput,
  textLines,
  type LabelSet,
} from '@vlfer/core';
import {
  csvRecords,
  type CsvRecord,
  emptyFrom,
  parseCount,
  parseCsvRows,
  parseCsvText,
  requireColumns,
} from './csv.js';
import {
  BASIC_7,
  BASIC_8,
  canonicalExpression,
  MAFW_11,
  matchClassName,
  NATIVE_LABELS,
  nativeToLabelId,
  type ExpressionName,
} from './label-sets.js';
import { normalizeListedPath } from './paths.js';
import { DropCounter, type DroppedCount, type DuplicatePolicy } from './types.js';

/**
 * Parsers of annotation text held in memory (runtime-neutral: no file system). The `@vlfer/datasets/node`
 * loaders read the files, call these, then resolve and check paths. Every error names the file, line and field.
 */

/**
 * How the label column of a video list is read. Each scheme but 'label-set' fixes what an id means, and the id is
 * mapped into the run's label set by class name (so any label set order reads the list right):
 * - 'dfer-clip': the 0-based ids of the DFER-CLIP / Exp-CLIP lists (DFEW, FERV39k, AFEW, MAFW): 0 happiness,
 *   1 sadness, 2 neutral, 3 anger, 4 surprise, 5 disgust, 6 fear, 7 contempt, 8 anxiety, 9 helplessness,
 *   10 disappointment (`NATIVE_LABELS.mafw`);
 * - 'dfew-original': DFEW's own 1-based ids (1 happiness … 7 fear);
 * - 'mafw-hesp': HESP's MAFW annotation ids (`NATIVE_LABELS['mafw-hesp']`);
 * - 'label-set': 0-based positions in the given label set itself (lists written for a label set of one's own).
 */
export const LABEL_SCHEMES = ['dfer-clip', 'dfew-original', 'mafw-hesp', 'label-set'] as const;
export type LabelScheme = (typeof LABEL_SCHEMES)[number];

/** The native label order each fixed scheme reads its ids in. */
const SCHEME_LABELS = { 'dfer-clip': 'mafw', 'dfew-original': 'dfew', 'mafw-hesp': 'mafw-hesp' } as const;

/** Tracks keys already seen; a repeat is an error or counted as dropped. */
class Duplicates {
  private readonly seen = new Map<string, { line: number; label: number }>();
  constructor(
    private readonly file: string,
    private readonly policy: DuplicatePolicy,
    private readonly drops: DropCounter,
    private readonly what: string,
    functionName: string,
  ) {
    // a misspelt policy ('Drop') must not fall through to the other one
    checkOneOf(policy, ['error', 'drop'], { functionName, argument: 'duplicates' });
  }
  /** @returns true when the row is a duplicate to drop */
  check(key: string, label: number, line: number): boolean {
    const prev = this.seen.get(key);
    if (!prev) {
      this.seen.set(key, { line, label });
      return false;
    }
    if (prev.label !== label)
      throw new DataFormatError({
        file: this.file,
        line,
        message: `${this.what} ${quoteInput(key)} is listed again with another label (first at line ${prev.line})`,
      });
    if (this.policy === 'drop') {
      this.drops.add(`duplicate ${this.what}`);
      return true;
    }
    throw new DataFormatError({
      file: this.file,
      line,
      message: `${this.what} ${quoteInput(key)} is listed twice (first at line ${prev.line}); pass duplicates: 'drop' (CLI --duplicates drop) to keep the first and count the rest`,
    });
  }
}

export interface VideoListEntry {
  /**
   * The frame directory, normalised (`normalizeListedPath`; after `rebase`), relative to the root or absolute. A
   * relative path never leaves the root unless `allowOutsideRoot`.
   */
  dir: string;
  /** Whether `rebase` rewrote it (then it lies under `rebase.to`, which the caller chose). */
  rebased: boolean;
  numFrames: number;
  label: number;
  line: number;
}

export interface ParseVideoListOptions {
  file: string;
  /** @default 'dfer-clip' */
  labelScheme?: LabelScheme;
  /** @default BASIC_7 (MAFW_11 for 'mafw-hesp') */
  labelSet?: LabelSet;
  /** Rewrite the start of frame-directory paths (lists ship with the authors' absolute paths). */
  rebase?: { from: string; to: string };
  /** @default 'error' */
  duplicates?: DuplicatePolicy;
  /** Accept frame directories that leave the root (`../x`). @default false */
  allowOutsideRoot?: boolean;
}

/**
 * The label of one video-list row under `scheme` (`LABEL_SCHEMES`): `labelText` is the id, mapped into `labelSet`
 * by class name ('label-set': a position in `labelSet`), and a label text, when given, must name the same class (by
 * canonical expression or case-insensitively). @returns the label id in `labelSet`
 * @throws DataFormatError naming the line and the field 'label' (out of the scheme's range, or a class `labelSet`
 * lacks) or 'label text' (contradiction)
 */
export function videoListLabel(
  labelText: string,
  labelName: string | undefined,
  scheme: LabelScheme,
  labelSet: LabelSet,
  where: { file: string; line: number },
): number {
  // '-0' is no id (it read as 0)
  const native = /^-?\d{1,9}$/.test(labelText) && !/^-0+$/.test(labelText) ? Number(labelText) : undefined;
  const fixed = scheme === 'label-set' ? undefined : NATIVE_LABELS[SCHEME_LABELS[scheme]];
  const names: readonly string[] = fixed ? fixed.names : labelSet.names;
  const base = fixed ? fixed.base : 0;
  const className = native === undefined ? undefined : names[native - base];
  const fail = (message: string): never => {
    throw new DataFormatError({ ...where, field: 'label', message });
  };
  if (className === undefined)
    fail(
      `label ${quoteInput(labelText)} out of range; expected an integer ${base}..${base + names.length - 1} (${scheme} scheme${fixed ? '' : `, label set ${labelSet.id}`})`,
    );
  const label = fixed ? matchClassName(labelSet, className!) : native!;
  if (label < 0)
    fail(
      `label ${labelText} (= ${className} under the ${scheme} scheme) is not a class of label set ${labelSet.id} (${labelSet.names.join(', ')}); if the list's ids are positions in that label set, read it with labelScheme 'label-set'${scheme === 'dfer-clip' ? "; if they are DFEW's own 1-based ids (1 happiness … 7 fear), with 'dfew-original'" : ''}`,
    );
  // HESP's MAFW lists name every id's class; one without names is another list (DFER-CLIP's MAFW ids differ)
  if (scheme === 'mafw-hesp' && labelName === undefined)
    throw new DataFormatError({
      ...where,
      field: 'label text',
      message: `missing: HESP's MAFW lists name each class after its id ('… 0 Angry'), and a list without names (DFER-CLIP's MAFW lists, whose ids are in another order) would be misread; read it with labelScheme 'dfer-clip' (CLI --label-scheme dfer-clip), or add the names`,
    });
  if (labelName !== undefined && !sameClass(labelName, labelSet.names[label]!)) {
    const agrees = otherSchemeAgreeing(native!, labelName, scheme);
    throw new DataFormatError({
      ...where,
      field: 'label text',
      message: `${quoteInput(labelName)} contradicts label ${labelText} (= ${labelSet.names[label]} under the ${scheme} scheme)${agrees ? `; the list's ids and names agree under the '${agrees}' scheme: read it with labelScheme '${agrees}' (CLI --label-scheme ${agrees})` : ''}`,
    });
  }
  return label;
}

/** Whether a list's label text names `className` (by the expression it means, else by spelling). */
function sameClass(text: string, className: string): boolean {
  const c = canonicalExpression(text);
  return c !== undefined ? c === canonicalExpression(className) : text.toLowerCase() === className.toLowerCase();
}

/** The fixed scheme other than `scheme` under which id `native` is the class `text` names, if any. */
function otherSchemeAgreeing(native: number, text: string, scheme: LabelScheme): LabelScheme | undefined {
  return (Object.keys(SCHEME_LABELS) as (keyof typeof SCHEME_LABELS)[]).find((s) => {
    const { names, base } = NATIVE_LABELS[SCHEME_LABELS[s]];
    const name = names[native - base];
    return s !== scheme && name !== undefined && sameClass(text, name);
  });
}

/**
 * Rows that name one file or directory in two spellings, found once their paths are resolved (`c1` under the root
 * and its absolute path, a rebased and a relative row; RAF-DB's `x.jpg` and `x.JPG`, one aligned image): refused as
 * a repeated row is (another label always; the same label unless `policy` 'drop', which keeps the first row and
 * counts the others in `dropped`, added to the parser's counts).
 * @param key the resolved path of a row
 * @throws DataFormatError naming the file, the line and the first line of the path
 */
export function dropResolvedDuplicates<T extends { line: number; label: number }>(
  rows: readonly T[],
  key: (row: T) => string,
  options: { file: string; policy: DuplicatePolicy; what: string; dropped: readonly DroppedCount[] },
): { rows: T[]; dropped: DroppedCount[] } {
  const drops = new DropCounter();
  for (const d of options.dropped) drops.add(d.reason, d.count);
  const dups = new Duplicates(
    options.file,
    options.policy,
    drops,
    `${options.what} (resolved)`,
    'dropResolvedDuplicates',
  );
  const kept = rows.filter((r) => !dups.check(key(r), r.label, r.line));
  return { rows: kept, dropped: drops.list() };
}

/** A rebase's `from` as it is matched: without trailing slashes (`/authors/x/` is `/authors/x`; `/` stays). */
export function rebasePrefix(from: string): string {
  return from.replace(/(.)\/+$/, '$1');
}

/**
 * The frame directory of a video-list row, normalised (`normalizeListedPath`) after `options.rebase` rewrote its
 * start. The rebase target is the user's; the rest of the path comes from the list and must stay under it.
 * @throws DataFormatError naming the line and the field 'frame_dir'
 */
export function videoListFrameDir(
  dirToken: string,
  options: Pick<ParseVideoListOptions, 'file' | 'rebase' | 'allowOutsideRoot'>,
  line: number,
): { dir: string; rebased: boolean } {
  const where = { file: options.file, line, field: 'frame_dir', allowOutsideRoot: options.allowOutsideRoot ?? false };
  // the prefix matches whole path components: `/authors/x` rewrites `/authors/x/a`, never `/authors/xy/a`
  const from = options.rebase && rebasePrefix(options.rebase.from);
  const rebased =
    from !== undefined && (dirToken === from || dirToken.startsWith(from.endsWith('/') ? from : `${from}/`));
  if (!rebased) return { dir: normalizeListedPath(dirToken, { ...where, root: 'the root', absolute: true }), rebased };
  const to = options.rebase!.to;
  const rest = normalizeListedPath(dirToken.slice(from!.length).replace(/^\/+/, ''), {
    ...where,
    root: `the rebase target '${to}'`,
  });
  return { dir: to === '' ? rest : `${to.replace(/\/+$/, '')}/${rest}`, rebased };
}

/**
 * Splits a trimmed, non-empty video-list row into `<frame_dir> <num_frames> <label> [label text]` and checks that
 * num_frames is a positive integer. @throws DataFormatError naming the line (and the field 'num_frames')
 */
export function splitVideoListRow(
  t: string,
  where: { file: string; line: number },
): { dirToken: string; numFrames: number; labelText: string; labelName: string | undefined } {
  const tokens = t.split(/\s+/);
  if (tokens.length < 3 || tokens.length > 4)
    throw new DataFormatError({
      ...where,
      message: `expected '<frame_dir> <num_frames> <label> [label text]', got ${quoteInput(t)}`,
    });
  const [dirToken, nText, labelText, labelName] = tokens as [string, string, string, string | undefined];
  if (!/^\d{1,9}$/.test(nText) || Number(nText) <= 0)
    throw new DataFormatError({
      ...where,
      field: 'num_frames',
      message: `${quoteInput(nText)} is not a positive integer`,
    });
  return { dirToken, numFrames: Number(nText), labelText, labelName };
}

/**
 * Video annotation lists as used by DFER-CLIP, Exp-CLIP and HESP: `<frame_dir> <num_frames> <label> [label text]`.
 * The label is read by `labelScheme` (`LABEL_SCHEMES`: 'dfer-clip', the DFER-CLIP lists' ids, by default;
 * 'dfew-original'; 'mafw-hesp'; 'label-set', positions in `labelSet`) into `labelSet`; a label text must agree.
 * Per row: {@link splitVideoListRow} → {@link videoListLabel} → {@link videoListFrameDir} → duplicates.
 */
export function parseVideoListText(
  text: string,
  options: ParseVideoListOptions,
): { entries: VideoListEntry[]; dropped: DroppedCount[]; labelSet: LabelSet } {
  const { file } = options;
  const scheme = options.labelScheme ?? 'dfer-clip';
  if (!(LABEL_SCHEMES as readonly string[]).includes(scheme))
    throw new DataFormatError({
      file,
      message: `unknown label scheme '${scheme}'; expected ${LABEL_SCHEMES.join(', ')}`,
    });
  const labelSet = options.labelSet ?? (scheme === 'mafw-hesp' ? MAFW_11 : BASIC_7);
  const drops = new DropCounter();
  const dups = new Duplicates(file, options.duplicates ?? 'error', drops, 'frame directory', 'parseVideoListText');
  const entries: VideoListEntry[] = [];
  textLines(text).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (!t) return;
    const { dirToken, numFrames, labelText, labelName } = splitVideoListRow(t, { file, line });
    const label = videoListLabel(labelText, labelName, scheme, labelSet, { file, line });
    const { dir, rebased } = videoListFrameDir(dirToken, options, line);
    if (dups.check(dir, label, line)) return;
    entries.push({ dir, rebased, numFrames, label, line });
  });
  if (entries.length === 0) throw new DataFormatError({ file, message: 'the annotation list has no clips' });
  return { entries, dropped: drops.list(), labelSet };
}

/** A clip of DFEW's own split file: its CSV line, frame directory name and label text (DFEW's 1-based id). */
export interface DfewSplitRow {
  line: number;
  /** `{video_name:05d}`: the clip's folder under DFEW's `Clip/clip_224x224` (or `clip_224x224_16f`) */
  clip: string;
  label: string;
}

/** The header cells of a CSV line (split at commas, or at semicolons or tabs: named later), trimmed, unquoted, lower-cased. */
const headerCells = (line: string) =>
  line.split(/[,;\t]/).map((c) =>
    c
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .trim()
      .toLowerCase(),
  );

/**
 * Whether `text` is DFEW's own split file (`EmoLabel_DataSplit/train(single-labeled)/set_1.csv`): a first line with
 * the columns `video_name` and `label` (any case, any order, other columns beside them).
 */
export function isDfewSplitCsv(text: string): boolean {
  const first = textLines(text.replace(/^\uFEFF/, '')).find((l) => l.trim() !== '');
  if (first === undefined || !/[,;\t]/.test(first)) return false;
  const cells = headerCells(first);
  return cells.includes('video_name') && cells.includes('label');
}

/**
 * The rows of DFEW's own split files (`EmoLabel_DataSplit/{train,test}(single-labeled)/set_{1..5}.csv`, columns
 * `video_name` and `label` in any case): each clip number as the name of its frame folder, zero-padded to 5 digits as
 * DFEW ships them (`Clip/clip_224x224/00001/`), and its label, DFEW's 1-based id 1..7 (1 happy … 7 fear; 0, a clip
 * without a single label, is refused: the single-labeled splits do not hold it). Runtime-neutral.
 * @throws DataFormatError naming the file, line and field: a clip number that is not one, a label that is no id 1..7,
 *   a row of another width, a column named twice
 */
export function parseDfewSplitCsv(text: string, file: string): DfewSplitRow[] {
  const { header, records } = parseCsvText(text, file);
  const column = (name: string) => {
    // parseCsvText has unquoted and trimmed the header's names
    const found = header.filter((h) => h.toLowerCase() === name);
    if (found.length !== 1)
      throw new DataFormatError({
        file,
        line: 1,
        message: `${found.length ? `column '${name}' appears ${found.length} times` : `no column '${name}'`} in the header (DFEW's split files: video_name,label)`,
      });
    return found[0]!;
  };
  const [videoName, labelColumn] = [column('video_name'), column('label')];
  const rows = records.map(({ line, cells }) => {
    const v = cells[videoName]!.trim();
    if (!/^\d{1,5}$/.test(v) || Number(v) === 0)
      throw new DataFormatError({
        file,
        line,
        field: 'video_name',
        message: `${quoteInput(v)} is not a DFEW clip number (1 to 5 digits, e.g. 1 or 00001 for the folder 00001)`,
      });
    const label = cells[labelColumn]!.trim();
    if (label === '0')
      throw new DataFormatError({
        file,
        line,
        field: 'label',
        message: "0 marks a clip without a single label; DFEW's single-labeled split files hold 1..7",
      });
    if (!/^\d{1,3}$/.test(label) || Number(label) < 1 || Number(label) > 7)
      throw new DataFormatError({
        file,
        line,
        field: 'label',
        message: `${quoteInput(label)} is not a DFEW label id; expected 1..7 (1 happy, 2 sad, 3 neutral, 4 angry, 5 surprise, 6 disgust, 7 fear)`,
      });
    return { line, clip: v.padStart(5, '0'), label: String(Number(label)) };
  });
  if (rows.length === 0) throw new DataFormatError({ file, message: 'the split file has no clips' });
  return rows;
}

export interface RafDbEntry {
  name: string;
  label: number;
  line: number;
}

/** What `parseRafDbListText` takes. */
export interface RafDbListOptions {
  file: string;
  split: 'train' | 'test';
  labelSet?: LabelSet;
  duplicates?: DuplicatePolicy;
  /** Accept image names that leave the image folder (`../x.jpg`). @default false */
  allowOutsideRoot?: boolean;
}

/**
 * One trimmed, non-empty line of `list_patition_label.txt`, checked whichever split it belongs to: the image name
 * (normalised, `train_…` or `test_…`) and the label mapped into `labelSet`.
 * @throws DataFormatError naming the line and the field 'image name' or 'label'
 */
export function rafDbListLine(
  t: string,
  options: RafDbListOptions,
  labelSet: LabelSet,
  line: number,
): { name: string; split: 'train' | 'test'; label: number } {
  const { file } = options;
  const [written, labelText, ...rest] = t.split(/\s+/);
  if (!written || labelText === undefined || rest.length > 0)
    throw new DataFormatError({ file, line, message: `expected '<image name> <label 1..7>', got ${quoteInput(t)}` });
  const name = normalizeListedPath(written, {
    file,
    line,
    field: 'image name',
    root: 'the image folder',
    allowOutsideRoot: options.allowOutsideRoot ?? false,
  });
  const split = /^(train|test)_/.exec(name.slice(name.lastIndexOf('/') + 1))?.[1] as 'train' | 'test' | undefined;
  if (split === undefined)
    throw new DataFormatError({
      file,
      line,
      field: 'image name',
      message: `${quoteInput(written)} names no RAF-DB split; expected 'train_<n>.jpg' or 'test_<n>.jpg'`,
    });
  const native = /^\d{1,2}$/.test(labelText) ? Number(labelText) : undefined;
  const className = native === undefined ? undefined : NATIVE_LABELS['raf-db'].names[native - 1];
  if (className === undefined)
    throw new DataFormatError({
      file,
      line,
      field: 'label',
      message: `label ${quoteInput(labelText)} out of range; expected an integer 1..7 (RAF-DB basic)`,
    });
  const label = nativeToLabelId('raf-db', native!, labelSet);
  if (label === undefined)
    throw new DataFormatError({
      file,
      line,
      field: 'label',
      message: `label ${native} (= ${className} in RAF-DB) is not a class of label set ${labelSet.id} (${labelSet.names.join(', ')}); every RAF-DB class needs one in the label set`,
    });
  return { name, split, label };
}

/**
 * RAF-DB `list_patition_label.txt` (`train_00001.jpg 5`), native 1..7 (Surprise, Fear, Disgust, Happiness,
 * Sadness, Anger, Neutral) mapped into `labelSet` (default BASIC_7). Every line is checked (`rafDbListLine`), those of
 * the other split too: a bad line is an error, never skipped; a list without an image of `split` is an error.
 */
export function parseRafDbListText(
  text: string,
  options: RafDbListOptions,
): { entries: RafDbEntry[]; dropped: DroppedCount[] } {
  const { file } = options;
  const labelSet = options.labelSet ?? BASIC_7;
  const drops = new DropCounter();
  const dups = new Duplicates(file, options.duplicates ?? 'error', drops, 'image', 'parseRafDbListText');
  const entries: RafDbEntry[] = [];
  textLines(text).forEach((raw, i) => {
    const t = raw.trim();
    if (!t) return;
    const { name, split, label } = rafDbListLine(t, options, labelSet, i + 1);
    if (split !== options.split || dups.check(name, label, i + 1)) return;
    entries.push({ name, label, line: i + 1 });
  });
  if (entries.length === 0)
    throw new DataFormatError({
      file,
      message: `lists no ${options.split} images (names 'train_<n>.jpg' or 'test_<n>.jpg')`,
    });
  return { entries, dropped: drops.list() };
}

export interface AffectNetEntry {
  path: string;
  label: number;
  line: number;
}
const AFFECTNET_EXTRA = ['none', 'uncertain', 'non-face'];

/** The columns of AffectNet's Manually_Annotated_file_lists CSVs, in order (`training.csv`'s header). */
export const AFFECTNET_COLUMNS = [
  'subDirectory_filePath',
  'face_x',
  'face_y',
  'face_width',
  'face_height',
  'facial_landmarks',
  'expression',
  'valence',
  'arousal',
] as const;

/**
 * The header and records of an AffectNet CSV. `training.csv` has a header row; the official `validation.csv` starts
 * with a data row, which is recognised (nine cells, an image path first, an integer `expression` seventh) and read
 * with `AFFECTNET_COLUMNS`. Any other first row is taken as a header and checked by `requireColumns`.
 */
export function affectNetRecords(text: string, file: string): { header: string[]; records: CsvRecord[] } {
  const rows = parseCsvRows(text, file);
  const first = rows[0];
  // nine cells without the header's names: validation.csv's first data row, or a damaged one (named, not taken as a
  // header whose numbers would repeat)
  if (
    first &&
    first.cells.length >= AFFECTNET_COLUMNS.length &&
    emptyFrom(first.cells, AFFECTNET_COLUMNS.length) && // (Excel's empty trailing cells)
    !first.cells.some((c) => c.trim() === 'subDirectory_filePath')
  ) {
    const [path, , , , , , expression] = first.cells.map((c) => c.trim());
    const bad = !/\.(jpe?g|png|bmp|tiff?|webp)$/i.test(path!)
      ? { field: 'subDirectory_filePath', value: path!, want: 'an image path (.jpg, .png, …)' }
      : !/^\d{1,2}$/.test(expression!)
        ? { field: 'expression', value: expression!, want: 'an AffectNet category 0..10' }
        : undefined;
    if (bad)
      throw new DataFormatError({
        file,
        line: first.line,
        field: bad.field,
        message: `the first row is neither AffectNet's header (${AFFECTNET_COLUMNS.join(', ')}) nor a data row as validation.csv starts with: ${quoteInput(bad.value)} is not ${bad.want}`,
      });
    return csvRecords([{ line: 0, cells: [...AFFECTNET_COLUMNS] }, ...rows], file);
  }
  return csvRecords(rows, file);
}

/** The AffectNet category 0..10 of a row's `expression` cell (an empty cell is an error, not 0). */
export function affectNetCategory(r: CsvRecord, file: string): number {
  const native = parseCount(
    r.cells.expression,
    { file, line: r.line, field: 'expression' },
    'an AffectNet category 0..10',
  );
  if (native > 10)
    throw new DataFormatError({
      file,
      line: r.line,
      field: 'expression',
      message: `${quoteInput(r.cells.expression ?? '')} is not an AffectNet category 0..10`,
    });
  return native;
}

/** A row's `subDirectory_filePath`, normalised under the image root. @throws DataFormatError when empty or escaping */
export function affectNetPath(r: CsvRecord, file: string, allowOutsideRoot: boolean): string {
  const written = r.cells.subDirectory_filePath!;
  if (!written) throw new DataFormatError({ file, line: r.line, field: 'subDirectory_filePath', message: 'is empty' });
  return normalizeListedPath(written, {
    file,
    line: r.line,
    field: 'subDirectory_filePath',
    root: 'the image root',
    allowOutsideRoot,
  });
}

/**
 * AffectNet CSV (`subDirectory_filePath, …, expression, valence, arousal`; with a header row as `training.csv`, or
 * without one as the official `validation.csv`, `affectNetRecords`): `expression` must be an integer
 * 0..10 (an empty cell is an error, not 0); categories outside the label set (8 None, 9 Uncertain, 10 Non-Face, and 7
 * Contempt for 7 classes) are an error unless `outOfSet: 'drop'` (counted by category).
 * @param options.labelSet default BASIC_7 (`classes` 7) or BASIC_8 (8)
 */
export function parseAffectNetCsvText(
  text: string,
  options: {
    file: string;
    classes?: 7 | 8;
    labelSet?: LabelSet;
    outOfSet?: 'error' | 'drop';
    duplicates?: DuplicatePolicy;
    /** Accept paths that leave the image root (`../x.jpg`). @default false */
    allowOutsideRoot?: boolean;
  },
): { entries: AffectNetEntry[]; dropped: DroppedCount[]; labelSet: LabelSet } {
  const { file } = options;
  const { header, records } = affectNetRecords(text, file);
  requireColumns(file, header, ['subDirectory_filePath', 'expression']);
  // a misspelt policy or class count must not fall through to the other choice
  const where = (argument: string) => ({ functionName: 'parseAffectNetCsvText', argument });
  const classes = options.classes ?? 7;
  if (classes !== 7 && classes !== 8)
    throw new InvalidArgumentError({ ...where('classes'), message: `expected 7 or 8, got ${String(classes)}` });
  const outOfSet = checkOneOf(options.outOfSet ?? 'error', ['error', 'drop'], where('outOfSet'));
  const labelSet = options.labelSet ?? (classes === 8 ? BASIC_8 : BASIC_7);
  const drops = new DropCounter();
  const dups = new Duplicates(file, options.duplicates ?? 'error', drops, 'image', 'parseAffectNetCsvText');
  const entries: AffectNetEntry[] = [];
  for (const r of records) {
    const native = affectNetCategory(r, file);
    const path = affectNetPath(r, file, options.allowOutsideRoot ?? false);
    // every row, those left out too: an image listed as category 8 and again as 1 contradicts itself either way
    if (dups.check(path, native, r.line)) continue;
    const label = affectNetLabel(native, labelSet, outOfSet, drops, { file, line: r.line, field: 'expression' });
    if (label !== undefined) entries.push({ path, label, line: r.line });
  }
  return { entries, dropped: drops.list(), labelSet };
}

/**
 * An AffectNet category (0..10, `NATIVE_LABELS.affectnet` then 8 None, 9 Uncertain, 10 Non-Face) as a class id of
 * `labelSet`: one outside it (and Contempt for 7 classes) is counted in `drops` with `outOfSet: 'drop'` (returns
 * undefined), else refused naming `where`.
 * @throws DataFormatError `category 8 (none) is not in basic-7; pass outOfSet: 'drop' to leave such rows out`
 */
export function affectNetLabel(
  native: number,
  labelSet: LabelSet,
  outOfSet: 'error' | 'drop',
  drops: DropCounter,
  where: { file: string; line?: number; field?: string },
): number | undefined {
  const label = native <= 7 ? nativeToLabelId('affectnet', native, labelSet) : undefined;
  if (label !== undefined) return label;
  const cat = native <= 7 ? NATIVE_LABELS.affectnet.names[native]! : AFFECTNET_EXTRA[native - 8]!;
  if (outOfSet === 'drop') {
    drops.add(`expression ${native} (${cat}) not in ${labelSet.id}`);
    return undefined;
  }
  throw new DataFormatError({
    ...where,
    message: `category ${native} (${cat}) is not in ${labelSet.id}; pass outOfSet: 'drop' to leave such ${where.line === undefined ? 'images' : 'rows'} out`,
  });
}

/**
 * An expression (from a file name, a label file) as a class id of `labelSet`: one outside it is counted in `drops`
 * with `outOfSet: 'drop'` (returns undefined), else refused naming `where.file`, which `where.says` the expression
 * (`is`, `labels`) and whose `where.things` would be left out.
 * @throws DataFormatError `is 'neutral', which is not in the label set basic-6; pass outOfSet: 'drop' to leave such images out`
 */
export function expressionLabel(
  expression: ExpressionName,
  labelSet: LabelSet,
  outOfSet: 'error' | 'drop',
  drops: DropCounter,
  where: { file: string; says: string; things: string },
): number | undefined {
  const label = matchClassName(labelSet, expression);
  if (label >= 0) return label;
  if (outOfSet === 'drop') {
    drops.add(`'${expression}' not in ${labelSet.id}`);
    return undefined;
  }
  throw new DataFormatError({
    file: where.file,
    message: `${where.says} '${expression}', which is not in the label set ${labelSet.id}; pass outOfSet: 'drop' to leave such ${where.things} out`,
  });
}

/** NumPy dtypes of a one-value `.npy` label: strings (`<U`, `|S`), integers and floats, either byte order. */
const NPY_NUMBER = /^([<>|=])([iuf])([1248])$/;

/**
 * The one value of a small `.npy` file as an AffectNet category, as the `*_exp.npy` annotations of AffectNet's
 * train_set/val_set release hold it: a 0-d (or one-element) array of a string (`<U1` '3', `|S2` b'10'), an integer
 * or an integral float. NPY format versions 1 to 3; C or Fortran order is the same for one value.
 * @throws DataFormatError naming the file for anything else, or a category outside 0..10
 */
export function parseAffectNetExpNpy(bytes: Uint8Array, file: string): number {
  const bad = (message: string) => new DataFormatError({ file, message });
  const { descr, shape, dataOffset } = parseNpyHeader(bytes, file);
  if (shape.some((d) => d !== '1'))
    throw bad(
      `holds ${descr} of shape (${shape.join(', ')}${shape.length === 1 ? ',' : ''}); expected one value (shape () or (1,))`,
    );
  const data = bytes.subarray(dataOffset);
  let text: string;
  const str = /^([<>|=])([US])(\d+)$/.exec(descr);
  const num = NPY_NUMBER.exec(descr);
  if (str) {
    const n = Number(str[3]) * (str[2] === 'U' ? 4 : 1);
    if (data.length < n) throw bad(`ends inside its ${descr} value`);
    const little = str[1] !== '>';
    const chars =
      str[2] === 'U'
        ? Array.from({ length: n / 4 }, (_, k) =>
            new DataView(data.buffer, data.byteOffset + 4 * k, 4).getUint32(0, little),
          )
        : Array.from(data.subarray(0, n));
    text = String.fromCodePoint(...chars.filter((c) => c !== 0));
  } else if (num) {
    const size = Number(num[3]);
    if (data.length < size) throw bad(`ends inside its ${descr} value`);
    const dv = new DataView(data.buffer, data.byteOffset, size);
    const little = num[1] !== '>';
    const read = {
      i: [dv.getInt8, dv.getInt16, dv.getInt32, dv.getBigInt64],
      u: [dv.getUint8, dv.getUint16, dv.getUint32, dv.getBigUint64],
      f: [undefined, undefined, dv.getFloat32, dv.getFloat64],
    }[num[2] as 'i' | 'u' | 'f'][Math.log2(size)];
    if (!read) throw bad(`holds dtype ${descr}; expected a string, an integer or a float32/float64`);
    text = String((read as (this: DataView, at: number, little: boolean) => number | bigint).call(dv, 0, little));
  } else throw bad(`holds dtype ${descr}; expected a string, an integer or a float`);
  if (!/^\s*(?:10|[0-9])(?:\.0*)?\s*$/.test(text))
    throw bad(`holds ${quoteInput(text)}; expected an AffectNet expression category 0..10`);
  return Number.parseInt(text, 10);
}

export const FERPLUS_USAGES = ['Training', 'PublicTest', 'PrivateTest'] as const;
export type FerPlusUsage = (typeof FERPLUS_USAGES)[number];
const FERPLUS_VOTE_COLUMNS = [
  'neutral',
  'happiness',
  'surprise',
  'sadness',
  'anger',
  'disgust',
  'fear',
  'contempt',
  'unknown',
  'NF',
];

export interface FerPlusEntry {
  usage: FerPlusUsage;
  imageName: string;
  label: number;
  line: number;
}

/** A row's `Usage`, exactly Training, PublicTest or PrivateTest. @throws DataFormatError naming the field */
export function ferPlusUsage(r: CsvRecord, file: string): FerPlusUsage {
  const usage = r.cells.Usage as FerPlusUsage;
  if (!(FERPLUS_USAGES as readonly string[]).includes(usage))
    throw new DataFormatError({
      file,
      line: r.line,
      field: 'Usage',
      message: `${quoteInput(r.cells.Usage ?? '')} is not ${FERPLUS_USAGES.join(', ')} (exact spelling)`,
    });
  return usage;
}

/**
 * A row's 10 vote counts (neutral … contempt, unknown, NF), with votes of 1 removed as outliers (set to 0), as
 * FERPlus's `majority` mode. @throws DataFormatError naming the column of a vote that is not a count
 */
export function ferPlusVotes(r: CsvRecord, file: string): number[] {
  return FERPLUS_VOTE_COLUMNS.map((c) => {
    const v = parseCount(r.cells[c], { file, line: r.line, field: c }, 'a vote count');
    return v <= 1 ? 0 : v;
  });
}

/**
 * FERPlus's majority vote over the 10 vote counts of {@link ferPlusVotes}: the top class (first on ties) wins if it
 * holds more than half the votes and is one of the 8 emotions in `labelSet`. @returns its label id in `labelSet`,
 * or the reason the row has none (no majority; majority 'unknown' or 'NF'; a class outside `labelSet`)
 */
export function ferPlusMajority(votes: readonly number[], labelSet: LabelSet): { label: number } | { reason: string } {
  const total = votes.reduce((s, v) => s + v, 0);
  let top = 0;
  for (let k = 1; k < votes.length; k++) if (votes[k]! > votes[top]!) top = k;
  if (total === 0 || votes[top]! <= 0.5 * total) return { reason: 'no majority emotion' };
  if (top >= 8) return { reason: `majority is '${FERPLUS_VOTE_COLUMNS[top]}'` };
  const label = matchClassName(labelSet, NATIVE_LABELS.ferplus.names[top]!);
  if (label < 0) return { reason: `majority '${NATIVE_LABELS.ferplus.names[top]}' is not in ${labelSet.id}` };
  return { label };
}

/**
 * FERPlus `fer2013new.csv` by majority vote, as Microsoft's FERPlus `majority` mode: votes of 1 are removed as
 * outliers, then the top class wins if it holds more than half of the remaining votes and is one of the 8
 * emotions. `Usage` must be exactly Training, PublicTest or PrivateTest (a typo is an error, not a silent drop);
 * votes must be integers. Rows without a majority or an image name: `noMajority` 'drop' (counted, default) or 'error'.
 *
 * An image name given by several rows of one Usage (the real file names `fer0006953.png`, `fer0008403.png` and
 * `fer0011785.png` twice among its Training rows, `fer0033120.png` twice among its PrivateTest rows) is one file, and
 * it holds the face of the last such row: FERPlus's `generate_training_data.py` (and `exportFer2013Csv`) write the
 * rows in order, each over the one before. So the last row's votes label it, the earlier rows are counted in
 * `dropped`, and where their votes differ (`fer0033120.png`: neutral, then not a face) `warnings` says so, naming
 * the lines. No two entries name one image.
 *
 * FERPlus's per-folder `label.csv` (`data/FER2013{Train,Valid,Test}/label.csv` of the FERPlus repository, which its
 * `ferplus.py` reads: no header; image name, face box `"(0, 0, 48, 48)"`, the 10 vote counts) is read the same way,
 * its rows of `folderUsage` (the Usage its folder stands for). Its votes differ from `fer2013new.csv`'s for 1,602 of
 * the 35,710 images (the majority labels of 66 of the 3,573 test images); Exp-CLIP's FERPlus test counts (disgust
 * 16, fear 86, contempt 15) are label.csv's.
 */
export function parseFerPlusCsvText(
  text: string,
  options: {
    file: string;
    usage?: FerPlusUsage;
    /** The Usage of a per-folder `label.csv` (FER2013Train: Training, FER2013Valid: PublicTest, FER2013Test: PrivateTest). */
    folderUsage?: FerPlusUsage;
    labelSet?: LabelSet;
    noMajority?: 'drop' | 'error';
    /** Accept image names that leave their image folder (`../x.png`). @default false */
    allowOutsideRoot?: boolean;
  },
): { entries: FerPlusEntry[]; dropped: DroppedCount[]; labelSet: LabelSet; warnings: string[] } {
  const { file } = options;
  const records = isFerPlusLabelCsv(text) ? ferPlusLabelCsvRecords(text, options) : ferPlusNewRecords(text, file);
  const labelSet = options.labelSet ?? BASIC_8;
  const drops = new DropCounter();
  const policy = checkOneOf(options.noMajority ?? 'drop', ['drop', 'error'], {
    functionName: 'parseFerPlusCsvText',
    argument: 'noMajority',
  });
  const rows = records.map((r) => ferPlusRow(r, options));
  const last = lastRowPerImage(rows);
  const entries: FerPlusEntry[] = [];
  // the earlier rows of each image whose votes differ from its last row's (said once per image)
  const repeated = new Map<string, CsvRecord[]>();
  for (const { r, usage, votes, key, imageName } of rows) {
    const line = r.line;
    if (options.usage && usage !== options.usage) continue;
    const fail = (reason: string) => {
      if (policy === 'drop') {
        drops.add(reason);
        return;
      }
      throw new DataFormatError({ file, line, message: `${reason}; pass noMajority: 'drop' to leave such rows out` });
    };
    if (key === undefined) {
      fail('no image name (image removed by FERPlus)');
      continue;
    }
    const later = last.get(key)!;
    if (later.r.line !== line) {
      drops.add("image named again by a later row (its file holds the later row's face)");
      if (later.votes.join() !== votes.join()) repeated.set(key, [...(repeated.get(key) ?? []), r]);
      continue;
    }
    const vote = ferPlusMajority(votes, labelSet);
    if ('reason' in vote) {
      fail(vote.reason);
      continue;
    }
    entries.push({ usage, imageName: imageName!, label: vote.label, line });
  }
  const warnings = repeatedNameWarnings(file, repeated, last);
  return { entries, dropped: drops.list(), labelSet, warnings };
}

/** The rows of fer2013new.csv (`Usage,Image name,neutral,…,NF`). */
function ferPlusNewRecords(text: string, file: string): CsvRecord[] {
  const { header, records } = parseCsvText(text, file);
  requireColumns(file, header, ['Usage', 'Image name', ...FERPLUS_VOTE_COLUMNS]);
  return records;
}

const FERPLUS_BOX = /^\(\s*\d+,\s*\d+,\s*\d+,\s*\d+\s*\)$/;

/**
 * Whether `text` is a FERPlus per-folder `label.csv` rather than `fer2013new.csv`: its first row (blank lines skipped,
 * quotes read as CSV) is no header naming `Usage` but a data row whose second cell is a face box `(x, y, w, h)` (or
 * an attempt at one, so that a malformed first row is named as such, not read as a header).
 */
export function isFerPlusLabelCsv(text: string): boolean {
  // the first rows only (a data row is short, a header one line), cut at a line end
  const head = text.length > 4096 ? text.slice(0, text.lastIndexOf('\n', 4096) + 1) : text;
  let first: { cells: string[] } | undefined;
  try {
    [first] = parseCsvRows(head, 'label.csv');
  } catch {
    return false; // not CSV that far: the fer2013new.csv reader names the problem
  }
  if (!first || first.cells.includes('Usage')) return false;
  return first.cells.length >= 2 && /^\s*\(/.test(first.cells[1]!);
}

/**
 * The rows of a per-folder `label.csv` as fer2013new.csv's records (Usage `folderUsage`), each checked to hold an
 * image name, a face box and 10 vote counts. @throws DataFormatError naming the file, line and field
 */
function ferPlusLabelCsvRecords(text: string, options: { file: string; folderUsage?: FerPlusUsage }): CsvRecord[] {
  const { file, folderUsage } = options;
  if (folderUsage === undefined)
    throw new DataFormatError({
      file,
      message:
        "is FERPlus's per-folder label.csv (no header: image name, face box, 10 votes), whose Usage is its folder's: keep it in FER2013Train, FER2013Valid or FER2013Test, or give usage",
    });
  return parseCsvRows(text, file).map(({ line, cells }) => {
    if (cells.length < 2 + FERPLUS_VOTE_COLUMNS.length || !emptyFrom(cells, 2 + FERPLUS_VOTE_COLUMNS.length))
      throw new DataFormatError({
        file,
        line,
        message: `has ${cells.length} cells; FERPlus's label.csv rows have ${2 + FERPLUS_VOTE_COLUMNS.length} (image name, face box, ${FERPLUS_VOTE_COLUMNS.join(', ')})`,
      });
    if (!FERPLUS_BOX.test(cells[1]!))
      throw new DataFormatError({
        file,
        line,
        field: 'face box',
        message: `${quoteInput(cells[1]!)} is not a face box "(x, y, w, h)"`,
      });
    const votes = Object.fromEntries(FERPLUS_VOTE_COLUMNS.map((c, k) => [c, cells[2 + k]!]));
    return { line, cells: { Usage: folderUsage, 'Image name': cells[0]!, ...votes } };
  });
}

/** The warning on images named by rows with other votes than their last (`repeated`: the earlier rows), one per image. */
function repeatedNameWarnings(
  file: string,
  repeated: ReadonlyMap<string, CsvRecord[]>,
  last: ReadonlyMap<string, FerPlusRow>,
): string[] {
  const said = [...repeated].map(
    ([key, earlier]) =>
      `${key} (${[...earlier, last.get(key)!.r].map((x) => `line ${x.line}: votes ${rawVotes(x)}`).join('; ')})`,
  );
  if (!said.length) return [];
  return [
    `${file}: ${said.length} image name${said.length === 1 ? ' is' : 's are'} given by rows with other votes; each file holds the face of the last such row (FERPlus's generate_training_data.py writes the rows in order), whose votes label it: ${said.slice(0, 5).join('; ')}${said.length > 5 ? '; …' : ''}`,
  ];
}

/** A row's 10 vote counts as written (neutral … contempt, unknown, NF). */
const rawVotes = (r: CsvRecord) => FERPLUS_VOTE_COLUMNS.map((c) => r.cells[c]).join(',');

/** One checked row of fer2013new.csv: Usage, the votes (`ferPlusVotes`), and `Usage/name` where it names an image. */
interface FerPlusRow {
  r: CsvRecord;
  usage: FerPlusUsage;
  votes: number[];
  imageName?: string;
  key?: string;
}

function ferPlusRow(r: CsvRecord, options: { file: string; allowOutsideRoot?: boolean }): FerPlusRow {
  const { file } = options;
  const usage = ferPlusUsage(r, file);
  const votes = ferPlusVotes(r, file);
  if (!r.cells['Image name']) return { r, usage, votes };
  const imageName = normalizeListedPath(r.cells['Image name'], {
    file,
    line: r.line,
    field: 'Image name',
    root: `the ${usage} image folder`,
    allowOutsideRoot: options.allowOutsideRoot ?? false,
  });
  return { r, usage, votes, imageName, key: `${usage}/${imageName}` };
}

/** The last row naming each image (`Usage/name`): the one whose face FERPlus's generator leaves in its file. */
function lastRowPerImage(rows: readonly FerPlusRow[]): Map<string, FerPlusRow> {
  const last = new Map<string, FerPlusRow>();
  for (const row of rows) if (row.key !== undefined) last.set(row.key, row);
  return last;
}
