import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { ChecksumError, DataFormatError, FileIoError, RunLockedError } from '../errors.js';
import { quoteInput } from '../quote.js';
import { ensureDir, fsyncDir, writeFileDurable, writeJsonAtomic } from './fs.js';

/** Name of the lock file inside a run directory. */
export const RUN_LOCK_FILE = '.vlfer-run.lock';
/** Name of the manifest that marks a complete, verified output set. */
export const MANIFEST_FILE = 'manifest.json';

/** Who holds a run directory. */
export interface RunLockInfo {
  pid: number;
  host: string;
  /** Linux process start time (jiffies since boot) from /proc, to tell a live holder from a reused pid. */
  processStart: string | null;
  startedAt: string;
  command: string;
  token: string;
}

/** The manifest of a published output set: every file's SHA-256 and size. */
export interface RunManifest {
  format: 'vlfer-run-outputs';
  version: 1;
  files: Record<string, { sha256: string; bytes: number }>;
}

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime); the command name (field 2) may hold spaces and parentheses, so split after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null; // not Linux, or no such process
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM'; // exists, owned by someone else
  }
}

/** An unreadable lock younger than this may be being written by its holder this instant. */
const UNREADABLE_LOCK_GRACE_MS = 2000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Remove a lock file so that the next O_EXCL create can win (rename first: another process may be doing the same). */
function takeOver(lockPath: string): void {
  const aside = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(lockPath, aside);
    rmSync(aside, { force: true });
  } catch {
    /* another process took it over first; try again */
  }
}

/**
 * The lock's holder, or why the file names none (empty, not JSON, no pid or host); undefined when it vanished.
 * The problem quotes at most 200 characters of the file.
 */
function readLock(lockPath: string): { info: RunLockInfo; age: number } | { problem: string; age: number } | undefined {
  let text: string;
  let age: number;
  try {
    text = readFileSync(lockPath, 'utf8');
    age = Date.now() - statSync(lockPath).mtimeMs;
  } catch {
    return undefined;
  }
  if (text.trim() === '') return { problem: 'the file is empty', age };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { problem: `not JSON: ${quoteInput(text)}`, age };
  }
  const o = (v ?? {}) as Partial<RunLockInfo>;
  if (typeof v !== 'object' || v === null || !Number.isSafeInteger(o.pid) || (o.pid as number) <= 0)
    return { problem: `no process id (field 'pid') in ${quoteInput(text)}`, age };
  if (typeof o.host !== 'string' || o.host === '')
    return { problem: `no host name (field 'host') in ${quoteInput(text)}`, age };
  return { info: o as RunLockInfo, age };
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
}

/**
 * A run directory owned by one process at a time, whose outputs are published as a verified set.
 *
 * Locking: `open` creates `.vlfer-run.lock` with O_EXCL (atomic on local file systems and NFSv3+), holding
 * pid, host, process start time and command; the holder refreshes its mtime every 15 s. A second run is refused
 * with the holder named. A lock is stale — and taken over, with a notice — when its process is gone (same host:
 * no such pid, or the pid now belongs to a process that started later) or, for a holder on another host, when
 * its heartbeat is older than `staleAfterMs`.
 *
 * Publishing: `publish` writes every file of a set into a private staging directory and fsyncs them; only
 * then does it remove the old manifest, rename the files into place, delete files of the previous set that the
 * new set lacks, and write `manifest.json` (SHA-256 and size of each file) last. A failure while staging (disk
 * full, read-only directory) leaves the previous complete set and its manifest untouched; readers check the
 * manifest with `verifyRunOutputs`, so a set without a manifest is never taken for a finished one.
 */
export class RunDirectory {
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private released = false;
  private readonly onExit = () => this.close();

  private constructor(
    readonly dir: string,
    private readonly info: RunLockInfo,
  ) {
    process.once('exit', this.onExit);
  }

  /** Create (if needed) and lock `dir`. @throws RunLockedError naming the live holder */
  static open(dir: string, options: OpenRunOptions): RunDirectory {
    const abs = resolve(dir);
    ensureDir(abs);
    const lockPath = join(abs, RUN_LOCK_FILE);
    const info: RunLockInfo = {
      pid: process.pid,
      host: hostname(),
      processStart: processStart(process.pid),
      startedAt: new Date().toISOString(),
      command: options.command,
      token: randomBytes(8).toString('hex'),
    };
    const staleAfter = options.staleAfterMs ?? 120_000;
    let last: Partial<RunLockInfo> = {};
    for (let attempt = 0, waits = 0; attempt < 5; attempt++) {
      let fd: number | undefined;
      try {
        fd = openSync(lockPath, 'wx');
        writeSync(fd, `${JSON.stringify(info)}\n`);
        fsyncSync(fd);
        closeSync(fd);
        fd = undefined;
        const run = new RunDirectory(abs, info);
        run.heartbeat = setInterval(() => run.touch(), options.heartbeatMs ?? 15_000);
        run.heartbeat.unref();
        return run;
      } catch (error) {
        if (fd !== undefined) closeSync(fd);
        if ((error as { code?: string }).code !== 'EEXIST')
          throw new FileIoError({ file: lockPath, operation: 'create the lock', cause: error });
      }
      const lock = readLock(lockPath);
      if (!lock) continue; // removed by its holder between our create and read: try again
      if ('problem' in lock) {
        // A holder writes its whole record right after creating the file, so an unreadable lock is either being
        // written this instant or left by a crash mid-write (or written by hand): no run can be named as its
        // holder. Give a writer 2 s, then take it over with a notice.
        if (lock.age < UNREADABLE_LOCK_GRACE_MS && waits < 40) {
          waits++;
          attempt--;
          sleepSync(50);
          continue;
        }
        takeOver(lockPath);
        options.log?.(
          `${abs}: took over the lock file ${RUN_LOCK_FILE}, which names no run (${lock.problem}); it was left by a run that crashed while writing it, or written by hand`,
        );
        continue;
      }
      const holder = lock.info;
      last = holder;
      const sameHost = holder.host === info.host;
      const gone =
        sameHost &&
        (!pidAlive(holder.pid) || (holder.processStart != null && processStart(holder.pid) !== holder.processStart));
      if (gone || (!sameHost && lock.age > staleAfter)) {
        takeOver(lockPath);
        options.log?.(
          `${abs}: removed the stale lock of pid ${holder.pid} on ${holder.host} (${gone ? 'process gone' : `no heartbeat for ${Math.round(lock.age / 1000)} s`})`,
        );
        continue;
      }
      throw new RunLockedError(
        `${abs} is in use by another run: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt} (${holder.command}). Wait for it to finish or choose another output directory. If that process is gone (e.g. its machine crashed), delete ${lockPath}.`,
      );
    }
    throw new RunLockedError(
      `${abs}: could not take the lock ${lockPath}: 5 times another run took it first and then let it go${last.pid !== undefined ? ` (last: pid ${last.pid} on ${last.host}, ${last.command})` : ''}. Several commands are starting on this output directory at once; give each its own --out.`,
    );
  }

  /** Absolute path of a file in the run directory. */
  path(name: string): string {
    return join(this.dir, checkName(name));
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
   * `merge`, add them to the published set instead of replacing it.
   * @throws FileIoError naming the output file when staging fails; the previous set is then intact
   */
  publish(files: Readonly<Record<string, string | Uint8Array>>, options: { merge?: boolean } = {}): RunManifest {
    const names = Object.keys(files).map(checkName).sort();
    if (names.includes(MANIFEST_FILE)) throw new TypeError(`publish: '${MANIFEST_FILE}' is written by publish itself`);
    const staging = join(this.dir, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
    const manifest: RunManifest = { format: 'vlfer-run-outputs', version: 1, files: {} };
    try {
      for (const name of names) {
        const data = files[name]!;
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
        writeFileDurable(join(staging, name), bytes, join(this.dir, name));
        manifest.files[name] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
      }
      fsyncDir(staging);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    const manifestPath = join(this.dir, MANIFEST_FILE);
    const previous = readManifestIfAny(this.dir);
    if (options.merge && previous) {
      // add to the published set: the previous files stay listed (checked unchanged first)
      verifyRunOutputs(this.dir);
      for (const [name, entry] of Object.entries(previous.files))
        if (!(name in manifest.files)) manifest.files[name] = entry;
      manifest.files = Object.fromEntries(
        Object.keys(manifest.files)
          .sort()
          .map((k) => [k, manifest.files[k]!]),
      );
    }
    try {
      rmSync(manifestPath, { force: true });
      fsyncDir(this.dir);
      for (const name of names) {
        ensureDir(dirname(join(this.dir, name)));
        renameSync(join(staging, name), join(this.dir, name));
      }
      for (const old of Object.keys(previous?.files ?? {}))
        if (!(old in manifest.files)) rmSync(join(this.dir, old), { force: true });
      fsyncDir(this.dir);
      writeJsonAtomic(manifestPath, manifest);
    } catch (error) {
      throw error instanceof FileIoError
        ? error
        : new FileIoError({ file: this.dir, operation: 'publish the outputs in', cause: error });
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    return manifest;
  }

  /** Release the lock (idempotent; also done at process exit). */
  close(): void {
    if (this.released) return;
    this.released = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    process.removeListener('exit', this.onExit);
    const lockPath = join(this.dir, RUN_LOCK_FILE);
    try {
      const held = JSON.parse(readFileSync(lockPath, 'utf8')) as RunLockInfo;
      if (held.token === this.info.token) rmSync(lockPath, { force: true });
    } catch {
      // already gone
    }
  }
}

function checkName(name: string): string {
  const n = normalize(name);
  if (!name || isAbsolute(name) || n.startsWith('..') || n.includes('\0') || n.split(/[\\/]/).some((p) => p === '..'))
    throw new TypeError(`output file name '${name}' must be a relative path inside the run directory`);
  return n;
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
 * Check a run directory's published set: the manifest exists and every listed file (or each of `names`) has
 * the recorded size and SHA-256. @returns the manifest
 * @throws DataFormatError when there is no complete set; ChecksumError naming a file that differs
 */
export function verifyRunOutputs(dir: string, names?: readonly string[]): RunManifest {
  const p = join(dir, MANIFEST_FILE);
  const m = readManifestIfAny(dir);
  if (!m)
    throw new DataFormatError({
      file: p,
      message: existsSync(p)
        ? 'not a vlfer output manifest'
        : 'missing: the run has not finished writing a complete set of outputs',
    });
  for (const name of names ?? Object.keys(m.files)) {
    const want = m.files[name];
    if (!want)
      throw new DataFormatError({ file: p, field: name, message: 'this file is not part of the published set' });
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, name));
    } catch (error) {
      throw new FileIoError({ file: join(dir, name), operation: 'read', cause: error });
    }
    const got = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length !== want.bytes || got !== want.sha256)
      throw new ChecksumError({
        file: join(dir, name),
        message: `differs from the manifest (sha256 ${got.slice(0, 12)}…, ${bytes.length} bytes; manifest: ${want.sha256.slice(0, 12)}…, ${want.bytes} bytes): changed after the run or from another run`,
      });
  }
  return m;
}
