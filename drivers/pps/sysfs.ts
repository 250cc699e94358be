import { readFile } from 'node:fs/promises';
import type { PpsSink } from './types.js';

/**
 * Kernel PPS through sysfs: /sys/class/pps/ppsN/assert reads "sec.nsec#seq", stamped by the
 * kernel at the interrupt in CLOCK_REALTIME. sysfs does not notify, so we poll: once just after each
 * edge is due, and at pollMs while it is late. The sequence number tells missed and repeated pulses
 * apart, and an injected converter puts the realtime stamp on the local monotonic axis.
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
  /** Poll interval while a pulse is due or overdue: 20 Hz reads it within 50 ms of its edge. */
  pollMs?: number;
  /** Local monotonic clock (ns), for telling a frozen device; process.hrtime by default. */
  nowNs?: () => bigint;
}

/**
 * No new pulse for this long is a fault worth saying: pulses come every second, and the clock layer
 * goes to holdover after three missed ones.
 */
export const PPS_FROZEN_AFTER_NS = 3_000_000_000n;

/** What to do about a PPS file that cannot be read, by error code. */
export function ppsReadHint(code: string | undefined, path: string): string {
  if (code === 'ENOENT' || code === 'ENODEV')
    return 'Is dtoverlay=pps-gpio,gpiopin=18 in /boot/firmware/config.txt (and the Pi rebooted since)?';
  if (code === 'EACCES' || code === 'EPERM') {
    return `The device is there but this user may not read it: give the user running jaudiosync read access through a group (ls -l ${path}; a udev rule such as SUBSYSTEM=="pps", GROUP="dialout", MODE="0640", and the user in that group).`;
  }
  return 'Is it a kernel PPS assert file (/sys/class/pps/ppsN/assert)?';
}

/**
 * What a kernel PPS timestamp adds to the edge's own ~50 ns: interrupt latency ~7 µs with σ ~1.7 µs
 * (pps-gpio, BeagleBone), spikes to ~4 µs on a Pi: 10 µs bounds both.
 */
export const KERNEL_PPS_ERROR_NS = 10_000;
const DEFAULT_POLL_MS = 50;
/**
 * After a pulse, the next read is this long after the next edge is due (ns), then every pollMs until
 * it comes: about one read a second instead of twenty (the stamp is the kernel's, so reading it a little
 * later costs no precision; two PPS sources at 20 Hz were half of the player's CPU while playing).
 */
export const PPS_READ_AFTER_EDGE_NS = 20_000_000n;

/** The kernel's content before the first pulse (all zeros, sequence 0). */
const NO_PULSE_YET = /^0\.0{9}#0\s*$/;

export class SysfsPps {
  private timer?: NodeJS.Timeout;
  private lastSeq?: number;
  /** The last pulse's kernel stamp: the next edge is due a second later. */
  private lastRealtimeNs?: bigint;
  private reading = false;
  /** The fault now in force (unreadable, garbage, frozen), said once when it begins. */
  private _fault?: { kind: 'unreadable' | 'garbage' | 'frozen'; message: string };
  /** Local time of the last new pulse, or of the start while none has come. */
  private lastNewNs?: bigint;
  pulses = 0;
  missed = 0;

  constructor(
    private readonly opts: SysfsPpsOptions,
    private readonly sink: PpsSink,
  ) {}

  /** What is wrong with the device now, if anything (for status). */
  get fault(): string | undefined {
    return this._fault?.message;
  }

  private nowNs(): bigint {
    return (this.opts.nowNs ?? process.hrtime.bigint)();
  }

  /** Reads once to check the device, then polls. Rejects naming the path, with the fix, when it cannot be read. */
  async start(): Promise<void> {
    try {
      await readFile(this.opts.path, 'latin1');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(`PPS device ${this.opts.path}: ${(e as Error).message}. ${ppsReadHint(code, this.opts.path)}`);
    }
    this.lastNewNs = this.nowNs();
    this.schedule(this.opts.pollMs ?? DEFAULT_POLL_MS);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      void this.poll().then(() => {
        if (this.timer) this.schedule(this.nextReadMs());
      });
    }, ms);
  }

  /** Until the next read: just after the next edge is due, or pollMs while one is due or overdue. */
  nextReadMs(): number {
    const pollMs = this.opts.pollMs ?? DEFAULT_POLL_MS;
    if (this.lastRealtimeNs === undefined) return pollMs;
    const dueMono = this.opts.converter.toMono(this.lastRealtimeNs + 1_000_000_000n).monoNs + PPS_READ_AFTER_EDGE_NS;
    // Never much longer than a second: a converter gone wrong must not stop the reads.
    return Math.min(1100, Math.max(pollMs, Number(dueMono - this.nowNs()) / 1e6));
  }

  /** One poll: reads the file and reports a new pulse, or a fault once. Exposed for tests. */
  async poll(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      let text: string;
      try {
        text = await readFile(this.opts.path, 'latin1');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return this.setFault(
          'unreadable',
          `PPS device ${this.opts.path} cannot be read (${(e as Error).message}). ${ppsReadHint(code, this.opts.path)}`,
        );
      }
      const a = parseAssert(text);
      if (!a && !NO_PULSE_YET.test(text)) {
        const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text.trim());
        return this.setFault(
          'garbage',
          `PPS device ${this.opts.path} reads ${shown}, not "SECONDS.NANOSECONDS#SEQUENCE": ${ppsReadHint(undefined, this.opts.path)} Ignored until it does`,
        );
      }
      // no pulse yet, or the same one
      if (!a || a.realtimeNs === 0n || a.seq === this.lastSeq) return this.checkFrozen();
      const missed = this.lastSeq === undefined ? 0 : Math.max(0, a.seq - this.lastSeq - 1);
      this.lastSeq = a.seq;
      this.lastRealtimeNs = a.realtimeNs;
      this.lastNewNs = this.nowNs();
      this.pulses++;
      this.missed += missed;
      this.setFault(undefined);
      const { monoNs, errorNs } = this.opts.converter.toMono(a.realtimeNs);
      this.sink.addPulse({
        monoNs,
        realtimeNs: a.realtimeNs,
        seq: a.seq,
        missed,
        errorNs: errorNs + KERNEL_PPS_ERROR_NS,
        via: 'kernel',
      });
    } finally {
      this.reading = false;
    }
  }

  /** Readable, well-formed, and still the same pulse: past PPS_FROZEN_AFTER_NS that is a fault. */
  private checkFrozen(): void {
    if (this._fault && this._fault.kind !== 'frozen') this.setFault(undefined); // readable and sane again
    const since = (this.lastNewNs ??= this.nowNs());
    const silentNs = this.nowNs() - since;
    if (silentNs < PPS_FROZEN_AFTER_NS || this._fault) return;
    const sec = Number(silentNs / 1_000_000_000n);
    this.setFault(
      'frozen',
      this.lastSeq === undefined
        ? `no pulse on PPS device ${this.opts.path} for ${sec} s: the GPS has no fix yet (it pulses only with one), or its PPS wire is not on the GPIO that dtoverlay=pps-gpio,gpiopin=N names`
        : `PPS device ${this.opts.path}: no new pulse for ${sec} s (sequence stuck at ${this.lastSeq}): the GPS lost its fix or its PPS wire is loose; the clock holds over meanwhile`,
    );
  }

  /** Says a fault once when it begins, and once when it clears. */
  private setFault(kind: 'unreadable' | 'garbage' | 'frozen' | undefined, message?: string): void {
    if (kind === this._fault?.kind) return;
    const was = this._fault;
    this._fault = kind ? { kind, message: message! } : undefined;
    if (kind) this.sink.onStatus?.(message!);
    else if (was)
      this.sink.onStatus?.(
        `PPS device ${this.opts.path}: ${was.kind === 'frozen' ? 'pulses again' : 'readable again'}`,
      );
    this.sink.onFault?.(this._fault?.message);
  }
}
