import { DataFormatError, quoteInput, quoteJson } from '@vlfer/core';

/** One data row of a CSV text: its 1-based line number and its cells by header name. */
export interface CsvRecord {
  line: number;
  cells: Record<string, string>;
}

/** Where a CSV scan stands: the text (BOM removed), the index of the next character and its 1-based line. */
export interface CsvCursor {
  readonly src: string;
  readonly file: string;
  i: number;
  line: number;
}

/**
 * Reads a quoted field starting at the opening quote (doubled quotes are one quote; newlines inside count lines),
 * leaving the cursor after the closing quote. @throws DataFormatError when the quote does not close, or another
 * character than a comma or line end follows it
 */
export function readQuotedCell(cur: CsvCursor, startLine: number): string {
  const { src, file } = cur;
  let i = cur.i + 1;
  let cell = '';
  for (;;) {
    if (i >= src.length)
      throw new DataFormatError({
        file,
        line: startLine,
        message: 'a quoted field is not closed before the end of the file',
      });
    const ch = src[i]!;
    if (ch === '"') {
      if (src[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      i++;
      break;
    }
    if (ch === '\n' || (ch === '\r' && src[i + 1] !== '\n')) cur.line++;
    cell += ch;
    i++;
  }
  cur.i = i;
  if (i < src.length && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r')
    throw new DataFormatError({
      file,
      line: cur.line,
      message: `unexpected character ${quoteInput(src[i]!)} after a closing quote${separatorHint(src[i]!)}`,
    });
  return cell;
}

const OTHER_SEPARATORS: ReadonlyMap<string, string> = new Map([
  [';', 'semicolons (Excel writes these where the decimal separator is a comma)'],
  ['\t', 'tabs'],
]);

/** `; the file looks separated by semicolons …` where `ch` is another separator than the comma, else ''. */
function separatorHint(ch: string): string {
  const what = OTHER_SEPARATORS.get(ch);
  return what ? `; the file looks separated by ${what}: save it as comma-separated CSV` : '';
}

/**
 * A first line with no comma outside quotes but a semicolon or tab there is a file separated by them, which every
 * reader here would refuse for a missing column or a quote out of place. (More semicolons than commas is no sign:
 * AffectNet's header-less `validation.csv` starts with a data row whose landmarks cell joins 136 numbers with `;`.
 * A header with commas and semicolons is named by `requireColumns`.) @throws DataFormatError naming the separator
 */
function refuseOtherSeparator(firstLine: string, line: number, file: string): void {
  const count = new Map<string, number>();
  let quoted = false;
  for (const ch of firstLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted) count.set(ch, (count.get(ch) ?? 0) + 1);
  }
  if (count.has(',')) return;
  const ch = [...OTHER_SEPARATORS.keys()].find((c) => count.has(c));
  if (ch)
    throw new DataFormatError({
      file,
      line,
      message: `the first row has no comma but ${ch === ';' ? "';'" : 'tabs'}${separatorHint(ch)}`,
    });
}

/** Reads an unquoted field up to a comma or line end, trimmed. @throws DataFormatError when it holds a quote */
export function readPlainCell(cur: CsvCursor): string {
  const { src } = cur;
  const s = cur.i;
  let i = s;
  while (i < src.length && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') i++;
  cur.i = i;
  const cell = src.slice(s, i).trim();
  if (cell.includes('"'))
    throw new DataFormatError({
      file: cur.file,
      line: cur.line,
      message: `a quote inside an unquoted field: ${quoteJson(cell)}`,
    });
  return cell;
}

/** Reads one row's cells and its line end (CRLF, LF or a lone CR), leaving the cursor at the next row. */
export function readCsvRow(cur: CsvCursor): string[] {
  const startLine = cur.line;
  const cells: string[] = [];
  for (;;) {
    cells.push(cur.src[cur.i] === '"' ? readQuotedCell(cur, startLine) : readPlainCell(cur));
    if (cur.src[cur.i] === ',') {
      cur.i++;
      continue;
    }
    const end = cur.src[cur.i];
    if (end === '\r' || end === '\n') {
      cur.i += end === '\r' && cur.src[cur.i + 1] === '\n' ? 2 : 1;
      cur.line++;
    }
    return cells;
  }
}

/**
 * The header (trimmed, each name once) and records of CSV rows; every record has as many cells as the header.
 * @throws DataFormatError naming the line of an empty file, a repeated column or a row of another width
 */
export function csvRecords(
  rows: ReadonlyArray<{ line: number; cells: string[] }>,
  file: string,
): { header: string[]; records: CsvRecord[] } {
  if (rows.length === 0) throw new DataFormatError({ file, message: 'the CSV file is empty (no header)' });
  const written = rows[0]!.cells.map((h) => h.trim());
  // Excel writes a column once used as an empty header name and empty cells: left out, each checked to be empty
  let width = written.length;
  while (width > 1 && written[width - 1] === '') width--;
  const header = written.slice(0, width);
  const dup = header.find((h, k) => header.indexOf(h) !== k);
  if (dup !== undefined)
    throw new DataFormatError({
      file,
      line: rows[0]!.line,
      message: `column ${quoteInput(dup)} appears twice in the header`,
    });
  const records = rows.slice(1).map((r) => {
    // (a row may end in more empty cells than the header has columns: Excel's columns once used, again)
    if (r.cells.length < header.length || (r.cells.length > written.length && !emptyFrom(r.cells, written.length)))
      throw new DataFormatError({
        file,
        line: r.line,
        message: `${r.cells.length} cell${r.cells.length === 1 ? '' : 's'}, the header has ${header.length} columns${width < written.length ? ` (and ${written.length - width} unnamed ones after them)` : ''}`,
      });
    const stray = r.cells.findIndex((c, k) => k >= width && c !== '');
    if (stray >= 0)
      throw new DataFormatError({
        file,
        line: r.line,
        message: `cell ${stray + 1} holds ${quoteInput(r.cells[stray]!)} under a column without a name in the header`,
      });
    return { line: r.line, cells: Object.fromEntries(header.map((h, k) => [h, r.cells[k]!])) };
  });
  return { header, records };
}

/** Whether every cell from index `k` on is empty. */
export const emptyFrom = (cells: readonly string[], k: number): boolean => cells.slice(k).every((c) => c === '');

/**
 * Parse CSV text strictly (RFC 4180: quoted fields with doubled quotes, CRLF, LF or CR line ends): a UTF-8 BOM is
 * removed, header names and unquoted cells are trimmed, every row must have as many cells as the header, and a
 * quote that does not close is an error. Empty lines are skipped. Runtime-neutral.
 * Stages: {@link readCsvRow} per row ({@link readQuotedCell}, {@link readPlainCell}) → {@link csvRecords}.
 * @param file named in every error, with the line
 */
export function parseCsvText(text: string, file: string): { header: string[]; records: CsvRecord[] } {
  return csvRecords(parseCsvRows(text, file), file);
}

/** The non-empty rows of a CSV text with their 1-based lines (`parseCsvText` without the header step). */
export function parseCsvRows(text: string, file: string): { line: number; cells: string[] }[] {
  const cur: CsvCursor = { src: text.replace(/^\uFEFF/, ''), file, i: 0, line: 1 };
  const rows: { line: number; cells: string[] }[] = [];
  while (cur.i < cur.src.length) {
    const line = cur.line;
    if (rows.length === 0) {
      // the first row's raw text, before a quote or a semicolon inside it stops the cell reader
      const end = cur.src.slice(cur.i, cur.i + 65536).search(/\r|\n|$/);
      refuseOtherSeparator(cur.src.slice(cur.i, cur.i + end), line, file);
    }
    const cells = readCsvRow(cur);
    // empty lines, and rows of empty cells only (Excel writes ',,,' for rows once used)
    if (!cells.every((c) => c === '')) rows.push({ line, cells });
  }
  return rows;
}

/**
 * Throws naming the first missing column and listing the header (BOM already removed); where the header holds `;` or
 * tabs, says that the file looks separated by them (Excel in locales with decimal commas writes `;`).
 */
export function requireColumns(file: string, header: readonly string[], columns: readonly string[]): void {
  for (const c of columns)
    if (!header.includes(c)) {
      const other = [...OTHER_SEPARATORS.keys()].find((ch) => header.some((h) => h.includes(ch)));
      throw new DataFormatError({
        file,
        line: 1,
        field: c,
        message: `missing column '${c}'; the header has: ${quoteInput(header.join(', '))}${other ? separatorHint(other) : ''}`,
      });
    }
}

/** A cell that must be a non-negative integer written in decimal digits only ('' or '3.0' are errors). */
export function parseCount(
  value: string | undefined,
  where: { file: string; line: number; field: string },
  what: string,
): number {
  if (value === undefined || !/^\d{1,15}$/.test(value))
    throw new DataFormatError({
      ...where,
      message: `${quoteJson(value ?? '')} is not ${what} (a non-negative integer)`,
    });
  return Number(value);
}
