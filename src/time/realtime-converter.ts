import type { RealtimeToMono } from '../../drivers/pps/sysfs.js';
import { estimateRealtimeOffset, processReaders, type RealtimeReaders } from './realtime.js';

/**
 * Keeps a fresh realtime -> monotonic offset for converting kernel CLOCK_REALTIME stamps. Refreshed
 * on a timer; a jump between refreshes means the system clock was stepped (NTP, a user, chrony),
 * which is logged once per step.
 */

/** Re-measure this often: a slewing system clock moves the offset by up to 500 µs/s (adjtime max). */
export const REFRESH_MS = 2_000;
/** A change beyond this between refreshes is a step, not a slew. */
export const STEP_THRESHOLD_NS = 1_000_000;
/** A refresh bracketed worse than this (ns) is not used (the offset in use is better; see refresh). */
export const REFRESH_MAX_UNCERTAINTY_NS = 5_000;
/** Attempts per periodic refresh: each spins up to 1 ms, so keep the event loop free. */
const REFRESH_ATTEMPTS = 4;

export class RealtimeConverter implements RealtimeToMono {
  private offsetNs: bigint;
  private uncertaintyNs: number;
  private timer?: NodeJS.Timeout;
  private readonly stepListeners: Array<(jumpNs: number) => void> = [];

  constructor(
    private readonly readers: RealtimeReaders = processReaders,
    private readonly log: (m: string) => void = () => {},
  ) {
    const e = estimateRealtimeOffset(readers);
    this.offsetNs = e.offsetNs;
    this.uncertaintyNs = e.uncertaintyNs;
  }

  start(): void {
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  refresh(): void {
    const e = estimateRealtimeOffset(this.readers, REFRESH_ATTEMPTS);
    // Every attempt preempted (a busy CPU): the estimate is worse than the one in use by more than
    // a slew can have moved it in one refresh; keep the old one, the next refresh measures again.
    if (e.uncertaintyNs > Math.max(4 * this.uncertaintyNs, REFRESH_MAX_UNCERTAINTY_NS)) return;
    const jump = Number(e.offsetNs - this.offsetNs);
    this.offsetNs = e.offsetNs;
    this.uncertaintyNs = e.uncertaintyNs;
    if (Math.abs(jump) <= STEP_THRESHOLD_NS) return;
    this.log(`system clock stepped by ${(jump / 1e6).toFixed(3)} ms`);
    for (const f of this.stepListeners) {
      try {
        f(jump);
      } catch (e) {
        this.log(`after the system clock step: ${(e as Error).message}`); // a timer must not throw
      }
    }
  }

  /**
   * Called after a step is seen, with the new offset in use: kernel stamps converted before it (up to
   * a refresh old) carry the step.
   */
  onStep(f: (jumpNs: number) => void): void {
    this.stepListeners.push(f);
  }

  toMono(realtimeNs: bigint): { monoNs: bigint; errorNs: number } {
    return { monoNs: realtimeNs - this.offsetNs, errorNs: this.uncertaintyNs };
  }

  /** How far the current offset may be off (ns): the estimator's own bound (a busy CPU widens it). */
  get errorNs(): number {
    return this.uncertaintyNs;
  }

  toRealtime(monoNs: bigint): bigint {
    return monoNs + this.offsetNs;
  }
}
