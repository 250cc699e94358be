import { existsSync, readFileSync } from 'node:fs';
import { readStampedRecording, type StampedRecording } from './jack-stamps.js';

/**
 * The start-error bench's clock: what bench/jack-rec-stamped.c wrote, read on the JACK driver's own
 * schedule instead of JACK's DLL. The dummy driver wakes at deadlines exactly one period apart on
 * CLOCK_MONOTONIC; a process callback is entered late, never early, so within a stretch without
 * xruns the earliest (entry − frame / rate) is the schedule's phase, and frame f is at that phase
 * plus f / rate. An xrun may move the schedule: each xrun-free segment is anchored on its own, unless
 * the caller knows that none moved it (JACK's log names the late client: a late player does not move
 * the driver's schedule, the driver's own lateness does). Pure reading and arithmetic.
 */

export interface ScheduledRecording extends StampedRecording {
  /** Per cycle: [first frame, CLOCK_MONOTONIC ns the process callback was entered]. */
  entries: Array<[number, number]>;
  /** CLOCK_MONOTONIC − CLOCK_REALTIME (ns). */
  monoMinusRealtimeNs: number;
  /** Frames at which JACK reported an xrun to the recorder. */
  xrunFrames: number[];
  /** Recorder callbacks run after JACK had moved on to a later cycle (its frame counter ahead of theirs). */
  lateCycles: number;
  /** Per xrun-free segment: its first frame and the CLOCK_MONOTONIC ns of frame 0 on its schedule. */
  segments: Array<{ fromFrame: number; phaseNs: number }>;
}

export function readScheduledRecording(prefix: string, opts: { splitAtXruns?: boolean } = {}): ScheduledRecording {
  const base = readStampedRecording(prefix);
  const rows = readFileSync(`${prefix}.stamps`, 'utf8')
    .trim()
    .split('\n')
    .slice(2)
    .map((l) => l.split(' ').map(Number))
    .filter((c) => c.length >= 3);
  const entries = rows.map((c) => [c[0]!, c[2]!] as [number, number]);
  const jackFrames = rows.map((c) => c[3] ?? NaN);
  if (entries.length === 0)
    throw new Error(`${prefix}.stamps has no callback entry times: rebuild bench/jack-rec-stamped.c`);
  const meta = existsSync(`${prefix}.meta`) ? readFileSync(`${prefix}.meta`, 'utf8') : '';
  const mm = /^monominusrealtime (-?\d+)/m.exec(meta);
  if (!mm) throw new Error(`${prefix}.meta is missing or not a jack-rec-stamped file`);
  const xrunFrames = [...meta.matchAll(/^xrun (\d+)/gm)].map((m) => Number(m[1]));
  return {
    ...base,
    entries,
    monoMinusRealtimeNs: Number(mm[1]),
    xrunFrames,
    lateCycles: countLateCycles(entries, jackFrames),
    segments: anchorSegments(entries, opts.splitAtXruns === false ? [] : xrunFrames, base.rate),
  };
}

/**
 * Callbacks whose JACK frame counter advanced by other than the frames the recorder got since the
 * previous one: the callback ran late, when JACK was already in a later cycle (the counter read is
 * that cycle's). Said with a run; the reference decides whether the time base held. Zero when the
 * file has no counter column (an older recorder).
 */
export function countLateCycles(entries: Array<[number, number]>, jackFrames: number[]): number {
  let late = 0;
  for (let i = 1; i < entries.length; i++) {
    const [a, b] = [jackFrames[i - 1]!, jackFrames[i]!];
    if (!Number.isFinite(a) || !Number.isFinite(b)) return 0;
    // JACK's counter is 32 bits and wraps.
    if ((b - a) >>> 0 !== entries[i]![0] - entries[i - 1]![0]) late++;
  }
  return late;
}

/**
 * A segment whose earliest phase is no later than the one before it plus this (ns) is the same schedule
 * (the xrun only made a client late); later, the driver restarted it. Realtime callbacks come within tens of µs.
 */
export const SCHEDULE_MOVED_NS = 500_000;

/**
 * The schedule's phase per xrun-free segment: the earliest callback (entry − frame / rate) in it;
 * segments on the same schedule (see SCHEDULE_MOVED_NS) are one, with the earliest of their phases.
 */
export function anchorSegments(
  entries: Array<[number, number]>,
  xrunFrames: number[],
  rate: number,
): ScheduledRecording['segments'] {
  const bounds = [0, ...xrunFrames.filter((f) => f > 0)].sort((a, b) => a - b);
  const out: ScheduledRecording['segments'] = [];
  for (let s = 0; s < bounds.length; s++) {
    const from = bounds[s]!,
      to = bounds[s + 1] ?? Infinity;
    let phase = Infinity;
    for (const [f, ns] of entries) if (f >= from && f < to) phase = Math.min(phase, ns - (f * 1e9) / rate);
    if (!Number.isFinite(phase)) continue;
    const prev = out.at(-1);
    if (prev && phase <= prev.phaseNs + SCHEDULE_MOVED_NS) prev.phaseNs = Math.min(prev.phaseNs, phase);
    else out.push({ fromFrame: from, phaseNs: phase });
  }
  return out;
}

/** CLOCK_REALTIME ns at which (fractional) frame f was presented, on its segment's schedule. */
export function frameRealtimeNs(r: ScheduledRecording, frame: number): number {
  let seg = r.segments[0]!;
  for (const s of r.segments) if (s.fromFrame <= frame) seg = s;
  return seg.phaseNs + (frame * 1e9) / r.rate - r.monoMinusRealtimeNs;
}

/**
 * Rising edges of rectangular pulses on channel ch: the fractional frame where the signal crosses
 * `threshold` (linear between samples), plus half a frame so that an edge from 0 to a level above
 * twice the threshold lands on the frame the pulse starts at. A resampled edge is spread over a
 * few samples; its midpoint is still the edge. Edges closer than `minGapFrames` to the last count once.
 */
export function pulseOnsets(r: StampedRecording, ch: number, threshold = 0.25, minGapFrames = 4800): number[] {
  const frames = r.data.length / r.channels;
  const out: number[] = [];
  let prev = 0;
  for (let f = 0; f < frames; f++) {
    const x = r.data[f * r.channels + ch]!;
    if (prev < threshold && x >= threshold) {
      const at = f - 1 + (threshold - prev) / (x - prev) + 0.5;
      if (out.length === 0 || at - out.at(-1)! >= minGapFrames) out.push(at);
    }
    prev = x;
  }
  return out;
}
