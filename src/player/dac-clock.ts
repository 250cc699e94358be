import { fitLine, quantile } from '../time/regress.js';

/**
 * The audio device's clock as seen from the local monotonic clock: when stream period p leaves the
 * device queue, learned from callback times. Callbacks reach JS late (event loop), never early, so
 * the truth is the lower envelope of (time, period) — fitted like the late-only PPS: slope from the
 * earlier half, then lowered to a low quantile of the residuals. Its slope is the DAC's real rate.
 * Pure math: no I/O, no timers.
 */

/** Observations kept: ~20 s of 1024-frame periods, enough for a 0.1 ppm slope, short enough to follow drift. */
export const DAC_WINDOW = 1000;
/** The envelope is the residual at this quantile: the least-delayed few callbacks (1 %, not the minimum, which one early outlier could set). */
export const DAC_ENVELOPE_QUANTILE = 0.01;
/** Fewer observations than this give no estimate (the start-up burst is excluded by the caller). */
export const DAC_MIN_OBSERVATIONS = 16;
/**
 * Until the observations span this long (~2 s), the slope is the nominal rate and only the offset
 * is fitted: callbacks jitter by ms, so a slope from one second of them is off by hundreds of ppm
 * (seen on the JACK rig), while a real DAC is within ±100 ppm of nominal. After that the slope is
 * fitted, clamped to DAC_MAX_PPM.
 */
export const DAC_EARLY_SLOPE_SPAN_PERIODS = 100;
/** USB and I2S DAC crystals: ±20-100 ppm (WORLD.md); beyond 200 the slope is clamped. */
export const DAC_MAX_PPM = 200;
/** Observations used for the offset while the slope is still nominal (~1 s at 1024 frames). */
const NOMINAL_OFFSET_WINDOW = 50;
/** Refit after this many new observations (a fit costs O(window log window); the clock moves slowly). */
const REFIT_EVERY = 32;

export class DacClock {
  private ps: number[] = [];
  private ts: number[] = []; // callback mono ns relative to baseNs
  private baseNs?: bigint;
  private fit?: { a: number; b: number; p0: number };
  private dirty = false;
  private sinceFit = 0;

  /**
   * `priorPpm`: the device's rate as a previous run measured it (+ = fast): used for the early
   * slope instead of nominal, so a restart places its first frame as well as a long-running stream.
   */
  constructor(readonly periodFrames: number, readonly nominalRate: number, private readonly priorPpm?: number) {}

  /** The fitted rate against the monotonic clock (ppm, + = fast), once the slope is fitted, not assumed. */
  measuredPpm(): number | undefined {
    const f = this.estimate();
    if (!f || this.ps.length === 0 || this.ps.at(-1)! - this.ps[0]! < DAC_EARLY_SLOPE_SPAN_PERIODS) return undefined;
    return ((this.periodFrames * 1e9) / this.nominalRate / f.b - 1) * 1e6;
  }

  get observations(): number {
    return this.ps.length;
  }

  observe(period: number, monoNs: bigint): void {
    this.baseNs ??= monoNs;
    this.ps.push(period);
    this.ts.push(Number(monoNs - this.baseNs));
    if (this.ps.length > DAC_WINDOW) { this.ps.shift(); this.ts.shift(); }
    this.sinceFit++;
    // Early on every observation counts; later a refit every REFIT_EVERY is plenty.
    if (!this.fit || this.ps.length < 2 * DAC_MIN_OBSERVATIONS || this.sinceFit >= REFIT_EVERY) this.dirty = true;
  }

  /** Forget everything (after an underrun the device's period numbering restarts its cadence). */
  reset(): void {
    this.ps = []; this.ts = []; this.fit = undefined; this.dirty = false;
  }

  private estimate(): { a: number; b: number; p0: number } | undefined {
    if (!this.dirty) return this.fit;
    this.dirty = false;
    this.sinceFit = 0;
    if (this.ps.length < DAC_MIN_OBSERVATIONS) return (this.fit = undefined);
    const p0 = this.ps.at(-1)!;
    const nominal = (this.periodFrames * 1e9) / this.nominalRate;
    if (p0 - this.ps[0]! < DAC_EARLY_SLOPE_SPAN_PERIODS) {
      // Short history: the slope is nominal (or the prior's), so use only the last second or so for
      // the offset (a 100 ppm DAC drifts 100 µs per second against a nominal line).
      const early = this.priorPpm !== undefined && Math.abs(this.priorPpm) <= DAC_MAX_PPM ? nominal / (1 + this.priorPpm * 1e-6) : nominal;
      const from = Math.max(0, this.ps.length - NOMINAL_OFFSET_WINDOW);
      const res = this.ts.slice(from).map((t, i) => t - early * (this.ps[from + i]! - p0));
      this.fit = { a: quantile(res, DAC_ENVELOPE_QUANTILE), b: early, p0 };
      return this.fit;
    }
    const xs = this.ps.map((p) => p - p0);
    const first = fitLine(xs, this.ts);
    const res = this.ts.map((t, i) => t - (first.a + first.b * xs[i]!));
    const cut = quantile(res, 0.5);
    const keep = res.map((r, i) => (r <= cut ? i : -1)).filter((i) => i >= 0);
    const second = fitLine(keep.map((i) => xs[i]!), keep.map((i) => this.ts[i]!));
    const lower = quantile(this.ts.map((t, i) => t - (second.a + second.b * xs[i]!)), DAC_ENVELOPE_QUANTILE);
    // A DAC is within ±DAC_MAX_PPM of nominal: a slope outside that is jitter, not the device.
    const maxDev = nominal * DAC_MAX_PPM * 1e-6;
    const b = Math.min(nominal + maxDev, Math.max(nominal - maxDev, second.b));
    this.fit = { a: b === second.b ? second.a + lower : quantile(this.ts.map((t, i) => t - b * xs[i]!), DAC_ENVELOPE_QUANTILE), b, p0 };
    return this.fit;
  }

  /** Local monotonic ns at which stream period p is taken by the device, or undefined while learning. */
  popMonoNs(period: number): bigint | undefined {
    const f = this.estimate();
    if (!f || this.baseNs === undefined) return undefined;
    return this.baseNs + BigInt(Math.round(f.a + f.b * (period - f.p0)));
  }

  /** The device's frames per local monotonic second (its true rate as this clock sees it). */
  framesPerSec(): number | undefined {
    const f = this.estimate();
    return f ? (this.periodFrames * 1e9) / f.b : undefined;
  }
}
