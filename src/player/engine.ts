import type { Timescale } from '../time/timescale.js';
import type { OutputSink } from './sinks/sink.js';
import type { TrackQueue } from './tracks.js';

/**
 * Puts the timeline on the output stream. Timeline frame 0 belongs at UTC `startUtcNs`; the
 * engine asks the sink when a stream period will be heard and the timescale which local instant
 * is the start, and fixes the stream frame that carries timeline frame 0 (a past start is a late
 * join: playback begins inside the timeline at the frame that belongs there).
 * First version: the offset is fixed once; the aligner (DLL on the device clock, DAC-rate learning,
 * fractional resampling) is the player issue's work on this seam.
 */

/** Fix the start when it is this close: far enough ahead of the device queue, late enough for a settled clock. */
export const DECIDE_HORIZON_NS = 1_000_000_000;

export interface EngineOptions {
  startUtcNs: bigint;
  /** Per-device latency trim (ns): positive plays later (compensates a DAC or amplifier delay). */
  trimNs: number;
  timescale: () => Timescale;
  nowNs: () => bigint;
  /** Refuse to place the start while the clock's error bound exceeds this (ns); Infinity = any clock. */
  maxErrorNs: number;
}

export interface EngineEvents {
  onStartPlaced?(info: { startStreamFrame: number; firstTimelineFrame: number; timescale: Timescale }): void;
  onFinished?(): void;
}

export class PlaybackEngine {
  /** Stream frame that carries timeline frame 0 (negative or passed = joined late). */
  private startStreamFrame?: number;
  private lastTimelineFrame = -1;
  private finishedSaid = false;

  constructor(
    private readonly sink: OutputSink,
    private readonly tracks: TrackQueue,
    private readonly opts: EngineOptions,
    private readonly events: EngineEvents = {},
  ) {}

  get placed(): boolean {
    return this.startStreamFrame !== undefined;
  }

  /** Timeline frame being heard now (by the sink's estimate), or undefined before the start. */
  timelineFrameNow(): number | undefined {
    if (this.startStreamFrame === undefined) return undefined;
    const p0 = this.sink.presentationMonoNs(0);
    if (p0 === undefined) return undefined;
    const rate = this.sink.format.sampleRate;
    const streamFrame = (Number(this.opts.nowNs() - p0) * rate) / 1e9;
    const f = Math.floor(streamFrame - this.startStreamFrame);
    return f >= 0 ? f : undefined;
  }

  /** The sink's pull: one period of PCM for stream period p. */
  fill(p: number): Buffer {
    const P = this.sink.periodFrames;
    const out = Buffer.alloc(P * this.tracks.frameBytes);
    if (this.startStreamFrame === undefined) this.tryPlace(p);
    if (this.startStreamFrame === undefined) return out;
    const firstFrame = p * P - this.startStreamFrame;
    if (firstFrame + P <= 0) return out; // still before the start
    this.tracks.render(firstFrame, P, out);
    this.lastTimelineFrame = firstFrame + P - 1;
    this.tracks.advance(firstFrame);
    const end = this.tracks.endFrame;
    if (end !== undefined && firstFrame >= end && !this.finishedSaid) {
      this.finishedSaid = true;
      this.events.onFinished?.();
    }
    return out;
  }

  /** The last timeline frame handed to the device. */
  get writtenTimelineFrame(): number {
    return this.lastTimelineFrame;
  }

  private tryPlace(p: number): void {
    const presNs = this.sink.presentationMonoNs(p);
    if (presNs === undefined) return;
    const ts = this.opts.timescale();
    if (ts.errorBoundAt(this.opts.nowNs()) > this.opts.maxErrorNs) return;
    const startMonoNs = ts.monoAt(this.opts.startUtcNs) + BigInt(Math.round(this.opts.trimNs));
    const untilNs = Number(startMonoNs - presNs);
    if (untilNs > DECIDE_HORIZON_NS) return;
    const rate = this.sink.format.sampleRate;
    this.startStreamFrame = p * this.sink.periodFrames + Math.round((untilNs * rate) / 1e9);
    this.events.onStartPlaced?.({
      startStreamFrame: this.startStreamFrame,
      firstTimelineFrame: Math.max(0, p * this.sink.periodFrames - this.startStreamFrame),
      timescale: ts,
    });
  }
}
