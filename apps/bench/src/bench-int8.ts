/**
 * `pnpm bench:encode --dtype int8`: raw encode of a full-size vision tower on the 'graphs' runtime in fp32 and in
 * int8 (`loadClip({ dtype: 'int8' })`: DynamicQuantizeMatMul), with the int8 features' cosine to fp32 on the same
 * tensor; with `--vs torch`, PyTorch fp32 and `torch.quantization.quantize_dynamic` int8 of the same architecture
 * (apps/bench/torch/encode.py --quantize dynamic) in alternating rounds. The load average is recorded at the start
 * and the end of the run, since int8 and fp32 speeds on a shared machine mean little without it.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { rowCosines } from '@vlfer/encoders';
import { ClipGradientModel, loadClip } from '@vlfer/encoders/node';
import { writeJsonAtomic } from '@vlfer/core/node';
import { writeRandomClip } from './random-clip.js';
import { benchEnvironment } from './environment.js';
import { sinPixels, timeEncodes, type PixelEncoder } from './encode-bench.js';
import { interleaved, median, runTorch } from './torch.js';

export interface Int8BenchOptions {
  shared: string;
  model: string;
  batch: number;
  reps: number;
  rounds: number;
  threads: number;
  modelsDir: string;
  out: string;
  vsTorch: boolean;
}

/** Median images/s and CPU milliseconds per call of `reps` timed `encodePixels` calls (`timeEncodes`). */
async function rawRate(
  clip: PixelEncoder,
  px: ReturnType<typeof sinPixels>,
  reps: number,
): Promise<{ rate: number; cpuMs: number }> {
  const t = await timeEncodes(clip, px, reps);
  return { rate: (px.dims[0] * 1000) / t.ms, cpuMs: t.cpuMs };
}

/**
 * The vlfer towers, loaded once: fp32 as `loadClip` runs it on a CPU (weights fed as inputs), fp32 with the weights
 * stored in the graph (ONNX Runtime prepacks them, as it does int8's), and int8. A round times all three.
 */
async function vlferSide(o: Int8BenchOptions, dir: string) {
  const load = (dtype: 'fp32' | 'int8') =>
    loadClip({ model: dir, dtype, towers: ['vision'], intraOpNumThreads: o.threads });
  const [fp32, int8] = [await load('fp32'), await load('int8')];
  const stored = await ClipGradientModel.load(dir, {
    towers: ['vision'],
    gradients: false,
    weightsIn: 'graph',
    intraOpNumThreads: o.threads,
  });
  const fp32Stored: PixelEncoder = { encodePixels: (px) => stored.visionForwardEmbeds(px) };
  const px = sinPixels(o.batch);
  const cos = rowCosines(await fp32.encodePixels(px), await int8.encodePixels(px));
  const round = async () => {
    const a = await rawRate(fp32, px, o.reps);
    const b = await rawRate(fp32Stored, px, o.reps);
    const q = await rawRate(int8, px, o.reps);
    const r = {
      fp32: a.rate,
      fp32StoredWeights: b.rate,
      int8: q.rate,
      cpuMsPerBatch: { fp32: a.cpuMs, fp32StoredWeights: b.cpuMs, int8: q.cpuMs },
    };
    process.stderr.write(
      `vlfer ${o.model}: raw fp32 ${r.fp32.toFixed(2)}, fp32 stored weights ${r.fp32StoredWeights.toFixed(2)}, int8 ${r.int8.toFixed(2)} images/s (CPU ms/batch ${a.cpuMs.toFixed(0)}, ${b.cpuMs.toFixed(0)}, ${q.cpuMs.toFixed(0)})\n`,
    );
    return r;
  };
  const dispose = () => Promise.all([fp32.dispose(), int8.dispose(), stored.release()]);
  return { round, dispose, cosine: { min: Math.min(...cos), mean: cos.reduce((a, b) => a + b, 0) / cos.length } };
}

/** One PyTorch round: fp32 (fastest of eager/jit) and quantize_dynamic int8. */
async function torchRound(o: Int8BenchOptions, config: string) {
  const args = { config, batch: o.batch, reps: o.reps };
  const fp32 = await runTorch('encode', args, o.threads);
  const int8 = await runTorch('encode', { ...args, quantize: 'dynamic' }, o.threads);
  const cpuMsPerBatch = {
    fp32: 1000 * (fp32.rawCpuSecondsPerBatch as number),
    int8: 1000 * (int8.rawCpuSecondsPerBatch as number),
  };
  const r = {
    fp32: fp32.rawImagesPerSecond as number,
    int8: int8.rawImagesPerSecond as number,
    cpuMsPerBatch,
    int8Result: int8,
  };
  process.stderr.write(
    `PyTorch ${o.model}: raw fp32 ${r.fp32.toFixed(2)}, int8 ${r.int8.toFixed(2)} images/s (CPU ms/batch ${cpuMsPerBatch.fp32.toFixed(0)}, ${cpuMsPerBatch.int8.toFixed(0)})\n`,
  );
  return r;
}

/** Runs the int8 comparison and writes `o.out`. @returns the record written */
export async function runInt8Bench(o: Int8BenchOptions): Promise<Record<string, unknown>> {
  const loadStart = loadavg();
  const config = join(o.shared, 'fixtures', 'graphs', o.model, 'config.json');
  const tokenizerDir = join(o.shared, 'assets', 'clip-tokenizer');
  const dir = writeRandomClip({ configFile: config, tokenizerDir, outDir: join(o.modelsDir, `${o.model}-hf-random`) });
  const v = await vlferSide(o, dir);
  const r = await interleaved(o.rounds, v.round, o.vsTorch ? () => torchRound(o, config) : undefined, (l) =>
    process.stderr.write(`${o.model}: ${l}\n`),
  );
  await v.dispose();
  const med = (xs: { fp32: number; int8: number }[]) => ({
    fp32: median(xs.map((x) => x.fp32)),
    int8: median(xs.map((x) => x.int8)),
  });
  const vm = { ...med(r.a), fp32StoredWeights: median(r.a.map((x) => x.fp32StoredWeights)) };
  const tm = r.b.length ? med(r.b) : undefined;
  const cpu = {
    vlfer: med(r.a.map((x) => x.cpuMsPerBatch)),
    ...(r.b.length ? { torch: med(r.b.map((x) => x.cpuMsPerBatch)) } : {}),
  };
  const record = {
    benchmark: 'encode-int8',
    // the int8 encoders are loadClip's own graphs (the 'graphs' runtime of bench:encode --runtime)
    runtime: 'graphs',
    model: o.model,
    batch: o.batch,
    reps: o.reps,
    rounds: o.rounds,
    threads: o.threads,
    loadAverage: { start: loadStart, end: loadavg() },
    environment: benchEnvironment(),
    vlfer: { imagesPerSecond: vm, cpuMsPerBatch: cpu.vlfer, int8CosineToFp32: v.cosine, runs: r.a },
    ...(tm && cpu.torch
      ? {
          torch: { ...torchRecord(r.b, tm), cpuMsPerBatch: cpu.torch },
          ratio: ratios(vm, tm),
          cpuRatio: ratios(
            { fp32: 1 / cpu.vlfer.fp32, int8: 1 / cpu.vlfer.int8 },
            { fp32: 1 / cpu.torch.fp32, int8: 1 / cpu.torch.int8 },
          ),
        }
      : {}),
  };
  writeJsonAtomic(o.out, record);
  process.stdout.write(`${int8Summary(record, vm, tm)}\n`);
  if (cpu.torch) process.stdout.write(`${cpuSummary(cpu.vlfer, cpu.torch)}\n`);
  return record;
}

function torchRecord(
  runs: { fp32: number; int8: number; cpuMsPerBatch: object; int8Result: Record<string, any> }[],
  tm: object,
) {
  const last = runs.at(-1)!.int8Result;
  return {
    version: last.torch,
    quantize: last.quantize,
    int8CosineToFp32: last.int8CosineToFp32,
    // what the peer ran with (as the other benches record it): its settings, BLAS and threads
    environment: last.environment,
    blas: last.blas,
    parallelInfo: last.parallelInfo,
    openblasThreads: last.openblasThreads,
    imagesPerSecond: tm,
    runs: runs.map(({ fp32, int8, cpuMsPerBatch }) => ({ fp32, int8, cpuMsPerBatch })),
  };
}

function ratios(v: { fp32: number; int8: number }, t: { fp32: number; int8: number }) {
  return { int8VsTorchFp32: v.int8 / t.fp32, int8VsTorchInt8: v.int8 / t.int8, fp32VsTorchFp32: v.fp32 / t.fp32 };
}

function int8Summary(
  r: { model: string; batch: number; threads: number; rounds: number; loadAverage: { start: number[]; end: number[] } },
  v: { fp32: number; fp32StoredWeights: number; int8: number },
  t: { fp32: number; int8: number } | undefined,
): string {
  const load = `load average ${r.loadAverage.start[0]!.toFixed(1)} → ${r.loadAverage.end[0]!.toFixed(1)}`;
  const head = `${r.model} raw encode, batch ${r.batch}, ${r.threads} threads, medians of ${r.rounds} rounds (images/s), ${load}: vlfer fp32 ${v.fp32.toFixed(2)} (weights stored in the graph: ${v.fp32StoredWeights.toFixed(2)}), int8 ${v.int8.toFixed(2)} (${(v.int8 / v.fp32StoredWeights).toFixed(2)}× fp32 stored)`;
  if (!t) return head;
  return `${head}; PyTorch fp32 ${t.fp32.toFixed(2)}, quantize_dynamic int8 ${t.int8.toFixed(2)}; vlfer int8 = ${(v.int8 / t.fp32).toFixed(2)}× PyTorch fp32, ${(v.int8 / t.int8).toFixed(2)}× PyTorch int8`;
}

/** The same ratios from CPU time per batch (torch ms ÷ vlfer ms: > 1 when vlfer does the batch with less CPU). */
function cpuSummary(v: { fp32: number; int8: number }, t: { fp32: number; int8: number }): string {
  return `CPU ms per batch (medians): vlfer fp32 ${v.fp32.toFixed(0)}, int8 ${v.int8.toFixed(0)}; PyTorch fp32 ${t.fp32.toFixed(0)}, int8 ${t.int8.toFixed(0)}; vlfer int8 = ${(t.fp32 / v.int8).toFixed(2)}× PyTorch fp32, ${(t.int8 / v.int8).toFixed(2)}× PyTorch int8 by CPU time`;
}
