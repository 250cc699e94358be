import type { LedOutput } from '../../drivers/led/led.js';
import type { MonotonicClock } from '../time/clock.js';

/**
 * What the status LED says, readable on a bike at a glance: fast blink = no synchronized clock,
 * slow blink = locked and waiting, double flash = holdover (running on the RTC or the last
 * estimate), steady = playing.
 */

export type LedPattern = 'unsynchronized' | 'locked' | 'holdover' | 'playing' | 'off';

/** Whether the LED is lit `tMs` into a pattern. Pure: the service samples it on a timer. */
export function ledLit(pattern: LedPattern, tMs: number): boolean {
  const t = ((tMs % 2000) + 2000) % 2000;
  switch (pattern) {
    case 'unsynchronized':
      return t % 250 < 125; // 4 Hz
    case 'locked':
      return t < 1000; // 0.5 Hz
    case 'holdover':
      return t < 150 || (t >= 300 && t < 450); // two flashes every 2 s
    case 'playing':
      return true;
    case 'off':
      return false;
  }
}

/** Samples the pattern every LED_TICK_MS onto the output. */
export const LED_TICK_MS = 50;

export function driveLed(out: LedOutput, pattern: () => LedPattern, clock: MonotonicClock): () => void {
  const t0 = clock.nowNs();
  let timer = clock.setTimer(LED_TICK_MS * 1e6, function tick() {
    out.set(ledLit(pattern(), Number(clock.nowNs() - t0) / 1e6));
    timer = clock.setTimer(LED_TICK_MS * 1e6, tick);
  });
  return () => {
    timer.cancel();
    out.set(false);
    out.close();
  };
}

/**
 * The pattern for the service's state. Twins the config did not ask for (auto on a bare machine)
 * never show "locked": a rider glancing at the LED must not believe a simulated lock.
 */
export function ledPatternFor(o: {
  clockState: string;
  playing: boolean;
  simulated: boolean;
  simulationAsked: boolean;
}): LedPattern {
  if (o.simulated && !o.simulationAsked) return 'unsynchronized';
  if (o.playing) return 'playing';
  return o.clockState === 'locked' ? 'locked' : o.clockState === 'holdover' ? 'holdover' : 'unsynchronized';
}
