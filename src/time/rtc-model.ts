/**
 * The DS3231's rate as a function of its own temperature and of time, learned while GPS is there,
 * for holdover (a tunnel). Pure math: no I/O.
 *
 * The chip's TCXO leaves a residual temperature dependence (a few tenths of a ppm over the 40-70 °C
 * of a box on a bike, roughly parabolic), retuned at every 64 s conversion. With the rate
 *   rate(T) = r0 + r1·(T − Tref) + r2·(T − Tref)²            (ppm, + = RTC fast)
 * the RTC's offset against UTC is linear in the parameters:
 *   offset(t) = a + r0·t + r1·∫(T − Tref)dt + r2·∫(T − Tref)²dt
 * so a least-squares fit over the measurements gives them with a covariance. In holdover the
 * prediction is the offset where the measurements ended plus the rate model integrated over the
 * temperatures read since. Its uncertainty: the parameters' covariance carried over that stretch
 * (inflated for the residuals' correlation), the anchor's, and a random walk for the TCXO's small
 * retuning steps (white FM) estimated from the residuals.
 * Columns the data cannot support are left out: a temperature that barely moved says nothing of r1
 * or r2, nor do less than 20 minutes (the model is then the plain offset + rate line). And the
 * newest 10 minutes are predicted from the rest, as a holdover would be: the uncertainty is widened
 * by how far they fell outside it, and a model that missed by far is not used.
 */

/** Temperature spans (°C) below which r1, and r2, are not fitted. */
export const RTC_MODEL_MIN_SPAN_LINEAR_C = 1.5;
export const RTC_MODEL_MIN_SPAN_QUADRATIC_C = 5;
/** Measurements kept: two hours at 1 Hz (a 40 min temperature cycle seen three times). */
export const RTC_MODEL_MAX_POINTS = 7200;
/** Measurements averaged for the anchor: where the offset is now, beyond the smooth model (the random walk). */
const ANCHOR_POINTS = 32;
/** Fewer measurements than this fit no model. */
const MIN_POINTS = 30;
/** Temperature terms need this many measurements (20 min at 1 Hz): a shorter stretch confuses temperature with time. */
const MIN_TEMPERATURE_POINTS = 1200;
/**
 * The held-out check: the newest VALIDATE_SEC are predicted from a fit of what came before; the
 * uncertainty is widened until the worst of them is within VALIDATE_SIGMAS, and a model needing more
 * than MAX_INFLATION times its own uncertainty is not used (the plain line is).
 */
const VALIDATE_SEC = 600;
const VALIDATE_SIGMAS = 3;
const MAX_INFLATION = 5;
/** Lag for the white-FM estimate (s): the TCXO retunes every 64 s. */
const WALK_LAG_SEC = 64;

export interface RtcModelFit {
  /** Parameters: offset at the reference (ns), rate r0 (ppm), r1 (ppm/°C), r2 (ppm/°C²); absent ones 0. */
  r0Ppm: number;
  r1PpmPerC: number;
  r2PpmPerC2: number;
  /** 1σ of r0 (ppm) as fitted (inflated for correlated residuals). */
  r0SigmaPpm: number;
  /** Which temperature terms the data supported. */
  terms: 'rate' | 'rate+linear' | 'rate+quadratic';
  /** RMS of the residuals (ns) and the random-walk coefficient (ns per √s) estimated from them. */
  rmsNs: number;
  walkNsPerSqrtSec: number;
  n: number;
  /** How much the held-out check widened the uncertainty (≥ 1). */
  inflation: number;
}

interface Point {
  tSec: number;
  offsetNs: number;
  i1: number;
  i2: number;
  tempC?: number;
}

export class RtcRateModel {
  private points: Point[] = [];
  /** Running temperature integrals since the first input (°C·s, °C²·s) and where they were last advanced. */
  private i1 = 0;
  private i2 = 0;
  private lastT?: { tSec: number; tempC: number };
  private tref?: number;
  private t0Ns?: bigint;
  private fitCache?: Solved;
  private dirty = true;

  /** The chip's temperature register, read at local monotonic monoNs (°C); the rate changes with it. */
  addTemperature(monoNs: bigint, tempC: number): void {
    const t = this.sec(monoNs);
    this.advance(t);
    this.tref ??= tempC;
    this.lastT = { tSec: t, tempC };
  }

  /** A measurement: RTC minus UTC (ns) at monoNs. */
  addMeasurement(monoNs: bigint, offsetNs: number): void {
    const t = this.sec(monoNs);
    this.advance(t);
    this.points.push({ tSec: t, offsetNs, i1: this.i1, i2: this.i2, tempC: this.lastT?.tempC });
    if (this.points.length > RTC_MODEL_MAX_POINTS) this.points.shift();
    this.dirty = true;
  }

  get count(): number {
    return this.points.length;
  }

  clear(): void {
    this.points = [];
    this.fitCache = undefined;
    this.dirty = true;
  }

  private sec(monoNs: bigint): number {
    this.t0Ns ??= monoNs;
    return Number(monoNs - this.t0Ns) / 1e9;
  }

  /** The integrals at time t (the temperature held since its last reading: the chip's rate steps at conversions). */
  private integralsAt(t: number): { i1: number; i2: number } {
    if (!this.lastT || this.tref === undefined || t <= this.lastT.tSec) return { i1: this.i1, i2: this.i2 };
    const d = this.lastT.tempC - this.tref,
      dt = t - this.lastT.tSec;
    return { i1: this.i1 + d * dt, i2: this.i2 + d * d * dt };
  }

  private advance(t: number): void {
    const { i1, i2 } = this.integralsAt(t);
    this.i1 = i1;
    this.i2 = i2;
    if (this.lastT) this.lastT.tSec = Math.max(this.lastT.tSec, t);
  }

  /** The fit over the measurements, refitted when they changed. */
  fit(): RtcModelFit | undefined {
    return this.solve()?.fit;
  }

  private solve(): Solved | undefined {
    if (!this.dirty) return this.fitCache;
    this.dirty = false;
    const full = fitPoints(this.points);
    if (full && full.cols > 2) {
      // Honest: fit all but the newest VALIDATE_SEC, predict those from it as a holdover would, and
      // widen the uncertainty by how far the truth fell outside it. A model the data cannot carry
      // that far (too little of it, temperature and time moving together) is not used.
      const cut = this.points.findIndex((p) => p.tSec >= this.points.at(-1)!.tSec - VALIDATE_SEC);
      const train = cut >= MIN_TEMPERATURE_POINTS ? fitPoints(this.points.slice(0, cut), full.cols) : undefined;
      if (!train) return (this.fitCache = fitPoints(this.points, 2));
      let worstZ = 0;
      for (const p of this.points.slice(cut)) {
        const pr = predictFrom(train, p.tSec, p.i1, p.i2);
        worstZ = Math.max(worstZ, Math.abs(pr.offsetNs - p.offsetNs) / pr.sigmaNs);
      }
      const inflation = Math.max(1, worstZ / VALIDATE_SIGMAS);
      if (inflation > MAX_INFLATION) return (this.fitCache = fitPoints(this.points, 2));
      full.inflation = inflation;
      full.fit.inflation = inflation;
    }
    return (this.fitCache = full);
  }

  /**
   * RTC minus UTC predicted at monoNs (ns) from where the measurements ended, over the temperatures
   * read since, and its 1σ uncertainty (ns); undefined without a fit.
   */
  predict(monoNs: bigint): { offsetNs: number; sigmaNs: number; sinceSec: number } | undefined {
    const s = this.solve();
    if (!s) return undefined;
    const t = this.sec(monoNs);
    const { i1, i2 } = this.integralsAt(t);
    return predictFrom(s, t, i1, i2);
  }
}

interface Solved {
  theta: number[];
  cols: number;
  cov: number[][];
  sigma2: number;
  inflation: number;
  anchorNs: number;
  anchorTSec: number;
  anchorI1: number;
  anchorI2: number;
  fit: RtcModelFit;
}

/** Least squares over the points with the temperature terms their span supports (at most maxCols columns). */
function fitPoints(pts: readonly Point[], maxCols = 4): Solved | undefined {
  if (pts.length < MIN_POINTS) return undefined;
  let tMin = Infinity,
    tMax = -Infinity;
  for (const p of pts)
    if (p.tempC !== undefined) {
      tMin = Math.min(tMin, p.tempC);
      tMax = Math.max(tMax, p.tempC);
    }
  const span = tMax - tMin;
  const enough = pts.length >= MIN_TEMPERATURE_POINTS;
  const cols = Math.min(
    maxCols,
    !enough ? 2 : span >= RTC_MODEL_MIN_SPAN_QUADRATIC_C ? 4 : span >= RTC_MODEL_MIN_SPAN_LINEAR_C ? 3 : 2,
  );
  // Columns: 1, t, I1, I2 (rates in ns/s = ppm·1e3), centred and scaled so the solve is well conditioned.
  const n = pts.length;
  const raw = (p: Point, j: number) => (j === 0 ? 1 : j === 1 ? p.tSec : j === 2 ? p.i1 : p.i2);
  const mean = new Array<number>(cols).fill(0),
    scale = new Array<number>(cols).fill(1);
  for (const p of pts) for (let j = 1; j < cols; j++) mean[j]! += raw(p, j) / n;
  for (let j = 1; j < cols; j++) {
    let acc = 0;
    for (const p of pts) acc += (raw(p, j) - mean[j]!) ** 2;
    scale[j] = Math.sqrt(acc / n) || 1;
  }
  const x = (p: Point, j: number) => (j === 0 ? 1 : (raw(p, j) - mean[j]!) / scale[j]!);
  const A = Array.from({ length: cols }, () => new Array<number>(cols).fill(0));
  const b = new Array<number>(cols).fill(0);
  for (const p of pts) {
    for (let i = 0; i < cols; i++) {
      const xi = x(p, i);
      b[i]! += xi * p.offsetNs;
      for (let j = 0; j < cols; j++) A[i]![j]! += xi * x(p, j);
    }
  }
  const Ainv = invert(A);
  if (!Ainv) return cols > 2 ? fitPoints(pts, cols - 1) : undefined;
  const beta = Ainv.map((row) => row.reduce((acc, v, j) => acc + v * b[j]!, 0));
  const model = (p: Point) => {
    let v = 0;
    for (let j = 0; j < cols; j++) v += x(p, j) * beta[j]!;
    return v;
  };
  const res = pts.map((p) => p.offsetNs - model(p));
  const rss = res.reduce((acc, r) => acc + r * r, 0);
  // Correlated residuals (a random walk) say less than n independent ones: inflate by the lag-1
  // autocorrelation's effective-sample factor.
  let c0 = 0,
    c1 = 0;
  for (let i = 0; i < n; i++) {
    c0 += res[i]! * res[i]!;
    if (i > 0) c1 += res[i]! * res[i - 1]!;
  }
  const rho = c0 > 0 ? Math.min(0.99, Math.max(0, c1 / c0)) : 0;
  const sigma2 = (rss / Math.max(1, n - cols)) * ((1 + rho) / (1 - rho));
  // Back to raw units: theta_j = beta_j / scale_j (j ≥ 1); the covariance likewise.
  const theta = beta.map((v, j) => (j === 0 ? v : v / scale[j]!));
  const cov = Ainv.map((row, i) =>
    row.map((v, j) => (sigma2 * v) / ((i === 0 ? 1 : scale[i]!) * (j === 0 ? 1 : scale[j]!))),
  );
  // The random walk: how residuals spread over WALK_LAG_SEC beyond their white part.
  let dsum = 0,
    dn = 0;
  for (let i = 0, k = 0; i < n; i++) {
    while (k < n && pts[k]!.tSec < pts[i]!.tSec + WALK_LAG_SEC) k++;
    if (k < n) {
      dsum += (res[k]! - res[i]!) ** 2;
      dn++;
    }
  }
  const rms = Math.sqrt(rss / n);
  const walk = Math.sqrt((dn ? Math.max(0, dsum / dn - 2 * rms * rms * (1 - rho)) : 0) / WALK_LAG_SEC);
  // The anchor: the model where the measurements end plus the mean of the latest residuals.
  const tail = res.slice(-ANCHOR_POINTS);
  const last = pts.at(-1)!;
  const anchorNs = model(last) + tail.reduce((acc, r) => acc + r, 0) / tail.length;
  const ppm = (j: number) => (cols > j ? theta[j]! / 1000 : 0);
  return {
    theta,
    cols,
    cov,
    sigma2,
    inflation: 1,
    anchorNs,
    anchorTSec: last.tSec,
    anchorI1: last.i1,
    anchorI2: last.i2,
    fit: {
      r0Ppm: ppm(1),
      r1PpmPerC: ppm(2),
      r2PpmPerC2: ppm(3),
      r0SigmaPpm: Math.sqrt(cov[1]![1]!) / 1000,
      terms: cols === 4 ? 'rate+quadratic' : cols === 3 ? 'rate+linear' : 'rate',
      rmsNs: rms,
      walkNsPerSqrtSec: walk,
      n,
      inflation: 1,
    },
  };
}

/** Offset and 1σ at (t, I1, I2) from a solved model, anchored where its measurements ended. */
function predictFrom(
  s: Solved,
  t: number,
  i1: number,
  i2: number,
): { offsetNs: number; sigmaNs: number; sinceSec: number } {
  const g = [0, t - s.anchorTSec, i1 - s.anchorI1, i2 - s.anchorI2];
  let offsetNs = s.anchorNs,
    v = 0;
  for (let j = 1; j < s.cols; j++) offsetNs += g[j]! * s.theta[j]!;
  for (let i = 1; i < s.cols; i++) for (let j = 1; j < s.cols; j++) v += g[i]! * s.cov[i]![j]! * g[j]!;
  const dt = Math.max(0, t - s.anchorTSec);
  const anchorVar = s.sigma2 / Math.min(ANCHOR_POINTS, s.fit.n);
  const walkVar = s.fit.walkNsPerSqrtSec ** 2 * dt;
  return { offsetNs, sigmaNs: s.inflation * Math.sqrt(Math.max(0, v) + anchorVar + walkVar), sinceSec: dt };
}

/** Inverse of a small symmetric positive-definite matrix (Gauss-Jordan), or undefined when singular. */
function invert(m: number[][]): number[][] | undefined {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[piv]![c]!)) piv = r;
    if (Math.abs(a[piv]![c]!) < 1e-12) return undefined;
    [a[c], a[piv]] = [a[piv]!, a[c]!];
    const d = a[c]![c]!;
    for (let j = 0; j < 2 * n; j++) a[c]![j]! /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      if (f !== 0) for (let j = 0; j < 2 * n; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return a.map((row) => row.slice(n));
}
