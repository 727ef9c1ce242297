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
  constructor(options: { functionName: string; argument: string; message: string; cause?: unknown }) {
    super(`Argument '${options.argument}' passed to '${options.functionName}': ${options.message}`, { cause: options.cause });
    this.argument = options.argument;
    this.functionName = options.functionName;
  }
}

/** A data file (annotation list, CSV, image, cache entry) is missing or malformed. */
export class DataFormatError extends VlferError {
  override name = 'DataFormatError';
  readonly file: string;
  readonly line: number | undefined;
  readonly field: string | undefined;
  constructor(options: { file: string; line?: number; field?: string; message: string; cause?: unknown }) {
    const where = `${options.file}${options.line !== undefined ? `:${options.line}` : ''}${options.field ? ` (field '${options.field}')` : ''}`;
    super(`${where}: ${options.message}`, { cause: options.cause });
    this.file = options.file;
    this.line = options.line;
    this.field = options.field;
  }
}
