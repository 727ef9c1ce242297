import { InvalidArgumentError } from '@vlfer/core';

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

interface Point {
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

/**
 * Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization", 2nd ed.: Algorithm 7.4, the two-loop recursion,
 * with H₀ = (sᵀy / yᵀy)·I, eq. 7.20) and a line search satisfying the strong Wolfe conditions (Algorithms 3.5 and
 * 3.6, c₁ = 1e-4, c₂ = 0.9, cubic interpolation safeguarded by bisection; near the optimum, where rounding hides
 * the decrease of f, Hager & Zhang's approximate Wolfe condition also accepts a step). The first step has length 1/‖∇f‖₂ along
 * −∇f, as scipy's L-BFGS-B. A correction pair with sᵀy ≤ 1e-10·yᵀy is skipped. Unconstrained; float64.
 * @param fg objective and gradient; @param x0 the start (not modified)
 */
export function minimizeLbfgs(fg: ObjectiveWithGradient, x0: Float64Array, options: LbfgsOptions = {}): LbfgsResult {
  const maxIterations = options.maxIterations ?? 1000;
  const gtol = options.gradientTolerance ?? 1e-8;
  const ftol = options.functionTolerance ?? 0;
  const memory = options.memory ?? 10;
  const maxLs = options.maxLineSearch ?? 50;
  const check = (argument: string, v: number, integer: boolean) => {
    if (!(Number.isFinite(v) && v >= 0 && (!integer || (Number.isInteger(v) && v >= 1))))
      throw new InvalidArgumentError({
        functionName: 'minimizeLbfgs',
        argument,
        message: `must be a ${integer ? 'positive integer' : 'finite number ≥ 0'}, got ${v}`,
      });
  };
  check('maxIterations', maxIterations, true);
  check('memory', memory, true);
  check('maxLineSearch', maxLs, true);
  check('gradientTolerance', gtol, false);
  check('functionTolerance', ftol, false);
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  if (!Number.isFinite(f))
    throw new InvalidArgumentError({ functionName: 'minimizeLbfgs', argument: 'x0', message: `f(x0) is ${f}` });
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
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
  for (let k = 0; k < maxIterations; k++) {
    if (maxAbs(g) <= gtol) return result(k, 'gradient');
    // two-loop recursion: d = −H g
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
    let dg0 = dot(g, d);
    if (!(dg0 < 0)) {
      // not a descent direction (numerical trouble): restart from steepest descent
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i]!;
      dg0 = dot(g, d);
    }
    const alpha0 = S.length === 0 ? 1 / Math.sqrt(dot(g, g)) : 1;
    const evaluate = (alpha: number): Point => {
      for (let i = 0; i < n; i++) xt[i] = x[i]! + alpha * d[i]!;
      const gt = new Float64Array(n);
      const ft = fg(xt, gt);
      evaluations++;
      return { alpha, f: Number.isFinite(ft) ? ft : Number.POSITIVE_INFINITY, g: gt, dg: dot(gt, d) };
    };
    const c1 = 1e-4;
    const c2 = 0.9;
    // sufficient decrease, or near the optimum where f's rounding hides the decrease, Hager & Zhang's (2005)
    // approximate Wolfe condition: f no larger up to rounding and φ'(α) ≤ (2c₁ − 1)·φ'(0)
    const fTol = 1e-14 * Math.abs(f);
    const armijo = (p: Point) => p.f <= f + c1 * p.alpha * dg0 || (p.f <= f + fTol && p.dg <= (2 * c1 - 1) * dg0);
    const curvature = (p: Point) => Math.abs(p.dg) <= -c2 * dg0;
    let accepted: Point | null = null;
    let lsEvals = 0;
    const zoom = (lo: Point, hi: Point): Point | null => {
      while (lsEvals < maxLs) {
        let a = cubicMin(lo, hi);
        const lower = Math.min(lo.alpha, hi.alpha);
        const upper = Math.max(lo.alpha, hi.alpha);
        const w = upper - lower;
        if (!(a >= lower + 0.1 * w && a <= upper - 0.1 * w)) a = (lo.alpha + hi.alpha) / 2;
        const p = evaluate(a);
        lsEvals++;
        if (!armijo(p) || p.f >= lo.f) hi = p;
        else {
          if (curvature(p)) return p;
          if (p.dg * (hi.alpha - lo.alpha) >= 0) hi = lo;
          lo = p;
        }
        if (w < 1e-16 * Math.max(1, upper)) break;
      }
      return lo.alpha > 0 ? lo : null; // best point with sufficient decrease found so far
    };
    let prev: Point = { alpha: 0, f, g, dg: dg0 };
    let alpha = alpha0;
    while (lsEvals < maxLs) {
      const p = evaluate(alpha);
      lsEvals++;
      if (!armijo(p) || (prev.alpha > 0 && p.f >= prev.f)) {
        accepted = zoom(prev, p);
        break;
      }
      if (curvature(p)) {
        accepted = p;
        break;
      }
      if (p.dg >= 0) {
        accepted = zoom(p, prev);
        break;
      }
      prev = p;
      alpha *= 2;
    }
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
    const sy = dot(s, y);
    if (sy > 1e-10 * dot(y, y)) {
      if (S.length === memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    if (ftol > 0 && (fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1) <= ftol)
      return result(k + 1, maxAbs(g) <= gtol ? 'gradient' : 'function');
  }
  return result(maxIterations, maxAbs(g) <= gtol ? 'gradient' : 'max-iterations');
}
