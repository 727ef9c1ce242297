import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, statSync, type BigIntStats } from 'node:fs';
import { join, resolve } from 'node:path';
import { FileIoError } from '@vlfer/core';
import { canonicalJson, hashBytes } from '@vlfer/core/node';
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
 * whose content fingerprints then decide. Relative paths are taken from the working directory, as the pipelines take
 * them; Hugging Face ids and paths that do not exist are left out. @returns absolute paths, sorted
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
  // relative paths as the pipelines read them: from the working directory (a Hugging Face id names no local path)
  const local = paths.filter((p): p is string => p !== undefined).map((p) => resolve(p));
  return [...new Set(local.filter((p) => existsSync(p)))].sort();
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

/**
 * The stamp of one file or folder tree: symbolic links followed, each folder's entries listed once (a folder reached
 * again, through a link or a cycle, is stamped by its identity only), a dangling link stamped as the link itself.
 */
function treeStamp(root: string): string {
  const h = createHash('sha256');
  const listed = new Set<string>();
  const visit = (path: string, rel: string) => {
    const st = statOrLink(path);
    h.update(`${rel}\0${st.kind}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.ino}\n`);
    const id = `${st.dev}:${st.ino}`;
    if (st.kind !== 'd' || listed.has(id)) return;
    listed.add(id);
    for (const name of readdirSync(path).sort()) visit(join(path, name), rel ? `${rel}/${name}` : name);
  };
  visit(root, '');
  return h.digest('hex');
}

/** What `statSync` says of a path (links followed), or of the link itself where it points nowhere. */
function statOrLink(
  path: string,
): { kind: 'd' | 'f' | 'l' } & Pick<BigIntStats, 'size' | 'mtimeNs' | 'ctimeNs' | 'ino' | 'dev'> {
  try {
    const st = statSync(path, { bigint: true });
    return Object.assign(st, { kind: st.isDirectory() ? ('d' as const) : ('f' as const) });
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') {
      const link = lstatSync(path, { bigint: true, throwIfNoEntry: false });
      if (link?.isSymbolicLink()) return Object.assign(link, { kind: 'l' as const });
    }
    throw new FileIoError({ file: path, operation: 'stat an input of the run', cause: error });
  }
}

/**
 * A hash of what else decides a run's numbers: its ablation's method and `options` (such as `epochs`, `valFraction`;
 * not the axes, whose values are in the run's id, so a grid grown by a value reruns nothing, nor the description) and
 * the data config's settings for its dataset and train set other than the paths `inputStamp` covers (folds, rebase,
 * teacher). A finished row whose settings differ runs again.
 */
export function runSettings(
  spec: { method: string; options?: unknown },
  c: RunInputCoords,
  data: BenchData | undefined,
): string {
  const PATHS = new Set(['root', 'annotations', 'train', 'test', 'unlabelled', 'teacherSource', 'teacherKeys']);
  const settings = (e: Record<string, unknown> | undefined) =>
    e && Object.fromEntries(Object.entries(e).filter(([k]) => !PATHS.has(k) && k !== 'description' && k !== 'layout'));
  const entries = {
    evalSet: settings(data?.evalSets?.[c.dataset]),
    videoSet: settings(data?.videoSets[c.dataset]),
    labelledSet: settings(data?.labelledSets?.[c.dataset]),
    trainSet: c.trainSet === undefined ? undefined : settings(data?.trainSets[c.trainSet]),
  };
  return hashBytes(canonicalJson({ method: spec.method, options: spec.options ?? null, entries }));
}
