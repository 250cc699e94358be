import { mkdtempSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sentencesForSecond, withLineNoise, type NmeaEmulatorOptions } from '../../drivers/gps/emulator.js';
import { PpsFileEmulator } from '../../drivers/pps/emulator.js';
import { PtyPair } from '../../drivers/pty.js';
import type { RealtimeConverter } from '../time/realtime-converter.js';

/**
 * A simulated GPS receiver running in real time: PPS stamps in a sysfs-format file and NMEA through
 * a socat pty, read back by the real drivers exactly as on a Pi. (The virtual-time world for whole
 * rides is the simulator's job.) Its truth is this machine's monotonic clock plus the system clock's
 * offset when the rig was made (or an offset given, so that several simulated processes share one
 * sky): stepping the system clock later (`date -s`, timesyncd) does not move the satellites, it only
 * moves the kernel's CLOCK_REALTIME stamps of the pulses, as on a Pi.
 */

export interface RigOptions extends NmeaEmulatorOptions {
  /** σ of the simulated kernel PPS timestamp (ns); WORLD.md: ~1-2 µs on a Pi. */
  ppsJitterNs?: number;
  dir?: string;
  /** Seconds (UTC) in which the receiver is silent and pulses nothing: a tunnel. */
  outage?: (utcSec: number) => boolean;
  /** Seconds in which the receiver has lost its fix (status V, no PPS). */
  noFixAt?: (utcSec: number) => boolean;
  /** Probability that a sentence is hit by line noise. */
  lineNoise?: number;
  random?: () => number;
  /**
   * True UTC minus this machine's monotonic clock (ns), shared by every simulated process that is
   * given it (`JAUDIOSYNC_SIM_UTC_MINUS_MONO_NS`); by default the system clock's offset at creation.
   */
  utcMinusMonoNs?: bigint;
}

export class RealtimeGpsRig {
  private timer?: NodeJS.Timeout;
  private writer?: FileHandle;
  private stopped = false;
  private lastSec?: bigint;
  readonly ppsPath: string;
  readonly pps: PpsFileEmulator;

  /** True UTC minus local monotonic (ns): fixed at creation. */
  private readonly truthOffsetNs: bigint;
  /**
   * How far that truth may be from this machine's CLOCK_REALTIME (ns): the realtime estimate's own
   * bound when it was taken (a busy CPU widens it to tens of µs). Anything that checks this world's
   * time against the system clock must allow it.
   */
  readonly truthVsRealtimeNs: number;

  private constructor(
    readonly dir: string,
    private pty: PtyPair,
    private readonly conv: RealtimeConverter,
    private readonly opts: RigOptions,
    private readonly ownDir: boolean,
  ) {
    const systemOffsetNs = conv.toRealtime(0n);
    this.truthOffsetNs = opts.utcMinusMonoNs ?? systemOffsetNs;
    this.truthVsRealtimeNs = Math.abs(Number(this.truthOffsetNs - systemOffsetNs)) + conv.errorNs;
    this.ppsPath = join(dir, 'pps0-assert');
    this.pps = new PpsFileEmulator({ path: this.ppsPath, jitterNs: opts.ppsJitterNs ?? 1_500 });
  }

  static async create(conv: RealtimeConverter, opts: RigOptions = {}): Promise<RealtimeGpsRig> {
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'jaudiosync-gps-'));
    const pty = await PtyPair.create(dir);
    return new RealtimeGpsRig(dir, pty, conv, opts, opts.dir === undefined);
  }

  /** The serial device the GPS driver should open. */
  get serialPath(): string {
    return this.pty.devicePath;
  }

  async start(): Promise<void> {
    this.writer = await open(this.pty.emulatorPath, 'w');
    this.scheduleNextSecond();
  }

  private scheduleNextSecond(): void {
    if (this.stopped) return;
    const nowUtc = this.truthNowNs();
    // A timer may fire a hair before its edge: never emit a second twice.
    let nextSec = nowUtc / 1_000_000_000n + 1n;
    if (this.lastSec !== undefined && nextSec <= this.lastSec) nextSec = this.lastSec + 1n;
    this.lastSec = nextSec;
    const edgeUtc = nextSec * 1_000_000_000n;
    const delayMs = Number(edgeUtc - nowUtc) / 1e6;
    this.timer = setTimeout(() => this.onEdge(Number(nextSec), edgeUtc), delayMs);
  }

  private truthNowNs(): bigint {
    return process.hrtime.bigint() + this.truthOffsetNs;
  }

  private onEdge(utcSec: number, edgeUtc: bigint): void {
    if (this.stopped) return;
    this.scheduleNextSecond();
    if (this.opts.outage?.(utcSec)) return;
    const noFix = this.opts.noFix || this.opts.noFixAt?.(utcSec);
    // The kernel stamps the edge in CLOCK_REALTIME as it is now (stepped or not).
    if (!noFix) this.pps.pulse(this.conv.toRealtime(edgeUtc - this.truthOffsetNs));
    const rnd = this.opts.random ?? Math.random;
    for (const s of sentencesForSecond(utcSec, { ...this.opts, noFix })) {
      const text = this.opts.lineNoise && rnd() < this.opts.lineNoise ? withLineNoise(s.text, rnd) : s.text;
      const dueUtc = edgeUtc + BigInt(s.atNs);
      const delayMs = Number(dueUtc - this.truthNowNs()) / 1e6;
      setTimeout(
        () => {
          if (!this.stopped) this.writer?.write(text, null, 'latin1').catch(() => {});
        },
        Math.max(0, delayMs),
      );
    }
  }

  /** Pulls the cable: the pty pair disappears, the driver's port sees a hang-up. */
  async unplug(): Promise<void> {
    await this.writer?.close().catch(() => {});
    this.writer = undefined;
    await this.pty.close();
  }

  /** Plugs it back in: a new pty pair under the same names. */
  async replug(): Promise<void> {
    this.pty = await PtyPair.create(this.dir);
    this.writer = await open(this.pty.emulatorPath, 'w');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.writer?.close().catch(() => {});
    await this.pty.close();
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
