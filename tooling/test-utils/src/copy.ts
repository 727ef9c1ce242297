import { chmodSync, cpSync, lstatSync, readdirSync, type CopySyncOptions } from 'node:fs';
import { join } from 'node:path';

/**
 * `cpSync` (recursive), then write permission for the owner on everything it copied. The shared fixtures are
 * read-only (files 0444, folders 0555) and a copy keeps their modes: a test that then edits, overwrites or removes
 * its copy passed as root only (root writes anyway) and failed with EACCES for any other user.
 * @param options `cpSync`'s (recursive by default)
 */
export function copyWritable(src: string, dest: string, options: CopySyncOptions = {}): void {
  cpSync(src, dest, { recursive: true, ...options });
  addOwnerWrite(dest);
}

/** Adds u+w to `path` and, for a folder, to everything inside it (links are left alone: their targets are not ours). */
export function addOwnerWrite(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (!(st.mode & 0o200)) chmodSync(path, (st.mode & 0o7777) | 0o200);
  if (st.isDirectory()) for (const name of readdirSync(path)) addOwnerWrite(join(path, name));
}
