import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AbortedError, DataFormatError, InvalidArgumentError, type ProgressCallback } from '@vlfer/core';
import { hashFile, readTextFile, writeJsonAtomic } from '@vlfer/core/node';
import { parseCsvText, requireColumns } from '../csv.js';
import { FER2013_CLASS_FOLDERS, FER2013_SIZE, parseFer2013CsvText, type Fer2013Row } from '../fer2013-csv.js';
import { ferPlusUsage, type FerPlusUsage } from '../parsers.js';
import { normalizeListedPath } from '../paths.js';
import { loadSharp } from './image-check.js';

/** FERPlus's image folders per Usage (its `generate_training_data.py`). */
const FERPLUS_FOLDERS: Record<FerPlusUsage, string> = {
  Training: 'FER2013Train',
  PublicTest: 'FER2013Valid',
  PrivateTest: 'FER2013Test',
};

export interface Fer2013ExportOptions {
  /** The original `fer2013.csv` (emotion, pixels, Usage). */
  csv: string;
  /** A directory that does not exist yet: written whole or not at all. */
  out: string;
  /**
   * FERPlus's `fer2013new.csv`, row-aligned with `csv`: the faces go to FERPlus's layout instead
   * (`FER2013Train/`, `FER2013Valid/`, `FER2013Test/`, each face named by its `Image name`; rows without one are
   * left out, as FERPlus's generator does), which `loadFerPlusCsv` reads with `imageRoot: out`.
   */
  ferPlusCsv?: string;
  /** Faces written at once. @default 8 */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
}

export interface Fer2013ExportResult {
  out: string;
  layout: 'class-folders' | 'ferplus';
  /** Faces written, per Usage. */
  written: Record<FerPlusUsage, number>;
  /** FERPlus layout: rows without an image name (removed by FERPlus). */
  skipped: number;
}

/** One face to write: where (relative to `out`) and its row. */
interface Fer2013Target {
  path: string;
  row: Fer2013Row;
}

/** Class-folder layout: `<Usage>/<class>/fer%07d.png`, the row index as FERPlus names the same face. */
function classFolderTargets(rows: readonly Fer2013Row[]): Fer2013Target[] {
  return rows.map((row) => ({
    path: join(row.usage, FER2013_CLASS_FOLDERS[row.emotion]!, `fer${String(row.index).padStart(7, '0')}.png`),
    row,
  }));
}

/**
 * FERPlus layout: row i of `fer2013new.csv` names row i of fer2013.csv. The files must have as many rows, and each
 * row the same Usage; image names must be unique and stay inside their folder.
 * @throws DataFormatError naming the FERPlus file, line and field
 */
function ferPlusTargets(rows: readonly Fer2013Row[], csv: string, file: string): Fer2013Target[] {
  const { header, records } = parseCsvText(readTextFile(file, 'FERPlus CSV'), file);
  requireColumns(file, header, ['Usage', 'Image name']);
  if (records.length !== rows.length)
    throw new DataFormatError({
      file,
      message: `has ${records.length} rows, ${csv} has ${rows.length}: FERPlus's rows name fer2013.csv's row by row, so both must be the complete files`,
    });
  const seen = new Map<string, number>();
  const targets: Fer2013Target[] = [];
  records.forEach((r, i) => {
    const row = rows[i]!;
    const usage = ferPlusUsage(r, file);
    if (usage !== row.usage)
      throw new DataFormatError({
        file,
        line: r.line,
        field: 'Usage',
        message: `is ${usage}, line ${row.line} of ${csv} is ${row.usage}: the two files are not row-aligned`,
      });
    const raw = r.cells['Image name'] ?? '';
    if (raw === '') return;
    const name = normalizeListedPath(raw, { file, line: r.line, field: 'Image name', root: `the ${usage} folder` });
    const path = join(FERPLUS_FOLDERS[usage], name);
    const earlier = seen.get(path);
    if (earlier !== undefined)
      throw new DataFormatError({
        file,
        line: r.line,
        field: 'Image name',
        message: `${path} is also line ${earlier}`,
      });
    seen.set(path, r.line);
    targets.push({ path, row });
  });
  return targets;
}

/** Encode the targets as PNG files under `dir`, `concurrency` at a time, reporting progress. */
async function writeFaces(dir: string, targets: readonly Fer2013Target[], o: Fer2013ExportOptions): Promise<void> {
  const sharp = await loadSharp();
  const raw = { width: FER2013_SIZE, height: FER2013_SIZE, channels: 1 as const };
  for (const d of new Set(targets.map((t) => dirname(t.path)))) mkdirSync(join(dir, d), { recursive: true });
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < targets.length) {
      if (o.signal?.aborted)
        throw new AbortedError('the FER2013 export (nothing was kept: rerun the same command to export again)', {
          cause: o.signal.reason,
        });
      const t = targets[next++]!;
      await sharp(Buffer.from(t.row.pixels), { raw }).toColourspace('b-w').png().toFile(join(dir, t.path));
      done++;
      if (done % 500 === 0 || done === targets.length)
        o.onProgress?.({ phase: 'export', done, total: targets.length, unit: 'faces' });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 8) }, worker));
}

/**
 * Export the original `fer2013.csv` to PNG files (48 × 48 grey, the pixels exactly), so the image loaders read it:
 * class folders per Usage (`out/PrivateTest/happy/fer0000012.png`: `loadImageFolder` or `--dataset fer2013 --root
 * out/PrivateTest`), or with `ferPlusCsv` FERPlus's layout (`loadFerPlusCsv` with `imageRoot: out`). Every row is
 * checked first (`parseFer2013CsvText`); nothing is written before. The faces are written into a temporary sibling
 * directory that becomes `out` only once complete, with `export.json` (row counts and the SHA-256 of the source
 * files); an error or an abort removes it.
 * @throws InvalidArgumentError naming `out` when it exists; DataFormatError naming the file, line and field;
 *   AbortedError once `signal` fires
 */
export async function exportFer2013Csv(o: Fer2013ExportOptions): Promise<Fer2013ExportResult> {
  const out = resolve(o.out);
  const refuseOut = () => {
    if (existsSync(out))
      throw new InvalidArgumentError({
        functionName: 'exportFer2013Csv',
        argument: 'out',
        message: `${out} already exists: choose a new directory (an export is written whole, never over files)`,
      });
  };
  refuseOut();
  const rows = parseFer2013CsvText(readTextFile(o.csv, 'FER2013 CSV'), o.csv);
  const targets = o.ferPlusCsv ? ferPlusTargets(rows, o.csv, o.ferPlusCsv) : classFolderTargets(rows);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = mkdtempSync(join(dirname(out), `.${basename(out)}.partial-`));
  try {
    await writeFaces(tmp, targets, o);
    const written = { Training: 0, PublicTest: 0, PrivateTest: 0 };
    for (const t of targets) written[t.row.usage]++;
    const layout = o.ferPlusCsv ? 'ferplus' : 'class-folders';
    const source = { file: resolve(o.csv), sha256: hashFile(o.csv), rows: rows.length };
    const ferPlus = o.ferPlusCsv ? { file: resolve(o.ferPlusCsv), sha256: hashFile(o.ferPlusCsv) } : null;
    const result = { out, layout, written, skipped: rows.length - targets.length } as const;
    writeJsonAtomic(join(tmp, 'export.json'), { ...result, out: undefined, source, ferPlus });
    refuseOut();
    renameSync(tmp, out);
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
