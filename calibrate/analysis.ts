import { fitLine } from '../src/time/regress.js';
import type { TemperatureModel } from '../src/time/rtc-calibration.js';

/**
 * Drift analysis of one clock (the subject) against a reference: mean frequency offset with an
 * honest uncertainty, temperature dependence, overlapping Allan deviation and its dominant noise,
 * and the holdover error to expect. Pure: phase points in, numbers out; no I/O.
 *
 * Phase x(t) is "subject minus reference" (ns) at reference time t (s). A recording may hold several
 * segments (an interrupted run, a reboot: the local clock restarted): each has its own phase
 * origin, all share the frequency.
 */

export interface PhasePoint {
  tSec: number;
  xNs: number;
  tempC?: number;
  segment: number;
}

export interface FrequencyEstimate {
  /** Subject against reference, + = subject fast. */
  ppm: number;
  /** 1σ, from the spread of independent blocks (honest for random-walk noise, unlike the OLS error). */
  uncertaintyPpm: number;
  points: number;
  spanSec: number;
}

export type { TemperatureModel };

export interface AllanPoint {
  tauSec: number;
  adev: number;
  /** Terms averaged (overlapping second differences). */
  terms: number;
  /** Phase points the estimate rests on (for its degrees of freedom). */
  n?: number;
  /** 68 % confidence interval (χ² with the simple equivalent degrees of freedom, see allanConfidence). */
  lo?: number;
  hi?: number;
}

/**
 * Power-law noise types by the log-log slope of σ_y(τ) (white PM −1, flicker PM ≈ −1, white FM −½,
 * flicker FM 0, random-walk FM +½, drift +1); 'periodic' is a falling curve at τ longer than where
 * it rose: a cycle (temperature) averaging out, not phase noise.
 */
export type NoiseType = 'white PM' | 'flicker PM' | 'white FM' | 'flicker FM' | 'random-walk FM' | 'drift' | 'periodic';

/** The noise type over one decade of τ, from the log-log slope of σ_y(τ) there. */
export interface NoiseRange {
  fromTauSec: number;
  toTauSec: number;
  slope: number;
  noise: NoiseType;
}

export interface Holdover {
  hours: number;
  /** False when the recording is too short to say (needs minRecordingHours); the figures are then absent. */
  supported: boolean;
  minRecordingHours: number;
  /** Expected |time error| after `hours` left alone, and with the measured rate removed (ms, ~95 %). */
  uncalibratedMs?: number;
  calibratedMs?: number;
}

export interface SubjectAnalysis {
  frequency: FrequencyEstimate;
  temperature: TemperatureModel;
  /** Share of the frequency's variance (10-minute windows) that the temperature model explains (0..1). */
  temperatureShare?: number;
  /** Overlapping Allan deviation of the phase as recorded (what holdover meets). */
  allan: AllanPoint[];
  /** The same after the temperature model is taken out (only with a model): the clock's own noise. */
  allanCorrected?: AllanPoint[];
  /** Noise type per decade of τ, from allanCorrected when there is one (else allan): same τ, same call. */
  noiseRanges: NoiseRange[];
  /** Slope and noise type in the longest decade with enough terms. */
  allanSlope?: number;
  noise?: NoiseType;
  holdover: Holdover[];
}

/** Blocks for the frequency's uncertainty: enough for a spread, long enough for each to see drift. */
const FREQ_BLOCKS = 8;
/** Frequency-vs-temperature is fitted on local frequencies over windows this long (s)... */
const TEMP_WINDOW_SEC = 600;
/** ...and only when the temperature spans at least this (°C): less tells nothing about a slope. */
const MIN_TEMP_SPAN_C = 3;
/** A quadratic is kept when it removes this share of the linear fit's residual variance. */
const QUADRATIC_GAIN = 0.2;
/** Allan deviation at about this many τ per decade. */
const TAUS_PER_DECADE = 5;

/** Least-squares slope with a separate intercept per segment. Returns ns/s (= ppb... x1e-3 ppm). */
function pooledSlope(points: readonly PhasePoint[]): { slope: number; rmsNs: number } {
  const bySeg = new Map<number, PhasePoint[]>();
  for (const p of points) (bySeg.get(p.segment) ?? bySeg.set(p.segment, []).get(p.segment)!).push(p);
  let sxy = 0,
    sxx = 0;
  const means = new Map<number, { t: number; x: number }>();
  for (const [s, ps] of bySeg) {
    const t = ps.reduce((a, p) => a + p.tSec, 0) / ps.length;
    const x = ps.reduce((a, p) => a + p.xNs, 0) / ps.length;
    means.set(s, { t, x });
    for (const p of ps) {
      sxy += (p.tSec - t) * (p.xNs - x);
      sxx += (p.tSec - t) ** 2;
    }
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  let ss = 0;
  for (const p of points) {
    const m = means.get(p.segment)!;
    ss += (p.xNs - m.x - slope * (p.tSec - m.t)) ** 2;
  }
  return { slope, rmsNs: Math.sqrt(ss / Math.max(1, points.length)) };
}

export function estimateFrequency(points: readonly PhasePoint[]): FrequencyEstimate {
  if (points.length < 3) throw new Error(`too few points to measure a frequency (${points.length})`);
  const { slope } = pooledSlope(points);
  const t0 = points[0]!.tSec,
    t1 = points.at(-1)!.tSec;
  const blocks: number[] = [];
  const size = Math.floor(points.length / FREQ_BLOCKS);
  if (size >= 3) {
    for (let b = 0; b < FREQ_BLOCKS; b++) blocks.push(pooledSlope(points.slice(b * size, (b + 1) * size)).slope);
  }
  // The mean of the blocks' slopes is as uncertain as their spread over √n; the whole-run slope is
  // at least as good, so this is conservative.
  const mean = blocks.reduce((a, b) => a + b, 0) / Math.max(1, blocks.length);
  const sd =
    blocks.length > 1
      ? Math.sqrt(blocks.reduce((a, b) => a + (b - mean) ** 2, 0) / (blocks.length - 1))
      : Math.abs(slope);
  return {
    ppm: slope / 1000,
    uncertaintyPpm: sd / Math.sqrt(Math.max(1, blocks.length)) / 1000,
    points: points.length,
    spanSec: t1 - t0,
  };
}

/** Local frequencies (ppm) over TEMP_WINDOW_SEC windows, with their mean temperature. */
export function localFrequencies(
  points: readonly PhasePoint[],
  windowSec = TEMP_WINDOW_SEC,
): Array<{ tSec: number; ppm: number; tempC: number }> {
  const out: Array<{ tSec: number; ppm: number; tempC: number }> = [];
  let i = 0;
  while (i < points.length) {
    const seg = points[i]!.segment,
      start = points[i]!.tSec;
    let j = i;
    while (j < points.length && points[j]!.segment === seg && points[j]!.tSec - start < windowSec) j++;
    const w = points.slice(i, j);
    const temps = w.filter((p) => p.tempC !== undefined).map((p) => p.tempC!);
    if (w.length >= 10 && temps.length && w.at(-1)!.tSec - start >= windowSec * 0.8) {
      const f = fitLine(
        w.map((p) => p.tSec - start),
        w.map((p) => p.xNs),
      );
      out.push({
        tSec: start + (w.at(-1)!.tSec - start) / 2,
        ppm: f.b / 1000,
        tempC: temps.reduce((a, b) => a + b, 0) / temps.length,
      });
    }
    i = j;
  }
  return out;
}

/** Least squares of y on 1, u, u² (u = T - ref). */
function fitQuadratic(us: number[], ys: number[]): { c: [number, number, number]; ss: number } {
  // Normal equations, 3x3, solved by Cramer's rule (well conditioned with u centred).
  const s = [0, 0, 0, 0, 0],
    t = [0, 0, 0];
  for (let i = 0; i < us.length; i++) {
    const u = us[i]!,
      y = ys[i]!;
    let p = 1;
    for (let k = 0; k < 5; k++) {
      s[k]! += p;
      if (k < 3) t[k]! += p * y;
      p *= u;
    }
  }
  const m = [
    [s[0]!, s[1]!, s[2]!],
    [s[1]!, s[2]!, s[3]!],
    [s[2]!, s[3]!, s[4]!],
  ];
  const det = (a: number[][]) =>
    a[0]![0]! * (a[1]![1]! * a[2]![2]! - a[1]![2]! * a[2]![1]!) -
    a[0]![1]! * (a[1]![0]! * a[2]![2]! - a[1]![2]! * a[2]![0]!) +
    a[0]![2]! * (a[1]![0]! * a[2]![1]! - a[1]![1]! * a[2]![0]!);
  const d = det(m);
  const c = [0, 1, 2].map((k) => det(m.map((row, r) => row.map((v, col) => (col === k ? t[r]! : v)))) / d) as [
    number,
    number,
    number,
  ];
  const ss = us.reduce((a, u, i) => a + (ys[i]! - (c[0] + c[1] * u + c[2] * u * u)) ** 2, 0);
  return { c, ss };
}

export function temperatureModel(points: readonly PhasePoint[], windowSec = TEMP_WINDOW_SEC): TemperatureModel {
  const local = localFrequencies(points, windowSec);
  const temps = local.map((l) => l.tempC);
  const minC = temps.length ? temps.reduce((a, b) => Math.min(a, b)) : NaN,
    maxC = temps.length ? temps.reduce((a, b) => Math.max(a, b)) : NaN;
  const refC = temps.length ? temps.reduce((a, b) => a + b, 0) / temps.length : 25;
  const none = (note: string): TemperatureModel => ({
    kind: 'none',
    refC,
    c0: local.length ? local.reduce((a, l) => a + l.ppm, 0) / local.length : 0,
    c1PpmPerC: 0,
    c2PpmPerC2: 0,
    minC,
    maxC,
    note,
  });
  if (local.length < 6) return none(`too few ${windowSec / 60}-minute windows with a temperature (${local.length})`);
  if (maxC - minC < MIN_TEMP_SPAN_C)
    return none(`the temperature only spanned ${(maxC - minC).toFixed(1)} °C (at least ${MIN_TEMP_SPAN_C} needed)`);
  const us = local.map((l) => l.tempC - refC),
    ys = local.map((l) => l.ppm);
  const lin = fitLine(us, ys);
  const linSs = us.reduce((a, u, i) => a + (ys[i]! - (lin.a + lin.b * u)) ** 2, 0);
  const quad = fitQuadratic(us, ys);
  if (local.length >= 10 && quad.ss < (1 - QUADRATIC_GAIN) * linSs) {
    return {
      kind: 'quadratic',
      refC,
      c0: quad.c[0],
      c1PpmPerC: quad.c[1],
      c2PpmPerC2: quad.c[2],
      minC,
      maxC,
      note: `the quadratic term removes ${((1 - quad.ss / linSs) * 100).toFixed(0)} % of the linear fit's residual`,
    };
  }
  return {
    kind: 'linear',
    refC,
    c0: lin.a,
    c1PpmPerC: lin.b,
    c2PpmPerC2: 0,
    minC,
    maxC,
    note: 'linear over the range seen',
  };
}

/**
 * Overlapping Allan deviation from phase data on a uniform grid of tau0Sec, segments kept apart
 * (no second difference spans a gap). τ from tau0 to a third of the longest segment (the last
 * points rest on few terms: their confidence intervals say so).
 */
export function overlappingAdev(segments: ReadonlyArray<Float64Array>, tau0Sec: number): AllanPoint[] {
  const longest = segments.reduce((a, s) => Math.max(a, s.length), 0);
  const maxM = Math.floor((longest - 1) / 3);
  const ms: number[] = [];
  for (let k = 0; ; k++) {
    const m = Math.round(10 ** (k / TAUS_PER_DECADE));
    if (m > maxM) break;
    if (ms.at(-1) !== m) ms.push(m);
  }
  if (maxM >= 1 && ms.at(-1) !== maxM) ms.push(maxM); // the longest τ the data reaches (holdover reads it)
  const out: AllanPoint[] = [];
  for (const m of ms) {
    let sum = 0,
      terms = 0,
      n = 0;
    for (const x of segments) {
      if (x.length > 2 * m) n += x.length;
      for (let i = 0; i + 2 * m < x.length; i++) {
        const d = x[i + 2 * m]! - 2 * x[i + m]! + x[i]!;
        sum += d * d;
        terms++;
      }
    }
    if (terms === 0) continue;
    const tau = m * tau0Sec;
    // x in ns: σ_y = sqrt(sum / (2 τ² terms)) with x in s.
    out.push({ tauSec: tau, adev: Math.sqrt(sum / (2 * tau * tau * terms)) * 1e-9, terms, n });
  }
  return out;
}

/** Phase points resampled onto a uniform grid per segment (linear interpolation over small gaps). */
export function uniformSegments(points: readonly PhasePoint[], tau0Sec: number): Float64Array[] {
  const out: Float64Array[] = [];
  let i = 0;
  while (i < points.length) {
    const seg = points[i]!.segment;
    let j = i;
    while (j < points.length && points[j]!.segment === seg) j++;
    const ps = points.slice(i, j);
    const t0 = ps[0]!.tSec,
      n = Math.floor((ps.at(-1)!.tSec - t0) / tau0Sec) + 1;
    const x = new Float64Array(n);
    let k = 0;
    for (let g = 0; g < n; g++) {
      const t = t0 + g * tau0Sec;
      while (k + 1 < ps.length && ps[k + 1]!.tSec <= t) k++;
      const a = ps[k]!,
        b = ps[Math.min(k + 1, ps.length - 1)]!;
      x[g] = b.tSec > a.tSec ? a.xNs + ((b.xNs - a.xNs) * (t - a.tSec)) / (b.tSec - a.tSec) : a.xNs;
    }
    out.push(x);
    i = j;
  }
  return out;
}

export function noiseOf(slope: number): NoiseType {
  if (slope < -0.85) return 'white PM';
  if (slope < -0.65) return 'flicker PM';
  if (slope < -0.25) return 'white FM';
  if (slope < 0.25) return 'flicker FM';
  if (slope < 0.75) return 'random-walk FM';
  return 'drift';
}

/** The phase with the temperature model's effect integrated out (relative to its mean). */
export function withoutTemperature(points: readonly PhasePoint[], m: TemperatureModel): PhasePoint[] {
  const model = (c: number) => m.c1PpmPerC * (c - m.refC) + m.c2PpmPerC2 * (c - m.refC) ** 2;
  const withT = points.filter((p) => p.tempC !== undefined);
  const mean = withT.reduce((a, p) => a + model(p.tempC!), 0) / Math.max(1, withT.length);
  let acc = 0;
  return points.map((p, i) => {
    const prev = points[i - 1];
    if (!prev || prev.segment !== p.segment) acc = 0;
    else acc += (model(p.tempC ?? m.refC) - mean) * 1e3 * (p.tSec - prev.tSec); // ppm * s = µs -> ns
    return { ...p, xNs: p.xNs - acc };
  });
}

// ---- Confidence of σ_y(τ) ----

/** Frequency-noise exponent α (S_y ∝ f^α) of each type, for the degrees of freedom. */
const ALPHA: Record<NoiseType, number> = {
  'white PM': 2,
  'flicker PM': 1,
  'white FM': 0,
  'flicker FM': -1,
  'random-walk FM': -2,
  drift: -2,
  periodic: 0,
};

/**
 * Equivalent degrees of freedom of an overlapping Allan variance from N phase points at m·τ0: the
 * "simple" formulas of NIST SP 1065 (Howe, Allan & Barnes; as allantools' edf_simple) for the
 * noise type α. At least 1.
 */
export function edfSimple(N: number, m: number, alpha: number): number {
  let edf: number;
  if (alpha >= 2) edf = ((N + 1) * (N - 2 * m)) / (2 * (N - m));
  else if (alpha === 1) edf = Math.exp(Math.sqrt(Math.log((N - 1) / (2 * m)) * Math.log(((2 * m + 1) * (N - 1)) / 4)));
  else if (alpha === 0) edf = ((3 * (N - 1)) / (2 * m) - (2 * (N - 2)) / N) * ((4 * m * m) / (4 * m * m + 5));
  else if (alpha === -1) edf = m === 1 ? (2 * (N - 2)) / (2.3 * N - 4.9) : (5 * N * N) / (4 * m * (N + 3 * m));
  else edf = ((N - 2) / (m * (N - 3) ** 2)) * ((N - 1) ** 2 - 3 * m * (N - 1) + 4 * m * m);
  return Number.isFinite(edf) ? Math.max(1, edf) : 1;
}

/** χ² quantile with ν degrees of freedom at the standard-normal z (Wilson–Hilferty; good to a few % for ν ≥ 1). */
function chi2Quantile(nu: number, z: number): number {
  const k = 2 / (9 * nu);
  return nu * Math.max(1e-3, 1 - k + z * Math.sqrt(k)) ** 3;
}

/** 1σ (68.3 %) two-sided: z of the 15.9 % and 84.1 % points. */
const Z_68 = 0.9945;

/** σ_y's 68 % interval: σ·√(edf/χ²(0.841)) to σ·√(edf/χ²(0.159)). */
export function allanConfidence(p: AllanPoint, tau0Sec: number, noise: NoiseType): { lo: number; hi: number } {
  const m = Math.max(1, Math.round(p.tauSec / tau0Sec));
  const N = Math.max(p.n ?? p.terms + 2 * m, 2 * m + 2);
  const edf = edfSimple(N, m, ALPHA[noise]);
  return {
    lo: p.adev * Math.sqrt(edf / chi2Quantile(edf, Z_68)),
    hi: p.adev * Math.sqrt(edf / chi2Quantile(edf, -Z_68)),
  };
}

// ---- Noise type per decade ----

/** A decade's slope needs σ_y at this many τ, each from at least MIN_INDEPENDENT stretches (N/m). */
const MIN_POINTS_PER_DECADE = 3;
const MIN_INDEPENDENT = 10;

/**
 * The noise type per decade of τ (1-10 s, 10-100 s, ...): the same τ gets the same call whatever
 * the recording's length, so a 6 h and a 24 h recording of one clock agree where both reach.
 */
export function noiseByDecade(allan: readonly AllanPoint[], tau0Sec: number): NoiseRange[] {
  const usable = allan.filter(
    (a) => a.adev > 0 && (a.n ?? a.terms) / Math.max(1, a.tauSec / tau0Sec) >= MIN_INDEPENDENT,
  );
  const out: NoiseRange[] = [];
  for (let k = Math.floor(Math.log10(tau0Sec)); usable.some((a) => a.tauSec >= 10 ** k); k++) {
    const inDecade = usable.filter((a) => a.tauSec >= 10 ** k && a.tauSec <= 10 ** (k + 1) * 1.0001);
    if (inDecade.length < MIN_POINTS_PER_DECADE) continue;
    const slope = fitLine(
      inDecade.map((a) => Math.log10(a.tauSec)),
      inDecade.map((a) => Math.log10(a.adev)),
    ).b;
    // Phase noise dominates at short τ only: a PM-like fall after FM-type noise is a cycle averaging out.
    const fmBefore = out.some((r) => r.noise !== 'white PM' && r.noise !== 'flicker PM');
    const noise = noiseOf(slope);
    out.push({
      fromTauSec: inDecade[0]!.tauSec,
      toTauSec: inDecade.at(-1)!.tauSec,
      slope,
      noise: fmBefore && (noise === 'white PM' || noise === 'flicker PM') ? 'periodic' : noise,
    });
  }
  return out;
}

function withConfidence(allan: AllanPoint[], ranges: readonly NoiseRange[], tau0Sec: number): AllanPoint[] {
  const typeAt = (tau: number): NoiseType =>
    (ranges.find((r) => tau <= r.toTauSec) ?? ranges.at(-1))?.noise ?? 'white FM';
  return allan.map((a) => ({ ...a, ...allanConfidence(a, tau0Sec, typeAt(a.tauSec)) }));
}

// ---- Holdover ----

/**
 * A prediction H ahead needs σ_y at τ = H from more than one overlapping term: a stretch of
 * recording at least this many times H without a break (the Allan deviation reaches a third of it).
 */
export const HOLDOVER_SPAN_FACTOR = 3;
/** A recording of N seconds at 1 Hz spans N - 1: a few samples short still counts. */
const SPAN_TOLERANCE = 0.995;

/**
 * Worst time error from the clock's noise within `tSec`: max over τ ≤ t of τ·σ_y(τ) (interpolated
 * log-log), so it never falls as the horizon grows. Undefined beyond the measured τ.
 */
function noiseErrorNs(allan: readonly AllanPoint[], tSec: number): number | undefined {
  if (allan.length === 0 || tSec > allan.at(-1)!.tauSec * 1.0001) return allan.length ? undefined : 0;
  let worst = 0;
  for (let i = 0; i < allan.length; i++) {
    const a = allan[i]!;
    if (a.tauSec > tSec) {
      const b = allan[i - 1];
      if (b) {
        // interpolate τσ at t between b and a (log-log)
        const f = Math.log(tSec / b.tauSec) / Math.log(a.tauSec / b.tauSec);
        const adev =
          a.adev > 0 && b.adev > 0
            ? Math.exp(Math.log(b.adev) + f * (Math.log(a.adev) - Math.log(b.adev)))
            : b.adev + f * (a.adev - b.adev);
        worst = Math.max(worst, tSec * adev * 1e9);
      }
      break;
    }
    worst = Math.max(worst, a.tauSec * a.adev * 1e9);
  }
  return worst;
}

/**
 * Expected |time error| after each horizon (~95 %): left alone, the rate's bound (|ppm| + 2σ) plus
 * the noise; with the rate removed, 2σ plus the same noise — so it is never the worse of the two,
 * and neither falls as the horizon grows. Refused (supported false) past half the longest segment.
 */
export function holdoverFigures(
  f: FrequencyEstimate,
  allan: readonly AllanPoint[],
  longestSegmentSec: number,
  hours: readonly number[],
): Holdover[] {
  return hours.map((h) => {
    const t = h * 3600;
    const minRecordingHours = h * HOLDOVER_SPAN_FACTOR;
    const noise = longestSegmentSec >= t * HOLDOVER_SPAN_FACTOR * SPAN_TOLERANCE ? noiseErrorNs(allan, t) : undefined;
    if (noise === undefined) return { hours: h, supported: false, minRecordingHours };
    const rateBoundPpm = 2 * f.uncertaintyPpm;
    return {
      hours: h,
      supported: true,
      minRecordingHours,
      uncalibratedMs: ((Math.abs(f.ppm) + rateBoundPpm) * 1e3 * t + noise) / 1e6,
      calibratedMs: (rateBoundPpm * 1e3 * t + noise) / 1e6,
    };
  });
}

export function longestSegmentSec(points: readonly PhasePoint[]): number {
  let best = 0,
    start = 0;
  for (let i = 0; i < points.length; i++) {
    if (i === 0 || points[i]!.segment !== points[i - 1]!.segment) start = points[i]!.tSec;
    best = Math.max(best, points[i]!.tSec - start);
  }
  return best;
}

// ---- The whole analysis ----

/** Share of the local frequencies' variance the temperature model explains. */
function temperatureShare(points: readonly PhasePoint[], m: TemperatureModel): number | undefined {
  if (m.kind === 'none') return undefined;
  const local = localFrequencies(points);
  if (local.length < 3) return undefined;
  const mean = local.reduce((a, l) => a + l.ppm, 0) / local.length;
  const model = (c: number) => m.c0 + m.c1PpmPerC * (c - m.refC) + m.c2PpmPerC2 * (c - m.refC) ** 2;
  const total = local.reduce((a, l) => a + (l.ppm - mean) ** 2, 0);
  const resid = local.reduce((a, l) => a + (l.ppm - model(l.tempC)) ** 2, 0);
  return total > 0 ? Math.max(0, 1 - resid / total) : 0;
}

export const HOLDOVER_HOURS = [1, 3];

export function analyse(
  points: readonly PhasePoint[],
  opts: { tau0Sec?: number; holdoverHours?: number[] } = {},
): SubjectAnalysis {
  const tau0 = opts.tau0Sec ?? 1;
  const temperature = temperatureModel(points);
  const frequency = estimateFrequency(points);
  const corrected = temperature.kind !== 'none' ? withoutTemperature(points, temperature) : undefined;
  // The blocks' spread would count the temperature's swings as uncertainty: take it from the phase
  // with the modelled temperature effect removed.
  if (corrected) frequency.uncertaintyPpm = estimateFrequency(corrected).uncertaintyPpm;
  const rawAllan = overlappingAdev(uniformSegments(points, tau0), tau0);
  const corrAllan = corrected ? overlappingAdev(uniformSegments(corrected, tau0), tau0) : undefined;
  // The clock's own noise is called on the phase without the temperature's hump.
  const noiseRanges = noiseByDecade(corrAllan ?? rawAllan, tau0);
  const last = noiseRanges.at(-1);
  const allan = withConfidence(rawAllan, noiseByDecade(rawAllan, tau0), tau0);
  return {
    frequency,
    temperature,
    temperatureShare: temperatureShare(points, temperature),
    allan,
    ...(corrAllan ? { allanCorrected: withConfidence(corrAllan, noiseRanges, tau0) } : {}),
    noiseRanges,
    allanSlope: last?.slope,
    noise: last?.noise,
    holdover: holdoverFigures(frequency, allan, longestSegmentSec(points), opts.holdoverHours ?? HOLDOVER_HOURS),
  };
}

/** Between two devices after `hours`: how far apart their clocks drift, raw and calibrated (both must support it). */
export function pairDrift(
  a: SubjectAnalysis,
  b: SubjectAnalysis,
  hours: number,
): { supported: boolean; uncalibratedMs?: number; calibratedMs?: number } {
  const ha = a.holdover.find((h) => h.hours === hours),
    hb = b.holdover.find((h) => h.hours === hours);
  if (!ha?.supported || !hb?.supported) return { supported: false };
  const t = hours * 3600;
  const noiseA = ha.calibratedMs! - 2 * a.frequency.uncertaintyPpm * 1e-3 * t,
    noiseB = hb.calibratedMs! - 2 * b.frequency.uncertaintyPpm * 1e-3 * t;
  const noise = Math.hypot(noiseA, noiseB);
  const rateBound = 2 * Math.hypot(a.frequency.uncertaintyPpm, b.frequency.uncertaintyPpm);
  return {
    supported: true,
    uncalibratedMs: (Math.abs(a.frequency.ppm - b.frequency.ppm) + rateBound) * 1e-3 * t + noise,
    calibratedMs: rateBound * 1e-3 * t + noise,
  };
}

/**
 * What the rate and temperature model leave: the phase with the temperature effect integrated out
 * and each segment's line removed (ns). Holdover with the model applied meets exactly this.
 */
export function residualSeries(points: readonly PhasePoint[], a: SubjectAnalysis): PhasePoint[] {
  const ps = a.temperature.kind !== 'none' ? withoutTemperature(points, a.temperature) : [...points];
  const { slope } = pooledSlope(ps); // ns/s: the rate that goes with the model (its mean over the run)
  const mean = new Map<number, { t: number; x: number; n: number }>();
  for (const p of ps) {
    const m = mean.get(p.segment) ?? mean.set(p.segment, { t: 0, x: 0, n: 0 }).get(p.segment)!;
    m.t += p.tSec;
    m.x += p.xNs;
    m.n++;
  }
  return ps.map((p) => {
    const m = mean.get(p.segment)!;
    return { ...p, xNs: p.xNs - m.x / m.n - slope * (p.tSec - m.t / m.n) };
  });
}
