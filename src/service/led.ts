import type { LedOutput } from '../../drivers/led/led.js';

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
    case 'unsynchronized': return t % 250 < 125; // 4 Hz
    case 'locked': return t < 1000; // 0.5 Hz
    case 'holdover': return t < 150 || (t >= 300 && t < 450); // two flashes every 2 s
    case 'playing': return true;
    case 'off': return false;
  }
}

/** Samples the pattern every LED_TICK_MS onto the output. */
export const LED_TICK_MS = 50;

export function driveLed(out: LedOutput, pattern: () => LedPattern, nowMs: () => number): () => void {
  const timer = setInterval(() => out.set(ledLit(pattern(), nowMs())), LED_TICK_MS);
  return () => { clearInterval(timer); out.set(false); out.close(); };
}
