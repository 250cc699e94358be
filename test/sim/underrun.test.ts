import test from 'ava';
import { PlaybackEngine } from '../../src/player/engine.js';
import { plainPlan } from '../../src/player/plan.js';
import { seededRandom } from '../../src/sim/oscillator.js';
import { rigCallbackDelayNs, VirtualSink } from '../../src/sim/virtual-sink.js';
import { VirtualClock } from '../../src/time/clock.js';
import { perfectGpsTimescale } from '../../src/sim/perfect-clock.js';

/**
 * Underruns prevented, detected, recovered: event-loop stalls of 50-500 ms on a virtual DAC. A stall
 * longer than the queue drains it; the device then inserts silence (the queue's owner's gap) or, as
 * an ALSA device does, stops and restarts on a new phase (an xrun). Either way every frame heard
 * after the recovery must land on its sample: the gap is counted and the read position re-placed,
 * or the DAC clock is learned again and the read position re-placed. And the queue grows from the
 * lateness it saw, so the same stall again drains nothing.
 */

const RATE = 48_000;
const P = 1024;
const UTC0 = 1_790_000_000_000_000_000n;
const S = 1_000_000_000n;
const START = 5n * S;
const SAMPLE_NS = 1e9 / RATE;

function rig(
  seed: number,
  stalls: Array<{ atNs: bigint; durationNs: bigint }>,
  o: {
    xrun?: boolean;
    adaptive?: boolean;
    pauses?: Array<{ atNs: bigint; durationNs: bigint }>;
    rigJitter?: boolean;
  } = {},
) {
  const clock = new VirtualClock(0n);
  const random = seededRandom(seed);
  const sink = new VirtualSink({
    clock,
    format: { sampleRate: RATE, channels: 2 },
    periodFrames: P,
    queuePeriods: 4,
    dacPpm: 60,
    random,
    minDelayNs: 0,
    stalls,
    clockPauses: o.pauses,
    delayNs: o.rigJitter ? () => rigCallbackDelayNs(random) : undefined,
    xrunOnUnderrun: o.xrun,
    maxQueuePeriods: o.adaptive ? 48 : undefined,
  });
  const ts = perfectGpsTimescale(UTC0);
  const plan = plainPlan(UTC0 + START, RATE);
  const engine = new PlaybackEngine(
    sink,
    { frameBytes: 4, endFrame: undefined, render: () => {}, advance: () => {} },
    { plan: () => plan, trimNs: 0, timescale: () => ts, nowNs: () => clock.nowNs(), maxErrorNs: Infinity, dry: true },
  );
  const heard: Array<{ atNs: bigint; errorNs: number }> = [];
  sink.onHeard = (h) => {
    const w = engine.writtenAt(h.period);
    if (!w) return;
    // Every part of the period: the frame it starts with, heard at its offset into the period.
    const truePeriodNs = (P * 1e9) / (RATE * (1 + 60e-6));
    for (const part of w.parts) {
      const atNs = h.heardNs + BigInt(Math.round((part.atFrame * truePeriodNs) / P));
      heard.push({ atNs, errorNs: Number(atNs - START) - (part.pos * 1e9) / RATE });
    }
  };
  void sink.start((p) => engine.fill(p));
  return { clock, sink, engine, heard };
}

for (const ms of [50, 120, 250, 500]) {
  for (const xrun of [false, true]) {
    test(`a ${ms} ms stall${xrun ? ', the device xruns and restarts on a new phase' : ', the gap filled with silence'}: every later frame on its sample`, (t) => {
      const atNs = 40n * S;
      const r = rig(ms + (xrun ? 1 : 0), [{ atNs, durationNs: BigInt(ms) * 1_000_000n }], { xrun });
      r.clock.advance(70n * S);
      const drained = ms * 1e6 > (4 * (P * 1e9)) / RATE; // the queue holds four periods (85 ms)
      if (xrun) t.is(r.sink.xruns > 0, drained, 'an xrun exactly when the queue drained');
      else t.is(r.sink.underrunPeriods > 0, drained, 'silence inserted exactly when the queue drained');
      const after = r.heard.filter((h) => h.atNs > atNs);
      const worst = Math.max(...after.map((h) => Math.abs(h.errorNs)));
      const sorted = after.map((h) => Math.abs(h.errorNs)).sort((a, b) => a - b);
      const p99 = sorted[Math.floor(0.99 * sorted.length)]!;
      t.log(
        `${ms} ms: underrun periods ${r.sink.underrunPeriods}, xruns ${r.sink.xruns}, re-placements ${r.engine.placements}, re-seeks ${r.engine.seeks}; after it |error| p99 ${(p99 / 1000).toFixed(1)} µs, worst ${(worst / 1000).toFixed(1)} µs over ${after.length} heard parts`,
      );
      t.true(after.length > 1000);
      // A restarted device's clock is learned again from a few dozen callbacks: its envelope is a
      // little late at first (this jitter's earliest of 16-50 callbacks); a gap keeps the clock.
      t.true(worst <= (xrun ? 2 : 1) * SAMPLE_NS, `worst ${worst} ns`);
      t.true(p99 <= (xrun ? 1.5 : 1) * SAMPLE_NS, `p99 ${p99} ns`);
      t.is(r.engine.seeks, 0, 'no re-seek: re-placed');
      t.is(r.sink.gridMoves, 0, 'a stall is not a moved grid');
      if (drained) t.true(r.engine.placements >= 1);
    });
  }
}

test('the queue grows from the lateness it saw: the same stall again drains nothing', (t) => {
  const stall = (atSec: bigint) => ({ atNs: atSec * S, durationNs: 250_000_000n });
  const r = rig(9, [stall(30n), stall(50n)], { adaptive: true });
  r.clock.advance(45n * S);
  const first = r.sink.underrunPeriods;
  t.true(first > 0, 'the first 250 ms stall drained a 4-period queue');
  t.true(r.sink.queueTarget >= 14, `the queue grew to ${r.sink.queueTarget} periods`);
  r.clock.advance(25n * S);
  t.is(r.sink.underrunPeriods, first, 'the second did not');
});

/** Heard errors (ns, absolute) from `fromNs` on: p99 and worst. */
function errorsAfter(heard: Array<{ atNs: bigint; errorNs: number }>, fromNs: bigint) {
  const sorted = heard
    .filter((h) => h.atNs > fromNs)
    .map((h) => Math.abs(h.errorNs))
    .sort((a, b) => a - b);
  return { n: sorted.length, p99: sorted[Math.floor(0.99 * sorted.length)]!, worst: sorted.at(-1)! };
}

for (const ms of [3, 8, 30, 120]) {
  for (const rigJitter of [false, true]) {
    test(`the device's clock pauses ${ms} ms and says nothing (JACK's driver late)${rigJitter ? ", callbacks with the rig's jitter" : ''}: found, learned again, every later frame on its sample`, (t) => {
      const atNs = 40n * S;
      const r = rig(100 + ms, [], { pauses: [{ atNs, durationNs: BigInt(ms) * 1_000_000n }], rigJitter });
      r.clock.advance(70n * S);
      t.is(r.sink.gridMoves, 1, 'the moved grid found once');
      t.is(r.sink.xruns, 0);
      t.is(r.engine.seeks, 0, 'no re-seek: re-placed');
      t.true(r.engine.placements >= 1, 're-placed');
      // Found after DAC_SHIFT_SPAN_NS of late callbacks and re-placed: from 2 s after the pause on,
      // every frame is where the new grid's clock, learned from a second of callbacks, puts it.
      const soon = errorsAfter(r.heard, atNs + 2n * S),
        later = errorsAfter(r.heard, atNs + 10n * S);
      t.log(
        `${ms} ms pause: from 2 s after it |error| p99 ${(soon.p99 / 1000).toFixed(1)} µs, worst ${(soon.worst / 1000).toFixed(1)} µs; from 10 s ${(later.worst / 1000).toFixed(1)} µs`,
      );
      t.true(soon.n > 1000);
      if (rigJitter) {
        // The rig's jitter rarely comes within 0.1 ms of the envelope: the earliest of a second of
        // callbacks is a few hundred µs late, and the line comes down as earlier ones arrive.
        t.true(soon.worst <= 400_000, `worst ${soon.worst} ns`);
        t.true(later.worst <= 2 * SAMPLE_NS, `from 10 s worst ${later.worst} ns`);
      } else {
        t.true(soon.worst <= 2 * SAMPLE_NS, `worst ${soon.worst} ns`);
        t.true(soon.p99 <= 1.5 * SAMPLE_NS, `p99 ${soon.p99} ns`);
      }
    });
  }
}

test("the rig's heavy-tailed callback jitter for 10 minutes is not a moved grid", (t) => {
  const r = rig(77, [], { rigJitter: true });
  r.clock.advance(600n * S);
  t.is(r.sink.gridMoves, 0);
  const e = errorsAfter(r.heard, 60n * S);
  t.log(`worst |error| after the first minute: ${(e.worst / 1000).toFixed(1)} µs`);
  t.true(e.worst <= 2 * SAMPLE_NS, `worst ${e.worst} ns`);
});
