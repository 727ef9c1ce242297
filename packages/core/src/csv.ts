/**
 * One CSV line (RFC 4180): fields with a comma, quote, carriage return or newline are quoted, quotes doubled;
 * null is empty. Numbers are written with JavaScript's shortest round-trip form.
 */
export function csvRow(values: readonly (string | number | null)[]): string {
  return values
    .map((v) => {
      const s = v === null ? '' : String(v);
      return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    })
    .join(',');
}

/** The lines of a text file: a UTF-8 BOM removed, split at CRLF, LF or a lone CR (element i is line i + 1). */
export function textLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
}
