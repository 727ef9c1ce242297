import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  AbortedError,
  checkHooks,
  checkPositiveInteger,
  DataFormatError,
  describeValue,
  InvalidArgumentError,
  mapConcurrently,
  quoteInput,
  type ProgressCallback,
} from '@vlfer/core';
import {
  currentProcess,
  ensureDir,
  hashFile,
  processGone,
  readTextFile,
  writeJsonAtomic,
  type ProcessRecord,
} from '@vlfer/core/node';
import { parseCsvText, requireColumns } from '../csv.js';
import { FER2013_CLASS_FOLDERS, FER2013_SIZE, parseFer2013CsvText, type Fer2013Row } from '../fer2013-csv.js';
import { ferPlusUsage, isFerPlusLabelCsv, type FerPlusUsage } from '../parsers.js';
import { loadSharp } from './sharp-optional.js';

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
  /** What the export did besides writing `out` (the temporary directories of killed exports it removed). */
  log?: (line: string) => void;
}

export interface Fer2013ExportResult {
  out: string;
  layout: 'class-folders' | 'ferplus';
  /** Faces written, per Usage. */
  written: Record<FerPlusUsage, number>;
  /** FERPlus layout: rows without an image name (removed by FERPlus). */
  skipped: number;
  /**
   * FERPlus layout: rows whose image name a later row of the same Usage gives again, so that the file holds the later
   * row's face, as FERPlus's generator leaves it (the real `fer2013new.csv` has 4: three Training names and
   * `fer0033120.png` of PrivateTest). Also in export.json.
   */
  replaced: { path: string; line: number; by: number }[];
}

const ABORTED = 'the FER2013 export (nothing written; rerun the same command)';

/** One face to write: where (relative to `out`) and its row. */
interface Fer2013Target {
  path: string;
  row: Fer2013Row;
}

/**
 * Class-folder layout: `<Usage>/<class>/row%05d.png`, the face's 0-based row among fer2013.csv's data rows (its line
 * is row + 2). Not FERPlus's `fer%07d.png` names: those skip rows and drift from the row (its face
 * `fer0032220.png` is row 32298), so a class-folder file is never taken for the FERPlus face of that name.
 */
function classFolderTargets(rows: readonly Fer2013Row[]): Fer2013Target[] {
  return rows.map((row) => ({
    path: join(row.usage, FER2013_CLASS_FOLDERS[row.emotion]!, `row${String(row.index).padStart(5, '0')}.png`),
    row,
  }));
}

/**
 * FERPlus layout: row i of `fer2013new.csv` names row i of fer2013.csv. The files must have as many rows, and each
 * row the same Usage; image names must be plain `.png` file names. A name given again by a later row of the same
 * Usage is that row's face, as FERPlus's `generate_training_data.py` writes the rows in order, each over the one
 * before (`replaced`); names that differ only in case are refused (one file on case-insensitive file systems, two
 * on others).
 * @throws DataFormatError naming the FERPlus file, line and field
 */
function ferPlusTargets(
  rows: readonly Fer2013Row[],
  csv: string,
  file: string,
): { targets: Fer2013Target[]; replaced: Fer2013ExportResult['replaced'] } {
  const text = readTextFile(file, 'FERPlus CSV');
  if (isFerPlusLabelCsv(text))
    throw new DataFormatError({
      file,
      message:
        "is FERPlus's per-folder label.csv (image name, face box, votes: the rows of one folder); the export needs fer2013new.csv, whose rows name fer2013.csv's row by row",
    });
  const { header, records } = parseCsvText(text, file);
  requireColumns(file, header, ['Usage', 'Image name']);
  if (records.length !== rows.length)
    throw new DataFormatError({
      file,
      message: `has ${records.length} rows, ${csv} has ${rows.length}: FERPlus's rows name fer2013.csv's row by row, so both must be the complete files`,
    });
  const seen = new Map<string, { path: string; line: number }>();
  const targets = new Map<string, Fer2013Target & { line: number }>();
  const replaced: Fer2013ExportResult['replaced'] = [];
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
    const name = (r.cells['Image name'] ?? '').trim(); // FERPlus's generator strips each cell
    if (name === '') return;
    const where = { file, line: r.line, field: 'Image name' };
    // a plain PNG file name, as all of FERPlus's are (fer0000000.png): the export writes PNG bytes, flat per folder
    if (!/^[^/\\]+\.png$/i.test(name) || name === '.png' || Buffer.byteLength(name) > 255)
      throw new DataFormatError({
        ...where,
        message: `${quoteInput(name)} is not a file name ending in .png (FERPlus names its images fer0000000.png)`,
      });
    const path = join(FERPLUS_FOLDERS[usage], name);
    // compared without case: names that differ only in case are one file on case-insensitive file systems
    const earlier = seen.get(path.toLowerCase());
    if (earlier !== undefined && earlier.path !== path)
      throw new DataFormatError({
        ...where,
        message: `${path} and ${earlier.path} (line ${earlier.line}) differ only in case: one file on some file systems, two on others`,
      });
    if (earlier !== undefined) replaced.push({ path, line: earlier.line, by: r.line });
    seen.set(path.toLowerCase(), { path, line: r.line });
    targets.delete(path); // re-inserted: the faces are written in the order of their last rows
    targets.set(path, { path, row, line: r.line });
  });
  return { targets: [...targets.values()].map(({ path, row }) => ({ path, row })), replaced };
}

const EXPORT_OPTION_KEYS = ['csv', 'out', 'ferPlusCsv', 'concurrency', 'signal', 'onProgress', 'log'] as const;

/**
 * The options of {@link exportFer2013Csv}, checked before anything is read: a `concurrency` of NaN wrote no face and
 * reported the export done, a misspelt option was ignored.
 * @throws InvalidArgumentError naming the option
 */
function checkExportOptions(o: Fer2013ExportOptions): void {
  const functionName = 'exportFer2013Csv';
  if (o === null || typeof o !== 'object')
    throw new InvalidArgumentError({ functionName, argument: 'options', message: 'expected { csv, out, … }' });
  const unknown = Object.keys(o).filter((k) => !(EXPORT_OPTION_KEYS as readonly string[]).includes(k));
  if (unknown.length)
    throw new InvalidArgumentError({
      functionName,
      argument: unknown[0]!,
      message: `is not an option of exportFer2013Csv (it takes ${EXPORT_OPTION_KEYS.join(', ')})`,
    });
  for (const k of ['csv', 'out', 'ferPlusCsv'] as const)
    if ((k !== 'ferPlusCsv' || o[k] !== undefined) && (typeof o[k] !== 'string' || o[k] === ''))
      throw new InvalidArgumentError({
        functionName,
        argument: k,
        message: `expected a path, got ${describeValue(o[k])}`,
      });
  if (o.concurrency !== undefined) checkPositiveInteger(o.concurrency, { functionName, argument: 'concurrency' });
  checkHooks(o, functionName);
}

/** Encode the targets as PNG files under `dir`, `concurrency` at a time, reporting progress. */
async function writeFaces(dir: string, targets: readonly Fer2013Target[], o: Fer2013ExportOptions): Promise<void> {
  const sharp = await loadSharp();
  const raw = { width: FER2013_SIZE, height: FER2013_SIZE, channels: 1 as const };
  for (const d of new Set(targets.map((t) => dirname(t.path)))) mkdirSync(join(dir, d), { recursive: true });
  let done = 0;
  // after a failure or a stop no write starts, and the writes in flight settle before the error reaches the caller
  o.onProgress?.({ phase: 'export', done: 0, total: targets.length, unit: 'faces' });
  await mapConcurrently(targets, o.concurrency ?? 8, async (t) => {
    if (o.signal?.aborted) throw new AbortedError(ABORTED, { cause: o.signal.reason });
    await sharp(Buffer.from(t.row.pixels), { raw }).toColourspace('b-w').png().toFile(join(dir, t.path));
    done++;
    if (done % 500 === 0 || done === targets.length)
      o.onProgress?.({ phase: 'export', done, total: targets.length, unit: 'faces' });
  });
}

/** Whether anything, a dangling symbolic link included, is at `path`. */
function pathTaken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    // not there, or a path through a file (ENOTDIR): nothing is taken, and creating it fails and is said so
    if (['ENOENT', 'ENOTDIR'].includes((error as { code?: string }).code ?? '')) return false;
    throw error;
  }
}

/** Inside an export's temporary directory: the process writing it (`currentProcess`), until it becomes `out`. */
const EXPORT_OWNER_FILE = '.vlfer-export-owner.json';

/**
 * Remove the temporary directories (`.<out's name>.partial-…`) of earlier exports to `out` whose process was killed:
 * those whose owner record names a process of this host that is gone (`processGone`). Others (a live export, one on
 * another host of a shared file system, one without a record) are left alone.
 */
function removeKilledExports(out: string, log: ((line: string) => void) | undefined): void {
  const prefix = `.${basename(out)}.partial-`;
  for (const name of readdirSync(dirname(out))) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(dirname(out), name);
    let owner: ProcessRecord;
    try {
      owner = JSON.parse(readFileSync(join(dir, EXPORT_OWNER_FILE), 'utf8')) as ProcessRecord;
    } catch {
      continue; // no record: not known to be dead
    }
    if (!processGone(owner)) continue;
    rmSync(dir, { recursive: true, force: true });
    log?.(`removed ${dir}, left by an export killed before it finished (pid ${owner.pid})`);
  }
}

/**
 * Export the original `fer2013.csv` to PNG files (48 × 48 grey, the pixels exactly), so the image loaders read it:
 * class folders per Usage (`out/PrivateTest/happy/row00012.png`, the row's index: `loadImageFolder` or `--dataset fer2013 --root
 * out/PrivateTest`), or with `ferPlusCsv` FERPlus's layout (`loadFerPlusCsv` with `imageRoot: out`). Every row is
 * checked first (`parseFer2013CsvText`); nothing is written before. The faces are written into a temporary sibling
 * directory (`.<out's name>.partial-…`) that becomes `out` only once complete, with `export.json` (row counts and the
 * SHA-256 of the source files); an error or an abort removes it after every write has settled. A killed process
 * (SIGKILL, power loss) leaves it behind, with the record of its process: the next export to `out` on this host
 * removes it once that process is gone.
 * @throws InvalidArgumentError naming `out` when something is there; DataFormatError naming the file, line and
 *   field; AbortedError once `signal` fires
 */
export async function exportFer2013Csv(o: Fer2013ExportOptions): Promise<Fer2013ExportResult> {
  checkExportOptions(o);
  const out = resolve(o.out);
  const refuseOut = () => {
    if (pathTaken(out))
      throw new InvalidArgumentError({
        functionName: 'exportFer2013Csv',
        argument: 'out',
        message: `${out} already exists: choose a new directory (an export is written whole, never over files)`,
      });
  };
  refuseOut();
  const rows = parseFer2013CsvText(readTextFile(o.csv, 'FER2013 CSV'), o.csv);
  const { targets, replaced } =
    o.ferPlusCsv !== undefined
      ? ferPlusTargets(rows, o.csv, o.ferPlusCsv)
      : { targets: classFolderTargets(rows), replaced: [] };
  // the checks above hold the event loop for seconds on the whole file: a stop asked for meanwhile is seen here,
  // before anything is created
  await new Promise((done) => setImmediate(done));
  if (o.signal?.aborted) throw new AbortedError(ABORTED, { cause: o.signal.reason });
  // mkdir, not mkdtemp: the directory gets the umask's permissions (mkdtemp's are 0700), and keeps them as `out`
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    ensureDir(dirname(out));
    removeKilledExports(out, o.log);
    mkdirSync(tmp);
    writeFileSync(join(tmp, EXPORT_OWNER_FILE), `${JSON.stringify(currentProcess())}\n`);
  } catch (error) {
    throw new InvalidArgumentError({
      functionName: 'exportFer2013Csv',
      argument: 'out',
      message: `cannot create ${out}: its folder ${dirname(out)} cannot be written (${(error as { code?: string }).code ?? (error as Error).message}; the export is first written beside it, then renamed)`,
      cause: error,
    });
  }
  // an exit while it exists (a second Ctrl-C, which the command line answers with process.exit) removes it too
  const removeTmp = () => rmSync(tmp, { recursive: true, force: true });
  process.on('exit', removeTmp);
  try {
    await writeFaces(tmp, targets, o);
    const written = { Training: 0, PublicTest: 0, PrivateTest: 0 };
    for (const t of targets) written[t.row.usage]++;
    const layout = o.ferPlusCsv !== undefined ? 'ferplus' : 'class-folders';
    const source = { file: resolve(o.csv), sha256: hashFile(o.csv), rows: rows.length };
    const ferPlus = o.ferPlusCsv !== undefined ? { file: resolve(o.ferPlusCsv), sha256: hashFile(o.ferPlusCsv) } : null;
    const skipped = rows.length - targets.length - replaced.length;
    const result = { out, layout, written, skipped, replaced } as const;
    writeJsonAtomic(join(tmp, 'export.json'), { ...result, out: undefined, source, ferPlus });
    rmSync(join(tmp, EXPORT_OWNER_FILE));
    refuseOut();
    renameSync(tmp, out);
    return result;
  } finally {
    process.off('exit', removeTmp);
    removeTmp();
  }
}
