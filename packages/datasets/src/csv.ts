import { DataFormatError, quoteInput, quoteJson } from '@vlfer/core';

/** One data row of a CSV text: its 1-based line number and its cells by header name. */
export interface CsvRecord {
  line: number;
  cells: Record<string, string>;
}

/**
 * Parse CSV text strictly (RFC 4180: quoted fields with doubled quotes, CRLF or LF line ends): a UTF-8 BOM is
 * removed, header names and unquoted cells are trimmed, every row must have as many cells as the header, and a
 * quote that does not close is an error. Empty lines are skipped. Runtime-neutral.
 * @param file named in every error, with the line
 */
export function parseCsvText(text: string, file: string): { header: string[]; records: CsvRecord[] } {
  const src = text.replace(/^\uFEFF/, '');
  const rows: { line: number; cells: string[] }[] = [];
  let i = 0;
  let line = 1;
  while (i < src.length) {
    const startLine = line;
    const cells: string[] = [];
    for (;;) {
      let cell = '';
      if (src[i] === '"') {
        i++;
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
          if (ch === '\n') line++;
          cell += ch;
          i++;
        }
        if (i < src.length && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r')
          throw new DataFormatError({
            file,
            line,
            message: `unexpected character ${quoteInput(src[i]!)} after a closing quote`,
          });
      } else {
        const s = i;
        while (i < src.length && src[i] !== ',' && src[i] !== '\n' && src[i] !== '\r') i++;
        cell = src.slice(s, i).trim();
        if (cell.includes('"'))
          throw new DataFormatError({
            file,
            line,
            message: `a quote inside an unquoted field: ${quoteJson(cell)}`,
          });
      }
      cells.push(cell);
      if (src[i] === ',') {
        i++;
        continue;
      }
      if (src[i] === '\r') i++;
      if (src[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    if (!(cells.length === 1 && cells[0] === '')) rows.push({ line: startLine, cells });
  }
  if (rows.length === 0) throw new DataFormatError({ file, message: 'the CSV file is empty (no header)' });
  const header = rows[0]!.cells.map((h) => h.trim());
  const dup = header.find((h, k) => header.indexOf(h) !== k);
  if (dup !== undefined)
    throw new DataFormatError({
      file,
      line: rows[0]!.line,
      message: `column ${quoteInput(dup)} appears twice in the header`,
    });
  const records = rows.slice(1).map((r) => {
    if (r.cells.length !== header.length)
      throw new DataFormatError({
        file,
        line: r.line,
        message: `${r.cells.length} cells, the header has ${header.length} columns`,
      });
    return { line: r.line, cells: Object.fromEntries(header.map((h, k) => [h, r.cells[k]!])) };
  });
  return { header, records };
}

/** Throws naming the first missing column and listing the header (BOM already removed). */
export function requireColumns(file: string, header: readonly string[], columns: readonly string[]): void {
  for (const c of columns)
    if (!header.includes(c))
      throw new DataFormatError({
        file,
        line: 1,
        field: c,
        message: `missing column '${c}'; the header has: ${quoteInput(header.join(', '))}`,
      });
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
