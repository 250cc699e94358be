import { existsSync, readFileSync } from 'node:fs';
import { median } from '../time/regress.js';
import { readStampedRecording, type StampedRecording } from './jack-stamps.js';

/**
 * The start-error bench's clock: what bench/jack-rec-stamped.c wrote, read on the JACK driver's own
 * schedule instead of JACK's DLL. The dummy driver wakes at deadlines exactly one period apart on
 * CLOCK_MONOTONIC; a process callback is entered late, never early, so within a stretch without
 * xruns the earliest (entry − frame / rate) is the schedule's phase, and frame f is at that phase
 * plus f / rate. An xrun may move the schedule: each xrun-free segment is anchored on its own, unless
 * the caller knows that none moved it (JACK's log names the late client: a late player does not move
 * the driver's schedule, the driver's own lateness does). Pure reading and arithmetic.
 *
 * A second anchor is read beside it (`dllPhaseNs`): the driver's own wake-ups, as JACK's DLL smooths
 * them (jack_get_cycle_times), their median per segment. The earliest callback is an extreme of the
 * recorder's own wake-ups, which moved by ~25 µs from one run to the next on the rig (2026-12-04: that
 * move was common to the players and the reference, correlated 0.7-0.8 with both); the median of the
 * driver's stamps over a run does not depend on how early the recorder woke once.
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
  /**
   * Per xrun-free segment: its first frame and the CLOCK_MONOTONIC ns of frame 0 on its schedule, from
   * the earliest callback (`phaseNs`) and from JACK's cycle times (`dllPhaseNs`, NaN with too few settled cycles).
   */
  segments: Array<{ fromFrame: number; phaseNs: number; dllPhaseNs: number }>;
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
  const cycleJackUs = rows.map((c) => c[1]!);
  const jackFrames = rows.map((c) => c[3] ?? NaN);
  if (entries.length === 0)
    throw new Error(`${prefix}.stamps has no callback entry times: rebuild bench/jack-rec-stamped.c`);
  const meta = existsSync(`${prefix}.meta`) ? readFileSync(`${prefix}.meta`, 'utf8') : '';
  const mm = /^monominusrealtime (-?\d+)/m.exec(meta);
  if (!mm) throw new Error(`${prefix}.meta is missing or not a jack-rec-stamped file`);
  const xrunFrames = [...meta.matchAll(/^xrun (\d+)/gm)].map((m) => Number(m[1]));
  const segments = anchorSegments(entries, opts.splitAtXruns === false ? [] : xrunFrames, base.rate);
  // JACK's clock to CLOCK_MONOTONIC at the recording's map (in BigInt: both sides are ~1.8e18 ns).
  const jackToMonoNs = Number(base.mapRealtimeNs + BigInt(mm[1]!)) - base.mapJackUs * 1000;
  const cycleMonoNs = cycleJackUs.map((us) => us * 1000 + jackToMonoNs);
  const dll = dllPhases(entries, cycleMonoNs, segments, xrunFrames, base.rate);
  return {
    ...base,
    entries,
    monoMinusRealtimeNs: Number(mm[1]),
    xrunFrames,
    lateCycles: countLateCycles(entries, jackFrames),
    segments: segments.map((seg, k) => ({ ...seg, dllPhaseNs: dll[k]! })),
  };
}

/** JACK's DLL re-locks after an xrun: its cycle times this many cycles after one (~2 s at 1024 frames) are left out. */
export const DLL_SETTLE_CYCLES = 94;
/** A segment needs this many settled cycle times for a median (~4 s at 1024 frames). */
const DLL_MIN_CYCLES = 188;

/**
 * Per segment, the median of (JACK's cycle time on CLOCK_MONOTONIC − frame / rate) over its cycles,
 * leaving out DLL_SETTLE_CYCLES after the segment's start and after every xrun; NaN with fewer than
 * DLL_MIN_CYCLES left.
 */
export function dllPhases(
  entries: Array<[number, number]>,
  cycleMonoNs: number[],
  segments: Array<{ fromFrame: number }>,
  xrunFrames: number[],
  rate: number,
): number[] {
  const settleFrames = DLL_SETTLE_CYCLES * (entries.length > 1 ? entries[1]![0] - entries[0]![0] : 0);
  const unsettled = (f: number, from: number) =>
    f < from + settleFrames || xrunFrames.some((x) => f >= x && f < x + settleFrames);
  return segments.map((seg, k) => {
    const to = segments[k + 1]?.fromFrame ?? Infinity;
    const xs: number[] = [];
    entries.forEach(([f], i) => {
      if (f >= seg.fromFrame && f < to && !unsettled(f, seg.fromFrame) && Number.isFinite(cycleMonoNs[i]))
        xs.push(cycleMonoNs[i]! - (f * 1e9) / rate);
    });
    return xs.length < DLL_MIN_CYCLES ? NaN : median(xs);
  });
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
): Array<{ fromFrame: number; phaseNs: number }> {
  const bounds = [0, ...xrunFrames.filter((f) => f > 0)].sort((a, b) => a - b);
  const out: Array<{ fromFrame: number; phaseNs: number }> = [];
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

/**
 * CLOCK_REALTIME ns at which (fractional) frame f was presented, on its segment's schedule anchored at
 * the earliest callback, or at JACK's cycle times (`dll`: NaN where the segment has too few).
 */
export function frameRealtimeNs(r: ScheduledRecording, frame: number, anchor: 'earliest' | 'dll' = 'earliest'): number {
  let seg = r.segments[0]!;
  for (const s of r.segments) if (s.fromFrame <= frame) seg = s;
  return (anchor === 'dll' ? seg.dllPhaseNs : seg.phaseNs) + (frame * 1e9) / r.rate - r.monoMinusRealtimeNs;
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
