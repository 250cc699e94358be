import type { RtAudioLike } from '../player/sinks/audify-sink.js';
import type { VirtualClock } from '../time/clock.js';

/**
 * A twin of what AudifySink sees of audify + RtAudio's ALSA thread, in virtual time: audify's queue
 * of written buffers; RtAudio's callback thread, whose event k pops a buffer (or plays silence when
 * the queue is empty), then blocks in writei until the device has room, then ticks streamTime (so a
 * silent event is counted only when its write returns); the device buffer filled at once at the
 * start (a burst of events), its delay read after each write (partial during the burst, as RtAudio's
 * getStreamLatency reads it); the JS frame callback for each pop delivered late by the event loop, in
 * order, and all at once at the end of a stall; with `stamps`, carrying the instant of its pop (audify
 * as scripts/audify-stamp.mjs builds it), else nothing (audify as published). It records what
 * really played in each device period, so a test can check the sink's period numbering against the truth.
 */

export interface RtAudioTwinOptions {
  clock: VirtualClock;
  periodFrames: number;
  sampleRate: number;
  /** Periods of the device's buffer (RtAudio's ALSA default: 4). */
  devicePeriods?: number;
  /** Delay from a pop to its JS callback (ns). */
  jsDelayNs: (k: number) => number;
  /** Event-loop stalls (virtual ns): callbacks due inside one run at its end. */
  stalls?: Array<{ atNs: bigint; durationNs: bigint }>;
  /**
   * The device's clock stops, unreported (a sound server late for its deadline): the first event due at
   * or after atNs comes durationNs late, and every later one with it.
   */
  devicePauses?: Array<{ atNs: bigint; durationNs: bigint }>;
  /** false: a driver whose snd_pcm_delay never reads above 0 (RtAudio's getStreamLatency stays 0). */
  reportsDelay?: boolean;
  /** The JS callback gets the pop's instant (ns), as audify patched by scripts/audify-stamp.mjs does. */
  stamps?: boolean;
  /** ...read on another clock, this far off (ns): a build whose stamp is not CLOCK_MONOTONIC. */
  stampOffsetNs?: number;
  /**
   * The audio thread's wake-up after the device made room for period k (ns): in its stamp, and so in
   * the JS callback after it. Default 0.
   */
  threadDelayNs?: (k: number) => number;
}

export class RtAudioTwin implements RtAudioLike {
  streamTime = 0;
  /** Per device period k: the index of the buffer written that played in it, or -1 for silence. */
  readonly played: number[] = [];
  private readonly queue: number[] = [];
  private written = 0;
  private cb: ((stampNs?: number) => void) | null = null;
  private lastWokeNs = 0n;
  private running = false;
  private lastJsNs = 0n;
  private startNs = 0n;
  /** The device's delay after the newest write (frames): RtAudio's getStreamLatency, 0 before the first. */
  private delayFrames = 0;
  /** Device pauses taken: from event fromK on, events come ns later. */
  private shifts: Array<{ fromK: number; ns: bigint; pause: { atNs: bigint } }> = [];

  constructor(private readonly o: RtAudioTwinOptions) {}

  getDevices() {
    return [
      {
        id: 0,
        name: 'twin',
        outputChannels: 2,
        inputChannels: 0,
        duplexChannels: 0,
        isDefaultOutput: true,
        isDefaultInput: false,
        sampleRates: [this.o.sampleRate],
        preferredSampleRate: this.o.sampleRate,
        nativeFormats: 2,
      },
    ] as unknown as ReturnType<RtAudioLike['getDevices']>;
  }

  getDefaultOutputDevice(): number {
    return 0;
  }

  openStream(...args: Parameters<RtAudioLike['openStream']>): number {
    this.cb = args[7];
    return this.o.periodFrames;
  }

  setFrameOutputCallback(cb: ((stampNs?: number) => void) | null): void {
    this.cb = cb;
  }

  write(_pcm: Buffer): void {
    this.queue.push(this.written++);
  }

  getStreamLatency(): number {
    return this.delayFrames;
  }

  start(): void {
    this.running = true;
    this.startNs = this.o.clock.nowNs();
    this.event(0);
  }

  stop(): void {
    this.running = false;
  }

  closeStream(): void {
    this.running = false;
  }

  private get periodNs(): number {
    return (this.o.periodFrames * 1e9) / this.o.sampleRate;
  }

  /** When device period k is heard: its event plus the device buffer ahead of it. */
  heardNs(k: number): bigint {
    return this.eventNs(k) + BigInt(Math.round((this.o.devicePeriods ?? 4) * this.periodNs));
  }

  /** When event k begins: at once while the device buffer fills, then one period apart. */
  private eventNs(k: number): bigint {
    const b = this.o.devicePeriods ?? 4;
    let shift = 0n;
    for (const x of this.shifts) if (k >= x.fromK) shift += x.ns;
    return this.startNs + shift + BigInt(Math.round(Math.max(0, k - b + 1) * this.periodNs));
  }

  private event(k: number): void {
    if (!this.running) return;
    const buf = this.queue.shift();
    this.played[k] = buf ?? -1;
    if (buf !== undefined) this.deliver(k);
    // Its write: the buffer fills during the burst, and is full after every write from then on.
    if (this.o.reportsDelay !== false)
      this.delayFrames = Math.min(k + 1, this.o.devicePeriods ?? 4) * this.o.periodFrames;
    // writei returns when the device has room for the next: then the tick, then event k + 1.
    let next = this.eventNs(k + 1);
    const pause = this.o.devicePauses?.find((x) => next >= x.atNs && !this.shifts.some((y) => y.pause === x));
    if (pause) {
      this.shifts.push({ fromK: k + 1, ns: pause.durationNs, pause });
      next = this.eventNs(k + 1);
    }
    this.o.clock.setTimer(Number(next - this.o.clock.nowNs()), () => {
      if (!this.running) return;
      this.streamTime += this.o.periodFrames / this.o.sampleRate;
      this.event(k + 1);
    });
  }

  /** The JS callback: late by the event loop, in order, and at a stall's end if due inside it. */
  private deliver(k: number): void {
    // One thread takes the buffers in turn: never before it took the last.
    let wokeNs = this.o.clock.nowNs() + BigInt(Math.round(this.o.threadDelayNs?.(k) ?? 0));
    if (wokeNs < this.lastWokeNs) wokeNs = this.lastWokeNs;
    this.lastWokeNs = wokeNs;
    const poppedNs = Number(wokeNs) + (this.o.stampOffsetNs ?? 0);
    let at = wokeNs + BigInt(Math.round(this.o.jsDelayNs(k)));
    for (const st of this.o.stalls ?? [])
      if (at >= st.atNs && at < st.atNs + st.durationNs) at = st.atNs + st.durationNs;
    if (at < this.lastJsNs) at = this.lastJsNs;
    this.lastJsNs = at;
    this.o.clock.setTimer(Number(at - this.o.clock.nowNs()), () => {
      if (this.running) this.cb?.(this.o.stamps ? poppedNs : undefined);
    });
  }
}
