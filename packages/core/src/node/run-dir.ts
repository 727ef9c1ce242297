import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  openSync,
  readdirSync,
  linkSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { ChecksumError, DataFormatError, FileIoError, InvalidArgumentError, RunLockedError } from '../errors.js';
import { quoteInput } from '../quote.js';
import {
  ensureDir,
  fsyncDir,
  removePath,
  renamePath,
  writeFileAtomic,
  writeFileDurable,
  writeJsonAtomic,
} from './fs.js';

/** Name of the lock file inside a run directory. */
export const RUN_LOCK_FILE = '.vlfer-run.lock';

/**
 * Whether `name` is a run record (the lock, the kind record) or what taking a lock leaves for an instant (a lock moved
 * aside by a takeover, a lock being written before it is linked into place): no output of any run.
 */
function isRunRecord(name: string): boolean {
  return (
    name === RUN_KIND_FILE ||
    name === RUN_LOCK_FILE ||
    (name.startsWith(`${RUN_LOCK_FILE}.`) && (name.includes(STALE_LOCK_INFIX) || name.endsWith('.new')))
  );
}

/**
 * The folder of a run directory where a run keeps the files it is still writing (logs, selected state), apart from
 * its published set; only the lock holder writes there, so its leftover temporary files are removed on `open`.
 */
export const RUN_WORK_DIR = 'work';
/** Name of the manifest that marks a complete, verified output set. */
export const MANIFEST_FILE = 'manifest.json';
/** Name of the journal of a publish that was committed but not yet completed (see `RunDirectory.publish`). */
export const PUBLISH_JOURNAL_FILE = '.vlfer-publish.json';

/** Who holds a run directory. */
export interface RunLockInfo extends ProcessRecord {
  startedAt: string;
  command: string;
  token: string;
}

/** The manifest of a published output set: every file's SHA-256 and size. */
export interface RunManifest {
  format: 'vlfer-run-outputs';
  version: 1;
  /** What kind of result set it is (`OpenRunOptions.expects.kind`: 'exp-clip train', …); absent before 2026-12-06. */
  kind?: string;
  files: Record<string, { sha256: string; bytes: number }>;
}

/** A committed publish: the complete new set (with its manifest) waits in `staging` to be moved into place. */
interface PublishJournal {
  format: 'vlfer-publish';
  version: 1;
  /** Name of the staging directory inside the run directory. */
  staging: string;
  /** The new manifest (also staged as `<staging>/manifest.json`). */
  manifest: RunManifest;
  /** Files of the previous set that the new set lacks: deleted when the publish completes. */
  remove: string[];
}

/** Run directories this process holds, by absolute path (so `verifyRunOutputs` can complete their publish). */
const held = new Map<string, RunDirectory>();

/**
 * The fields of `/proc/<pid>/stat` from field 3 (state) on, or null (not Linux, or no such process). The command name
 * (field 2) may hold spaces and parentheses, so the fields are split after the last ')'.
 */
function procStatFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Field 22 of `/proc/<pid>/stat` (starttime, jiffies since boot), or null. */
function processStart(pid: number): string | null {
  return procStatFields(pid)?.[19] ?? null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM' && !pidEnded(pid); // exists, owned by someone else
  }
  return !pidEnded(pid);
}

/**
 * Whether a process that still has its pid has ended: a zombie (Linux state Z, or X) that its parent has not reaped
 * yet (a sweep driver that kills a job and starts it again before `wait`) answers `kill(pid, 0)` but holds nothing.
 * False where /proc cannot say (not Linux, or gone since: the next check finds it gone).
 */
function pidEnded(pid: number): boolean {
  const state = procStatFields(pid)?.[0];
  return state === 'Z' || state === 'X';
}

/** Who owns a piece of work in progress, as `processGone` judges it: written by `currentProcess()`. */
export interface ProcessRecord {
  pid: number;
  host: string;
  /**
   * The process's start time (Linux `/proc/<pid>/stat` field 22, jiffies since boot), null where unknown: tells a
   * live process from a reused pid.
   */
  processStart: string | null;
  /**
   * The PID namespace the pid is numbered in (Linux `/proc/self/ns/pid`, e.g. `pid:[4026531836]`), where known: two
   * containers with one host name number their processes apart, so a pid of the other is no pid here. Records
   * written before it was kept have none.
   */
  pidNamespace?: string;
}

/** This process's PID namespace (`readlink /proc/self/ns/pid`), undefined where there is none to read. */
const PID_NAMESPACE: string | undefined = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined; // not Linux
  }
})();

/** This process as a `ProcessRecord`. */
export function currentProcess(): ProcessRecord {
  return {
    pid: process.pid,
    host: hostname(),
    processStart: processStart(process.pid),
    ...(PID_NAMESPACE ? { pidNamespace: PID_NAMESPACE } : {}),
  };
}

/**
 * Whether a pid of this host that `p` recorded is numbered as here: the same PID namespace where both are known (a
 * container sharing the host name numbers its processes in its own).
 */
function samePidNamespace(p: Pick<ProcessRecord, 'pidNamespace'>): boolean {
  return p.pidNamespace === undefined || PID_NAMESPACE === undefined || p.pidNamespace === PID_NAMESPACE;
}

/** Whether the process of this host `p` names is gone: its pid free, or now a process that started later. */
function pidGone(p: Pick<ProcessRecord, 'pid' | 'processStart'>): boolean {
  return !pidAlive(p.pid) || (p.processStart != null && processStart(p.pid) !== p.processStart);
}

/**
 * Whether the process `p` recorded is certainly gone: it ran on this host and its pid is free, or now belongs to a
 * process that started later. A process of another host is never judged gone (false).
 */
export function processGone(p: ProcessRecord): boolean {
  if (typeof p !== 'object' || p === null) return false; // not a record (a damaged file): not known to be gone
  if (p.host !== hostname() || !samePidNamespace(p) || !Number.isInteger(p.pid) || p.pid <= 0) return false;
  return pidGone(p);
}

/** An unreadable lock younger than this may be being written by its holder this instant. */
const UNREADABLE_LOCK_GRACE_MS = 2000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Put a lock moved aside back where it was, never over another: link(2), or where the file system has no hard links,
 * a rename while nothing stands there. @throws the file system's error (EEXIST when another lock stands there)
 */
function putBack(aside: string, lockPath: string): void {
  try {
    linkSync(aside, lockPath);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (!NO_HARD_LINKS.includes(code ?? '')) throw error;
    if (existsSync(lockPath)) throw Object.assign(new Error(`EEXIST: ${lockPath} exists`), { code: 'EEXIST' });
    renameSync(aside, lockPath);
  }
}

/** Error codes of link(2) on a file system without hard links (vfat, some FUSE and SMB mounts). */
const NO_HARD_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'];

/** The prefix of what a takeover moves aside (`<lock>.stale-<random>`), removed by it and by `recoverRunDirectory`. */
const STALE_LOCK_INFIX = '.stale-';

/**
 * Remove the stale lock file whose text `judged` was read, so that the next exclusive create can win. The file is
 * moved aside first (atomically: two runs that judged it at once cannot both move it) and then read: where it is not
 * what was judged, another run took the stale lock over and made its own meanwhile, and that lock is put back with
 * link(2), which never replaces a file (renaming whatever stood there had moved a fresh lock aside, and both runs
 * went on). A fresh lock never reads as a stale one: `createLockFile` links it into place whole, with its random token.
 * @returns 'removed', or 'changed' when the lock is no longer the one judged (put back where it was moved aside)
 * @throws RunLockedError when a fresh lock moved aside cannot be put back (a third run locked meanwhile)
 */
export function takeOverLock(lockPath: string, judged: string): 'removed' | 'changed' {
  const aside = `${lockPath}${STALE_LOCK_INFIX}${randomBytes(4).toString('hex')}`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return 'changed'; // moved or removed by another run meanwhile
  }
  let text: string | undefined;
  try {
    text = readFileSync(aside, 'utf8');
  } catch {
    text = undefined;
  }
  if (text === judged) {
    rmSync(aside, { force: true });
    return 'removed';
  }
  try {
    putBack(aside, lockPath);
  } catch (error) {
    throw new RunLockedError(
      `${dirname(lockPath)}: taking over a stale lock moved another run's fresh lock aside (${aside}), and a third run locked the directory before it could be put back (${(error as Error).message}); stop the runs on this directory and start one again`,
    );
  }
  rmSync(aside, { force: true });
  return 'changed';
}

/**
 * The lock's holder, or why the file names none (empty, not JSON, no pid or host); undefined when it vanished.
 * The problem quotes at most 200 characters of the file.
 */
function readLock(
  lockPath: string,
): (({ info: RunLockInfo; age: number } | { problem: string; age: number }) & { text: string }) | undefined {
  let text: string;
  let age: number;
  try {
    text = readFileSync(lockPath, 'utf8');
    age = Date.now() - statSync(lockPath).mtimeMs;
  } catch (error) {
    const code = (error as { code?: string }).code;
    // removed by its holder, unless a link that points nowhere stands where the lock belongs
    if (code === 'ENOENT' && !lstatSync(lockPath, { throwIfNoEntry: false })?.isSymbolicLink()) return undefined;
    if (code === 'ENOENT')
      throw new DataFormatError({
        file: lockPath,
        message: 'is a symbolic link to nothing where the run lock file belongs (no vlfer run makes one): remove it',
      });
    if (code === 'EISDIR')
      throw new DataFormatError({
        file: lockPath,
        message: 'is a folder where the run lock file belongs (no vlfer run makes one): remove it',
      });
    throw new FileIoError({ file: lockPath, operation: 'read the run lock', cause: error });
  }
  if (text.trim() === '') return { problem: 'the file is empty', age, text };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { problem: `not JSON: ${quoteInput(text)}`, age, text };
  }
  const o = (v ?? {}) as Partial<RunLockInfo>;
  if (typeof v !== 'object' || v === null || !Number.isSafeInteger(o.pid) || (o.pid as number) <= 0)
    return { problem: `no process id (field 'pid') in ${quoteInput(text)}`, age, text };
  if (typeof o.host !== 'string' || o.host === '')
    return { problem: `no host name (field 'host') in ${quoteInput(text)}`, age, text };
  return { info: o as RunLockInfo, age, text };
}

/** The lock record of this process for a run of `command`, with a fresh random token. */
export function newLockInfo(command: string): RunLockInfo {
  return {
    ...currentProcess(),
    startedAt: new Date().toISOString(),
    command,
    token: randomBytes(8).toString('hex'),
  };
}

/**
 * Creates the lock file exclusively, whole: `info` is written to a temporary file and fsynced, which is then linked
 * into place (link(2) never replaces a file), so that no run ever reads a fresh lock empty or half-written (an empty
 * lock is one a crash left; a run that judged such a lock once took over another's fresh, still empty one). Where
 * the file system has no hard links, the lock is created with O_EXCL and then written. Throws the file system's
 * error, with code EEXIST when another run holds the lock.
 */
export function createLockFile(lockPath: string, info: RunLockInfo): void {
  const text = `${JSON.stringify(info)}\n`;
  const tmp = `${lockPath}.${info.token}.new`;
  writeDurably(tmp, 'w', text);
  try {
    linkSync(tmp, lockPath);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EEXIST' || !NO_HARD_LINKS.includes(code ?? '')) throw error;
    writeDurably(lockPath, 'wx', text); // no hard links here
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Write `text` to a file opened with `flags` and fsync it. */
function writeDurably(path: string, flags: 'w' | 'wx', text: string): void {
  const fd = openSync(path, flags);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * What to do about a lock another run left: `wait` for a lock being written (unreadable, younger than 2 s, while
 * `mayWait`), or `take-over` an unreadable or stale one (its holder's process is gone on this host, or no heartbeat
 * for `staleAfter` ms from another host), with the notice to log. @throws RunLockedError naming a live holder
 */
export function judgeLock(
  abs: string,
  lockPath: string,
  lock: { info: RunLockInfo; age: number } | { problem: string; age: number },
  host: string,
  staleAfter: number,
  mayWait: boolean,
): { kind: 'wait' } | { kind: 'take-over'; notice: string } {
  if ('problem' in lock) {
    // A holder writes its whole record right after creating the file, so an unreadable lock is either being
    // written this instant or left by a crash mid-write (or written by hand): no run can be named as its
    // holder. Give a writer 2 s, then take it over with a notice.
    if (lock.age < UNREADABLE_LOCK_GRACE_MS && mayWait) return { kind: 'wait' };
    return {
      kind: 'take-over',
      notice: `${abs}: took over the lock file ${RUN_LOCK_FILE}, which names no run (${lock.problem}); it was left by a run that crashed while writing it, or written by hand`,
    };
  }
  const holder = lock.info;
  // (a holder in another PID namespace of this host, a container sharing its name, is judged as one of another host)
  const sameHost = holder.host === host && samePidNamespace(holder);
  const gone = sameHost && pidGone(holder);
  if (gone || (!sameHost && lock.age > staleAfter))
    return {
      kind: 'take-over',
      notice: `${abs}: removed the stale lock of pid ${holder.pid} on ${holder.host} (${gone ? 'process gone' : `no heartbeat for ${Math.round(lock.age / 1000)} s`})`,
    };
  throw new RunLockedError(
    `${abs} is in use by another run: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt} (${holder.command}). Wait for it to finish or choose another output directory. If that process is gone (e.g. its machine crashed), delete ${lockPath}.`,
  );
}

/**
 * Whether `entry` of `dir` is a staging folder its run left (`.staging-<pid>-<random>`): not one of a live process
 * of this host other than this one younger than an hour, which may be publishing there (a run that lost its lock in
 * a takeover race).
 */
function leftStaging(dir: string, entry: string): boolean {
  const m = /^\.staging-(\d+)-/.exec(entry);
  if (!m) return false;
  const pid = Number(m[1]);
  // (an hour old: a pid of another PID namespace, a container's 1, may name a live process here)
  const old = Date.now() - (statSync(join(dir, entry), { throwIfNoEntry: false })?.mtimeMs ?? 0) > 3_600_000;
  return pid === process.pid || !pidAlive(pid) || old;
}

/**
 * Whether `path` is what taking a lock left a minute ago or more (a lock moved aside, a lock written but not linked
 * into place: its run was killed in that instant). Younger ones may be another run's, at work this moment.
 */
function oldLockLeftover(path: string): boolean {
  const name = basename(path);
  if (name === RUN_LOCK_FILE || !isRunRecord(name) || name === RUN_KIND_FILE) return false;
  const mtime = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
  return mtime !== undefined && Date.now() - mtime > 60_000;
}

/**
 * Run under a freshly taken lock of `abs`: completes a publish interrupted after its commit, discards one
 * interrupted before it (saying so through `log`), and deletes leftover staging directories and the temporary files
 * of atomic writes (`.<name>.<pid>.<random>.tmp`) that a killed process left.
 */
export function recoverRunDirectory(abs: string, log?: (line: string) => void): void {
  const done = completePendingPublish(abs, { discardLost: true });
  if (done === 'completed') log?.(`${abs}: completed the publish of an interrupted run`);
  if (done === 'discarded')
    log?.(
      `${abs}: an interrupted publish could not be completed (its staging directory is gone); the outputs are incomplete until the run publishes again`,
    );
  const leftover = /^\..+\.\d+\.[0-9a-z]+\.tmp$/; // the temporary file of an atomic write, its writer killed
  for (const entry of readdirSync(abs))
    if (leftStaging(abs, entry) || leftover.test(entry) || oldLockLeftover(join(abs, entry)))
      rmSync(join(abs, entry), { recursive: true, force: true });
  // and those of the files a run is still writing (`RUN_WORK_DIR`: the lock holder is the only writer there)
  const work = join(abs, RUN_WORK_DIR);
  if (existsSync(work) && statSync(work).isDirectory())
    for (const entry of readdirSync(work)) if (leftover.test(entry)) rmSync(join(work, entry), { force: true });
  // and those of shard records (`shards/`, written without the lock by shards that may be running now: only the
  // ones older than any write takes; a killed shard's stayed through its rerun, the merge and the publish)
  const shards = join(abs, 'shards');
  if (existsSync(shards) && statSync(shards).isDirectory())
    for (const entry of readdirSync(shards)) {
      const mtime = statSync(join(shards, entry), { throwIfNoEntry: false })?.mtimeMs;
      if (leftover.test(entry) && mtime !== undefined && Date.now() - mtime > 10 * 60_000)
        rmSync(join(shards, entry), { force: true });
    }
}

export interface OpenRunOptions {
  /** What is running, recorded in the lock (e.g. `exp-clip eval`). */
  command: string;
  /** A lock whose heartbeat is older than this, held from another host, is stale. @default 120000 */
  staleAfterMs?: number;
  /** How often the holder refreshes the lock's mtime. @default 15000 */
  heartbeatMs?: number;
  /** Notices (e.g. a stale lock taken over). */
  log?: (line: string) => void;
  /**
   * The kind of result set this directory holds or will hold: `open` refuses a directory whose published set is of
   * another kind (a training run's head is never replaced by an evaluation's tables, nor the reverse), and `publish`
   * records the kind in the manifest. A set published before kinds were recorded is of this kind when every file
   * it lists is one of `files`.
   */
  expects?: RunKind;
}

/** A kind of result set, and who is refused a directory holding another kind (the caller's function and argument). */
export interface RunKind {
  kind: string;
  /** Every name a set of this kind may hold, sets merged into it later included. */
  files: readonly string[];
  functionName: string;
  argument: string;
}

/** Name of the file that says which kind of run a directory holds, from its first run on (published or not). */
export const RUN_KIND_FILE = '.vlfer-run-kind';

/**
 * Under the lock of `abs`: refuse it when it holds another kind of run (`checkRunKind`), and record `expects.kind`
 * when nothing is recorded.
 * @returns whether it wrote the record (a directory that held none, or another kind's claim on nothing)
 * @throws InvalidArgumentError naming `expects.argument` and what the directory holds
 */
export function claimRunKind(abs: string, expects: RunKind): boolean {
  if (checkRunKind(abs, expects) === expects.kind) return false;
  writeFileAtomic(join(abs, RUN_KIND_FILE), `${expects.kind}\n`);
  return true;
}

/**
 * Refuse `abs` (missing is fine) when it holds another kind of run than `expects`: by its published set's kind, else
 * by the kind its first run recorded (a run killed before it published: its checkpoint is another command's), else,
 * for a set published before kinds were recorded, by its file names; and when it holds result files no vlfer run
 * published. Writes nothing: runs without a lock (shards, which run at once) check at their start and claim
 * (`claimRunKind`) only when they write their record, so that one failing before it leaves nothing behind.
 * @returns the kind recorded in `abs`, or undefined
 * @throws InvalidArgumentError naming `expects.argument` and what the directory holds
 */
export function checkRunKind(abs: string, expects: RunKind): string | undefined {
  refuseFileAsRunDirectory(abs, expects);
  const manifest = readManifestIfAny(abs);
  if (manifest) {
    // a published set, with its kind or (published before kinds were recorded) its file names
    const refusal = otherKindOfRun(abs, manifest, expects);
    if (refusal) throw refusal;
  }
  const held = existsSync(abs) ? readdirSync(abs).filter((f) => !isRunRecord(f)) : [];
  const recorded = recordedRunKind(abs, false);
  if (!manifest) {
    const refuse = (what: string) =>
      new InvalidArgumentError({
        functionName: expects.functionName,
        argument: expects.argument,
        message: `${abs} holds ${what} (${held.join(', ')}), which '${expects.kind}' would replace; choose another output directory`,
      });
    // a claim by a run that wrote nothing (refused options, killed at once) holds nothing to protect
    const marker = held.length > 0 ? recorded : undefined;
    if (marker !== undefined && marker !== expects.kind) throw refuse(`an unfinished run of '${marker}'`);
    // result files no vlfer run published (no manifest, no checkpoint): someone's own, never overwritten
    const theirs = held.filter((f) => UNOWNED_RESULT_NAMES.includes(f));
    if (marker === undefined && !held.includes('checkpoint.safetensors') && theirs.length > 0)
      throw refuse(`files no vlfer run published (${theirs.join(', ')}) among its files`);
  }
  return recorded;
}

/** @throws InvalidArgumentError naming `expects.argument` when `abs` is a file, not a directory */
function refuseFileAsRunDirectory(abs: string, expects: RunKind): void {
  if (existsSync(abs) && !statSync(abs).isDirectory())
    throw new InvalidArgumentError({
      functionName: expects.functionName,
      argument: expects.argument,
      message: `${abs} is a file, not a directory; choose an output directory`,
    });
}

/**
 * Names of the files a run writes in its directory: the published sets' and those an older vlfer kept at the top
 * (logs, HESP's selected state, run.json). Found without a manifest, a checkpoint or a kind record, they are not a
 * run's but someone's own, and are never overwritten (an older run killed before its first checkpoint, which left only
 * its log, has nothing to resume either).
 */
const UNOWNED_RESULT_NAMES = [
  'metrics.json',
  'config.resolved.json',
  'head.safetensors',
  'predictions.csv',
  'confusion-matrix.csv',
  'scores.csv',
  'eval.json',
  'best.safetensors',
  'epochs.jsonl',
  'train-log.jsonl',
  'run.json',
];

/**
 * The kind of run a directory holds, as recorded: its published set's (with `published`, the default), else what its
 * first run wrote in `RUN_KIND_FILE`; undefined when nothing says (no run, or one from before kinds were recorded).
 */
export function recordedRunKind(dir: string, published = true): string | undefined {
  const markerPath = join(dir, RUN_KIND_FILE);
  const marker = existsSync(markerPath) ? readFileSync(markerPath, 'utf8').trim() || undefined : undefined;
  return (published ? readManifestIfAny(dir)?.kind : undefined) ?? marker;
}

/**
 * The refusal of a directory whose published set (`manifest`) is not of the kind `expects` describes, or undefined.
 * @returns an InvalidArgumentError naming `expects.argument`, the directory and the files it holds
 */
export function otherKindOfRun(dir: string, manifest: RunManifest, expects: RunKind): InvalidArgumentError | undefined {
  const names = Object.keys(manifest.files);
  const ours =
    manifest.kind !== undefined ? manifest.kind === expects.kind : names.every((f) => expects.files.includes(f));
  if (ours) return undefined;
  const what = manifest.kind !== undefined ? `'${manifest.kind}'` : 'another command';
  return new InvalidArgumentError({
    functionName: expects.functionName,
    argument: expects.argument,
    message: `${dir} holds the results of ${what} (${names.join(', ')}), which '${expects.kind}' would replace; choose another output directory`,
  });
}

/**
 * A run directory owned by one process at a time, whose outputs are published as a verified set.
 *
 * Locking: `open` creates `.vlfer-run.lock` whole, linked into place (`createLockFile`; O_EXCL without hard links),
 * holding pid, host, PID namespace, process start time and command; the holder refreshes its mtime every 15 s. A
 * second run is refused with the holder named. A lock is stale — and taken over (`takeOverLock`), with a notice — when
 * its process is gone (same host and PID namespace: no such pid, or the pid now belongs to a process that started
 * later) or, for a holder on another host or in another PID namespace, when its heartbeat is older than
 * `staleAfterMs`.
 *
 * Publishing is two-phase. (1) `publish` writes every file of the new set and its `manifest.json` (SHA-256 and
 * size of each file) into a private staging directory and fsyncs them, then commits by writing the journal
 * `.vlfer-publish.json` atomically (staging directory, new manifest, files to delete). A failure before the
 * journal exists (disk full, read-only directory) removes the staging directory: the previous complete set and
 * its manifest are untouched. (2) After the commit, the staged files are renamed into place, files of the previous
 * set that the new set lacks are deleted, the staged manifest is renamed over the old one, and the journal is
 * deleted. Every step is idempotent: a failure or crash in phase 2 leaves the journal, and the publish is
 * completed (rolled forward) by the next `RunDirectory.open` or `verifyRunOutputs` of that directory. So whoever
 * opens or verifies the directory sees the complete old set or the complete new set, never a mix.
 */
export class RunDirectory {
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private released = false;
  /**
   * The outermost directory `open` created for this one (`dir` itself or a parent of it), or undefined when `dir`
   * existed: `close` removes what it created again while `dir` holds nothing.
   */
  private createdFrom: string | undefined;
  /**
   * The entries `dir` held when this run claimed it (`claimRunKind` wrote the kind record), or undefined when the
   * record was there before: `close` removes the record again when the run added nothing but an empty `work/`.
   */
  private claimedOver: ReadonlySet<string> | undefined;
  private readonly onExit = () => this.close();

  private constructor(
    readonly dir: string,
    private readonly info: RunLockInfo,
    private readonly log: (line: string) => void = () => undefined,
    private readonly kind?: string,
  ) {
    process.once('exit', this.onExit);
    held.set(dir, this);
  }

  /**
   * Create (if needed) and lock `dir`. Stages: {@link newLockInfo} → {@link createLockFile} (then
   * {@link recoverRunDirectory} under the new lock) or, when another lock is there, {@link judgeLock}: wait for a
   * lock being written, take over a stale one, or refuse a live holder.
   * @throws RunLockedError naming the live holder
   */
  static open(dir: string, options: OpenRunOptions): RunDirectory {
    const abs = resolve(dir);
    if (options.expects) refuseFileAsRunDirectory(abs, options.expects);
    const createdFrom = outermostMissing(abs);
    ensureDir(abs);
    const lockPath = join(abs, RUN_LOCK_FILE);
    const info = newLockInfo(options.command);
    const staleAfter = options.staleAfterMs ?? 120_000;
    let last: Partial<RunLockInfo> = {};
    for (let attempt = 0, waits = 0; attempt < 5; attempt++) {
      let created = false;
      try {
        createLockFile(lockPath, info);
        created = true;
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST')
          throw new FileIoError({ file: lockPath, operation: 'create the lock', cause: error });
      }
      // outside the try: what the started run refuses (another kind of results) is its own error, not the lock's
      if (created) return RunDirectory.start(abs, info, options, createdFrom);
      const lock = readLock(lockPath);
      if (!lock) continue; // removed by its holder between our create and read: try again
      if ('info' in lock) last = lock.info;
      const verdict = judgeLock(abs, lockPath, lock, info.host, staleAfter, waits < 40);
      if (verdict.kind === 'wait') {
        waits++;
        attempt--;
        sleepSync(50);
        continue;
      }
      if (takeOverLock(lockPath, lock.text) === 'removed') options.log?.(verdict.notice);
    }
    throw new RunLockedError(
      `${abs}: could not take the lock ${lockPath}: 5 times another run took it first and then let it go${last.pid !== undefined ? ` (last: pid ${last.pid} on ${last.host}, ${last.command})` : ''}. Several commands are starting on this output directory at once; give each its own --out.`,
    );
  }

  /** The run that now holds the lock of `abs`: heartbeat started, an interrupted publish recovered (else closed). */
  private static start(
    abs: string,
    info: RunLockInfo,
    options: OpenRunOptions,
    createdFrom: string | undefined,
  ): RunDirectory {
    const run = new RunDirectory(abs, info, options.log, options.expects?.kind);
    run.createdFrom = createdFrom;
    run.heartbeat = setInterval(() => run.touch(), options.heartbeatMs ?? 15_000);
    run.heartbeat.unref();
    try {
      recoverRunDirectory(abs, options.log);
      if (options.expects && claimRunKind(abs, options.expects)) run.claimedOver = new Set(readdirSync(abs));
    } catch (error) {
      run.close();
      throw error;
    }
    return run;
  }

  /** Absolute path of a file in the run directory. */
  path(name: string): string {
    return join(this.dir, checkName(name));
  }

  /**
   * Throws a RunLockedError when the lock file is no longer this run's (removed by hand, or taken by another run in a
   * takeover race that could not be undone): publishing then would mix two runs' outputs.
   */
  private refuseLostLock(): void {
    const lockPath = join(this.dir, RUN_LOCK_FILE);
    if (!this.holdsLock())
      throw new RunLockedError(
        `${this.dir}: this run (pid ${this.info.pid}) no longer holds its lock ${lockPath} (${existsSync(lockPath) ? 'another run holds it' : 'it was removed'}); nothing was published: run again once no other run uses the directory`,
      );
  }

  /** Whether the lock file is still this run's (its token); false when it is gone or unreadable. */
  private holdsLock(): boolean {
    try {
      return (
        (JSON.parse(readFileSync(join(this.dir, RUN_LOCK_FILE), 'utf8')) as Partial<RunLockInfo>).token ===
        this.info.token
      );
    } catch {
      return false; // gone, or not a lock this run wrote
    }
  }

  private touch(): void {
    const lockPath = join(this.dir, RUN_LOCK_FILE);
    try {
      const now = new Date();
      utimesSync(lockPath, now, now);
    } catch {
      // the lock vanished (deleted by hand): nothing to refresh; close() will not delete another run's lock
    }
  }

  /**
   * Publish a complete set of output files (names relative to the run directory, '/' for sub-folders); with
   * `merge`, add them to the published set instead of replacing it. Two-phase (see the class comment): the
   * directory holds the complete previous set until the commit and the complete new set after it.
   * @throws FileIoError naming the output file when staging fails (the previous set is then intact), or naming
   *   the file that could not be moved after the commit (the new set is then completed by the next `open` or
   *   `verifyRunOutputs`)
   * Stages: {@link stageOutputs} → {@link mergePreviousOutputs} (with `merge`) → the journal (the commit) →
   * {@link completeCommittedPublish}.
   */
  publish(files: Readonly<Record<string, string | Uint8Array>>, options: { merge?: boolean } = {}): RunManifest {
    const names = Object.keys(files).map(checkName).sort();
    if (names.includes(MANIFEST_FILE)) throw new TypeError(`publish: '${MANIFEST_FILE}' is written by publish itself`);
    this.refuseLostLock();
    completePendingPublish(this.dir, { discardLost: true }); // left by an earlier failed publish; this one replaces it
    const stagingName = `.staging-${process.pid}-${randomBytes(4).toString('hex')}`;
    const staging = join(this.dir, stagingName);
    const previous = readManifestIfAny(this.dir);
    const kind = this.kind ?? previous?.kind; // a merge keeps the kind of the set it adds to
    const manifest: RunManifest = { format: 'vlfer-run-outputs', version: 1, ...(kind ? { kind } : {}), files: {} };
    try {
      stageOutputs(this.dir, staging, names, files, manifest);
      if (options.merge && previous) mergePreviousOutputs(this.dir, manifest, previous);
      writeFileDurable(
        join(staging, MANIFEST_FILE),
        `${JSON.stringify(manifest, null, 2)}\n`,
        join(this.dir, MANIFEST_FILE),
      );
      for (const sub of new Set(names.map((n) => dirname(join(staging, n))))) fsyncDir(sub);
      fsyncDir(staging);
      const journal: PublishJournal = {
        format: 'vlfer-publish',
        version: 1,
        staging: stagingName,
        manifest,
        remove: Object.keys(previous?.files ?? {}).filter((old) => !(old in manifest.files)),
      };
      this.refuseLostLock(); // again at the commit: staging a large set takes time
      writeJsonAtomic(join(this.dir, PUBLISH_JOURNAL_FILE), journal); // the commit point
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    completeCommittedPublish(this.dir, this.log);
    return manifest;
  }

  /**
   * Release the lock (idempotent; also done at process exit). A run that failed before it wrote anything (a missing
   * dataset, a bad model path, refused options) leaves the directory as it found it: the kind record it wrote and the
   * empty working directory it made are removed with the lock, and so are a directory `open` created and the parents
   * it created for it, while they are empty.
   */
  close(): void {
    if (this.released) return;
    this.released = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    process.removeListener('exit', this.onExit);
    if (held.get(this.dir) === this) held.delete(this.dir);
    const lockPath = join(this.dir, RUN_LOCK_FILE);
    if (!this.holdsLock()) return;
    // still holding the lock: nobody else writes here until it is gone
    if (this.claimedOver && addedNothing(this.dir, this.claimedOver, this.log))
      rmSync(join(this.dir, RUN_KIND_FILE), { force: true });
    rmSync(lockPath, { force: true });
    if (this.createdFrom === undefined || !holdsOnlyRunRecords(this.dir)) return;
    let d = this.dir;
    while (removeEmptyDir(d, this.log) && d !== this.createdFrom) d = dirname(d);
  }
}

/**
 * `rmdir` of `dir`; another run that has just taken it (ENOTEMPTY) or removed it (ENOENT) keeps it as it is. Any
 * other failure is logged, not thrown: `close` runs in `finally` blocks and at exit, after the run's own outcome.
 */
function removeEmptyDir(dir: string, log: (line: string) => void): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT')
      log(`could not remove the empty run directory ${dir} (${(error as Error).message}); it holds nothing`);
    return false;
  }
}

/**
 * Whether the run added nothing to `dir` since it held `before` but the kind record, the lock and an empty working
 * directory (`RUN_WORK_DIR`, removed here: runs make it before they check all their options); false when `dir` cannot
 * be read. Any other entry, an empty directory too, may be someone else's, and is left with the record.
 */
function addedNothing(dir: string, before: ReadonlySet<string>, log: (line: string) => void): boolean {
  let added: string[];
  try {
    added = readdirSync(dir).filter((f) => !before.has(f) && !isRunRecord(f));
  } catch {
    return false;
  }
  return added.every((f) => {
    const p = join(dir, f);
    try {
      return f === RUN_WORK_DIR && statSync(p).isDirectory() && readdirSync(p).length === 0 && removeEmptyDir(p, log);
    } catch {
      return false;
    }
  });
}

/** Whether `dir` holds nothing but the kind record and the lock (false when it cannot be read). */
function holdsOnlyRunRecords(dir: string): boolean {
  try {
    return readdirSync(dir).every(isRunRecord);
  } catch {
    return false; // unreadable or gone: nothing to remove
  }
}

/** The outermost of `abs` and its parents that does not exist (what `ensureDir(abs)` will create), or undefined. */
function outermostMissing(abs: string): string | undefined {
  let missing: string | undefined;
  for (let d = abs; !existsSync(d); d = dirname(d)) {
    missing = d;
    if (dirname(d) === d) break;
  }
  return missing;
}

function checkName(name: string): string {
  const n = normalize(name);
  if (!name || isAbsolute(name) || n.startsWith('..') || n.includes('\0') || n.split(/[\\/]/).some((p) => p === '..'))
    throw new TypeError(`output file name '${name}' must be a relative path inside the run directory`);
  return n;
}

function readJournal(dir: string): PublishJournal | undefined {
  const p = join(dir, PUBLISH_JOURNAL_FILE);
  if (!existsSync(p)) return undefined;
  let j: PublishJournal;
  try {
    j = JSON.parse(readFileSync(p, 'utf8')) as PublishJournal;
  } catch (error) {
    throw new DataFormatError({ file: p, message: `not a readable publish journal (${String(error)})` });
  }
  const ok =
    j?.format === 'vlfer-publish' &&
    typeof j.staging === 'string' &&
    /^\.staging-[A-Za-z0-9-]+$/.test(j.staging) &&
    j.manifest?.format === 'vlfer-run-outputs' &&
    typeof j.manifest.files === 'object' &&
    Array.isArray(j.remove);
  if (!ok) throw new DataFormatError({ file: p, message: 'not a vlfer publish journal' });
  for (const name of [...Object.keys(j.manifest.files), ...j.remove]) checkName(name);
  return j;
}

/**
 * Complete (roll forward) a committed publish in `dir`, whose lock the caller holds: move the staged files and
 * then the staged manifest into place, delete the files the new set lacks, delete the journal. Idempotent.
 * A publish whose staging directory is gone (deleted by hand) cannot be completed: with `discardLost` its journal
 * is deleted (the directory then fails verification until the run publishes again), else it is an error.
 * @returns 'none' without a pending publish, 'completed', or 'discarded'
 */
function completePendingPublish(
  dir: string,
  options: { discardLost?: boolean } = {},
): 'none' | 'completed' | 'discarded' {
  const journal = readJournal(dir);
  if (!journal) return 'none';
  const staging = join(dir, journal.staging);
  const stagedManifest = join(staging, MANIFEST_FILE);
  const journalPath = join(dir, PUBLISH_JOURNAL_FILE);
  if (!existsSync(stagedManifest)) {
    // either the manifest was already moved (only the journal is left to delete) or the staging was removed by hand
    const current = readManifestIfAny(dir);
    if (JSON.stringify(current) !== JSON.stringify(journal.manifest)) {
      if (options.discardLost) {
        removePath(journalPath);
        fsyncDir(dir);
        return 'discarded';
      }
      throw new DataFormatError({
        file: journalPath,
        message: `an interrupted publish cannot be completed: its staging directory ${staging} is gone. Rerun the command to publish the outputs again`,
      });
    }
  }
  const subdirs = new Set<string>([dir]);
  for (const name of Object.keys(journal.manifest.files).sort()) {
    const from = join(staging, name);
    if (!existsSync(from)) continue; // moved already, or a file kept from the previous set (merge)
    const to = join(dir, name);
    ensureDir(dirname(to));
    renamePath(from, to);
    subdirs.add(dirname(to));
  }
  for (const old of journal.remove) removePath(join(dir, old));
  for (const sub of subdirs) fsyncDir(sub);
  if (existsSync(stagedManifest)) renamePath(stagedManifest, join(dir, MANIFEST_FILE));
  fsyncDir(dir);
  removePath(journalPath);
  fsyncDir(dir);
  rmSync(staging, { recursive: true, force: true });
  return 'completed';
}

/** Complete a publish left in `dir` by a failed or killed run, taking its lock (or using this process's). */
function settlePublish(dir: string): void {
  const abs = resolve(dir);
  if (!existsSync(join(abs, PUBLISH_JOURNAL_FILE))) return;
  if (held.has(abs)) {
    completePendingPublish(abs);
    return;
  }
  let run: RunDirectory;
  try {
    run = RunDirectory.open(abs, { command: 'verifyRunOutputs (completing an interrupted publish)' });
  } catch (error) {
    if (error instanceof RunLockedError)
      throw new DataFormatError({
        file: join(abs, PUBLISH_JOURNAL_FILE),
        message: `the outputs are being published by another run, try again when it has finished: ${error.message}`,
      });
    throw error;
  }
  run.close(); // open completed the publish
}

function readManifestIfAny(dir: string): RunManifest | undefined {
  const p = join(dir, MANIFEST_FILE);
  if (!existsSync(p)) return undefined;
  try {
    const m = JSON.parse(readFileSync(p, 'utf8')) as RunManifest;
    return m?.format === 'vlfer-run-outputs' && typeof m.files === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes each output durably into `staging` (names relative to `dir`, checked) and lists its SHA-256 and size in
 * `manifest.files`, in the order of `names`. @throws FileIoError naming the output file
 */
export function stageOutputs(
  dir: string,
  staging: string,
  names: readonly string[],
  files: Readonly<Record<string, string | Uint8Array>>,
  manifest: RunManifest,
): void {
  for (const name of names) {
    const data = files[name]!;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    writeFileDurable(join(staging, name), bytes, join(dir, name));
    manifest.files[name] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  }
}

/**
 * A merge publish: checks the published outputs of `dir` are unchanged ({@link verifyRunOutputs}), then adds the
 * previous entries the new set does not replace to `manifest`, and sorts its files by name.
 * @throws ChecksumError when a published file changed since its publish
 */
export function mergePreviousOutputs(dir: string, manifest: RunManifest, previous: RunManifest): void {
  // add to the published set: the previous files stay listed (checked unchanged first)
  verifyRunOutputs(dir);
  for (const [name, entry] of Object.entries(previous.files))
    if (!(name in manifest.files)) manifest.files[name] = entry;
  manifest.files = Object.fromEntries(
    Object.keys(manifest.files)
      .sort()
      .map((k) => [k, manifest.files[k]!]),
  );
}

/**
 * After the commit: moves the staged set into place. On an error it tries once more (a transient error, logged);
 * if that fails too the journal stays for the next open or verify, and a FileIoError is thrown.
 */
export function completeCommittedPublish(dir: string, log: (line: string) => void): void {
  try {
    completePendingPublish(dir);
  } catch (error) {
    // committed: the complete new set waits in staging. Try once more (a transient error), else leave the
    // journal for the next open or verify, which complete the publish.
    try {
      completePendingPublish(dir);
      log(`${dir}: ${(error as Error).message}; retried, the outputs are published`);
    } catch {
      throw error instanceof FileIoError
        ? error
        : new FileIoError({ file: dir, operation: 'publish the outputs in', cause: error });
    }
  }
}

/**
 * Check a run directory's published set: the manifest exists and every listed file (or each of `names`) has
 * the recorded size and SHA-256. A publish interrupted after its commit is first completed (taking the run's
 * lock; refused with the holder named while another run holds it). @returns the manifest
 * @throws DataFormatError when there is no complete set; ChecksumError naming a file that differs
 */
export function verifyRunOutputs(dir: string, names?: readonly string[]): RunManifest {
  // a set published by another run while this one read it: read again (the files moved in after the manifest was
  // read are the next set's, not a damaged one; a publish still under way is named by settlePublish)
  for (let attempt = 0; ; attempt++) {
    settlePublish(dir);
    const m = readManifestIfAny(dir);
    if (!m) {
      const p = join(dir, MANIFEST_FILE);
      throw new DataFormatError({
        file: p,
        message: existsSync(p)
          ? 'not a vlfer output manifest'
          : 'missing: the run has not finished writing a complete set of outputs',
      });
    }
    const differs = firstDifferingOutput(dir, m, names);
    if (!differs) return m;
    const republished =
      existsSync(join(dir, PUBLISH_JOURNAL_FILE)) || JSON.stringify(readManifestIfAny(dir)) !== JSON.stringify(m);
    if (!republished || attempt === 4) throw differs;
  }
}

/** The error for the first of `names` (default: every listed file) whose size or SHA-256 differs from `m`, if any. */
function firstDifferingOutput(dir: string, m: RunManifest, names?: readonly string[]): Error | undefined {
  const p = join(dir, MANIFEST_FILE);
  for (const name of names ?? Object.keys(m.files)) {
    const want = m.files[name];
    if (!want)
      throw new DataFormatError({ file: p, field: name, message: 'this file is not part of the published set' });
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, name));
    } catch (error) {
      return new FileIoError({ file: join(dir, name), operation: 'read', cause: error });
    }
    const got = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length !== want.bytes || got !== want.sha256)
      return new ChecksumError({
        file: join(dir, name),
        message: `differs from the manifest (sha256 ${got.slice(0, 12)}…, ${bytes.length} bytes; manifest: ${want.sha256.slice(0, 12)}…, ${want.bytes} bytes): changed after the run or from another run`,
      });
  }
  return undefined;
}

/**
 * A JSON object of the set `run` published (config.resolved.json, metrics.json …), checked against the manifest
 * first, for a decision about the run that must not rest on an edited or damaged file; undefined where nothing is
 * published. @throws InvalidArgumentError naming `out` (of `functionName`), the file and why it cannot be read
 */
export function readPublishedObject(
  run: RunDirectory,
  name: string,
  functionName: string,
): Record<string, unknown> | undefined {
  if (!existsSync(run.path(MANIFEST_FILE))) return undefined;
  try {
    verifyRunOutputs(run.dir, [name]);
    const json = JSON.parse(readFileSync(run.path(name), 'utf8')) as unknown;
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
    throw new DataFormatError({ file: run.path(name), message: 'not a JSON object' });
  } catch (error) {
    throw new InvalidArgumentError({
      functionName,
      argument: 'out',
      message: `${run.dir} holds a published set whose ${name} cannot be read as published (${(error as Error).message}); choose another output directory, or remove that one to run again`,
      cause: error,
    });
  }
}
