import test from 'ava';
import { PlaybackEngine, type ChannelMode, type TimelineAudio } from '../src/player/engine.js';
import { buildPlan, plainPlan, PLAN_FADE_MS, type Plan } from '../src/player/plan.js';
import type { PlanOp } from '../src/player/plan-ops.js';
import type { OutputSink } from '../src/player/sinks/sink.js';
import { parseConfig } from '../src/service/config.js';
import { perfectGpsTimescale } from '../src/sim/perfect-clock.js';

const RATE = 48000,
  P = 256;
const UTC0 = 1_790_000_000_000_000_000n;

/** Left 1000, right -2000, from frame 0 on. */
const timeline: TimelineAudio = {
  frameBytes: 4,
  endFrame: undefined,
  advance: () => {},
  render(frame, count, out) {
    for (let i = 0; i < count; i++) {
      if (frame + i < 0) continue;
      out.writeInt16LE(1000, i * 4);
      out.writeInt16LE(-2000, i * 4 + 2);
    }
  },
};

/** An ideal device: period p is heard at exactly p·period after UTC0's local instant. */
const idealSink = (): OutputSink => ({
  format: { sampleRate: RATE, channels: 2 },
  periodFrames: P,
  description: 'ideal',
  underrunPeriods: 0,
  start: async () => {},
  stop: async () => {},
  presentationMonoNs: (p) => BigInt(Math.round((p * P * 1e9) / RATE)),
});

const perfect = () => perfectGpsTimescale(UTC0, 100);

function engine(mode: ChannelMode, plan: Plan = plainPlan(UTC0, RATE), localGainAt?: (monoNs: bigint) => number) {
  const ts = perfect();
  return new PlaybackEngine(idealSink(), timeline, {
    plan: () => plan,
    trimNs: 0,
    timescale: () => ts,
    nowNs: () => 0n,
    maxErrorNs: Infinity,
    channelMode: mode,
    localGainAt,
  });
}

/** UTC of output frame k of the ideal device (stream frame k is heard at k / RATE after UTC0). */
const utcOfFrame = (k: number) => UTC0 + BigInt(Math.round((k * 1e9) / RATE));
const planWith = (ops: PlanOp[]) =>
  buildPlan({ startUtcNs: UTC0, sampleRate: RATE, trackStartFrames: [0], volumeDb: 0, pauses: [] }, ops);

const frame = (b: Buffer, i: number) => [b.readInt16LE(i * 4), b.readInt16LE(i * 4 + 2)];
/** Left channel of stream frames [0, periods·P). */
function lefts(e: PlaybackEngine, periods: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < periods; p++) {
    const b = e.fill(p);
    for (let i = 0; i < P; i++) out.push(b.readInt16LE(i * 4));
  }
  return out;
}

test('channel modes: stereo as is, mono averages, left or right on both', (t) => {
  const expected: Record<ChannelMode, number[]> = {
    stereo: [1000, -2000],
    mono: [-500, -500],
    left: [1000, 1000],
    right: [-2000, -2000],
  };
  for (const mode of Object.keys(expected) as ChannelMode[]) {
    const out = engine(mode).fill(0);
    t.deepEqual(frame(out, 10), expected[mode], mode);
  }
});

test("a volume ramp is evaluated per frame at each frame's own instant, from mid-period, linear in amplitude", (t) => {
  // Starts 100.3 frames into period 1, ramps to half over 300 frames' time (crossing into period 2).
  const atNs = utcOfFrame(P + 100.3);
  const plan = planWith([{ atUtcNs: atNs, op: 'volume', db: -20 * Math.log10(2), rampMs: (300 / RATE) * 1000 }]);
  const l = lefts(engine('stereo', plan), 4);
  for (let k = 0; k < l.length; k++)
    t.true(Math.abs(l[k]! - Math.round(1000 * plan.gainAt(utcOfFrame(k)))) <= 1, `frame ${k}: ${l[k]}`);
  t.is(l[P + 100], 1000, 'before the instant: untouched');
  t.true(l[P + 101]! < 1000, 'the first frame after the instant already ramps');
  t.is(l[P + 401], 500, 'the ramp ends on its frame');
  t.is(l[3 * P], 500);
});

test('a pause silences from the exact frame of its instant (fade before it) and a resume comes back on the held frame', (t) => {
  const pauseK = 8 * P + 77,
    resumeK = 14 * P + 10;
  const plan = planWith([
    { atUtcNs: utcOfFrame(pauseK), op: 'pause' },
    { atUtcNs: utcOfFrame(resumeK), op: 'resume' },
  ]);
  const e = engine('stereo', plan);
  const l = lefts(e, 20);
  const fade = (PLAN_FADE_MS / 1000) * RATE;
  t.is(l[pauseK - fade - 1], 1000);
  t.true(l[pauseK - 1]! > 0 && l[pauseK - 1]! < 5, 'the fade reaches ~0 at the instant');
  t.true(
    l.slice(pauseK, resumeK + 1).every((v) => v === 0),
    'silent from the instant to the resume',
  );
  t.true(l[resumeK + 1]! > 0 && l[resumeK + fade]! === 1000, 'fades back in after the resume');
  const w = e.writtenAt(14)!;
  const part = w.parts.find((x) => x.atFrame === 10)!;
  t.is(part.pos, pauseK, 'the timeline resumes exactly where it held');
  t.is(e.placements, 1);
});

test('a skip splits the period at its frame: the read position jumps there, no resampling across it', (t) => {
  const plan = buildPlan(
    { startUtcNs: UTC0, sampleRate: RATE, trackStartFrames: [0, 100_000], volumeDb: 0, pauses: [] },
    [{ atUtcNs: utcOfFrame(3 * P + 100), op: 'skip', n: 1 }],
  );
  const e = engine('stereo', plan);
  for (let p = 0; p < 5; p++) e.fill(p);
  const w = e.writtenAt(3)!;
  t.deepEqual(
    w.parts.map((x) => [x.atFrame, x.pos, x.ratio]),
    [
      [0, 3 * P, 1],
      [100, 100_000, 1],
    ],
  );
  t.is(e.writtenAt(4)!.pos, 100_000 + P - 100);
});

test('the local gain (SIGTERM fade) multiplies the plan per frame of presentation time', (t) => {
  const fromNs = BigInt(Math.round((P * 1e9) / RATE)); // the fade starts at stream frame P
  const l = lefts(
    engine('stereo', plainPlan(UTC0, RATE), (m) => Math.max(0, Math.min(1, 1 - Number(m - fromNs) / 1e7))),
    6,
  );
  t.is(l[P - 1], 1000);
  t.true(l[P + 240]! < 1000 && l[P + 240]! > 0);
  t.is(l[P + 480 + 300], 0, 'silent once the local fade is done (interpolated per period)');
  t.is(l[5 * P], 0);
});

test('pause and stop instants are validated', (t) => {
  const ok = parseConfig(
    '[schedule]\nstop = "2026-06-27T21:00:00+02:00"\npauses = ["2026-06-27T19:30:00+02:00/2026-06-27T19:35:00+02:00"]\n',
    'c.toml',
    '/',
  );
  t.is(ok.schedule.pauses.length, 1);
  t.throws(
    () => parseConfig('[schedule]\npauses = ["2026-06-27T19:35:00+02:00/2026-06-27T19:30:00+02:00"]\n', 'c.toml', '/'),
    { message: /schedule\.pauses\.0 .*FROM before TO/ },
  );
  t.throws(() => parseConfig('[schedule]\nstop = "tomorrow"\n', 'c.toml', '/'), {
    message: /schedule\.stop = "tomorrow"/,
  });
});
