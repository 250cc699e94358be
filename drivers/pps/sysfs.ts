import { readFile } from 'node:fs/promises';
import type { PpsSink } from './types.js';

/**
 * Kernel PPS through sysfs: /sys/class/pps/ppsN/assert reads "sec.nsec#seq", stamped by the
 * kernel at the interrupt in CLOCK_REALTIME. sysfs does not notify, so we poll; the sequence number
 * tells missed and repeated pulses apart, and an injected converter puts the realtime stamp on the
 * local monotonic axis.
 */

export interface PpsAssert {
  realtimeNs: bigint;
  seq: number;
}

/** Parses "1700000000.123456789#42" (trailing newline allowed); undefined when malformed. */
export function parseAssert(text: string): PpsAssert | undefined {
  const m = /^(\d+)\.(\d{9})#(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  return { realtimeNs: BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2]!), seq: Number(m[3]) };
}

export interface RealtimeToMono {
  /** Local monotonic ns of a CLOCK_REALTIME instant, with the conversion's error bound (ns). */
  toMono(realtimeNs: bigint): { monoNs: bigint; errorNs: number };
}

export interface SysfsPpsOptions {
  /** e.g. /sys/class/pps/pps0/assert */
  path: string;
  converter: RealtimeToMono;
  /** Poll interval: 20 Hz reads a pulse within 50 ms of its edge at negligible cost. */
  pollMs?: number;
}

/**
 * What a kernel PPS timestamp adds to the edge's own ~50 ns: interrupt latency ~7 µs with σ ~1.7 µs
 * (pps-gpio, BeagleBone), spikes to ~4 µs on a Pi: 10 µs bounds both.
 */
export const KERNEL_PPS_ERROR_NS = 10_000;
const DEFAULT_POLL_MS = 50;

export class SysfsPps {
  private timer?: NodeJS.Timeout;
  private lastSeq?: number;
  private reading = false;
  private failing = false;
  pulses = 0;
  missed = 0;

  constructor(private readonly opts: SysfsPpsOptions, private readonly sink: PpsSink) {}

  /** Reads once to check the device, then polls. Rejects naming the path when it cannot be read. */
  async start(): Promise<void> {
    try {
      await readFile(this.opts.path, 'latin1');
    } catch (e) {
      throw new Error(`PPS device ${this.opts.path}: ${(e as Error).message}. Is dtoverlay=pps-gpio,gpiopin=18 in /boot/firmware/config.txt?`);
    }
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs ?? DEFAULT_POLL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll: reads the file and reports a new pulse. Exposed for tests. */
  async poll(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const text = await readFile(this.opts.path, 'latin1');
      if (this.failing) { this.failing = false; this.sink.onStatus?.(`PPS device ${this.opts.path} readable again`); }
      const a = parseAssert(text);
      if (!a || a.realtimeNs === 0n || a.seq === this.lastSeq) return; // no pulse yet, or the same one
      const missed = this.lastSeq === undefined ? 0 : Math.max(0, a.seq - this.lastSeq - 1);
      this.lastSeq = a.seq;
      this.pulses++;
      this.missed += missed;
      const { monoNs, errorNs } = this.opts.converter.toMono(a.realtimeNs);
      this.sink.addPulse({ monoNs, realtimeNs: a.realtimeNs, seq: a.seq, missed, errorNs: errorNs + KERNEL_PPS_ERROR_NS, via: 'kernel' });
    } catch (e) {
      if (!this.failing) { this.failing = true; this.sink.onStatus?.(`PPS device ${this.opts.path}: ${(e as Error).message}`); }
    } finally {
      this.reading = false;
    }
  }
}
