import { displayPath } from './quote.js';

/**
 * Errors thrown by vlfer packages. Every error names what was wrong (argument, file, line, field)
 * and what was expected, so a researcher can fix the input without reading the source.
 */
export class VlferError extends Error {
  override name = 'VlferError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A function argument has the wrong shape, type or value. */
export class InvalidArgumentError extends VlferError {
  override name = 'InvalidArgumentError';
  readonly argument: string;
  readonly functionName: string;
  /** What is wrong, without the `Argument '…' passed to '…': ` that `message` starts with. */
  readonly detail: string;
  constructor(options: { functionName: string; argument: string; message: string; cause?: unknown }) {
    super(`Argument '${options.argument}' passed to '${options.functionName}': ${options.message}`, {
      cause: options.cause,
    });
    this.argument = options.argument;
    this.functionName = options.functionName;
    this.detail = options.message;
  }
}

/** A data file (annotation list, CSV, image, cache entry, checkpoint) is missing or malformed. */
export class DataFormatError extends VlferError {
  override name = 'DataFormatError';
  readonly file: string;
  readonly line: number | undefined;
  readonly field: string | undefined;
  /** What is wrong, without the `file:line (field …): ` that `message` starts with. */
  readonly detail: string;
  constructor(options: { file: string; line?: number; field?: string; message: string; cause?: unknown }) {
    const where = `${displayPath(options.file)}${options.line !== undefined ? `:${options.line}` : ''}${options.field ? ` (field '${options.field}')` : ''}`;
    super(`${where}: ${options.message}`, { cause: options.cause });
    this.file = options.file;
    this.line = options.line;
    this.field = options.field;
    this.detail = options.message;
  }
}

/** Stored bytes do not match the checksum written with them (bit rot, a torn or edited file). */
export class ChecksumError extends DataFormatError {
  override name = 'ChecksumError';
}

/** Reading or writing a file failed at the operating-system level (ENOSPC, EROFS, EACCES …); names the file. */
export class FileIoError extends VlferError {
  override name = 'FileIoError';
  readonly file: string;
  readonly code: string | undefined;
  constructor(options: { file: string; operation: string; cause: unknown }) {
    const c = options.cause as { code?: string; message?: string } | undefined;
    super(`cannot ${options.operation} ${displayPath(options.file)}: ${c?.message ?? String(options.cause)}`, {
      cause: options.cause,
    });
    this.file = options.file;
    this.code = c?.code;
  }
}

/** Work stopped because its AbortSignal fired; the state written so far is complete and resumable. */
export class AbortedError extends VlferError {
  override name = 'AbortError';
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${what} was aborted`, options);
  }
}

/** A run directory is locked by another live run. */
export class RunLockedError extends VlferError {
  override name = 'RunLockedError';
}

/** Throws `AbortedError` naming `what` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(what, { cause: signal.reason });
}
