/**
 * @file The original FER2013 release, `fer2013.csv`: one row per face, `emotion` (0..6), `pixels` (48 × 48 grey
 * values as text) and `Usage` (Training, PublicTest, PrivateTest). Runtime-neutral parsing and checks; the export to
 * image files is `exportFer2013Csv` of `@vlfer/datasets/node`.
 */
import { DataFormatError, quoteInput } from '@vlfer/core';
import { parseCsvText, requireColumns, type CsvRecord } from './csv.js';
import { ferPlusUsage, type FerPlusUsage } from './parsers.js';

/** Side of a FER2013 face in pixels. */
export const FER2013_SIZE = 48;

/**
 * FER2013's emotion ids 0..6 (the challenge's 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral) as
 * the class-folder names of its image release, which `loadImageFolder` matches to any label set by name.
 */
export const FER2013_CLASS_FOLDERS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;

/** One checked row of fer2013.csv. */
export interface Fer2013Row {
  /** 0-based among the data rows (FERPlus's `fer2013new.csv` is row-aligned to them; its image names are not the index). */
  index: number;
  /** 1-based line in the file. */
  line: number;
  /** FER2013 emotion id 0..6 (`FER2013_CLASS_FOLDERS`). */
  emotion: number;
  usage: FerPlusUsage;
  /** Grey values, row-major `[48, 48]`. */
  pixels: Uint8Array;
}

/** A row's 48 × 48 grey values: exactly 2304 integers 0..255 separated by single spaces. */
function fer2013Pixels(r: CsvRecord, file: string): Uint8Array {
  const text = r.cells.pixels ?? '';
  const parts = text.split(' ');
  const n = FER2013_SIZE * FER2013_SIZE;
  const fail = (message: string): never => {
    throw new DataFormatError({ file, line: r.line, field: 'pixels', message });
  };
  if (parts.length !== n)
    fail(`${parts.length} values, expected ${n} (48 × 48 grey values separated by single spaces)`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = parts[i]!;
    const v = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
    if (!(v <= 255)) fail(`value ${i + 1} is ${quoteInput(p)}, expected an integer 0..255`);
    out[i] = v;
  }
  return out;
}

/**
 * Parse fer2013.csv's text: the columns `emotion`, `pixels` and `Usage` by name (in any order, so the ICML copy's
 * `emotion, Usage, pixels` header reads too). Every row is checked: `emotion` an integer 0..6, `pixels` exactly
 * 48 × 48 integers 0..255, `Usage` exactly Training, PublicTest or PrivateTest.
 * @param file named in every error, with the line and field
 * @throws DataFormatError naming the file, line and field
 */
export function parseFer2013CsvText(text: string, file: string): Fer2013Row[] {
  const { header, records } = parseCsvText(text, file);
  requireColumns(file, header, ['emotion', 'pixels', 'Usage']);
  if (records.length === 0) throw new DataFormatError({ file, message: 'holds a header and no faces' });
  return records.map((r, index) => {
    const e = r.cells.emotion ?? '';
    if (!/^[0-6]$/.test(e))
      throw new DataFormatError({
        file,
        line: r.line,
        field: 'emotion',
        message: `${quoteInput(e)} is not a FER2013 emotion id 0..6 (${FER2013_CLASS_FOLDERS.map((c, k) => `${k} ${c}`).join(', ')})`,
      });
    return { index, line: r.line, emotion: Number(e), usage: ferPlusUsage(r, file), pixels: fer2013Pixels(r, file) };
  });
}
