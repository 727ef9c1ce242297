import { firstNonFinite, InvalidArgumentError, runStepsSync } from '@vlfer/core';

export interface LbfgsOptions {
  /** Maximum number of L-BFGS iterations; default 1000 (the CLIP paper's linear-probe setting). */
  maxIterations?: number;
  /** Stop when ‖∇f‖∞ ≤ this (scipy's `gtol`, sklearn's `tol`); default 1e-8. */
  gradientTolerance?: number;
  /**
   * Stop when the relative decrease of f in one iteration is ≤ this; default 0 (off). scipy's L-BFGS-B, as sklearn
   * calls it, uses 64·ε, which stops ill-conditioned fits early (tools/fixtures/probes_reference.py measures it).
   */
  functionTolerance?: number;
  /** Number of correction pairs kept (scipy's `maxcor`); default 10. */
  memory?: number;
  /** Maximum function evaluations per line search (scipy's `maxls`); default 50. */
  maxLineSearch?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  /** ‖∇f(x)‖∞ at the returned point. */
  gradientNorm: number;
  iterations: number;
  evaluations: number;
  /** Why it stopped. */
  reason: 'gradient' | 'function' | 'max-iterations' | 'line-search';
}

/** f and its gradient at x: returns f(x) and writes ∇f(x) into `grad`. */
export type ObjectiveWithGradient = (x: Float64Array, grad: Float64Array) => number;

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const maxAbs = (a: Float64Array) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

/** One trial point of the line search: step α, f, gradient and directional derivative at x + α·d. */
export interface Point {
  alpha: number;
  f: number;
  g: Float64Array;
  /** directional derivative gᵀd */
  dg: number;
}

/** Minimiser of the cubic through (a, fa, da), (b, fb, db), or NaN (Nocedal & Wright eq. 3.59). */
function cubicMin(a: Point, b: Point): number {
  const d1 = a.dg + b.dg - (3 * (a.f - b.f)) / (a.alpha - b.alpha);
  const rad = d1 * d1 - a.dg * b.dg;
  if (!(rad >= 0)) return Number.NaN;
  const d2 = Math.sign(b.alpha - a.alpha) * Math.sqrt(rad);
  return b.alpha - ((b.alpha - a.alpha) * (b.dg + d2 - d1)) / (b.dg - a.dg + 2 * d2);
}

/** The correction pairs L-BFGS keeps: sₖ = xₖ₊₁ − xₖ, yₖ = ∇fₖ₊₁ − ∇fₖ and ρₖ = 1 / yₖᵀsₖ, oldest first. */
export interface LbfgsMemory {
  S: Float64Array[];
  Y: Float64Array[];
  rho: number[];
}

/**
 * The two-loop recursion (Nocedal & Wright, Algorithm 7.4): writes d = −H·g into `d`, with H the L-BFGS inverse
 * Hessian of the pairs in `mem` and H₀ = (sᵀy / yᵀy)·I from the newest pair (eq. 7.20); d = −g without pairs.
 * @param g [n] gradient @param d [n] output
 */
export function lbfgsDirection(g: Float64Array, mem: LbfgsMemory, d: Float64Array): void {
  const { S, Y, rho } = mem;
  const n = g.length;
  for (let i = 0; i < n; i++) d[i] = -g[i]!;
  const al = new Array<number>(S.length);
  for (let j = S.length - 1; j >= 0; j--) {
    al[j] = rho[j]! * dot(S[j]!, d);
    const y = Y[j]!;
    for (let i = 0; i < n; i++) d[i]! -= al[j]! * y[i]!;
  }
  if (S.length > 0) {
    const last = S.length - 1;
    const gamma = dot(S[last]!, Y[last]!) / dot(Y[last]!, Y[last]!);
    for (let i = 0; i < n; i++) d[i]! *= gamma;
  }
  for (let j = 0; j < S.length; j++) {
    const b = rho[j]! * dot(Y[j]!, d);
    const s = S[j]!;
    for (let i = 0; i < n; i++) d[i]! += (al[j]! - b) * s[i]!;
  }
}

/**
 * Adds the pair (s, y) to `mem`, dropping the oldest when it holds `memory` pairs; a pair with sᵀy ≤ 1e-10·yᵀy
 * (curvature too small to keep H positive definite) is skipped. @returns whether the pair was kept
 */
export function pushCorrection(mem: LbfgsMemory, s: Float64Array, y: Float64Array, memory: number): boolean {
  const sy = dot(s, y);
  if (!(sy > 1e-10 * dot(y, y))) return false;
  if (mem.S.length === memory) {
    mem.S.shift();
    mem.Y.shift();
    mem.rho.shift();
  }
  mem.S.push(s);
  mem.Y.push(y);
  mem.rho.push(1 / sy);
  return true;
}

/** The strong Wolfe line search's inputs: φ(α) and the value and slope at α = 0. */
export interface LineSearch {
  /** f, ∇f and ∇fᵀd at x + α·d (a non-finite f is +∞). */
  evaluate(alpha: number): Point;
  /** The point α = 0: f(x), ∇f(x) and its slope ∇fᵀd (< 0). */
  start: Point;
  /** The most evaluations of φ (scipy's `maxls`). */
  maxEvaluations: number;
}

const C1 = 1e-4;
const C2 = 0.9;

/**
 * The strong Wolfe conditions at a trial point (c₁ = 1e-4, c₂ = 0.9): sufficient decrease, or near the optimum
 * where f's rounding hides the decrease, Hager & Zhang's (2005) approximate Wolfe condition (f no larger up to
 * rounding and φ'(α) ≤ (2c₁ − 1)·φ'(0)); and the curvature condition |φ'(α)| ≤ −c₂·φ'(0).
 */
export function wolfeTests(start: Point): { armijo: (p: Point) => boolean; curvature: (p: Point) => boolean } {
  const { f, dg: dg0 } = start;
  const fTol = 1e-14 * Math.abs(f);
  return {
    armijo: (p) => p.f <= f + C1 * p.alpha * dg0 || (p.f <= f + fTol && p.dg <= (2 * C1 - 1) * dg0),
    curvature: (p) => Math.abs(p.dg) <= -C2 * dg0,
  };
}

/**
 * Zoom (Nocedal & Wright, Algorithm 3.6) between `lo` (sufficient decrease) and `hi`: cubic interpolation
 * safeguarded by bisection. `used` counts evaluations against `ls.maxEvaluations`. @returns a point satisfying the
 * strong Wolfe conditions, else the best point with sufficient decrease found (α > 0), else null
 */
export function zoomLineSearch(ls: LineSearch, lo: Point, hi: Point, used: { evaluations: number }): Point | null {
  const { armijo, curvature } = wolfeTests(ls.start);
  while (used.evaluations < ls.maxEvaluations) {
    let a = cubicMin(lo, hi);
    const lower = Math.min(lo.alpha, hi.alpha);
    const upper = Math.max(lo.alpha, hi.alpha);
    const w = upper - lower;
    if (!(a >= lower + 0.1 * w && a <= upper - 0.1 * w)) a = (lo.alpha + hi.alpha) / 2;
    const p = ls.evaluate(a);
    used.evaluations++;
    if (!armijo(p) || p.f >= lo.f) hi = p;
    else {
      if (curvature(p)) return p;
      if (p.dg * (hi.alpha - lo.alpha) >= 0) hi = lo;
      lo = p;
    }
    if (w < 1e-16 * Math.max(1, upper)) break;
  }
  return lo.alpha > 0 ? lo : null; // best point with sufficient decrease found so far
}

/**
 * A step satisfying the strong Wolfe conditions (Nocedal & Wright, Algorithm 3.5): from `alpha0`, doubling the
 * step until it brackets one, then {@link zoomLineSearch}. @returns the accepted point, or null when none was found
 * within `ls.maxEvaluations`
 */
export function strongWolfeLineSearch(ls: LineSearch, alpha0: number): Point | null {
  const { armijo, curvature } = wolfeTests(ls.start);
  const used = { evaluations: 0 };
  let prev = ls.start;
  let alpha = alpha0;
  while (used.evaluations < ls.maxEvaluations) {
    const p = ls.evaluate(alpha);
    used.evaluations++;
    if (!armijo(p) || (prev.alpha > 0 && p.f >= prev.f)) return zoomLineSearch(ls, prev, p, used);
    if (curvature(p)) return p;
    if (p.dg >= 0) return zoomLineSearch(ls, p, prev, used);
    prev = p;
    alpha *= 2;
  }
  return null;
}

function checkLbfgsOptions(options: LbfgsOptions) {
  const o = {
    maxIterations: options.maxIterations ?? 1000,
    gtol: options.gradientTolerance ?? 1e-8,
    ftol: options.functionTolerance ?? 0,
    memory: options.memory ?? 10,
    maxLs: options.maxLineSearch ?? 50,
  };
  const check = (argument: string, v: number, integer: boolean) => {
    if (!(Number.isFinite(v) && v >= 0 && (!integer || (Number.isInteger(v) && v >= 1))))
      throw new InvalidArgumentError({
        functionName: 'minimizeLbfgs',
        argument,
        message: `must be a ${integer ? 'positive integer' : 'finite number ≥ 0'}, got ${v}`,
      });
  };
  check('maxIterations', o.maxIterations, true);
  check('memory', o.memory, true);
  check('maxLineSearch', o.maxLs, true);
  check('gradientTolerance', o.gtol, false);
  check('functionTolerance', o.ftol, false);
  return o;
}

/**
 * Writes the L-BFGS direction (`lbfgsDirection`) into `d`; where it is no descent direction (numerical trouble), clears
 * the pairs and restarts from steepest descent. @returns the directional derivative gᵀd (< 0 unless g = 0)
 */
function descentDirection(g: Float64Array, mem: LbfgsMemory, d: Float64Array): number {
  lbfgsDirection(g, mem, d);
  const dg = dot(g, d);
  if (dg < 0) return dg;
  mem.S.length = mem.Y.length = mem.rho.length = 0;
  for (let i = 0; i < g.length; i++) d[i] = -g[i]!;
  return dot(g, d);
}

/** f(x0) and ∇f(x0) finite, or nothing to start from. @throws InvalidArgumentError naming `x0` or `fg` */
function checkStart(f: number, g: Float64Array): void {
  if (!Number.isFinite(f))
    throw new InvalidArgumentError({ functionName: 'minimizeLbfgs', argument: 'x0', message: `f(x0) is ${f}` });
  const bad = firstNonFinite(g);
  if (bad >= 0)
    throw new InvalidArgumentError({
      functionName: 'minimizeLbfgs',
      argument: 'fg',
      message: `the gradient at x0 is ${g[bad]} at index ${bad}; expected finite values`,
    });
}

/**
 * Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", 2nd ed.: Algorithm 7.4, the two-loop recursion,
 * with H₀ = (sᵀy / yᵀy)·I, eq. 7.20) and a line search satisfying the strong Wolfe conditions (Algorithms 3.5 and
 * 3.6, c₁ = 1e-4, c₂ = 0.9, cubic interpolation safeguarded by bisection; near the optimum, where rounding hides
 * the decrease of f, Hager & Zhang's approximate Wolfe condition also accepts a step). The first step has length 1/‖∇f‖₂ along
 * −∇f, as scipy's L-BFGS-B. A correction pair with sᵀy ≤ 1e-10·yᵀy is skipped. Unconstrained; float64.
 * Per iteration: {@link lbfgsDirection} → {@link strongWolfeLineSearch} → {@link pushCorrection}.
 * @param fg objective and gradient; @param x0 the start (not modified)
 */
export function minimizeLbfgs(fg: ObjectiveWithGradient, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  return runStepsSync(lbfgsSteps(fg, x0, options));
}

/**
 * `minimizeLbfgs` as a generator that yields the number of iterations done after each iteration but the one that ends
 * the fit (a fit that stops at its start yields nothing), for work that must give the event loop its turns
 * (`runSteps` of @vlfer/core: a CLI's Ctrl-C stops a fit of minutes). The options are checked and f(x0) evaluated at
 * the first `next()`. @returns what `minimizeLbfgs` returns
 */
export function* lbfgsSteps(
  fg: ObjectiveWithGradient,
  x0: Float64Array,
  options: LbfgsOptions = {},
): Generator<number, LbfgsResult, void> {
  const { maxIterations, gtol, ftol, memory, maxLs } = checkLbfgsOptions(options);
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  checkStart(f, g);
  const mem: LbfgsMemory = { S: [], Y: [], rho: [] };
  const d = new Float64Array(n);
  const xt = new Float64Array(n);
  const result = (iterations: number, reason: LbfgsResult['reason']): LbfgsResult => ({
    x,
    value: f,
    gradientNorm: maxAbs(g),
    iterations,
    evaluations,
    reason,
  });
  const evaluate = (alpha: number): Point => {
    for (let i = 0; i < n; i++) xt[i] = x[i]! + alpha * d[i]!;
    const gt = new Float64Array(n);
    const ft = fg(xt, gt);
    evaluations++;
    // a point whose gradient is not finite is treated as one whose value is not: the line search steps back from it
    const finite = Number.isFinite(ft) && gt.every(Number.isFinite);
    return { alpha, f: finite ? ft : Number.POSITIVE_INFINITY, g: gt, dg: finite ? dot(gt, d) : 0 };
  };
  for (let k = 0; k < maxIterations; k++) {
    if (maxAbs(g) <= gtol) return result(k, 'gradient');
    const dg0 = descentDirection(g, mem, d);
    const alpha0 = mem.S.length === 0 ? 1 / Math.sqrt(dot(g, g)) : 1;
    const start: Point = { alpha: 0, f, g, dg: dg0 };
    const accepted = strongWolfeLineSearch({ evaluate, start, maxEvaluations: maxLs }, alpha0);
    if (!accepted) return result(k, 'line-search');
    const xNew = new Float64Array(n);
    for (let i = 0; i < n; i++) xNew[i] = x[i]! + accepted.alpha * d[i]!;
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i]! - x[i]!;
      y[i] = accepted.g[i]! - g[i]!;
    }
    const fOld = f;
    x = xNew;
    g = accepted.g;
    f = accepted.f;
    pushCorrection(mem, s, y, memory);
    if (ftol > 0 && (fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1) <= ftol)
      return result(k + 1, maxAbs(g) <= gtol ? 'gradient' : 'function');
    yield k + 1;
  }
  return result(maxIterations, maxAbs(g) <= gtol ? 'gradient' : 'max-iterations');
}
