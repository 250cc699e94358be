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
  /** Terms averaged (confidence: a few terms is a rough figure). */
  terms: number;
}

export type NoiseType = 'white PM' | 'flicker PM' | 'white FM' | 'flicker FM' | 'random-walk FM' | 'drift';

export interface SubjectAnalysis {
  frequency: FrequencyEstimate;
  temperature: TemperatureModel;
  allan: AllanPoint[];
  /** Log-log slope of σ_y(τ) over the longest decade, and what it means. */
  allanSlope?: number;
  noise?: NoiseType;
  /** Expected |time error| after the given hours, left alone (uncalibrated) and with the measured rate removed. */
  holdover: Array<{ hours: number; uncalibratedMs: number; calibratedMs: number }>;
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
  let sxy = 0, sxx = 0;
  const means = new Map<number, { t: number; x: number }>();
  for (const [s, ps] of bySeg) {
    const t = ps.reduce((a, p) => a + p.tSec, 0) / ps.length;
    const x = ps.reduce((a, p) => a + p.xNs, 0) / ps.length;
    means.set(s, { t, x });
    for (const p of ps) { sxy += (p.tSec - t) * (p.xNs - x); sxx += (p.tSec - t) ** 2; }
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  let ss = 0;
  for (const p of points) { const m = means.get(p.segment)!; ss += (p.xNs - m.x - slope * (p.tSec - m.t)) ** 2; }
  return { slope, rmsNs: Math.sqrt(ss / Math.max(1, points.length)) };
}

export function estimateFrequency(points: readonly PhasePoint[]): FrequencyEstimate {
  if (points.length < 3) throw new Error(`too few points to measure a frequency (${points.length})`);
  const { slope } = pooledSlope(points);
  const t0 = points[0]!.tSec, t1 = points.at(-1)!.tSec;
  const blocks: number[] = [];
  const size = Math.floor(points.length / FREQ_BLOCKS);
  if (size >= 3) {
    for (let b = 0; b < FREQ_BLOCKS; b++) blocks.push(pooledSlope(points.slice(b * size, (b + 1) * size)).slope);
  }
  // The mean of the blocks' slopes is as uncertain as their spread over √n; the whole-run slope is
  // at least as good, so this is conservative.
  const mean = blocks.reduce((a, b) => a + b, 0) / Math.max(1, blocks.length);
  const sd = blocks.length > 1 ? Math.sqrt(blocks.reduce((a, b) => a + (b - mean) ** 2, 0) / (blocks.length - 1)) : Math.abs(slope);
  return { ppm: slope / 1000, uncertaintyPpm: sd / Math.sqrt(Math.max(1, blocks.length)) / 1000, points: points.length, spanSec: t1 - t0 };
}

/** Local frequencies (ppm) over TEMP_WINDOW_SEC windows, with their mean temperature. */
export function localFrequencies(points: readonly PhasePoint[], windowSec = TEMP_WINDOW_SEC): Array<{ tSec: number; ppm: number; tempC: number }> {
  const out: Array<{ tSec: number; ppm: number; tempC: number }> = [];
  let i = 0;
  while (i < points.length) {
    const seg = points[i]!.segment, start = points[i]!.tSec;
    let j = i;
    while (j < points.length && points[j]!.segment === seg && points[j]!.tSec - start < windowSec) j++;
    const w = points.slice(i, j);
    const temps = w.filter((p) => p.tempC !== undefined).map((p) => p.tempC!);
    if (w.length >= 10 && temps.length && w.at(-1)!.tSec - start >= windowSec * 0.8) {
      const f = fitLine(w.map((p) => p.tSec - start), w.map((p) => p.xNs));
      out.push({ tSec: start + (w.at(-1)!.tSec - start) / 2, ppm: f.b / 1000, tempC: temps.reduce((a, b) => a + b, 0) / temps.length });
    }
    i = j;
  }
  return out;
}

/** Least squares of y on 1, u, u² (u = T - ref). */
function fitQuadratic(us: number[], ys: number[]): { c: [number, number, number]; ss: number } {
  // Normal equations, 3x3, solved by Cramer's rule (well conditioned with u centred).
  const s = [0, 0, 0, 0, 0], t = [0, 0, 0];
  for (let i = 0; i < us.length; i++) {
    const u = us[i]!, y = ys[i]!;
    let p = 1;
    for (let k = 0; k < 5; k++) { s[k]! += p; if (k < 3) t[k]! += p * y; p *= u; }
  }
  const m = [[s[0]!, s[1]!, s[2]!], [s[1]!, s[2]!, s[3]!], [s[2]!, s[3]!, s[4]!]];
  const det = (a: number[][]) => a[0]![0]! * (a[1]![1]! * a[2]![2]! - a[1]![2]! * a[2]![1]!) - a[0]![1]! * (a[1]![0]! * a[2]![2]! - a[1]![2]! * a[2]![0]!) + a[0]![2]! * (a[1]![0]! * a[2]![1]! - a[1]![1]! * a[2]![0]!);
  const d = det(m);
  const c = [0, 1, 2].map((k) => det(m.map((row, r) => row.map((v, col) => (col === k ? t[r]! : v)))) / d) as [number, number, number];
  const ss = us.reduce((a, u, i) => a + (ys[i]! - (c[0] + c[1] * u + c[2] * u * u)) ** 2, 0);
  return { c, ss };
}

export function temperatureModel(points: readonly PhasePoint[], windowSec = TEMP_WINDOW_SEC): TemperatureModel {
  const local = localFrequencies(points, windowSec);
  const temps = local.map((l) => l.tempC);
  const minC = temps.length ? Math.min(...temps) : NaN, maxC = temps.length ? Math.max(...temps) : NaN;
  const refC = temps.length ? temps.reduce((a, b) => a + b, 0) / temps.length : 25;
  const none = (note: string): TemperatureModel => ({ kind: 'none', refC, c0: local.length ? local.reduce((a, l) => a + l.ppm, 0) / local.length : 0, c1PpmPerC: 0, c2PpmPerC2: 0, minC, maxC, note });
  if (local.length < 6) return none(`too few ${windowSec / 60}-minute windows with a temperature (${local.length})`);
  if (maxC - minC < MIN_TEMP_SPAN_C) return none(`the temperature only spanned ${(maxC - minC).toFixed(1)} °C (at least ${MIN_TEMP_SPAN_C} needed)`);
  const us = local.map((l) => l.tempC - refC), ys = local.map((l) => l.ppm);
  const lin = fitLine(us, ys);
  const linSs = us.reduce((a, u, i) => a + (ys[i]! - (lin.a + lin.b * u)) ** 2, 0);
  const quad = fitQuadratic(us, ys);
  if (local.length >= 10 && quad.ss < (1 - QUADRATIC_GAIN) * linSs) {
    return { kind: 'quadratic', refC, c0: quad.c[0], c1PpmPerC: quad.c[1], c2PpmPerC2: quad.c[2], minC, maxC, note: `the quadratic term removes ${((1 - quad.ss / linSs) * 100).toFixed(0)} % of the linear fit's residual` };
  }
  return { kind: 'linear', refC, c0: lin.a, c1PpmPerC: lin.b, c2PpmPerC2: 0, minC, maxC, note: 'linear over the range seen' };
}

/**
 * Overlapping Allan deviation from phase data on a uniform grid of tau0Sec, segments kept apart
 * (no second difference spans a gap). τ from tau0 to a quarter of the longest segment.
 */
export function overlappingAdev(segments: ReadonlyArray<Float64Array>, tau0Sec: number): AllanPoint[] {
  const longest = Math.max(0, ...segments.map((s) => s.length));
  const maxM = Math.floor(longest / 4);
  const ms: number[] = [];
  for (let k = 0; ; k++) {
    const m = Math.round(10 ** (k / TAUS_PER_DECADE));
    if (m > maxM) break;
    if (ms.at(-1) !== m) ms.push(m);
  }
  const out: AllanPoint[] = [];
  for (const m of ms) {
    let sum = 0, terms = 0;
    for (const x of segments) {
      for (let i = 0; i + 2 * m < x.length; i++) {
        const d = x[i + 2 * m]! - 2 * x[i + m]! + x[i]!;
        sum += d * d;
        terms++;
      }
    }
    if (terms === 0) continue;
    const tau = m * tau0Sec;
    // x in ns: σ_y = sqrt(sum / (2 τ² terms)) with x in s.
    out.push({ tauSec: tau, adev: Math.sqrt(sum / (2 * tau * tau * terms)) * 1e-9, terms });
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
    const t0 = ps[0]!.tSec, n = Math.floor((ps.at(-1)!.tSec - t0) / tau0Sec) + 1;
    const x = new Float64Array(n);
    let k = 0;
    for (let g = 0; g < n; g++) {
      const t = t0 + g * tau0Sec;
      while (k + 1 < ps.length && ps[k + 1]!.tSec <= t) k++;
      const a = ps[k]!, b = ps[Math.min(k + 1, ps.length - 1)]!;
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

/** σ_y(τ) from fewer independent stretches than this (N / m) is too rough for the slope. */
const MIN_TERMS_FOR_SLOPE = 20;

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

/** σ_y at τ, extrapolated past the last point with the last decade's slope. */
function adevAt(allan: readonly AllanPoint[], slope: number | undefined, tauSec: number): number {
  if (allan.length === 0) return 0;
  const last = allan.at(-1)!;
  if (tauSec <= last.tauSec) {
    const k = allan.findIndex((a) => a.tauSec >= tauSec);
    return allan[Math.max(0, k)]!.adev;
  }
  return last.adev * (tauSec / last.tauSec) ** Math.max(Number.isFinite(slope) ? slope! : 0, 0); // never assume it keeps falling
}

export function analyse(points: readonly PhasePoint[], opts: { tau0Sec?: number; holdoverHours?: number[] } = {}): SubjectAnalysis {
  const tau0 = opts.tau0Sec ?? 1;
  const temperature = temperatureModel(points);
  const frequency = estimateFrequency(points);
  // The blocks' spread would count the temperature's swings as uncertainty: take it from the phase
  // with the modelled temperature effect removed.
  if (temperature.kind !== 'none') frequency.uncertaintyPpm = estimateFrequency(withoutTemperature(points, temperature)).uncertaintyPpm;
  const allan = overlappingAdev(uniformSegments(points, tau0), tau0);
  let allanSlope: number | undefined;
  // The slope over the last two decades where σ_y rests on enough terms to be believed.
  const trusted = allan.filter((a) => a.adev > 0 && a.terms >= MIN_TERMS_FOR_SLOPE * (a.tauSec / tau0));
  const use = trusted.filter((a) => a.tauSec >= (trusted.at(-1)?.tauSec ?? 0) / 100);
  if (use.length >= 3) allanSlope = fitLine(use.map((a) => Math.log10(a.tauSec)), use.map((a) => Math.log10(a.adev))).b;
  const holdover = (opts.holdoverHours ?? [1, 3]).map((hours) => {
    const t = hours * 3600;
    const noise = t * adevAt(allan, allanSlope, t);
    return {
      hours,
      uncalibratedMs: (Math.abs(frequency.ppm) * 1e-6 * t + noise) * 1e3,
      calibratedMs: (2 * frequency.uncertaintyPpm * 1e-6 * t + noise) * 1e3,
    };
  });
  return { frequency, temperature, allan, allanSlope, noise: allanSlope !== undefined ? noiseOf(allanSlope) : undefined, holdover };
}

/** Between two devices after `hours`: how far apart their clocks drift, raw and calibrated. */
export function pairDrift(a: SubjectAnalysis, b: SubjectAnalysis, hours: number): { uncalibratedMs: number; calibratedMs: number } {
  const t = hours * 3600;
  const noise = Math.hypot(t * adevAt(a.allan, a.allanSlope, t), t * adevAt(b.allan, b.allanSlope, t));
  return {
    uncalibratedMs: (Math.abs(a.frequency.ppm - b.frequency.ppm) * 1e-6 * t + noise) * 1e3,
    calibratedMs: (2 * Math.hypot(a.frequency.uncertaintyPpm, b.frequency.uncertaintyPpm) * 1e-6 * t + noise) * 1e3,
  };
}
