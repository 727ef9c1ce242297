import { DataFormatError } from '../errors.js';
import { readBytesFile, writeFileAtomic } from './fs.js';
import { forEachLine } from './lines.js';

/**
 * The text of a JSON-lines file of `rows`: each row's `JSON.stringify` and a newline. What the writers write and what
 * checkpoints digest (`hashBytes(jsonLinesText(rows))`), so a log read back and cut is compared byte for byte.
 */
export function jsonLinesText(rows: readonly unknown[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/**
 * Rows of a JSON-lines file (train logs, result rows, imported targets): {@link forEachJsonLine}'s rows collected.
 * @returns the parsed rows, the 1-based file line of each (blank lines are skipped), and whether a torn tail was dropped
 */
export function readJsonLines<T = unknown>(
  path: string,
  options: { repairTornTail?: boolean; what?: string } = {},
): { rows: T[]; lines: number[]; repaired: boolean } {
  const rows: T[] = [];
  const lines: number[] = [];
  const { repaired } = forEachJsonLine<T>(
    path,
    (row, line) => {
      rows.push(row);
      lines.push(line);
    },
    options,
  );
  return { rows, lines, repaired };
}

/**
 * Hands each row of a JSON-lines file to `onRow` as it is read (`forEachLine`: a file of any size, lines ending in LF,
 * CRLF or a lone CR, which JSON never holds raw; a UTF-8 byte-order mark dropped; blank lines skipped). A last line
 * without its line end that does not parse is a line torn by a crash during an append: with `repairTornTail` it is
 * dropped (the file rewritten without it, byte for byte up to it), otherwise it is an error naming the file and line.
 * Any other bad line is an error naming the file and line.
 * @returns whether a torn tail was dropped
 */
export function forEachJsonLine<T = unknown>(
  path: string,
  onRow: (row: T, line: number) => void,
  options: { repairTornTail?: boolean; what?: string } = {},
): { repaired: boolean } {
  let tornAt: number | undefined;
  forEachLine(
    path,
    ({ text, line, offset, terminated }) => {
      if (!text.trim()) return;
      let row: T;
      try {
        // (a byte-order mark inside: two files joined with `cat`)
        row = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as T;
      } catch (error) {
        if (!terminated && options.repairTornTail) {
          tornAt = offset;
          return;
        }
        throw new DataFormatError({
          file: path,
          line,
          message: `not valid JSON${terminated ? '' : ' (the last line is incomplete: the file was cut while being written)'}: ${(error as Error).message}`,
          cause: error,
        });
      }
      onRow(row, line);
    },
    { what: options.what ?? 'JSON-lines file' },
  );
  if (tornAt === undefined) return { repaired: false };
  writeFileAtomic(path, readBytesFile(path, options.what ?? 'JSON-lines file').subarray(0, tornAt));
  return { repaired: true };
}
