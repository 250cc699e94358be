/**
 * The timeline as pure arithmetic: slot i of the playlist occupies timeline frames
 * [starts[i], starts[i] + frames[i]); the next slot starts `gapFrames` later; `repeat` plays the
 * whole list back to back again on the same fixed timeline (with the gap between passes too).
 * Identical inputs give identical timelines on every device. No I/O: the frame counts come from a
 * manifest or from decoding, the caller's business.
 *
 * Frame 0 is the start instant. The timeline ends where its last slot ends: no gap after it.
 * A slot of 0 frames (an entry left out on every device) takes no gap either.
 */

export interface Timeline {
  readonly sampleRate: number;
  readonly gapFrames: number;
  /** Frames of each slot in play order, repeats unrolled (a skipped slot has 0 frames). */
  readonly frames: readonly number[];
  /** First timeline frame of each slot. */
  readonly starts: readonly number[];
  /** Slots in one pass of the list (frames.length / passes). */
  readonly slotsPerPass: number;
  readonly passes: number;
  /** The frame after the last slot's last frame: the timeline's length in frames. */
  readonly endFrame: number;
}

export interface TimelineOptions {
  sampleRate: number;
  /** Silence between slots (frames). */
  gapFrames?: number;
  /** Passes of the list (playlist.repeat); 1 = once. */
  repeat?: number;
}

/** The gap between tracks in frames at a rate, as every device rounds it. */
export function gapFramesFor(gapMs: number, sampleRate: number): number {
  return Math.round((gapMs / 1000) * sampleRate);
}

export function buildTimeline(framesPerPass: readonly number[], o: TimelineOptions): Timeline {
  const gapFrames = o.gapFrames ?? 0;
  const passes = Math.max(1, Math.floor(o.repeat ?? 1));
  if (!Number.isInteger(gapFrames) || gapFrames < 0)
    throw new RangeError(`gap of ${gapFrames} frames: expected a whole number from 0`);
  const bad = framesPerPass.findIndex((f) => !Number.isInteger(f) || f < 0);
  if (bad >= 0)
    throw new RangeError(`slot ${bad + 1} has ${framesPerPass[bad]} frames: expected a whole number from 0`);
  const frames: number[] = [];
  for (let p = 0; p < passes; p++) frames.push(...framesPerPass);
  const starts: number[] = [];
  let at = 0;
  let endFrame = 0;
  for (const f of frames) {
    starts.push(at);
    if (f === 0) continue; // a skipped slot: as if absent, no gap of its own
    endFrame = at + f;
    at = endFrame + gapFrames;
  }
  return { sampleRate: o.sampleRate, gapFrames, frames, starts, slotsPerPass: framesPerPass.length, passes, endFrame };
}

/** Length of the timeline in seconds (what a daily start uses to tell "still playing"). */
export function timelineSec(tl: Timeline): number {
  return tl.endFrame / tl.sampleRate;
}

export interface SlotAt {
  /** 0-based slot in the (repeated) timeline. */
  index: number;
  /** Which pass of the list (0-based) and which entry of it. */
  pass: number;
  indexInPass: number;
  startFrame: number;
  frames: number;
  /** Frame within the slot at the asked timeline frame. */
  frameInTrack: number;
}

/**
 * The slot whose range [start, start + frames + gap) holds `frame`, the gap after it included:
 * 0 for a frame before the start, frames.length past the end. Binary search: long rides, many slots.
 */
export function slotIndexFor(tl: Timeline, frame: number): number {
  if (frame < 0 || tl.frames.length === 0) return 0;
  if (frame >= tl.endFrame) return tl.frames.length;
  let lo = 0,
    hi = tl.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tl.starts[mid]! <= frame) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** What plays at a timeline frame: undefined before the start, in a gap, in a 0-frame slot, after the end. */
export function slotAt(tl: Timeline, frame: number): SlotAt | undefined {
  if (frame < 0 || frame >= tl.endFrame) return undefined;
  const index = slotIndexFor(tl, frame);
  const startFrame = tl.starts[index]!;
  const frames = tl.frames[index]!;
  if (frame >= startFrame + frames) return undefined; // in the gap after it
  return {
    index,
    pass: Math.floor(index / tl.slotsPerPass),
    indexInPass: index % tl.slotsPerPass,
    startFrame,
    frames,
    frameInTrack: frame - startFrame,
  };
}

/** The timeline frame sounding at `utcNs` for a start at `startUtcNs` (floor; negative before the start). */
export function frameAtUtc(startUtcNs: bigint, utcNs: bigint, sampleRate: number): number {
  const dNs = utcNs - startUtcNs;
  // Whole seconds in bigint, the rest in double: exact for rides of any length.
  const sec = dNs / 1_000_000_000n;
  const rest = Number(dNs - sec * 1_000_000_000n);
  return Number(sec) * sampleRate + Math.floor((rest * sampleRate) / 1e9);
}

/** A late join lands this far past "now" (stream opening, first fills); the track is kept from before it. */
export const JOIN_LEAD_NS = 500_000_000;

/** The timeline frame to prepare for a device joining `lateNs` after the start. */
export function joinFrame(lateNs: number, sampleRate: number): number {
  return Math.floor(((lateNs + JOIN_LEAD_NS) / 1e9) * sampleRate);
}
