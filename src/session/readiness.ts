import type { Timescale } from '../time/timescale.js';

/**
 * When the clock is good enough to place the start, and what to say at the start instant. Pure: the
 * timescale and "now" are arguments.
 */

/**
 * "Ready" needs the best source there is, settled: with GPS+PPS a bound under 100 µs, which also
 * means any slew from an earlier source (the RTC) has finished; otherwise playback would start while
 * the timescale still moves and the aligner would have to resample from the first second.
 */
export const READY_BOUND_NS = 100_000;

export interface ReadinessPolicy {
  /** How long to wait for the best source before carrying on with the clock there is (s). */
  lockTimeoutSec: number;
  /** The start is placed only while the clock's error bound is under this (ns). */
  maxErrorNs: number;
  /**
   * At the start with a bound over maxErrorNs: "wait" (silence, then join late on the exact sample) or "start" anyway.
   */
  whenUnsure: 'wait' | 'start';
  /** A GPS is configured: an RTC lock is a stopgap until GPS locks (or the lock timeout). */
  gpsConfigured: boolean;
  /** Any time source configured at all (GPS, RTC, NTP). */
  hasSources: boolean;
}

/** The clock has locked on the best source it will get, and settled there. */
export function clockSettled(ts: Timescale, nowNs: bigint, gpsConfigured: boolean): boolean {
  if (ts.state !== 'locked') return false;
  if (ts.source === 'gps+pps') return ts.errorBoundAt(nowNs) < READY_BOUND_NS;
  return ts.source === 'gps' || !gpsConfigured;
}

/** The most the engine accepts when it places the first frame (ns). */
export function placementLimitNs(p: ReadinessPolicy): number {
  return p.whenUnsure === 'wait' ? p.maxErrorNs : Number.POSITIVE_INFINITY;
}

export function formatBound(ns: number): string {
  if (!Number.isFinite(ns)) return 'unknown';
  if (ns < 1_000) return `±${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `±${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `±${(ns / 1e6).toFixed(1)} ms`;
  return `±${(ns / 1e9).toFixed(1)} s`;
}

/** What happens at the start instant, and the sentence that says so (log and status). */
export function startDecision(ts: Timescale, nowNs: bigint, p: ReadinessPolicy): { onTime: boolean; text: string } {
  const boundNs = ts.errorBoundAt(nowNs);
  if (boundNs <= p.maxErrorNs)
    return { onTime: true, text: `started on time (clock ${ts.source}, ${formatBound(boundNs)})` };
  const limit = `clock.max_error_ms = ${p.maxErrorNs / 1e6}`;
  const why = !p.hasSources
    ? 'no time source configured (gps, rtc and ntp are all off)'
    : ts.state === 'unsynchronized'
      ? `the clock has no lock yet (${ts.source})`
      : `the clock's bound ${formatBound(boundNs)} (${ts.source}, ${ts.state}) exceeds ${limit}`;
  if (p.whenUnsure === 'start')
    return { onTime: false, text: `started anyway: ${why} (clock.when_unsure = "start"): other devices may not agree` };
  return {
    onTime: false,
    text: `waiting: ${why}; silent until the clock is good, then joining late on the exact sample (clock.when_unsure = "start" plays anyway)`,
  };
}
