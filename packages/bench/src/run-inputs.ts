import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { FileIoError } from '@vlfer/core';
import type { BenchData } from './registry.js';

/** What of a run's coordinates decides which files it reads. */
export interface RunInputCoords {
  backbone: string;
  dataset: string;
  trainSet?: string;
}

/**
 * Every local file or folder a run may read, from its coordinates: the model (and Exp-CLIP head) of its backbone, the
 * data config's entries for its dataset (`evalSets`, `videoSets`, `labelledSets`: roots, lists, every fold's list)
 * and its unlabelled set (`trainSets`), else the shared test set the registry names (`defaultRoot`). Over-inclusive
 * by design (a zero-shot run is also stamped with the dataset's train lists): a path that changes reruns the run,
 * whose content fingerprints then decide. Hugging Face ids and paths that do not exist are left out.
 */
export function runInputPaths(
  c: RunInputCoords,
  data: BenchData | undefined,
  defaults: { model: string; root?: string | undefined },
): string[] {
  const entry = (e: Record<string, unknown> | undefined, folds?: readonly number[]): string[] =>
    Object.values(e ?? {}).flatMap((v) =>
      typeof v !== 'string'
        ? []
        : v.includes('{fold}')
          ? (folds ?? []).map((f) => v.replaceAll('{fold}', String(f)))
          : [v],
    );
  const evalSet = data?.evalSets?.[c.dataset];
  const paths = [
    data?.models[c.backbone] ?? defaults.model,
    data?.heads?.[c.backbone],
    ...entry(evalSet, evalSet?.folds ?? [1, 2, 3, 4, 5]),
    ...entry(data?.videoSets[c.dataset]),
    ...entry(data?.labelledSets?.[c.dataset]),
    ...(c.trainSet === undefined ? [] : entry(data?.trainSets[c.trainSet])),
    evalSet ? undefined : defaults.root,
  ];
  return [...new Set(paths.filter((p): p is string => p !== undefined && isAbsolute(p) && existsSync(p)))].sort();
}

/**
 * A stamp of the files under `paths` as the file system describes them: each file's path (relative to its root), size,
 * modification and status-change times in nanoseconds and inode, hashed. Any write, replacement, move or `touch`
 * changes it (a status-change time cannot be set back by `cp -p` or `touch -r`); reading the files is not needed.
 * Folders are walked recursively in name order. `memo` keeps each root's stamp for the process's other runs.
 */
export function inputStamp(paths: readonly string[], memo: Map<string, string> = new Map()): string {
  const h = createHash('sha256');
  for (const p of paths) {
    let s = memo.get(p);
    if (s === undefined) memo.set(p, (s = treeStamp(p)));
    h.update(`${s}\n`); // not the path: the same files reached by another path (a moved or linked folder) are the same
  }
  return h.digest('hex');
}

/** The stamp of one file or folder tree (symbolic links followed, a link back to a folder above it visited once). */
function treeStamp(root: string): string {
  const h = createHash('sha256');
  const visit = (path: string, rel: string, above: ReadonlySet<string>) => {
    let st;
    try {
      st = statSync(path, { bigint: true });
    } catch (error) {
      throw new FileIoError({ file: path, operation: 'stat an input of the run', cause: error });
    }
    h.update(`${rel}\0${st.isDirectory() ? 'd' : 'f'}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.ino}\n`);
    const id = `${st.dev}:${st.ino}`;
    if (!st.isDirectory() || above.has(id)) return;
    const inside = new Set(above).add(id);
    for (const name of readdirSync(path).sort()) visit(join(path, name), rel ? `${rel}/${name}` : name, inside);
  };
  visit(root, '', new Set());
  return h.digest('hex');
}
