import test from 'ava';
import { PlaybackEngine, type ChannelMode, type TimelineAudio } from '../src/player/engine.js';
import type { OutputSink } from '../src/player/sinks/sink.js';
import { Timescale } from '../src/time/timescale.js';
import { parseConfig } from '../src/service/config.js';

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

test('a pause fades out over one period, stays silent, and comes back where the timeline is', (t) => {
  const ts = new Timescale({ refMonoNs: 0n, refUtcNs: UTC0, freqPpm: 0, errorBoundNs: 100, errorGrowthNsPerSec: 0, source: 'gps+pps', state: 'locked', lastSampleMonoNs: 0n });
  const periodNs = BigInt(Math.round((P * 1e9) / RATE));
  // Silent from period 2 to period 5 (UTC of each period's first frame).
  const muted = (u: bigint) => u >= UTC0 + 2n * periodNs && u < UTC0 + 5n * periodNs;
  const e = new PlaybackEngine(idealSink(), timeline, { startUtcNs: UTC0, trimNs: 0, timescale: () => ts, nowNs: () => 0n, maxErrorNs: Infinity, mutedAt: muted });
  const outs = Array.from({ length: 7 }, (_, p) => e.fill(p));
  t.deepEqual(frame(outs[1]!, 10), [1000, -2000]);
  t.true(frame(outs[2]!, 0)[0]! > 990 && frame(outs[2]!, P - 1)[0] === 0, 'fades out across period 2');
  t.true(outs[3]!.every((b) => b === 0) && outs[4]!.every((b) => b === 0), 'silent');
  t.true(frame(outs[5]!, 0)[0]! < 10 && frame(outs[5]!, P - 1)[0] === 1000, 'fades back in');
  t.true(e.writtenAt(6)!.pos === 6 * P, 'the timeline ran on through the pause');
});

test('pause and stop instants are validated', (t) => {
  const ok = parseConfig('[schedule]\nstop = "2026-06-27T21:00:00+02:00"\npauses = ["2026-06-27T19:30:00+02:00/2026-06-27T19:35:00+02:00"]\n', 'c.toml', '/');
  t.is(ok.schedule.pauses.length, 1);
  t.throws(() => parseConfig('[schedule]\npauses = ["2026-06-27T19:35:00+02:00/2026-06-27T19:30:00+02:00"]\n', 'c.toml', '/'), { message: /schedule\.pauses\.0 .*FROM before TO/ });
  t.throws(() => parseConfig('[schedule]\nstop = "tomorrow"\n', 'c.toml', '/'), { message: /schedule\.stop = "tomorrow"/ });
});
