import { argmaxRows, createRng, mapConcurrently, throwIfAborted, VlferError, type Tensor2D } from '@vlfer/core';
import { buildZeroShotClassifier, rowCosines } from '@vlfer/encoders';
import { encodeImages, loadClip, sampleClipFrames, type ClipModel, type EncodeItem } from '@vlfer/encoders/node';
import type { EvalData } from './data.js';
import type { EvalModel, EvalPrompts } from './evaluate.js';
import type { EvalOptions } from './options.js';

/** The guard's thresholds: every sampled item's cosine to fp32 and the zero-shot argmax agreement. */
export const QUANTIZATION_THRESHOLDS = { cosineMin: 0.999, argmaxAgreement: 0.99 } as const;

/** What the int8 guard measured (metrics.json `quantization`). */
export interface QuantizationReport {
  dtype: 'int8';
  /** Items encoded in both precisions (a seeded sample of the run's own items). */
  sample: number;
  /** Cosine of int8 to fp32 image features over the sample: mean and minimum. */
  cosineMean: number;
  cosineMin: number;
  /** Fraction of (item, prompt type) pairs whose zero-shot argmax is the same in int8 and fp32. */
  argmaxAgreement: number;
  thresholds: typeof QUANTIZATION_THRESHOLDS;
  passed: boolean;
  /** The run went on although the guard failed (`acceptInaccurateQuantization`). */
  accepted: boolean;
}

/**
 * A seeded sample of `n` of the run's items from every fold (all of them when fewer), each once, in a fixed order:
 * image paths, frame directories or video files. @returns their paths
 */
export function guardSample(data: readonly EvalData[], n: number, seed: number): string[] {
  const keys = [...new Set(data.flatMap((d) => d.items.map((i) => ('frameDir' in i ? i.frameDir : i.path))))].sort();
  const rng = createRng(seed);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return keys.slice(0, n);
}

/** Videos decoded at once for the guard's sample (each an ffmpeg process; the sample is 64 clips by default). */
const GUARD_DECODES_IN_FLIGHT = 2;

/**
 * What the guard encodes for a sampled item: an image as it is, a clip's centre frame (`sampleClipFrames`, at most
 * {@link GUARD_DECODES_IN_FLIGHT} at a time, stopped by `signal`: every sampled video's ffmpeg ran at once, and on
 * after an abort).
 */
async function guardItems(
  data: readonly EvalData[],
  keys: readonly string[],
  hooks: GuardHooks,
): Promise<EncodeItem[]> {
  const kind = data[0]!.kind;
  if (kind === 'images') return [...keys];
  const clip = (k: string) => (kind === 'frames' ? { frameDir: k } : { videoFile: k });
  const options = { numSegments: 1, ...(hooks.signal ? { signal: hooks.signal } : {}), log: hooks.log };
  return mapConcurrently(keys, GUARD_DECODES_IN_FLIGHT, async (k) => {
    throwIfAborted(hooks.signal, 'the int8 guard');
    return (await sampleClipFrames(clip(k), options)).items[0]!;
  });
}

/** What the guard is given besides its data: where its lines go, and the run's AbortSignal. */
export interface GuardHooks {
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** Per prompt type, the zero-shot argmax of `features` with `clip`'s text tower (same classifier as the run). */
async function zeroShotArgmax(
  clip: ClipModel,
  features: Tensor2D,
  spec: { labelNames: readonly string[]; prompts: EvalPrompts; options: EvalOptions; model: EvalModel },
): Promise<number[][]> {
  const out: number[][] = [];
  for (const p of Object.values(spec.prompts.byType)) {
    const zs = await buildZeroShotClassifier({
      model: clip,
      classNames: spec.labelNames,
      prompts: p.prompts,
      ensemble: spec.options.ensemble,
      logitScale: spec.model.logitScale.value,
      ...(spec.model.projection ? { projection: spec.model.projection } : {}),
    });
    out.push(argmaxRows(await zs.classify(features)));
  }
  return out;
}

/** Features of `paths` and their zero-shot argmax per prompt type, with `clip`. */
async function guardSide(
  clip: ClipModel,
  paths: readonly EncodeItem[],
  spec: Parameters<typeof zeroShotArgmax>[2],
  signal: AbortSignal | undefined,
): Promise<{ features: Tensor2D; argmax: number[][] }> {
  const o = spec.options;
  const { features } = await encodeImages({
    model: clip,
    items: paths,
    mode: o.preprocess,
    resizer: o.resizer,
    ...(signal ? { signal } : {}),
  });
  return { features, argmax: await zeroShotArgmax(clip, features, spec) };
}

/** Fraction of equal entries of two argmax lists (per prompt type, per item). */
function agreement(a: number[][], b: number[][]): number {
  let same = 0,
    all = 0;
  a.forEach((row, t) =>
    row.forEach((c, i) => {
      same += c === b[t]![i] ? 1 : 0;
      all++;
    }),
  );
  return all ? same / all : 1;
}

/** The report of a sample's fp32 and int8 sides against the thresholds. */
function guardReport(
  a: Awaited<ReturnType<typeof guardSide>>,
  b: Awaited<ReturnType<typeof guardSide>>,
  accept: boolean,
): QuantizationReport {
  const cos = rowCosines(a.features, b.features);
  const cosineMean = cos.reduce((s, c) => s + c, 0) / cos.length;
  const cosineMin = Math.min(...cos);
  const argmaxAgreement = agreement(a.argmax, b.argmax);
  const t = QUANTIZATION_THRESHOLDS;
  const passed = cosineMin >= t.cosineMin && argmaxAgreement >= t.argmaxAgreement;
  const report = { dtype: 'int8' as const, sample: cos.length, cosineMean, cosineMin, argmaxAgreement };
  return { ...report, thresholds: t, passed, accepted: !passed && accept };
}

/** One line of the guard's numbers against its thresholds. */
export function formatQuantizationReport(r: QuantizationReport): string {
  const t = r.thresholds;
  return `int8 guard on ${r.sample} of this run's items: cosine to fp32 mean ${r.cosineMean.toFixed(5)}, min ${r.cosineMin.toFixed(5)} (needs ≥ ${t.cosineMin}); zero-shot argmax agreement ${(100 * r.argmaxAgreement).toFixed(2)} % (needs ≥ ${100 * t.argmaxAgreement} %)`;
}

/**
 * Stage "quantization guard" of `dtype: 'int8'`: encode a seeded sample (`quantizationSample`, seed `subsetSeed`) of
 * the run's own items (images; for clips, each sampled clip's centre frame, classified as a frame) with an fp32 copy of the model (the same 'graphs' runtime) and with the int8 model, compare
 * the features (cosine) and the zero-shot argmax over every prompt type of the run, log the numbers, and refuse the
 * run unless every cosine ≥ 0.999 and the agreement ≥ 99 % — or go on, recorded as `accepted`, with
 * `acceptInaccurateQuantization`. @returns null for any other dtype
 * @throws VlferError naming both numbers, the thresholds and the opt-out when the guard fails
 */
export async function quantizationGuard(
  options: EvalOptions,
  data: readonly EvalData[],
  run: { prompts: EvalPrompts; model: EvalModel; labelNames: readonly string[] },
  /** where its lines go and the AbortSignal; or, as before 2026-12-07, the log function alone */
  given: GuardHooks | ((line: string) => void),
): Promise<QuantizationReport | null> {
  if (options.dtype !== 'int8') return null;
  const hooks = typeof given === 'function' ? { log: given } : given;
  const { log, signal } = hooks;
  const paths = await guardItems(data, guardSample(data, options.quantizationSample, options.subsetSeed), hooks);
  const spec = { ...run, options };
  throwIfAborted(signal, 'the int8 guard');
  const fp32 = await loadClip({ ...guardFp32Options(options), ...(signal ? { signal } : {}) });
  const a = await guardSide(fp32, paths, spec, signal).finally(() => fp32.dispose());
  const b = await guardSide(run.model.clip, paths, spec, signal);
  const report = guardReport(a, b, options.acceptInaccurateQuantization);
  log(formatQuantizationReport(report) + (report.passed ? ': passed' : ': FAILED'));
  if (!report.passed && !report.accepted)
    throw new VlferError(
      `${formatQuantizationReport(report)}: the int8 model is not accurate enough on this data, so the run is refused; use dtype fp32, or pass acceptInaccurateQuantization (CLI --accept-inaccurate-int8) to run anyway (recorded in metrics.json)`,
    );
  if (report.accepted) log('warning: the int8 guard failed and the run goes on (acceptInaccurateQuantization)');
  return report;
}

/** The fp32 reference model of the guard: the run's model on the 'graphs' runtime in fp32. */
function guardFp32Options(o: EvalOptions): Parameters<typeof loadClip>[0] {
  return {
    model: o.model,
    dtype: 'fp32',
    backend: 'graphs',
    device: o.device,
    ...(o.tokenizer ? { tokenizer: o.tokenizer } : {}),
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
  };
}
