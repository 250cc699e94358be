import type { Timescale } from '../time/timescale.js';
import { pieceGainAt, type Plan, type PlanPiece } from './plan.js';
import { resampleCubic } from './resample.js';
import type { OutputSink } from './sinks/sink.js';

/** What the engine reads the timeline from: TrackQueue, or a synthetic signal in simulations. */
export interface TimelineAudio {
  readonly frameBytes: number;
  /** Frame at which the timeline ends, once known. */
  readonly endFrame: number | undefined;
  render(frame: number, count: number, out: Buffer): void;
  advance(frame: number): void;
  /** Playback jumped to `frame` (a re-seek, a plan's jump): have what plays there, wherever it is. */
  seek?(frame: number): void;
}

/**
 * The output aligner: puts the plan on the output stream and keeps it there. For every period it
 * asks the sink when that period will be heard (the DAC clock, learned from callbacks) and the
 * timescale which UTC that is; frame i of the period is heard at its own instant (pres0 + i·(pres1 −
 * pres0)/P, through the timescale), and the plan says, per frame, which timeline frame belongs
 * there and at what gain. A timeline discontinuity (a seek, skip, resume, the first frame) splits the
 * period at its exact frame: the read position is placed there on the exact sample, never resampled
 * across. Between discontinuities the read position follows the target by fractional resampling
 * (feed-forward of the measured DAC/UTC ratio plus a proportional correction, bounded so no one
 * hears it), and only an error far beyond that range re-seeks. A start in the past is a late join.
 * An underrun the sink reports (its period count jumps) or a moved device grid (its clock learned
 * again) re-places the read position exactly.
 */

/** Correct this fraction of the position error per period: ~20 periods (0.4 s) time constant. */
export const CORRECTION_GAIN = 0.05;
/** Largest speed change (ppm): covers a ±100 ppm DAC plus a 500 ppm clock slew; 0.1 % is inaudible. */
export const MAX_RATIO_DEVIATION = 1000e-6;
/**
 * Beyond this error (frames, 5 ms) resampling would take too long (5 s at the 1000 ppm limit, the
 * music that far off meanwhile): re-seek, exactly, with a short fade. An error this size is a
 * discontinuity (the DAC clock's line moved by a callback proving it late after a loaded start, a
 * silent period counted late), not drift, which the resampling keeps to µs. (With the earlier DAC
 * clock, which refitted to callback jitter, transient estimates crossed 10 ms on a loaded machine,
 * and the threshold was 50 ms.)
 */
export const SEEK_THRESHOLD_FRAMES = 240;
/** Play bit-exact (no interpolation) while the error stays under half a sample and the rates agree to 1 ppm. */
const EXACT_ERROR_FRAMES = 0.5;
const EXACT_RATIO = 1e-6;
/** JAUDIOSYNC_TRACE_ALIGN=1: one line per period on stderr (error, feed-forward, ratio). */
const TRACE = Boolean(process.env.JAUDIOSYNC_TRACE_ALIGN);
/** Fade applied after a re-seek so that it does not click (frames, ~5 ms). */
const SEEK_FADE_FRAMES = 240;

export interface EngineOptions {
  /** What should sound when: read every period, so it may be swapped at any time (SIGHUP, a fleet command). */
  plan: () => Plan;
  /** Per-device latency trim (ns): positive plays later (compensates a DAC or amplifier delay). */
  trimNs: number;
  timescale: () => Timescale;
  nowNs: () => bigint;
  /** Refuse to place the first frame while the clock's error bound exceeds this (ns); Infinity = any clock. */
  maxErrorNs: number;
  /** Compute positions only, render no audio (long simulations). */
  dry?: boolean;
  /** stereo as is; mono (L+R)/2 on both; left or right: that channel on both (a speaker of a spread pair). */
  channelMode?: ChannelMode;
  /**
   * A per-device gain (linear, 1 = as planned) of the local monotonic instant a frame is heard: the
   * SIGTERM fade. Not part of the plan: it is this device's alone.
   */
  localGainAt?: (monoNs: bigint) => number;
}

export type ChannelMode = 'stereo' | 'mono' | 'left' | 'right';

export interface EngineEvents {
  onStartPlaced?(info: { startStreamFrame: number; firstTimelineFrame: number; timescale: Timescale }): void;
  /** The music ended: the timeline's end was played ('end'), or the plan stopped it first ('stop'). */
  onFinished?(how: 'end' | 'stop'): void;
  onSeek?(errorFrames: number): void;
  /** The read position was placed on a plan discontinuity (jump) or after an underrun (re-place). */
  onPlaced?(info: { streamFrame: number; timelineFrame: number; why: 'jump' | 'underrun' | 'regrid' }): void;
}

/** One stretch of a period read continuously from the timeline: from output frame `atFrame` on. */
export interface WrittenPart {
  atFrame: number;
  count: number;
  pos: number;
  ratio: number;
}
/**
 * What was written into a stream period: `pos`/`ratio` extrapolate the first part to frame 0 (the common case: one
 * part).
 */
export interface Written {
  period: number;
  pos: number;
  ratio: number;
  parts: WrittenPart[];
}

/** A stretch of output frames [k0, k1) of one period, read from the timeline (or silent). */
interface Span {
  k0: number;
  k1: number;
  target?: number;
  framesPerOut: number;
  place: boolean;
}

export class PlaybackEngine {
  private pos?: number;
  private resampling = false;
  private finishedSaid = false;
  private fadeIn = 0;
  private readonly history: Written[] = [];
  /** The read position was on the timeline at the end of the last period (not silent, held or ended). */
  private continuing = false;
  private lastU1?: bigint;
  /** The plan's UTC up to which periods are rendered (queued for the device, beyond recall); none yet: undefined. */
  get renderedToUtcNs(): bigint | undefined {
    return this.lastU1;
  }
  private underrunsSeen = 0;
  private gridMovesSeen = 0;
  private gains?: Float32Array;
  seeks = 0;
  /** Placements on plan discontinuities and underrun re-placements. */
  placements = 0;
  /** Position error (frames) measured at the last period: positive = content ahead of the timeline. */
  lastErrorFrames = 0;
  /** How far ahead the music plays by the sink's newest timing estimate (ns): what its hold keeps out of the line. */
  get heldAheadNs(): number {
    return this.sink.placementHeldNs?.() ?? 0;
  }
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
    for (let i = this.history.length - 1; i >= 0; i--) if (this.history[i]!.period === period) return this.history[i];
    return undefined;
  }

  /** Timeline frame being heard now (by the sink's estimate), or undefined before the start or while silent. */
  timelineFrameNow(): number | undefined {
    const now = this.opts.nowNs();
    const P = this.sink.periodFrames;
    for (let i = this.history.length - 1; i >= 0; i--) {
      const w = this.history[i]!;
      const pres = this.sink.presentationMonoNs(w.period);
      if (pres === undefined || pres > now) continue;
      const k = (Number(now - pres) * this.sink.format.sampleRate) / 1e9;
      const part = [...w.parts].reverse().find((x) => x.atFrame <= Math.min(k, P));
      if (!part) return undefined;
      const f = part.pos + Math.min(k - part.atFrame, part.count) * part.ratio;
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
    if (pres0 === undefined || pres1 === undefined) {
      this.continuing = false;
      this.sink.holdPlacement?.(false);
      return out;
    }
    const ts = this.opts.timescale();
    const trim = BigInt(Math.round(this.opts.trimNs));
    // The plan is asked at u − trim: positive trim plays everything later.
    const u0 = ts.utcAt(pres0) - trim,
      u1 = ts.utcAt(pres1) - trim;
    const nsPerOut = Number(u1 - u0) / P;
    const plan = this.opts.plan();
    const pieces = plan.pieces(u0, u1);
    // A discontinuity between the last period's window and this one (the timescale moved) still counts.
    const missedJump =
      this.lastU1 !== undefined && this.lastU1 < u0 && plan.discontinuities(this.lastU1, u0).length > 0;
    this.lastU1 = u1;
    // An underrun moved the device's numbering on, or its grid moved: what was followed is gone, place again.
    const underrun = this.sink.underrunPeriods !== this.underrunsSeen;
    this.underrunsSeen = this.sink.underrunPeriods;
    const regrid = (this.sink.gridMoves ?? 0) !== this.gridMovesSeen;
    this.gridMovesSeen = this.sink.gridMoves ?? 0;
    const spans = toSpans(pieces, u0, nsPerOut, P, missedJump || underrun || regrid);
    const parts: WrittenPart[] = [];
    for (const s of spans) {
      if (s.target === undefined) {
        this.continuing = false;
        continue;
      }
      const part = this.playSpan(p, s, ts, pres0, out, underrun ? 'underrun' : regrid ? 'regrid' : 'jump');
      if (part) parts.push(part);
    }
    if (parts.length) {
      this.sink.musicPlays?.();
      const first = parts[0]!;
      this.history.push({ period: p, pos: first.pos - first.atFrame * first.ratio, ratio: first.ratio, parts });
      if (this.history.length > 256) this.history.shift();
      this.tracks.advance(Math.floor(Math.min(...parts.map((x) => x.pos))));
    }
    // While the music plays on, the sink's timing estimate keeps its place inside its own noise.
    this.sink.holdPlacement?.(this.continuing);
    if (!this.opts.dry && parts.length) this.mix(out, pieces, u0, nsPerOut, pres0, pres1, P);
    else if (!this.opts.dry) out.fill(0);
    const end = this.tracks.endFrame;
    const planEnd = plan.endUtcNs;
    if (
      !this.finishedSaid &&
      this.pos !== undefined &&
      ((end !== undefined && this.pos >= end) || (planEnd !== undefined && u0 >= planEnd))
    ) {
      this.finishedSaid = true;
      this.events.onFinished?.(end !== undefined && this.pos >= end ? 'end' : 'stop');
    }
    return out;
  }

  /** Reads one span of the timeline into `out`: placing it exactly, or following on with resampling. */
  private playSpan(
    p: number,
    s: Span,
    ts: Timescale,
    pres0: bigint,
    out: Buffer,
    why: 'jump' | 'underrun' | 'regrid',
  ): WrittenPart | undefined {
    const P = this.sink.periodFrames;
    const count = s.k1 - s.k0;
    const target = s.target!;
    const first = this.pos === undefined;
    let place = s.place || first || !this.continuing;
    if (first) {
      // The first frame waits for a good enough clock, and for the period that reaches frame 0.
      if (ts.errorBoundAt(this.opts.nowNs()) > this.opts.maxErrorNs || target + count * s.framesPerOut <= 0)
        return undefined;
    }
    let ratio = 1;
    if (place) {
      this.pos = Math.round(target); // on the exact sample
      if (first) {
        this.events.onStartPlaced?.({
          startStreamFrame: p * P + s.k0 - this.pos,
          firstTimelineFrame: Math.max(0, this.pos),
          timescale: ts,
        });
      } else {
        this.placements++;
        this.tracks.seek?.(this.pos);
        this.events.onPlaced?.({
          streamFrame: p * P + s.k0,
          timelineFrame: this.pos,
          why,
        });
      }
      this.lastErrorFrames = this.pos - target;
    } else {
      let error = this.pos! - target;
      if (Math.abs(error) > SEEK_THRESHOLD_FRAMES) {
        this.events.onSeek?.(error);
        this.seeks++;
        this.pos = Math.round(target);
        this.tracks.seek?.(this.pos);
        this.fadeIn = SEEK_FADE_FRAMES;
        error = this.pos - target;
        place = true;
      }
      const ff = s.framesPerOut; // timeline frames per output frame that would hold the error constant
      // Errors inside what the clock itself knows (its bound) are its noise, not drift: chasing them
      // would resample an ideal device for nothing. Real drift soon exceeds it, and then we track.
      const noiseFrames = Math.max(
        EXACT_ERROR_FRAMES,
        (2 * ts.errorBoundAt(pres0) * this.sink.format.sampleRate) / 1e9,
      );
      if (!place && (this.resampling || Math.abs(error) > noiseFrames || Math.abs(ff - 1) > EXACT_RATIO)) {
        this.resampling = true;
        ratio = Math.min(
          1 + MAX_RATIO_DEVIATION,
          Math.max(1 - MAX_RATIO_DEVIATION, ff - (CORRECTION_GAIN * error) / P),
        );
      }
      this.lastErrorFrames = error;
    }
    this.lastRatio = ratio;
    this.continuing = true;
    if (TRACE)
      process.stderr.write(
        `trace p ${p} k ${s.k0} err ${this.lastErrorFrames.toFixed(3)} ff ${((s.framesPerOut - 1) * 1e6).toFixed(1)} ratio ${((ratio - 1) * 1e6).toFixed(1)}${place ? ' placed' : ''}\n`,
      );
    const part: WrittenPart = { atFrame: s.k0, count, pos: this.pos!, ratio };
    if (!this.opts.dry)
      this.render(this.pos!, ratio, count, out.subarray(s.k0 * this.tracks.frameBytes, s.k1 * this.tracks.frameBytes));
    this.pos! += count * ratio;
    return part;
  }

  /**
   * Per frame: the plan's gain at the frame's own UTC instant times the local gain, and the channel
   * mode. Silent pieces (held, ended) are zeroed. Nothing to do when all is unity and stereo.
   */
  private mix(
    out: Buffer,
    pieces: PlanPiece[],
    u0: bigint,
    nsPerOut: number,
    pres0: bigint,
    pres1: bigint,
    P: number,
  ): void {
    const ch = this.sink.format.channels;
    const mode = this.opts.channelMode ?? 'stereo';
    const l0 = this.opts.localGainAt?.(pres0) ?? 1,
      l1 = this.opts.localGainAt?.(pres1) ?? 1;
    const unity = l0 === 1 && l1 === 1 && pieces.every((x) => x.frame !== undefined && x.gainA.length === 0);
    if (mode === 'stereo' && unity) return;
    if (!this.gains || this.gains.length !== P) this.gains = new Float32Array(P);
    const g = this.gains;
    for (const piece of pieces) {
      const k0 = frameIndex(piece.fromUtcNs, u0, nsPerOut, P),
        k1 = frameIndex(piece.toUtcNs, u0, nsPerOut, P);
      const off = Number(piece.fromUtcNs - u0);
      for (let k = k0; k < k1; k++)
        g[k] = piece.frame === undefined ? 0 : pieceGainAt(piece, k * nsPerOut - off) * (l0 + ((l1 - l0) * k) / P);
    }
    const d = new Int16Array(out.buffer, out.byteOffset, out.length / 2);
    for (let i = 0; i < P; i++) {
      const gi = g[i]!;
      if (ch === 2 && mode !== 'stereo') {
        const l = d[2 * i]!,
          r = d[2 * i + 1]!;
        const v = mode === 'mono' ? (l + r) / 2 : mode === 'left' ? l : r;
        d[2 * i] = d[2 * i + 1] = clamp16(v * gi);
      } else if (gi !== 1) {
        for (let c = 0; c < ch; c++) d[i * ch + c] = clamp16(d[i * ch + c]! * gi);
      }
    }
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

/** The first output frame of a period [u0, u0 + P·nsPerOut) whose instant is at or after u. */
function frameIndex(u: bigint, u0: bigint, nsPerOut: number, P: number): number {
  if (u <= u0) return 0;
  return Math.min(P, Math.ceil(Number(u - u0) / nsPerOut));
}

/**
 * The period's output frames grouped by the timeline: consecutive running pieces without a jump
 * are one span (one resampling ratio); a jump starts a new span that is placed; silent pieces are
 * spans without a target. A jump that covers no output frame passes its placing on to the next.
 */
function toSpans(pieces: PlanPiece[], u0: bigint, nsPerOut: number, P: number, placeFirst: boolean): Span[] {
  const spans: Span[] = [];
  let pendingPlace = placeFirst;
  for (const piece of pieces) {
    const k0 = frameIndex(piece.fromUtcNs, u0, nsPerOut, P),
      k1 = frameIndex(piece.toUtcNs, u0, nsPerOut, P);
    const running = piece.frame !== undefined;
    const place = pendingPlace || (running && piece.jump);
    if (k0 === k1) {
      if (running && piece.jump) pendingPlace = true;
      continue;
    }
    pendingPlace = false;
    const last = spans.at(-1);
    if (running && last?.target !== undefined && !place) {
      last.k1 = k1;
      continue;
    }
    if (!running && last && last.target === undefined) {
      last.k1 = k1;
      continue;
    }
    const target = running
      ? piece.frame! + (k0 * nsPerOut - Number(piece.fromUtcNs - u0)) * piece.framesPerNs
      : undefined;
    spans.push({ k0, k1, target, framesPerOut: piece.framesPerNs * nsPerOut, place });
  }
  return spans;
}

function clamp16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
}
