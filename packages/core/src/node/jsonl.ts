import { DataFormatError } from '../errors.js';
import { readTextFile, writeFileAtomic } from './fs.js';

/**
 * The text of a JSON-lines file of `rows`: each row's `JSON.stringify` and a newline. What the writers write and what
 * checkpoints digest (`hashBytes(jsonLinesText(rows))`), so a log read back and cut is compared byte for byte.
 */
export function jsonLinesText(rows: readonly unknown[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/**
 * Rows of a JSON-lines file (train logs, result rows, imported targets). A last line without its newline that
 * does not parse is a line torn by a crash during an append: with `repairTornTail` it is dropped (and the file
 * rewritten without it), otherwise it is an error naming the file and line. Any other bad line is an error.
 * @returns the parsed rows, the 1-based file line of each (blank lines are skipped), and whether a torn tail was dropped
 */
export function readJsonLines<T = unknown>(
  path: string,
  options: { repairTornTail?: boolean; what?: string } = {},
): { rows: T[]; lines: number[]; repaired: boolean } {
  // (readTextFile drops a byte-order mark); lines end in LF, CRLF or a lone CR (old Mac tools): JSON holds no raw CR
  const text = readTextFile(path, options.what ?? 'JSON-lines file');
  const lines = text.split(/\r\n|\r|\n/);
  const rows: T[] = [];
  const at: number[] = [];
  let repaired = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (!raw.trim()) continue;
    try {
      rows.push(JSON.parse(raw) as T);
      at.push(i + 1);
    } catch (error) {
      const isTail = i === lines.length - 1 && !/[\r\n]$/.test(text);
      if (isTail && options.repairTornTail) {
        repaired = true;
        writeFileAtomic(
          path,
          lines
            .slice(0, i)
            .map((l) => `${l}\n`)
            .join(''),
        );
        break;
      }
      throw new DataFormatError({
        file: path,
        line: i + 1,
        message: `not valid JSON${isTail ? ' (the last line is incomplete: the file was cut while being written)' : ''}: ${(error as Error).message}`,
        cause: error,
      });
    }
  }
  return { rows, lines: at, repaired };
}
