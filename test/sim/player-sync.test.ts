import test from 'ava';
import { PlaybackEngine } from '../../src/player/engine.js';
import { plainPlan } from '../../src/player/plan.js';
import { seededRandom } from '../../src/sim/oscillator.js';
import { SineTimeline } from '../../src/sim/sine-timeline.js';
import { VirtualSink } from '../../src/sim/virtual-sink.js';
import { VirtualClock } from '../../src/time/clock.js';
import { Timescale } from '../../src/time/timescale.js';
import { perfectGpsTimescale } from '../../src/sim/perfect-clock.js';

/**
 * The aligner on a virtual DAC in virtual time: a perfect clock (the virtual clock is UTC), a DAC
 * crystal off by ±100 ppm, late callbacks with a heavy tail. Sync error = when a timeline frame is
 * really heard minus when it should be. Each test fails if its mechanism (envelope DAC clock,
 * feed-forward, correction, exact placement, re-seek) is broken.
 */

const RATE = 48_000;
const P = 1024;
const UTC0 = 1_790_000_000_000_000_000n;
const START_NS = 5_000_000_000n; // the playlist starts 5 s into the run

function perfectClock(): Timescale {
  return perfectGpsTimescale(UTC0);
}

function rig(
  dacPpm: number,
  seed: number,
  opts: { dry?: boolean; trimNs?: number; stalls?: Array<{ atNs: bigint; durationNs: bigint }> } = {},
) {
  const clock = new VirtualClock(0n);
  // minDelayNs 0: the constant part of the callback latency is the real rig's to measure (bench/);
  // here the tests see placement and tracking alone.
  const sink = new VirtualSink({
    clock,
    format: { sampleRate: RATE, channels: 2 },
    periodFrames: P,
    queuePeriods: 4,
    dacPpm,
    random: seededRandom(seed),
    stalls: opts.stalls,
    minDelayNs: 0,
  });
  const ts = perfectClock();
  const timeline = new SineTimeline(RATE, 2);
  const plan = plainPlan(UTC0 + START_NS, RATE);
  const engine = new PlaybackEngine(sink, timeline, {
    plan: () => plan,
    trimNs: opts.trimNs ?? 0,
    timescale: () => ts,
    nowNs: () => clock.nowNs(),
    maxErrorNs: Infinity,
    dry: opts.dry,
  });
  const errorsNs: Array<{ atNs: bigint; errorNs: number }> = [];
  const heard: Array<{ heardNs: bigint; content: Buffer; pos?: number }> = [];
  sink.onHeard = (h) => {
    const w = engine.writtenAt(h.period);
    if (w)
      errorsNs.push({
        atNs: h.heardNs,
        errorNs: Number(h.heardNs - START_NS - BigInt(opts.trimNs ?? 0)) - (w.pos * 1e9) / RATE,
      });
    if (!opts.dry) heard.push({ heardNs: h.heardNs, content: h.content, pos: w?.pos });
  };
  void sink.start((p) => engine.fill(p));
  return { clock, sink, engine, errorsNs, heard, timeline };
}

for (const ppm of [100, -100]) {
  test(`a DAC ${ppm > 0 ? '+' : ''}${ppm} ppm off stays within one sample of the timeline for 4 h`, (t) => {
    const r = rig(ppm, ppm > 0 ? 1 : 2, { dry: true });
    r.clock.advance(4n * 3600n * 1_000_000_000n);
    const after = r.errorsNs.filter((e) => e.atNs > START_NS + 60_000_000_000n).map((e) => Math.abs(e.errorNs));
    const sorted = after.sort((a, b) => a - b);
    const p99 = sorted[Math.floor(0.99 * sorted.length)]!,
      worst = sorted.at(-1)!;
    t.log(
      `${after.length} periods after convergence: |error| p99 ${(p99 / 1000).toFixed(2)} µs, worst ${(worst / 1000).toFixed(2)} µs`,
    );
    t.true(after.length > 600_000);
    t.true(p99 <= 1e9 / RATE, `p99 ${p99} ns > one sample`);
    t.true(worst <= 2e9 / RATE, `worst ${worst} ns > 2 samples`);
    t.is(r.engine.seeks, 0);
  });
}

test('the first timeline frame lands on its exact sample (and the latency trim moves it)', (t) => {
  for (const trimNs of [0, 2_500_000]) {
    const r = rig(37, 3, { trimNs });
    r.clock.advance(START_NS + 2_000_000_000n);
    // Find the period holding timeline frame 0, and the sample in it where the sine starts.
    const h = r.heard.find((x) => x.pos !== undefined && x.pos <= 0 && x.pos + P > 0)!;
    t.truthy(h);
    const offset = -h.pos!;
    t.is(h.content.readInt16LE((offset - 1) * 4), 0, 'silence before it');
    const truePeriodNs = (P * 1e9) / (RATE * (1 + 37e-6));
    const heardFrame0Ns = Number(h.heardNs) + (offset * truePeriodNs) / P;
    const errNs = heardFrame0Ns - Number(START_NS) - trimNs;
    t.true(Math.abs(errNs) <= 1e9 / RATE, `frame 0 heard ${errNs.toFixed(0)} ns off (trim ${trimNs})`);
  }
});

test('drift correction is click-free: the played sine has no discontinuity', (t) => {
  const r = rig(100, 4);
  r.clock.advance(START_NS + 60_000_000_000n);
  const samples: number[] = [];
  for (const h of r.heard) {
    if (h.content.length === 0) continue;
    for (let i = 0; i < P; i++) samples.push(h.content.readInt16LE(i * 4));
  }
  // For a pure sine the second difference is tiny (A·(2πf/R)² ≈ 40); a dropped or repeated sample
  // or a jump of the read position makes it hundreds.
  let worst = 0;
  const startAt = samples.findIndex((v) => v !== 0) + 2;
  for (let i = startAt; i < samples.length - 1; i++)
    worst = Math.max(worst, Math.abs(samples[i + 1]! - 2 * samples[i]! + samples[i - 1]!));
  t.true(worst < 60, `worst second difference ${worst}`);
  t.true(r.engine.lastRatio !== 1, 'it really was resampling');
});

test('an event-loop stall that empties the queue: underrun detected, back on the timeline without a re-seek loop', (t) => {
  const r = rig(50, 5, { dry: true, stalls: [{ atNs: 40_000_000_000n, durationNs: 200_000_000n }] }); // a 200 ms stall
  r.clock.advance(START_NS + 120_000_000_000n);
  t.true(r.sink.underrunPeriods > 0);
  const late = r.errorsNs.filter((e) => e.atNs > START_NS + 90_000_000_000n).map((e) => Math.abs(e.errorNs));
  const worstLate = late.reduce((m, x) => Math.max(m, x), 0);
  t.true(worstLate <= 1.5e9 / RATE, `after recovery worst ${worstLate} ns`);
  t.true(r.engine.seeks <= 1);
});
