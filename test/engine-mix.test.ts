import test from 'ava';
import { PlaybackEngine, type ChannelMode, type TimelineAudio } from '../src/player/engine.js';
import type { OutputSink } from '../src/player/sinks/sink.js';
import { Timescale } from '../src/time/timescale.js';

const RATE = 48000, P = 256;
const UTC0 = 1_790_000_000_000_000_000n;

/** Left 1000, right -2000, from frame 0 on. */
const timeline: TimelineAudio = {
  frameBytes: 4, endFrame: undefined, advance: () => {},
  render(frame, count, out) { for (let i = 0; i < count; i++) { if (frame + i < 0) continue; out.writeInt16LE(1000, i * 4); out.writeInt16LE(-2000, i * 4 + 2); } },
};

/** An ideal device: period p is heard at exactly p·period after UTC0's local instant. */
const idealSink = (): OutputSink => ({
  format: { sampleRate: RATE, channels: 2 }, periodFrames: P, description: 'ideal', underrunPeriods: 0,
  start: async () => {}, stop: async () => {}, presentationMonoNs: (p) => BigInt(Math.round((p * P * 1e9) / RATE)),
});

function engine(mode: ChannelMode, gainDb: { v: number }) {
  const ts = new Timescale({ refMonoNs: 0n, refUtcNs: UTC0, freqPpm: 0, errorBoundNs: 100, errorGrowthNsPerSec: 0, source: 'gps+pps', state: 'locked', lastSampleMonoNs: 0n });
  return new PlaybackEngine(idealSink(), timeline, { startUtcNs: UTC0, trimNs: 0, timescale: () => ts, nowNs: () => 0n, maxErrorNs: Infinity, channelMode: mode, gainDb: () => gainDb.v });
}

const frame = (b: Buffer, i: number) => [b.readInt16LE(i * 4), b.readInt16LE(i * 4 + 2)];

test('channel modes: stereo as is, mono averages, left or right on both', (t) => {
  const expected: Record<ChannelMode, number[]> = { stereo: [1000, -2000], mono: [-500, -500], left: [1000, 1000], right: [-2000, -2000] };
  for (const mode of Object.keys(expected) as ChannelMode[]) {
    const out = engine(mode, { v: 0 }).fill(0);
    t.deepEqual(frame(out, 10), expected[mode], mode);
  }
});

test('a volume change ramps across one period, then holds: no step, no zipper', (t) => {
  const gain = { v: 0 };
  const e = engine('stereo', gain);
  t.deepEqual(frame(e.fill(0), 100), [1000, -2000]);
  gain.v = -20 * Math.log10(2); // half
  const ramp = e.fill(1);
  const lefts = Array.from({ length: P }, (_, i) => frame(ramp, i)[0]!);
  for (let i = 1; i < P; i++) t.true(lefts[i]! <= lefts[i - 1]! && lefts[i - 1]! - lefts[i]! <= 3, `smooth at ${i}`);
  t.true(Math.abs(lefts[0]! - 998) <= 1 && lefts[P - 1] === 500);
  t.deepEqual(frame(e.fill(2), 0), [500, -1000]);
});
