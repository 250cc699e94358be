import type { Timescale } from '../time/timescale.js';
import { resampleCubic } from './resample.js';
import type { OutputSink } from './sinks/sink.js';

/** What the engine reads the timeline from: TrackQueue, or a synthetic signal in simulations. */
export interface TimelineAudio {
  readonly frameBytes: number;
  /** Frame at which the timeline ends, once known. */
  readonly endFrame: number | undefined;
  render(frame: number, count: number, out: Buffer): void;
  advance(frame: number): void;
  /** Playback jumped to `frame` (a re-seek): have what plays there, wherever it is. */
  seek?(frame: number): void;
}

/**
 * The output aligner: puts the timeline on the output stream and keeps it there. For every period
 * it asks the sink when that period will be heard (the DAC clock, learned from callbacks) and the
 * timescale which UTC that is, which gives the timeline frame that *should* be heard then. The first
 * frame is placed on the exact sample; after that the read position follows the target by
 * fractional resampling (feed-forward of the measured DAC/UTC ratio plus a proportional correction,
 * bounded so no one hears it), and only an error far beyond that range re-seeks. A start in the past
 * is a late join: playback begins inside the timeline at the frame that belongs there.
 */

/** Correct this fraction of the position error per period: ~20 periods (0.4 s) time constant. */
export const CORRECTION_GAIN = 0.05;
/** Largest speed change (ppm): covers a ±100 ppm DAC plus a 500 ppm clock slew; 0.1 % is inaudible. */
export const MAX_RATIO_DEVIATION = 1000e-6;
/**
 * Beyond this error (frames, 50 ms) resampling would take too long: re-seek, with a short fade.
 * Lower (10 ms) was tried: on a machine loaded to the limit, transient estimates crossed it and
 * the re-seeks did more harm than the error they fixed.
 */
export const SEEK_THRESHOLD_FRAMES = 2400;
/** Play bit-exact (no interpolation) while the error stays under half a sample and the rates agree to 1 ppm. */
const EXACT_ERROR_FRAMES = 0.5;
const EXACT_RATIO = 1e-6;
/** JAUDIOSYNC_TRACE_ALIGN=1: one line per period on stderr (error, feed-forward, ratio). */
const TRACE = Boolean(process.env.JAUDIOSYNC_TRACE_ALIGN);
/** Fade applied on each side of a re-seek so that it does not click (frames, ~5 ms). */
const SEEK_FADE_FRAMES = 240;

export interface EngineOptions {
  startUtcNs: bigint;
  /** Per-device latency trim (ns): positive plays later (compensates a DAC or amplifier delay). */
  trimNs: number;
  timescale: () => Timescale;
  nowNs: () => bigint;
  /** Refuse to place the start while the clock's error bound exceeds this (ns); Infinity = any clock. */
  maxErrorNs: number;
  /** Compute positions only, render no audio (long simulations). */
  dry?: boolean;
  /** Volume (dB, 0 = as decoded); read every period, changes ramp over the period (no zipper noise). */
  gainDb?: () => number;
  /** stereo as is; mono (L+R)/2 on both; left or right: that channel on both (a speaker of a spread pair). */
  channelMode?: ChannelMode;
  /** Silent at this UTC instant (a pause or after a stop): the timeline runs on, the output fades. */
  mutedAt?: (utcNs: bigint) => boolean;
}

export type ChannelMode = 'stereo' | 'mono' | 'left' | 'right';

export interface EngineEvents {
  onStartPlaced?(info: { startStreamFrame: number; firstTimelineFrame: number; timescale: Timescale }): void;
  onFinished?(): void;
  onSeek?(errorFrames: number): void;
}

interface Written { period: number; pos: number; ratio: number }

export class PlaybackEngine {
  private pos?: number;
  private resampling = false;
  private finishedSaid = false;
  private fadeIn = 0;
  private readonly history: Written[] = [];
  private gain = 1;
  seeks = 0;
  /** Position error (frames) measured at the last period: positive = content ahead of the timeline. */
  lastErrorFrames = 0;
  lastRatio = 1;

  constructor(
    private readonly sink: OutputSink,
    private readonly tracks: TimelineAudio,
    private readonly opts: EngineOptions,
    private readonly events: EngineEvents = {},
  ) {}

  get placed(): boolean {
    return this.pos !== undefined;
  }

  /** The timeline position written into stream period p (for simulations that measure sync). */
  writtenAt(period: number): Written | undefined {
    return this.history.find((w) => w.period === period);
  }

  private targetFrame(ts: Timescale, monoNs: bigint): number {
    const rate = this.sink.format.sampleRate;
    return (Number(ts.utcAt(monoNs) - this.opts.startUtcNs) - this.opts.trimNs) * rate / 1e9;
  }

  /** Timeline frame being heard now (by the sink's estimate), or undefined before the start. */
  timelineFrameNow(): number | undefined {
    const now = this.opts.nowNs();
    for (let i = this.history.length - 1; i >= 0; i--) {
      const w = this.history[i]!;
      const pres = this.sink.presentationMonoNs(w.period);
      if (pres === undefined || pres > now) continue;
      const f = w.pos + (Number(now - pres) * this.sink.format.sampleRate / 1e9) * w.ratio;
      return f >= 0 ? Math.floor(f) : undefined;
    }
    return undefined;
  }

  /** The sink's pull: one period of PCM for stream period p. */
  fill(p: number): Buffer {
    const P = this.sink.periodFrames;
    const out = Buffer.alloc(this.opts.dry ? 0 : P * this.tracks.frameBytes);
    const pres0 = this.sink.presentationMonoNs(p);
    const pres1 = this.sink.presentationMonoNs(p + 1);
    if (pres0 === undefined || pres1 === undefined) return out;
    const ts = this.opts.timescale();
    const f0 = this.targetFrame(ts, pres0);
    const f1 = this.targetFrame(ts, pres1);
    let placing = false;
    if (this.pos === undefined) {
      if (ts.errorBoundAt(this.opts.nowNs()) > this.opts.maxErrorNs || f1 <= 0) return out;
      this.pos = Math.round(f0); // on the exact sample
      placing = true;
      this.events.onStartPlaced?.({ startStreamFrame: p * P - this.pos, firstTimelineFrame: Math.max(0, this.pos), timescale: ts });
    }
    let error = this.pos - f0;
    if (Math.abs(error) > SEEK_THRESHOLD_FRAMES) {
      this.events.onSeek?.(error);
      this.seeks++;
      this.pos = Math.round(f0);
      this.tracks.seek?.(this.pos);
      this.fadeIn = SEEK_FADE_FRAMES;
      error = this.pos - f0;
    }
    const ff = (f1 - f0) / P; // timeline frames per output frame that would hold the error constant
    let ratio = 1;
    // Errors inside what the clock itself knows (its bound) are its noise, not drift: chasing them
    // would resample an ideal device for nothing. Real drift soon exceeds it, and then we track.
    const noiseFrames = Math.max(EXACT_ERROR_FRAMES, (2 * ts.errorBoundAt(pres0) * this.sink.format.sampleRate) / 1e9);
    // The placing period plays unresampled, so timeline frame 0 lands on its exact sample.
    if (!placing && (this.resampling || Math.abs(error) > noiseFrames || Math.abs(ff - 1) > EXACT_RATIO)) {
      this.resampling = true;
      ratio = Math.min(1 + MAX_RATIO_DEVIATION, Math.max(1 - MAX_RATIO_DEVIATION, ff - (CORRECTION_GAIN * error) / P));
    }
    this.lastErrorFrames = error;
    this.lastRatio = ratio;
    if (TRACE) process.stderr.write(`trace p ${p} err ${error.toFixed(3)} ff ${((ff - 1) * 1e6).toFixed(1)} ratio ${((ratio - 1) * 1e6).toFixed(1)}\n`);
    this.history.push({ period: p, pos: this.pos, ratio });
    if (this.history.length > 256) this.history.shift();
    if (!this.opts.dry) {
      this.render(this.pos, ratio, P, out);
      this.mix(out, P, this.opts.mutedAt?.(ts.utcAt(pres0)) ?? false);
    }
    this.pos += P * ratio;
    this.tracks.advance(Math.floor(this.pos - P * ratio));
    const end = this.tracks.endFrame;
    if (end !== undefined && this.pos >= end && !this.finishedSaid) {
      this.finishedSaid = true;
      this.events.onFinished?.();
    }
    return out;
  }

  /** Channel mode, then volume ramped linearly across the period from the last gain to the new one. */
  private mix(out: Buffer, count: number, muted: boolean): void {
    const ch = this.sink.format.channels;
    const mode = this.opts.channelMode ?? 'stereo';
    const target = muted ? 0 : Math.pow(10, (this.opts.gainDb?.() ?? 0) / 20);
    if (mode === 'stereo' && target === 1 && this.gain === 1) return;
    const d = new Int16Array(out.buffer, out.byteOffset, out.length / 2);
    for (let i = 0; i < count; i++) {
      const g = this.gain + ((target - this.gain) * (i + 1)) / count;
      if (ch === 2 && mode !== 'stereo') {
        const l = d[2 * i]!, r = d[2 * i + 1]!;
        const v = mode === 'mono' ? (l + r) / 2 : mode === 'left' ? l : r;
        d[2 * i] = d[2 * i + 1] = clamp16(v * g);
      } else {
        for (let c = 0; c < ch; c++) d[i * ch + c] = clamp16(d[i * ch + c]! * g);
      }
    }
    this.gain = target;
  }

  private render(pos: number, ratio: number, count: number, out: Buffer): void {
    const ch = this.sink.format.channels;
    if (ratio === 1 && Number.isInteger(pos)) {
      this.tracks.render(pos, count, out);
    } else {
      const first = Math.floor(pos) - 1;
      const last = Math.floor(pos + (count - 1) * ratio) + 3;
      const block = Buffer.alloc((last - first) * this.tracks.frameBytes);
      this.tracks.render(first, last - first, block);
      const src = new Int16Array(block.buffer, block.byteOffset, block.length / 2);
      const dst = new Int16Array(out.buffer, out.byteOffset, out.length / 2);
      resampleCubic(src, first, ch, pos, ratio, count, dst);
    }
    if (this.fadeIn > 0) {
      const dst = new Int16Array(out.buffer, out.byteOffset, out.length / 2);
      const n = Math.min(count, this.fadeIn);
      for (let i = 0; i < n; i++) {
        const g = (SEEK_FADE_FRAMES - this.fadeIn + i) / SEEK_FADE_FRAMES;
        for (let c = 0; c < ch; c++) dst[i * ch + c] = Math.round(dst[i * ch + c]! * g);
      }
      this.fadeIn -= n;
    }
  }
}

function clamp16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
}
