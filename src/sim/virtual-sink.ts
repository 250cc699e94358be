import { gaussian } from '../../drivers/pps/emulator.js';
import type { PcmFormat } from '../player/decoder.js';
import { DacClock, type DacRate } from '../player/dac-clock.js';
import { QueueSizer, type OutputSink } from '../player/sinks/sink.js';
import type { VirtualClock } from '../time/clock.js';

/**
 * A DAC in virtual time: its own crystal (ppm against the virtual clock, which stands for true time
 * here), a queue the player keeps topped up, callbacks that reach "JS" late with a heavy tail, and a
 * device buffer of fixed periods. It uses the same DacClock as the real sink, and records when every
 * period was really heard, so a test can measure sync against truth.
 */

/**
 * Callback delay (ns above the earliest) as the JACK rig's logs show it: −0.9 … +1.2 ms around the
 * cadence (p1 … p99, i.e. 0 … ~2.1 ms above the envelope), and 1 % in a tail to 22 ms (WORLD.md).
 */
export function rigCallbackDelayNs(random: () => number): number {
  if (random() < 0.01) return 2_000_000 + Math.min(20_000_000, -Math.log(1 - random()) * 4_000_000);
  return Math.max(0, 900_000 + 400_000 * gaussian(random));
}

/**
 * The callbacks' least delay wandering as an AR(1) (ns): memory `tauSec` (0: white), 1σ `ampNs`, one
 * step per call, a period of `periodSec` apart. What the DAC clock's model and tests put the rig's
 * jitter on (an AR(1) of 40-60 µs reproduces the JACK rig's in-track figures).
 */
export function wanderingFloorNs(
  random: () => number,
  o: { tauSec: number; ampNs: number; periodSec: number },
): () => number {
  const phi = o.tauSec > 0 ? Math.exp(-o.periodSec / o.tauSec) : 0;
  let floorNs = o.ampNs * gaussian(random);
  return () => (floorNs = phi * floorNs + Math.sqrt(1 - phi * phi) * o.ampNs * gaussian(random));
}

export interface VirtualSinkOptions {
  clock: VirtualClock;
  /** The DAC's rate as a previous run measured it, see DacClock. */
  dacPrior?: DacRate;
  format: PcmFormat;
  periodFrames: number;
  queuePeriods: number;
  /** DAC crystal against true time (ppm, positive = plays fast). */
  dacPpm: number;
  /** Periods in the device buffer after the queue (RtAudio's ALSA buffer: 4). */
  devicePeriods?: number;
  random: () => number;
  /**
   * The least time from a period leaving the queue to JS hearing of it (ns): a constant the DAC
   * clock cannot see and reports as latency (the real rig measures it; the trim removes it).
   */
  minDelayNs?: number;
  /** Callback delay above the minimum: a lognormal tail, median ~0.1 ms, into milliseconds. */
  delayNs?: () => number;
  /** Event-loop stalls: callbacks due inside [atNs, atNs + durationNs) run at its end. */
  stalls?: Array<{ atNs: bigint; durationNs: bigint }>;
  /**
   * The device's own clock stops, unreported (JACK's dummy driver late: it restarts its schedule): the
   * first period due at or after atNs is taken durationNs late, and the grid goes on from there.
   */
  clockPauses?: Array<{ atNs: bigint; durationNs: bigint }>;
  /** Grow the write-ahead queue from the callback lateness seen, up to this many periods (as the audify sink does). */
  maxQueuePeriods?: number;
  /**
   * An ALSA device xrun: when the queue runs dry the device stops, and restarts at a new phase once a
   * period is written again (default: the queue's owner inserts silence and the device runs on).
   */
  xrunOnUnderrun?: boolean;
}

/** From the write that ends an xrun to the device running again (ns): prepare and start. */
const XRUN_RESTART_NS = 1_300_000n;

export interface HeardPeriod {
  period: number;
  /** True time (virtual clock ns) at which its first frame was heard. */
  heardNs: bigint;
  content: Buffer;
}

export class VirtualSink implements OutputSink {
  readonly format: PcmFormat;
  readonly periodFrames: number;
  readonly description = 'virtual DAC';
  underrunPeriods = 0;
  xruns = 0;
  private readonly dac: DacClock;
  private readonly sizer: QueueSizer;
  private running = true;
  /** The device's current run: its first pop index and instant (a restart after an xrun starts a new one). */
  private segK = 0;
  private fill?: (p: number) => Buffer;
  private queue: Array<{ period: number; pcm: Buffer }> = [];
  private written = 0;
  private popped = 0;
  private startNs = 0n;
  private stopped = false;
  private pausesTaken: Array<{ atNs: bigint; durationNs: bigint }> = [];
  /** Called for every period as the device plays it. */
  onHeard?: (h: HeardPeriod) => void;

  constructor(private readonly o: VirtualSinkOptions) {
    this.format = o.format;
    this.periodFrames = o.periodFrames;
    this.dac = new DacClock(o.periodFrames, o.format.sampleRate, o.dacPrior);
    this.sizer = new QueueSizer(o.queuePeriods, o.maxQueuePeriods ?? o.queuePeriods, this.truePeriodNs());
  }

  /** Periods written ahead now (grows with the lateness seen when maxQueuePeriods allows). */
  get queueTarget(): number {
    return this.sizer.target;
  }

  private truePeriodNs(): number {
    return (this.periodFrames * 1e9) / (this.format.sampleRate * (1 + this.o.dacPpm * 1e-6));
  }

  private popTrueNs(k: number): bigint {
    return this.startNs + BigInt(Math.round((k - this.segK) * this.truePeriodNs()));
  }

  async start(fill: (p: number) => Buffer): Promise<void> {
    this.fill = fill;
    this.startNs = this.o.clock.nowNs();
    for (let i = 0; i < this.o.queuePeriods; i++) this.writeNext();
    this.schedulePop();
  }

  private writeNext(): void {
    const period = this.written + this.underrunPeriods;
    this.queue.push({ period, pcm: this.fill!(period) });
    this.written++;
    if (!this.running && !this.stopped) {
      // The write that ends an xrun: the device starts again, on a new phase.
      this.running = true;
      this.segK = this.popped;
      this.startNs = this.o.clock.nowNs() + XRUN_RESTART_NS;
      this.schedulePop();
    }
  }

  get gridMoves(): number {
    return this.dac.gridMoves;
  }

  private schedulePop(): void {
    const k = this.popped;
    let due = this.popTrueNs(k);
    const pause = this.o.clockPauses?.find((x) => due >= x.atNs && this.pausesTaken.indexOf(x) < 0);
    if (pause) {
      this.pausesTaken.push(pause);
      this.segK = k;
      this.startNs = due + pause.durationNs;
      due = this.startNs;
    }
    this.o.clock.setTimer(Number(due - this.o.clock.nowNs()), () => {
      if (this.stopped) return;
      this.popped++;
      const item = this.queue.shift();
      const heardNs = due + BigInt(Math.round((this.o.devicePeriods ?? 4) * this.truePeriodNs()));
      if (!item && this.o.xrunOnUnderrun) {
        // ALSA: the device stops; its period grid is gone, so is what the DAC clock learned of it.
        this.popped--;
        this.running = false;
        this.xruns++;
        this.dac.reset();
        return;
      }
      if (!item || item.period !== k) {
        // Queue ran dry: the device plays silence for this period, the rest shifts one period later.
        if (item) this.queue.unshift(item);
        this.underrunPeriods++;
        this.onHeard?.({ period: k, heardNs, content: Buffer.alloc(0) });
      } else {
        this.onHeard?.({ period: k, heardNs, content: item.pcm });
        const delay =
          (this.o.minDelayNs ?? 30_000) +
          (this.o.delayNs?.() ?? Math.exp(Math.log(100_000) + 1.0 * gaussian(this.o.random)));
        let at = this.o.clock.nowNs() + BigInt(Math.round(delay));
        for (const st of this.o.stalls ?? [])
          if (at >= st.atNs && at < st.atNs + st.durationNs) at = st.atNs + st.durationNs;
        this.o.clock.setTimer(Number(at - this.o.clock.nowNs()), () => {
          if (this.stopped) return;
          const now = this.o.clock.nowNs();
          if (k >= this.o.queuePeriods) {
            this.dac.observe(k, now);
            const pop = this.dac.popMonoNs(k);
            if (pop !== undefined) this.sizer.observe(Number(now - pop));
          }
          this.writeNext();
          while (this.running && this.queue.length < this.sizer.target) this.writeNext();
        });
      }
      this.schedulePop();
    });
  }

  holdPlacement(on: boolean): void {
    this.dac.hold(on);
  }

  placementHeldNs(): number {
    return this.dac.heldNs;
  }

  presentationMonoNs(streamPeriod: number): bigint | undefined {
    // Heard once the device has played the buffer ahead of it: in the DAC's own time, not nominal.
    return this.dac.popMonoNs(streamPeriod + (this.o.devicePeriods ?? 4));
  }

  dacRate(): DacRate | undefined {
    return this.dac.savableRate();
  }

  dacUnsavedWhy(): string | undefined {
    return this.dac.whyNotSavable();
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}
