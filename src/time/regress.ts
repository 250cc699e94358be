/**
 * Pure math: weighted least-squares line fit y = a + b·x, as chrony's regress.c uses for offset and
 * frequency of a clock against a source. No I/O; x and y are small doubles (relative to a reference).
 */

export interface LineFit {
  /** Intercept at x = 0. */
  a: number;
  /** Slope. */
  b: number;
  /** Weighted RMS of the residuals. */
  rms: number;
  /** Standard error of the intercept (at x = xMean shifted back to 0) and of the slope. */
  aStdErr: number;
  bStdErr: number;
  /** Weighted mean of x: the point where the intercept is best known. */
  xMean: number;
  n: number;
}

export function fitLine(xs: readonly number[], ys: readonly number[], ws?: readonly number[]): LineFit {
  const n = xs.length;
  if (n !== ys.length || (ws && ws.length !== n)) throw new Error('fitLine: arrays of different length');
  if (n === 0) throw new Error('fitLine: no points');
  let sw = 0,
    sx = 0,
    sy = 0;
  for (let i = 0; i < n; i++) {
    const w = ws ? ws[i]! : 1;
    sw += w;
    sx += w * xs[i]!;
    sy += w * ys[i]!;
  }
  const xMean = sx / sw,
    yMean = sy / sw;
  let sxx = 0,
    sxy = 0;
  for (let i = 0; i < n; i++) {
    const w = ws ? ws[i]! : 1;
    const dx = xs[i]! - xMean;
    sxx += w * dx * dx;
    sxy += w * dx * (ys[i]! - yMean);
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  const a = yMean - b * xMean;
  let sres = 0;
  for (let i = 0; i < n; i++) {
    const w = ws ? ws[i]! : 1;
    const r = ys[i]! - (a + b * xs[i]!);
    sres += w * r * r;
  }
  const dof = Math.max(1, n - 2);
  const rms = Math.sqrt(sres / sw);
  const s2 = sres / dof / (sw / n);
  const bStdErr = sxx > 0 ? Math.sqrt(s2 / (sxx / (sw / n))) : Infinity;
  const aStdErr = Math.sqrt(s2 / n + xMean * xMean * bStdErr * bStdErr);
  return { a, b, rms, aStdErr, bStdErr, xMean, n };
}

/** Median of a non-empty list (copy-sorted). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const s = [...values].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The value at quantile q (0..1) of a non-empty list: the element at floor(q·n), copy-sorted. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error('quantile of nothing');
  // A typed array sorts numerically without a comparator: several times faster (the DAC clock and
  // the servo call this on every refit).
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** A line whose points from index k on are offset by stepY: one slope, two intercepts. */
export interface SteppedLineFit {
  k: number;
  b: number;
  stepY: number;
  /** Standard error of stepY, from the residuals. */
  stepStdErr: number;
  /** Sum of squared residuals. */
  rss: number;
}

/** Least squares of y = a + b·x + stepY·[i ≥ k] (x ascending): the slope pooled within both segments. */
export function fitSteppedLine(xs: readonly number[], ys: readonly number[], k: number): SteppedLineFit {
  const seg = (from: number, to: number) => {
    let sx = 0,
      sy = 0;
    for (let i = from; i < to; i++) [sx, sy] = [sx + xs[i]!, sy + ys[i]!];
    return { xm: sx / (to - from), ym: sy / (to - from), n: to - from, from, to };
  };
  const [s0, s1] = [seg(0, k), seg(k, xs.length)];
  let sxx = 0,
    sxy = 0;
  for (const s of [s0, s1])
    for (let i = s.from; i < s.to; i++)
      [sxx, sxy] = [sxx + (xs[i]! - s.xm) ** 2, sxy + (xs[i]! - s.xm) * (ys[i]! - s.ym)];
  const b = sxx > 0 ? sxy / sxx : 0;
  let rss = 0;
  for (const s of [s0, s1]) for (let i = s.from; i < s.to; i++) rss += (ys[i]! - s.ym - b * (xs[i]! - s.xm)) ** 2;
  const s2 = rss / Math.max(1, xs.length - 3);
  const stepVar = s2 * (1 / s0.n + 1 / s1.n) + (s1.xm - s0.xm) ** 2 * (sxx > 0 ? s2 / sxx : Infinity);
  return { k, b, stepY: s1.ym - b * s1.xm - (s0.ym - b * s0.xm), stepStdErr: Math.sqrt(stepVar), rss };
}

/**
 * The best single step (least squares) among splits that leave at least `minSeg` points on each
 * side: `tries` evenly spaced ones, then as many around the best, narrowing to every split.
 * Undefined when there are too few points.
 */
export function bestStep(
  xs: readonly number[],
  ys: readonly number[],
  minSeg: number,
  tries: number,
): SteppedLineFit | undefined {
  let lo = minSeg,
    hi = xs.length - minSeg;
  if (hi < lo) return undefined;
  for (;;) {
    const spacing = Math.max(1, (hi - lo) / tries);
    const ks = new Set(
      Array.from({ length: Math.floor((hi - lo) / spacing) + 1 }, (_, j) => Math.round(lo + spacing * j)),
    );
    const best = [...ks].map((k) => fitSteppedLine(xs, ys, k)).reduce((x, y) => (y.rss < x.rss ? y : x));
    if (spacing <= 1) return best;
    lo = Math.max(minSeg, Math.floor(best.k - spacing));
    hi = Math.min(xs.length - minSeg, Math.ceil(best.k + spacing));
  }
}
