import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * The side-by-side table of apps/bench/README.md ("Ratios and fractions of peak"), made from the JSON files the
 * `--vs torch` benches write, so that the README shows what a run measured and nothing else. Each file is
 * recognised by its `benchmark` field (`encode`, `encode-int8`, `train-head`, `hesp-step`, `vjp`, `load`); a file
 * without `--vs torch` results, or of another benchmark, is an error naming the file (the table compares two sides).
 */

const peak = z.object({
  cpu: z.string(),
  threads: z.number(),
  ort: z.object({ gflops: z.number() }),
  reference: z.object({ engine: z.string(), gflops: z.number() }),
});
// a row can't run faster than the machine's fastest GEMM: a fraction above 1 means the peak it divides by was timed
// while other work ran (understated), and every fraction of that file is then overstated
const fraction = z.object({
  fraction: z
    .number()
    .max(
      1,
      'above 1 (100 %): the peak was understated (timed while other work ran); rerun the bench on a quiet machine',
    ),
  gflops: z.number(),
});
const machineRecord = z.object({
  loadAverage: z.array(z.number()).length(3),
  cpuShares: z.object({ busy: z.number(), idle: z.number(), steal: z.number() }).optional(),
});
const environment = z
  .object({ date: z.string(), git: z.unknown().optional(), machine: machineRecord.optional() })
  .passthrough();

const encode = z.object({
  benchmark: z.literal('encode'),
  vs: z.literal('torch'),
  matmulPeak: peak,
  environment,
  comparisons: z
    .array(
      z.object({
        model: z.string(),
        // absent in files written before `bench:encode --runtime` (2026-12-05), which timed the exported graph
        runtime: z.enum(['onnx', 'graphs']).optional(),
        // bench:encode --weights-in (the 'graphs' runtime); absent: the CPU default, weights fed
        weightsIn: z.enum(['inputs', 'graph']).optional(),
        batch: z.number(),
        threads: z.number(),
        rounds: z.number(),
        vlfer: z.object({
          imagesPerSecond: z.object({ raw: z.number(), preprocess: z.number(), pipeline: z.number() }),
        }),
        torch: z.object({
          encoder: z.array(z.string()),
          imagesPerSecond: z.object({ raw: z.number(), preprocess: z.number(), pipeline: z.number() }),
        }),
        ratio: z.object({ raw: z.number(), preprocess: z.number(), pipeline: z.number() }),
        fractionOfPeak: z.object({ raw: z.object({ vlfer: fraction, torch: fraction }) }),
      }),
    )
    .min(1),
});

const int8 = z.object({
  benchmark: z.literal('encode-int8'),
  // absent in files written before the int8 bench recorded it (2026-12-05)
  environment: environment.optional(),
  model: z.string(),
  batch: z.number(),
  threads: z.number(),
  rounds: z.number(),
  loadAverage: z.object({ start: z.array(z.number()), end: z.array(z.number()) }),
  vlfer: z.object({
    imagesPerSecond: z.object({ fp32: z.number(), int8: z.number() }),
    int8CosineToFp32: z.object({ min: z.number(), mean: z.number() }),
  }),
  torch: z.object({ imagesPerSecond: z.object({ fp32: z.number(), int8: z.number() }) }),
  ratio: z.object({ int8VsTorchFp32: z.number(), int8VsTorchInt8: z.number(), fp32VsTorchFp32: z.number() }),
  cpuRatio: z.object({ int8VsTorchFp32: z.number(), int8VsTorchInt8: z.number() }),
});

const trainHead = z.object({
  benchmark: z.literal('train-head'),
  matmulPeak: peak,
  environment,
  result: z.object({
    batch: z.number(),
    dim: z.number(),
    outDim: z.number(),
    steps: z.number(),
    threads: z.number(),
    msPerStep: z.number(),
    fractionOfPeak: fraction,
  }),
  torch: z.object({ msPerStep: z.number(), fractionOfPeak: fraction, ratio: z.object({ speed: z.number() }) }),
});

/** A side of a timed GEMM-bound bench (hesp-step, vjp): median seconds, peak RSS and matmul rate. */
const timed = { medianSeconds: z.number(), peakRssBytes: z.number(), fractionOfPeak: fraction };
const timedTorch = z.object({ ...timed, ratio: z.object({ speed: z.number(), peakMemory: z.number() }) });

const hespStep = z.object({
  benchmark: z.literal('hesp-step'),
  matmulPeak: peak,
  environment,
  result: z.object({
    arch: z.string(),
    clips: z.number(),
    frames: z.number(),
    classes: z.number(),
    weightsIn: z.string(),
    threads: z.number(),
    ...timed,
  }),
  torch: timedTorch,
});

const vjp = z.object({
  benchmark: z.literal('vjp'),
  matmulPeak: peak,
  environment,
  result: z.object({ arch: z.string(), images: z.number(), threads: z.number(), ...timed }),
  torch: timedTorch,
});

const stage = z.object({ seconds: z.number(), cpuSeconds: z.number(), peakRssBytes: z.number() });
const stages = z.object({ open: stage, ready: stage, firstBatch: stage });
const load = z.object({
  // files written before bench:load named itself carry no `benchmark` field; they are recognised by `stages`
  benchmark: z.literal('load').optional(),
  // absent in files written before bench:load recorded it (2026-12-03)
  environment: environment.optional(),
  threads: z.number(),
  cpu: z.string(),
  gradients: z.boolean(),
  stages: z.record(z.string(), z.unknown()),
  summary: z.record(z.string(), stages),
  ratioTorchMmapOverVlfer: z.record(z.string(), z.record(z.string(), z.object({ wall: z.number(), cpu: z.number() }))),
});

/** One parsed bench result, tagged by kind. */
export type BenchResult =
  | { kind: 'encode'; file: string; json: z.infer<typeof encode> }
  | { kind: 'encode-int8'; file: string; json: z.infer<typeof int8> }
  | { kind: 'train-head'; file: string; json: z.infer<typeof trainHead> }
  | { kind: 'hesp-step'; file: string; json: z.infer<typeof hespStep> }
  | { kind: 'vjp'; file: string; json: z.infer<typeof vjp> }
  | { kind: 'load'; file: string; json: z.infer<typeof load> };

const SCHEMAS = {
  encode,
  'encode-int8': int8,
  'train-head': trainHead,
  'hesp-step': hespStep,
  vjp,
  load,
} as const;

/**
 * Parse one bench JSON (already `JSON.parse`d) into a {@link BenchResult}.
 * @throws naming `file` and the first field that is missing or of the wrong type, or the unknown benchmark
 */
export function parseBenchResult(file: string, value: unknown): BenchResult {
  const tag = (value as { benchmark?: unknown } | null)?.benchmark;
  const kind = (tag === undefined && value && typeof value === 'object' && 'stages' in value ? 'load' : tag) as
    keyof typeof SCHEMAS | undefined;
  if (typeof kind !== 'string' || !(kind in SCHEMAS))
    throw new Error(
      `${file}: not a bench result this table knows (benchmark = ${JSON.stringify(tag)}; expected one of ${Object.keys(SCHEMAS).join(', ')})`,
    );
  const parsed = SCHEMAS[kind].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.') || '(top level)';
    const hint = issue.path[0] === 'torch' || issue.path[0] === 'vs' ? ' (was it run with --vs torch?)' : '';
    throw new Error(`${file}: ${kind} result, field ${where}: ${issue.message}${hint}`);
  }
  return { kind, file, json: parsed.data } as BenchResult;
}

/** Every `*.json` in `dir`, parsed, in name order. @throws naming the directory when it has none */
export function readBenchResults(dir: string): BenchResult[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`${dir}: no bench result (*.json) to make a table from`);
  return files.map((f) => {
    const path = join(dir, f);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new Error(`${path}: not JSON (${(e as Error).message})`);
    }
    return parseBenchResult(path, value);
  });
}

/** A row of the table: every cell already formatted. */
export interface RatioRow {
  row: string;
  /** vlfer ÷ PyTorch (> 1: vlfer faster), with both sides' figures */
  ratio: string;
  vlferPeak: string;
  torchPeak: string;
  machine: string;
}

const x = (r: number) => `${r.toFixed(2)}×`;
const pct = (f: { fraction: number }) => `${(100 * f.fraction).toFixed(0)} %`;
const gib = (b: number) => (b / 2 ** 30).toFixed(2);
const machineOf = (p: z.infer<typeof peak>) =>
  `${p.cpu.trim()}, ${p.threads} threads; peak ${p.reference.gflops.toFixed(0)} GFLOP/s (${p.reference.engine}; ORT's own ${p.ort.gflops.toFixed(0)})`;
const NONE = '— (not compute-bound)';
/**
 * Which vlfer runtime an encode result timed, where its file says (`bench:encode --runtime`); nothing for older files.
 * The preprocessing row carries it too: the same code on both runtimes, but a table may hold a run of each.
 */
const RUNTIME_LABEL = {
  onnx: 'vlfer: the exported ONNX graph',
  graphs: "vlfer: `loadClip`'s own graphs",
} as const;

/** The rows of each result, in a fixed order of kinds (encode, int8, head, HESP, VJP, load). */
export function ratioRows(results: readonly BenchResult[]): RatioRow[] {
  const order: BenchResult['kind'][] = ['encode', 'encode-int8', 'train-head', 'hesp-step', 'vjp', 'load'];
  const sorted = [...results].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  return sorted.flatMap(rowsOf);
}

function rowsOf(r: BenchResult): RatioRow[] {
  switch (r.kind) {
    case 'encode': {
      const m = machineOf(r.json.matmulPeak);
      return r.json.comparisons.flatMap((c) => {
        const v = c.vlfer.imagesPerSecond,
          t = c.torch.imagesPerSecond;
        const pair = (a: number, b: number, digits: number) => `${a.toFixed(digits)} vs ${b.toFixed(digits)} images/s`;
        const stored = c.weightsIn === 'graph' ? ', weights stored' : '';
        const runtime = c.runtime ? ` (${RUNTIME_LABEL[c.runtime]}${stored})` : '';
        return [
          {
            row: `raw encode, ${c.model}, batch ${c.batch}${runtime}`,
            ratio: `${x(c.ratio.raw)} (${pair(v.raw, t.raw, 1)})`,
            vlferPeak: pct(c.fractionOfPeak.raw.vlfer),
            torchPeak: `${pct(c.fractionOfPeak.raw.torch)} (${[...new Set(c.torch.encoder)].join(', ')})`,
            machine: m,
          },
          {
            row: `pipeline: FER2013 JPEG decode + resize + encode, ${c.model}, batch ${c.batch}${runtime}`,
            ratio: `${x(c.ratio.pipeline)} (${pair(v.pipeline, t.pipeline, 1)})`,
            vlferPeak: NONE,
            torchPeak: NONE,
            machine: m,
          },
          {
            row: `preprocessing only (FER2013 48² JPEGs), batch ${c.batch}${runtime}`,
            ratio: `${x(c.ratio.preprocess)} (${pair(v.preprocess, t.preprocess, 0)})`,
            vlferPeak: NONE,
            torchPeak: NONE,
            machine: m,
          },
        ];
      });
    }
    case 'encode-int8': {
      const j = r.json;
      const v = j.vlfer.imagesPerSecond,
        t = j.torch.imagesPerSecond;
      return [
        {
          row: `raw encode int8, ${j.model}, batch ${j.batch} (vlfer int8; cosine to its fp32 features ≥ ${j.vlfer.int8CosineToFp32.min.toFixed(4)})`,
          ratio: `${x(j.ratio.int8VsTorchFp32)} PyTorch fp32, ${x(j.ratio.int8VsTorchInt8)} PyTorch int8 (${v.int8.toFixed(1)} vs ${t.fp32.toFixed(1)} / ${t.int8.toFixed(1)} images/s; CPU time ${x(j.cpuRatio.int8VsTorchFp32)} / ${x(j.cpuRatio.int8VsTorchInt8)})`,
          vlferPeak: '— (int8)',
          torchPeak: '— (int8)',
          machine: `${j.threads} threads; load average ${j.loadAverage.start[0]!.toFixed(2)} → ${j.loadAverage.end[0]!.toFixed(2)}`,
        },
      ];
    }
    case 'train-head': {
      const { result: v, torch: t } = r.json;
      return [
        {
          row: `Exp-CLIP head, ${v.steps} steps of batch ${v.batch} (${v.dim}→${v.outDim})`,
          ratio: `${x(t.ratio.speed)} (${v.msPerStep.toFixed(1)} vs ${t.msPerStep.toFixed(1)} ms/step)`,
          vlferPeak: pct(v.fractionOfPeak),
          torchPeak: pct(t.fractionOfPeak),
          machine: machineOf(r.json.matmulPeak),
        },
      ];
    }
    case 'hesp-step':
    case 'vjp': {
      const { result: v, torch: t } = r.json;
      const row =
        r.kind === 'hesp-step'
          ? `HESP step, ${r.json.result.arch}, ${r.json.result.clips} clips × ${r.json.result.frames} frames, K = ${r.json.result.classes} (weights ${r.json.result.weightsIn})`
          : `vision forward + VJP to the pixels, ${r.json.result.arch}, ${r.json.result.images} images`;
      const prefix = r.kind === 'hesp-step' ? 'HESP' : 'VJP';
      return [
        {
          row,
          ratio: `${x(t.ratio.speed)} (${v.medianSeconds.toFixed(2)} vs ${t.medianSeconds.toFixed(2)} s)`,
          vlferPeak: pct(v.fractionOfPeak),
          torchPeak: pct(t.fractionOfPeak),
          machine: machineOf(r.json.matmulPeak),
        },
        {
          row: `${prefix} peak memory (RSS)`,
          ratio: `vlfer ${x(t.ratio.peakMemory)} PyTorch's (${gib(v.peakRssBytes)} vs ${gib(t.peakRssBytes)} GiB)`,
          vlferPeak: '—',
          torchPeak: '—',
          machine: '',
        },
      ];
    }
    case 'load': {
      const j = r.json;
      const what = j.gradients ? "HESP's four sessions" : 'two forward sessions';
      const torch = j.summary['torch-mmap'];
      return Object.entries(j.ratioTorchMmapOverVlfer).map(([variant, byStage]) => {
        const v = j.summary[variant];
        const cell = (s: 'open' | 'ready' | 'firstBatch') => {
          const q = byStage[s];
          if (!q || !v || !torch)
            throw new Error(`${r.file}: load result lacks stage ${s} of ${variant} or torch-mmap`);
          return `${s} ${x(q.wall)} (CPU ${x(q.cpu)}; ${v[s].seconds.toFixed(2)} vs ${torch[s].seconds.toFixed(2)} s)`;
        };
        return {
          row: `model load (the same model.safetensors, PyTorch memory-mapped), ${what}, vlfer \`${variant}\``,
          ratio: `${cell('open')}, ${cell('ready')}, ${cell('firstBatch')}`,
          vlferPeak: NONE,
          torchPeak: NONE,
          machine: `${j.cpu.trim()}, ${j.threads} threads`,
        };
      });
    }
  }
}

/**
 * How busy the machine was, from the files that record it (`environment.machine`, see `benchEnvironment`): the range
 * of the 1-minute load average when each result was written and of the share of CPU time the hypervisor gave to other
 * guests during each run. Empty when no file records it.
 */
function machineLoad(results: readonly BenchResult[]): string {
  const machines = results.flatMap((r) => (r.json.environment?.machine ? [r.json.environment.machine] : []));
  if (!machines.length) return '';
  // one figure where the ends print the same (0.41 and 0.44 % are both '0.4', not '0.4–0.4')
  const range = (xs: number[], f: (v: number) => string) => {
    const [lo, hi] = [f(Math.min(...xs)), f(Math.max(...xs))];
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  const steal = machines.flatMap((m) => (m.cpuShares ? [100 * m.cpuShares.steal] : []));
  const unrecorded = results.length - machines.length;
  return ` 1-minute load average at the end of each run ${range(
    machines.map((m) => m.loadAverage[0]!),
    (v) => v.toFixed(1),
  )}${steal.length ? `; CPU time stolen by the hypervisor (other guests of the host) during each run ${range(steal, (v) => v.toFixed(1))} %` : ''}${
    unrecorded ? ` (${unrecorded} file${unrecorded > 1 ? 's' : ''} without this record)` : ''
  }.`;
}

/** The Markdown table of {@link ratioRows}, with a line naming when, on which commit(s), the results were made. */
export function ratioTable(results: readonly BenchResult[]): string {
  const rows = ratioRows(results);
  const dates = results
    .flatMap((r) => (r.json.environment ? [r.json.environment.date] : []))
    .sort()
    .filter((d): d is string => typeof d === 'string');
  const commits = [
    ...new Set(
      results.flatMap((r) => {
        const g = (r.json.environment?.git ?? null) as { sha?: string; dirty?: boolean } | null;
        return g?.sha ? [`${g.sha.slice(0, 7)}${g.dirty ? ' (with uncommitted changes)' : ''}`] : [];
      }),
    ),
  ];
  const head = [
    `Generated by \`pnpm bench:table\` from ${results.length} result files${
      dates.length ? `, written ${dates[0]} to ${dates.at(-1)}` : ''
    }${commits.length ? ` at commit ${commits.join(', ')}` : ''}.${machineLoad(results)} Ratio = vlfer ÷ PyTorch in speed (> 1: vlfer faster).`,
    '',
    '| row | vlfer ÷ PyTorch | vlfer, fraction of peak | PyTorch, fraction of peak | CPU, threads, peak |',
    '|---|---|---|---|---|',
  ];
  return [
    ...head,
    ...rows.map((r) => `| ${r.row} | ${r.ratio} | ${r.vlferPeak} | ${r.torchPeak} | ${r.machine} |`),
  ].join('\n');
}
