import type { MonotonicClock } from './clock.js';
import { estimateRealtimeOffset } from './realtime.js';
import type { SampleSink, TimeSample } from './sample.js';
import { SourceStats, type FrequencyPrior } from './sourcestats.js';
import { Timescale, type SourceName } from './timescale.js';

/**
 * First version of the clock layer: one SourceStats per source, the best locked source by error
 * bound, holdover on the last estimate when it falls silent, the system clock as an always
 * unsynchronized last resort. Source switches still step (slewing between sources, NTP, the RTC as
 * source and client are the clock-layer issue's work on this seam).
 */

/** Preference among sources with similar bounds (lower wins ties). */
const SOURCE_RANK: Record<SourceName, number> = { 'gps+pps': 0, rtc: 1, gps: 2, ntp: 3, system: 4 };
/** A source silent for longer than this is in holdover: PPS comes every second, so 3 missed pulses. */
export const HOLDOVER_AFTER_SEC = 3;
/** Re-read the system clock offset this often for the fallback timescale. */
const SYSTEM_REFRESH_SEC = 10;
/**
 * Corrections are slewed at this rate: 500 ppm closes 1 ms in 2 s, and is a 0.05 % pitch change
 * to the audio following it (inaudible). chrony's default limit is far higher; audio wants gentle.
 */
export const MAX_SLEW_PPM = 500;
/** A correction larger than this is stepped (and logged): slewing it would take over 10 minutes. */
export const STEP_THRESHOLD_NS = 300_000_000;
/**
 * A source whose bound is worse than this is not a lock: an RTC of unknown history says ±0.5 s. It
 * is used, but the timescale stays "unsynchronized", so the first real lock may step. NMEA without
 * PPS (±200 ms of unknown receiver latency, plus jitter) still counts as a (poor) lock.
 */
export const LOCK_MAX_BOUND_NS = 300_000_000;

export interface ClockLayerEvents {
  /** Called when the state or source changes (lock, holdover, switch). */
  onStateChange?(ts: Timescale, previous: Timescale): void;
  /** Called when the timescale steps instead of slewing (first lock, or a correction beyond STEP_THRESHOLD_NS). */
  onStep?(stepNs: number, ts: Timescale, why: string): void;
  /** Every sample handed in (for the drift log). */
  onSample?(sample: TimeSample): void;
}

export class ClockLayer implements SampleSink {
  private readonly stats = new Map<SourceName, SourceStats>();
  /** Each source's last estimate: holdover while its window refills after a gap. */
  private readonly lastEstimate = new Map<SourceName, Timescale>();
  private current: Timescale;
  private systemAtNs = -Infinity;

  constructor(
    private readonly clock: MonotonicClock,
    private readonly events: ClockLayerEvents = {},
    /** The system clock as seen from the monotonic clock: realtime - monotonic (ns). */
    private readonly systemOffsetNs: () => bigint = () => estimateRealtimeOffset().offsetNs,
  ) {
    this.current = this.systemTimescale();
  }

  private prior?: FrequencyPrior;

  /**
   * The local oscillator's frequency as the last run left it: every source measures the same
   * oscillator, so each may lock on fewer samples with it (see SourceStats.estimateWithPrior).
   */
  setFrequencyPrior(prior: FrequencyPrior | undefined): void {
    this.prior = prior;
    for (const st of this.stats.values()) st.prior = prior;
  }

  addSample(sample: TimeSample): void {
    this.events.onSample?.(sample);
    let st = this.stats.get(sample.source);
    if (!st) {
      this.stats.set(sample.source, (st = new SourceStats(sample.source)));
      st.prior = this.prior;
    }
    st.add(sample);
    this.update();
  }

  /** Samples in each source's window (a source with samples but no estimate yet is "locking"). */
  sampleCounts(): Record<string, number> {
    return Object.fromEntries([...this.stats.values()].map((st) => [st.source, st.count]));
  }

  /** The current timescale snapshot (recomputed for holdover on every call). */
  timescale(): Timescale {
    this.update();
    return this.current;
  }

  private update(): void {
    const nowNs = this.clock.nowNs();
    let best: Timescale | undefined;
    for (const st of this.stats.values()) {
      const fresh = st.estimate();
      if (fresh) this.lastEstimate.set(st.source, fresh);
      const est = fresh ?? this.lastEstimate.get(st.source);
      if (!est) continue;
      const silent = est.ageSec(nowNs) > HOLDOVER_AFTER_SEC;
      const cand = silent ? est.with({ state: 'holdover' }) : est;
      if (!best || better(cand, best, nowNs)) best = cand;
    }
    if (best && best.state === 'locked' && !isLock(best, nowNs)) best = best.with({ state: 'unsynchronized' });
    // Running on the RTC after GPS went away is holdover, whatever the RTC's own freshness.
    if (best?.source === 'rtc' && best.state === 'locked' && this.lastEstimate.has('gps+pps')) best = best.with({ state: 'holdover' });
    const previous = this.current;
    if (best) this.current = this.continuous(previous, best, nowNs);
    else if (this.current.source !== 'system' || Number(nowNs) - this.systemAtNs > SYSTEM_REFRESH_SEC * 1e9) {
      this.current = this.systemTimescale();
    }
    if (previous.state !== this.current.state || previous.source !== this.current.source) {
      this.events.onStateChange?.(this.current, previous);
    }
  }

  /**
   * The new estimate, joined to the previous output without a step: the difference at `now` is
   * slewed out at MAX_SLEW_PPM. Only a first lock or a correction beyond STEP_THRESHOLD_NS steps.
   */
  private continuous(previous: Timescale, next: Timescale, nowNs: bigint): Timescale {
    const gapNs = Number(previous.utcAt(nowNs) - next.utcAt(nowNs));
    if (previous.state === 'unsynchronized') {
      this.events.onStep?.(gapNs, next, `first lock on ${next.source}`);
      return next;
    }
    if (Math.abs(gapNs) > STEP_THRESHOLD_NS) {
      this.events.onStep?.(gapNs, next, `correction of ${(gapNs / 1e6).toFixed(3)} ms is too large to slew`);
      return next;
    }
    return next.with({ slewNs: gapNs, slewStartMonoNs: nowNs, slewRatePpm: MAX_SLEW_PPM });
  }

  /** The system clock as a timescale: always unsynchronized, its error unknown. */
  private systemTimescale(): Timescale {
    const offsetNs = this.systemOffsetNs();
    const monoNs = this.clock.nowNs();
    this.systemAtNs = Number(monoNs);
    return new Timescale({
      refMonoNs: monoNs,
      refUtcNs: monoNs + offsetNs,
      freqPpm: 0,
      errorBoundNs: Number.POSITIVE_INFINITY,
      errorGrowthNsPerSec: 0,
      source: 'system',
      state: 'unsynchronized',
      lastSampleMonoNs: monoNs,
    });
  }
}

/** A lock worth the name: a bound worse than LOCK_MAX_BOUND_NS (an RTC of unknown history) is none. */
function isLock(t: Timescale, nowNs: bigint): boolean {
  return t.state === 'locked' && t.errorBoundAt(nowNs) <= LOCK_MAX_BOUND_NS;
}

function better(a: Timescale, b: Timescale, nowNs: bigint): boolean {
  // A "locked" RTC of unknown history (±0.5 s, possibly days off after power loss) must not beat
  // GPS holdover on a µs-grade bound: it would step the timescale to whatever the RTC says.
  const la = isLock(a, nowNs), lb = isLock(b, nowNs);
  if (la !== lb) return la;
  const ea = a.errorBoundAt(nowNs), eb = b.errorBoundAt(nowNs);
  if (ea !== eb) return ea < eb;
  return SOURCE_RANK[a.source] < SOURCE_RANK[b.source];
}
