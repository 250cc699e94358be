import { gaussian } from '../pps/emulator.js';
import { I2cError, type I2cBus } from './i2c.js';
import {
  AGING_PPM_PER_LSB,
  CONTROL,
  decodeAging,
  decodeTime,
  encodeHours12,
  encodeTemperature,
  encodeTime,
  LAST_REGISTER,
  REG,
  STATUS,
  dateTimeFromUtcSec,
  utcSecFromDateTime,
} from './registers.js';

/**
 * A DS3231 at register level behind the I2C bus interface: its own oscillator (ppm offset, the
 * aging register's effect, temperature dependence applied at each temperature conversion, every 64 s
 * or when forced), pointer auto-increment wrapping after 0x12, countdown-chain reset when the seconds
 * register is written, OSF on simulated power loss, SQW edges at its own second boundaries, injectable
 * faults, and a record of every write.
 */

export interface Ds3231EmulatorOptions {
  /** True time (ns since the Unix epoch) as the simulated world knows it. */
  trueNowNs: () => bigint;
  address?: number;
  /** Oscillator offset at 25 °C with aging 0 (ppm, positive = RTC runs fast). DS3231SN: within ±2. */
  basePpm?: number;
  /** Residual temperature dependence after the TCXO's compensation (ppm/°C² around 25 °C). */
  tempCoeffPpmPerC2?: number;
  /** Die temperature (°C) as a function of true time. */
  temperatureC?: (trueNs: bigint) => number;
  /** RTC time at creation (UTC s); default: true time, phase-aligned. */
  initialUtcSec?: number;
  /** Offset of the RTC from true time at creation (ns, positive = ahead): an earlier, imperfect set. */
  initialOffsetNs?: bigint;
  /** Bus time per byte (ns): 9 bit times at 100 kHz. */
  nsPerByte?: number;
  /**
   * σ of the frequency each temperature conversion sets, around the model (ppm): the TCXO retunes
   * in small steps every 64 s (WORLD.md), a white FM whose time error grows as √t. Needs `random`.
   */
  conversionJitterPpm?: number;
  random?: () => number;
}

export type I2cFault = 'EIO' | 'NACK' | 'EBUSY' | 'ETIMEDOUT';

/** Conversion time: the datasheet gives 125 ms typical, 200 ms max. */
const CONVERSION_NS = 125_000_000n;
const AUTO_CONVERSION_NS = 64_000_000_000n;
const NS = 1_000_000_000n;

export class Ds3231Emulator implements I2cBus {
  readonly address: number;
  /** Every register write: first register, bytes, true time it landed. */
  readonly writes: Array<{ register: number; bytes: number[]; trueNs: bigint }> = [];
  /** Faults the next transactions will fail with, in order. */
  readonly faults: I2cFault[] = [];
  /** BSY never clears (a wedged chip). */
  stuckBsy = false;
  transactions = 0;

  private anchorTrueNs: bigint;
  private anchorRtcNs: bigint;
  private ppm = 0;
  private control: number = CONTROL.RS2 | CONTROL.RS1 | CONTROL.INTCN; // power-on defaults
  private status: number = STATUS.EN32KHZ;
  private aging = 0;
  private tempRegs: [number, number] = [0, 0];
  private hours12 = false;
  private lastConversionTrueNs: bigint;
  private convUntilTrueNs = 0n;
  private busFreeAtNs = 0n;
  private readonly nsPerByte: bigint;

  constructor(private readonly opts: Ds3231EmulatorOptions) {
    this.address = opts.address ?? 0x68;
    this.nsPerByte = BigInt(opts.nsPerByte ?? 90_000);
    const now = opts.trueNowNs();
    this.anchorTrueNs = now;
    this.anchorRtcNs =
      (opts.initialUtcSec !== undefined ? BigInt(opts.initialUtcSec) * NS : now) + (opts.initialOffsetNs ?? 0n);
    this.lastConversionTrueNs = now;
    this.convert(now);
  }

  /** Current oscillator offset (ppm, positive = fast), as the last conversion set it. */
  get freqPpm(): number {
    return this.ppm;
  }

  /** What the RTC's time is (ns, with its sub-second phase) at a true instant. */
  rtcNsAt(trueNs: bigint): bigint {
    this.catchUp(trueNs);
    const elapsed = Number(trueNs - this.anchorTrueNs);
    return this.anchorRtcNs + BigInt(Math.round(elapsed * (1 + this.ppm * 1e-6)));
  }

  /** True instants of the 1 Hz SQW falling edges (the RTC's second boundaries) in [fromNs, toNs). */
  sqwEdges(fromTrueNs: bigint, toTrueNs: bigint): bigint[] {
    if (this.control & CONTROL.INTCN || this.control & (CONTROL.RS1 | CONTROL.RS2)) return [];
    const edges: bigint[] = [];
    const rate = 1 + this.ppm * 1e-6;
    let sec = this.rtcNsAt(fromTrueNs) / NS + 1n;
    for (;;) {
      const t = this.anchorTrueNs + BigInt(Math.round(Number(sec * NS - this.anchorRtcNs) / rate));
      if (t >= toTrueNs) return edges;
      if (t >= fromTrueNs) edges.push(t);
      sec++;
    }
  }

  /** Power lost without a battery: the oscillator stopped; on return the time is reset and OSF set. */
  powerLoss(): void {
    const now = this.opts.trueNowNs();
    this.anchorTrueNs = now;
    this.anchorRtcNs = BigInt(Date.UTC(2000, 0, 1)) * 1_000_000n;
    this.control = CONTROL.RS2 | CONTROL.RS1 | CONTROL.INTCN;
    this.status = STATUS.OSF | STATUS.EN32KHZ;
    this.aging = 0;
    this.hours12 = false;
    this.convert(now);
  }

  // ---- I2cBus ----

  async readI2cBlock(address: number, command: number, length: number, buffer: Buffer) {
    // The time registers are copied to a secondary buffer on START: one coherent burst.
    const now = this.transaction(address, length);
    for (let i = 0; i < length; i++) buffer[i] = this.readRegister((command + i) % (LAST_REGISTER + 1), now);
    return { bytesRead: length, buffer };
  }

  async writeI2cBlock(address: number, command: number, length: number, buffer: Buffer) {
    const start = this.transaction(address, length);
    const bytes = [...buffer.subarray(0, length)];
    // The bytes land one after another; the seconds byte resets the chain when it is acknowledged.
    const time = Buffer.from(this.timeRegisters(start));
    let timeTouched = false,
      secondsAt: bigint | undefined;
    bytes.forEach((b, i) => {
      const reg = (command + i) % (LAST_REGISTER + 1);
      const landedNs = start + this.nsPerByte * BigInt(3 + i); // acknowledged after address, pointer and itself
      if (reg <= REG.YEAR) {
        time[reg] = b;
        timeTouched = true;
        if (reg === REG.SECONDS) secondsAt = landedNs;
        if (reg === REG.HOURS) this.hours12 = (b & 0x40) !== 0;
      } else {
        this.writeRegister(reg, b, landedNs);
      }
    });
    if (timeTouched) this.setTimeFromRegisters(time, start, secondsAt);
    this.writes.push({ register: command, bytes, trueNs: secondsAt ?? start });
    return { bytesWritten: length, buffer };
  }

  async readByte(address: number, command: number): Promise<number> {
    const b = Buffer.alloc(1);
    await this.readI2cBlock(address, command, 1, b);
    return b[0]!;
  }

  async writeByte(address: number, command: number, byte: number): Promise<void> {
    await this.writeI2cBlock(address, command, 1, Buffer.from([byte]));
  }

  async close(): Promise<void> {}

  // ---- internals ----

  /** Starts a transaction: a serial bus, so not before the previous one has finished. */
  private transaction(address: number, dataBytes: number): bigint {
    this.transactions++;
    const fault = this.faults.shift();
    if (address !== this.address || fault === 'NACK')
      throw new I2cError('EREMOTEIO', `no acknowledge from 0x${address.toString(16)}`);
    if (fault) throw new I2cError(fault, `injected ${fault}`);
    const now = this.opts.trueNowNs();
    const start = now > this.busFreeAtNs ? now : this.busFreeAtNs;
    this.busFreeAtNs = start + this.nsPerByte * BigInt(2 + dataBytes);
    return start;
  }

  private timeRegisters(trueNs: bigint): number[] {
    const sec = Number(this.rtcNsAt(trueNs) / NS);
    const regs = [...encodeTime(dateTimeFromUtcSec(sec))];
    if (this.hours12) regs[REG.HOURS] = encodeHours12(dateTimeFromUtcSec(sec).hours);
    return regs;
  }

  private readRegister(reg: number, now: bigint): number {
    if (reg <= REG.YEAR) return this.timeRegisters(now)[reg]!;
    switch (reg) {
      case REG.CONTROL:
        return now < this.convUntilTrueNs || this.stuckBsy ? this.control : this.control & ~CONTROL.CONV;
      case REG.STATUS:
        return this.status | (now < this.convUntilTrueNs || this.stuckBsy ? STATUS.BSY : 0);
      case REG.AGING:
        return this.aging & 0xff;
      case REG.TEMP_MSB:
      case REG.TEMP_LSB:
        // The last conversion's, due or not: read alone (no time read to bring them on) they were the first's.
        this.catchUp(now);
        return this.tempRegs[reg - REG.TEMP_MSB]!;
      default:
        return 0; // alarm registers: not modelled, read as zero
    }
  }

  private writeRegister(reg: number, b: number, now: bigint): void {
    switch (reg) {
      case REG.CONTROL:
        this.control = b;
        if (b & CONTROL.CONV && !this.stuckBsy && now >= this.convUntilTrueNs) {
          this.convUntilTrueNs = now + CONVERSION_NS;
          this.convert(now);
        }
        break;
      // OSF can only be cleared by writing 0; A1F/A2F likewise; EN32kHz is read/write.
      case REG.STATUS:
        this.status = (this.status & b & (STATUS.OSF | STATUS.A1F | STATUS.A2F)) | (b & STATUS.EN32KHZ);
        break;
      case REG.AGING:
        this.aging = decodeAging(b);
        break; // takes effect at the next conversion
      default:
        break;
    }
  }

  private setTimeFromRegisters(regs: Buffer, now: bigint, secondsAt?: bigint): void {
    const t = decodeTime(regs);
    const sec = t ? BigInt(utcSecFromDateTime(t)) : BigInt(Date.UTC(2000, 0, 1) / 1000);
    if (secondsAt !== undefined) {
      // Countdown chain reset: the new second starts when the seconds byte lands.
      this.anchorTrueNs = secondsAt;
      this.anchorRtcNs = sec * NS;
    } else {
      const phase = this.rtcNsAt(now) % NS;
      this.anchorTrueNs = now;
      this.anchorRtcNs = sec * NS + phase;
    }
  }

  /** Temperature conversion: new temperature registers and a retuned oscillator. */
  private convert(trueNs: bigint): void {
    this.reanchor(trueNs);
    const c = this.opts.temperatureC?.(trueNs) ?? 25;
    this.tempRegs = encodeTemperature(Math.round(c * 4) / 4);
    const jitterPpm =
      this.opts.conversionJitterPpm && this.opts.random
        ? gaussian(this.opts.random) * this.opts.conversionJitterPpm
        : 0;
    this.ppm =
      (this.opts.basePpm ?? 0) +
      (this.opts.tempCoeffPpmPerC2 ?? 0) * (c - 25) ** 2 -
      AGING_PPM_PER_LSB * this.aging +
      jitterPpm;
    this.lastConversionTrueNs = trueNs;
  }

  private reanchor(trueNs: bigint): void {
    const elapsed = Number(trueNs - this.anchorTrueNs);
    this.anchorRtcNs += BigInt(Math.round(elapsed * (1 + this.ppm * 1e-6)));
    this.anchorTrueNs = trueNs;
  }

  /** Applies the automatic conversions (every 64 s) due before trueNs. */
  private catchUp(trueNs: bigint): void {
    while (trueNs - this.lastConversionTrueNs >= AUTO_CONVERSION_NS)
      this.convert(this.lastConversionTrueNs + AUTO_CONVERSION_NS);
  }
}
