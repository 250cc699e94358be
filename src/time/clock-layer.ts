import type { MonotonicClock } from './clock.js';
import { estimateRealtimeOffset, type RealtimeReaders, processReaders } from './realtime.js';
import type { SampleSink, TimeSample } from './sample.js';
import { SourceStats } from './sourcestats.js';
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

export interface ClockLayerEvents {
  /** Called when the state or source changes (lock, holdover, switch). */
  onStateChange?(ts: Timescale, previous: Timescale): void;
}

export class ClockLayer implements SampleSink {
  private readonly stats = new Map<SourceName, SourceStats>();
  private current: Timescale;
  private systemAtNs = -Infinity;

  constructor(
    private readonly clock: MonotonicClock,
    private readonly events: ClockLayerEvents = {},
    private readonly realtime: RealtimeReaders = processReaders,
  ) {
    this.current = this.systemTimescale();
  }

  addSample(sample: TimeSample): void {
    let st = this.stats.get(sample.source);
    if (!st) this.stats.set(sample.source, (st = new SourceStats(sample.source)));
    st.add(sample);
    this.update();
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
      const est = st.estimate();
      if (!est) continue;
      const silent = est.ageSec(nowNs) > HOLDOVER_AFTER_SEC;
      const cand = silent ? est.with({ state: 'holdover' }) : est;
      if (!best || better(cand, best, nowNs)) best = cand;
    }
    const previous = this.current;
    if (best) this.current = best;
    else if (this.current.source !== 'system' || Number(nowNs) - this.systemAtNs > SYSTEM_REFRESH_SEC * 1e9) {
      this.current = this.systemTimescale();
    }
    if (previous.state !== this.current.state || previous.source !== this.current.source) {
      this.events.onStateChange?.(this.current, previous);
    }
  }

  /** The system clock as a timescale: always unsynchronized, its error unknown. */
  private systemTimescale(): Timescale {
    const est = estimateRealtimeOffset(this.realtime);
    const monoNs = this.clock.nowNs();
    this.systemAtNs = Number(monoNs);
    return new Timescale({
      refMonoNs: monoNs,
      refUtcNs: monoNs + est.offsetNs,
      freqPpm: 0,
      errorBoundNs: Number.POSITIVE_INFINITY,
      errorGrowthNsPerSec: 0,
      source: 'system',
      state: 'unsynchronized',
      lastSampleMonoNs: monoNs,
    });
  }
}

function better(a: Timescale, b: Timescale, nowNs: bigint): boolean {
  if ((a.state === 'locked') !== (b.state === 'locked')) return a.state === 'locked';
  const ea = a.errorBoundAt(nowNs), eb = b.errorBoundAt(nowNs);
  if (ea !== eb) return ea < eb;
  return SOURCE_RANK[a.source] < SOURCE_RANK[b.source];
}
