import { fitLine } from '../regress.js';
import { RtcRateModel } from '../rtc-model.js';
import type { SampleSink } from '../sample.js';
import type { Timescale } from '../timescale.js';

/**
 * The DS3231 as a time source and as a disciplined client.
 *
 * Phase: with SQW wired, each falling edge is the RTC's second boundary (timestamped like a PPS,
 * µs-class); without it, the seconds register is polled and its rollover caught (sub-ms class,
 * bounded by the poll spacing and the I2C read time). A time read right after an edge labels it.
 *
 * Client: while a better timescale exists (GPS+PPS), each labelled edge measures the RTC against it;
 * a regression over those gives the RTC's offset and rate (the drift log's input), and, with the
 * chip's temperature read beside each label, its rate as a function of temperature and time
 * (RtcRateModel). Source: the RTC's own labels corrected by that model over the temperatures read
 * since the measurements ended (holdover through a tunnel), with a bound from the model's own
 * uncertainty; without a temperature model, by the offset and rate, with a bound that grows at the
 * rate uncertainty plus RTC_WANDER_PPM (the residual temperature wander).
 */

export interface RtcCalibration {
  /** RTC rate against UTC measured earlier (ppm, positive = fast), and how well it is known. */
  ratePpm: number;
  rateUncertaintyPpm: number;
  /** When the RTC was last set on the second from a good reference (UTC ns), and how well (ns). */
  setAtUtcNs?: bigint;
  setErrorNs?: number;
}

export interface RtcMeasurement {
  monoNs: bigint;
  /** RTC minus reference (ns) at that edge: positive = RTC ahead. */
  offsetNs: number;
  /** monoNs in seconds from the first measurement kept since the last reset (for the fit without BigInt). */
  sec: number;
  /** How far the edge may be from where it was placed (ns): SQW's stamp, or a polled read's gap and span. */
  edgeErrorNs: number;
}

/** SQW edge timestamps through a second pps-gpio instance: as good as the GPS PPS path. */
export const SQW_EDGE_ERROR_NS = 10_000;
/**
 * How far a DS3231's rate may move from the rate we measured (ppm): its compensation leaves a few
 * tenths of a ppm across the 40-70 °C of a box on a bike (datasheet ±2 ppm over 0-40 °C; real chips
 * 0.01-0.7 ppm), so 0.5 keeps the bound honest without a temperature model.
 */
export const RTC_WANDER_PPM = 0.5;
/** Without any measurement, trust the RTC's labels to this (ns): it was set by hand or at its last sync. */
export const RTC_UNCALIBRATED_ERROR_NS = 500_000_000;
/** A reference worse than this (ns) is not used to measure the RTC (it is slewing, or NMEA-only). */
export const MEASURE_MAX_BOUND_NS = 100_000;
/** Measurements kept for the rate fit: an hour of edges at 1 Hz is plenty for 0.01 ppm. */
const MAX_MEASUREMENTS = 3600;
/** Below this many measurements every one refits the RTC model; above, every REFIT_EVERY-th. */
const REFIT_ALWAYS_BELOW = 64;
const REFIT_EVERY = 16;
/**
 * What the temperature model does not know (ppm): sensor lag behind the crystal, hysteresis, aging
 * within a ride. Small against RTC_WANDER_PPM, which stands for the whole temperature effect.
 */
export const RTC_MODEL_WANDER_PPM = 0.03;
/** The model's prediction counts only with this many standard deviations. */
const MODEL_SIGMAS = 3;
/** A label read more than this after its edge may belong to the next second: not used. */
const MAX_READ_DELAY_NS = 900_000_000n;

export class RtcSource {
  private lastEdge?: { monoNs: bigint; errorNs: number };
  private labelled?: { monoNs: bigint; rtcUtcNs: bigint; errorNs: number };
  private measurements: RtcMeasurement[] = [];
  private measureOriginNs?: bigint;
  private sinceFit = 0;
  private model?: {
    refMonoNs: bigint;
    offsetNs: number;
    ratePpm: number;
    rateStdPpm: number;
    offsetStdNs: number;
    lastMonoNs: bigint;
  };
  /** The rate against temperature and time (used once it has a fit with temperature terms). */
  readonly tempModel = new RtcRateModel();

  constructor(
    private readonly sink: SampleSink,
    private readonly calibration?: RtcCalibration,
  ) {}

  /** An SQW falling edge (or a caught seconds rollover) at local monotonic monoNs. */
  addEdge(monoNs: bigint, errorNs = SQW_EDGE_ERROR_NS): void {
    this.lastEdge = { monoNs, errorNs };
  }

  /**
   * A time read (whole seconds) completed at readMonoNs; labels the latest edge. `reference` is the
   * best timescale there is when it is better than the RTC (GPS): the edge then becomes a
   * measurement of the RTC instead of a sample.
   */
  addReading(rtcUtcNs: bigint, readMonoNs: bigint, reference?: Timescale, temperatureC?: number): void {
    if (temperatureC !== undefined && Number.isFinite(temperatureC))
      this.tempModel.addTemperature(readMonoNs, temperatureC);
    const edge = this.lastEdge;
    if (!edge || readMonoNs < edge.monoNs || readMonoNs - edge.monoNs > MAX_READ_DELAY_NS) return;
    if (this.labelled?.monoNs === edge.monoNs) return; // this edge is labelled already
    this.labelled = { monoNs: edge.monoNs, rtcUtcNs, errorNs: edge.errorNs };
    if (reference && reference.source !== 'rtc' && reference.state === 'locked') {
      // Measure only against a settled reference: while it slews, it would bend the RTC's rate.
      if (reference.errorBoundAt(edge.monoNs) <= MEASURE_MAX_BOUND_NS)
        this.measure(edge.monoNs, rtcUtcNs, reference, edge.errorNs);
      return;
    }
    this.sink.addSample({
      monoNs: edge.monoNs,
      utcNs: rtcUtcNs - BigInt(Math.round(this.predictOffsetNs(edge.monoNs))),
      errorNs: this.errorAt(edge.monoNs, edge.errorNs),
      source: 'rtc',
    });
  }

  /** The RTC's measured offset and rate against the reference, once there are enough measurements. */
  get drift():
    | { offsetNs: number; offsetUncertaintyNs: number; ratePpm: number; rateStdPpm: number; measurements: number }
    | undefined {
    const m = this.model;
    return (
      m && {
        offsetNs: m.offsetNs,
        offsetUncertaintyNs: this.offsetUncertaintyNs(m.offsetStdNs),
        ratePpm: m.ratePpm,
        rateStdPpm: m.rateStdPpm,
        measurements: this.measurements.length,
      }
    );
  }

  /**
   * How far the measured offset may be from the truth (ns): the fit's own MODEL_SIGMAS, plus the
   * edges' typical bound, which no fit sees (a polled edge is placed between two reads; on a slow
   * machine, or an emulator, those reads are milliseconds apart and the offset is no better).
   */
  private offsetUncertaintyNs(offsetStdNs: number): number {
    const bounds = this.measurements.map((x) => x.edgeErrorNs).sort((a, b) => a - b);
    return MODEL_SIGMAS * offsetStdNs + (bounds[Math.floor(bounds.length / 2)] ?? 0);
  }

  /** Forget the measurements (after the RTC was set: its offset jumped). */
  resetMeasurements(): void {
    this.measurements = [];
    this.measureOriginNs = undefined;
    this.model = undefined;
    this.tempModel.clear();
  }

  private measure(monoNs: bigint, rtcUtcNs: bigint, reference: Timescale, edgeErrorNs: number): void {
    this.measureOriginNs ??= monoNs;
    const sec = Number(monoNs - this.measureOriginNs) / 1e9;
    this.measurements.push({ monoNs, offsetNs: Number(rtcUtcNs - reference.utcAt(monoNs)), sec, edgeErrorNs });
    this.tempModel.addMeasurement(monoNs, this.measurements.at(-1)!.offsetNs);
    if (this.measurements.length > MAX_MEASUREMENTS) this.measurements.shift();
    if (this.measurements.length < 4) return;
    // The fit is over up to an hour of points: once there are many, one new second moves it little,
    // so refit every REFIT_EVERY measurements (the model still counts its age from the newest).
    this.sinceFit++;
    if (this.model && this.measurements.length >= REFIT_ALWAYS_BELOW && this.sinceFit < REFIT_EVERY) {
      this.model.lastMonoNs = monoNs;
      return;
    }
    this.sinceFit = 0;
    const last = this.measurements.at(-1)!;
    const ref = last.monoNs;
    const xs = this.measurements.map((m) => m.sec - last.sec);
    const fit = fitLine(
      xs,
      this.measurements.map((m) => m.offsetNs),
    );
    this.model = {
      refMonoNs: ref,
      offsetNs: fit.a,
      ratePpm: fit.b / 1000,
      rateStdPpm: fit.bStdErr / 1000,
      // A wandering RTC (white FM: the TCXO's 64 s steps) leaves correlated residuals, and then the
      // intercept's standard error says far less than how far the line's end can be from the RTC
      // now; the residuals' own spread says it.
      offsetStdNs: Math.max(fit.aStdErr, fit.rms),
      lastMonoNs: ref,
    };
  }

  /** RTC minus UTC predicted at a local instant (ns). */
  private predictOffsetNs(monoNs: bigint): number {
    const m = this.model;
    const cal = this.calibration;
    if (!m && cal?.setAtUtcNs !== undefined && this.labelled) {
      // No reference this boot: it has drifted at its calibrated rate since it was last set.
      return cal.ratePpm * 1e-6 * Number(this.labelled.rtcUtcNs - cal.setAtUtcNs);
    }
    if (!m) return 0;
    const tm = this.temperaturePrediction(monoNs);
    if (tm) return tm.offsetNs;
    const dt = Number(monoNs - m.refMonoNs) / 1e9;
    return m.offsetNs + m.ratePpm * 1000 * dt;
  }

  /** The temperature model's prediction, when it has temperature terms (else the line is as good). */
  private temperaturePrediction(monoNs: bigint): { offsetNs: number; sigmaNs: number; sinceSec: number } | undefined {
    const f = this.tempModel.fit();
    if (!f || f.terms === 'rate') return undefined;
    return this.tempModel.predict(monoNs);
  }

  private errorAt(monoNs: bigint, edgeErrorNs: number): number {
    const m = this.model;
    const cal = this.calibration;
    if (!m && cal?.setAtUtcNs !== undefined && this.labelled) {
      const sinceSetSec = Math.abs(Number(this.labelled.rtcUtcNs - cal.setAtUtcNs)) / 1e9;
      return (
        edgeErrorNs + (cal.setErrorNs ?? 1_000_000) + (cal.rateUncertaintyPpm + RTC_WANDER_PPM) * 1000 * sinceSetSec
      );
    }
    if (!m) return RTC_UNCALIBRATED_ERROR_NS;
    const tm = this.temperaturePrediction(monoNs);
    if (tm) return edgeErrorNs + MODEL_SIGMAS * tm.sigmaNs + RTC_MODEL_WANDER_PPM * 1000 * tm.sinceSec;
    const ageSec = Math.max(0, Number(monoNs - m.lastMonoNs) / 1e9);
    // Rate uncertainty: the fit's (3σ) or an earlier calibration's, whichever is larger.
    const ratePpm = Math.max(3 * m.rateStdPpm, this.calibration?.rateUncertaintyPpm ?? 0) + RTC_WANDER_PPM;
    return edgeErrorNs + 3 * m.offsetStdNs + ratePpm * 1000 * ageSec;
  }
}
