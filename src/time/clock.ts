/**
 * The one local clock. Everything asks an injected MonotonicClock for "now" and for timers:
 * production wires process.hrtime.bigint(), tests wire a VirtualClock. Nothing downstream reads
 * Date.now() for timing, so a stepped system clock cannot disturb playback.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface MonotonicClock {
  /** Local monotonic time in ns (raw, undisciplined). */
  nowNs(): bigint;
  /** Calls fn once, no earlier than delayNs from now. */
  setTimer(delayNs: number, fn: () => void): TimerHandle;
}

/** The process's monotonic clock (CLOCK_MONOTONIC via process.hrtime). */
export const hrtimeClock: MonotonicClock = {
  nowNs: () => process.hrtime.bigint(),
  setTimer(delayNs, fn) {
    const t = setTimeout(fn, Math.max(0, delayNs / 1e6));
    return { cancel: () => clearTimeout(t) };
  },
};

/** Resolves after delayNs on the given clock. */
export function sleepNs(clock: MonotonicClock, delayNs: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(delayNs, resolve));
}

interface VirtualTimer {
  dueNs: bigint;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Discrete-event clock for simulation: time moves only when advanced, and timers fire in due
 * order (ties in creation order), so hours of a ride run in seconds and runs are reproducible.
 */
export class VirtualClock implements MonotonicClock {
  private now: bigint;
  private order = 0;
  private timers: VirtualTimer[] = [];

  constructor(startNs: bigint = 0n) {
    this.now = startNs;
  }

  nowNs(): bigint {
    return this.now;
  }

  setTimer(delayNs: number, fn: () => void): TimerHandle {
    const timer: VirtualTimer = {
      dueNs: this.now + BigInt(Math.max(0, Math.round(delayNs))),
      order: this.order++,
      fn,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Runs every timer due up to now + deltaNs, in order, then sets now to that instant. */
  advance(deltaNs: number | bigint): void {
    const endNs = this.now + BigInt(deltaNs);
    for (;;) {
      const next = this.nextDue(endNs);
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.now = next.dueNs;
      next.fn();
    }
    this.now = endNs;
  }

  private nextDue(endNs: bigint): VirtualTimer | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled);
    let best: VirtualTimer | undefined;
    for (const t of this.timers) {
      if (t.dueNs > endNs) continue;
      if (!best || t.dueNs < best.dueNs || (t.dueNs === best.dueNs && t.order < best.order)) best = t;
    }
    return best;
  }
}
