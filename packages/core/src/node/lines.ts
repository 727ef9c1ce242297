import { closeSync, openSync, readSync } from 'node:fs';
import { constants } from 'node:buffer';
import { DataFormatError, FileIoError } from '../errors.js';

/** One line of a text file, as {@link forEachLine} hands it over. */
export interface TextLine {
  /** The line's text, without its line end (and, on line 1, without a UTF-8 byte-order mark). */
  text: string;
  /** 1-based line number: every LF, CRLF or lone CR ends a line. */
  line: number;
  /** Byte offset of the line's first byte in the file (line 1's at its byte-order mark, if any). */
  offset: number;
  /** Whether a line end follows (false only for a last line the file ends inside). */
  terminated: boolean;
}

/**
 * The error for a file that is no UTF-8 text: a UTF-16 byte-order mark at its start, or NUL bytes (UTF-16 without
 * one). PowerShell's `>` and Excel's "Unicode Text" write UTF-16, which read as UTF-8 is garbage no parser can name.
 */
export function utf16Error(path: string, what: string, bom: boolean): DataFormatError {
  return new DataFormatError({
    file: path,
    message: `the ${what} is ${bom ? 'UTF-16 (it starts with a UTF-16 byte-order mark)' : 'no UTF-8 text (it holds NUL bytes: UTF-16?)'}; PowerShell's \`>\` and Excel's "Unicode Text" write UTF-16: save it as UTF-8`,
  });
}

/** Whether `bytes` start with a UTF-16 byte-order mark (FF FE or FE FF). */
export const hasUtf16Bom = (bytes: Uint8Array): boolean =>
  bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));

/**
 * `bytes` as UTF-8 text, or a DataFormatError naming the file (and line) when they are more than a JavaScript string
 * holds (`buffer.constants.MAX_STRING_LENGTH` code units, 512 MiB on 64-bit V8), which `toString` reports unnamed.
 */
export function decodeUtf8(bytes: Buffer, path: string, what: string, line?: number): string {
  // UTF-8 never decodes to more UTF-16 code units than it has bytes: only a larger input can be too long
  if (bytes.length > constants.MAX_STRING_LENGTH) {
    try {
      return bytes.toString('utf8');
    } catch (error) {
      throw new DataFormatError({
        file: path,
        ...(line !== undefined ? { line } : {}),
        message: `the ${what}${line !== undefined ? "'s line" : ''} is ${bytes.length} bytes, more text than JavaScript holds in one string (${constants.MAX_STRING_LENGTH} characters)`,
        cause: error,
      });
    }
  }
  return bytes.toString('utf8');
}

const CHUNK = 8 << 20;

/** Where a scan of the file's bytes stands: the line being read, its bytes so far, and a CR that may precede an LF. */
interface LineScan {
  parts: Buffer[];
  start: number;
  line: number;
  afterCr: boolean;
}

/**
 * Call `onLine` for every line of a UTF-8 text file, read in chunks (8 MiB): a file of any size (`readFileSync` stops at
 * 2 GiB and one string at 512 MiB), each line decoded alone. Lines end in LF, CRLF or a lone CR; a UTF-8 byte-order
 * mark is dropped; a last line without a line end is handed over with `terminated: false` (NUL bytes and all: a
 * crash during an append leaves zeros there), an empty one not at all.
 * @throws DataFormatError naming the file for UTF-16 (`utf16Error`: its mark, or NUL bytes in a line that ends) or a
 *   line longer than a string holds;
 *   FileIoError naming the file when it cannot be read; whatever `onLine` throws
 */
export function forEachLine(
  path: string,
  onLine: (line: TextLine) => void,
  options: { what?: string; /** bytes read at a time @default 8 MiB */ chunkBytes?: number } = {},
): void {
  const what = options.what ?? 'file';
  const size = options.chunkBytes ?? CHUNK;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new FileIoError({ file: path, operation: `read the ${what}`, cause: error });
  }
  try {
    const buf = Buffer.allocUnsafe(size);
    const scan: LineScan = { parts: [], start: 0, line: 1, afterCr: false };
    const emit = (terminated: boolean) => {
      let bytes = scan.parts.length === 1 ? scan.parts[0]! : Buffer.concat(scan.parts);
      if (scan.line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
      scan.parts = [];
      // NUL bytes in a whole line: UTF-16 (without its mark); in a last line the file ends inside, the zeros a crash
      // leaves where an append was not yet written, which the caller judges (a torn log line)
      if (terminated && bytes.includes(0)) throw utf16Error(path, what, false);
      onLine({ text: decodeUtf8(bytes, path, what, scan.line), line: scan.line, offset: scan.start, terminated });
      scan.line++;
    };
    let pos = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, size, pos);
      } catch (error) {
        throw new FileIoError({ file: path, operation: `read the ${what}`, cause: error });
      }
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      if (pos === 0 && hasUtf16Bom(chunk)) throw utf16Error(path, what, true);
      scanChunk(chunk, pos, scan, emit);
      pos += n;
    }
    if (scan.parts.some((p) => p.length > 0)) emit(false);
  } finally {
    closeSync(fd);
  }
}

/** Splits one chunk at its line ends, emitting each line that ends in it and keeping the rest (a copy) in `scan`. */
function scanChunk(chunk: Buffer, pos: number, scan: LineScan, emit: (terminated: boolean) => void): void {
  let i = 0;
  if (scan.afterCr && chunk[0] === 0x0a) {
    // the LF of a CRLF cut by the chunk boundary
    i = 1;
    scan.start = pos + 1;
  }
  scan.afterCr = false;
  // the next LF and CR at or after i, each searched again only once passed: searching both per line went to the
  // chunk's end for the absent one (an LF file has no CR), quadratic in its lines
  let lf = chunk.indexOf(0x0a, i);
  let cr = chunk.indexOf(0x0d, i);
  while (i < chunk.length) {
    if (lf >= 0 && lf < i) lf = chunk.indexOf(0x0a, i);
    if (cr >= 0 && cr < i) cr = chunk.indexOf(0x0d, i);
    const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
    if (end < 0) {
      scan.parts.push(Buffer.from(chunk.subarray(i)));
      return;
    }
    scan.parts.push(chunk.subarray(i, end));
    emit(true);
    i = end + 1;
    if (chunk[end] === 0x0d) {
      if (end + 1 < chunk.length) {
        if (chunk[end + 1] === 0x0a) i = end + 2;
      } else scan.afterCr = true;
    }
    scan.start = pos + i;
  }
}
