import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { DataFormatError, type LabelSet } from '@vlfer/core';
import { verifyImage, type ImageVerification } from './image-check.js';
import { BASIC_7, BASIC_8, NATIVE_LABELS, nativeToLabelId } from './label-sets.js';
import { countLabels, DropCounter, type ImageItem, type LoadResult } from './types.js';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new DataFormatError({ file, message: `cannot read ${what} (${(error as Error).message})`, cause: error });
  }
}

async function verifyAll(items: ImageItem[], mode: ImageVerification): Promise<void> {
  for (const it of items) await verifyImage(it.path, mode);
}

export interface RafDbOptions {
  /** RAF-DB `basic/` directory. */
  root: string;
  split: 'train' | 'test';
  /** @default 'aligned' (Image/aligned/<name>_aligned.jpg); 'original' uses Image/original/<name>.jpg */
  variant?: 'aligned' | 'original';
  /** @default <root>/EmoLabel/list_patition_label.txt (the official, misspelt, name) */
  annotations?: string;
  /** @default <root>/Image/<variant> */
  imageDir?: string;
  /** @default BASIC_7 */
  labelSet?: LabelSet;
  /** @default 'header' */
  verify?: ImageVerification;
}

/**
 * RAF-DB basic expressions from `list_patition_label.txt` (`train_00001.jpg 5`). RAF-DB's 1..7 order
 * (Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral) is mapped to the canonical order.
 */
export async function loadRafDb(options: RafDbOptions): Promise<LoadResult<ImageItem>> {
  const variant = options.variant ?? 'aligned';
  const file = options.annotations ?? join(options.root, 'EmoLabel', 'list_patition_label.txt');
  const imageDir = options.imageDir ?? join(options.root, 'Image', variant);
  const labelSet = options.labelSet ?? BASIC_7;
  const items: ImageItem[] = [];
  readText(file, 'the RAF-DB partition list').split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const [name, labelText, ...rest] = line.split(/\s+/);
    if (!name || labelText === undefined || rest.length > 0) throw new DataFormatError({ file, line: i + 1, message: `expected '<image name> <label 1..7>', got '${line}'` });
    if (!name.startsWith(`${options.split}_`)) return;
    const native = Number(labelText);
    const label = Number.isInteger(native) ? nativeToLabelId('raf-db', native, labelSet) : undefined;
    if (label === undefined) throw new DataFormatError({ file, line: i + 1, field: 'label', message: `label '${labelText}' out of range; expected an integer 1..7 (RAF-DB basic)` });
    const stem = name.replace(/\.[^.]+$/, '');
    items.push({ path: join(imageDir, variant === 'aligned' ? `${stem}_aligned.jpg` : name), label });
  });
  for (const it of items) if (!existsSync(it.path)) throw new DataFormatError({ file: it.path, message: `image listed in ${file} is missing` });
  await verifyAll(items, options.verify ?? 'header');
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: [], source: file };
}

function parseCsv(file: string, what: string): Record<string, string>[] {
  const text = readText(file, what);
  try {
    return parse(text, { columns: true, skip_empty_lines: true, trim: true, relax_column_count: false }) as Record<string, string>[];
  } catch (error) {
    throw new DataFormatError({ file, message: `malformed CSV (${(error as Error).message})`, cause: error });
  }
}

function requireColumns(file: string, rows: Record<string, string>[], columns: string[]): void {
  const have = rows.length > 0 ? Object.keys(rows[0]!) : [];
  for (const c of columns) if (rows.length > 0 && !have.includes(c)) throw new DataFormatError({ file, line: 1, field: c, message: `missing column '${c}'; header has: ${have.join(', ')}` });
}

export interface AffectNetOptions {
  /** `training.csv` or `validation.csv` from AffectNet's Manually_Annotated_file_lists. */
  csv: string;
  /** Directory that `subDirectory_filePath` is relative to (Manually_Annotated_Images). */
  imageRoot: string;
  /** 7 (no contempt) or 8 classes. @default 7 */
  classes?: 7 | 8;
  /**
   * Rows whose `expression` is not in the chosen classes (8 None, 9 Uncertain, 10 Non-Face, and 7 Contempt
   * for AffectNet-7): `'error'` or `'drop'` (counted in `dropped` by category). @default 'error'
   */
  outOfSet?: 'error' | 'drop';
  /** @default 'none' (AffectNet is large; check with 'header' when needed) */
  verify?: ImageVerification;
}

const AFFECTNET_EXTRA = ['none', 'uncertain', 'non-face'];

/** AffectNet CSV (`subDirectory_filePath, …, expression, valence, arousal`) with native ids mapped to canonical order. */
export async function loadAffectNetCsv(options: AffectNetOptions): Promise<LoadResult<ImageItem>> {
  const rows = parseCsv(options.csv, 'the AffectNet CSV');
  requireColumns(options.csv, rows, ['subDirectory_filePath', 'expression']);
  const labelSet = (options.classes ?? 7) === 8 ? BASIC_8 : BASIC_7;
  const dropped = new DropCounter();
  const items: ImageItem[] = [];
  rows.forEach((r, i) => {
    const native = Number(r.expression);
    if (!Number.isInteger(native) || native < 0 || native > 10) {
      throw new DataFormatError({ file: options.csv, line: i + 2, field: 'expression', message: `'${r.expression}' is not an AffectNet category 0..10` });
    }
    const label = nativeToLabelId('affectnet', native, labelSet);
    if (label === undefined) {
      const cat = native <= 7 ? NATIVE_LABELS.affectnet.names[native]! : AFFECTNET_EXTRA[native - 8]!;
      if ((options.outOfSet ?? 'error') === 'drop') { dropped.add(`expression ${native} (${cat}) not in ${labelSet.id}`); return; }
      throw new DataFormatError({ file: options.csv, line: i + 2, field: 'expression', message: `category ${native} (${cat}) is not in ${labelSet.id}; pass outOfSet: 'drop' to leave such rows out` });
    }
    items.push({ path: join(options.imageRoot, r.subDirectory_filePath!), label });
  });
  await verifyAll(items, options.verify ?? 'none');
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: dropped.list(), source: options.csv };
}

export interface FerPlusOptions {
  /** `fer2013new.csv` (Usage, Image name, neutral, happiness, …, contempt, unknown, NF). */
  csv: string;
  /** Directory with FER2013Train/, FER2013Valid/, FER2013Test/ (the FERPlus image export). */
  imageRoot: string;
  /** Keep rows of this Usage only. */
  usage?: 'Training' | 'PublicTest' | 'PrivateTest';
  /**
   * Rows without a majority emotion (after removing single votes, the top class must hold more than half the
   * votes and be one of the 8 emotions) and rows without an image name: `'drop'` (counted) or `'error'`.
   * FERPlus's own 'majority' mode drops them. @default 'drop'
   */
  noMajority?: 'drop' | 'error';
  /** @default 'none' */
  verify?: ImageVerification;
}

const FERPLUS_DIRS: Record<string, string> = { Training: 'FER2013Train', PublicTest: 'FER2013Valid', PrivateTest: 'FER2013Test' };
const FERPLUS_VOTES = [...NATIVE_LABELS.ferplus.names.map((n) => n as string), 'unknown', 'NF'];
const FERPLUS_HEADER = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt', 'unknown', 'NF'];

/**
 * FERPlus labels by majority vote, as Microsoft's FERPlus `majority` mode: votes of 1 are removed as
 * outliers, then the top class wins if it holds more than half of the remaining votes and is an emotion.
 */
export async function loadFerPlusCsv(options: FerPlusOptions): Promise<LoadResult<ImageItem>> {
  const rows = parseCsv(options.csv, 'the FERPlus CSV');
  requireColumns(options.csv, rows, ['Usage', 'Image name', ...FERPLUS_HEADER]);
  const labelSet = BASIC_8;
  const dropped = new DropCounter();
  const items: ImageItem[] = [];
  const policy = options.noMajority ?? 'drop';
  rows.forEach((r, i) => {
    const line = i + 2;
    if (options.usage && r.Usage !== options.usage) return;
    const dir = FERPLUS_DIRS[r.Usage!];
    if (!dir) throw new DataFormatError({ file: options.csv, line, field: 'Usage', message: `'${r.Usage}' is not Training, PublicTest or PrivateTest` });
    const votes = FERPLUS_HEADER.map((c) => {
      const v = Number(r[c]);
      if (!Number.isFinite(v) || v < 0) throw new DataFormatError({ file: options.csv, line, field: c, message: `'${r[c]}' is not a vote count` });
      return v <= 1 ? 0 : v;
    });
    const fail = (reason: string) => {
      if (policy === 'drop') { dropped.add(reason); return; }
      throw new DataFormatError({ file: options.csv, line, message: `${reason}; pass noMajority: 'drop' to leave such rows out` });
    };
    if (!r['Image name']) return fail('no image name (image removed by FERPlus)');
    const total = votes.reduce((s, v) => s + v, 0);
    let top = 0;
    for (let k = 1; k < votes.length; k++) if (votes[k]! > votes[top]!) top = k;
    if (total === 0 || votes[top]! <= 0.5 * total) return fail('no majority emotion');
    if (top >= 8) return fail(`majority is '${FERPLUS_VOTES[top]}'`);
    const label = labelSet.names.indexOf(NATIVE_LABELS.ferplus.names[top]!);
    items.push({ path: join(options.imageRoot, dir, r['Image name']!), label });
  });
  await verifyAll(items, options.verify ?? 'none');
  return { items, labelSet, counts: countLabels(items, labelSet.names.length), dropped: dropped.list(), source: options.csv };
}
