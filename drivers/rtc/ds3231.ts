import { I2cError, type I2cBus } from './i2c.js';
import {
  AGING_PPM_PER_LSB,
  CONTROL,
  decodeAging,
  decodeTemperature,
  decodeTime,
  encodeAging,
  encodeTime,
  fromBcd,
  REG,
  STATUS,
  dateTimeFromUtcSec,
  utcSecFromDateTime,
} from './registers.js';

/**
 * DS3231 driver over an I2C bus (real i2c-bus, or the emulator). Reads take one burst so the
 * registers are coherent; I2C errors are retried with backoff and then reported with the bus, the
 * address and what to check; nothing here throws anything but Ds3231Error.
 */

export interface Ds3231Options {
  busNumber: number;
  address?: number;
  /** Local monotonic clock (ns). */
  nowNs: () => bigint;
  /** Attempts per operation, and the first backoff (doubles each retry). */
  attempts?: number;
  backoffMs?: number;
  /** Bus time from the start of a write to the seconds byte being acknowledged (ns): 3 bytes at 100 kHz. */
  secondsWriteLeadNs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Resolves at a local monotonic instant; default: a timer, then a spin for the last few ms. */
  waitUntilNs?: (monoNs: bigint) => Promise<void>;
}

export class Ds3231Error extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'Ds3231Error';
  }
}

export interface RtcReading {
  /** The RTC's time (whole seconds, UTC ns). */
  utcNs: bigint;
  /** Local monotonic ns just after the burst read completed. */
  monoNs: bigint;
  /** False when OSF is set: the oscillator stopped (power lost), the time means nothing. */
  trustworthy: boolean;
  reason?: string;
}

export interface RtcInfo {
  reading: RtcReading;
  temperatureC: number;
  agingLsb: number;
  agingPpm: number;
  sqw1Hz: boolean;
  batteryBackedSqw: boolean;
  out32kHz: boolean;
  busy: boolean;
}

const NS = 1_000_000_000n;
/** A forced conversion takes ≤ 200 ms; we poll BSY/CONV for twice that before calling it stuck. */
const CONVERSION_TIMEOUT_MS = 400;
const CONVERSION_POLL_MS = 20;
/**
 * Sleep until this close to an aligned write, then spin: timers are ms-grade and run late on a
 * busy event loop (seen: 3 ms of margin was not enough), the write must not be.
 */
const SPIN_NS = 20_000_000n;

export class Ds3231 {
  readonly address: number;
  i2cErrors = 0;

  constructor(
    private readonly bus: I2cBus,
    private readonly opts: Ds3231Options,
  ) {
    this.address = opts.address ?? 0x68;
  }

  private get sleep(): (ms: number) => Promise<void> {
    return this.opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  }

  private get where(): string {
    return `DS3231 at 0x${this.address.toString(16)} on I2C bus ${this.opts.busNumber}`;
  }

  /** Runs one bus operation with retries; the final error explains what to check. */
  private async io<T>(what: string, op: () => Promise<T>): Promise<T> {
    const attempts = this.opts.attempts ?? 4;
    const sleep = this.sleep;
    let delay = this.opts.backoffMs ?? 5;
    for (let i = 1; ; i++) {
      try {
        return await op();
      } catch (e) {
        this.i2cErrors++;
        const code = (e as I2cError).code ?? 'EIO';
        if (i >= attempts || code === 'ENOENT' || code === 'EACCES')
          throw new Ds3231Error(
            `${this.where}: ${what} failed after ${i} attempt${i > 1 ? 's' : ''} (${code}). ${hint(code, this.opts.busNumber, this.address)}`,
            code,
          );
        await sleep(delay);
        delay *= 2;
      }
    }
  }

  /**
   * The seconds register alone (one data byte: the least bus time), for catching its rollover. The
   * chip latches its time at the transaction's START, which lies between startMonoNs and endMonoNs
   * (next to the start: the call's own entry), never at the call's return: a 16-byte read at
   * 100 kHz returns 1.6 ms after it.
   */
  async readSeconds(): Promise<{ seconds: number; startMonoNs: bigint; endMonoNs: bigint }> {
    let startMonoNs = 0n;
    const b = await this.io('reading the seconds', () => {
      startMonoNs = this.opts.nowNs(); // the attempt that answered
      return this.bus.readByte(this.address, REG.SECONDS);
    });
    return { seconds: fromBcd(b & 0x7f), startMonoNs, endMonoNs: this.opts.nowNs() };
  }

  async read(): Promise<RtcReading> {
    const regs = Buffer.alloc(0x10);
    await this.io('reading the time', () => this.bus.readI2cBlock(this.address, REG.SECONDS, 0x10, regs));
    const monoNs = this.opts.nowNs();
    const t = decodeTime(regs);
    const osf = (regs[REG.STATUS]! & STATUS.OSF) !== 0;
    if (!t)
      return {
        utcNs: 0n,
        monoNs,
        trustworthy: false,
        reason: `time registers hold no valid time (${[...regs.subarray(0, 7)].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`,
      };
    const utcNs = BigInt(utcSecFromDateTime(t)) * NS;
    if (osf)
      return {
        utcNs,
        monoNs,
        trustworthy: false,
        reason: 'oscillator-stopped flag set: the RTC lost power, its time is not to be trusted until set',
      };
    if (t.year > 2099) return { utcNs, monoNs, trustworthy: false, reason: 'century bit set: a year past 2099' };
    return { utcNs, monoNs, trustworthy: true };
  }

  /** Sets the time (24 h mode, whole seconds) and clears OSF. */
  async set(utcSec: number): Promise<void> {
    const regs = encodeTime(dateTimeFromUtcSec(utcSec));
    await this.io('setting the time', () => this.bus.writeI2cBlock(this.address, REG.SECONDS, regs.length, regs));
    await this.clearOsf();
  }

  /**
   * Sets the RTC so that its second boundary falls on UTC second `utcSec`: the seconds register is
   * written (which restarts the countdown chain) at the local instant `monoAtUtcNs(utcSec)` minus the
   * bus time to the seconds byte. Returns how late the write started (ns; negative = early) and how
   * long the bus call took.
   */
  async setAligned(
    utcSec: number,
    monoAtUtcNs: (utcNs: bigint) => bigint,
  ): Promise<{ lateNs: number; writeNs: number }> {
    const regs = encodeTime(dateTimeFromUtcSec(utcSec));
    const targetNs = monoAtUtcNs(BigInt(utcSec) * NS) - BigInt(this.opts.secondsWriteLeadNs ?? 270_000);
    await (this.opts.waitUntilNs ?? ((t) => this.waitUntil(t)))(targetNs);
    // The attempt that succeeded is the one that set it: a retry after a bus error starts later.
    let startNs = 0n;
    await this.io('setting the time', () => {
      startNs = this.opts.nowNs();
      return this.bus.writeI2cBlock(this.address, REG.SECONDS, regs.length, regs);
    });
    const endNs = this.opts.nowNs();
    await this.clearOsf();
    return { lateNs: Number(startNs - targetNs), writeNs: Number(endNs - startNs) };
  }

  private async waitUntil(targetNs: bigint): Promise<void> {
    const now = this.opts.nowNs();
    if (targetNs - now > SPIN_NS) await new Promise((r) => setTimeout(r, Number(targetNs - now - SPIN_NS) / 1e6));
    while (this.opts.nowNs() < targetNs) {
      /* spin the last few ms */
    }
  }

  private async clearOsf(): Promise<void> {
    const status = await this.io('reading the status', () => this.bus.readByte(this.address, REG.STATUS));
    if (status & STATUS.OSF)
      await this.io('clearing OSF', () => this.bus.writeByte(this.address, REG.STATUS, status & ~STATUS.OSF));
  }

  async temperatureC(): Promise<number> {
    const b = Buffer.alloc(2);
    await this.io('reading the temperature', () => this.bus.readI2cBlock(this.address, REG.TEMP_MSB, 2, b));
    return decodeTemperature(b[0]!, b[1]!);
  }

  /** Forces a temperature conversion (which also applies a new aging value) and waits for it. */
  async convert(): Promise<void> {
    const sleep = this.sleep;
    const busy = async () =>
      (await this.io('reading the status', () => this.bus.readByte(this.address, REG.STATUS))) & STATUS.BSY;
    for (let waited = 0; await busy(); waited += CONVERSION_POLL_MS) {
      if (waited >= CONVERSION_TIMEOUT_MS)
        throw new Ds3231Error(`${this.where}: busy (BSY) for over ${CONVERSION_TIMEOUT_MS} ms; power-cycle the module`);
      await sleep(CONVERSION_POLL_MS);
    }
    const control = await this.io('reading the control register', () => this.bus.readByte(this.address, REG.CONTROL));
    await this.io('starting a conversion', () => this.bus.writeByte(this.address, REG.CONTROL, control | CONTROL.CONV));
    for (let waited = 0; ; waited += CONVERSION_POLL_MS) {
      const c = await this.io('reading the control register', () => this.bus.readByte(this.address, REG.CONTROL));
      if (!(c & CONTROL.CONV)) return;
      if (waited >= CONVERSION_TIMEOUT_MS)
        throw new Ds3231Error(
          `${this.where}: temperature conversion did not finish within ${CONVERSION_TIMEOUT_MS} ms (BSY stuck); power-cycle the module`,
        );
      await sleep(CONVERSION_POLL_MS);
    }
  }

  async aging(): Promise<{ lsb: number; ppm: number }> {
    const lsb = decodeAging(
      await this.io('reading the aging offset', () => this.bus.readByte(this.address, REG.AGING)),
    );
    return { lsb, ppm: -lsb * AGING_PPM_PER_LSB };
  }

  /** Writes the aging offset (positive slows the oscillator ≈ 0.1 ppm per LSB) and applies it at once. */
  async setAging(lsb: number): Promise<void> {
    const b = encodeAging(lsb);
    await this.io('writing the aging offset', () => this.bus.writeByte(this.address, REG.AGING, b));
    await this.convert();
  }

  /** 1 Hz square wave on SQW (INTCN=0, RS=00); 32 kHz output off unless asked. */
  async enableSqw1Hz(opts: { batteryBacked?: boolean; out32kHz?: boolean } = {}): Promise<void> {
    const control = await this.io('reading the control register', () => this.bus.readByte(this.address, REG.CONTROL));
    const next =
      (control & ~(CONTROL.INTCN | CONTROL.RS1 | CONTROL.RS2 | CONTROL.BBSQW | CONTROL.CONV)) |
      (opts.batteryBacked ? CONTROL.BBSQW : 0);
    await this.io('writing the control register', () => this.bus.writeByte(this.address, REG.CONTROL, next));
    const status = await this.io('reading the status', () => this.bus.readByte(this.address, REG.STATUS));
    const s = opts.out32kHz ? status | STATUS.EN32KHZ : status & ~STATUS.EN32KHZ;
    // Write 1 to OSF/A1F/A2F so that this write clears none of them.
    await this.io('writing the status', () =>
      this.bus.writeByte(this.address, REG.STATUS, s | STATUS.OSF | STATUS.A1F | STATUS.A2F),
    );
  }

  async info(): Promise<RtcInfo> {
    const reading = await this.read();
    const regs = Buffer.alloc(0x13);
    await this.io('reading the registers', () => this.bus.readI2cBlock(this.address, REG.SECONDS, 0x13, regs));
    const control = regs[REG.CONTROL]!,
      status = regs[REG.STATUS]!;
    const agingLsb = decodeAging(regs[REG.AGING]!);
    return {
      reading,
      temperatureC: decodeTemperature(regs[REG.TEMP_MSB]!, regs[REG.TEMP_LSB]!),
      agingLsb,
      agingPpm: -agingLsb * AGING_PPM_PER_LSB,
      sqw1Hz: !(control & (CONTROL.INTCN | CONTROL.RS1 | CONTROL.RS2)),
      batteryBackedSqw: (control & CONTROL.BBSQW) !== 0,
      out32kHz: (status & STATUS.EN32KHZ) !== 0,
      busy: (status & STATUS.BSY) !== 0,
    };
  }
}

/** What to check, by errno, in the words of someone wiring a Pi. */
export function hint(code: string, bus: number, address: number): string {
  const a = `0x${address.toString(16)}`;
  switch (code) {
    case 'ENOENT':
      return `/dev/i2c-${bus} does not exist: is dtparam=i2c_arm=on set in /boot/firmware/config.txt (then reboot)?`;
    case 'EACCES':
      return `no permission on /dev/i2c-${bus}: run as a member of the i2c group.`;
    case 'EBUSY':
      return `the kernel rtc-ds1307 driver owns ${a}: remove dtoverlay=i2c-rtc,ds3231 from /boot/firmware/config.txt and reboot, or unbind it (echo 1-00${a.slice(2)} > /sys/bus/i2c/drivers/rtc-ds1307/unbind).`;
    case 'ENXIO':
    case 'EREMOTEIO':
      return `nothing answers at ${a}: check the module's power and SDA/SCL wiring (pins 3 and 5), and i2cdetect -y ${bus}.`;
    case 'ETIMEDOUT':
      return 'the bus timed out: a stuck SDA line or a long cable; power-cycle the module.';
    default:
      return "an I2C transfer failed: check the wiring and the module's power.";
  }
}
