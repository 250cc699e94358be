import { readFileSync } from 'node:fs';
import { fitLine, median } from '../time/regress.js';

/**
 * Reads what bench/jack-rec-stamped.c wrote (PREFIX.f32 samples, PREFIX.stamps cycle times and the
 * JACK-time to system-clock pair) and finds when a channel pair's first sample was presented, on
 * the system clock. Shared by the start-error bench and the two-player test.
 */
export interface StampedRecording {
  channels: number;
  rate: number;
  data: Float32Array;
  /** [first frame of the cycle, JACK µs of that cycle]. */
  stamps: Array<[number, number]>;
  mapJackUs: number;
  mapRealtimeNs: bigint;
}

export function readStampedRecording(prefix: string): StampedRecording {
  const lines = readFileSync(`${prefix}.stamps`, 'utf8').trim().split('\n');
  const head = /^rate (\d+) channels (\d+)/.exec(lines[0]!);
  const map = /^map (\d+) (\d+)\.(\d+)/.exec(lines[1] ?? '');
  if (!head || !map) throw new Error(`${prefix}.stamps is not a jack-rec-stamped file`);
  const f32 = readFileSync(`${prefix}.f32`);
  return {
    rate: Number(head[1]),
    channels: Number(head[2]),
    data: new Float32Array(f32.buffer, f32.byteOffset, f32.length / 4),
    stamps: lines.slice(2).map((l) => l.split(' ').map(Number) as [number, number]),
    mapJackUs: Number(map[1]),
    mapRealtimeNs: BigInt(map[2]!) * 1_000_000_000n + BigInt(map[3]!),
  };
}

/**
 * How a captured frame's presentation time is read off the cycle stamps:
 * - 'cycle': the stamp of the JACK cycle holding it (jack_get_cycle_times: JACK's DLL-filtered time
 *   of that cycle), plus its offset in the cycle. What the issue names; it carries the DLL's wander.
 * - 'fit': a line through the stamps of the cycles around it (FIT_WINDOW_CYCLES each side, outliers
 *   beyond FIT_REJECT_MADS dropped). The dummy driver wakes on deadlines spaced exactly one period
 *   apart on the system's monotonic clock, and late wakeups pull the DLL about; the line is the
 *   deadline schedule, i.e. the dummy "DAC" itself. Both are printed by the start-error bench.
 */
export type PresentationMode = 'cycle' | 'fit';

/** ±1.6 s of 256-frame cycles at 48 kHz: long against the DLL's wander, short against crystal drift. */
const FIT_WINDOW_CYCLES = 300;
/** Stamps further than this many median absolute deviations off the first line are stalls, not phase. */
const FIT_REJECT_MADS = 4;

/** JACK µs at which frame `frame` of the recording was presented. */
export function presentationJackUs(r: StampedRecording, frame: number, mode: PresentationMode = 'cycle'): number {
  let c = 0;
  while (c + 1 < r.stamps.length && r.stamps[c + 1]![0] <= frame) c++;
  if (mode === 'cycle') return r.stamps[c]![1] + ((frame - r.stamps[c]![0]) / r.rate) * 1e6;
  const window = r.stamps.slice(Math.max(0, c - FIT_WINDOW_CYCLES), c + FIT_WINDOW_CYCLES + 1);
  // Relative to the onset, so the doubles keep their µs fractions.
  const xs = window.map(([f]) => f - frame),
    ys = window.map(([, us]) => us - r.stamps[c]![1]);
  const first = fitLine(xs, ys);
  const res = xs.map((x, i) => ys[i]! - (first.a + first.b * x));
  const mad = median(res.map(Math.abs)) || 1;
  const keep = res.map((v) => Math.abs(v) <= FIT_REJECT_MADS * mad);
  const line = fitLine(
    xs.filter((_, i) => keep[i]),
    ys.filter((_, i) => keep[i]),
  );
  return r.stamps[c]![1] + line.a;
}

/** The first frame of channel `ch` above `threshold`, or -1. */
export function onsetFrame(r: StampedRecording, ch: number, threshold = 1e-4): number {
  const frames = r.data.length / r.channels;
  for (let f = 0; f < frames; f++) if (Math.abs(r.data[f * r.channels + ch]!) > threshold) return f;
  return -1;
}

/** System-clock ns at which channel `ch`'s first sample above `threshold` was presented, or undefined. */
export function onsetRealtimeNs(
  r: StampedRecording,
  ch: number,
  threshold = 1e-4,
  mode: PresentationMode = 'cycle',
): bigint | undefined {
  const onset = onsetFrame(r, ch, threshold);
  if (onset < 0) return undefined;
  return r.mapRealtimeNs + BigInt(Math.round((presentationJackUs(r, onset, mode) - r.mapJackUs) * 1000));
}
