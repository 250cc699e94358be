import type { MonotonicClock, TimerHandle } from '../time/clock.js';

/** The DS3231 converts its temperature every 64 s: reading it more often tells nothing new. */
export const RTC_TEMP_EVERY_MS = 64_000;
/**
 * A temperature older than this (ns) is not used: three reads missed in a row (an I2C fault) mean
 * the chip's temperature now is not known. Kept on, a stale value would label the RTC's temperature
 * model in holdover and weigh the audio device's saved rate with a temperature the box has left.
 */
export const RTC_TEMP_MAX_AGE_NS = 3n * BigInt(RTC_TEMP_EVERY_MS) * 1_000_000n + 5_000_000_000n;

export interface RtcTemperatureOptions {
  /** One read of the chip's temperature (°C); rejects on a bus error. */
  read: () => Promise<number>;
  timers: MonotonicClock;
  log: (level: 'info' | 'warn', message: string) => void;
}

/** Reads the DS3231's temperature every RTC_TEMP_EVERY_MS; a read that fails is said once per outage. */
export class RtcTemperature {
  private last?: { c: number; monoNs: bigint };
  private failing = false;
  private timer?: TimerHandle;
  private stopped = false;

  constructor(private readonly o: RtcTemperatureOptions) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      void this.readOnce();
      this.timer = this.o.timers.setTimer(RTC_TEMP_EVERY_MS * 1e6, tick);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** The chip's temperature (°C) when read within RTC_TEMP_MAX_AGE_NS, else undefined. */
  get c(): number | undefined {
    const last = this.last;
    return last && this.o.timers.nowNs() - last.monoNs <= RTC_TEMP_MAX_AGE_NS ? last.c : undefined;
  }

  private async readOnce(): Promise<void> {
    try {
      const c = await this.o.read();
      if (this.stopped) return;
      this.last = { c, monoNs: this.o.timers.nowNs() };
      if (this.failing) this.o.log('info', `DS3231 temperature read again: ${c.toFixed(2)} °C`);
      this.failing = false;
    } catch (e) {
      if (this.stopped || this.failing) return;
      this.failing = true;
      this.o.log(
        'warn',
        `${(e as Error).message.trimEnd()} It is tried again every ${RTC_TEMP_EVERY_MS / 1000} s; once the last temperature read is ${Number(RTC_TEMP_MAX_AGE_NS / 1_000_000_000n)} s old, the RTC's temperature model and the audio device's saved rate go without one.`,
      );
    }
  }
}
