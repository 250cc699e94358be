import type { MonotonicClock, TimerHandle } from '../time/clock.js';

/**
 * A part that is missing or failing (a GPS not plugged in yet, a PPS overlay not loaded, an RTC not
 * answering) is tried again in the background with backoff, and said once: the first failure is a
 * warning naming it and what to do, repeats of the same failure are silent, and success after a
 * failure is said. The service meanwhile runs on what exists.
 */

/** First retry after this; doubled each time up to RETRY_MAX_MS (a plugged-in GPS is found within seconds). */
export const RETRY_FIRST_MS = 1_000;
/** Cap: a missing part costs one attempt per 30 s (an open() and a stat: nothing on a Pi). */
export const RETRY_MAX_MS = 30_000;

export interface Retrier {
  /** Stops retrying; resolves once an attempt in flight has settled. */
  stop(): Promise<void>;
}

export interface RetryOptions {
  clock: MonotonicClock;
  warn(message: string): void;
  info(message: string): void;
  /** The part's state changed: waiting (failed, retrying) or up. */
  onState?(state: 'waiting' | 'up'): void;
}

/**
 * Runs `attempt` until it succeeds. The first attempt is awaited (so a part that is there is up when
 * this resolves); later ones run on the clock's timers.
 */
export async function keepTrying(name: string, attempt: () => Promise<void>, o: RetryOptions): Promise<Retrier> {
  let stopped = false;
  let timer: TimerHandle | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let lastError: string | undefined;
  let delayMs = RETRY_FIRST_MS;
  const once = async (): Promise<void> => {
    try {
      await attempt();
      if (lastError !== undefined) o.info(`${name}: found, in use now`);
      o.onState?.('up');
      return;
    } catch (e) {
      const message = (e as Error).message;
      if (message !== lastError)
        o.warn(`${name}: ${message}; trying again in the background (every ${RETRY_MAX_MS / 1000} s at most)`);
      if (lastError === undefined) o.onState?.('waiting');
      lastError = message;
    }
    if (stopped) return;
    timer = o.clock.setTimer(delayMs * 1e6, () => {
      if (!stopped) inFlight = once();
    });
    delayMs = Math.min(RETRY_MAX_MS, delayMs * 2);
  };
  inFlight = once();
  await inFlight;
  return {
    stop: async () => {
      stopped = true;
      timer?.cancel();
      await inFlight;
    },
  };
}
