import { existsSync } from 'node:fs';
import { headerGpioChip, readGpioChips } from '../platform/pi.js';
import type { PpsSink } from './types.js';

/**
 * PPS from a GPIO edge through onoff, the fallback when no kernel PPS device exists. The timestamp
 * is taken in the watch callback as the first thing: userspace grade (~50 µs typical, ms tails from
 * the event loop), and marked so. On kernel 6.6+ sysfs GPIO numbers are offset by the chip's base
 * (GPIO18 may be 530): the base is read from sysfs, never assumed.
 */

/** The part of onoff's Gpio used here (a fake twin implements it for tests). */
export interface GpioLike {
  watch(cb: (err: Error | null | undefined, value: number) => void): void;
  unexport(): void;
}

export type GpioFactory = (sysfsNumber: number, edge: 'rising' | 'falling', debounceMs: number) => GpioLike;

/** Error bound of a userspace edge timestamp: ~50 µs typical, ±100 µs, occasionally ms. */
export const GPIO_PPS_ERROR_NS = 200_000;
/** Edges closer than this to the previous one are contact bounce or noise, not a new second. */
const MIN_EDGE_SPACING_NS = 500_000_000n;

/**
 * The sysfs number of a BCM GPIO: the header chip's base + pin (kernel 6.6+ bases start at 512, the
 * Pi 5's RP1 chip sits above the SoC's own: see headerGpioChip). Throws naming sysfs when no chip fits.
 */
export function sysfsGpioNumber(bcmPin: number, sysfsGpioRoot = '/sys/class/gpio'): number {
  if (!existsSync(sysfsGpioRoot))
    throw new Error(
      `cannot read GPIO chips in ${sysfsGpioRoot}: it does not exist. Is this a Raspberry Pi with sysfs GPIO?`,
    );
  const chips = readGpioChips(sysfsGpioRoot);
  const chip = headerGpioChip(chips, bcmPin);
  if (!chip)
    throw new Error(
      chips.length
        ? `no GPIO chip in ${sysfsGpioRoot} has a pin ${bcmPin}`
        : `cannot read GPIO chips in ${sysfsGpioRoot}: none there. Is this a Raspberry Pi with sysfs GPIO?`,
    );
  return chip.base + bcmPin;
}

export interface GpioPpsOptions {
  bcmPin: number;
  edge: 'rising' | 'falling';
  nowNs: () => bigint;
  factory: GpioFactory;
  sysfsGpioRoot?: string;
  debounceMs?: number;
}

export class GpioPps {
  private gpio?: GpioLike;
  private seq = 0;
  private lastNs?: bigint;
  pulses = 0;
  bounces = 0;

  constructor(
    private readonly opts: GpioPpsOptions,
    private readonly sink: PpsSink,
  ) {}

  start(): void {
    const n = sysfsGpioNumber(this.opts.bcmPin, this.opts.sysfsGpioRoot);
    this.gpio = this.opts.factory(n, this.opts.edge, this.opts.debounceMs ?? 0);
    this.gpio.watch((err) => {
      const monoNs = this.opts.nowNs(); // first: every statement before it is latency
      if (this.gpio === undefined) return; // stopped: an edge already queued is not reported
      if (err) {
        this.sink.onStatus?.(`PPS on GPIO${this.opts.bcmPin}: ${err.message}`);
        return;
      }
      this.onEdge(monoNs);
    });
  }

  private onEdge(monoNs: bigint): void {
    if (this.lastNs !== undefined && monoNs - this.lastNs < MIN_EDGE_SPACING_NS) {
      this.bounces++;
      return;
    }
    const missed = this.lastNs === undefined ? 0 : Math.max(0, Math.round(Number(monoNs - this.lastNs) / 1e9) - 1);
    this.lastNs = monoNs;
    this.seq += 1 + missed;
    this.pulses++;
    this.sink.addPulse({ monoNs, seq: this.seq, missed, errorNs: GPIO_PPS_ERROR_NS, via: 'gpio' });
  }

  stop(): void {
    this.gpio?.unexport();
    this.gpio = undefined;
  }
}

/** The real factory: onoff, loaded lazily so that simulation never touches native GPIO code. */
export async function onoffFactory(): Promise<GpioFactory> {
  const { Gpio } = await import('onoff');
  return (n, edge, debounceMs) => new Gpio(n, 'in', edge, { debounceTimeout: debounceMs }) as unknown as GpioLike;
}

/** Twin of a GPIO input: edges are emitted by the simulated world; records what was exported. */
export class FakeGpio implements GpioLike {
  private cb?: (err: Error | null | undefined, value: number) => void;
  unexported = false;
  constructor(
    readonly sysfsNumber: number,
    readonly edge: 'rising' | 'falling',
  ) {}
  watch(cb: (err: Error | null | undefined, value: number) => void): void {
    this.cb = cb;
  }
  unexport(): void {
    this.unexported = true;
  }
  /** Delivers an edge (the caller's clock decides when "now" is). */
  fire(err?: Error): void {
    this.cb?.(err ?? null, this.edge === 'rising' ? 1 : 0);
  }
}
