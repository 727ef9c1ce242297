/** One CSV line (RFC 4180): fields with a comma, quote or newline are quoted, quotes doubled; null is empty. */
export function csvRow(values: readonly (string | number | null)[]): string {
  return values.map((v) => {
    const s = v === null ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  }).join(',');
}
