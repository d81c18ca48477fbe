// A least-squares line through (x, y) points, with what it takes to judge it:
// the slope's standard error and t statistic, corrected for autocorrelated
// residuals. A conntrack count is a sawtooth (entries pile up between two
// passes of the kernel's garbage collector and go in a burst), so neighbouring
// residuals are alike and a plain fit would call a flat table "growing" with
// great confidence; the effective number of points (n·(1−ρ)/(1+ρ), ρ the
// lag-1 autocorrelation of the residuals) keeps that in check.

export interface LineFit {
  slope: number;
  intercept: number;
  /** Points fitted. */
  n: number;
  /** x range covered. */
  span: number;
  r2: number;
  /** Standard error of the slope, widened for autocorrelated residuals. */
  se: number;
  /** slope / se (Infinity for a perfect fit with a slope). */
  t: number;
  /** Lag-1 autocorrelation of the residuals (0 when undefined). */
  rho: number;
}

/** Fit y = intercept + slope·x; null with fewer than three points or no x spread. */
export function fitLine(xs: ArrayLike<number>, ys: ArrayLike<number>): LineFit | null {
  const n = Math.min(xs.length, ys.length);
  if (n < 3) return null;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
    if (xs[i]! < lo) lo = xs[i]!;
    if (xs[i]! > hi) hi = xs[i]!;
  }
  if (!(sxx > 0)) return null;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let sse = 0;
  let num = 0;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const r = ys[i]! - (intercept + slope * xs[i]!);
    sse += r * r;
    if (i > 0) num += r * prev;
    prev = r;
  }
  const rho = sse > 0 ? Math.max(0, Math.min(0.99, num / sse)) : 0;
  const nEff = Math.max(3, (n * (1 - rho)) / (1 + rho));
  const se = Math.sqrt((sse / (n - 2) / sxx) * (n / nEff));
  const t = se > 0 ? slope / se : slope === 0 ? 0 : slope > 0 ? Infinity : -Infinity;
  const r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1;
  return { slope, intercept, n, span: hi - lo, r2, se, t, rho };
}
