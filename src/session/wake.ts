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
/** Due by an unsynchronized clock only: look again this often for a lock. */
const UNTRUSTED_POLL_NS = 250_000_000;

/**
 * Resolves when the timescale says `targetUtcNs` has come, or when `abort` fires (whichever first).
 * With `trustAfterNs`, an unsynchronized timescale (the bare system clock: fake-hwclock may have set
 * it hours off) is not believed until that long has passed: until then the wake waits for a lock.
 */
export function sleepUntilUtc(
  clock: MonotonicClock,
  timescale: () => Timescale,
  targetUtcNs: bigint,
  abort?: AbortSignal,
  trustAfterNs?: number,
): Promise<void> {
  const trustFromNs = trustAfterNs === undefined ? undefined : clock.nowNs() + BigInt(Math.round(trustAfterNs));
  return new Promise<void>((resolve) => {
    let timer: TimerHandle | undefined;
    const done = () => {
      timer?.cancel();
      abort?.removeEventListener('abort', done);
      resolve();
    };
    if (abort?.aborted) return done();
    abort?.addEventListener('abort', done);
    const step = () => {
      const now = clock.nowNs();
      const ts = timescale();
      const leftNs = Number(targetUtcNs - ts.utcAt(now));
      const believed = ts.state !== 'unsynchronized' || trustFromNs === undefined || now >= trustFromNs;
      if (leftNs <= 0 && believed) return done();
      timer = clock.setTimer(leftNs <= 0 ? UNTRUSTED_POLL_NS : Math.min(leftNs, WAKE_STEP_MAX_NS), step);
    };
    step();
  });
}

/** Resolves after delayNs on the monotonic clock, or at once when `abort` fires. */
export function sleepMono(clock: MonotonicClock, delayNs: number, abort?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (abort?.aborted) return resolve();
    const onAbort = () => {
      timer.cancel();
      resolve();
    };
    const timer = clock.setTimer(delayNs, () => {
      abort?.removeEventListener('abort', onAbort);
      resolve();
    });
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
