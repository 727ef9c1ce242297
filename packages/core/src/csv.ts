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
