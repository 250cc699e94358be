/**
 * Events per second over a moving window, from a cumulative counter read now and then (NMEA
 * sentences for status): "since the last call" swings with how often it is asked (three quick
 * `status` calls gave 2.0, 0.0 and 2.6/s); a window of the last N seconds does not.
 */

/** 10 s holds 10-50 NMEA sentences: enough to read a rate, short enough to see a receiver stop. */
export const RATE_WINDOW_SEC = 10;

export class CounterRate {
  private readings: Array<{ atNs: bigint; count: number }> = [];

  constructor(private readonly windowSec = RATE_WINDOW_SEC) {}

  /**
   * Records the counter's value at `nowNs` (monotonic) and returns its rate over the last window:
   * from the newest reading at least a window old (or the oldest there is). Undefined until two
   * readings are apart. A counter that went down (a new driver) starts over.
   */
  update(nowNs: bigint, count: number): number | undefined {
    const last = this.readings.at(-1);
    if (last && (count < last.count || nowNs < last.atNs)) this.readings = [];
    this.readings.push({ atNs: nowNs, count });
    const windowNs = BigInt(Math.round(this.windowSec * 1e9));
    // Keep one reading at or beyond the window's start as the base; drop the older ones.
    while (this.readings.length > 2 && nowNs - this.readings[1]!.atNs >= windowNs) this.readings.shift();
    const base = this.readings[0]!;
    const dtSec = Number(nowNs - base.atNs) / 1e9;
    return dtSec > 0 ? (count - base.count) / dtSec : undefined;
  }
}
