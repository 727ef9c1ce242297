import { readdirSync, statSync, type Stats } from 'node:fs';
import { DataFormatError } from '@vlfer/core';

/**
 * What a file-system error code means for a path met while scanning a dataset, in words (instead of raw
 * `ELOOP: too many symbolic links encountered, stat '…'`).
 */
export function explainFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return 'does not exist (a dangling symbolic link, or removed while the set was being read)';
    case 'ELOOP':
      return 'is a symbolic link loop (following its links never reaches a file or directory)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: this user may not read it (check its permissions and those of its directories)';
    case 'ENOTDIR':
      return 'is not a directory (a path component is a file)';
    case 'ENAMETOOLONG':
      return 'has a name longer than the file system allows';
    case 'EIO':
      return 'could not be read (input/output error: a damaged disk or a lost network mount)';
    default:
      return `could not be read (${e?.code ? `${e.code}: ` : ''}${String(e?.message ?? error).slice(0, 200)})`;
  }
}

/** `statSync` of a path met while scanning `what`; errors name the path and say what the code means. */
export function statForScan(path: string, what: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    throw new DataFormatError({ file: path, message: `${what} ${explainFsError(error)}`, cause: error });
  }
}

/** `readdirSync` of a directory met while scanning; errors name it and say what the code means. */
export function readDirForScan(dir: string, what: string, expected = ''): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    throw new DataFormatError({
      file: dir,
      message: `${what} ${explainFsError(error)}${expected ? `; ${expected}` : ''}`,
      cause: error,
    });
  }
}
