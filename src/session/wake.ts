import type { MonotonicClock, TimerHandle } from '../time/clock.js';
import type { Timescale } from '../time/timescale.js';

/**
 * Sleeping until a UTC instant of the disciplined clock, on the monotonic clock's timers: nothing of
 * the system clock (timesyncd, `date -s`, fake-hwclock stepping it by hours) can move a wake-up.
 * The target is re-read through the timescale at every step, so a clock that locks or slews during
 * a long wait still wakes on time.
 */

/** Longest single timer: the timescale may change (lock, slew) while we sleep; re-aim this often. */
export const WAKE_STEP_MAX_NS = 10_000_000_000;

/** Resolves when the timescale says `targetUtcNs` has come, or when `abort` fires (whichever first). */
export function sleepUntilUtc(clock: MonotonicClock, timescale: () => Timescale, targetUtcNs: bigint, abort?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    let timer: TimerHandle | undefined;
    const done = () => { timer?.cancel(); abort?.removeEventListener('abort', done); resolve(); };
    if (abort?.aborted) return done();
    abort?.addEventListener('abort', done);
    const step = () => {
      const leftNs = Number(targetUtcNs - timescale().utcAt(clock.nowNs()));
      if (leftNs <= 0) return done();
      timer = clock.setTimer(Math.min(leftNs, WAKE_STEP_MAX_NS), step);
    };
    step();
  });
}

/** Resolves after delayNs on the monotonic clock, or at once when `abort` fires. */
export function sleepMono(clock: MonotonicClock, delayNs: number, abort?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (abort?.aborted) return resolve();
    const onAbort = () => { timer.cancel(); resolve(); };
    const timer = clock.setTimer(delayNs, () => { abort?.removeEventListener('abort', onAbort); resolve(); });
    abort?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves when `abort` fires (an idle service waiting for a reload or SIGTERM). */
export function untilAborted(abort: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (abort.aborted) return resolve();
    abort.addEventListener('abort', () => resolve(), { once: true });
  });
}
