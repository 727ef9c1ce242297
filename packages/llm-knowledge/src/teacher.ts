import {
  assertArrayLike,
  assertFiniteValues,
  checkFiniteNumber,
  DataFormatError,
  InvalidArgumentError,
} from '@vlfer/core';

/**
 * An LLM teacher: maps an unlabelled face image plus an instruction to a target embedding (Exp-CLIP: BLIP-2
 * FlanT5-XXL encoder output, mean-pooled, 4096-d). Targets are deterministic, so they are computed once and
 * cached (`computeTargets` in `@vlfer/llm-knowledge/node`), unlike the reference code that recomputes them.
 */
export interface Teacher {
  /** Stable id; part of the target cache key (e.g. `import:<file sha>`, `http:<model>@<url>`). */
  readonly id: string;
  /** Where targets come from, for error messages (a file path or a URL). */
  readonly source: string;
  /** Embedding dimension when known before the first call. */
  readonly dim?: number;
  /**
   * What a target depends on: the image's content (a model that reads the image; the default), so targets are cached
   * by the image's content key, or its path (a table of rows computed elsewhere, `importedTeacher`), which is never
   * cached: two images of one content may hold different rows.
   */
  readonly keyedBy?: 'content' | 'path';
  /**
   * @param images image paths (Node) or ids
   * @param options.signal stops outstanding requests promptly
   * @param options.onResult called with each image's embedding as it arrives (index into `images`), before the call
   *   returns, by a teacher that answers image by image (`httpTeacher`): `computeTargets` caches those, so a call that
   *   fails part way keeps what was answered. A teacher may leave it uncalled; a throw from it fails the call.
   * @returns one embedding per image, in order
   */
  embed(
    images: readonly string[],
    instruction: string,
    options?: { signal?: AbortSignal; onResult?: (index: number, embedding: Float32Array) => void },
  ): Promise<Float32Array[]>;
}

/**
 * Check one teacher target before it is used or cached: the expected dimension, every value finite, a norm
 * that is not zero (an all-zero or NaN target would train nothing, silently, for good).
 * @throws DataFormatError naming the item and the teacher source
 */
export function validateTarget(
  vector: ArrayLike<number>,
  /** `line`: the target's row in the `teacher` file (an imported file), named with the file; else the item is */
  where: { item: string; teacher: string; dim?: number; line?: number },
): void {
  const fail = (message: string): never => {
    throw new DataFormatError(
      where.line !== undefined
        ? { file: where.teacher, line: where.line, message: `the teacher target of '${where.item}' ${message}` }
        : { file: where.teacher, field: where.item, message: `teacher target ${message}` },
    );
  };
  if (where.dim !== undefined && !(Number.isInteger(where.dim) && where.dim > 0))
    throw new InvalidArgumentError({
      functionName: 'validateTarget',
      argument: 'dim',
      message: `expected a positive integer (the head's output dimension), got ${where.dim}`,
    });
  if (vector === null || typeof vector !== 'object' || typeof vector.length !== 'number')
    fail('is not an array of numbers');
  if (vector.length === 0) fail('is empty');
  if (where.dim !== undefined && vector.length !== where.dim)
    fail(`has ${vector.length} values, expected ${where.dim} (the projection head's output dimension, outputDim)`);
  let ss = 0;
  for (let i = 0; i < vector.length; i++) {
    const v = vector[i];
    if (typeof v !== 'number' || !Number.isFinite(v))
      fail(`holds ${String(v)} at index ${i}; every value must be a finite number`);
    ss += v! * v!;
  }
  if (!(Math.sqrt(ss) > 1e-12) || !Number.isFinite(ss))
    fail(`has norm ${Math.sqrt(ss)}; a zero (or overflowing) vector cannot be normalised`);
}

/**
 * How much teacher targets differ between items: the largest standard deviation, over the N items, of one
 * dimension of the L2-normalised targets (the spec normalises them). 0 when the teacher returned the same direction
 * for every item — then the contrastive loss cannot tell the images apart and the head learns nothing.
 * @param data row-major [N, E]
 * @throws RangeError when `data.length` is not N·E
 */
export function targetSpread(data: ArrayLike<number>, n: number, e: number): number {
  checkTargetMatrix(data, n, e, 'targetSpread');
  // Welford's update per dimension: E[v²] − E[v]² loses the spread to rounding over millions of rows (4 M equal
  // targets gave 1.2e-5, above the threshold of a constant teacher)
  const mean = new Float64Array(e);
  const m2 = new Float64Array(e);
  for (let r = 0; r < n; r++) {
    let ss = 0;
    for (let j = 0; j < e; j++) ss += data[r * e + j]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let j = 0; j < e; j++) {
      const v = data[r * e + j]! * inv;
      const delta = v - mean[j]!;
      mean[j]! += delta / (r + 1);
      m2[j]! += delta * (v - mean[j]!);
    }
  }
  let spread = 0;
  for (let j = 0; j < e; j++) spread = Math.max(spread, Math.sqrt(Math.max(0, m2[j]! / n)));
  return spread;
}

/**
 * `data` [n, e] row-major: n and e non-negative integers, n·e finite values (a NaN would make the spread NaN, and the
 * constant-teacher warning compares NaN with its threshold: never true). @throws InvalidArgumentError
 */
function checkTargetMatrix(data: ArrayLike<number>, n: number, e: number, functionName: string): void {
  checkFiniteNumber(n, { functionName, argument: 'n' }, { min: 0, integer: true });
  checkFiniteNumber(e, { functionName, argument: 'e' }, { min: 0, integer: true });
  assertArrayLike(data, 'data', functionName, n * e);
  assertFiniteValues({ data }, 'data', functionName);
}

/** Below this `targetSpread`, targets count as one vector repeated (float32 rounding stays far below). */
export const CONSTANT_TARGETS_SPREAD = 1e-5;

/** The warning for targets that (nearly) do not vary between items, or undefined; names the teacher's source. */
export function constantTargetsWarning(
  data: ArrayLike<number>,
  n: number,
  e: number,
  teacherSource: string,
): string | undefined {
  checkTargetMatrix(data, n, e, 'constantTargetsWarning');
  if (n < 2) return undefined;
  const s = targetSpread(data, n, e);
  return s < CONSTANT_TARGETS_SPREAD
    ? `the teacher (${teacherSource}) gave the same target for all ${n} images (largest per-dimension std of the normalised targets ${s.toExponential(2)}): training cannot tell the images apart; check the teacher`
    : undefined;
}
