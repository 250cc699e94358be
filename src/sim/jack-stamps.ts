import { readFileSync } from 'node:fs';

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
    rate: Number(head[1]), channels: Number(head[2]),
    data: new Float32Array(f32.buffer, f32.byteOffset, f32.length / 4),
    stamps: lines.slice(2).map((l) => l.split(' ').map(Number) as [number, number]),
    mapJackUs: Number(map[1]),
    mapRealtimeNs: BigInt(map[2]!) * 1_000_000_000n + BigInt(map[3]!),
  };
}

/** System-clock ns at which channel `ch`'s first sample above `threshold` was presented, or undefined. */
export function onsetRealtimeNs(r: StampedRecording, ch: number, threshold = 1e-4): bigint | undefined {
  const frames = r.data.length / r.channels;
  let onset = -1;
  for (let f = 0; f < frames; f++) if (Math.abs(r.data[f * r.channels + ch]!) > threshold) { onset = f; break; }
  if (onset < 0) return undefined;
  let c = 0;
  while (c + 1 < r.stamps.length && r.stamps[c + 1]![0] <= onset) c++;
  const jackUs = r.stamps[c]![1] + ((onset - r.stamps[c]![0]) / r.rate) * 1e6;
  return r.mapRealtimeNs + BigInt(Math.round((jackUs - r.mapJackUs) * 1000));
}
