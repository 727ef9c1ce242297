import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBenchResult, ratioRows, ratioTable, readBenchResults } from './ratio-table.js';
import { replaceBetweenMarkers } from './preprocess-bench.js';

const peak = (gflops: number) => ({
  cpu: 'Test CPU ',
  threads: 2,
  ort: { engine: 'onnxruntime', gflops: gflops * 0.8 },
  reference: { engine: 'torch peer: numpy', gflops },
});
const env = (date: string) => ({ date, git: { sha: 'abcdef0123456789abcdef0123456789abcdef01', dirty: false } });
const frac = (fraction: number) => ({ fraction, gflops: 100 * fraction });

/** The fields the benches write (apps/bench/src/bench-*.ts), with made-up numbers. */
const encode = {
  benchmark: 'encode',
  vs: 'torch',
  matmulPeak: peak(150),
  environment: env('2026-12-03T02:14:25.000Z'),
  comparisons: [
    {
      model: 'vit-b32',
      batch: 32,
      threads: 2,
      rounds: 3,
      vlfer: { imagesPerSecond: { raw: 15, preprocess: 1800, pipeline: 14 } },
      torch: {
        encoder: ['jit.freeze', 'jit.freeze', 'eager'],
        imagesPerSecond: { raw: 12, preprocess: 600, pipeline: 14 },
      },
      ratio: { raw: 15 / 12, preprocess: 3, pipeline: 1 },
      fractionOfPeak: { raw: { vlfer: frac(0.871), torch: frac(0.7) } },
    },
  ],
};
const head = {
  benchmark: 'train-head',
  matmulPeak: peak(190),
  environment: env('2026-12-03T02:30:00.000Z'),
  result: { batch: 512, dim: 512, outDim: 4096, steps: 480, threads: 2, msPerStep: 80, fractionOfPeak: frac(0.5) },
  torch: { msPerStep: 60, fractionOfPeak: frac(0.66), ratio: { speed: 0.75 } },
};
const stage = (s: number) => ({ seconds: s, cpuSeconds: s / 2, peakRssBytes: 2 ** 30 });
const load = {
  threads: 2,
  cpu: 'Test CPU',
  gradients: false,
  stages: { open: 'definition' },
  summary: {
    inputs: { open: stage(0.4), ready: stage(1), firstBatch: stage(2) },
    'torch-mmap': { open: stage(0.1), ready: stage(0.1), firstBatch: stage(1) },
  },
  ratioTorchMmapOverVlfer: {
    inputs: { open: { wall: 0.25, cpu: 0.25 }, ready: { wall: 0.1, cpu: 0.1 }, firstBatch: { wall: 0.5, cpu: 0.5 } },
  },
};

describe('bench:table', () => {
  it('makes one row per measured quantity, ratios and fractions of peak from the files, in a fixed order', () => {
    const results = [
      parseBenchResult('load.json', load),
      parseBenchResult('h.json', head),
      parseBenchResult('e.json', encode),
    ];
    const rows = ratioRows(results);
    expect(rows.map((r) => r.row)).toEqual([
      'raw encode, vit-b32, batch 32',
      'pipeline: FER2013 JPEG decode + resize + encode, vit-b32, batch 32',
      'preprocessing only (FER2013 48² JPEGs), batch 32',
      'Exp-CLIP head, 480 steps of batch 512 (512→4096)',
      'model load (the same model.safetensors, PyTorch memory-mapped), two forward sessions, vlfer `inputs`',
    ]);
    expect(rows[0]!.ratio).toBe('1.25× (15.0 vs 12.0 images/s)');
    expect(rows[0]!.vlferPeak).toBe('87 %');
    expect(rows[0]!.torchPeak).toBe('70 % (jit.freeze, eager)');
    expect(rows[0]!.machine).toBe("Test CPU, 2 threads; peak 150 GFLOP/s (torch peer: numpy; ORT's own 120)");
    expect(rows[3]!.ratio).toBe('0.75× (80.0 vs 60.0 ms/step)');
    expect(rows[4]!.ratio).toBe(
      'open 0.25× (CPU 0.25×; 0.40 vs 0.10 s), ready 0.10× (CPU 0.10×; 1.00 vs 0.10 s), firstBatch 0.50× (CPU 0.50×; 2.00 vs 1.00 s)',
    );
    const table = ratioTable(results);
    expect(table).toContain('written 2026-12-03T02:14:25.000Z to 2026-12-03T02:30:00.000Z at commit abcdef0');
    expect(table.split('\n').filter((l) => l.startsWith('| '))).toHaveLength(rows.length + 1);
  });

  it('names the vlfer runtime of an encode row where the file records it (bench:encode --runtime)', () => {
    const withRuntime = (runtime: unknown) =>
      ratioRows([parseBenchResult('e.json', { ...encode, comparisons: [{ ...encode.comparisons[0]!, runtime }] })]);
    expect(withRuntime('graphs').map((r) => r.row)).toEqual([
      "raw encode, vit-b32, batch 32 (vlfer: `loadClip`'s own graphs)",
      "pipeline: FER2013 JPEG decode + resize + encode, vit-b32, batch 32 (vlfer: `loadClip`'s own graphs)",
      "preprocessing only (FER2013 48² JPEGs), batch 32 (vlfer: `loadClip`'s own graphs)",
    ]);
    expect(withRuntime('onnx')[0]!.row).toBe('raw encode, vit-b32, batch 32 (vlfer: the exported ONNX graph)');
    const stored = ratioRows([
      parseBenchResult('e.json', {
        ...encode,
        comparisons: [{ ...encode.comparisons[0]!, runtime: 'graphs', weightsIn: 'graph' }],
      }),
    ]);
    expect(stored[0]!.row).toBe("raw encode, vit-b32, batch 32 (vlfer: `loadClip`'s own graphs, weights stored)");
    expect(() => withRuntime('tensorflow')).toThrow(/e\.json: encode result, field comparisons\.0\.runtime/);
  });

  it("states the machine's load and the CPU time stolen by the hypervisor from the files that record them", () => {
    const busy = (load: number, steal: number) => ({
      ...env('2026-12-03T07:00:00.000Z'),
      machine: { loadAverage: [load, 2, 2], cpuShares: { busy: 0.9, idle: 0.1 - steal, steal } },
    });
    const table = ratioTable([
      parseBenchResult('h.json', { ...head, environment: busy(2.25, 0.021) }),
      parseBenchResult('e.json', { ...encode, environment: busy(1.84, 0.064) }),
      parseBenchResult('load.json', load),
    ]);
    expect(table).toContain(
      '1-minute load average at the end of each run 1.8–2.3; CPU time stolen by the hypervisor (other guests of the host) during each run 2.1–6.4 % (1 file without this record).',
    );
    expect(ratioTable([parseBenchResult('h.json', head)])).not.toContain('load average');
    const close = ratioTable([
      parseBenchResult('h.json', { ...head, environment: busy(2.12, 0.0041) }),
      parseBenchResult('e.json', { ...encode, environment: busy(2.14, 0.0044) }),
    ]);
    expect(close).toContain(
      'load average at the end of each run 2.1; CPU time stolen by the hypervisor (other guests of the host) during each run 0.4 %.',
    );
    expect(() =>
      parseBenchResult('h.json', { ...head, environment: { ...env('x'), machine: { loadAverage: [1] } } }),
    ).toThrow(/h\.json: .*environment\.machine\.loadAverage/);
  });

  it('takes the date, commit and load of int8 and load files that record them, and reads older ones without', () => {
    const int8 = {
      benchmark: 'encode-int8',
      model: 'vit-b32',
      batch: 32,
      threads: 2,
      rounds: 3,
      loadAverage: { start: [1.7, 2, 2], end: [2.1, 2, 2] },
      vlfer: { imagesPerSecond: { fp32: 17, int8: 34 }, int8CosineToFp32: { min: 0.9998, mean: 0.9999 } },
      torch: { imagesPerSecond: { fp32: 15, int8: 30 } },
      ratio: { int8VsTorchFp32: 34 / 15, int8VsTorchInt8: 34 / 30, fp32VsTorchFp32: 17 / 15 },
      cpuRatio: { int8VsTorchFp32: 2.3, int8VsTorchInt8: 1.1 },
    };
    const machine = (steal: number) => ({ loadAverage: [2.2, 2, 2], cpuShares: { busy: 0.9, idle: 0.1, steal } });
    const recorded = [
      parseBenchResult('h.json', head),
      parseBenchResult('i.json', {
        ...int8,
        environment: { ...env('2026-12-05T10:46:09.000Z'), machine: machine(0.001) },
      }),
      parseBenchResult('l.json', {
        ...load,
        environment: { ...env('2026-12-05T10:40:06.000Z'), machine: machine(0.03) },
      }),
    ];
    const table = ratioTable(recorded);
    expect(table).toContain('written 2026-12-03T02:30:00.000Z to 2026-12-05T10:46:09.000Z at commit abcdef0');
    expect(table).toContain('during each run 0.1–3.0 % (1 file without this record)');
    const older = ratioTable([parseBenchResult('i.json', int8), parseBenchResult('l.json', load)]);
    expect(older).toContain('from 2 result files. Ratio');
  });

  it('refuses a result without the PyTorch side, naming the file and the field', () => {
    const { torch: _, ...alone } = head;
    expect(() => parseBenchResult('bench-results/train-head.json', alone)).toThrow(
      /bench-results\/train-head\.json: train-head result, field torch: .*--vs torch/,
    );
    expect(() => parseBenchResult('x.json', { benchmark: 'faces' })).toThrow(/x\.json: .*"faces".*expected one of/);
    expect(() =>
      parseBenchResult('e.json', { ...encode, comparisons: [{ ...encode.comparisons[0], batch: '32' }] }),
    ).toThrow(/e\.json: encode result, field comparisons\.0\.batch/);
  });

  it('refuses a fraction of peak above 1 (a peak timed while other work ran), naming the file and the field', () => {
    const over = { ...head, result: { ...head.result, fractionOfPeak: frac(1.08) } };
    expect(() => parseBenchResult('t.json', over)).toThrow(/t\.json: .*fractionOfPeak\.fraction.*peak was understated/);
  });
  it('reads every JSON of a folder, and names a file that is not JSON or a folder with none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vlfer-table-'));
    expect(() => readBenchResults(dir)).toThrow(/no bench result/);
    writeFileSync(join(dir, 'a.json'), JSON.stringify(encode));
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    expect(readBenchResults(dir).map((r) => r.kind)).toEqual(['encode']);
    writeFileSync(join(dir, 'b.json'), '{ not json');
    expect(() => readBenchResults(dir)).toThrow(/b\.json: not JSON/);
  });

  it('writes between the named markers only', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vlfer-table-readme-')), 'README.md');
    const other = '<!-- bench:preprocess:start -->\nkept\n<!-- bench:preprocess:end -->';
    writeFileSync(file, `a\n<!-- bench:table:start -->\nold\n<!-- bench:table:end -->\n${other}\n`);
    replaceBetweenMarkers(file, 'new table', 'bench:table');
    expect(readFileSync(file, 'utf8')).toBe(
      `a\n<!-- bench:table:start -->\nnew table\n<!-- bench:table:end -->\n${other}\n`,
    );
    expect(() => replaceBetweenMarkers(file, 'x', 'bench:nothing')).toThrow(/no <!-- bench:nothing:start -->/);
  });
});
