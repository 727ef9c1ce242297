/**
 * @file Process-tree helpers for the kill tests (Linux: read from /proc): which processes a command started, whether
 * they still run, and waiting on events instead of deadlines.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** State, parent pid and process group of every process (from /proc/PID/stat: fields 3, 4 and 5). */
function table(): Map<number, { state: string; ppid: number; pgrp: number }> {
  const m = new Map<number, { state: string; ppid: number; pgrp: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      m.set(Number(d), { state: state!, ppid: Number(ppid), pgrp: Number(pgrp) });
    } catch {
      // the process ended while we listed
    }
  }
  return m;
}

/** Parent pid of every process (from /proc). */
function parents(): Map<number, number> {
  return new Map([...table()].map(([pid, s]) => [pid, s.ppid]));
}

/**
 * The processes of process group `pgid` that run (zombies, ended but not yet reaped, left out), as the process table
 * stands now: what a child that leads its own group (`detached`) started is found here even once it is orphaned.
 */
export function groupMembers(pgid: number): number[] {
  return [...table()].filter(([, s]) => s.pgrp === pgid && s.state !== 'Z').map(([pid]) => pid);
}

/** Every process below `pid` (children, their children, …), as the process table stands now. */
export function descendants(pid: number): number[] {
  const p = parents();
  const out: number[] = [];
  let frontier = [pid];
  while (frontier.length) {
    const next = [...p].filter(([, pp]) => frontier.includes(pp)).map(([c]) => c);
    out.push(...next);
    frontier = next;
  }
  return out;
}

/** Whether `pid` runs (a zombie, ended but not yet reaped, does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The command line of `pid`, arguments joined by spaces; '' once it has ended. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * Poll until `cond` holds; the limit is only a safety net against a hang (it fails the test with `what`, and with
 * what `state()` says then, e.g. the processes still alive and where they are).
 */
export async function until(
  cond: () => boolean,
  what: string,
  safetyMs = 180_000,
  state?: () => string,
): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > safetyMs)
      throw new Error(`gave up waiting (${safetyMs / 1000} s) for: ${what}${state ? `; ${state()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What a live process is doing, for a hang's report: its command line, state and kernel wait channel. */
export function processReport(pid: number): string {
  const read = (f: string) => {
    try {
      return readFileSync(`/proc/${pid}/${f}`, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  const stat = read('stat');
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return `pid ${pid} (${commandLine(pid) || '?'}): state ${state}, wchan ${read('wchan')}, threads ${read('status').match(/Threads:\s+(\d+)/)?.[1] ?? '?'}`;
}

/**
 * The threads of this process now (Linux `/proc/self/status`): a model's ONNX Runtime sessions hold threads until
 * they are released, so a count that grows across failed calls tells a model left to the garbage collector.
 */
export function processThreads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}
