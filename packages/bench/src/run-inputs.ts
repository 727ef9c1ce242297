import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, statSync, type BigIntStats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FileIoError } from '@vlfer/core';
import { canonicalJson, hashBytes } from '@vlfer/core/node';
import type { BenchData } from './registry.js';

/** What of a run's coordinates decides which files it reads. */
export interface RunInputCoords {
  backbone: string;
  dataset: string;
  trainSet?: string;
}

/** One input of a run: what it is (`evalSet.root`, `model`, …) and where (absolute), or the name given where no
 * local file is (a Hugging Face id, an http teacher's URL, a path not there yet). */
export interface RunInput {
  role: string;
  path: string;
  local: boolean;
}

/** The fields of data-config entries that name files (the rest are settings: `runSettings`). */
const PATH_FIELDS = ['root', 'annotations', 'train', 'test', 'unlabelled', 'teacherSource', 'teacherKeys'] as const;

/**
 * Everything a run may read, from its coordinates: the model (and Exp-CLIP head) of its backbone, the data config's
 * entries for its dataset (`evalSets`, `videoSets`, `labelledSets`: roots, lists, every fold's list, the folder a
 * `rebase` maps to, a video list's own folder where its entry has no `root`, as frames are then found from it) and its
 * unlabelled set (`trainSets`), else the shared test set the registry names (`defaults.root`); an evaluation list with
 * `{fold}` and no `folds` is read for the dataset's official folds (`defaults.folds`), as `exp-clip eval` does.
 * Over-inclusive by design (a zero-shot run is also stamped with the dataset's train lists): an input that changes
 * reruns the run, whose content fingerprints then decide. Relative paths are taken from the working directory, as the
 * pipelines take them. @returns in a fixed order of roles, so two files swapped between roles change the stamp
 */
export function runInputs(
  c: RunInputCoords,
  data: BenchData | undefined,
  defaults: { model: string; root?: string | undefined; folds?: readonly number[] | undefined },
): RunInput[] {
  const out: RunInput[] = [];
  const add = (role: string, v: string | undefined) => {
    if (v === undefined) return;
    const abs = resolve(v);
    const local = existsSync(abs);
    if (!out.some((x) => x.role === role && x.path === (local ? abs : v)))
      out.push({ role, path: local ? abs : v, local });
  };
  const entry = (name: string, e: Record<string, unknown> | undefined, folds: readonly number[] = []) => {
    if (!e) return;
    for (const k of PATH_FIELDS) {
      const v = e[k];
      if (typeof v !== 'string') continue;
      for (const p of v.includes('{fold}') ? folds.map((f) => v.replaceAll('{fold}', String(f))) : [v])
        add(`${name}.${k}`, p);
    }
    const rebase = e.rebase as { to?: unknown } | undefined;
    if (typeof rebase?.to === 'string') add(`${name}.rebase.to`, rebase.to);
    if (name === 'videoSet' && e.root === undefined)
      for (const k of ['train', 'test'] as const)
        if (typeof e[k] === 'string') add(`videoSet.${k} folder`, dirname(resolve(e[k] as string)));
  };
  const evalSet = data?.evalSets?.[c.dataset];
  add('model', data?.models[c.backbone] ?? defaults.model);
  add('head', data?.heads?.[c.backbone]);
  entry('evalSet', evalSet, evalSet?.folds ?? defaults.folds);
  entry('videoSet', data?.videoSets[c.dataset]);
  entry('labelledSet', data?.labelledSets?.[c.dataset]);
  if (c.trainSet !== undefined) entry('trainSet', data?.trainSets[c.trainSet]);
  if (!evalSet) add('shared test set', defaults.root);
  return out;
}

/**
 * A stamp of a run's inputs as the file system describes them: for each (in order, with its role) every file's path
 * relative to the input, size, modification and status-change times in nanoseconds and inode, hashed; an input with
 * no local file by its name. Any write, replacement, move or `touch` changes it (a status-change time cannot be set
 * back by `cp -p` or `touch -r`); reading the files is not needed. Folders are walked recursively in name order,
 * leaving out `skip` (the results and cache directories, where a run writes, should they lie inside an input).
 * `memo` keeps each tree's stamp for the call's other runs.
 */
export function inputStamp(
  inputs: readonly RunInput[],
  memo: Map<string, string> = new Map(),
  skip: readonly string[] = [],
): string {
  const h = createHash('sha256');
  const skipped = new Set(skip.map((p) => resolve(p)));
  for (const { role, path, local } of inputs) {
    let s = local ? memo.get(path) : `not a local file: ${path}`;
    if (s === undefined) memo.set(path, (s = treeStamp(path, skipped)));
    // not the path of a local input: the same files reached by another path (a linked folder) are the same
    h.update(`${role}\0${s}\n`);
  }
  return h.digest('hex');
}

/**
 * The stamp of one file or folder tree: symbolic links followed, each folder's entries listed once (a folder reached
 * again, through a link or a cycle, is stamped by its identity only), a dangling link stamped as the link itself.
 */
function treeStamp(root: string, skip: ReadonlySet<string>): string {
  const h = createHash('sha256');
  const listed = new Set<string>();
  const visit = (path: string, rel: string) => {
    if (skip.has(path)) return;
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
  /**
   * What of the code that ran decides the numbers beyond the options (HESP's random streams version: a run of
   * version 2 and one of 3 draw other validation parts); absent for methods where nothing does
   */
  code?: Record<string, string | number>,
): string {
  const paths = new Set<string>(PATH_FIELDS);
  const settings = (e: Record<string, unknown> | undefined) =>
    e && Object.fromEntries(Object.entries(e).filter(([k]) => !paths.has(k) && k !== 'description' && k !== 'layout'));
  const entries = {
    evalSet: settings(data?.evalSets?.[c.dataset]),
    videoSet: settings(data?.videoSets[c.dataset]),
    labelledSet: settings(data?.labelledSets?.[c.dataset]),
    trainSet: c.trainSet === undefined ? undefined : settings(data?.trainSets[c.trainSet]),
  };
  return hashBytes(
    canonicalJson({ method: spec.method, options: spec.options ?? null, entries, ...(code ? { code } : {}) }),
  );
}
