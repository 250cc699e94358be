import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ds3231Emulator } from '../../drivers/rtc/ds3231-emulator.js';
import { PpsFileEmulator } from '../../drivers/pps/emulator.js';
import type { RealtimeConverter } from '../time/realtime-converter.js';

/**
 * A simulated DS3231 in real time: the register-level emulator behind the I2C interface, and its
 * 1 Hz SQW delivered as a second kernel PPS device (a sysfs-format file stamped at the RTC's own
 * second boundaries). Truth is the monotonic clock plus the system clock's offset at creation, or an
 * offset shared with other simulated processes (a later step of the system clock moves only the
 * kernel's stamps, as on a Pi).
 */
export class RealtimeRtcRig {
  readonly chip: Ds3231Emulator;
  readonly sqwPath: string;
  private readonly sqw: PpsFileEmulator;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastEdge?: bigint;

  constructor(
    conv: RealtimeConverter,
    opts: { ppm?: number; initialOffsetNs?: bigint; dir?: string; utcMinusMonoNs?: bigint } = {},
  ) {
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'jaudiosync-rtc-'));
    this.ownDir = opts.dir === undefined;
    const truthOffsetNs = opts.utcMinusMonoNs ?? conv.toRealtime(0n);
    this.truthNowNs = () => process.hrtime.bigint() + truthOffsetNs;
    this.stampOf = (trueNs) => conv.toRealtime(trueNs - truthOffsetNs);
    this.chip = new Ds3231Emulator({
      trueNowNs: this.truthNowNs,
      basePpm: opts.ppm ?? 1.5,
      initialOffsetNs: opts.initialOffsetNs ?? 2_000_000n,
    });
    this.sqwPath = join(this.dir, 'pps1-assert');
    this.sqw = new PpsFileEmulator({ path: this.sqwPath, jitterNs: 1_500 });
  }

  private readonly dir: string;
  private readonly ownDir: boolean;
  private readonly truthNowNs: () => bigint;
  /** CLOCK_REALTIME as the kernel would stamp a true instant now. */
  private readonly stampOf: (trueNs: bigint) => bigint;

  start(): void {
    const next = () => {
      if (this.stopped) return;
      const now = this.truthNowNs();
      // From just past the last edge: a timer firing a hair early must not emit the same edge twice.
      const from = this.lastEdge !== undefined && this.lastEdge + 1_000_000n > now ? this.lastEdge + 1_000_000n : now;
      const edge = this.chip.sqwEdges(from, from + 2_000_000_000n)[0];
      if (edge === undefined) {
        this.timer = setTimeout(next, 200);
        return;
      } // SQW not enabled yet
      this.timer = setTimeout(
        () => {
          if (!this.stopped) {
            this.lastEdge = edge;
            this.sqw.pulse(this.stampOf(edge));
          }
          next();
        },
        Math.max(1, Number(edge - now) / 1e6),
      );
    };
    next();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
