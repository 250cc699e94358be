import type { MonotonicClock } from './clock.js';
import { estimateRealtimeOffset } from './realtime.js';
import type { SampleSink, TimeSample } from './sample.js';
import { SourceStats, type FrequencyPrior, type SourceStatsReport } from './sourcestats.js';
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

/** Arrivals remembered per source for the reach register: 8 polls and the spacing between them. */
const ARRIVALS_KEPT = 16;

export class ClockLayer implements SampleSink {
  private readonly stats = new Map<SourceName, SourceStats>();
  /** Per source, for the report only: recent sample instants and the last sample's offset when it came. */
  private readonly seen = new Map<SourceName, { monoNs: bigint[]; measuredOffsetNs: number }>();
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
    this.version++;
  }

  addSample(sample: TimeSample): void {
    this.events.onSample?.(sample);
    this.remember(sample);
    let st = this.stats.get(sample.source);
    if (!st) {
      this.stats.set(sample.source, (st = new SourceStats(sample.source)));
      st.prior = this.prior;
    }
    st.add(sample);
    this.version++;
    this.update();
  }

  /** Samples in each source's window (a source with samples but no estimate yet is "locking"). */
  sampleCounts(): Record<string, number> {
    return Object.fromEntries([...this.stats.values()].map((st) => [st.source, st.count]));
  }

  /** Notes a sample for the report: when it came, and how far the output clock was from it then. */
  private remember(sample: TimeSample): void {
    let r = this.seen.get(sample.source);
    if (!r) this.seen.set(sample.source, (r = { monoNs: [], measuredOffsetNs: 0 }));
    r.monoNs.push(sample.monoNs);
    if (r.monoNs.length > ARRIVALS_KEPT) r.monoNs.shift();
    r.measuredOffsetNs = Number(this.current.utcAt(sample.monoNs) - sample.utcNs);
  }

  /**
   * Every source as `chronyc sources` and `sourcestats` show them, JSON-safe for the status socket.
   * `expected` lists sources configured but silent so far (shown with reach 0). Changes nothing
   * but what timescale() would (it brings the selection up to date).
   */
  sourcesReport(expected: readonly SourceName[] = []): SourceReport[] {
    const current = this.timescale();
    const nowNs = this.clock.nowNs();
    const names = [...new Set([...this.stats.keys(), ...expected])].sort((a, b) => SOURCE_RANK[a] - SOURCE_RANK[b]);
    return names.map((name) =>
      sourceRow(name, this.stats.get(name)?.report(), this.lastEstimate.get(name), this.seen.get(name), current, nowNs),
    );
  }

  /** The current timescale snapshot (recomputed for holdover on every call). */
  timescale(): Timescale {
    this.update();
    return this.current;
  }

  /** The instant and inputs the current timescale was selected for: asked again at both, it stands. */
  private updatedAt?: { nowNs: bigint; version: number };
  /** Counts what changes the selection besides time: samples and the frequency prior. */
  private version = 0;
  /** The estimate the output was last joined to (see continuous). */
  private joined?: Timescale;
  /** Each estimate in another state, made once: the selection asks for them again and again. */
  private restated = new WeakMap<Timescale, Map<Timescale['state'], Timescale>>();

  private withState(t: Timescale, state: Timescale['state']): Timescale {
    let m = this.restated.get(t);
    if (!m) this.restated.set(t, (m = new Map()));
    let r = m.get(state);
    if (!r) m.set(state, (r = t.with({ state })));
    return r;
  }

  private update(): void {
    const nowNs = this.clock.nowNs();
    // Many readers ask at one instant (each period of a simulation, status, the aligner): same answer.
    if (this.updatedAt?.nowNs === nowNs && this.updatedAt.version === this.version) return;
    this.updatedAt = { nowNs, version: this.version };
    let best: Timescale | undefined;
    for (const st of this.stats.values()) {
      const fresh = st.estimate();
      if (fresh) this.lastEstimate.set(st.source, fresh);
      const est = fresh ?? this.lastEstimate.get(st.source);
      if (!est) continue;
      const silent = est.ageSec(nowNs) > HOLDOVER_AFTER_SEC;
      const cand = silent ? this.withState(est, 'holdover') : est;
      if (!best || better(cand, best, nowNs)) best = cand;
    }
    if (best && best.state === 'locked' && !isLock(best, nowNs)) best = this.withState(best, 'unsynchronized');
    // Running on the RTC after GPS went away is holdover, whatever the RTC's own freshness.
    if (best?.source === 'rtc' && best.state === 'locked' && this.lastEstimate.has('gps+pps'))
      best = this.withState(best, 'holdover');
    const previous = this.current;
    // The same estimate as last time: the output already slews onto it (re-joining it now would
    // give the same line), so it stands.
    if (best && best === this.joined) return;
    this.joined = best;
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
  const la = isLock(a, nowNs),
    lb = isLock(b, nowNs);
  if (la !== lb) return la;
  const ea = a.errorBoundAt(nowNs),
    eb = b.errorBoundAt(nowNs);
  if (ea !== eb) return ea < eb;
  return SOURCE_RANK[a.source] < SOURCE_RANK[b.source];
}

/** One row of `jaudiosync clock sources` (numbers in ns, s and ppm; null where there is none). */
export interface SourceReport {
  name: SourceName;
  /** chrony's mode column: '#' a local reference clock (GPS, PPS, RTC), '^' a server (NTP). */
  mode: '#' | '^';
  /** chrony's state column: '*' in use, '-' usable (standing by), '?' locking or silent, '~' too poor to be a lock. */
  stateChar: '*' | '-' | '?' | '~';
  state: 'in use' | 'holdover' | 'standby' | 'locking' | 'silent' | 'too poor' | 'no samples';
  selected: boolean;
  /** The last 8 polls or pulses, newest in bit 0 (shown in octal as chrony does: 377 = all 8). */
  reach: number;
  /** Typical spacing of its samples (s): 1 for PPS, the poll interval for NTP. */
  pollSec: number | null;
  samples: number;
  used: number | null;
  spanSec: number;
  lastSampleAgeSec: number | null;
  /** Our output clock minus the source at its last sample, now (ns; positive = our clock ahead of it, as chrony). */
  offsetNs: number | null;
  /** The same when the sample came in, before later corrections (chrony's bracketed figure). */
  measuredOffsetNs: number | null;
  /** That sample's own error bound (ns). */
  sampleErrorNs: number | null;
  /** The local clock's frequency against this source (ppm, positive = local fast) and its 1σ. */
  freqPpm: number | null;
  freqSigmaPpm: number | null;
  /** Residual RMS of its fit (ns): its jitter as we see it. */
  stdDevNs: number | null;
  /** Its own estimate's error bound now (ns). */
  boundNs: number | null;
  fromPrior: boolean;
}

function sourceRow(
  name: SourceName,
  r: SourceStatsReport | undefined,
  lastEst: Timescale | undefined,
  seen: { monoNs: bigint[]; measuredOffsetNs: number } | undefined,
  current: Timescale,
  nowNs: bigint,
): SourceReport {
  const est = r?.estimate ?? lastEst;
  const selected = current.source === name && name !== 'system';
  const last = r?.lastSample;
  const pollNs = seen ? typicalSpacingNs(seen.monoNs) : undefined;
  let stateChar: SourceReport['stateChar'], state: SourceReport['state'];
  if (!est) [stateChar, state] = r?.samples ? ['?', 'locking'] : ['?', 'no samples'];
  else if (est.ageSec(nowNs) > HOLDOVER_AFTER_SEC) [stateChar, state] = selected ? ['*', 'holdover'] : ['?', 'silent'];
  else if (!isLock(est, nowNs)) [stateChar, state] = selected ? ['*', 'too poor'] : ['~', 'too poor'];
  else [stateChar, state] = selected ? ['*', 'in use'] : ['-', 'standby'];
  const fin = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);
  return {
    name,
    mode: name === 'ntp' ? '^' : '#',
    stateChar,
    state,
    selected,
    reach: seen && pollNs !== undefined ? reachRegister(seen.monoNs, nowNs, pollNs) : seen?.monoNs.length ? 1 : 0,
    pollSec: pollNs !== undefined ? pollNs / 1e9 : null,
    samples: r?.samples ?? 0,
    used: r?.used ?? null,
    spanSec: r?.spanSec ?? 0,
    lastSampleAgeSec: last ? Number(nowNs - last.monoNs) / 1e9 : null,
    offsetNs: last ? Number(current.utcAt(last.monoNs) - last.utcNs) : null,
    measuredOffsetNs: last && seen ? seen.measuredOffsetNs : null,
    sampleErrorNs: last ? last.errorNs : null,
    freqPpm: fin(est?.freqPpm),
    freqSigmaPpm: fin(r?.freqSigmaPpm),
    stdDevNs: fin(r?.stdDevNs),
    boundNs: est ? fin(est.errorBoundAt(nowNs)) : null,
    fromPrior: r?.fromPrior ?? false,
  };
}

/** The median spacing of sample instants (ns), or undefined with fewer than two. */
export function typicalSpacingNs(monoNs: readonly bigint[]): number | undefined {
  const sorted = [...monoNs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const gaps = sorted
    .slice(1)
    .map((m, i) => Number(m - sorted[i]!))
    .filter((g) => g > 0)
    .sort((a, b) => a - b);
  return gaps.length ? gaps[Math.floor(gaps.length / 2)] : undefined;
}

/**
 * chrony's reach register from sample instants: bit k set when a sample came within half a poll
 * of the k-th expected poll before the newest, shifted by the polls missed since (a poll counts as
 * missed half a poll after it was due). Bit 0 is the latest poll; 0o377 = the last 8 all arrived.
 */
export function reachRegister(monoNs: readonly bigint[], nowNs: bigint, pollNs: number): number {
  if (!monoNs.length || !(pollNs > 0)) return 0;
  const newest = monoNs.reduce((a, b) => (b > a ? b : a));
  const missed = Math.max(0, Math.floor(Number(nowNs - newest) / pollNs - 0.5));
  let reach = 0;
  for (let k = 0; k + missed < 8; k++) {
    if (monoNs.some((m) => Math.abs(Number(m - newest) + k * pollNs) <= pollNs / 2)) reach |= 1 << (k + missed);
  }
  return reach;
}
