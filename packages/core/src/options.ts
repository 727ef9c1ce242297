import { InvalidArgumentError } from './errors.js';

/**
 * Compute backends of every model-running function. `'webgpu'` is ONNX Runtime's WebGPU execution provider
 * (Dawn on Vulkan in Node, the browser's WebGPU on the web).
 */
export const COMPUTE_DEVICES = ['cpu', 'webgpu'] as const;
export type ComputeDevice = (typeof COMPUTE_DEVICES)[number];

/** The first value of `values` that appears again later (`===`), or undefined when each appears once. */
export function firstRepeated<T>(values: readonly T[]): T | undefined {
  const seen = new Set<T>();
  for (const v of values) {
    if (seen.has(v)) return v;
    seen.add(v);
  }
  return undefined;
}

/**
 * A pipeline's hooks, checked before any work (from JavaScript, a config or a mistake nothing else catches): `signal`
 * must be an AbortSignal (an AbortController given for its signal would never stop the run), `onProgress`, `log` and
 * the `functions` named must be functions (a number there failed mid-run, after work was written).
 * @param hooks the hooks object (or an options object that holds them); undefined passes
 * @throws InvalidArgumentError naming the hook and what it got
 */
export function checkHooks(hooks: unknown, functionName: string, functions: readonly string[] = []): void {
  if (hooks === undefined) return;
  if (hooks === null || typeof hooks !== 'object')
    throw new InvalidArgumentError({
      functionName,
      argument: 'hooks',
      message: `expected an object such as { signal, onProgress, log }, got ${hooks === null ? 'null' : typeof hooks}`,
    });
  const h = hooks as Record<string, unknown>;
  const signal = h.signal as { aborted?: unknown; addEventListener?: unknown } | undefined;
  if (signal !== undefined && (typeof signal?.aborted !== 'boolean' || typeof signal.addEventListener !== 'function'))
    throw new InvalidArgumentError({
      functionName,
      argument: 'signal',
      message: `expected an AbortSignal, got ${typeof (signal as { abort?: unknown } | null)?.abort === 'function' ? 'an AbortController: give its .signal' : signal === null ? 'null' : typeof signal}`,
    });
  for (const k of ['onProgress', 'log', ...functions])
    if (h[k] !== undefined && typeof h[k] !== 'function')
      throw new InvalidArgumentError({
        functionName,
        argument: k,
        message: `expected a function, got ${h[k] === null ? 'null' : typeof h[k]}`,
      });
}

/**
 * Check at run time that a string option is one of `allowed` (TypeScript types vanish at run time, and options
 * arrive from CLIs, JSON configs and JavaScript callers).
 * @throws InvalidArgumentError naming the argument, the function, the value and every allowed value
 */
export function checkOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  where: { functionName: string; argument: string },
): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InvalidArgumentError({
    ...where,
    message: `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${typeof value === 'string' ? `'${value}'` : String(value)}`,
  });
}

/** A positive integer option, or an error naming it. */
export function checkPositiveInteger(value: unknown, where: { functionName: string; argument: string }): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  throw new InvalidArgumentError({ ...where, message: `expected a positive integer, got ${String(value)}` });
}

/**
 * A finite number option within a range, or an error naming it: NaN, ±Infinity and values out of range would
 * otherwise flow into arithmetic and come out as NaN or as a silently different result.
 * @param range `min`/`max` bounds (inclusive unless `minExclusive`/`maxExclusive`), `integer` for whole numbers
 * @throws InvalidArgumentError naming the argument, the value and the range
 */
export function checkFiniteNumber(
  value: unknown,
  where: { functionName: string; argument: string },
  range: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean; integer?: boolean } = {},
): number {
  const { min, max, minExclusive = false, maxExclusive = false, integer = false } = range;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!integer || Number.isInteger(value)) &&
    (min === undefined || (minExclusive ? value > min : value >= min)) &&
    (max === undefined || (maxExclusive ? value < max : value <= max));
  if (ok) return value;
  const bounds = [
    min !== undefined ? `${minExclusive ? '>' : '≥'} ${min}` : '',
    max !== undefined ? `${maxExclusive ? '<' : '≤'} ${max}` : '',
  ].filter(Boolean);
  const what = `${integer ? 'an integer' : 'a finite number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  throw new InvalidArgumentError({
    ...where,
    message: `expected ${what}, got ${typeof value === 'number' ? String(value) : describeType(value)}`,
  });
}

/** How a value that is no number reads in an error: its type, an array's length, or `undefined`. */
function describeType(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value === 'string'
    ? `the string ${JSON.stringify(value.slice(0, 40))}`
    : `a value of type ${typeof value}`;
}

/**
 * Check class ids: each an integer in [0, numClasses) (in [0, ∞) without `numClasses`). The one label check of the
 * libraries (metrics, losses, probes, HESP), so a bad label reads the same everywhere.
 * @param labels [n] class ids @param note what `numClasses` counts, appended to the message ("classWeights has 7 rows")
 * @throws InvalidArgumentError naming the first bad index and its value, or naming `numClasses` when it is given but
 *   not a non-negative integer (NaN would otherwise refuse every label, blaming the labels)
 */
export function checkClassIds(
  labels: ArrayLike<number>,
  where: { functionName: string; argument: string },
  numClasses?: number,
  note?: string,
): void {
  if (numClasses !== undefined && !(Number.isSafeInteger(numClasses) && numClasses >= 0))
    throw new InvalidArgumentError({
      functionName: where.functionName,
      argument: 'numClasses',
      message: `expected a non-negative integer (the number of classes), got ${String(numClasses)}`,
    });
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (Number.isInteger(y) && y >= 0 && (numClasses === undefined || y < numClasses)) continue;
    throw new InvalidArgumentError({
      ...where,
      // a string label '0' reads as 0 in a message: say what it is
      message: `index ${i} holds ${typeof y === 'number' ? y : `${JSON.stringify(y)} (a ${typeof y})`}; expected an integer class id in [0, ${numClasses ?? '∞'})${note ? ` (${note})` : ''}`,
    });
  }
}

/**
 * Progress of a long job, reported through callbacks (packages never print). `phase` names the stage
 * (`'encode'`, `'targets'`, `'train'`, `'evaluate'` …); `done` of `total` units (`unit`: images, clips, steps).
 * `cached` counts units served from a cache instead of computed.
 */
export interface ProgressEvent {
  phase: string;
  done: number;
  total: number;
  unit: string;
  cached?: number;
  /** Free-form detail, e.g. the current loss. */
  detail?: Record<string, number | string>;
}
export type ProgressCallback = (event: ProgressEvent) => void;

/** One problem with one option: its path (`weightDecay`, `teacher.url`) and what is wrong. */
export interface OptionIssue {
  path: string;
  message: string;
}

/** Options failed validation; `issues` names every bad option (a CLI maps the paths to its flag names). */
export class OptionsError extends InvalidArgumentError {
  override name = 'OptionsError';
  readonly issues: OptionIssue[];
  constructor(functionName: string, issues: OptionIssue[]) {
    super({
      functionName,
      argument: 'options',
      message: `invalid options:\n${issues.map((i) => `  ${i.path || '(options)'}: ${i.message}`).join('\n')}`,
    });
    this.issues = issues;
  }
}

/** Anything with zod's `safeParse` (core itself does not depend on zod). */
export interface SafeParser<T> {
  safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: readonly SchemaIssue[] } };
}

/** A schema's issue (zod's shape): where, what; for a number out of range its bound. */
export interface SchemaIssue {
  path: readonly PropertyKey[];
  message: string;
  code?: string;
  origin?: string;
  maximum?: unknown;
  minimum?: unknown;
  inclusive?: boolean;
}

/** A number out of range said as every other option error is, `expected …, got …`; other issues as the schema says. */
function issueMessage(issue: SchemaIssue, input: unknown): string {
  const range = issue.code === 'too_big' ? issue.maximum : issue.code === 'too_small' ? issue.minimum : undefined;
  let value: unknown = input;
  for (const k of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[k];
  if (issue.origin === 'string' && issue.code === 'too_small' && range === 1 && value === '')
    return 'expected a non-empty value, got an empty string';
  if (!['number', 'int'].includes(issue.origin ?? '') || typeof range !== 'number') return issue.message;
  const bound = `${issue.code === 'too_big' ? (issue.inclusive ? '≤' : '<') : issue.inclusive ? '≥' : '>'} ${range}`;
  return `expected a number ${bound}, got ${String(value)}`;
}

/** Whether a run uses an option, given its other options, and why not. */
export interface OptionUse<K extends string = string> {
  key: K;
  applies: boolean;
  /** Why the run does not use it (read where `applies` is false). */
  why: string;
}
/**
 * Refuse an option of `functionName` set where the run would not use it (`uses`) to a value other than its default
 * (what `shape` fills in): it would do nothing, yet be recorded in config.resolved.json as a choice, so that the same
 * run without it is refused as one with other options.
 * @param input the options as given
 * @throws OptionsError naming each such option
 */
export function refuseUnusedOptions(
  functionName: string,
  shape: Readonly<Record<string, { safeParse(value: unknown): { success: boolean; data?: unknown } }>>,
  uses: readonly OptionUse[],
  input: object,
): void {
  const given = (key: string): unknown => (input as Record<string, unknown>)[key];
  const unused = uses.filter(
    ({ key, applies }) => !applies && given(key) !== undefined && given(key) !== shape[key]!.safeParse(undefined).data,
  );
  if (unused.length > 0)
    throw new OptionsError(
      functionName,
      unused.map(({ key, why }) => ({ path: key, message: `${why}; got ${JSON.stringify(given(key))}` })),
    );
}

/** Validate options with a schema. @throws OptionsError listing every bad option by path */
export function parseOptions<T>(schema: SafeParser<T>, input: unknown, functionName: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new OptionsError(
    functionName,
    r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: issueMessage(i, input) })),
  );
}
