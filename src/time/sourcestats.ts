import { fitLine, median, quantile, type LineFit } from './regress.js';
import type { TimeSample } from './sample.js';
import { Timescale, type SourceName } from './timescale.js';

/**
 * Offset and frequency of the local clock against one source, from a weighted regression over a
 * sliding window with outlier rejection (after chrony's sourcestats.c). First version: no runs
 * test and no slewing between sources yet (the clock layer issue builds those on this seam).
 */

/** Window of samples kept: 64 s of 1 Hz PPS averages timestamp noise while following thermal drift. */
export const WINDOW_SAMPLES = 64;
/**
 * Samples older than this are dropped even when the window is not full: after a GPS outage the
 * crystal has wandered, and a fit across the gap would bend the new estimate (seen in simulation:
 * 16 µs of error half a minute after relocking with hour-old samples in the window).
 */
export const WINDOW_MAX_AGE_NS = 100_000_000_000n;
/** Fewer samples than this cannot tell offset from frequency with any confidence. */
export const MIN_SAMPLES_FOR_LOCK = 4;
/** A residual beyond this many times the fit's RMS (or the sample's own error) is an outlier. */
export const OUTLIER_FACTOR = 5;
/** Coverage factor of the bound: ~3 sigma keeps the true error inside it >99 % for Gaussian noise. */
export const BOUND_SIGMAS = 3;
/**
 * Frequency wander allowed for since the last sample (ns of error per s of age): a Pi crystal moves
 * ~0.25 ppm/°C and a box on a bike swings by up to ±8 °C between riding and standing, so 2 ppm.
 * This is what makes a holdover bound on the system crystal honest; the RTC does better.
 */
export const WANDER_NS_PER_SEC = 2_000;

/** Late-only sources: the residual quantile taken as the undelayed envelope. */
export const ENVELOPE_QUANTILE = 0.9;

/**
 * With a known local frequency (a prior, from the last run's state) two samples make a lock: the
 * offset is measured, the slope taken from the prior. chrony's drift file does the same at boot.
 */
export const MIN_SAMPLES_WITH_PRIOR = 2;

/**
 * No local crystal in this field is further off than this (a Pi's: tens of ppm, −43 measured, plus
 * ~0.25 ppm/°C over a 40-70 °C box): a fitted frequency beyond it is noise, not a measurement.
 */
export const MAX_PLAUSIBLE_FREQ_PPM = 200;

/** What the last run learned of the local oscillator (monotonic clock) against UTC. */
export interface FrequencyPrior {
  freqPpm: number;
  /** 1σ: how far it may have moved since (temperature, aging). */
  sigmaPpm: number;
}

/** The fit behind an estimate: samples it kept, its frequency's 1σ, the residual RMS. */
export interface FitDiagnostics {
  /** Samples the estimate used (after outlier rejection). */
  used: number;
  /** 1σ of the frequency estimate (ppm): the regression's, or the prior's while it serves. */
  freqSigmaPpm: number;
  /** RMS of the residuals around the fit (ns): the source's jitter as we see it. Absent on a prior. */
  stdDevNs?: number;
  /** The estimate leans on the last run's frequency (too few samples for a fit). */
  fromPrior: boolean;
}

export interface SourceStatsReport extends Partial<FitDiagnostics> {
  source: SourceName;
  /** Samples in the window (chrony's NP), and the time they span (s). */
  samples: number;
  spanSec: number;
  lastSample?: TimeSample;
  /** The source's own estimate (undefined while it has too few consistent samples). */
  estimate?: Timescale;
}

export class SourceStats {
  private samples: TimeSample[] = [];
  private _prior?: FrequencyPrior;
  /** The last estimate, valid until the window changes: the player asks every audio period. */
  private cache?: { ts: Timescale | undefined; fit?: FitDiagnostics };

  /** Used only until the window holds MIN_SAMPLES_FOR_LOCK samples. */
  get prior(): FrequencyPrior | undefined {
    return this._prior;
  }

  set prior(p: FrequencyPrior | undefined) {
    this._prior = p;
    this.cache = undefined;
  }

  constructor(
    readonly source: SourceName,
    private readonly windowSamples = WINDOW_SAMPLES,
  ) {}

  get count(): number {
    return this.samples.length;
  }

  get lastMonoNs(): bigint | undefined {
    return this.samples.at(-1)?.monoNs;
  }

  add(sample: TimeSample): void {
    this.cache = undefined;
    const last = this.samples.at(-1);
    if (last && sample.monoNs <= last.monoNs) return; // out of order: keep the window monotonic
    if (sample.restart) this.samples = [];
    this.samples.push(sample);
    if (this.samples.length > this.windowSamples) this.samples.shift();
    while (sample.monoNs - this.samples[0]!.monoNs > WINDOW_MAX_AGE_NS) this.samples.shift();
  }

  clear(): void {
    this.samples = [];
    this.cache = undefined;
  }

  /** The fitted timescale, or undefined while there are too few consistent samples. */
  estimate(): Timescale | undefined {
    return this.computed().ts;
  }

  private computed(): { ts: Timescale | undefined; fit?: FitDiagnostics } {
    if (!this.cache) {
      const diag: { fit?: FitDiagnostics } = {};
      this.cache = { ts: this.compute(diag), fit: diag.fit };
    }
    return this.cache;
  }

  /**
   * What `clock sources` shows of this source (as chronyc sourcestats): the window, the last
   * sample, and the fit behind the estimate. Reads the cached estimate; changes nothing.
   */
  report(): SourceStatsReport {
    const { ts, fit } = this.computed();
    const first = this.samples[0],
      last = this.samples.at(-1);
    return {
      source: this.source,
      samples: this.samples.length,
      spanSec: first && last ? Number(last.monoNs - first.monoNs) / 1e9 : 0,
      lastSample: last,
      estimate: ts,
      ...(fit ?? {}),
    };
  }

  private compute(diag: { fit?: FitDiagnostics }): Timescale | undefined {
    if (this.samples.length < MIN_SAMPLES_FOR_LOCK) {
      const ts = this.estimateWithPrior();
      if (ts && this.prior)
        diag.fit = { used: this.samples.length, freqSigmaPpm: this.prior.sigmaPpm, fromPrior: true };
      return ts;
    }
    const ref = this.samples.at(-1)!;
    const fit = this.fit(this.samples, ref);
    // Reject outliers once, then refit on the survivors.
    const kept = this.samples.filter(
      (s, i) => Math.abs(fit.residuals[i]!) <= Math.max(OUTLIER_FACTOR * fit.line.rms, 3 * s.errorNs),
    );
    if (kept.length < MIN_SAMPLES_FOR_LOCK) return undefined;
    let { line } = kept.length === this.samples.length ? fit : this.fit(kept, ref);
    if (kept.some((s) => s.lateOnly)) line = this.lowerEnvelope(kept, ref, line);
    line = this.plausibleSlope(line);
    // y = utc - mono relative to the reference sample's; x = seconds from the reference.
    const sampleErrNs = kept.reduce((m, s) => Math.max(m, s.errorNs), 0);
    // x = 0 is the newest sample, the edge of the window: aStdErr already includes the lever arm.
    const predStdErr = line.aStdErr;
    const refUtcNs = ref.monoNs + (ref.utcNs - ref.monoNs) + BigInt(Math.round(line.a));
    diag.fit = { used: kept.length, freqSigmaPpm: line.bStdErr / 1000, stdDevNs: line.rms, fromPrior: false };
    return new Timescale({
      refMonoNs: ref.monoNs,
      refUtcNs,
      // slope b is d(utc - mono)/dmono in ns/s: local fast => utc gains less => b < 0
      freqPpm: -line.b / 1000,
      errorBoundNs: BOUND_SIGMAS * Math.max(predStdErr, line.rms / Math.sqrt(kept.length)) + sampleErrNs,
      errorGrowthNsPerSec: BOUND_SIGMAS * line.bStdErr + WANDER_NS_PER_SEC,
      source: this.source,
      state: 'locked',
      lastSampleMonoNs: ref.monoNs,
    });
  }

  /**
   * Few samples and a prior: the offset is their weighted mean along the prior's slope, the bound
   * carries the prior's uncertainty over the samples' lever arm, and it grows at 3σ of the prior
   * until a full fit takes over. Samples that disagree with the prior (it is stale, or a sample is
   * bad) give no lock: the full window decides then. Late-only (GPIO) stamps need the envelope fit.
   */
  private estimateWithPrior(): Timescale | undefined {
    const p = this.prior;
    if (!p || this.samples.length < MIN_SAMPLES_WITH_PRIOR || this.samples.some((s) => s.lateOnly)) return undefined;
    const ref = this.samples.at(-1)!;
    const ref0 = ref.utcNs - ref.monoNs;
    const slopeNsPerSec = -p.freqPpm * 1000;
    const xs = this.samples.map((s) => Number(s.monoNs - ref.monoNs) / 1e9);
    const adj = this.samples.map((s, i) => Number(s.utcNs - s.monoNs - ref0) - slopeNsPerSec * xs[i]!);
    const ws = this.samples.map((s) => 1 / Math.max(1, s.errorNs) ** 2);
    const wSum = ws.reduce((a, b) => a + b, 0);
    const a = adj.reduce((m, y, i) => m + ws[i]! * y, 0) / wSum;
    const slopeSigmaNs = p.sigmaPpm * 1000;
    const consistent = this.samples.every(
      (s, i) => Math.abs(adj[i]! - a) <= BOUND_SIGMAS * (s.errorNs + slopeSigmaNs * Math.abs(xs[i]!)),
    );
    if (!consistent) return undefined;
    const sampleErrNs = this.samples.reduce((m, s) => Math.max(m, s.errorNs), 0);
    const leverSec = xs.reduce((m, x, i) => m + ws[i]! * Math.abs(x), 0) / wSum;
    return new Timescale({
      refMonoNs: ref.monoNs,
      refUtcNs: ref.utcNs + BigInt(Math.round(a)),
      freqPpm: p.freqPpm,
      errorBoundNs: BOUND_SIGMAS * slopeSigmaNs * leverSec + sampleErrNs,
      errorGrowthNsPerSec: BOUND_SIGMAS * slopeSigmaNs + WANDER_NS_PER_SEC,
      source: this.source,
      state: 'locked',
      lastSampleMonoNs: ref.monoNs,
    });
  }

  /**
   * A slope the samples cannot tell (NMEA alone: ms of jitter over a few seconds gives ±800 ppm) is
   * not claimed: when its 3σ spans more than the plausible range the slope is the prior's (or 0),
   * and any slope is held to ±MAX_PLAUSIBLE_FREQ_PPM. The line pivots about the samples' weighted
   * mean, where the offset is best known; the error growth keeps the fit's own slope uncertainty,
   * which covers the difference.
   */
  private plausibleSlope(line: LineFit): LineFit {
    const maxNsPerSec = MAX_PLAUSIBLE_FREQ_PPM * 1000;
    const unmeasured = BOUND_SIGMAS * line.bStdErr > maxNsPerSec;
    const wanted = unmeasured ? -(this.prior?.freqPpm ?? 0) * 1000 : line.b;
    const b = Math.min(maxNsPerSec, Math.max(-maxNsPerSec, wanted));
    if (b === line.b) return line;
    return { ...line, b, a: line.a + (line.b - b) * line.xMean };
  }

  /**
   * Late-only timestamps: y = utc - mono is the truth minus a positive delay, so the truth is the
   * upper envelope of y. Fit the slope on the less-late half, then lift the line to the
   * ENVELOPE_QUANTILE of the residuals (not the maximum: one sample can be early by its own noise).
   */
  private lowerEnvelope(samples: readonly TimeSample[], ref: TimeSample, line: LineFit): LineFit {
    const first = this.fit(samples, ref);
    const cut = median(first.residuals);
    const early = samples.filter((_, i) => first.residuals[i]! >= cut);
    const refit = early.length >= MIN_SAMPLES_FOR_LOCK ? this.fit(early, ref) : first;
    const lift = quantile(refit.residuals, ENVELOPE_QUANTILE);
    return { ...refit.line, a: refit.line.a + lift, rms: Math.max(line.rms, refit.line.rms) };
  }

  private fit(samples: readonly TimeSample[], ref: TimeSample) {
    const ref0 = ref.utcNs - ref.monoNs;
    const xs = samples.map((s) => Number(s.monoNs - ref.monoNs) / 1e9);
    const ys = samples.map((s) => Number(s.utcNs - s.monoNs - ref0));
    const ws = samples.map((s) => 1 / Math.max(1, s.errorNs) ** 2);
    const line = fitLine(xs, ys, ws);
    const residuals = ys.map((y, i) => y - (line.a + line.b * xs[i]!));
    return { line, residuals };
  }
}
