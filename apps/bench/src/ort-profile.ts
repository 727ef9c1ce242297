/**
 * @file Summaries of ONNX Runtime session profiles (`enableProfiling`): Chrome-trace JSON arrays whose `Node` events
 * (`name` ending in `_kernel_time`, `args.op_name`, `dur` in µs) time each kernel and whose `Session` events named
 * `model_run` time each `run`. Used by `bench:hesp-step --profile`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** One event of an ORT profile (the fields the summary reads). */
export interface OrtProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; provider?: string };
}

export interface OrtProfileSummary {
  /** runs counted (after the skipped ones) */
  runs: number;
  /** Σ `model_run` of the counted runs, ms */
  runMs: number;
  /** Σ kernel time of the counted runs, ms (the rest of `runMs` is ORT's own work between kernels) */
  kernelMs: number;
  /** kernel time by ONNX op type, ms, largest first */
  byOp: { op: string; ms: number; count: number }[];
  /** kernel time by execution provider (`args.provider`, e.g. CPUExecutionProvider, WebGpuExecutionProvider), ms, largest first: a GPU session's CPU share shows the nodes that fell back to the CPU */
  byProvider: { provider: string; ms: number; count: number }[];
}

/**
 * Kernel time by op type over the `model_run`s of one session's profile, leaving out the first `skipRuns` runs
 * (warm-up steps, whose kernels also size the memory arenas). @throws Error when `skipRuns` leaves no run
 */
export function summariseOrtProfile(events: readonly OrtProfileEvent[], skipRuns = 0): OrtProfileSummary {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  if (!Number.isInteger(skipRuns) || skipRuns < 0 || skipRuns >= runs.length)
    throw new Error(`summariseOrtProfile: skipRuns must be an integer in [0, ${runs.length}), got ${skipRuns}`);
  const kept = runs.slice(skipRuns);
  const from = kept[0]!.ts;
  const ops = new Map<string, { ms: number; count: number }>();
  const providers = new Map<string, { ms: number; count: number }>();
  const add = (m: Map<string, { ms: number; count: number }>, key: string, ms: number) => {
    const o = m.get(key) ?? { ms: 0, count: 0 };
    o.ms += ms;
    o.count += 1;
    m.set(key, o);
  };
  let kernelMs = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
    add(ops, e.args?.op_name ?? 'unknown', e.dur / 1000);
    add(providers, e.args?.provider ?? 'unknown', e.dur / 1000);
    kernelMs += e.dur / 1000;
  }
  const sorted = <K extends string>(m: Map<string, { ms: number; count: number }>, key: K) =>
    [...m]
      .map(([k, o]) => ({ [key]: k, ...o }) as Record<K, string> & { ms: number; count: number })
      .sort((a, b) => b.ms - a.ms);
  return {
    runs: kept.length,
    runMs: kept.reduce((s, r) => s + r.dur / 1000, 0),
    kernelMs,
    byOp: sorted(ops, 'op'),
    byProvider: sorted(providers, 'provider'),
  };
}

/**
 * The profiles written for `prefix` (`<prefix>-<session>_<time>.json`), summarised per session with the first
 * `skipFraction` of each session's runs left out. @returns session name → summary
 */
export function summariseOrtProfiles(prefix: string, skipFraction: number): Record<string, OrtProfileSummary> {
  const dir = dirname(prefix);
  const stem = basename(prefix);
  const out: Record<string, OrtProfileSummary> = {};
  for (const f of readdirSync(dir).filter((n) => n.startsWith(`${stem}-`) && n.endsWith('.json'))) {
    const session = f.slice(stem.length + 1).split('_')[0]!; // ORT appends _<date>_<time>.json
    const events = JSON.parse(readFileSync(join(dir, f), 'utf8')) as OrtProfileEvent[];
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').length;
    if (runs > 0) out[session] = summariseOrtProfile(events, Math.round(runs * skipFraction));
  }
  return out;
}
